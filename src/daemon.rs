//! The supervisor: one pass = intake (fetch, record, move) + outbox (send). `run --once` does
//! one pass; the daemon repeats it, waiting in IMAP IDLE (or polling) between passes, backs
//! off with jitter on errors and reconnects, and stops cleanly on SIGINT/SIGTERM after the
//! batch in hand.

use crate::classify::Classifier;
use crate::clock::Clock;
use crate::config::Settings;
use crate::imap::{self, Session};
use crate::intake::{BatchStats, Intake};
use crate::outbound::compose::Composer;
use crate::outbound::failure;
use crate::outbound::outbox::{self, lock};
use crate::outbound::queue::Mailer;
use crate::outbound::smtp::Smtp;
use crate::outbound::templates::Templates;
use crate::request::calendar::BusinessCalendar;
use crate::store::{inbox, Store};
use anyhow::{Context, Result};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

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

/// The single-instance lock on a store: an exclusive `flock` on `<store>.lock` (next to the
/// SQLite file, holding the owner's PID), held for as long as this value lives. `run` and
/// `run --once` take it, so a second daemon on the same store refuses to start instead of
/// answering every mail twice; the CLI's read and staff commands do not need it (SQLite
/// serializes their writes). The outbox's row claims still guard against a lock that is
/// bypassed (its file deleted while a daemon runs).
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
    /// The lock file.
    pub path: std::path::PathBuf,
}

/// The lock file of a store: `<store>.lock`.
pub fn lock_path(store: &std::path::Path) -> std::path::PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    std::path::PathBuf::from(name)
}

/// Takes the store's single-instance lock ([`StoreLock`]), or says who holds it.
pub fn lock_store(store: &std::path::Path) -> Result<StoreLock> {
    use std::io::{Read, Seek, Write};
    let path = lock_path(store);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Cannot create directory {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("Cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim();
            let who = if pid.is_empty() {
                "another process".to_string()
            } else {
                format!("another privacy-inbox (PID {pid})")
            };
            anyhow::bail!(
                "The store {} is in use by {who}: only one daemon may run on a store (lock file {}). \
                 Stop the other one first, or give this one a store of its own",
                store.display(),
                path.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("Cannot lock {}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush())
        .with_context(|| format!("Cannot write the lock file {}", path.display()))?;
    Ok(StoreLock { _file: file, path })
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
        let templates = Templates::load(&settings.templates_dir)?;
        let classifier = Classifier::load(
            settings.classify.rules_dir.as_deref(),
            settings.classify.threshold,
        )?;
        let composer = Composer::new(&settings.smtp.from, &settings.smtp.message_id_domain)?
            .with_dkim(settings.dkim.as_ref())?;
        let calendar =
            BusinessCalendar::new(settings.clock.timezone, settings.clock.holidays.clone());
        let store = Store::open(&settings.store_path)?;
        let smtp = Smtp::new(&settings.smtp)?;
        let accounts = settings
            .verification
            .account_directory
            .as_deref()
            .map(crate::accounts::Directory::load)
            .transpose()?;
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

    /// Intake (and staff actions, the sweeper) over this app's parts, at the current time.
    pub fn intake(&self) -> Intake<'_> {
        Intake {
            settings: &self.settings,
            classifier: &self.classifier,
            mailer: Mailer {
                templates: &self.templates,
                composer: &self.composer,
                per_recipient_per_day: self.settings.smtp.per_recipient_per_day,
                global_per_hour: self.settings.smtp.global_per_hour,
                staff_per_hour: self.settings.staff.max_mails_per_hour,
                now: self.clock.now(),
            },
            calendar: &self.calendar,
            accounts: self.accounts.as_ref(),
        }
    }

    /// Fetches and records every new mail of the watched mailbox, then moves what was
    /// recorded. Returns the session for reuse.
    pub async fn intake_pass(&self, mut s: Session, stats: &mut PassStats) -> Result<Session> {
        let mailbox = self.settings.imap.mailbox.clone();
        let sel = imap::select(&mut s, &mailbox).await?;
        let has_move = imap::has_capability(&mut s, "MOVE").await?;
        let cursor = {
            let st = lock(&self.store);
            inbox::cursor(&st.conn, &mailbox)?
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
                inbox::drop_stale_moves(&st.conn, &mailbox, sel.uidvalidity)?;
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
                let intake = self.intake();
                let mut st = lock(&self.store);
                intake.record_batch(&mut st, &mailbox, sel.uidvalidity, &fetched)?
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
            inbox::pending_moves(&st.conn, mailbox, uidvalidity)?
        };
        for (target, uids) in pending {
            imap::move_uids(s, &uids, &target, has_move)
                .await
                .with_context(|| format!("Cannot move {} mails to {target}", uids.len()))?;
            let st = lock(&self.store);
            inbox::mark_moved(&st.conn, mailbox, uidvalidity, &uids)?;
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
                delivered = self.find_copies(s, &unknown, grace).await?;
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

    /// Mails that went out without our Bcc copy, because the copy address refused it: each
    /// goes into its request's audit log, and staff get one `copy_refused` notice a day
    /// while it lasts (their notice goes out without the copy too). Returns how many staff
    /// notices were queued.
    fn copy_refused(&self, refused: &[(i64, Option<String>, String, String)]) -> Result<usize> {
        let Some((_, _, _, error)) = refused.first() else {
            return Ok(0);
        };
        let intake = self.intake();
        let now = self.clock.now();
        let now_s = crate::clock::fmt(now);
        let today = now
            .with_timezone(&self.settings.clock.timezone)
            .format("%Y-%m-%d")
            .to_string();
        let mut st = lock(&self.store);
        let tx = st.begin()?;
        for (_, request, purpose, e) in refused {
            if let Some(id) = request {
                if crate::store::requests::get(&tx, id)?.is_some() {
                    crate::store::add_event(
                        &tx,
                        id,
                        &now_s,
                        "copy_refused",
                        "bot",
                        &format!("{purpose} sent without our Bcc copy, which was refused: {e}"),
                    )?;
                }
            }
        }
        let first = tx.execute(
            "INSERT OR IGNORE INTO notices (request_id, notice, at) VALUES ('*', ?1, ?2)",
            rusqlite::params![format!("copy_refused:{today}"), now_s],
        )? == 1;
        if first {
            let data = crate::outbound::catalog::CopyRefusedData {
                copy_to: self.settings.smtp.copy_to.clone().unwrap_or_default(),
                count: refused.len(),
                error: error.clone(),
                team: crate::intake::team_name(&self.settings.smtp.from),
            };
            intake.mailer.queue_staff(
                &tx,
                &self.settings.staff.escalation_to,
                "copy_refused",
                &data,
                None,
                None,
            )?;
        }
        tx.commit()?;
        Ok(usize::from(first))
    }

    /// Permanent delivery failures of mail to consumers, escalated to staff
    /// ([`failure::escalate`]); failures of mail to staff are only logged. Returns how many
    /// were escalated.
    fn escalate_failures(&self, failed: &[(i64, Option<String>, String, String)]) -> Result<usize> {
        let todo: Vec<_> = failed
            .iter()
            .filter(|(_, _, to, _)| !failure::to_staff(&self.settings, to))
            .collect();
        if todo.is_empty() {
            return Ok(0);
        }
        let intake = self.intake();
        let now_s = crate::clock::fmt(self.clock.now());
        let mut st = lock(&self.store);
        let tx = st.begin()?;
        for (row, request, to, error) in &todo {
            let purpose: String = tx
                .query_row(
                    "SELECT purpose FROM outbox WHERE id = ?1",
                    rusqlite::params![row],
                    |r| r.get(0),
                )
                .unwrap_or_default();
            let f = failure::Failure {
                request_id: request.as_deref(),
                recipient: to,
                purpose: &purpose,
                error,
                event: "send_failed",
            };
            failure::escalate(&tx, &intake.mailer, &self.settings, &now_s, &f, None)?;
        }
        tx.commit()?;
        tracing::warn!(
            count = todo.len(),
            "Permanent delivery failures escalated to staff"
        );
        Ok(todo.len())
    }

    async fn find_copies(
        &self,
        s: &mut Session,
        ids: &[String],
        grace: Duration,
    ) -> Result<HashSet<String>> {
        let boxes = [
            self.settings.imap.mailbox.clone(),
            self.settings.imap.processed_mailbox.clone(),
        ];
        let deadline = tokio::time::Instant::now() + grace;
        let mut found = HashSet::new();
        loop {
            for b in &boxes {
                imap::select(s, b).await?;
                let missing: Vec<String> = ids
                    .iter()
                    .filter(|i| !found.contains(*i))
                    .cloned()
                    .collect();
                found.extend(imap::find_message_ids(s, &missing).await?);
            }
            if found.len() == ids.len() || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        imap::select(s, &self.settings.imap.mailbox).await?;
        tracing::info!(
            unknown = ids.len(),
            found = found.len(),
            "Checked unconfirmed mails for our own copies"
        );
        Ok(found)
    }

    /// Runs the sweeper (clock notices, reminders, expiry, digest).
    pub fn sweep(&self, stats: &mut PassStats) -> Result<()> {
        let intake = self.intake();
        let mut st = lock(&self.store);
        stats.sweep = intake.sweep(&mut st)?;
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
        self.sweep(&mut stats)?;
        self.drain_outbox(&mut s, &mut stats, true).await?;
        let s = self.take_in_own_copies(s, &mut stats).await?;
        imap::logout(s).await;
        Ok(stats)
    }

    /// The end of a `run --once` pass: the Bcc copies of what it sent are on their way to
    /// the mailbox it reads (`privacy+sent@` lands in privacy@'s INBOX). It waits for them
    /// (at most [`COPY_GRACE`]) and takes them in like any mail (recorded as our own copy,
    /// moved to the processed mailbox), so the pass ends with the mailbox holding only mail
    /// it has not handled, and staff reading it do not see the bot's copies. Mail that came
    /// in meanwhile is handled too and its replies sent, at most [`FINISH_ROUNDS`] times.
    async fn take_in_own_copies(&self, mut s: Session, stats: &mut PassStats) -> Result<Session> {
        if !self.copies_come_here() {
            return Ok(s);
        }
        // A mail sent without its copy (the copy address refused it) has none on the way.
        let with_copy = |o: &outbox::Round| o.sent.saturating_sub(o.copy_refused.len());
        let mut sent = with_copy(&stats.outbox);
        for _ in 0..FINISH_ROUNDS {
            if sent == 0 {
                break;
            }
            let arrived = self.wait_for_new_mail(&mut s, sent, COPY_GRACE).await?;
            if arrived < sent {
                tracing::info!(
                    expected = sent,
                    arrived,
                    "Not every copy of this pass's mail has arrived yet; the next pass takes in the rest"
                );
            }
            let mut more = PassStats::default();
            s = self.intake_pass(s, &mut more).await?;
            self.drain_outbox(&mut s, &mut more, true).await?;
            stats.fetched += more.fetched;
            stats.intake.add(more.intake);
            stats.outbox.sent += more.outbox.sent;
            stats.outbox.confirmed += more.outbox.confirmed;
            stats.outbox.deferred += more.outbox.deferred;
            sent = with_copy(&more.outbox);
            stats.outbox.failed.extend(more.outbox.failed);
            stats.outbox.copy_refused.extend(more.outbox.copy_refused);
            stats.outbox.taken += more.outbox.taken;
        }
        Ok(s)
    }

    /// Does our Bcc copy land in the mailbox we read? It does for the default
    /// `privacy+sent@` (the From address or the IMAP login with a `+detail`); a `copy-to`
    /// elsewhere (an archive) is never waited for.
    fn copies_come_here(&self) -> bool {
        let base = |a: &str| -> String {
            let a = a.to_ascii_lowercase();
            match a.rsplit_once('@') {
                Some((local, domain)) => {
                    let local = local.split_once('+').map_or(local, |(l, _)| l);
                    format!("{local}@{domain}")
                }
                None => a,
            }
        };
        let Some(copy) = &self.settings.smtp.copy_to else {
            return false;
        };
        let login = match &self.settings.imap.endpoint.auth {
            crate::config::Auth::Password { username, .. }
            | crate::config::Auth::OAuth2 { username, .. } => username.clone(),
            crate::config::Auth::None => String::new(),
        };
        let copy = base(copy);
        copy == base(&self.settings.smtp.from_address) || copy == base(&login)
    }

    /// Waits until at least `n` mails newer than the intake cursor are in the watched
    /// mailbox, or `grace` has passed. Returns how many there are.
    async fn wait_for_new_mail(&self, s: &mut Session, n: usize, grace: Duration) -> Result<usize> {
        let mailbox = &self.settings.imap.mailbox;
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            // SELECT again: a server shows new mail to a session only when it says so.
            let sel = imap::select(s, mailbox).await?;
            let after = {
                let st = lock(&self.store);
                inbox::cursor(&st.conn, mailbox)?
                    .filter(|c| c.uidvalidity == sel.uidvalidity)
                    .map(|c| c.last_uid)
                    .unwrap_or(0)
            };
            let arrived = imap::list_new(s, after).await?.len();
            if arrived >= n || tokio::time::Instant::now() >= deadline {
                return Ok(arrived);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The daemon: passes forever, IDLE (or polling) in between, until `stop` fires.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> Result<()> {
        // `[metrics]`: served while the loop runs; stopped when this returns.
        let _metrics = match &self.settings.metrics {
            Some(m) => Some(crate::metrics::start(m, &self.settings.store_path, self.clock).await?),
            None => None,
        };
        let mut failures: u32 = 0;
        while !*stop.borrow() {
            match self.session_loop(&mut stop, &mut failures).await {
                Ok(()) => break,
                Err(e) => {
                    crate::metrics::counters().pass_failed("mail_loop", &e);
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures);
                    let error = crate::address::redact(&format!("{e:#}"));
                    tracing::error!(%error, failures, retry_in_seconds = wait.as_secs(), "Mail loop failed; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        tracing::info!("Stopped");
        Ok(())
    }

    /// Passes on one IMAP session until `stop`; `failures` (the reconnect backoff's count)
    /// is reset after every pass that went through, so one outage a week ago does not make
    /// today's reconnect wait five minutes.
    async fn session_loop(
        &self,
        stop: &mut watch::Receiver<bool>,
        failures: &mut u32,
    ) -> Result<()> {
        let mut s = imap::open(&self.settings.imap).await?;
        let has_idle = imap::has_capability(&mut s, "IDLE").await?;
        tracing::info!(idle = has_idle, "Connected to IMAP");
        loop {
            // Edited templates go live at the start of a pass (a broken edit does not).
            crate::templates_cli::reload(self);
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
            if *stop.borrow() {
                imap::logout(s).await;
                return Ok(());
            }
            let pending = {
                let st = lock(&self.store);
                crate::store::outbox::counts(&st.conn)?
                    .iter()
                    .any(|(status, n)| (status == "queued" || status == "sending") && *n > 0)
            };
            // Mail that came in during the pass (our own copies, a consumer's quick reply)
            // is fetched now rather than after the IDLE timeout.
            let cursor = {
                let st = lock(&self.store);
                crate::store::inbox::cursor(&st.conn, &self.settings.imap.mailbox)?
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
                s = imap::idle(s, limit, stop).await?;
            } else {
                let wait = limit.min(Duration::from_secs(self.settings.imap.poll_seconds));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
            if *stop.borrow() {
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
