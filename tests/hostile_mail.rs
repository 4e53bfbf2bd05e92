//! Hostile and broken mail through the real stack and the real daemon: malformed MIME, a
//! charset-less ISO-2022-JP body, deeply nested message/rfc822, a 1 MB header, a 40 MB
//! attachment (over the 25 MB default: quarantined from its header alone), a million-line
//! body. No panic, every mail quarantined or processed, staff told, and the daemon's peak
//! memory (VmHWM) stays bounded.
//!
//! `PRIVACY_INBOX_HOSTILE_BIG_MB` sets the big attachment's size (default 40).

mod common;

use common::MailStack;
use std::time::Duration;

fn head(from: &str, id: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: privacy@example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra}"
    )
}

fn malformed_mime() -> Vec<u8> {
    let mut m = head(
        "h1@example.test",
        "hostile-1@x.test",
        "Delete my data",
        "Content-Type: multipart/mixed; boundary=\"never-closed\r\n",
    );
    m.push_str("\r\n--never-closed\r\nContent-Type: text/plain; charset=\"x-unknown-charset\"\r\n");
    m.push_str("Content-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all===\r\n");
    m.push_str("--never-closed\r\nContent-Type: multipart/alternative; boundary=\"\"\r\n\r\n");
    m.push_str("--\r\n--\r\nContent-Type: text/html\r\n\r\n<p>Please delete <b my data\r\n");
    m.into_bytes()
}

fn iso_2022_jp_without_charset() -> Vec<u8> {
    let mut m = head(
        "h2@example.test",
        "hostile-2@x.test",
        "=?ISO-2022-JP?B?GyRCJUckITUlOkc9fBsoQg==?=",
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
    )
    .into_bytes();
    // "個人データを削除してください" in ISO-2022-JP, without a charset parameter.
    m.extend_from_slice(b"\x1b$B8D?M%G!<%?$r:o=|$7$F$/$@$5$$\x1b(B\r\nPlease delete my data.\r\n");
    m
}

fn nested_rfc822(depth: usize) -> Vec<u8> {
    let mut inner =
        "From: deep@example.test\r\nSubject: innermost\r\n\r\nPlease delete my data.\r\n"
            .to_string();
    for i in 0..depth {
        inner = format!(
            "From: layer{i}@example.test\r\nSubject: layer {i}\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n\
             Content-Type: text/plain\r\n\r\nForwarded.\r\n--b{i}\r\nContent-Type: message/rfc822\r\n\r\n\
             {inner}\r\n--b{i}--\r\n"
        );
    }
    let mut m = head(
        "h3@example.test",
        "hostile-3@x.test",
        "Fwd: nested",
        "Content-Type: multipart/mixed; boundary=\"top\"\r\n\r\n--top\r\nContent-Type: message/rfc822\r\n\r\n",
    );
    m.push_str(&inner);
    m.push_str("\r\n--top--\r\n");
    m.into_bytes()
}

fn huge_header() -> Vec<u8> {
    let mut m = head(
        "h4@example.test",
        "hostile-4@x.test",
        "Delete my data",
        "Content-Type: text/plain; charset=utf-8\r\n",
    );
    // One 1 MB header, folded into 1000-byte lines.
    m.push_str("X-Junk: ");
    for i in 0..1024 {
        m.push_str(&"j".repeat(1000));
        m.push_str(if i < 1023 { "\r\n " } else { "\r\n" });
    }
    m.push_str("\r\nPlease delete my account and all personal data you have about me.\r\n");
    m.into_bytes()
}

fn big_attachment(mb: usize) -> Vec<u8> {
    let mut m = head(
        "h5@example.test",
        "hostile-5@x.test",
        "Delete my data",
        "Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\n\
         Content-Type: text/plain\r\n\r\nPlease delete my data.\r\n--big\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    )
    .into_bytes();
    let line = [b'Q'; 76];
    let lines = mb * 1024 * 1024 / 78;
    m.reserve(lines * 78 + 64);
    for _ in 0..lines {
        m.extend_from_slice(&line);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--big--\r\n");
    m
}

fn million_lines() -> Vec<u8> {
    let mut m = head(
        "h6@example.test",
        "hostile-6@x.test",
        "Delete my data",
        "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease delete my account and all personal data you have about me.\r\n",
    )
    .into_bytes();
    m.reserve(4_000_000);
    for i in 0..1_000_000u32 {
        m.extend_from_slice(if i % 2 == 0 { b"> x\r\n" } else { b"y\r\n" });
    }
    m
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mail_is_quarantined_or_processed_without_panic_in_bounded_memory() {
    let big_mb: usize = std::env::var("PRIVACY_INBOX_HOSTILE_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let mails: Vec<(&str, Vec<u8>)> = vec![
        ("malformed MIME", malformed_mime()),
        ("ISO-2022-JP without charset", iso_2022_jp_without_charset()),
        ("message/rfc822 nested 60 deep", nested_rfc822(60)),
        ("1 MB header", huge_header()),
        ("big attachment", big_attachment(big_mb)),
        ("million-line body", million_lines()),
    ];
    {
        let mut s = stack.imap("privacy").await;
        for (what, raw) in &mails {
            tokio::time::timeout(Duration::from_secs(120), s.append("INBOX", None, None, raw))
                .await
                .unwrap_or_else(|_| panic!("APPEND {what} timed out"))
                .unwrap_or_else(|e| panic!("APPEND {what}: {e}"));
        }
        let _ = s.logout().await;
    }
    // A normal request after the hostile ones: the daemon must still get to it.
    stack
        .append(
            "privacy",
            "INBOX",
            "From: fine@example.test\r\nTo: privacy@example.test\r\nSubject: Delete my data\r\n\
             Message-ID: <fine-1@x.test>\r\n\r\nPlease delete my account and all personal data you have about me.\r\n",
        )
        .await;

    let cfg = config.to_str().expect("utf-8");
    let log = dir.path().join("daemon.log");
    let mut p = common::spawn_bin(&["--config", cfg, "run"], &[], &log);
    let conn_path = dir.path().join("privacy-inbox.sqlite3");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut peak_kb = 0;
    loop {
        peak_kb = peak_kb.max(vm_hwm_kb(p.pid()).unwrap_or(0));
        let recorded: i64 = rusqlite::Connection::open(&conn_path)
            .and_then(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM inbox WHERE mailbox = 'INBOX' AND disposition <> 'own_copy'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap_or(0);
        if recorded >= 7 && stack.count("privacy", "INBOX").await == 0 {
            break;
        }
        if let Some(status) = p.wait_timeout(Duration::from_millis(200)) {
            panic!("the daemon exited ({status}):\n{}", p.log_text());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all hostile mail recorded; log:\n{}",
            p.log_text()
        );
    }
    stack.wait_for("fine", "INBOX", 1, common::WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    peak_kb = peak_kb.max(vm_hwm_kb(p.pid()).unwrap_or(0));
    let status = p.terminate(Duration::from_secs(30));
    let text = p.log_text();
    assert!(status.success(), "{text}");
    assert!(!text.contains("panicked"), "{text}");

    let conn = rusqlite::Connection::open(&conn_path).expect("store");
    let mut st = conn
        .prepare(
            "SELECT message_key, disposition, reason, size FROM inbox WHERE mailbox = 'INBOX' \
             AND disposition <> 'own_copy' ORDER BY uid",
        )
        .expect("prepare");
    let rows: Vec<(String, String, String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    eprintln!(
        "hostile mail: daemon peak RSS (VmHWM) {} MB",
        peak_kb / 1024
    );
    for ((what, raw), (key, disposition, reason, size)) in mails.iter().zip(&rows) {
        eprintln!(
            "  {what:32} {:>9} bytes -> {disposition}: {}",
            raw.len(),
            reason.chars().take(90).collect::<String>()
        );
        assert!(*size > 0, "{key}");
        assert!(
            matches!(
                disposition.as_str(),
                "quarantined" | "request" | "escalated" | "ignored"
            ),
            "{what}: {disposition} {reason}"
        );
    }
    assert_eq!(rows.len(), 7, "{rows:#?}");
    // Over the size limit: quarantined from its header alone.
    let big = &rows[4];
    assert_eq!(big.1, "quarantined", "{big:?}");
    assert!(big.2.contains("over the"), "{big:?}");
    let quarantined = rows.iter().filter(|r| r.1 == "quarantined").count();
    assert_eq!(
        stack.count("privacy", "Quarantine").await,
        quarantined,
        "quarantined mail is in the Quarantine mailbox"
    );
    // Staff are told about each quarantined mail (the digest may share the mailbox).
    stack
        .wait_until(
            "staff",
            "INBOX",
            &format!("{quarantined} quarantine notices"),
            common::WAIT,
            |mails| common::with_subject(mails, "Quarantined mail") >= quarantined,
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    let notices = staff
        .iter()
        .filter(|raw| {
            common::header(raw, "Subject").is_some_and(|s| s.starts_with("Quarantined mail"))
        })
        .count();
    assert_eq!(notices, quarantined, "one notice per quarantined mail");
    // Memory: the 40 MB mail was never downloaded; nothing else is big.
    assert!(
        peak_kb < 400 * 1024,
        "peak RSS {} MB is over the 400 MB bound",
        peak_kb / 1024
    );
}
