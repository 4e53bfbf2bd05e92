//! The optional HTTP endpoint (`[metrics] listen = "127.0.0.1:9898"`): `/healthz` for the
//! supervisor (systemd, Docker, Kubernetes) and `/metrics` in the OpenMetrics text format
//! (which Prometheus reads), written by the `prometheus-client` crate.
//!
//! Counters live in one process-wide [`Counters`] ([`counters`]) that the daemon bumps after
//! each pass with a [`PassSummary`]; gauges (requests by kind and status, outbox depth, days
//! left on the oldest open request) are read from the store at each scrape
//! ([`crate::store::metrics::gauges`], a read-only connection), so a scrape never waits for
//! the mail loop. Served by hyper through axum ([`crate::portal::serve`]), the same stack as
//! the download portal: no hand-written HTTP.

use crate::clock::Clock;
use crate::config::MetricsSettings;
use anyhow::{Context, Result};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A scrape's store read is abandoned after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The content type of the OpenMetrics text.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What one pass of the mail loop did, as the counters need it (the daemon fills it in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Mails fetched over IMAP.
    pub fetched: usize,
    /// Requests opened.
    pub requests_opened: usize,
    /// Mails escalated to staff.
    pub escalated: usize,
    /// Machine-made or duplicate mails recorded without answer.
    pub ignored: usize,
    /// Mails quarantined.
    pub quarantined: usize,
    /// Replies the SMTP server accepted.
    pub replies_sent: usize,
    /// Replies deferred (transient SMTP failure).
    pub deferred: usize,
    /// Replies failed for good.
    pub failed: usize,
}

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
    /// Data source failures by (source, step).
    source_failures: Mutex<BTreeMap<(String, String), u64>>,
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
    pub fn pass_done(&self, stats: &PassSummary) {
        let add = |c: &AtomicU64, n: usize| {
            c.fetch_add(n as u64, Ordering::Relaxed);
        };
        add(&self.mails_fetched, stats.fetched);
        add(&self.requests_opened, stats.requests_opened);
        add(&self.escalated, stats.escalated);
        add(&self.ignored, stats.ignored);
        add(&self.quarantined, stats.quarantined);
        add(&self.replies_sent, stats.replies_sent);
        add(&self.passes, 1);
        if stats.deferred > 0 {
            self.error("smtp_deferred", stats.deferred as u64);
        }
        if stats.failed > 0 {
            self.error("smtp_failed", stats.failed as u64);
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

    /// Records a data source's failure in a fulfilment step.
    pub fn source_failed(&self, source: &str, step: &str) {
        *lock(&self.source_failures)
            .entry((source.to_string(), step.to_string()))
            .or_insert(0) += 1;
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
pub type Server = crate::portal::serve::Server;

/// Binds `[metrics] listen` and serves in the background. A bind failure is an error at
/// start (a port in use must not be discovered by the monitoring).
pub async fn start(settings: &MetricsSettings, store: &Path, clock: Clock) -> Result<Server> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("Cannot listen on metrics.listen {}", settings.listen))?;
    let grace = Duration::from_secs(settings.unhealthy_after_seconds);
    let server = crate::portal::serve::spawn(listener, router(store, clock, grace), "metrics")
        .context("Metrics listener address")?;
    tracing::info!(listen = %server.addr, "Metrics endpoint up (/healthz, /metrics)");
    Ok(server)
}

/// `/healthz` and `/metrics`; anything else is 404 (and a method other than GET/HEAD, 405).
pub fn router(store: &Path, clock: Clock, grace: Duration) -> axum::Router {
    use axum::routing::get;
    let store: PathBuf = store.to_path_buf();
    axum::Router::new()
        .route("/healthz", get(move || async move { healthz(grace) }))
        .route(
            "/metrics",
            get(move || {
                let store = store.clone();
                async move { scrape(store, clock).await }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "try /healthz or /metrics\n") })
}

fn healthz(grace: Duration) -> Response {
    let (ok, msg) = counters().health(grace);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

async fn scrape(store: PathBuf, clock: Clock) -> Response {
    let now = clock.now();
    let work = tokio::task::spawn_blocking(move || render(&store, now));
    let text = |status, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response()
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
        Ok(Ok(Ok(body))) => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Ok(Ok(Err(e))) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store did not answer in time\n".into(),
        ),
    }
}

type Labels = Vec<(String, String)>;

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: i64) {
    let g: Gauge = Gauge::default();
    g.set(v);
    reg.register(name, help, g);
}

/// The OpenMetrics text: counters of this process plus gauges from the store. Names are
/// those of the hand-written format this replaced (`privacy_inbox_mails_fetched_total`, ...).
pub fn render(store: &Path, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
    let c = counters();
    let g = crate::store::metrics::gauges(store)?;
    let mut reg = Registry::with_prefix("privacy_inbox");
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    counter(
        &mut reg,
        "mails_fetched",
        "Mails fetched over IMAP.",
        get(&c.mails_fetched),
    );
    counter(
        &mut reg,
        "requests_opened",
        "Privacy requests opened.",
        get(&c.requests_opened),
    );
    counter(
        &mut reg,
        "escalated",
        "Mails escalated to staff.",
        get(&c.escalated),
    );
    counter(
        &mut reg,
        "ignored",
        "Machine-made or duplicate mails recorded without an answer.",
        get(&c.ignored),
    );
    counter(
        &mut reg,
        "quarantined",
        "Mails quarantined.",
        get(&c.quarantined),
    );
    counter(
        &mut reg,
        "replies_sent",
        "Mails the SMTP server accepted.",
        get(&c.replies_sent),
    );
    counter(
        &mut reg,
        "passes",
        "Completed passes of the mail loop.",
        get(&c.passes),
    );
    let errors = Family::<Labels, Counter>::default();
    {
        let seen = lock(&c.errors);
        for stage in ["mail_loop", "smtp_deferred", "smtp_failed"] {
            let n = seen.get(stage).copied().unwrap_or(0);
            errors
                .get_or_create(&vec![("stage".to_string(), stage.to_string())])
                .inc_by(n);
        }
    }
    reg.register("errors", "Errors by stage.", errors);
    let failures = Family::<Labels, Counter>::default();
    for ((source, step), n) in lock(&c.source_failures).iter() {
        failures
            .get_or_create(&vec![
                ("source".to_string(), source.clone()),
                ("step".to_string(), step.clone()),
            ])
            .inc_by(*n);
    }
    reg.register(
        "source_failures",
        "Data source failures in fulfilment, by source and step.",
        failures,
    );
    let up = lock(&c.health).failing_since.is_none();
    gauge(
        &mut reg,
        "up",
        "1 unless the mail loop's last pass failed.",
        i64::from(up),
    );

    let requests = Family::<Labels, Gauge>::default();
    for ((kind, status), n) in &g.requests {
        requests
            .get_or_create(&vec![
                ("kind".to_string(), kind.clone()),
                ("status".to_string(), status.clone()),
            ])
            .set(i64::try_from(*n).unwrap_or(i64::MAX));
    }
    reg.register(
        "requests",
        "Requests in the store by kind and status.",
        requests,
    );
    gauge(
        &mut reg,
        "open_requests",
        "Requests not yet completed, denied or closed.",
        g.open,
    );
    gauge(
        &mut reg,
        "open_escalated_requests",
        "Open requests flagged for staff.",
        g.open_escalated,
    );
    if let Some(due) = g.oldest_due {
        let days: Gauge<f64, AtomicU64> = Gauge::default();
        let secs = (due - now).num_seconds() as f64 / 86_400.0;
        days.set((secs * 1000.0).round() / 1000.0);
        reg.register(
            "oldest_open_request_days_left",
            "Days until the earliest legal due date of an open request (negative: overdue; absent: none open).",
            days,
        );
    }
    let outbox = Family::<Labels, Gauge>::default();
    let mut depth = 0i64;
    for (status, n) in &g.outbox {
        if status == "queued" || status == "sending" {
            depth += n;
        }
        outbox
            .get_or_create(&vec![("status".to_string(), status.clone())])
            .set(*n);
    }
    reg.register("outbox", "Outgoing mails by status.", outbox);
    gauge(
        &mut reg,
        "outbox_depth",
        "Mails waiting to be sent (queued or in flight).",
        depth,
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg)
        .context("Cannot encode the metrics")?;
    Ok(out)
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
        c.pass_done(&PassSummary::default());
        assert_eq!(c.health(Duration::ZERO), (true, "ok".to_string()));
    }

    #[test]
    fn names_and_labels_stay_as_they_were() {
        let dir = std::env::temp_dir().join(format!("pi-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("store.sqlite3");
        let store = crate::store::Store::open(&path).expect("store");
        crate::store::fulfil::bare_request(store.reader(), "PI-1", "a\"b@example.test")
            .expect("req");
        let now = crate::clock::parse("2026-01-15T00:00:00Z").expect("now");
        let text = render(&path, now).expect("render");
        for line in [
            "# TYPE privacy_inbox_mails_fetched counter",
            "privacy_inbox_requests{kind=\"access\",status=\"verified\"} 1",
            "privacy_inbox_open_requests 1",
            "privacy_inbox_oldest_open_request_days_left 31.0",
            "privacy_inbox_outbox_depth 0",
            "privacy_inbox_up 1",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        for name in [
            "mails_fetched",
            "requests_opened",
            "escalated",
            "ignored",
            "quarantined",
            "replies_sent",
            "passes",
        ] {
            let sample = format!("privacy_inbox_{name}_total ");
            assert!(
                text.lines().any(|l| l.starts_with(&sample)),
                "missing {sample} in\n{text}"
            );
        }
        for stage in ["mail_loop", "smtp_deferred", "smtp_failed"] {
            let sample = format!("privacy_inbox_errors_total{{stage=\"{stage}\"}} ");
            assert!(
                text.lines().any(|l| l.starts_with(&sample)),
                "missing {sample} in\n{text}"
            );
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
