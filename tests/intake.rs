//! The whole path on the real mail stack: SMTP → privacy@ → `run --once` → request +
//! acknowledgement in the consumer's INBOX, exactly once.

mod common;

use common::{cli, dated_mail, edit_config, header, requests, run_once, ConfigOptions, MailStack};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_acknowledged_once_threaded_and_tagged_and_machine_mail_is_not() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");

    stack
        .send(
            dated_mail(
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
            dated_mail(
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
            dated_mail(
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
        // The year in the id is the year the mail was received: whatever year the test runs.
        let tagged = subject.find("[PRIV-").is_some_and(|at| {
            let tag = &subject.as_bytes()[at + 6..];
            tag.len() >= 11
                && tag[..4].iter().all(u8::is_ascii_digit)
                && tag[4] == b'-'
                && tag[5..10].iter().all(u8::is_ascii_digit)
                && tag[10] == b']'
        });
        assert!(tagged, "tagged subject [PRIV-YYYY-NNNNN]: {subject}");
        assert_eq!(
            header(&ack, "In-Reply-To").as_deref(),
            Some(format!("<{their_id}>").as_str())
        );
        assert!(
            header(&ack, "References").is_some_and(|r| r.contains(their_id)),
            "References carries the thread"
        );
        assert_eq!(
            header(&ack, "Auto-Submitted").as_deref(),
            Some("auto-replied")
        );
        assert!(
            header(&ack, "Message-ID").is_some_and(|m| m.ends_with("@example.test>")),
            "Message-ID on our domain"
        );
    }

    let list = requests(&config);
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

    // Everything processed is moved out of INBOX, and so are our Bcc copies: the pass takes
    // them in before it ends.
    assert_eq!(stack.count("privacy", "INBOX").await, 0);
    assert_eq!(not_ours(&stack.messages("privacy", "Processed").await), 3);

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
    assert_eq!(requests(&config).as_array().map(Vec::len), Some(2));
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
                dated_mail(
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
    assert_eq!(requests(&config).as_array().map(Vec::len), Some(n));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_and_oversized_mail_is_quarantined_and_staff_are_told() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // Lower the size limit so an ordinary large mail is "too big".
    let config = stack.write_config_with(
        dir.path(),
        &ConfigOptions {
            imap_extra: "max-message-bytes = 20000",
            ..ConfigOptions::default()
        },
    );

    stack
        .append("privacy", "INBOX", "this line is not a mail at all\r\n")
        .await;
    let big_body = "Please delete my data. ".repeat(2000);
    stack
        .append(
            "privacy",
            "INBOX",
            dated_mail(
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
            dated_mail(
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
        not_ours(&stack.messages("privacy", "Processed").await),
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
        assert_eq!(
            header(s, "Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
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
    edit_config(&config, "password = \"secret\"", "password = \"wrong\"");
    let out = cli(&config, &["run", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("IMAP: the server refused the login for privacy@example.test: "),
        "{err}"
    );

    std::fs::write(
        &config,
        "[imap]\nport = \"x\"\n[smtp]\nhost = \"127.0.0.1\"\n",
    )
    .expect("write");
    let out = cli(&config, &["run", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let file = config.display().to_string();
    for needle in [
        "`imap.port`",
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

/// The mails that are not the bot's own Bcc copies (From privacy@).
fn not_ours(mails: &[common::Fetched]) -> usize {
    mails
        .iter()
        .filter(|m| {
            !common::header(&m.raw, "From")
                .unwrap_or_default()
                .contains(common::PRIVACY)
        })
        .count()
}
