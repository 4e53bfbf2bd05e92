//! Fulfilment in a request's life: what is queued when (in the transaction that decides it),
//! and the daemon's runner that does the work on the company's data sources outside any
//! store transaction, then records each source's result and carries the request on.
//!
//! - an opt-out (or limit) is run on every source with an `opt-out` as soon as the request
//!   is acknowledged (no verification, CCPA §7060(b)); all done → `completed`;
//! - a verified access, delete or correct request is looked up everywhere: staff (and the
//!   timeline) see what exists where; found nowhere → the consumer is told so (`nothing_found`);
//! - access: the package is built (streamed, encrypted at rest) and, after `/approve` (or with
//!   `[fulfil] access = "auto"`), the consumer gets `export_ready` with a single-use link;
//! - delete: the plan goes to staff; after `/approve` (or `delete = "auto"`) each source's
//!   `erase` runs in one transaction; all done → `completed`.
//!
//! A source that is down is retried with backoff ([`RETRY_AFTER`]); one that fails (a query
//! error, garbage output) or stays down goes to staff with the source and the error; nothing
//! is lost and no partial export is ever sent.

use super::package::PackageBuilder;
use super::rows::{SourceError, Subject};
use super::settings::{Approval, SourceSettings};
use super::source;
use crate::ctx::Ctx;
use crate::kind::Kind;
use crate::outbound::catalog::CompletedData;
use crate::outbound::facts::RequestFacts;
use crate::outbound::queue::Job;
use crate::request::lifecycle::Transition;
use crate::store::fulfil::{self as db, SourceResult};
use crate::store::requests::{self, Request};
use crate::store::{add_event, lock, transitions, Store};
use anyhow::{Context, Result};
use serde::Serialize;
use std::sync::Mutex;

/// Waits before the next try of a job whose source was unavailable, by tries so far; after
/// the last, staff are told.
pub const RETRY_AFTER: [i64; 4] = [60, 300, 1800, 7200];

/// Jobs run per pass, at most.
const BATCH: usize = 20;

fn configured(ctx: &Ctx) -> bool {
    !ctx.settings.fulfil.sources.is_empty()
}

fn needs_lookup(r: &Request) -> bool {
    r.kinds.iter().any(|k| !k.is_opt_out())
}

/// True when a verified `r` is looked up in the data sources (some are configured and it
/// asks for more than opt-outs).
pub fn looks_up(ctx: &Ctx, r: &Request) -> bool {
    configured(ctx) && needs_lookup(r)
}

/// Called when a request is verified (by reply or by staff): look it up everywhere.
pub fn on_verified(ctx: &Ctx, tx: &rusqlite::Connection, r: &Request) -> Result<()> {
    if !looks_up(ctx, r) {
        return Ok(());
    }
    let why = format!(
        "Lookup queued in {} data source(s)",
        ctx.settings.fulfil.sources.len()
    );
    queue(ctx, tx, r, "lookup", &why)
}

/// Queues `action` for `r` once, with a `fulfil_queued` event saying what.
fn queue(ctx: &Ctx, tx: &rusqlite::Connection, r: &Request, action: &str, why: &str) -> Result<()> {
    if db::enqueue_job(tx, &r.id, action, &ctx.now_s())? {
        add_event(tx, &r.id, &ctx.now_s(), "fulfil_queued", "bot", why)?;
    }
    Ok(())
}

/// True when opt-outs are carried out by the bot (some source has an `opt-out`): staff get
/// no "ready to action" mail for them, only a failure if one happens.
pub fn opt_out_automatic(ctx: &Ctx) -> bool {
    ctx.settings
        .fulfil
        .sources
        .iter()
        .any(|s| s.opt_out.is_some())
}

/// Called when a request with an opt-out or limit is acknowledged: run every source's
/// `opt-out` (no verification is ever needed for it).
pub fn on_opt_out(ctx: &Ctx, tx: &rusqlite::Connection, r: &Request) -> Result<()> {
    if !opt_out_automatic(ctx) || !r.kinds.iter().any(|k| k.is_opt_out()) {
        return Ok(());
    }
    queue(
        ctx,
        tx,
        r,
        "opt-out",
        "Opt-out queued in every data source that has one",
    )
}

/// `export_ready`: the facts, the link and when it stops working.
#[derive(Serialize)]
struct LinkData<'a> {
    #[serde(flatten)]
    facts: &'a RequestFacts,
    link: String,
    expires_date: String,
    link_days: u32,
}

/// `fulfilment`: a headline, one line per source, what staff can do next.
#[derive(Serialize)]
struct StaffNotice<'a> {
    #[serde(flatten)]
    facts: &'a RequestFacts,
    what: String,
    lines: Vec<String>,
    next: String,
}

fn tell_staff(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &Request,
    what: &str,
    lines: Vec<String>,
    next: &str,
) -> Result<()> {
    let facts = ctx.staff_facts(r);
    ctx.mailer.queue_staff(
        tx,
        &ctx.settings.staff.escalation_to,
        "fulfilment",
        &StaffNotice {
            facts: &facts,
            what: what.to_string(),
            lines,
            next: next.to_string(),
        },
        Some(&r.id),
        None,
    )
}

/// Issues a fresh download link for the newest package (voiding earlier ones) and mails it
/// to the consumer. `Ok(Err(why))` when there is nothing to send.
pub fn send_link(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &Request,
    actor: &str,
) -> Result<std::result::Result<String, String>> {
    let Some(portal) = &ctx.settings.fulfil.portal else {
        return Ok(Err(
            "No [portal] is configured: the bot has no download page to send a link to".into(),
        ));
    };
    let Some((package, _, rows)) = db::latest_package(tx, &r.id)? else {
        return Ok(Err(format!(
            "{} has no access package yet (it is built after verification and the lookup)",
            r.id
        )));
    };
    let now = ctx.now();
    let token = db::issue_link(tx, &r.id, package, now, portal.link_days)?;
    let expires = now + chrono::Duration::days(i64::from(portal.link_days));
    let facts = ctx.facts(r);
    let data = LinkData {
        facts: &facts,
        link: crate::portal::link_url(&portal.public_url, &token),
        expires_date: crate::clock::long_date(expires, ctx.settings.clock.timezone, &r.language),
        link_days: portal.link_days,
    };
    let refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
    ctx.mailer.queue_notice(
        tx,
        &Job {
            references: &refs,
            ..Job::to_consumer("export_ready", r, &data)
        },
    )?;
    add_event(
        tx,
        &r.id,
        &ctx.now_s(),
        "link_sent",
        actor,
        &format!(
            "Download link mailed ({rows} rows; works once, until {}); earlier links void",
            crate::clock::fmt(expires)
        ),
    )?;
    Ok(Ok(format!(
        "a download link is mailed to the consumer (single use, {} days)",
        portal.link_days
    )))
}

/// `/approve`: sends the access link and queues the erasure, whichever the request waits
/// for. `Ok(Err(why))` when nothing waits for approval.
pub fn approve(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &mut Request,
    actor: &str,
) -> Result<std::result::Result<String, String>> {
    if !configured(ctx) {
        return Ok(Err(
            "No [[sources]] are configured: there is nothing to approve".into(),
        ));
    }
    if !r.status.is_open() {
        return Ok(Err(format!("{} is {}: nothing to approve", r.id, r.status)));
    }
    let mut done = Vec::new();
    if r.kinds.contains(&Kind::Access) && db::latest_package(tx, &r.id)?.is_some() {
        match send_link(ctx, tx, r, actor)? {
            Ok(m) => done.push(m),
            Err(why) => return Ok(Err(why)),
        }
        complete_if_done(ctx, tx, r, false)?;
    }
    if r.kinds.contains(&Kind::Delete) && looked_up(tx, r)? && !db::job_exists(tx, &r.id, "erase")?
    {
        db::enqueue_job(tx, &r.id, "erase", &ctx.now_s())?;
        add_event(
            tx,
            &r.id,
            &ctx.now_s(),
            "erase_approved",
            actor,
            "Erasure approved",
        )?;
        done.push("the erasure is queued (one transaction per source)".to_string());
    }
    if done.is_empty() {
        return Ok(Err(format!(
            "Nothing of {} waits for approval yet (the lookup or the package may still be running)",
            r.id
        )));
    }
    Ok(Ok(format!("{}: {}", r.id, done.join("; "))))
}

fn looked_up(tx: &rusqlite::Connection, r: &Request) -> Result<bool> {
    Ok(db::results(tx, &r.id)?
        .iter()
        .any(|x| x.action == "lookup" && x.outcome == "ok"))
}

/// Completes the request once every part is done: the link sent for access, the erasure
/// done for delete. `erased`: this call follows an erasure (the consumer gets `completed`).
fn complete_if_done(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &mut Request,
    erased: bool,
) -> Result<()> {
    if !r.status.is_open() {
        return Ok(());
    }
    let access_done = !r.kinds.contains(&Kind::Access) || db::link_issued(tx, &r.id)?;
    let delete_done = !r.kinds.contains(&Kind::Delete) || erased;
    let correct_waits = r.kinds.contains(&Kind::Correct);
    if !(access_done && delete_done) || correct_waits {
        return Ok(());
    }
    if transitions::check(r, &Transition::Complete)?.is_err() {
        return Ok(());
    }
    transitions::apply(
        tx,
        r,
        &Transition::Complete,
        "bot",
        "Fulfilled in every data source",
        ctx.now(),
    )?;
    if erased {
        completed_mail(ctx, tx, r)?;
    }
    Ok(())
}

fn completed_mail(ctx: &Ctx, tx: &rusqlite::Connection, r: &Request) -> Result<()> {
    let facts = ctx.facts(r);
    let data = CompletedData {
        facts: &facts,
        completed_date: crate::clock::long_date(
            ctx.now(),
            ctx.settings.clock.timezone,
            &r.language,
        ),
    };
    let refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
    ctx.mailer.queue_notice(
        tx,
        &Job {
            references: &refs,
            ..Job::to_consumer("completed", r, &data)
        },
    )?;
    Ok(())
}

/// What one source did for one action.
struct Outcome {
    source: String,
    result: std::result::Result<(u64, String), SourceError>,
}

fn subject(ctx: &Ctx, r: &Request) -> Subject {
    Subject {
        email: r.requester.clone(),
        account: ctx.account_on_file(&r.requester).map(str::to_string),
        request: r.id.clone(),
    }
}

/// Runs every due job once. Returns how many ran.
pub async fn run_due(ctx: &Ctx<'_>, store: &Mutex<Store>) -> Result<usize> {
    if !configured(ctx) {
        return Ok(0);
    }
    let jobs = {
        let st = lock(store);
        db::due_jobs(st.reader(), &ctx.now_s(), BATCH)?
    };
    let mut ran = 0;
    for job in jobs {
        let r = {
            let st = lock(store);
            requests::get(st.reader(), &job.request_id)?
        };
        let Some(r) = r else {
            let st = lock(store);
            db::finish_job(st.reader(), job.id, "failed", "the request is gone", None)?;
            continue;
        };
        if !r.status.is_open() {
            let st = lock(store);
            db::finish_job(st.reader(), job.id, "done", "the request was closed", None)?;
            continue;
        }
        ran += 1;
        if let Err(e) = run_one(ctx, store, &job, r).await {
            // A bug or the store failing: the job stays pending and is tried again later.
            tracing::error!(request = %job.request_id, action = %job.action, error = %format!("{e:#}"), "Fulfilment job failed");
            let st = lock(store);
            let at = crate::clock::fmt(ctx.now() + chrono::Duration::seconds(RETRY_AFTER[0]));
            db::finish_job(st.reader(), job.id, "pending", &format!("{e:#}"), Some(&at))?;
        }
    }
    Ok(ran)
}

async fn run_one(ctx: &Ctx<'_>, store: &Mutex<Store>, job: &db::Job, mut r: Request) -> Result<()> {
    let who = subject(ctx, &r);
    let sources = &ctx.settings.fulfil.sources;
    let mut package = None;
    let mut outcomes = Vec::new();
    match job.action.as_str() {
        "lookup" => {
            for s in sources.iter().filter(|s| s.lookup.is_some()) {
                let result = source::lookup(s, &who).await.map(|counts| {
                    let total = counts.iter().map(|c| c.count).sum();
                    let detail = counts
                        .iter()
                        .map(|c| {
                            if c.label.is_empty() {
                                c.count.to_string()
                            } else {
                                format!("{} {}", c.label, c.count)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    (total, detail)
                });
                outcomes.push(Outcome {
                    source: s.name.clone(),
                    result,
                });
            }
        }
        "export" => {
            let dir = packages_dir(ctx);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("Cannot create {}", dir.display()))?;
            let mut builder = PackageBuilder::new(&dir)?;
            builder.set_reader(&r.language, ctx.settings.clock.timezone);
            for s in sources.iter().filter(|s| !s.export.is_empty()) {
                builder.add_source(&s.name, s.kind.as_str());
                let result = source::export(s, &who, &mut builder).await.map(|tables| {
                    let rows = tables.iter().map(|t| t.rows).sum();
                    let detail = tables
                        .iter()
                        .map(|t| format!("{} {}", t.table, t.rows))
                        .collect::<Vec<_>>()
                        .join(", ");
                    (rows, detail)
                });
                outcomes.push(Outcome {
                    source: s.name.clone(),
                    result,
                });
            }
            if outcomes.iter().all(|o| o.result.is_ok()) {
                let key = {
                    let st = lock(store);
                    crate::store::secrets::package_key(st.reader())?
                };
                let out = dir.join(format!(
                    "{}-{}.zip.enc",
                    r.id,
                    ctx.now().format("%Y%m%dT%H%M%S")
                ));
                let rows = builder.rows();
                let summary = builder.finish(&out, &key, &r.id, &ctx.now_s())?;
                package = Some((summary, rows));
            }
        }
        "erase" => {
            for s in sources.iter().filter(|s| !s.erase.is_empty()) {
                let result = source::erase(s, &who)
                    .await
                    .map(|n| (n, format!("{n} rows")));
                outcomes.push(Outcome {
                    source: s.name.clone(),
                    result,
                });
            }
        }
        "opt-out" => {
            for s in sources.iter().filter(|s| s.opt_out.is_some()) {
                let result = source::opt_out(s, &who)
                    .await
                    .map(|n| (n, format!("{n} rows")));
                outcomes.push(Outcome {
                    source: s.name.clone(),
                    result,
                });
            }
        }
        other => anyhow::bail!("Unknown fulfilment action {other}"),
    }
    let mut st = lock(store);
    let tx = st.begin()?;
    let now_s = ctx.now_s();
    let attempt = u32::try_from(job.attempts + 1).unwrap_or(u32::MAX);
    for o in &outcomes {
        let (outcome, count, detail) = match &o.result {
            Ok((n, d)) => ("ok", *n, d.clone()),
            Err(e) if e.is_transient() => ("unavailable", 0, e.to_string()),
            Err(e) => ("failed", 0, e.to_string()),
        };
        db::record_result(
            &tx,
            &r.id,
            &SourceResult {
                source: o.source.clone(),
                action: job.action.clone(),
                outcome: outcome.to_string(),
                count,
                detail,
                attempt,
                at: now_s.clone(),
            },
        )?;
    }
    let lines = lines_of(&outcomes);
    let failed: Vec<&SourceError> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err())
        .collect();
    if !failed.is_empty() {
        let all_transient = failed.iter().all(|e| e.is_transient());
        let tries = usize::try_from(job.attempts).unwrap_or(usize::MAX);
        let why = failed
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        if all_transient && tries < RETRY_AFTER.len() {
            let at = crate::clock::fmt(ctx.now() + chrono::Duration::seconds(RETRY_AFTER[tries]));
            db::finish_job(&tx, job.id, "pending", &why, Some(&at))?;
            add_event(
                &tx,
                &r.id,
                &now_s,
                "fulfil_retry",
                "bot",
                &format!("{}: {why}; tried again at {at}", job.action),
            )?;
            return Ok(tx.commit()?);
        }
        db::finish_job(&tx, job.id, "failed", &why, None)?;
        add_event(
            &tx,
            &r.id,
            &now_s,
            "fulfil_failed",
            "bot",
            &format!("{}: {why}", job.action),
        )?;
        let first = failed.first().map(|e| e.to_string()).unwrap_or_default();
        tell_staff(
            ctx,
            &tx,
            &r,
            &format!(
                "A source failed ({}): {}",
                job.action,
                crate::outbound::facts::clean_line(&first, 120)
            ),
            lines,
            "Nothing was sent to the consumer and no partial export exists. Fix the source (or \
             its config), then reply /approve to try the approved step again, or act by hand \
             and /complete; /note records what you did.",
        )?;
        return Ok(tx.commit()?);
    }
    db::finish_job(&tx, job.id, "done", "", None)?;
    let total: u64 = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok().map(|(n, _)| *n))
        .sum();
    add_event(
        &tx,
        &r.id,
        &now_s,
        &format!("fulfil_{}", job.action.replace('-', "_")),
        "bot",
        &lines.join("; "),
    )?;
    match job.action.as_str() {
        "lookup" => after_lookup(ctx, &tx, &mut r, total, lines)?,
        "export" => {
            if let Some((summary, rows)) = package {
                db::add_package(
                    &tx,
                    &r.id,
                    &summary.path.display().to_string(),
                    summary.bytes,
                    rows,
                    ctx.now(),
                )?;
                if ctx.settings.fulfil.access == Approval::Auto {
                    if let Err(why) = send_link(ctx, &tx, &r, "bot")? {
                        tell_staff(
                            ctx,
                            &tx,
                            &r,
                            "Access package ready, link not sent",
                            lines,
                            &why,
                        )?;
                    }
                    complete_if_done(ctx, &tx, &mut r, false)?;
                } else {
                    tell_staff(
                        ctx,
                        &tx,
                        &r,
                        &format!("Access package ready: {rows} rows"),
                        lines,
                        "Reply /approve to mail the consumer a single-use download link (the \
                         package never goes by mail), or /deny exempt <explanation>.",
                    )?;
                }
            }
        }
        "erase" => complete_if_done(ctx, &tx, &mut r, true)?,
        "opt-out"
            if r.kinds.iter().all(|k| k.is_opt_out())
                && transitions::check(&r, &Transition::Complete)?.is_ok() =>
        {
            transitions::apply(
                &tx,
                &mut r,
                &Transition::Complete,
                "bot",
                "Opted out in every data source",
                ctx.now(),
            )?;
            completed_mail(ctx, &tx, &r)?;
        }
        _ => {}
    }
    Ok(tx.commit()?)
}

/// After a lookup: found nowhere → the consumer is told and the request completes; found →
/// access builds its package, delete sends staff the plan (or erases with `delete = "auto"`),
/// correct tells staff where the records are.
fn after_lookup(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &mut Request,
    total: u64,
    lines: Vec<String>,
) -> Result<()> {
    let now_s = ctx.now_s();
    if total == 0 {
        let facts = ctx.facts(r);
        let refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
        ctx.mailer.queue_notice(
            tx,
            &Job {
                references: &refs,
                ..Job::to_consumer("nothing_found", r, &facts)
            },
        )?;
        if transitions::check(r, &Transition::Complete)?.is_ok() {
            transitions::apply(
                tx,
                r,
                &Transition::Complete,
                "bot",
                "Found in no data source: the consumer is told so",
                ctx.now(),
            )?;
        }
        return Ok(());
    }
    if r.kinds.contains(&Kind::Access) {
        db::enqueue_job(tx, &r.id, "export", &now_s)?;
    }
    let what = format!(
        "Lookup done: {total} record(s) in {} source(s)",
        lines.iter().filter(|l| !l.ends_with(": nothing")).count()
    );
    if r.kinds.contains(&Kind::Delete) {
        if ctx.settings.fulfil.delete == Approval::Auto {
            db::enqueue_job(tx, &r.id, "erase", &now_s)?;
            tell_staff(
                ctx,
                tx,
                r,
                &what,
                lines,
                "The erasure runs now ([fulfil] delete = \"auto\").",
            )?;
        } else {
            tell_staff(
                ctx,
                tx,
                r,
                &format!("Deletion plan: {total} record(s), approve to erase"),
                lines,
                "Reply /approve to erase these records (each source's `erase` statements in one \
                 transaction), or /deny exempt <explanation> to keep what the law requires.",
            )?;
        }
    } else if r.kinds.contains(&Kind::Correct) {
        tell_staff(
            ctx,
            tx,
            r,
            &what,
            lines,
            "Correct the records the consumer named, then /complete (the consumer is told).",
        )?;
    }
    Ok(())
}

fn lines_of(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| match &o.result {
            Ok((0, _)) => format!("{}: nothing", o.source),
            Ok((_, d)) => format!("{}: {d}", o.source),
            Err(e) => format!("{}: ERROR {}", o.source, e),
        })
        .collect()
}

/// Where packages are kept: `packages/` beside the store.
pub fn packages_dir(ctx: &Ctx) -> std::path::PathBuf {
    ctx.settings
        .store_path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("packages")
}

/// `requests show --json`'s `sources`: per configured source, what it found, exported,
/// erased and opted out (the latest successful figure of each), and its last error.
pub fn source_summary(
    conn: &rusqlite::Connection,
    sources: &[SourceSettings],
    request_id: &str,
) -> Result<Vec<serde_json::Value>> {
    let results = db::results(conn, request_id)?;
    Ok(sources
        .iter()
        .map(|s| {
            let last = |action: &str| {
                results
                    .iter()
                    .rev()
                    .find(|x| x.source == s.name && x.action == action && x.outcome == "ok")
                    .map(|x| x.count)
            };
            let error = results
                .iter()
                .rev()
                .find(|x| x.source == s.name)
                .filter(|x| x.outcome != "ok")
                .map(|x| x.detail.clone());
            serde_json::json!({
                "name": s.name,
                "found": last("lookup"),
                "exported": last("export"),
                "erased": last("erase"),
                "opted_out": last("opt-out"),
                "error": error,
            })
        })
        .collect())
}
