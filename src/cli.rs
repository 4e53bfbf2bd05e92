//! The commands behind `main.rs`: each takes parsed arguments and prints its output.

use crate::classify::Classifier;
use crate::clock::{self, Clock};
use crate::config::Settings;
use crate::daemon::App;
use crate::store::{outbox, requests, Store};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use std::path::Path;

/// `privacy-inbox classify [--json] FILE...`: needs no config file and no network.
pub fn classify(
    files: &[String],
    json: bool,
    threshold: Option<f64>,
    rules: Option<&Path>,
) -> Result<bool> {
    let classifier = Classifier::load(rules, threshold.unwrap_or(0.6))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    crate::classify::run_cli(&classifier, files, json, &mut out)
}

/// `privacy-inbox run [--once]`.
pub async fn run(settings: Settings, clock: Clock, once: bool) -> Result<()> {
    // One daemon per store, held until this returns.
    let _lock = crate::daemon::lock_store(&settings.store_path)?;
    let app = App::new(settings, clock)?;
    if !once {
        // A login the server refuses at start is a setting to fix, not an outage to wait
        // out: stop with the server's words and a non-zero exit. Any other failure (the
        // server is down) is the loop's to retry, and a refusal later on is retried too.
        match crate::imap::connect(&app.settings.imap.endpoint).await {
            Ok(s) => crate::imap::logout(s).await,
            Err(e) if crate::imap::is_login_refused(&e) => return Err(e),
            Err(_) => {}
        }
    }
    if once {
        let stats = app.run_once().await?;
        tracing::info!(
            fetched = stats.fetched,
            requests = stats.intake.requests,
            replies = stats.intake.replies,
            escalated = stats.intake.escalated,
            ignored = stats.intake.ignored,
            quarantined = stats.intake.quarantined,
            duplicates = stats.intake.duplicates,
            own_copies = stats.intake.own_copies,
            sent = stats.outbox.sent,
            deferred = stats.outbox.deferred,
            failed = stats.outbox.failed.len(),
            "Pass complete"
        );
        return Ok(());
    }
    app.run(crate::shutdown::on_signals()).await
}

/// The store of a command that only reads (or only deletes): never created here, so a
/// config pointing at the wrong path says so instead of showing an empty new database.
fn open_store(settings: &Settings) -> Result<Store> {
    existing_store(&settings.store_path)
}

/// Opens the store at `path` when it exists; otherwise says there is none yet.
pub fn existing_store(path: &Path) -> Result<Store> {
    if !path.exists() {
        bail!(
            "No store at {} yet: `privacy-inbox run` (or `run --once`) creates it when it \
             reads the mailbox for the first time; check `[store] path` in the config",
            path.display()
        );
    }
    Store::open(path)
}

/// A `--due-before` value: a date (end of that day in the business time zone) or RFC 3339.
fn parse_due_before(settings: &Settings, s: &str) -> Result<String> {
    if let Ok(t) = clock::parse(s) {
        return Ok(clock::fmt(t));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| anyhow!("--due-before {s:?}: expected YYYY-MM-DD or an RFC 3339 time"))?;
    let start = d
        .and_hms_opt(0, 0, 0)
        .and_then(|n| n.and_local_timezone(settings.clock.timezone).earliest())
        .ok_or_else(|| anyhow!("--due-before {s:?}: no such local time"))?;
    Ok(clock::fmt(start.with_timezone(&chrono::Utc)))
}

/// `privacy-inbox requests list`.
pub fn requests_list(
    settings: &Settings,
    clock: &Clock,
    status: Option<String>,
    due_before: Option<String>,
    json: bool,
) -> Result<()> {
    if let Some(s) = &status {
        s.parse::<crate::request::Status>().map_err(|e| {
            let known: Vec<&str> = crate::request::Status::ALL
                .iter()
                .map(|s| s.as_str())
                .collect();
            anyhow!("--status: {e}; one of {}", known.join(", "))
        })?;
    }
    let store = open_store(settings)?;
    let filter = requests::Filter {
        status,
        due_before: due_before
            .map(|d| parse_due_before(settings, &d))
            .transpose()?,
        open_only: false,
    };
    let list = requests::list(store.reader(), &filter)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        let rows: Vec<serde_json::Value> = list.iter().map(with_law).collect::<Result<_>>()?;
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    let now = clock.now();
    let header = format!(
        "{:<16} {:<22} {:<28} {:<28} {:>9}  FLAGS",
        "ID", "STATUS", "KINDS", "REQUESTER", "DAYS LEFT"
    );
    writeln!(out, "{}", header.trim_end())?;
    for r in &list {
        let due = r
            .extended_due_at
            .as_deref()
            .filter(|_| r.extended)
            .unwrap_or(&r.due_at);
        let days = days_left(r.status, due, now);
        let kinds = if r.kinds.is_empty() {
            "-".to_string()
        } else {
            requests::kinds_text(&r.kinds)
        };
        let mut flags = Vec::new();
        if r.escalated {
            flags.push("escalated");
        }
        if r.verified {
            flags.push("verified");
        }
        if r.agent {
            flags.push("agent");
        }
        let line = format!(
            "{:<16} {:<22} {:<28} {:<28} {:>9}  {}",
            r.id,
            r.status,
            kinds,
            r.requester,
            days,
            flags.join(",")
        );
        // No padding at the end of a line (a request without flags).
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out, "{} request(s)", list.len())?;
    Ok(())
}

/// The DAYS LEFT cell of `requests list`: days until `due`, blank for a closed request
/// (completed, denied, closed...: nothing is due any more) or an unreadable date.
fn days_left(
    status: crate::request::Status,
    due: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    if !status.is_open() {
        return String::new();
    }
    clock::parse(due)
        .map(|d| (d - now).num_days().to_string())
        .unwrap_or_default()
}

/// A request as JSON, with `law` (`ccpa` | `gdpr`) beside its clocks: the law whose clock
/// it runs on (checks outside the project read this key).
fn with_law(r: &requests::Request) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(r)?;
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "law".into(),
            serde_json::Value::from(r.jurisdiction.as_str()),
        );
    }
    Ok(v)
}

/// The clock lines of `requests show`, by the `C-clocks` rules ([`crate::request::deadlines`]):
/// each date in the business time zone with the days left (the digest's count), then the
/// stored UTC instant. The extension line gives the due date the extension would bring and
/// the date by which the consumer must be told (the end of the first period), both computed
/// from receipt under the request's law; a mixed request says which kinds keep their date.
fn clock_lines(
    r: &requests::Request,
    now: chrono::DateTime<chrono::Utc>,
    calendar: &crate::request::calendar::BusinessCalendar,
) -> Vec<String> {
    use crate::request::deadlines;
    let date = |t: chrono::DateTime<chrono::Utc>| -> String {
        t.with_timezone(&calendar.tz)
            .format("%B %-d, %Y")
            .to_string()
    };
    let days = |t: chrono::DateTime<chrono::Utc>| -> String {
        match deadlines::days_left(t, now, calendar) {
            0 if now > t => "past, today".to_string(),
            0 => "today".to_string(),
            1 => "tomorrow".to_string(),
            -1 => "yesterday".to_string(),
            n if n > 0 => format!("in {n} days"),
            n => format!("{} days ago", -n),
        }
    };
    let open = r.status.is_open();
    // A due date: its day, how far off while the request is open, and the instant.
    let due = |label: &str, raw: &str| -> String {
        match clock::parse(raw) {
            Ok(t) if open => format!("{label:<13}{} ({}; {raw})", date(t), days(t)),
            Ok(t) => format!("{label:<13}{} ({raw})", date(t)),
            Err(_) => format!("{label:<13}{raw}"),
        }
    };
    let mut lines = Vec::new();
    lines.push(match clock::parse(&r.received_at) {
        Ok(t) => format!("{:<13}{} ({})", "received", date(t), r.received_at),
        Err(_) => format!("{:<13}{}", "received", r.received_at),
    });
    if let Some(c) = &r.confirm_by {
        lines.push(due("confirm by", c));
    }
    lines.push(due("due", &r.due_at));
    let computed = clock::parse(&r.received_at).ok().and_then(|received| {
        deadlines::compute_deadlines(&r.kinds, received, r.jurisdiction, calendar).ok()
    });
    let offer = computed.as_ref().and_then(|d| d.extension_offer());
    match (&r.extended_due_at, r.extended) {
        (Some(e), true) => {
            let mut line = due("extended to", e);
            if !r.extension_reason.is_empty() {
                line.push_str(&format!(": {}", r.extension_reason));
            }
            lines.push(line);
        }
        _ if open => {
            if let Some(o) = offer {
                let kinds = if o.others_keep.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (for {}; {} keep their due date)",
                        requests::kinds_text(&o.kinds),
                        requests::kinds_text(&o.others_keep)
                    )
                };
                if now <= o.announce_by {
                    lines.push(format!(
                        "{:<13}available{kinds}: due {}, if the consumer is told by {} ({})",
                        "extension",
                        date(o.due),
                        date(o.announce_by),
                        days(o.announce_by)
                    ));
                } else {
                    lines.push(format!(
                        "{:<13}no longer possible: the consumer had to be told by {}",
                        "extension",
                        date(o.announce_by)
                    ));
                }
            }
        }
        _ => {}
    }
    if let Some(t) = &r.responded_at {
        lines.push(match clock::parse(t) {
            Ok(at) => format!("{:<13}{} ({t})", "responded", date(at)),
            Err(_) => format!("{:<13}{t}", "responded"),
        });
    }
    lines
}

/// `privacy-inbox requests show ID`: the record, its clocks, and one timeline of mails in,
/// mails out and audit events.
pub fn requests_show(settings: &Settings, clock: &Clock, id: &str, json: bool) -> Result<()> {
    let store = open_store(settings)?;
    let Some(r) = requests::get(store.reader(), id)? else {
        bail!("No request {id}");
    };
    let events = requests::events(store.reader(), id)?;
    let mails_out = outbox::for_request(store.reader(), id)?;
    let mails_in = crate::store::inbox::for_request(store.reader(), id)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({
                "request": with_law(&r)?,
                "events": events,
                "mails_in": mails_in,
                "mails_out": mails_out,
                "sources": crate::fulfil::flow::source_summary(
                    store.reader(),
                    &settings.fulfil.sources,
                    id,
                )?,
            }),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    let now = clock.now();
    writeln!(out, "{}  {}", r.id, r.status)?;
    let requester = format!("  requester:  {} {}", r.requester, r.requester_name);
    writeln!(out, "{}", requester.trim_end())?;
    writeln!(out, "  kinds:      {}", requests::kinds_text(&r.kinds))?;
    writeln!(out, "  language:   {}", r.language)?;
    writeln!(
        out,
        "  law:        {} ({})",
        r.jurisdiction.as_str().to_uppercase(),
        if r.law_reason.is_empty() {
            "recorded before the law was chosen per request"
        } else {
            &r.law_reason
        }
    )?;
    writeln!(
        out,
        "  flags:      escalated={} verified={} agent={} assignee={}",
        r.escalated,
        r.verified,
        r.agent,
        if r.assignee.is_empty() {
            "-"
        } else {
            &r.assignee
        }
    )?;
    if r.escalated {
        writeln!(out, "  escalated:  {}", r.escalation_reason)?;
    }
    let calendar = crate::request::calendar::BusinessCalendar::new(
        settings.clock.timezone,
        settings.clock.holidays.clone(),
    );
    writeln!(out, "  clocks ({}):", settings.clock.timezone)?;
    for line in clock_lines(&r, now, &calendar) {
        writeln!(out, "    {line}")?;
    }
    if let Some(b) = &r.denial_basis {
        writeln!(out, "    denied on    {b}: {}", r.denial_detail)?;
    }
    // One timeline, oldest first: (time, what, who, detail).
    let mut lines: Vec<(String, String, String, String)> = Vec::new();
    for m in &mails_in {
        lines.push((
            m.internal_date.clone(),
            format!("mail in ({})", m.disposition),
            m.sender.clone(),
            format!("{}: {}", m.subject, m.reason),
        ));
    }
    for m in &mails_out {
        let error = if m.last_error.is_empty() {
            String::new()
        } else {
            format!(" ({})", m.last_error)
        };
        lines.push((
            m.created_at.clone(),
            format!("mail out ({})", m.purpose),
            m.recipient.clone(),
            format!("{}{error}", m.status),
        ));
    }
    for e in &events {
        lines.push((
            e.at.clone(),
            e.kind.clone(),
            e.actor.clone(),
            e.detail.clone(),
        ));
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    writeln!(out, "  timeline:")?;
    for (at, what, who, detail) in lines {
        let line = format!("    {at}  {what:<28} {who:<30} {detail}");
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `report --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A Markdown table.
    Md,
    /// CSV.
    Csv,
    /// JSON.
    Json,
}

/// `requests export --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CSV, one line per request.
    Csv,
    /// A JSON array, each request with its audit log.
    Json,
}

/// Who is acting at the command line: `--by`, else the login name.
fn cli_actor(by: Option<String>) -> String {
    match by.filter(|b| !b.trim().is_empty()) {
        Some(b) => b.trim().to_string(),
        None => format!(
            "cli:{}",
            std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into())
        ),
    }
}

/// `requests verify|complete|deny|extend|note|assign ID ...`: the same command as a staff
/// reply by mail. Returns false when it was refused (the reason is printed).
pub fn requests_action(
    settings: Settings,
    clock: Clock,
    id: &str,
    line: &str,
    by: Option<String>,
) -> Result<bool> {
    use crate::staff::command::{parse, Parsed};
    let cmd = match parse(line) {
        Parsed::Ok(c) => c,
        Parsed::Invalid { command, why } => {
            eprintln!("privacy-inbox: {command}: {why}");
            return Ok(false);
        }
        Parsed::Unknown(w) => bail!("Unknown command {w}"),
        Parsed::NotACommand => bail!("Not a command: {line}"),
    };
    let actor = cli_actor(by);
    // A staff action needs a request, so a store that exists. It changes one row and
    // queues mail: a context and the store, no SMTP client (the daemon sends).
    let mut store = existing_store(&settings.store_path)?;
    let parts = crate::ctx::Parts::load(&settings)?;
    let ctx = parts.ctx(&settings, clock.now());
    let outcome = {
        let tx = store.begin()?;
        let outcome = crate::staff::actions::staff_command(&ctx, &tx, id, &actor, &cmd)?;
        tx.commit()?;
        outcome
    };
    if outcome.accepted {
        println!("{}", outcome.message);
        if outcome.message.contains("mail queued") {
            println!(
                "The mail goes out on the daemon's next pass (or now with `privacy-inbox run --once` when no daemon runs)."
            );
        }
    } else {
        eprintln!("privacy-inbox: refused: {}", outcome.message);
    }
    Ok(outcome.accepted)
}

/// The calendar year `report` shows without `--year`: the current one in the business
/// time zone.
pub fn current_year(settings: &Settings, clock: &Clock) -> i32 {
    use chrono::Datelike;
    clock.now().with_timezone(&settings.clock.timezone).year()
}

/// `privacy-inbox report [--year Y]`.
pub fn report(settings: &Settings, year: i32, format: Format) -> Result<()> {
    let store = open_store(settings)?;
    let all = requests::list(store.reader(), &requests::Filter::default())?;
    let y = crate::staff::report::yearly(&all, year, settings.clock.timezone);
    let text = match format {
        Format::Md => y.markdown(),
        Format::Csv => y.csv()?,
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&y)?),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// `privacy-inbox requests export`.
pub fn requests_export(settings: &Settings, format: ExportFormat) -> Result<()> {
    use crate::staff::report::{record_of, records_csv};
    let store = open_store(settings)?;
    let mut all = requests::list(store.reader(), &requests::Filter::default())?;
    all.sort_by(|a, b| a.received_at.cmp(&b.received_at).then(a.id.cmp(&b.id)));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        ExportFormat::Csv => {
            let records: Vec<_> = all.iter().map(record_of).collect();
            out.write_all(records_csv(&records).as_bytes())?;
        }
        ExportFormat::Json => {
            let mut list = Vec::with_capacity(all.len());
            for r in &all {
                let mut v = serde_json::to_value(record_of(r))?;
                v["events"] = serde_json::to_value(requests::events(store.reader(), &r.id)?)?;
                list.push(v);
            }
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `privacy-inbox purge [--dry-run]`.
pub fn purge(settings: &Settings, clock: &Clock, dry_run: bool) -> Result<()> {
    let mut store = open_store(settings)?;
    let days = settings.mail_retention_days;
    let cutoff = clock::fmt(clock.now() - chrono::Duration::days(days));
    let months = settings.record_retention_months;
    let now = clock.now();
    let record_cutoff = clock::fmt(
        now.checked_sub_months(chrono::Months::new(months))
            .context("The record retention reaches before the calendar starts")?,
    );
    let tx = store.begin()?;
    let p = crate::store::purge::purge(&tx, &cutoff, &clock::fmt(now), dry_run)?;
    let r = crate::store::purge::purge_records(&tx, &record_cutoff, &clock::fmt(now), dry_run)?;
    tx.commit()?;
    // Encrypted exports past retention, and those of purged requests, go too.
    for f in p
        .package_files
        .iter()
        .chain(&r.package_files)
        .filter(|_| !dry_run)
    {
        if let Err(e) = std::fs::remove_file(f) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("privacy-inbox: cannot remove the access package {f}: {e}");
            }
        }
    }
    println!(
        "{} {} received and {} sent mail bodies ({} bytes) recorded before {cutoff} \
         (store.mail-retention-days = {days}); their records are kept",
        if dry_run { "Would drop" } else { "Dropped" },
        p.received,
        p.sent,
        p.bytes
    );
    println!(
        "{} {} closed requests with no activity since {record_cutoff} \
         (store.record-retention-months = {months}), their {} audit events, and {} received \
         and {} sent mail rows; open requests are kept whatever their age",
        if dry_run { "Would delete" } else { "Deleted" },
        r.requests,
        r.events,
        r.received,
        r.sent
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{clock, clock_lines, days_left};
    use crate::kind::Kind;
    use crate::request::calendar::BusinessCalendar;
    use crate::request::deadlines::{compute_deadlines, Jurisdiction};
    use crate::store::requests::Request;

    #[test]
    fn closed_requests_show_no_days_left() {
        let now = clock::parse("2026-03-03T12:00:00Z").expect("date");
        let due = "2026-03-13T12:00:00Z";
        for open in [
            "received",
            "acknowledged",
            "awaiting_verification",
            "verified",
        ] {
            let s = open.parse().expect("status");
            assert_eq!(days_left(s, due, now), "10", "{open}");
        }
        for closed in [
            "completed",
            "denied",
            "closed_unverifiable",
            "not_a_request",
        ] {
            let s = closed.parse().expect("status");
            assert_eq!(days_left(s, due, now), "", "{closed}");
        }
    }

    /// A request as the store holds it, its clocks computed from `received` like intake does.
    fn stored(kinds: Vec<Kind>, status: &str, received: &str) -> Request {
        let cal = la();
        let d = compute_deadlines(
            &kinds,
            clock::parse(received).expect("date"),
            Jurisdiction::Ccpa,
            &cal,
        )
        .expect("kinds");
        Request {
            id: "PRIV-2026-00001".into(),
            status: status.parse().expect("status"),
            kinds,
            requester: "a@example.test".into(),
            requester_name: String::new(),
            language: "en".into(),
            jurisdiction: Jurisdiction::Ccpa,
            received_at: received.into(),
            confirm_by: d.confirm_by.map(clock::fmt),
            due_at: clock::fmt(d.respond_by),
            extended_due_at: d.extended_respond_by.map(clock::fmt),
            extended: false,
            escalated: false,
            escalation_reason: String::new(),
            verified: false,
            agent: false,
            subject: String::new(),
            origin_message_id: None,
            assignee: String::new(),
            denial_basis: None,
            denial_detail: String::new(),
            extension_reason: String::new(),
            law_reason: String::new(),
            responded_at: None,
            created_at: received.into(),
            updated_at: received.into(),
        }
    }

    fn la() -> BusinessCalendar {
        BusinessCalendar::new(chrono_tz::America::Los_Angeles, [])
    }

    #[test]
    fn show_states_each_clock_once_and_the_extension_with_its_own_two_dates() {
        let now = clock::parse("2026-11-23T18:00:00Z").expect("date");
        // A deletion received Friday Nov 20: confirm by Dec 7 (10 business days, skipping
        // Thanksgiving), due Jan 4 (45 days), extension to Feb 18 (90), told by Jan 4.
        let r = stored(
            vec![Kind::Delete],
            "awaiting_verification",
            "2026-11-20T17:00:00Z",
        );
        let lines = clock_lines(&r, now, &la());
        assert_eq!(
            lines,
            vec![
                "received     November 20, 2026 (2026-11-20T17:00:00Z)",
                "confirm by   December 7, 2026 (in 14 days; 2026-12-08T07:59:59Z)",
                "due          January 4, 2027 (in 42 days; 2027-01-05T07:59:59Z)",
                "extension    available: due February 18, 2027, if the consumer is told by \
                 January 4, 2027 (in 42 days)",
            ]
        );

        // Delete + marketing unsubscribe: the request is due with the unsubscribe (10
        // business days, the same day as the confirm-receipt date); the extension is the
        // deletion's, with its own dates, not that day twice.
        let r = stored(
            vec![Kind::Delete, Kind::OptOutMarketing],
            "awaiting_verification",
            "2026-11-20T17:00:00Z",
        );
        let lines = clock_lines(&r, now, &la());
        assert_eq!(
            lines[1],
            "confirm by   December 7, 2026 (in 14 days; 2026-12-08T07:59:59Z)"
        );
        assert_eq!(
            lines[2],
            "due          December 7, 2026 (in 14 days; 2026-12-08T07:59:59Z)"
        );
        assert_eq!(
            lines[3],
            "extension    available (for delete; opt_out_marketing keep their due date): due \
             February 18, 2027, if the consumer is told by January 4, 2027 (in 42 days)"
        );

        // Past the first period: no longer possible, said once.
        let late = clock::parse("2027-01-06T18:00:00Z").expect("date");
        let r = stored(vec![Kind::Access], "verified", "2026-11-20T17:00:00Z");
        let lines = clock_lines(&r, late, &la());
        assert_eq!(
            lines[2],
            "due          January 4, 2027 (2 days ago; 2027-01-05T07:59:59Z)"
        );
        assert_eq!(
            lines[3],
            "extension    no longer possible: the consumer had to be told by January 4, 2027"
        );

        // Extended: the new due date and the reason; no offer.
        let mut r = stored(vec![Kind::Access], "verified", "2026-11-20T17:00:00Z");
        r.extended = true;
        r.extension_reason = "many systems".into();
        let lines = clock_lines(&r, now, &la());
        assert_eq!(
            lines[3],
            "extended to  February 18, 2027 (in 87 days; 2027-02-19T07:59:59Z): many systems"
        );
        assert_eq!(lines.len(), 4);

        // An opt-out alone cannot be extended; a completed request shows no days left.
        let mut r = stored(vec![Kind::OptOutSale], "completed", "2026-11-20T17:00:00Z");
        r.responded_at = Some("2026-11-21T10:00:00Z".into());
        let lines = clock_lines(&r, now, &la());
        assert_eq!(
            lines,
            vec![
                "received     November 20, 2026 (2026-11-20T17:00:00Z)",
                "due          December 14, 2026 (2026-12-15T07:59:59Z)",
                "responded    November 21, 2026 (2026-11-21T10:00:00Z)",
            ]
        );
    }
}
