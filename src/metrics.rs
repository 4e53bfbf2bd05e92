//! The optional HTTP endpoint (`[metrics] listen = "127.0.0.1:9898"`): `/healthz` for the
//! supervisor (systemd, Docker, Kubernetes) and `/metrics` in the Prometheus text format.
//!
//! Counters live in one process-wide [`Counters`] ([`counters`]) that the daemon bumps after
//! each pass; gauges (requests by kind and status, outbox depth, days left on the oldest open
//! request) are read from the store at each scrape through a read-only SQLite connection, so
//! a scrape never waits for the mail loop. No framework: one request per connection, HTTP/1.1
//! with `Connection: close`, bounded reads.

use crate::clock::Clock;
use crate::config::MetricsSettings;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A scraper that sends nothing, or dribbles, is dropped after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read (a scrape's is a few hundred bytes).
const MAX_REQUEST: usize = 8 * 1024;

/// Process-wide counters, bumped by the daemon.
#[derive(Debug, Default)]
pub struct Counters {
    /// Mails fetched over IMAP.
    pub mails_fetched: AtomicU64,
    /// Requests opened.
    pub requests_opened: AtomicU64,
    /// Mails escalated to staff.
    pub escalated: AtomicU64,
    /// Machine-made or duplicate mail recorded without answer.
    pub ignored: AtomicU64,
    /// Mails quarantined.
    pub quarantined: AtomicU64,
    /// Replies the SMTP server accepted.
    pub replies_sent: AtomicU64,
    /// Passes completed.
    pub passes: AtomicU64,
    /// Errors by stage (`mail_loop`, `smtp_deferred`, `smtp_failed`).
    errors: Mutex<BTreeMap<String, u64>>,
    /// Health of the mail loop.
    health: Mutex<Health>,
}

#[derive(Debug, Default)]
struct Health {
    /// When the last pass completed.
    last_ok: Option<Instant>,
    /// Start of the current run of failed passes (None while passes succeed).
    failing_since: Option<Instant>,
    /// The last error, one line.
    last_error: String,
}

/// The counters of this process.
pub fn counters() -> &'static Counters {
    static C: OnceLock<Counters> = OnceLock::new();
    C.get_or_init(Counters::default)
}

impl Counters {
    /// Records a completed pass.
    pub fn pass_done(&self, stats: &crate::daemon::PassStats) {
        let add = |c: &AtomicU64, n: usize| {
            c.fetch_add(n as u64, Ordering::Relaxed);
        };
        add(&self.mails_fetched, stats.fetched);
        add(&self.requests_opened, stats.intake.requests);
        add(&self.escalated, stats.intake.escalated);
        add(
            &self.ignored,
            stats.intake.ignored + stats.intake.duplicates,
        );
        add(&self.quarantined, stats.intake.quarantined);
        add(&self.replies_sent, stats.outbox.sent);
        add(&self.passes, 1);
        if stats.outbox.deferred > 0 {
            self.error("smtp_deferred", stats.outbox.deferred as u64);
        }
        if !stats.outbox.failed.is_empty() {
            self.error("smtp_failed", stats.outbox.failed.len() as u64);
        }
        let mut h = lock(&self.health);
        h.last_ok = Some(Instant::now());
        h.failing_since = None;
    }

    /// Records a failed pass (the loop reconnects and tries again).
    pub fn pass_failed(&self, stage: &str, err: &anyhow::Error) {
        self.error(stage, 1);
        let mut h = lock(&self.health);
        h.failing_since.get_or_insert_with(Instant::now);
        h.last_error = format!("{err:#}").replace(['\r', '\n'], " ");
    }

    fn error(&self, stage: &str, n: u64) {
        *lock(&self.errors).entry(stage.to_string()).or_insert(0) += n;
    }

    /// `(healthy, text)`: unhealthy once passes have failed for longer than `grace`.
    pub fn health(&self, grace: Duration) -> (bool, String) {
        let h = lock(&self.health);
        match h.failing_since {
            Some(since) if since.elapsed() >= grace => (
                false,
                format!(
                    "failing for {}s: {}",
                    since.elapsed().as_secs(),
                    h.last_error
                ),
            ),
            Some(since) => (
                true,
                format!(
                    "ok (retrying for {}s: {})",
                    since.elapsed().as_secs(),
                    h.last_error
                ),
            ),
            None if h.last_ok.is_some() => (true, "ok".into()),
            None => (true, "ok (starting)".into()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The running endpoint; dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    /// The address actually bound (useful with port 0).
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `[metrics] listen` and serves in the background. A bind failure is an error at
/// start (a port in use must not be discovered by the monitoring).
pub async fn start(settings: &MetricsSettings, store: &Path, clock: Clock) -> Result<Server> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("Cannot listen on metrics.listen {}", settings.listen))?;
    let addr = listener.local_addr().context("Metrics listener address")?;
    let grace = Duration::from_secs(settings.unhealthy_after_seconds);
    let store = store.to_path_buf();
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    let store = store.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(conn, &store, clock, grace).await {
                            tracing::debug!(error = %format!("{e:#}"), "Metrics request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    tracing::info!(listen = %addr, "Metrics endpoint up (/healthz, /metrics)");
    Ok(Server { addr, task })
}

async fn serve(mut conn: TcpStream, store: &Path, clock: Clock, grace: Duration) -> Result<()> {
    let mut buf = Vec::with_capacity(512);
    let head = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() >= MAX_REQUEST {
                break;
            }
        }
        anyhow::Ok(())
    })
    .await;
    if head.is_err() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&buf);
    let mut parts = text.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/healthz") => {
            let (ok, msg) = counters().health(grace);
            let status = if ok {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (status, "text/plain; charset=utf-8", format!("{msg}\n"))
        }
        ("GET" | "HEAD", "/metrics") => {
            let store = store.to_path_buf();
            let now = clock.now();
            match tokio::task::spawn_blocking(move || render(&store, now)).await {
                Ok(Ok(body)) => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body),
                Ok(Err(e)) => (
                    "500 Internal Server Error",
                    "text/plain; charset=utf-8",
                    format!("{e:#}\n"),
                ),
                Err(e) => (
                    "500 Internal Server Error",
                    "text/plain; charset=utf-8",
                    format!("{e}\n"),
                ),
            }
        }
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "try /healthz or /metrics\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".into(),
        ),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(body.as_bytes());
    }
    tokio::time::timeout(REQUEST_TIMEOUT, conn.write_all(&resp))
        .await
        .context("Metrics response timed out")??;
    let _ = conn.shutdown().await;
    Ok(())
}

/// The Prometheus text exposition: counters of this process plus gauges from the store.
pub fn render(store: &Path, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
    let c = counters();
    let mut out = String::new();
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP privacy_inbox_{name} {help}");
        let _ = writeln!(out, "# TYPE privacy_inbox_{name} counter");
        let _ = writeln!(out, "privacy_inbox_{name} {v}");
    };
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    counter(
        &mut out,
        "mails_fetched_total",
        "Mails fetched over IMAP.",
        get(&c.mails_fetched),
    );
    counter(
        &mut out,
        "requests_opened_total",
        "Privacy requests opened.",
        get(&c.requests_opened),
    );
    counter(
        &mut out,
        "escalated_total",
        "Mails escalated to staff.",
        get(&c.escalated),
    );
    counter(
        &mut out,
        "ignored_total",
        "Machine-made or duplicate mails recorded without an answer.",
        get(&c.ignored),
    );
    counter(
        &mut out,
        "quarantined_total",
        "Mails quarantined.",
        get(&c.quarantined),
    );
    counter(
        &mut out,
        "replies_sent_total",
        "Mails the SMTP server accepted.",
        get(&c.replies_sent),
    );
    counter(
        &mut out,
        "passes_total",
        "Completed passes of the mail loop.",
        get(&c.passes),
    );
    out.push_str("# HELP privacy_inbox_errors_total Errors by stage.\n");
    out.push_str("# TYPE privacy_inbox_errors_total counter\n");
    {
        let errors = lock(&c.errors);
        for stage in ["mail_loop", "smtp_deferred", "smtp_failed"] {
            let n = errors.get(stage).copied().unwrap_or(0);
            let _ = writeln!(out, "privacy_inbox_errors_total{{stage=\"{stage}\"}} {n}");
        }
    }
    let up = lock(&c.health).failing_since.is_none();
    let _ = writeln!(
        out,
        "# HELP privacy_inbox_up 1 unless the mail loop's last pass failed.\n# TYPE privacy_inbox_up gauge\nprivacy_inbox_up {}",
        u8::from(up)
    );
    store_gauges(store, now, &mut out)?;
    Ok(out)
}

fn store_gauges(store: &Path, now: chrono::DateTime<chrono::Utc>, out: &mut String) -> Result<()> {
    use crate::request::lifecycle::Status;
    let conn = rusqlite::Connection::open_with_flags(
        store,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("Cannot open the store {} read-only", store.display()))?;
    conn.busy_timeout(Duration::from_secs(2))?;
    // requests{kind,status}: a request asking for two things counts under both kinds.
    let mut by: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut stmt =
        conn.prepare("SELECT kinds, status, COUNT(*) FROM requests GROUP BY kinds, status")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (kinds, status, n) = row?;
        let mut any = false;
        for k in kinds.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            any = true;
            *by.entry((k.to_string(), status.clone())).or_insert(0) += n as u64;
        }
        if !any {
            *by.entry(("none".into(), status)).or_insert(0) += n as u64;
        }
    }
    out.push_str("# HELP privacy_inbox_requests Requests in the store by kind and status.\n");
    out.push_str("# TYPE privacy_inbox_requests gauge\n");
    for ((kind, status), n) in &by {
        let _ = writeln!(
            out,
            "privacy_inbox_requests{{kind=\"{}\",status=\"{}\"}} {n}",
            label(kind),
            label(status)
        );
    }
    let open: Vec<&str> = Status::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
        .collect();
    let placeholders = vec!["?"; open.len()].join(",");
    let sql = format!(
        "SELECT COUNT(*),
                MIN(CASE WHEN extended = 1 THEN COALESCE(extended_due_at, due_at) ELSE due_at END),
                SUM(escalated)
         FROM requests WHERE status IN ({placeholders})"
    );
    let (n_open, oldest, escalated): (i64, Option<String>, Option<i64>) =
        conn.query_row(&sql, rusqlite::params_from_iter(open.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let _ = writeln!(
        out,
        "# HELP privacy_inbox_open_requests Requests not yet completed, denied or closed.\n# TYPE privacy_inbox_open_requests gauge\nprivacy_inbox_open_requests {n_open}"
    );
    let _ = writeln!(
        out,
        "# HELP privacy_inbox_open_escalated_requests Open requests flagged for staff.\n# TYPE privacy_inbox_open_escalated_requests gauge\nprivacy_inbox_open_escalated_requests {}",
        escalated.unwrap_or(0)
    );
    out.push_str("# HELP privacy_inbox_oldest_open_request_days_left Days until the earliest legal due date of an open request (negative: overdue; absent: none open).\n");
    out.push_str("# TYPE privacy_inbox_oldest_open_request_days_left gauge\n");
    if let Some(due) = oldest {
        let due = crate::clock::parse(&due)?;
        let days = (due - now).num_seconds() as f64 / 86_400.0;
        let _ = writeln!(out, "privacy_inbox_oldest_open_request_days_left {days:.3}");
    }
    let mut depth = 0i64;
    out.push_str("# HELP privacy_inbox_outbox Outgoing mails by status.\n");
    out.push_str("# TYPE privacy_inbox_outbox gauge\n");
    for (status, n) in crate::store::outbox::counts(&conn)? {
        if status == "queued" || status == "sending" {
            depth += n;
        }
        let _ = writeln!(
            out,
            "privacy_inbox_outbox{{status=\"{}\"}} {n}",
            label(&status)
        );
    }
    let _ = writeln!(
        out,
        "# HELP privacy_inbox_outbox_depth Mails waiting to be sent (queued or in flight).\n# TYPE privacy_inbox_outbox_depth gauge\nprivacy_inbox_outbox_depth {depth}"
    );
    Ok(())
}

/// A Prometheus label value with `\`, `"` and newlines escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_turns_503_only_after_the_grace_period() {
        let c = Counters::default();
        assert!(c.health(Duration::from_secs(60)).0);
        c.pass_failed("mail_loop", &anyhow::anyhow!("boom"));
        let (ok, text) = c.health(Duration::from_secs(60));
        assert!(ok, "{text}");
        let (ok, text) = c.health(Duration::ZERO);
        assert!(!ok && text.contains("boom"), "{text}");
        c.pass_done(&crate::daemon::PassStats::default());
        assert_eq!(c.health(Duration::ZERO), (true, "ok".to_string()));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
