//! The download portal (`[portal]`): the consumer's link opens a page with a button, and only
//! the POST from that page streams the decrypted package, so the link scanners of corporate
//! mail (which open every link with GET) never use a link up.
//!
//! - `GET /d/TOKEN`: a working link shows [`pages::download`]; any other shows
//!   [`pages::gone`] (unknown, used, replaced or expired, and how to get a new one: `/resend`).
//! - `POST /d/TOKEN` with the page's `confirm` field (an HMAC of the token's hash under the
//!   package key: only our page has it; a cross-site POST is refused): marks the link used
//!   (exactly one request wins) and streams the zip, decrypted chunk by chunk.
//! - `GET /healthz`: `ok`. Everything else: a 404 page.
//!
//! Every view, download and refusal is written to the store's `portal_audit` (and the
//! request's own log) with the time and the client's address. Every response carries
//! `Cache-Control: no-store`, a strict Content-Security-Policy ([`pages::csp`]),
//! `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`.
//! Tokens: 256 bits from the OS, stored as SHA-256 only ([`crate::store::fulfil`]).

pub mod pages;
pub mod serve;

use crate::fulfil::settings::PortalSettings;
use crate::store::fulfil::{self as db, LinkState, PortalEvent};
use anyhow::{Context, Result};
use axum::extract::{ConnectInfo, Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// "Now", injectable: the tests move it to expire links.
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Longest token looked up (ours are 43 characters).
const MAX_TOKEN: usize = 128;
/// Decrypted chunks queued between the file reader and the client.
const QUEUE: usize = 4;

struct Inner {
    store: PathBuf,
    public_url: String,
    key: Vec<u8>,
    now: Now,
    csp: HeaderValue,
    /// Who the pages say the data comes from ("" for nobody): [`Portal::with_company`].
    company: String,
    /// The time zone the link mail writes dates in (`clock.timezone`), so the page gives
    /// the same expiry date: [`Portal::with_company`].
    tz: chrono_tz::Tz,
}

/// The portal's shared state.
#[derive(Clone)]
pub struct Portal(Arc<Inner>);

impl Portal {
    /// Opens the store once (applying the fulfilment schema) and reads the package key.
    pub fn new(store: &Path, settings: &PortalSettings, now: Now) -> Result<Portal> {
        let s = crate::store::Store::open(store)?;
        let key = crate::store::secrets::package_key(s.reader())?;
        let csp = HeaderValue::from_str(&pages::csp()).context("Content-Security-Policy")?;
        Ok(Portal(Arc::new(Inner {
            store: store.to_path_buf(),
            public_url: settings.public_url.clone(),
            key,
            now,
            csp,
            company: String::new(),
            tz: chrono_tz::UTC,
        })))
    }

    /// The company the pages name (the display name of `[smtp] from`) and the business time
    /// zone their dates are written in (the link mail's); call before serving.
    pub fn with_company(mut self, company: &str, tz: chrono_tz::Tz) -> Portal {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.company = company.to_string();
            inner.tz = tz;
        }
        self
    }

    /// The portal's routes, with the security headers on every response.
    pub fn router(&self) -> Router {
        let csp = self.0.csp.clone();
        Router::new()
            .route("/d/{token}", get(view).post(download))
            .route("/healthz", get(|| async { "ok\n" }))
            .fallback(|| async { html(StatusCode::NOT_FOUND, pages::not_found()) })
            .layer(axum::extract::DefaultBodyLimit::max(4096))
            .layer(axum::middleware::map_response(move |mut r: Response| {
                let csp = csp.clone();
                async move {
                    let h = r.headers_mut();
                    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    h.insert(header::CONTENT_SECURITY_POLICY, csp);
                    h.insert(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    );
                    h.insert(
                        header::REFERRER_POLICY,
                        HeaderValue::from_static("no-referrer"),
                    );
                    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                    r
                }
            }))
            .with_state(self.clone())
    }
}

/// The address a consumer opens for a token.
pub fn link_url(public_url: &str, token: &str) -> String {
    format!("{}/d/{token}", public_url.trim_end_matches('/'))
}

/// Binds `[portal] listen` and serves in the background.
pub async fn start(portal: Portal, settings: &PortalSettings) -> Result<serve::Server> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("Cannot listen on portal.listen {}", settings.listen))?;
    let server =
        serve::spawn(listener, portal.router(), "portal").context("Portal listener address")?;
    tracing::info!(listen = %server.addr, public_url = %settings.public_url, "Download portal up");
    Ok(server)
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The client's address; behind a reverse proxy on loopback, the address it forwards.
fn client(peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
    let peer_s = peer.map_or_else(|| "unknown".to_string(), |p| p.ip().to_string());
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.chars()
                .filter(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | ',' | ' '))
                .take(100)
                .collect::<String>()
        })
        .filter(|v| !v.trim().is_empty());
    match (peer.is_some_and(|p| p.ip().is_loopback()), forwarded) {
        (true, Some(f)) => format!("{} (via {peer_s})", f.trim()),
        _ => peer_s,
    }
}

/// The form field only our page carries for this token.
fn confirm_value(key: &[u8], token: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(b"portal-download:");
    mac.update(db::token_hash(token).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The language of a link's page: its request's, else the browser's first choice.
fn lang_of(state: &LinkState, headers: &HeaderMap) -> pages::Lang {
    match state {
        LinkState::Unknown => accept(headers),
        LinkState::Active(l)
        | LinkState::Used(l)
        | LinkState::Voided(l)
        | LinkState::Expired(l) => pages::Lang::of(&l.language),
    }
}

fn accept(headers: &HeaderMap) -> pages::Lang {
    pages::Lang::of_accept(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn gone_of(state: &LinkState) -> Option<pages::Gone> {
    match state {
        LinkState::Active(_) => None,
        LinkState::Unknown => Some(pages::Gone::Unknown),
        LinkState::Used(_) => Some(pages::Gone::Used),
        LinkState::Voided(_) => Some(pages::Gone::Replaced),
        LinkState::Expired(_) => Some(pages::Gone::Expired),
    }
}

fn request_of(state: &LinkState) -> Option<String> {
    match state {
        LinkState::Unknown => None,
        LinkState::Active(l)
        | LinkState::Used(l)
        | LinkState::Voided(l)
        | LinkState::Expired(l) => Some(l.request_id.clone()),
    }
}

fn open_store(p: &Inner) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(&p.store)
        .with_context(|| format!("Cannot open the store {}", p.store.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Looks the token up and writes the audit event, in one blocking task.
async fn look(p: &Portal, token: String, who: String, on_active: PortalEvent) -> Result<LinkState> {
    let p = p.clone();
    tokio::task::spawn_blocking(move || -> Result<LinkState> {
        let conn = open_store(&p.0)?;
        let now = (p.0.now)();
        // An absurd token is looked up all the same (same work for every wrong token).
        let t = if token.len() > MAX_TOKEN {
            ""
        } else {
            token.as_str()
        };
        let state = db::link_state(&conn, t, now)?;
        let (event, detail) = match gone_of(&state) {
            None => (on_active, String::new()),
            Some(g) => (PortalEvent::Refused, format!("{g:?}").to_lowercase()),
        };
        db::audit(
            &conn,
            now,
            event,
            request_of(&state).as_deref(),
            t,
            &who,
            &detail,
        )?;
        Ok(state)
    })
    .await
    .context("The portal's store task failed")?
}

async fn view(
    State(p): State<Portal>,
    UrlPath(token): UrlPath<String>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let who = client(peer.map(|c| c.0 .0), &headers);
    match look(&p, token.clone(), who, PortalEvent::View).await {
        Ok(LinkState::Active(link)) => {
            let lang = pages::Lang::of(&link.language);
            // A date in the consumer's language and the business time zone, as the link
            // mail gives it (UTC, and said so, when no zone was given).
            let tz = p.0.tz;
            let expires = crate::clock::parse(&link.expires_at)
                .map(|t| {
                    let day = crate::clock::long_date(t, tz, &link.language);
                    if tz == chrono_tz::UTC {
                        day + " (UTC)"
                    } else {
                        day
                    }
                })
                .unwrap_or(link.expires_at.clone());
            html(
                StatusCode::OK,
                pages::download(
                    lang,
                    &p.0.company,
                    &link.request_id,
                    &expires,
                    &confirm_value(&p.0.key, &token),
                ),
            )
        }
        Ok(other) => html(
            StatusCode::NOT_FOUND,
            pages::gone(
                lang_of(&other, &headers),
                &p.0.company,
                gone_of(&other).unwrap_or(pages::Gone::Unknown),
            ),
        ),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "Portal page failed");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::unavailable(accept(&headers)),
            )
        }
    }
}

/// The form posted by the download page.
#[derive(Debug, serde::Deserialize)]
pub struct DownloadForm {
    /// [`confirm_value`] of the token.
    #[serde(default)]
    confirm: String,
}

/// True when the browser says the POST came from another site.
fn cross_site(headers: &HeaderMap, public_url: &str) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site") | Some("same-site")) {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => false,
        Some(origin) => {
            let ours = public_url.split('/').take(3).collect::<Vec<_>>().join("/");
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            origin != ours && !origin.ends_with(&format!("://{host}"))
        }
    }
}

async fn download(
    State(p): State<Portal>,
    UrlPath(token): UrlPath<String>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: std::result::Result<Form<DownloadForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    use subtle::ConstantTimeEq;
    let who = client(peer.map(|c| c.0 .0), &headers);
    let expected = confirm_value(&p.0.key, &token);
    let given = form.map(|f| f.0.confirm).unwrap_or_default();
    let good_form = !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()));
    if !good_form || cross_site(&headers, &p.0.public_url) {
        let p2 = p.clone();
        let t = token.clone();
        let detail = if good_form {
            "cross-site post"
        } else {
            "post without the page's form"
        };
        let _ = tokio::task::spawn_blocking(move || -> Result<()> {
            let conn = open_store(&p2.0)?;
            let now = (p2.0.now)();
            let t = if t.len() > MAX_TOKEN { "" } else { t.as_str() };
            let state = db::link_state(&conn, t, now)?;
            db::audit(
                &conn,
                now,
                PortalEvent::Refused,
                request_of(&state).as_deref(),
                t,
                &who,
                detail,
            )
        })
        .await;
        return html(StatusCode::FORBIDDEN, pages::refused(accept(&headers)));
    }
    let p2 = p.clone();
    let t = token.clone();
    let used = tokio::task::spawn_blocking(
        move || -> Result<std::result::Result<db::Link, LinkState>> {
            let conn = open_store(&p2.0)?;
            let now = (p2.0.now)();
            let state = db::link_state(&conn, &t, now)?;
            let LinkState::Active(link) = state else {
                let detail = gone_of(&state)
                    .map(|g| format!("{g:?}").to_lowercase())
                    .unwrap_or_default();
                db::audit(
                    &conn,
                    now,
                    PortalEvent::Refused,
                    request_of(&state).as_deref(),
                    &t,
                    &who,
                    &detail,
                )?;
                return Ok(Err(state));
            };
            // Check the package decrypts (its first chunk authenticates under this key)
            // before using the link up: a wrong key must not cost the consumer the link
            // and hand them a broken file.
            crate::fulfil::package::open(Path::new(&link.package_path), &p2.0.key)?.next_chunk()?;
            if !db::use_link(&conn, &t, now)? {
                let state = db::link_state(&conn, &t, now)?;
                db::audit(
                    &conn,
                    now,
                    PortalEvent::Refused,
                    Some(&link.request_id),
                    &t,
                    &who,
                    "lost a race",
                )?;
                return Ok(Err(state));
            }
            db::audit(
                &conn,
                now,
                PortalEvent::Download,
                Some(&link.request_id),
                &t,
                &who,
                "",
            )?;
            Ok(Ok(link))
        },
    )
    .await;
    let link = match used {
        Ok(Ok(Ok(link))) => link,
        Ok(Ok(Err(state))) => {
            return html(
                StatusCode::NOT_FOUND,
                pages::gone(
                    lang_of(&state, &headers),
                    &p.0.company,
                    gone_of(&state).unwrap_or(pages::Gone::Used),
                ),
            )
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "Portal download failed");
            return html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::unavailable(accept(&headers)),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "Portal download task failed");
            return html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::unavailable(accept(&headers)),
            );
        }
    };
    stream_package(&p, &link)
}

/// Streams the decrypted zip: a blocking reader decrypts chunk by chunk into a small queue.
fn stream_package(p: &Portal, link: &db::Link) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes_chunk::Chunk>>(QUEUE);
    let key = p.0.key.clone();
    let path = PathBuf::from(&link.package_path);
    let request = link.request_id.clone();
    tokio::task::spawn_blocking(move || {
        let mut reader = match crate::fulfil::package::open(&path, &key) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(format!("{e:#}"))));
                return;
            }
        };
        loop {
            match reader.next_chunk() {
                Ok(Some(c)) => {
                    if tx.blocking_send(Ok(c)).is_err() {
                        tracing::info!(request = %request, "The client left during a download");
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(request = %request, error = %format!("{e:#}"), "A package failed to decrypt mid-download");
                    let _ = tx.blocking_send(Err(std::io::Error::other("package unreadable")));
                    return;
                }
            }
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let name = format!(
        "attachment; filename=\"privacy-data-{}.zip\"",
        link.request_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
    );
    let mut r = axum::body::Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

mod bytes_chunk {
    /// One decrypted chunk of a download.
    pub type Chunk = Vec<u8>;
}
