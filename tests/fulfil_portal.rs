//! The download portal over real HTTP (curl as the client): GET shows a page and never uses a
//! link up; only the POST from that page downloads, once; expired, replaced, used and unknown
//! links say so and explain `/resend`; every response carries the security headers; every
//! view and download is audited with the client's address.

use privacy_inbox::fulfil::package::{self, PackageBuilder};
use privacy_inbox::fulfil::settings::PortalSettings;
use privacy_inbox::fulfil::source::RowSink;
use privacy_inbox::portal::{self, Portal};
use privacy_inbox::store::{self, fulfil as db};
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

const T0: &str = "2026-03-01T10:00:00Z";

struct Setup {
    _dir: tempfile::TempDir,
    store: PathBuf,
    base: String,
    clock: Arc<AtomicI64>,
    _server: portal::serve::Server,
    package: Vec<u8>,
    package_id: i64,
}

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    privacy_inbox::clock::parse(s).expect("time")
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tmp");
    let store_path = dir.path().join("store.sqlite3");
    let s = store::Store::open(&store_path).expect("store");
    db::bare_request(s.reader(), "PI-2026-0007", "alice@example.test").expect("request");
    let key = store::secrets::package_key(s.reader()).expect("key");
    let mut b = PackageBuilder::new(dir.path()).expect("builder");
    b.add_source("crm", "sqlite");
    let id = b
        .begin_table("crm", "customers", vec!["email".into(), "name".into()])
        .expect("table");
    b.row(
        id,
        vec![
            "alice@example.test".into(),
            "<script>alert(1)</script>".into(),
        ],
    )
    .expect("row");
    // Enough incompressible rows that the download spans several encrypted chunks.
    let log = b
        .begin_table("crm", "log", vec!["n".into(), "digest".into()])
        .expect("table");
    for n in 0..4000u32 {
        let digest = hex::encode(sha2::Sha256::digest(n.to_be_bytes()));
        b.row(log, vec![n.into(), digest.into()]).expect("row");
    }
    let path = dir.path().join("PI-2026-0007.pkg");
    let summary = b.finish(&path, &key, "PI-2026-0007", T0).expect("finish");
    let package = package::read_all(&path, &key).expect("decrypt");
    assert!(
        package.len() > 3 * privacy_inbox::fulfil::crypt::CHUNK,
        "several chunks: {}",
        package.len()
    );
    let package_id = db::add_package(
        s.reader(),
        "PI-2026-0007",
        &path.to_string_lossy(),
        summary.bytes,
        1,
        t(T0),
    )
    .expect("package row");
    drop(s);
    let clock = Arc::new(AtomicI64::new(t(T0).timestamp()));
    let c2 = clock.clone();
    let settings = PortalSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        public_url: "https://privacy.example.test".into(),
        link_days: 7,
    };
    let p = Portal::new(
        &store_path,
        &settings,
        Arc::new(move || {
            chrono::DateTime::from_timestamp(c2.load(Ordering::SeqCst), 0).unwrap_or_default()
        }),
    )
    .expect("portal");
    let server = portal::start(p, &settings).await.expect("start");
    Setup {
        base: format!("http://{}", server.addr),
        _dir: dir,
        store: store_path,
        clock,
        _server: server,
        package,
        package_id,
    }
}

impl Setup {
    fn link(&self) -> String {
        let s = store::Store::open(&self.store).expect("store");
        db::issue_link(s.reader(), "PI-2026-0007", self.package_id, self.now(), 7).expect("link")
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.clock.load(Ordering::SeqCst), 0).expect("now")
    }
    fn audit(&self) -> Vec<db::AuditRow> {
        let s = store::Store::open(&self.store).expect("store");
        db::audit_log(s.reader()).expect("audit")
    }
}

/// A response as curl saw it.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// Runs curl (a real HTTP client) off the runtime's threads.
async fn curl(args: Vec<String>) -> Resp {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("tmp");
        let (h, b) = (dir.path().join("h"), dir.path().join("b"));
        let out = Command::new("curl")
            .args(["-s", "-S", "--max-time", "20", "-D"])
            .arg(&h)
            .arg("-o")
            .arg(&b)
            .args(&args)
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let head = std::fs::read_to_string(&h).expect("headers");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("status");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Resp {
            status,
            headers,
            body: std::fs::read(Path::new(&b)).unwrap_or_default(),
        }
    })
    .await
    .expect("curl task")
}

async fn get(url: String) -> Resp {
    curl(vec![url]).await
}

async fn post(url: String, confirm: &str, extra: &[&str]) -> Resp {
    let mut args = vec![
        "-X".to_string(),
        "POST".into(),
        "--data-urlencode".into(),
        format!("confirm={confirm}"),
    ];
    for e in extra {
        args.push("-H".into());
        args.push(e.to_string());
    }
    args.push(url);
    curl(args).await
}

fn confirm_field(page: &str) -> String {
    let at = page
        .find("name=\"confirm\" value=\"")
        .expect("the page has the form field")
        + 22;
    page[at..].split('"').next().expect("value").to_string()
}

fn assert_security_headers(r: &Resp) {
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let csp = r.header("content-security-policy").expect("csp");
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_shows_a_button_and_only_the_post_from_the_page_downloads_once() {
    let s = setup().await;
    let token = s.link();
    assert!(token.len() >= 43, "256-bit token: {token}");
    let url = format!("{}/d/{token}", s.base);

    // A link scanner's GETs (and HEAD) do not use the link up.
    for _ in 0..2 {
        let r = get(url.clone()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_security_headers(&r);
        assert!(
            r.text()
                .contains("<button type=\"submit\">Download my data</button>"),
            "{}",
            r.text()
        );
        assert!(
            r.text().contains("PI-2026-0007") && r.text().contains("March 8, 2026 (UTC)"),
            "{}",
            r.text()
        );
        assert!(!r.text().contains("<script"), "no script on the page");
    }
    let page = get(url.clone()).await.text();
    let confirm = confirm_field(&page);

    // A POST without the page's field (a scanner, a forged form) is refused and uses nothing.
    let r = post(url.clone(), "", &[]).await;
    assert_eq!(r.status, 403);
    assert_security_headers(&r);
    let r = post(url.clone(), "00", &[]).await;
    assert_eq!(r.status, 403);
    // A cross-site POST with the right field is refused too.
    let r = post(url.clone(), &confirm, &["Sec-Fetch-Site: cross-site"]).await;
    assert_eq!(r.status, 403);
    let r = post(url.clone(), &confirm, &["Origin: https://evil.example"]).await;
    assert_eq!(r.status, 403);

    // The page's POST downloads the package, decrypted, exactly.
    let r = post(
        url.clone(),
        &confirm,
        &["Origin: https://privacy.example.test"],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_security_headers(&r);
    assert_eq!(r.header("content-type"), Some("application/zip"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"privacy-data-PI-2026-0007.zip\"")
    );
    assert_eq!(r.body, s.package, "the decrypted zip, byte for byte");
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).expect("zip");
    assert!(z.by_name("index.html").is_ok() && z.by_name("crm/customers.json").is_ok());

    // Single use: a second POST and a later GET say so, and explain /resend.
    let r = post(url.clone(), &confirm, &[]).await;
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("already been used") && r.text().contains("/resend"),
        "{}",
        r.text()
    );
    let r = get(url.clone()).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("already been used"), "{}", r.text());
    assert_security_headers(&r);

    let audit = s.audit();
    let events: Vec<&str> = audit.iter().map(|a| a.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "view", "view", "view", "refused", "refused", "refused", "refused", "download",
            "refused", "refused"
        ],
        "{audit:#?}"
    );
    assert!(audit.iter().all(|a| a.client == "127.0.0.1"), "{audit:#?}");
    assert!(audit
        .iter()
        .all(|a| a.request_id.as_deref() == Some("PI-2026-0007")));
    assert_eq!(audit[7].at, T0);
    let st = rusqlite::Connection::open(&s.store).expect("store");
    let logged: i64 = st
        .query_row(
            "SELECT count(*) FROM events WHERE request_id = 'PI-2026-0007' AND kind = 'portal_download'",
            [],
            |r| r.get(0),
        )
        .expect("events");
    assert_eq!(logged, 1, "the download is on the request's own log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_replaced_and_unknown_links_say_so_and_explain_resend() {
    let s = setup().await;
    let old = s.link();
    let new = s.link();
    let r = get(format!("{}/d/{old}", s.base)).await;
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("This link was replaced") && r.text().contains("/resend"),
        "{}",
        r.text()
    );

    let url = format!("{}/d/{new}", s.base);
    let confirm = confirm_field(&get(url.clone()).await.text());
    // Seven days later, to the second, the link is expired.
    s.clock.fetch_add(7 * 86_400, Ordering::SeqCst);
    let r = get(url.clone()).await;
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("This link has expired") && r.text().contains("/resend"),
        "{}",
        r.text()
    );
    let r = post(url.clone(), &confirm, &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("expired"), "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));

    for wrong in [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "x",
        &"y".repeat(5000),
    ] {
        let r = get(format!("{}/d/{wrong}", s.base)).await;
        assert!(
            r.status == 404 || r.status == 414 || r.status == 431,
            "{}",
            r.status
        );
        if r.status == 404 {
            assert!(
                r.text().contains("not valid") && r.text().contains("/resend"),
                "{}",
                r.text()
            );
            assert_security_headers(&r);
        }
    }
    // Nothing else is served.
    for path in ["/", "/d/", "/etc/passwd", "/d/../store.sqlite3", "/metrics"] {
        let r = get(format!("{}{path}", s.base)).await;
        assert_eq!(r.status, 404, "{path}");
        assert_security_headers(&r);
        assert!(!r.text().contains("SQLite"), "{path}");
    }
    let r = get(format!("{}/healthz", s.base)).await;
    assert_eq!((r.status, r.text().trim()), (200, "ok"));
    let refused = s.audit().iter().filter(|a| a.event == "refused").count();
    assert!(refused >= 5, "{:#?}", s.audit());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_the_portal_cannot_decrypt_keeps_the_link_and_sends_no_broken_file() {
    let s = setup().await;
    // A package sealed under another key (a store replaced under a running daemon): the
    // header reads, the first chunk does not authenticate.
    let dir = tempfile::tempdir().expect("tmp");
    let other_key = privacy_inbox::fulfil::crypt::random_key();
    let mut b = PackageBuilder::new(dir.path()).expect("builder");
    b.add_source("crm", "sqlite");
    let id = b
        .begin_table("crm", "customers", vec!["email".into()])
        .expect("table");
    b.row(id, vec!["alice@example.test".into()]).expect("row");
    let path = dir.path().join("other.pkg");
    let summary = b
        .finish(&path, &other_key, "PI-2026-0007", T0)
        .expect("finish");
    let st = store::Store::open(&s.store).expect("store");
    let pkg = db::add_package(
        st.reader(),
        "PI-2026-0007",
        &path.to_string_lossy(),
        summary.bytes,
        1,
        s.now(),
    )
    .expect("package row");
    let token = db::issue_link(st.reader(), "PI-2026-0007", pkg, s.now(), 7).expect("link");
    let url = format!("{}/d/{token}", s.base);
    let confirm = confirm_field(&get(url.clone()).await.text());
    let r = post(url.clone(), &confirm, &[]).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(!r.text().contains("PK"), "no zip bytes");
    assert!(
        matches!(
            db::link_state(st.reader(), &token, s.now()).expect("state"),
            db::LinkState::Active(_)
        ),
        "the link is not used up by a download that could not happen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_speak_the_requests_language_or_the_browsers() {
    let s = setup().await;
    rusqlite::Connection::open(&s.store)
        .and_then(|c| {
            c.execute(
                "UPDATE requests SET language = 'es' WHERE id = 'PI-2026-0007'",
                [],
            )
        })
        .expect("a Spanish request");
    let url = format!("{}/d/{}", s.base, s.link());
    let page = get(url.clone()).await;
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(text.contains("<html lang=\"es\">"), "{text}");
    assert!(text.contains("Sus datos están listos"), "{text}");
    assert!(text.contains("Descargar mis datos"), "{text}");
    assert!(text.contains("de 2026 (UTC)"), "a Spanish date: {text}");
    let confirm = confirm_field(&text);
    assert_eq!(post(url.clone(), &confirm, &[]).await.status, 200);
    let again = post(url, &confirm, &[]).await.text();
    assert!(again.contains("Este enlace ya se ha utilizado"), "{again}");
    assert!(again.contains("/resend"), "{again}");
    // A link nobody knows has no request: the browser's first language.
    let unknown = curl(vec![
        "-H".into(),
        "Accept-Language: de-DE,de;q=0.9,en;q=0.5".into(),
        format!("{}/d/{}", s.base, "x".repeat(43)),
    ])
    .await
    .text();
    assert!(unknown.contains("Dieser Link ist ungültig"), "{unknown}");
}
