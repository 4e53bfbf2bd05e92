//! Operations on the real stack: DKIM signatures verified cryptographically on the mail as
//! delivered, `privacy-inbox check`, the `/healthz` + `/metrics` endpoint scraped while the
//! daemon runs, and graceful shutdown on SIGTERM.

mod common;

use base64::Engine as _;
use common::{MailStack, CONSUMER, PRIVACY};
use sha2::{Digest, Sha256};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn request(from: &str, subject: &str, body: &str) -> String {
    common::mail(from, PRIVACY, subject, body)
}

// ---- DKIM ------------------------------------------------------------------------------

/// A public key to verify with.
enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// The tags of a DKIM-Signature value.
fn tags(value: &str) -> Vec<(String, String)> {
    value
        .split(';')
        .filter_map(|t| {
            let (k, v) = t.split_once('=')?;
            Some((
                k.trim().to_string(),
                v.chars().filter(|c| !c.is_whitespace()).collect(),
            ))
        })
        .collect()
}

/// RFC 6376 3.4.2 relaxed header canonicalization of one raw header field (with folding).
fn relaxed_header(raw: &str) -> String {
    let (name, value) = raw.split_once(':').expect("header has a colon");
    let unfolded = value.replace("\r\n", "");
    let mut v = String::new();
    let mut ws = false;
    for c in unfolded.chars() {
        if c == ' ' || c == '\t' {
            ws = true;
        } else {
            if ws && !v.is_empty() {
                v.push(' ');
            }
            ws = false;
            v.push(c);
        }
    }
    format!("{}:{}", name.trim().to_ascii_lowercase(), v)
}

/// RFC 6376 3.4.4 relaxed body canonicalization.
fn relaxed_body(body: &str) -> String {
    let mut lines: Vec<String> = body
        .split("\r\n")
        .map(|l| {
            let mut out = String::new();
            let mut ws = false;
            for c in l.chars() {
                if c == ' ' || c == '\t' {
                    ws = true;
                } else {
                    if ws {
                        out.push(' ');
                    }
                    ws = false;
                    out.push(c);
                }
            }
            out
        })
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    if lines.is_empty() {
        return String::new();
    }
    let mut s = lines.join("\r\n");
    s.push_str("\r\n");
    s
}

/// Verifies the message's DKIM-Signature (relaxed/relaxed, sha256) with `key`; returns the
/// tags on success.
fn verify_dkim(raw: &[u8], key: &PublicKey) -> Result<Vec<(String, String)>, String> {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header/body split")?;
    // Header fields with their continuation lines.
    let mut fields: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().ok_or("continuation before any header")?;
            last.push_str("\r\n");
            last.push_str(line);
        } else {
            fields.push(line.to_string());
        }
    }
    let name_of = |f: &str| {
        f.split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let sig_field = fields
        .iter()
        .find(|f| name_of(f) == "dkim-signature")
        .ok_or("no DKIM-Signature header")?
        .clone();
    let t = tags(sig_field.split_once(':').map(|x| x.1).unwrap_or(""));
    let tag = |k: &str| {
        t.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .ok_or(format!("no {k}= tag"))
    };
    if tag("c")? != "relaxed/relaxed" {
        return Err(format!("unexpected c={}", tag("c")?));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let bh = b64.encode(Sha256::digest(relaxed_body(body).as_bytes()));
    if bh != tag("bh")? {
        return Err(format!(
            "body hash mismatch: computed {bh}, signed {}",
            tag("bh")?
        ));
    }
    // Signed headers, each taking the last unused instance (bottom-up).
    let mut used = vec![false; fields.len()];
    let mut input = String::new();
    for name in tag("h")?.split(':') {
        let name = name.trim().to_ascii_lowercase();
        if let Some(i) = (0..fields.len())
            .rev()
            .find(|&i| !used[i] && name_of(&fields[i]) == name)
        {
            used[i] = true;
            input.push_str(&relaxed_header(&fields[i]));
            input.push_str("\r\n");
        }
    }
    let blanked = regex::Regex::new(r"(^|;)(\s*b\s*=)[^;]*")
        .expect("regex")
        .replace(sig_field.split_once(':').map(|x| x.1).unwrap_or(""), "$1$2")
        .to_string();
    input.push_str(&relaxed_header(&format!("DKIM-Signature:{blanked}")));
    let hash = Sha256::digest(input.as_bytes());
    let sig = b64
        .decode(tag("b")?)
        .map_err(|e| format!("b= is not base64: {e}"))?;
    match (key, tag("a")?.as_str()) {
        (PublicKey::Rsa(k), "rsa-sha256") => k
            .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &hash, &sig)
            .map_err(|e| format!("RSA signature does not verify: {e}"))?,
        (PublicKey::Ed25519(k), "ed25519-sha256") => {
            let sig = ed25519_dalek::Signature::from_slice(&sig)
                .map_err(|e| format!("bad Ed25519 signature: {e}"))?;
            k.verify_strict(&hash, &sig)
                .map_err(|e| format!("Ed25519 signature does not verify: {e}"))?
        }
        (_, a) => return Err(format!("unexpected a={a}")),
    }
    Ok(t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_mail_carries_a_dkim_signature_that_verifies() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let p = |n: &str| d.join(n).to_string_lossy().into_owned();
    // OpenSSL 3 writes PKCS#8 ("BEGIN PRIVATE KEY"), which the loader converts for lettre.
    openssl(&["genrsa", "-out", &p("rsa.pem"), "2048"]);
    openssl(&[
        "rsa",
        "-in",
        &p("rsa.pem"),
        "-pubout",
        "-out",
        &p("rsa.pub"),
    ]);
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", &p("ed.pem")]);
    openssl(&[
        "pkey",
        "-in",
        &p("ed.pem"),
        "-pubout",
        "-outform",
        "DER",
        "-out",
        &p("ed.der"),
    ]);
    let rsa_pub = {
        use rsa::pkcs8::DecodePublicKey as _;
        let pem = std::fs::read_to_string(d.join("rsa.pub")).expect("read rsa.pub");
        PublicKey::Rsa(rsa::RsaPublicKey::from_public_key_pem(&pem).expect("RSA public key"))
    };
    let ed_pub = {
        let der = std::fs::read(d.join("ed.der")).expect("read ed.der");
        let raw: [u8; 32] = der[der.len() - 32..].try_into().expect("32 bytes");
        PublicKey::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&raw).expect("Ed25519 key"))
    };

    for (consumer, algorithm, key_file, key) in [
        ("consumer@example.test", "rsa", "rsa.pem", &rsa_pub),
        ("consumer2@example.test", "ed25519", "ed.pem", &ed_pub),
    ] {
        let extra = format!(
            "[dkim]\nselector = \"privacy2026\"\ndomain = \"example.test\"\nkey-file = {:?}\nalgorithm = \"{algorithm}\"\n",
            p(key_file)
        );
        let config = stack.write_config(d, &extra);
        let mail = request(
            consumer,
            "Delete my data",
            "Please delete all the personal data you have about me.",
        );
        let id = common::header(&mail, "Message-ID").expect("a Message-ID");
        stack.send(mail, consumer, PRIVACY).await;
        // Wait for this request itself: the first round's Bcc copy may be in INBOX too.
        stack
            .wait_for_ids(PRIVACY, "INBOX", &[&id], common::WAIT)
            .await;
        common::run_once(&config);
        let got = stack.wait_for(consumer, "INBOX", 1, common::WAIT).await;
        let raw = &got[0];
        let t = verify_dkim(raw, key)
            .unwrap_or_else(|e| panic!("{algorithm}: {e}\n{}", String::from_utf8_lossy(raw)));
        let get = |k: &str| t.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("d"), Some("example.test"));
        assert_eq!(get("s"), Some("privacy2026"));
        let h = get("h").unwrap_or("").to_ascii_lowercase();
        for must in ["from", "to", "subject", "date", "message-id", "in-reply-to"] {
            assert!(h.split(':').any(|x| x == must), "h= covers {must}: {h}");
        }
        // The verifier can fail: a changed body or subject no longer verifies.
        let text = String::from_utf8_lossy(raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n").expect("split");
        let tampered = format!("{head}\r\n\r\n{}", body.replacen("e", "E", 1));
        assert!(
            verify_dkim(tampered.as_bytes(), key).is_err(),
            "tampered body must fail"
        );
        assert!(text.contains("\r\nSubject: "), "{text}");
        let tampered = text.replacen("\r\nSubject: ", "\r\nSubject: Re: ", 1);
        assert!(
            verify_dkim(tampered.as_bytes(), key).is_err(),
            "tampered subject must fail"
        );
    }
}

// ---- check -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_on_the_stack_and_fails_when_smtp_is_down() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("tmp");
    let config = stack.write_config(dir.path(), "");
    let out = common::cli_async(&config, &["check"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let (imap, smtp) = (stack.imap_port(), stack.smtp_port());
    assert_eq!(lines[0], format!("PASS config {}", config.display()));
    assert!(
        lines.iter().any(|l| l.starts_with("PASS templates (")
            && l.contains("messages checked in de, en, es, fr")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("PASS rules")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("PASS imap 127.0.0.1:{imap} login {PRIVACY}"))),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("PASS smtp 127.0.0.1:{smtp}"))),
        "{stdout}"
    );
    assert!(lines.iter().all(|l| l.starts_with("PASS ")), "{stdout}");
    assert!(
        !stdout.contains(common::PASSWORD),
        "no secret printed: {stdout}"
    );

    stack.stop_smtp();
    let out = common::cli_async(&config, &["check"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let fail = stdout
        .lines()
        .find(|l| l.starts_with(&format!("FAIL smtp 127.0.0.1:{smtp}: ")))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        fail.to_ascii_lowercase().contains("connection refused"),
        "{fail}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("PASS imap ")),
        "IMAP still passes: {stdout}"
    );
}

// ---- metrics and shutdown --------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET path` → (status code, body).
async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .map_err(|_| std::io::Error::other("timeout"))??;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// The value of the sample `name` (with labels, exactly as written) in a scrape.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let (n, v) = l.rsplit_once(' ')?;
        (n == name).then(|| v.parse().ok()).flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_while_the_daemon_runs() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = stack.write_config(
        dir.path(),
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let mut daemon = common::spawn_bin(
        &[
            "--config",
            common::cfg_str(&config),
            "--log-format",
            "json",
            "run",
        ],
        &[],
        &dir.path().join("daemon.log"),
    );
    stack
        .send(
            request(
                CONSUMER,
                "Delete my data",
                "Please delete all the personal data you hold about me.",
            ),
            CONSUMER,
            PRIVACY,
        )
        .await;
    stack
        .wait_for(CONSUMER, "INBOX", 1, Duration::from_secs(30))
        .await;

    // Counters are bumped after the pass; poll until they show it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let scrape = loop {
        if let Ok((200, body)) = http_get(port, "/metrics").await {
            if sample(&body, "privacy_inbox_replies_sent_total").unwrap_or(0.0) >= 1.0 {
                break body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no scrape showed the pass; log:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        sample(&scrape, "privacy_inbox_mails_fetched_total").unwrap_or(0.0) >= 1.0,
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "privacy_inbox_requests_opened_total"),
        Some(1.0),
        "{scrape}"
    );
    let delete_open = scrape
        .lines()
        .filter(|l| l.starts_with("privacy_inbox_requests{kind=\"delete\",status="))
        .count();
    assert_eq!(delete_open, 1, "one delete request by status: {scrape}");
    assert_eq!(
        sample(&scrape, "privacy_inbox_open_requests"),
        Some(1.0),
        "{scrape}"
    );
    let days = sample(&scrape, "privacy_inbox_oldest_open_request_days_left").expect("days left");
    assert!(
        (30.0..=50.0).contains(&days),
        "CCPA: ~45 days left, got {days}"
    );
    assert!(
        sample(&scrape, "privacy_inbox_outbox_depth").is_some(),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "privacy_inbox_errors_total{stage=\"mail_loop\"}"),
        Some(0.0)
    );
    assert!(
        // OpenMetrics (prometheus-client) names the family without `_total`; the sample
        // keeps it, so Prometheus stores the same series as before.
        scrape.contains("# TYPE privacy_inbox_mails_fetched counter"),
        "{scrape}"
    );
    let (code, body) = http_get(port, "/healthz").await.expect("healthz");
    assert_eq!((code, body.trim()), (200, "ok"));
    assert_eq!(http_get(port, "/nope").await.expect("404").0, 404);

    // Logs are JSON lines.
    let log = daemon.log_text();
    let first = log.lines().next().unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("JSON log line {first:?}: {e}"));
    assert!(v.get("level").is_some() && v.get("fields").is_some(), "{v}");

    // Stopping while idle is prompt and clean.
    let status = daemon.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit {status}; log:\n{}",
        daemon.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_pass_finishes_the_mail_in_hand_and_exits_zero() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("tmp");
    let config = stack.write_config(dir.path(), "");
    let n = 40;
    for i in 0..n {
        let from = format!("term{i}@example.test");
        stack
            .append(
                PRIVACY,
                "INBOX",
                request(
                    &from,
                    "Delete my data",
                    "Please delete all the personal data you hold about me.",
                ),
            )
            .await;
    }
    let mut daemon = common::spawn_bin(
        &["--config", common::cfg_str(&config), "run"],
        &[],
        &dir.path().join("daemon.log"),
    );
    // Signal as soon as the daemon is connected: the batch of 40 is then in hand.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !daemon.log_text().contains("Connected to IMAP") {
        assert!(
            Instant::now() < deadline,
            "daemon never connected:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    daemon.signal("TERM");
    let status = match daemon.wait_timeout(Duration::from_secs(60)) {
        Some(s) => s,
        None => panic!("no exit after SIGTERM:\n{}", daemon.log_text()),
    };
    let log = daemon.log_text();
    assert!(status.success(), "exit {status}:\n{log}");
    let signalled = log
        .find("Shutting down after the mail in hand")
        .expect("shutdown logged");
    let pass_logged = log.find("Intake pass").unwrap_or(usize::MAX);
    eprintln!(
        "SIGTERM arrived {} the intake pass finished",
        if signalled < pass_logged {
            "before"
        } else {
            "after"
        }
    );
    // Every mail in hand was recorded, processed, moved and answered before the exit.
    let list = common::requests(&config);
    assert_eq!(list.as_array().map(Vec::len), Some(n), "{log}");
    assert_eq!(stack.count(PRIVACY, "Processed").await, n);
    for i in [0, n - 1] {
        stack
            .wait_for(&format!("term{i}@example.test"), "INBOX", 1, common::WAIT)
            .await;
    }
}
