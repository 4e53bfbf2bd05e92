//! The whole path on the real mail stack: SMTP → privacy@ → `run --once` → request +
//! acknowledgement in the consumer's INBOX, exactly once.

mod common;

use common::MailStack;
use std::time::Duration;

fn mail(from: &str, message_id: &str, subject: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: privacy@example.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n{extra_headers}\r\n{body}\r\n"
    )
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn requests_json(config: &std::path::Path) -> serde_json::Value {
    let out = common::run_bin(
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "requests",
            "list",
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "requests list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("requests list --json prints JSON")
}

fn run_once(config: &std::path::Path) {
    let out = common::run_bin(
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "run",
            "--once",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "run --once failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_acknowledged_once_threaded_and_tagged_and_machine_mail_is_not() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");

    stack
        .send(
            mail(
                "Jane Consumer <consumer@example.test>",
                "req-1@consumer.example.test",
                "Delete my data",
                "",
                "Hello,\r\n\r\nPlease delete all the personal data you hold about me.\r\n\r\nThanks,\r\nJane",
            ),
            "consumer@example.test",
            "privacy@example.test",
        )
        .await;
    stack
        .send(
            mail(
                "consumer2@example.test",
                "req-2@consumer.example.test",
                "My data",
                "",
                "I would like to get a copy of all the personal information you have about me.",
            ),
            "consumer2@example.test",
            "privacy@example.test",
        )
        .await;
    // An out-of-office reply that even mentions deletion: never answered.
    stack
        .send(
            mail(
                "consumer3@example.test",
                "ooo-1@consumer.example.test",
                "Out of office: your message",
                "Auto-Submitted: auto-replied\r\n",
                "I am out of the office until Monday. To delete your data request, write again.",
            ),
            "consumer3@example.test",
            "privacy@example.test",
        )
        .await;
    stack
        .wait_for("privacy", "INBOX", 3, Duration::from_secs(30))
        .await;

    run_once(&config);

    for (user, their_id) in [
        ("consumer", "req-1@consumer.example.test"),
        ("consumer2", "req-2@consumer.example.test"),
    ] {
        let got = stack
            .wait_for(user, "INBOX", 1, Duration::from_secs(30))
            .await;
        assert_eq!(got.len(), 1, "{user} must get exactly one acknowledgement");
        let ack = String::from_utf8_lossy(&got[0]).to_string();
        let subject = header(&ack, "Subject").expect("subject");
        assert!(subject.contains("[PRIV-2026-"), "tagged subject: {subject}");
        assert_eq!(
            header(&ack, "In-Reply-To"),
            Some(format!("<{their_id}>").as_str())
        );
        assert!(
            header(&ack, "References").is_some_and(|r| r.contains(their_id)),
            "References carries the thread"
        );
        assert_eq!(header(&ack, "Auto-Submitted"), Some("auto-replied"));
        assert!(
            header(&ack, "Message-ID").is_some_and(|m| m.ends_with("@example.test>")),
            "Message-ID on our domain"
        );
    }

    let list = requests_json(&config);
    let list = list.as_array().expect("array");
    assert_eq!(
        list.len(),
        2,
        "two requests, the out-of-office opened none: {list:#?}"
    );
    for r in list {
        for field in [
            "id",
            "status",
            "kinds",
            "requester",
            "received_at",
            "due_at",
            "escalated",
            "verified",
        ] {
            assert!(r.get(field).is_some(), "field {field} in {r}");
        }
    }
    let kinds: Vec<String> = list.iter().map(|r| r["kinds"].to_string()).collect();
    assert!(kinds.iter().any(|k| k.contains("delete")), "{kinds:?}");
    assert!(kinds.iter().any(|k| k.contains("access")), "{kinds:?}");

    // Everything processed is moved out of INBOX; our Bcc copies arrive later and are
    // recorded by the next pass.
    assert_eq!(stack.count("privacy", "Processed").await, 3);

    // A second pass sends nothing new.
    tokio::time::sleep(Duration::from_secs(1)).await;
    run_once(&config);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.count("consumer", "INBOX").await, 1);
    assert_eq!(stack.count("consumer2", "INBOX").await, 1);
    assert_eq!(
        stack.count("consumer3", "INBOX").await,
        0,
        "no reply to an auto-reply"
    );
    assert_eq!(requests_json(&config).as_array().map(Vec::len), Some(2));
    assert_eq!(
        stack.count("privacy", "INBOX").await,
        0,
        "INBOX is empty after two passes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_answers_nothing_twice_after_restart() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let n = 30;
    for i in 0..n {
        stack
            .send(
                mail(
                    &format!("user{i}@example.test"),
                    &format!("kill-{i}@consumer.example.test"),
                    "Please delete my account",
                    "",
                    "Please delete my account and all personal data you have about me.",
                ),
                &format!("user{i}@example.test"),
                "privacy@example.test",
            )
            .await;
    }
    stack
        .wait_for("privacy", "INBOX", n, Duration::from_secs(60))
        .await;
    let cfg = config.to_str().expect("utf-8 path");
    // Start, kill hard after a moment, start again: three times.
    for round in 0..3u64 {
        let log = dir.path().join(format!("daemon-{round}.log"));
        let p = common::spawn_bin(&["--config", cfg, "run"], &[], &log);
        tokio::time::sleep(Duration::from_millis(150 + round * 200)).await;
        // SIGKILL: no chance to clean up.
        let _ = std::process::Command::new("kill")
            .args(["-9", &p.pid().to_string()])
            .status();
        drop(p);
    }
    run_once(&config);
    for i in 0..n {
        let user = format!("user{i}");
        let got = stack
            .wait_for(&user, "INBOX", 1, Duration::from_secs(30))
            .await;
        assert_eq!(got.len(), 1, "{user} got {} acknowledgements", got.len());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..n {
        assert_eq!(
            stack.count(&format!("user{i}"), "INBOX").await,
            1,
            "user{i}"
        );
    }
    assert_eq!(requests_json(&config).as_array().map(Vec::len), Some(n));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_and_oversized_mail_is_quarantined_and_staff_are_told() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    // Lower the size limit so an ordinary large mail is "too big".
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        "processed-mailbox = \"Processed\"",
        "processed-mailbox = \"Processed\"\nmax-message-bytes = 20000",
    );
    std::fs::write(&config, text).expect("write config");

    stack
        .append("privacy", "INBOX", "this line is not a mail at all\r\n")
        .await;
    let big_body = "Please delete my data. ".repeat(2000);
    stack
        .append(
            "privacy",
            "INBOX",
            mail(
                "consumer@example.test",
                "big-1@consumer.example.test",
                "Delete my data",
                "",
                &big_body,
            ),
        )
        .await;
    stack
        .append(
            "privacy",
            "INBOX",
            mail(
                "consumer2@example.test",
                "ok-1@consumer.example.test",
                "Delete",
                "",
                "Please delete my account and all my personal data.",
            ),
        )
        .await;

    run_once(&config);

    assert_eq!(
        stack.count("privacy", "Quarantine").await,
        2,
        "both bad mails quarantined"
    );
    assert_eq!(
        stack.count("privacy", "Processed").await,
        1,
        "the good one processed"
    );
    // Staff also get the daily digest in the same pass, so wait for the notices themselves,
    // then give a duplicate time to arrive before counting.
    stack
        .wait_until(
            "staff",
            "INBOX",
            "two quarantine notices",
            Duration::from_secs(30),
            |mails| common::with_subject(mails, "Quarantined mail") >= 2,
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    let quarantine: Vec<String> = staff
        .iter()
        .map(|raw| String::from_utf8_lossy(raw).to_string())
        .filter(|s| header(s, "Subject").is_some_and(|v| v.starts_with("Quarantined mail")))
        .collect();
    assert_eq!(quarantine.len(), 2, "one notice per quarantined mail");
    for s in &quarantine {
        assert_eq!(header(s, "Auto-Submitted"), Some("auto-generated"));
    }
    // The consumer with the oversized mail is not answered automatically; the other one is.
    stack
        .wait_for("consumer2", "INBOX", 1, Duration::from_secs(30))
        .await;
    assert_eq!(stack.count("consumer", "INBOX").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_and_a_bad_config_are_reported_clearly() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replacen("password = \"secret\"", "password = \"wrong\"", 1),
    )
    .expect("write config");
    let out = common::run_bin(
        &["--config", config.to_str().expect("utf-8"), "run", "--once"],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("IMAP login as privacy@example.test refused"),
        "{err}"
    );

    std::fs::write(
        &config,
        "[imap]\nport = \"x\"\n[smtp]\nhost = \"127.0.0.1\"\n",
    )
    .expect("write");
    let out = common::run_bin(
        &["--config", config.to_str().expect("utf-8"), "run", "--once"],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let file = config.display().to_string();
    for needle in [
        "`imap`",
        "`smtp.port`",
        "`smtp.from`",
        "`staff.escalation-to`",
        "`store.path`",
        "`templates.dir`",
    ] {
        assert!(
            err.contains(&format!("{file}: {needle}")),
            "missing {needle} in:\n{err}"
        );
    }
}
