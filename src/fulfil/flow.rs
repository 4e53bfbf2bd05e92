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
use crate::request::fulfilment::{self as fstate, Act, State, Step};
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
    /// Not empty: no link is sent, and this says what the request waits for (`approval`,
    /// `verification`, `denied`, `closed`, `unchanged`).
    waiting: String,
}

/// `fulfilment`: a headline, one line per source, what staff can do next.
#[derive(Serialize)]
struct StaffNotice<'a> {
    #[serde(flatten)]
    facts: &'a RequestFacts,
    what: String,
    lines: Vec<String>,
    next: String,
    /// The commands the request's state allows, with what each does.
    commands: Vec<String>,
}

fn tell_staff(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &Request,
    what: &str,
    lines: Vec<String>,
    next: &str,
    commands: &[&str],
) -> Result<()> {
    let mut facts = ctx.staff_facts(r);
    if commands.contains(&"/retry") {
        // A failure notice names the request by its id only: no personal data (it may be
        // forwarded to whoever fixes the source).
        facts.requester.clear();
        facts.requester_name.clear();
        facts.original_subject.clear();
    }
    ctx.mailer.queue_staff(
        tx,
        &ctx.settings.staff.escalation_to,
        "fulfilment",
        &StaffNotice {
            facts: &facts,
            what: what.to_string(),
            lines,
            next: next.to_string(),
            commands: commands.iter().map(|c| command_help(c)).collect(),
        },
        Some(&r.id),
        None,
    )
}

/// One line of the staff mail's command list.
fn command_help(word: &str) -> String {
    let (usage, what) = match word {
        "/approve" => ("/approve", "go ahead with what this mail describes"),
        "/retry" => (
            "/retry",
            "run the failed step again, for the sources that failed",
        ),
        "/deny" => (
            "/deny exempt <why>",
            "keep the records (the law requires it); the consumer is told why",
        ),
        "/resend" => (
            "/resend",
            "a fresh download link to the consumer; the old one stops working",
        ),
        "/complete" => (
            "/complete",
            "you acted by hand: close the request (the consumer is told)",
        ),
        "/note" => ("/note <text>", "a note in the record"),
        other => (other, ""),
    };
    format!("{usage:<20} {what}")
}

/// Issues a fresh download link for the newest package (voiding earlier ones) and mails it
/// to the address on file (never to a `From:`). `Ok(Err(why))` when there is nothing to send.
/// Callers check the fulfilment state first ([`resend`], [`approve`]).
fn send_link(
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
            "{} has no access package (it is built after verification and the lookup, and \
             purged when its time is up)",
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
        waiting: String::new(),
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

/// Where `r`'s fulfilment stands.
pub fn state_of(ctx: &Ctx, conn: &rusqlite::Connection, r: &Request) -> Result<State> {
    Ok(fstate::state(&db::facts(conn, r, configured(ctx))?))
}

/// Who asks for `/resend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// Staff (a proven staff mail, or the CLI).
    Staff,
    /// The consumer, from the verified address, not failed by our own server's
    /// authentication results (and with a verdict from it when an authserv-id is set).
    Consumer,
    /// The consumer's address, without that proof: may not void a link that still works.
    Unproven,
}

/// `/resend`: a fresh link to the address on file, only while the request is approved or
/// delivered and its package kept. `Ok(Err(why))`: refused, saying what it waits for.
pub fn resend(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &Request,
    actor: &str,
    asker: Asker,
) -> Result<std::result::Result<String, String>> {
    let state = state_of(ctx, tx, r)?;
    let cmd = match asker {
        Asker::Staff => fstate::Command::StaffResend,
        Asker::Consumer | Asker::Unproven => fstate::Command::ConsumerResend,
    };
    if let Err(why) = fstate::decide(&state, cmd) {
        return Ok(Err(format!("{}: {why}", r.id)));
    }
    if asker == Asker::Unproven && db::active_link(tx, &r.id, ctx.now())? {
        return Ok(Err(format!(
            "{}: /resend is refused: the mail does not prove it comes from the requester \
             (our server's authentication results), and their current link is unused and \
             still works; it stays valid",
            r.id
        )));
    }
    send_link(ctx, tx, r, actor)
}

/// `/resend` refused for the consumer: a reply to the address on file saying what the
/// request waits for (no link).
pub fn resend_refused_mail(ctx: &Ctx, tx: &rusqlite::Connection, r: &Request) -> Result<()> {
    let state = state_of(ctx, tx, r)?;
    let waiting = match state {
        State::AwaitingVerification => "verification",
        State::Denied => "denied",
        State::Closed(_) | State::Erased => "closed",
        State::Approved | State::Delivered => "unchanged",
        _ => "approval",
    };
    let facts = ctx.facts(r);
    let data = LinkData {
        facts: &facts,
        link: String::new(),
        expires_date: String::new(),
        link_days: 0,
        waiting: waiting.to_string(),
    };
    let refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
    ctx.mailer.queue(
        tx,
        &Job {
            references: &refs,
            ..Job::to_consumer("export_ready", r, &data)
        },
    )?;
    Ok(())
}

/// `/approve` and `/retry`: whatever the request's fulfilment state waits for (the link,
/// the erasure, the "nothing found" reply, a failed step run again for exactly the sources
/// that failed). `Ok(Err(why))`: refused, saying the state and what it waits for.
pub fn approve(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &mut Request,
    actor: &str,
    retry: bool,
) -> Result<std::result::Result<String, String>> {
    let state = state_of(ctx, tx, r)?;
    let cmd = if retry {
        fstate::Command::Retry
    } else {
        fstate::Command::Approve
    };
    let acts = match fstate::decide(&state, cmd) {
        Ok(acts) => acts,
        Err(why) => return Ok(Err(format!("{}: {why}", r.id))),
    };
    let now_s = ctx.now_s();
    let mut done = Vec::new();
    for act in acts {
        match act {
            Act::SendLink => match send_link(ctx, tx, r, actor)? {
                Ok(m) => done.push(m),
                Err(why) => return Ok(Err(why)),
            },
            Act::QueueErase => {
                db::enqueue_job(tx, &r.id, "erase", &now_s)?;
                add_event(
                    tx,
                    &r.id,
                    &now_s,
                    "erase_approved",
                    actor,
                    "Erasure approved",
                )?;
                done.push("the erasure is queued (one transaction per source)".to_string());
            }
            Act::NothingFound => {
                nothing_found_mail(ctx, tx, r)?;
                add_event(
                    tx,
                    &r.id,
                    &now_s,
                    "nothing_found_approved",
                    actor,
                    "Found in no data source: the consumer is told so",
                )?;
                done.push("the consumer is told nothing was found".to_string());
            }
            Act::Rerun { step, sources } => {
                db::enqueue_job_for(tx, &r.id, step.as_str(), &sources, &now_s)?;
                let which = if sources.is_empty() {
                    "every source".to_string()
                } else {
                    sources.join(", ")
                };
                add_event(
                    tx,
                    &r.id,
                    &now_s,
                    "fulfil_queued",
                    actor,
                    &format!("The failed {step} runs again in {which}"),
                )?;
                done.push(format!("the {step} runs again in {which}"));
            }
        }
    }
    complete_if_done(ctx, tx, r)?;
    Ok(Ok(format!("{}: {}", r.id, done.join("; "))))
}

fn nothing_found_mail(ctx: &Ctx, tx: &rusqlite::Connection, r: &Request) -> Result<()> {
    let facts = ctx.facts(r);
    let refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
    ctx.mailer.queue_notice(
        tx,
        &Job {
            references: &refs,
            ..Job::to_consumer("nothing_found", r, &facts)
        },
    )?;
    Ok(())
}

/// Completes the request once every part is done: the link sent for access, the erasure
/// done (and confirmed) for delete, the opt-out run for an opt-out part, the "nothing found"
/// reply sent; a correction waits for staff. The consumer gets `completed` after an erasure,
/// listing only the kinds that were carried out. An erasure done while an opt-out part
/// cannot run (no source has an `opt-out`) goes to staff for that part.
fn complete_if_done(ctx: &Ctx, tx: &rusqlite::Connection, r: &mut Request) -> Result<()> {
    if !r.status.is_open() {
        return Ok(());
    }
    let f = db::facts(tx, r, configured(ctx))?;
    if f.failed.is_some() || !f.partial.is_empty() || !f.pending.is_empty() {
        return Ok(());
    }
    let nothing = f.found == Some(0) && f.nothing_found_sent;
    let access_done = !r.kinds.contains(&Kind::Access) || f.link || nothing;
    let delete_done = !r.kinds.contains(&Kind::Delete) || f.erased || nothing;
    let opt_out_done = !r.kinds.iter().any(|k| k.is_opt_out()) || f.opted_out;
    let correct_waits = r.kinds.contains(&Kind::Correct);
    if access_done && delete_done && !opt_out_done && f.erased {
        tell_staff(
            ctx,
            tx,
            r,
            "Erased in every source; the opt-out part waits for you",
            Vec::new(),
            "No data source has an `opt-out` statement, so the bot did not carry out the \
             opt-out part of this request. Do it by hand, then /complete (the consumer is told).",
            &["/complete", "/note"],
        )?;
        return Ok(());
    }
    if !(access_done && delete_done && opt_out_done) || correct_waits {
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
        if nothing {
            "Found in no data source: the consumer is told so"
        } else {
            "Fulfilled in every data source"
        },
        ctx.now(),
    )?;
    if f.erased {
        completed_mail(ctx, tx, r)?;
    }
    Ok(())
}

fn completed_mail(ctx: &Ctx, tx: &rusqlite::Connection, r: &Request) -> Result<()> {
    let f = db::facts(tx, r, configured(ctx))?;
    let mut facts = ctx.facts(r);
    // Each kind the bot carried out, and never one that did not run.
    let done: Vec<bool> = r
        .kinds
        .iter()
        .map(|k| match k {
            Kind::Access => f.link,
            Kind::Delete => f.erased,
            Kind::Correct => false,
            _ => f.opted_out,
        })
        .collect();
    if facts.kind_labels.len() == done.len() {
        facts.kind_labels = facts
            .kind_labels
            .into_iter()
            .zip(done)
            .filter_map(|(label, d)| d.then_some(label))
            .collect();
    }
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
    /// Rows its lookup still found after its erasure committed.
    left: Option<u64>,
}

fn subject(ctx: &Ctx, r: &Request) -> Subject {
    Subject {
        email: r.requester.clone(),
        account: ctx.account_on_file(&r.requester).map(str::to_string),
        request: r.id.clone(),
    }
}

/// Rounds of [`run_due`] in one pass: a job's successor (lookup → export) runs in the same
/// pass, without looping for ever.
const ROUNDS: usize = 4;

/// Runs every due job, and the jobs they lead to, as far as they go without a person.
/// Returns how many ran.
pub async fn run_due(ctx: &Ctx<'_>, store: &Mutex<Store>) -> Result<usize> {
    if !configured(ctx) {
        return Ok(0);
    }
    let mut ran = 0;
    let mut tried = std::collections::HashSet::new();
    for _ in 0..ROUNDS {
        let jobs: Vec<db::Job> = {
            let st = lock(store);
            db::due_jobs(st.reader(), &ctx.now_s(), BATCH)?
        }
        .into_iter()
        .filter(|j| tried.insert(j.id))
        .collect();
        if jobs.is_empty() {
            break;
        }
        ran += run_jobs(ctx, store, jobs).await?;
    }
    Ok(ran)
}

async fn run_jobs(ctx: &Ctx<'_>, store: &Mutex<Store>, jobs: Vec<db::Job>) -> Result<usize> {
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

fn counted(counts: &[super::rows::Count]) -> (u64, String) {
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
}

async fn run_one(ctx: &Ctx<'_>, store: &Mutex<Store>, job: &db::Job, mut r: Request) -> Result<()> {
    let who = subject(ctx, &r);
    let sources: Vec<&SourceSettings> = ctx
        .settings
        .fulfil
        .sources
        .iter()
        .filter(|s| job.sources.is_empty() || job.sources.contains(&s.name))
        .collect();
    let mut package = None;
    let mut outcomes = Vec::new();
    match job.action.as_str() {
        "lookup" => {
            for s in sources.iter().filter(|s| s.lookup.is_some()) {
                let result = source::lookup(s, &who).await.map(|c| counted(&c));
                outcomes.push(Outcome {
                    source: s.name.clone(),
                    result,
                    left: None,
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
                let failed = result.is_err();
                outcomes.push(Outcome {
                    source: s.name.clone(),
                    result,
                    left: None,
                });
                if failed {
                    // No partial package: the rest is not asked, nothing is kept.
                    break;
                }
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
                // Confirmed: once the statements committed, the lookup runs again.
                let left = match (&result, &s.lookup) {
                    (Ok(_), Some(_)) => match source::lookup(s, &who).await {
                        Ok(c) => Some(counted(&c).0),
                        Err(e) => {
                            tracing::warn!(source = %s.name, step = "erase", request = %r.id, error = %e, "The lookup after an erasure failed");
                            None
                        }
                    },
                    _ => None,
                };
                outcomes.push(Outcome {
                    source: s.name.clone(),
                    result,
                    left,
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
                    left: None,
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
        let (outcome, count, detail) = match (&o.result, o.left) {
            (Ok(_), Some(left)) if left > 0 => (
                "failed",
                0,
                format!("{} {left} record(s) left after the erasure", db::PARTIAL),
            ),
            (Ok((n, d)), _) => ("ok", *n, d.clone()),
            (Err(e), _) if e.is_transient() => ("unavailable", 0, e.to_string()),
            (Err(e), _) => ("failed", 0, e.to_string()),
        };
        if outcome != "ok" {
            tracing::warn!(source = %o.source, step = %job.action, request = %r.id, error = %detail, "Data source failed");
            crate::metrics::counters().source_failed(&o.source, &job.action);
        }
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
    let partial: Vec<(&str, u64)> = outcomes
        .iter()
        .filter_map(|o| match (&o.result, o.left) {
            (Ok(_), Some(left)) if left > 0 => Some((o.source.as_str(), left)),
            _ => None,
        })
        .collect();
    let failed: Vec<(&str, &SourceError)> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| (o.source.as_str(), e)))
        .collect();
    if !failed.is_empty() || !partial.is_empty() {
        let all_transient = partial.is_empty() && failed.iter().all(|(_, e)| e.is_transient());
        let tries = usize::try_from(job.attempts).unwrap_or(usize::MAX);
        let why = failed
            .iter()
            .map(|(_, e)| e.to_string())
            .chain(
                partial
                    .iter()
                    .map(|(s, n)| format!("{s}: {n} record(s) left after the erasure")),
            )
            .collect::<Vec<_>>()
            .join("; ");
        // Sources that succeeded are not asked again (an export is rebuilt whole).
        let again: Vec<String> = failed
            .iter()
            .map(|(s, _)| s.to_string())
            .chain(partial.iter().map(|(s, _)| s.to_string()))
            .collect();
        if all_transient && tries < RETRY_AFTER.len() {
            let at = crate::clock::fmt(ctx.now() + chrono::Duration::seconds(RETRY_AFTER[tries]));
            db::finish_job(&tx, job.id, "pending", &why, Some(&at))?;
            if job.action != "export" {
                db::set_job_sources(&tx, job.id, &again)?;
            }
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
        let step = Step::parse(&job.action).unwrap_or(Step::Lookup);
        let (what, next) = failure_notice(step, &again, attempt, !partial.is_empty());
        // Only the request's id and the sources' own words: no personal data.
        let error_lines: Vec<String> = failed
            .iter()
            .map(|(s, e)| {
                format!(
                    "{s}: ERROR {}",
                    crate::outbound::facts::clean_line(&e.to_string(), 300)
                )
            })
            .chain(partial.iter().map(|(s, n)| {
                format!("{s}: {n} record(s) still found after the erasure committed")
            }))
            .collect();
        tell_staff(
            ctx,
            &tx,
            &r,
            &what,
            error_lines,
            &next,
            &["/retry", "/approve", "/complete", "/note"],
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
        "lookup" => {
            // A rerun for some sources: the plan counts every source's latest figure.
            let (total, lines) = if job.sources.is_empty() {
                (total, lines)
            } else {
                lookup_totals(ctx, &tx, &r)?
            };
            after_lookup(ctx, &tx, &mut r, total, lines)?
        }
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
                            &["/complete", "/note"],
                        )?;
                    }
                    complete_if_done(ctx, &tx, &mut r)?;
                } else {
                    tell_staff(
                        ctx,
                        &tx,
                        &r,
                        &format!("Access package ready: {rows} rows"),
                        lines,
                        "Reply /approve to mail the consumer a single-use download link (the \
                         package never goes by mail), or /deny exempt <explanation>.",
                        &["/approve", "/deny", "/note"],
                    )?;
                }
            }
        }
        "erase" => complete_if_done(ctx, &tx, &mut r)?,
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

/// The staff mail after a step failed for good: headline and what to do.
fn failure_notice(step: Step, sources: &[String], tries: u32, partial: bool) -> (String, String) {
    let which = sources.join(", ");
    let what = if partial {
        format!("Erasure partial in {which}: records left, request not completed")
    } else {
        format!("A source failed ({step}) in {which} after {tries} tries")
    };
    let again = if step == Step::Export {
        "the export runs again in every source (a package is never built in part)".to_string()
    } else {
        format!("the {step} runs again in {which} only")
    };
    let next = format!(
        "Nothing was sent to the consumer and no partial export exists. Fix the source (or its \
         config), then reply /retry (or /approve): {again}. Or act by hand and /complete; \
         /note records what you did."
    );
    (what, next)
}

/// Every lookup source's latest figure: (total, lines).
fn lookup_totals(ctx: &Ctx, tx: &rusqlite::Connection, r: &Request) -> Result<(u64, Vec<String>)> {
    let results = db::results(tx, &r.id)?;
    let mut total = 0;
    let mut lines = Vec::new();
    for s in ctx
        .settings
        .fulfil
        .sources
        .iter()
        .filter(|s| s.lookup.is_some())
    {
        if let Some(x) = results
            .iter()
            .rev()
            .find(|x| x.source == s.name && x.action == "lookup" && x.outcome == "ok")
        {
            total += x.count;
            lines.push(if x.count == 0 {
                format!("{}: nothing", s.name)
            } else {
                format!("{}: {}", s.name, x.detail)
            });
        }
    }
    Ok((total, lines))
}

/// True when a lookup that found nothing may be answered without staff: every kind the
/// sources fulfil for `r` runs automatically.
fn nothing_found_alone(ctx: &Ctx, r: &Request) -> bool {
    let f = &ctx.settings.fulfil;
    r.kinds.iter().all(|k| match k {
        Kind::Access => f.access == Approval::Auto,
        Kind::Delete => f.delete == Approval::Auto,
        Kind::Correct => false,
        _ => true,
    })
}

/// After a lookup: found nowhere → a plan for staff to approve (or, with every kind on
/// "auto", the consumer is told and the request completes); found → access builds its
/// package, delete sends staff the plan (or erases with `delete = "auto"`), correct tells
/// staff where the records are.
fn after_lookup(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    r: &mut Request,
    total: u64,
    mut lines: Vec<String>,
) -> Result<()> {
    let now_s = ctx.now_s();
    if total == 0 {
        if nothing_found_alone(ctx, r) {
            nothing_found_mail(ctx, tx, r)?;
            complete_if_done(ctx, tx, r)?;
            return Ok(());
        }
        let who = subject(ctx, r);
        lines.push(format!(
            "asked with: email {}{}",
            who.email,
            who.account
                .as_deref()
                .map(|a| format!(", account {a}"))
                .unwrap_or_else(|| ", no account number on file".into())
        ));
        tell_staff(
            ctx,
            tx,
            r,
            "Nothing found in any source: approve the \"nothing found\" reply",
            lines,
            "No source found a record for the identifiers below. If they are right, reply \
             /approve: the consumer is told nothing was found and the request completes. If \
             the consumer may be known under another address or account, look by hand, then \
             /complete or /note.",
            &["/approve", "/deny", "/note", "/complete"],
        )?;
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
                &["/note"],
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
                &["/approve", "/deny", "/note"],
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
            &["/complete", "/note"],
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
