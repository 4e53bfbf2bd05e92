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
    let left = |t: &str| -> String {
        clock::parse(t)
            .map(|d| {
                let days = (d - now).num_days();
                if d < now {
                    format!("{} day(s) ago", -days)
                } else {
                    format!("in {days} day(s)")
                }
            })
            .unwrap_or_default()
    };
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
    writeln!(out, "  clocks:")?;
    writeln!(out, "    received     {}", r.received_at)?;
    if let Some(c) = &r.confirm_by {
        writeln!(out, "    confirm by   {c}  ({})", left(c))?;
    }
    writeln!(out, "    due          {}  ({})", r.due_at, left(&r.due_at))?;
    if let Some(e) = &r.extended_due_at {
        if r.extended {
            writeln!(
                out,
                "    extended to  {e}  ({}): {}",
                left(e),
                r.extension_reason
            )?;
        } else if r.status.is_open() {
            writeln!(
                out,
                "    extension    available: to {e}, if announced before {}",
                r.due_at
            )?;
        }
    }
    if let Some(t) = &r.responded_at {
        writeln!(out, "    responded    {t}")?;
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
    use super::{clock, days_left};

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
}
