//! The supervisor: one pass = intake (fetch, record, move) + outbox (send). `run --once` does
//! one pass; the daemon repeats it, waiting in IMAP IDLE (or polling) between passes, backs
//! off with jitter on errors and reconnects, and stops cleanly on SIGINT/SIGTERM after the
//! batch in hand ([`crate::shutdown::Shutdown`], raced wherever it waits).
//!
//! Here too: the DKIM key is read when the [`App`] is built (a bad key stops the start);
//! our own Bcc copies are looked up before an unconfirmed reply is sent again, and taken in
//! at the end of `run --once` (`copies`); edited templates go live at the start of a pass
//! (`reload`); one daemon runs per store (`lock`).

use crate::classify::Classifier;
use crate::clock::Clock;
use crate::config::Settings;
use crate::ctx::Ctx;
use crate::imap::{self, Session};
use crate::intake::BatchStats;
use crate::outbound::compose::Composer;
use crate::outbound::outbox::{self, lock};
use crate::outbound::smtp::Smtp;
use crate::outbound::templates::Templates;
use crate::request::calendar::BusinessCalendar;
use crate::shutdown::Shutdown;
use crate::store::{inbox, Store};
use anyhow::{Context, Result};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

mod copies;
mod lock;
mod reload;

pub use lock::{lock_path, lock_store, StoreLock};

/// How long recovery waits for our own copy of an unconfirmed mail to show up over IMAP
/// before concluding the server never took it (Postfix's 250 means queued, not delivered).
pub const COPY_GRACE: Duration = Duration::from_secs(10);

/// How many times the end of a `run --once` pass takes in its own copies (and whatever mail
/// came with them, whose replies make new copies) before it stops.
pub const FINISH_ROUNDS: usize = 3;

/// The longest the daemon waits in IDLE (or between polls) before a pass of its own, even
/// with no new mail: staff actions taken at the command line queue mail that must go out,
/// edited templates must go live, and the sweeper's clocks must be looked at.
pub const HOUSEKEEPING: Duration = Duration::from_secs(60);

/// [`HOUSEKEEPING`], or `PRIVACY_INBOX_HOUSEKEEPING_SECONDS` (1 to 60) when set: a testing
/// aid, so a test need not wait a minute for the daemon's own pass.
pub fn housekeeping() -> Duration {
    std::env::var("PRIVACY_INBOX_HOUSEKEEPING_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=60).contains(s))
        .map(Duration::from_secs)
        .unwrap_or(HOUSEKEEPING)
}

/// Everything a pass needs, built once at start.
pub struct App {
    /// Settings.
    pub settings: Settings,
    /// The store.
    pub store: Mutex<Store>,
    /// The classifier.
    pub classifier: Classifier,
    /// Templates.
    pub templates: Templates,
    /// Message builder.
    pub composer: Composer,
    /// Business calendar.
    pub calendar: BusinessCalendar,
    /// SMTP client.
    pub smtp: Smtp,
    /// Time source.
    pub clock: Clock,
    /// Account directory for the second verification data point.
    pub accounts: Option<crate::accounts::Directory>,
    /// Unconfirmed outbox rows (Message-ID) and when this process first saw them so.
    unconfirmed_since: Mutex<HashMap<String, std::time::Instant>>,
}

/// What one pass did.
#[derive(Debug, Default, Clone)]
pub struct PassStats {
    /// Mails fetched.
    pub fetched: usize,
    /// Intake counts.
    pub intake: BatchStats,
    /// Outbox round.
    pub outbox: outbox::Round,
    /// Sweeper.
    pub sweep: crate::sweep::SweepStats,
}

impl App {
    /// Loads everything a pass needs; every start-up problem is reported before any I/O.
    pub fn new(settings: Settings, clock: Clock) -> Result<App> {
        // The same parts a CLI command loads (the DKIM key read once, here: a bad one stops
        // the start, named like a config problem).
        let crate::ctx::Parts {
            classifier,
            templates,
            composer,
            calendar,
            accounts,
        } = crate::ctx::Parts::load(&settings)?;
        let store = Store::open(&settings.store_path)?;
        let smtp = Smtp::new(&settings.smtp)?;
        Ok(App {
            accounts,
            settings,
            store: Mutex::new(store),
            classifier,
            templates,
            composer,
            calendar,
            smtp,
            clock,
            unconfirmed_since: Mutex::new(HashMap::new()),
        })
    }

    /// The context of intake, staff actions and the sweeper over this app's parts, at the
    /// current time.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx::new(
            &self.settings,
            &self.classifier,
            &self.templates,
            &self.composer,
            &self.calendar,
            self.accounts.as_ref(),
            self.clock.now(),
        )
    }

    /// Fetches and records every new mail of the watched mailbox, then moves what was
    /// recorded. Returns the session for reuse.
    pub async fn intake_pass(&self, mut s: Session, stats: &mut PassStats) -> Result<Session> {
        let mailbox = self.settings.imap.mailbox.clone();
        let sel = imap::select(&mut s, &mailbox).await?;
        let has_move = imap::has_capability(&mut s, "MOVE").await?;
        let cursor = {
            let st = lock(&self.store);
            inbox::cursor(st.reader(), &mailbox)?
        };
        let after = match cursor {
            Some(c) if c.uidvalidity == sel.uidvalidity => c.last_uid,
            Some(c) => {
                tracing::warn!(
                    mailbox = %mailbox,
                    old = c.uidvalidity,
                    new = sel.uidvalidity,
                    "UIDVALIDITY changed: rescanning the mailbox (Message-ID dedupe prevents double answers)"
                );
                let st = lock(&self.store);
                inbox::drop_stale_moves(st.reader(), &mailbox, sel.uidvalidity)?;
                0
            }
            None => 0,
        };
        // Moves left over from an interrupted pass.
        self.apply_moves(&mut s, &mailbox, sel.uidvalidity, has_move)
            .await?;
        let metas = imap::list_new(&mut s, after).await?;
        let max = self.settings.imap.max_message_bytes;
        for chunk in metas.chunks(self.settings.imap.batch_size as usize) {
            let (big, small): (Vec<&imap::Meta>, Vec<&imap::Meta>) =
                chunk.iter().partition(|m| u64::from(m.size) > max);
            let mut fetched = imap::fetch(
                &mut s,
                &small.iter().map(|m| m.uid).collect::<Vec<_>>(),
                false,
            )
            .await?;
            fetched.extend(
                imap::fetch(&mut s, &big.iter().map(|m| m.uid).collect::<Vec<_>>(), true).await?,
            );
            fetched.sort_by_key(|f| f.uid);
            stats.fetched += fetched.len();
            let b = {
                let ctx = self.ctx();
                let mut st = lock(&self.store);
                crate::intake::record_batch(&ctx, &mut st, &mailbox, sel.uidvalidity, &fetched)?
            };
            stats.intake.add(b);
            self.apply_moves(&mut s, &mailbox, sel.uidvalidity, has_move)
                .await?;
        }
        Ok(s)
    }

    async fn apply_moves(
        &self,
        s: &mut Session,
        mailbox: &str,
        uidvalidity: u32,
        has_move: bool,
    ) -> Result<()> {
        let pending = {
            let st = lock(&self.store);
            inbox::pending_moves(st.reader(), mailbox, uidvalidity)?
        };
        for (target, uids) in pending {
            imap::move_uids(s, &uids, &target, has_move)
                .await
                .with_context(|| format!("Cannot move {} mails to {target}", uids.len()))?;
            let st = lock(&self.store);
            inbox::mark_moved(st.reader(), mailbox, uidvalidity, &uids)?;
        }
        Ok(())
    }

    /// Sends what the outbox holds. Rows whose last attempt had an unknown outcome are first
    /// looked up over IMAP (our Bcc copy), so a crash never sends a reply twice; a copy still
    /// in transit is waited for up to [`COPY_GRACE`].
    pub async fn outbox_pass(&self, s: Option<&mut Session>, stats: &mut PassStats) -> Result<()> {
        self.outbox_round(s, stats, true).await
    }

    /// Outbox rounds until one sends nothing: a round takes at most [`outbox::BATCH`] rows,
    /// and a backlog of thousands of replies must not wait for the next pass (or IDLE).
    /// Deferred and held rows are not due again within this call, so it ends.
    pub async fn drain_outbox(
        &self,
        s: &mut Session,
        stats: &mut PassStats,
        wait: bool,
    ) -> Result<()> {
        loop {
            let before = stats.outbox.sent + stats.outbox.confirmed;
            self.outbox_round(Some(s), stats, wait).await?;
            if stats.outbox.sent + stats.outbox.confirmed == before {
                return Ok(());
            }
        }
    }

    /// [`Self::outbox_pass`]; with `wait` false (the daemon) a row whose copy is not found
    /// yet is held for later passes until [`COPY_GRACE`] has passed since it was first seen
    /// unconfirmed, instead of blocking intake while waiting for the copy.
    async fn outbox_round(
        &self,
        s: Option<&mut Session>,
        stats: &mut PassStats,
        wait: bool,
    ) -> Result<()> {
        let now = self.clock.now();
        let unknown = outbox::unconfirmed(&self.store, now)?;
        let mut delivered = HashSet::new();
        let mut hold = HashSet::new();
        if !unknown.is_empty() && self.settings.smtp.copy_to.is_some() {
            if let Some(s) = s {
                let grace = if wait { COPY_GRACE } else { Duration::ZERO };
                delivered = copies::find(self, s, &unknown, grace).await?;
                if !wait {
                    let t = std::time::Instant::now();
                    let mut since = match self.unconfirmed_since.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    since.retain(|id, _| unknown.contains(id) && !delivered.contains(id));
                    for id in unknown.iter().filter(|i| !delivered.contains(*i)) {
                        let first = *since.entry(id.clone()).or_insert(t);
                        if t.duration_since(first) < COPY_GRACE {
                            hold.insert(id.clone());
                        }
                    }
                }
            }
        }
        let mut round = outbox::send_due(
            &self.store,
            &self.smtp,
            now,
            self.settings.smtp.connections as usize,
            &delivered,
            &hold,
        )
        .await?;
        let told = self.copy_refused(&round.copy_refused)?;
        if self.escalate_failures(&round.failed)? + told > 0 {
            // Tell staff now rather than at the next pass.
            let more = outbox::send_due(
                &self.store,
                &self.smtp,
                now,
                self.settings.smtp.connections as usize,
                &HashSet::new(),
                &hold,
            )
            .await?;
            round.sent += more.sent;
            round.deferred += more.deferred;
            round.failed.extend(more.failed);
            round.copy_refused.extend(more.copy_refused);
            round.taken += more.taken;
        }
        if round.sent + round.confirmed + round.deferred + round.failed.len() + round.taken > 0 {
            tracing::info!(
                sent = round.sent,
                confirmed = round.confirmed,
                deferred = round.deferred,
                failed = round.failed.len(),
                taken_by_another_process = round.taken,
                "Outbox round"
            );
        }
        stats.outbox.sent += round.sent;
        stats.outbox.confirmed += round.confirmed;
        stats.outbox.deferred += round.deferred;
        stats.outbox.failed.extend(round.failed);
        stats.outbox.copy_refused.extend(round.copy_refused);
        stats.outbox.taken += round.taken;
        Ok(())
    }

    /// Mails that went out without our Bcc copy ([`crate::staff::delivery::copy_refused`]).
    fn copy_refused(&self, refused: &[outbox::OutboxFailure]) -> Result<usize> {
        if refused.is_empty() {
            return Ok(0);
        }
        let mut st = lock(&self.store);
        crate::staff::delivery::copy_refused(&self.ctx(), &mut st, refused)
    }

    /// Permanent delivery failures ([`crate::staff::delivery::escalate_failures`]).
    fn escalate_failures(&self, failed: &[outbox::OutboxFailure]) -> Result<usize> {
        if failed.is_empty() {
            return Ok(0);
        }
        let mut st = lock(&self.store);
        crate::staff::delivery::escalate_failures(&self.ctx(), &mut st, failed)
    }

    /// Runs the due fulfilment jobs ([`crate::fulfil::flow`]): the data sources are asked
    /// outside any store transaction; their results and the mail they lead to are recorded
    /// and queued, and go out with this pass's outbox.
    pub async fn fulfil(&self) -> Result<()> {
        let ctx = self.ctx();
        let ran = crate::fulfil::flow::run_due(&ctx, &self.store).await?;
        if ran > 0 {
            tracing::info!(jobs = ran, "Fulfilment");
        }
        Ok(())
    }

    /// Runs the sweeper (clock notices, reminders, expiry, digest).
    pub fn sweep(&self, stats: &mut PassStats) -> Result<()> {
        let ctx = self.ctx();
        let mut st = lock(&self.store);
        stats.sweep = crate::sweep::sweep(&ctx, &mut st)?;
        if stats.sweep != crate::sweep::SweepStats::default() {
            let sw = stats.sweep;
            tracing::info!(
                staff_notices = sw.staff_notices,
                reminders = sw.reminders,
                expired = sw.expired,
                digests = sw.digests,
                "Sweep"
            );
        }
        Ok(())
    }

    /// One full pass: fetch all new mail, process it, send everything queued.
    pub async fn run_once(&self) -> Result<PassStats> {
        let mut stats = PassStats::default();
        let s = imap::open(&self.settings.imap).await?;
        let mut s = self.intake_pass(s, &mut stats).await?;
        self.fulfil().await?;
        self.sweep(&mut stats)?;
        self.drain_outbox(&mut s, &mut stats, true).await?;
        let s = copies::take_in(self, s, &mut stats).await?;
        imap::logout(s).await;
        Ok(stats)
    }

    /// The daemon: passes forever, IDLE (or polling) in between, until `shutdown` fires.
    pub async fn run(&self, mut shutdown: Shutdown) -> Result<()> {
        // `[metrics]`: served while the loop runs; stopped when this returns.
        let _metrics = match &self.settings.metrics {
            Some(m) => Some(crate::metrics::start(m, &self.settings.store_path, self.clock).await?),
            None => None,
        };
        // `[[sources]]`: each checked once at start (connected, every query prepared); a
        // problem is logged, naming the source and key, and the bot still answers mail.
        for src in &self.settings.fulfil.sources {
            for problem in crate::fulfil::source::check(src).await {
                tracing::error!(source = %src.name, %problem, "Data source problem at start (`privacy-inbox check` shows them all)");
            }
        }
        // `[portal]`: the download page, served while the loop runs.
        let _portal = match &self.settings.fulfil.portal {
            Some(p) => {
                let clock = self.clock;
                let portal = crate::portal::Portal::new(
                    &self.settings.store_path,
                    p,
                    std::sync::Arc::new(move || clock.now()),
                )?
                .with_company(
                    &crate::outbound::facts::team_name(&self.settings.smtp.from),
                    self.settings.clock.timezone,
                );
                Some(crate::portal::start(portal, p).await?)
            }
            None => None,
        };
        let mut failures: u32 = 0;
        while !shutdown.is_shutdown() {
            match self.session_loop(&mut shutdown, &mut failures).await {
                Ok(()) => break,
                Err(e) => {
                    crate::metrics::counters().pass_failed("mail_loop", &e);
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures);
                    let error = crate::address::redact(&format!("{e:#}"));
                    tracing::error!(%error, failures, retry_in_seconds = wait.as_secs(), "Mail loop failed; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.recv() => {}
                    }
                }
            }
        }
        tracing::info!("Stopped");
        Ok(())
    }

    /// Passes on one IMAP session until `shutdown`; `failures` (the reconnect backoff's count)
    /// is reset after every pass that went through, so one outage a week ago does not make
    /// today's reconnect wait five minutes.
    async fn session_loop(&self, shutdown: &mut Shutdown, failures: &mut u32) -> Result<()> {
        let mut s = imap::open(&self.settings.imap).await?;
        let has_idle = imap::has_capability(&mut s, "IDLE").await?;
        tracing::info!(idle = has_idle, "Connected to IMAP");
        loop {
            // Edited templates go live at the start of a pass (a broken edit does not).
            reload::templates(self);
            let mut stats = PassStats::default();
            s = self.intake_pass(s, &mut stats).await?;
            if stats.fetched > 0 {
                let i = &stats.intake;
                tracing::info!(
                    fetched = stats.fetched,
                    requests = i.requests,
                    replies = i.replies,
                    escalated = i.escalated,
                    ignored = i.ignored,
                    quarantined = i.quarantined,
                    duplicates = i.duplicates,
                    own_copies = i.own_copies,
                    "Intake pass"
                );
            }
            self.fulfil().await?;
            self.sweep(&mut stats)?;
            self.drain_outbox(&mut s, &mut stats, false).await?;
            crate::metrics::counters().pass_done(&crate::metrics::PassSummary {
                fetched: stats.fetched,
                requests_opened: stats.intake.requests,
                escalated: stats.intake.escalated,
                ignored: stats.intake.ignored + stats.intake.duplicates,
                quarantined: stats.intake.quarantined,
                replies_sent: stats.outbox.sent,
                deferred: stats.outbox.deferred,
                failed: stats.outbox.failed.len(),
            });
            *failures = 0;
            if shutdown.is_shutdown() {
                imap::logout(s).await;
                return Ok(());
            }
            let pending = {
                let st = lock(&self.store);
                crate::store::outbox::counts(st.reader())?
                    .iter()
                    .any(|(status, n)| (status == "queued" || status == "sending") && *n > 0)
            };
            // Mail that came in during the pass (our own copies, a consumer's quick reply)
            // is fetched now rather than after the IDLE timeout.
            let cursor = {
                let st = lock(&self.store);
                crate::store::inbox::cursor(st.reader(), &self.settings.imap.mailbox)?
            };
            if let Some(c) = cursor {
                if imap::has_uids_after(&mut s, c.last_uid).await? {
                    continue;
                }
            }
            let limit = if pending {
                Duration::from_secs(15)
            } else {
                Duration::from_secs(self.settings.imap.idle_seconds).min(housekeeping())
            };
            if has_idle {
                s = imap::idle(s, limit, shutdown).await?;
            } else {
                let wait = limit.min(Duration::from_secs(self.settings.imap.poll_seconds));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.recv() => {}
                }
            }
            if shutdown.is_shutdown() {
                imap::logout(s).await;
                return Ok(());
            }
        }
    }
}

/// Reconnect backoff: 1 s doubling to 5 minutes, with jitter.
pub fn backoff(failures: u32) -> Duration {
    let base = 1u64 << failures.min(9);
    let secs = base.min(300);
    let jitter = rand::rng().random_range(0..=secs * 250);
    Duration::from_millis(secs * 1000 - secs * 125 + jitter)
}
