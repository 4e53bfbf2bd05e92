//! The commands behind `main.rs`: each takes parsed arguments and prints its output.

use crate::classify::Classifier;
use crate::clock::{self, Clock};
use crate::config::Settings;
use crate::daemon::App;
use crate::store::{outbox, requests, Store};
use anyhow::{anyhow, bail, Result};
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
            sent = stats.outbox.sent,
            deferred = stats.outbox.deferred,
            failed = stats.outbox.failed.len(),
            "Pass complete"
        );
        return Ok(());
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("Shutting down after the mail in hand");
        let _ = tx.send(true);
    });
    app.run(rx).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn open_store(settings: &Settings) -> Result<Store> {
    Store::open(&settings.store_path)
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
    let store = open_store(settings)?;
    let filter = requests::Filter {
        status,
        due_before: due_before
            .map(|d| parse_due_before(settings, &d))
            .transpose()?,
        open_only: false,
    };
    let list = requests::list(&store.conn, &filter)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        return Ok(());
    }
    let now = clock.now();
    writeln!(
        out,
        "{:<16} {:<22} {:<28} {:<28} {:>9}  FLAGS",
        "ID", "STATUS", "KINDS", "REQUESTER", "DAYS LEFT"
    )?;
    for r in &list {
        let due = r
            .extended_due_at
            .as_deref()
            .filter(|_| r.extended)
            .unwrap_or(&r.due_at);
        let days = clock::parse(due)
            .map(|d| (d - now).num_days().to_string())
            .unwrap_or_default();
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
        writeln!(
            out,
            "{:<16} {:<22} {:<28} {:<28} {:>9}  {}",
            r.id,
            r.status,
            kinds,
            r.requester,
            days,
            flags.join(",")
        )?;
    }
    writeln!(out, "{} request(s)", list.len())?;
    Ok(())
}

/// `privacy-inbox requests show ID`.
pub fn requests_show(settings: &Settings, _clock: &Clock, id: &str, json: bool) -> Result<()> {
    let store = open_store(settings)?;
    let Some(r) = requests::get(&store.conn, id)? else {
        bail!("No request {id}");
    };
    let events = requests::events(&store.conn, id)?;
    let mails = outbox::for_request(&store.conn, id)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "request": r, "events": events, "mails_out": mails }),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{}  {}", r.id, r.status)?;
    writeln!(out, "  requester:  {} {}", r.requester, r.requester_name)?;
    writeln!(out, "  kinds:      {}", requests::kinds_text(&r.kinds))?;
    writeln!(out, "  received:   {}", r.received_at)?;
    if let Some(c) = &r.confirm_by {
        writeln!(out, "  confirm by: {c}")?;
    }
    writeln!(out, "  due:        {}", r.due_at)?;
    if let Some(e) = &r.extended_due_at {
        writeln!(
            out,
            "  extended:   {} ({})",
            e,
            if r.extended { "taken" } else { "available" }
        )?;
    }
    writeln!(
        out,
        "  flags:      escalated={} verified={} agent={}",
        r.escalated, r.verified, r.agent
    )?;
    writeln!(out, "  events:")?;
    for e in events {
        writeln!(
            out,
            "    {}  {:<18} {:<28} {}",
            e.at, e.kind, e.actor, e.detail
        )?;
    }
    writeln!(out, "  mails out:")?;
    for m in mails {
        writeln!(
            out,
            "    {}  {:<16} {:<28} {}{}",
            m.created_at,
            m.purpose,
            m.recipient,
            m.status,
            if m.last_error.is_empty() {
                String::new()
            } else {
                format!(" ({})", m.last_error)
            }
        )?;
    }
    Ok(())
}
