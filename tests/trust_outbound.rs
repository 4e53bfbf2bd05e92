//! Issue 18 ("Trust"), the outbound side, on the real mail stack: two daemons on one store
//! never mail twice (row claims, the single-instance lock); a refused Bcc copy does not cost
//! the consumer their reply; the reply cap counts mailboxes, not spellings; names and
//! subjects from mail reach every mail as one clean, capped line; a backlog cannot flood
//! staff; a mail another client moved first is skipped quietly.

mod common;

use common::{
    cfg_str, dated_mail, header, run_bin, run_once, run_once_with, scalar, spawn_bin, store,
    ConfigOptions, MailStack, PRIVACY,
};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const DELETE_BODY: &str =
    "Hello,\r\n\r\nPlease delete all the personal data you hold about me.\r\n\r\nThanks";

/// APPENDs many mails over one IMAP session.
async fn bulk_append(stack: &MailStack, user: &str, mails: &[String]) {
    let mut s = stack.imap(user).await;
    for m in mails {
        tokio::time::timeout(Duration::from_secs(60), s.append("INBOX", None, None, m))
            .await
            .expect("APPEND timed out")
            .expect("APPEND");
    }
    let _ = s.logout().await;
}

/// Waits until the lock file of the store in `dir` names `pid` (it stays behind, with the
/// last holder's PID, after a process exits).
fn wait_for_lock(dir: &Path, pid: u32) {
    let lock = dir.join("privacy-inbox.sqlite3.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&lock).unwrap_or_default();
        // The daemon takes the lock, then opens (creates) the store; read commands need it.
        if text.trim() == pid.to_string() && dir.join("privacy-inbox.sqlite3").exists() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never named PID {pid}",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How many mails in `user`'s INBOX carry each Message-ID.
async fn ids_in_inbox(stack: &MailStack, user: &str) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for m in stack.fetch_all(user, "INBOX").await {
        *n.entry(header(&m, "Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_racing_on_one_store_send_each_acknowledgement_once() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // One SMTP connection each, so each process takes a while over its rows and they overlap.
    let config = stack.write_config_with(
        dir.path(),
        &ConfigOptions {
            smtp_extra: "connections = 1",
            ..ConfigOptions::default()
        },
    );
    let n = 30;
    let users: Vec<String> = (0..n).map(|i| format!("race{i}")).collect();
    let mails: Vec<String> = users
        .iter()
        .map(|u| {
            dated_mail(
                &format!("{u}@example.test"),
                &format!("{u}@consumer.example.test"),
                "Delete my data",
                "",
                DELETE_BODY,
            )
        })
        .collect();
    bulk_append(&stack, "privacy", &mails).await;
    // Recorded and queued while Postfix is down: 30 acknowledgements wait in the outbox.
    stack.stop_smtp();
    run_once(&config);
    let conn = store(dir.path());
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND audience = 'consumer'"
        ),
        n
    );
    stack.start_smtp();

    // Two `run --once` on the same store, at a time when every row is due. The second
    // would refuse to start while the first holds the lock, so its file is deleted (what a
    // careless admin or a cleanup script does): only the row claims stand between them.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let env = [("PRIVACY_INBOX_NOW", later.as_str())];
    let args = ["--config", cfg_str(&config), "run", "--once"];
    let mut a = spawn_bin(&args, &env, &dir.path().join("a.log"));
    wait_for_lock(dir.path(), a.pid());
    std::fs::remove_file(dir.path().join("privacy-inbox.sqlite3.lock")).expect("remove the lock");
    let mut b = spawn_bin(&args, &env, &dir.path().join("b.log"));
    // The second one takes a lock of its own while the first still runs.
    wait_for_lock(dir.path(), b.pid());
    assert!(
        a.wait_timeout(Duration::ZERO).is_none(),
        "the first one still runs: {}",
        a.log_text()
    );
    let a_done = a
        .wait_timeout(Duration::from_secs(90))
        .expect("first run ends");
    let b_done = b
        .wait_timeout(Duration::from_secs(90))
        .expect("second run ends");
    assert!(a_done.success(), "{}", a.log_text());
    assert!(b_done.success(), "{}", b.log_text());

    for u in &users {
        stack.wait_for(u, "INBOX", 1, common::WAIT).await;
    }
    // Late duplicates would be in Postfix's queue for a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut twice = Vec::new();
    for u in &users {
        let ids = ids_in_inbox(&stack, u).await;
        let total: usize = ids.values().sum();
        if total != 1 {
            twice.push(format!("{u}: {ids:?}"));
        }
    }
    assert!(
        twice.is_empty(),
        "acknowledgements mailed more than once:\n{}\n--- a:\n{}\n--- b:\n{}",
        twice.join("\n"),
        a.log_text(),
        b.log_text()
    );
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND audience = 'consumer'"
        ),
        n
    );
    // They really raced: each process sent some of the rows.
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(DISTINCT claimed_by) FROM outbox WHERE audience = 'consumer'"
        ),
        2
    );
    // One failed attempt while Postfix was down, one that went out: no row sent twice.
    assert_eq!(
        scalar(
            &conn,
            "SELECT MAX(attempts) FROM outbox WHERE audience = 'consumer'"
        ),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_store_refuses_to_start_and_names_the_holder() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let mut first = spawn_bin(
        &["--config", cfg_str(&config), "run"],
        &[],
        &dir.path().join("first.log"),
    );
    wait_for_lock(dir.path(), first.pid());
    let pid = first.pid();
    let store_path = dir.path().join("privacy-inbox.sqlite3");
    for args in [&["run"][..], &["run", "--once"][..]] {
        let mut all = vec!["--config", cfg_str(&config)];
        all.extend_from_slice(args);
        let out = run_bin(&all, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} started beside a running daemon: {err}"
        );
        assert!(
            err.contains(&store_path.display().to_string()) && err.contains(&format!("PID {pid}")),
            "{args:?}: the refusal names the store and the PID holding it: {err}"
        );
    }
    // Staff and read commands do not need the lock.
    let out = common::cli(&config, &["requests", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Stopped once it is up (its signal handler in place), it exits cleanly.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !first.log_text().contains("Connected to IMAP") {
        assert!(Instant::now() < deadline, "{}", first.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = first.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", first.log_text());
    // Once it is gone, the next one starts.
    run_once(&config);
}

/// Makes the stack's Postfix refuse `address` at RCPT with `reply` (a
/// `check_recipient_access` map), and waits until it does.
async fn refuse_recipient(stack: &MailStack, address: &str, reply: &str) {
    let pf = stack.state_dir().join("postfix");
    let map = pf.join("refuse");
    std::fs::write(&map, format!("{address} {reply}\n")).expect("write the access map");
    let main_cf = pf.join("main.cf");
    let mut text = std::fs::read_to_string(&main_cf).expect("read main.cf");
    text = text.replace(
        "smtpd_recipient_restrictions =\n",
        &format!(
            "smtpd_recipient_restrictions = check_recipient_access texthash:{}\n",
            map.display()
        ),
    );
    std::fs::write(&main_cf, text).expect("write main.cf");
    // Postfix naps while a config file is younger than ~2 s: backdate them.
    let back = (chrono::Utc::now() - chrono::Duration::seconds(60)).timestamp();
    for f in [&main_cf, &map] {
        let ok = std::process::Command::new("touch")
            .args(["-d", &format!("@{back}")])
            .arg(f)
            .status()
            .expect("touch");
        assert!(ok.success());
    }
    let ok = std::process::Command::new("postfix")
        .arg("-c")
        .arg(&pf)
        .arg("reload")
        .status()
        .expect("postfix reload");
    assert!(ok.success(), "postfix reload");
    // Marked automatic: a probe delivered before the reload took effect lands in the bot's
    // mailbox, and must be ignored there, not opened (and escalated) as a request.
    let probe = format!(
        "Auto-Submitted: auto-generated\r\n{}",
        common::mail("probe@example.test", address, "probe", "probe")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match stack
            .try_send(probe.as_bytes(), "probe@example.test", &[address])
            .await
        {
            Err(e) if format!("{e:#}").contains(&reply[..3]) => return,
            _ if Instant::now() > deadline => panic!("Postfix does not refuse {address}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bcc_copy_does_not_cost_the_consumer_their_reply() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    // Our own copy mailbox is full: 552 at RCPT for the copy, the consumer is fine.
    refuse_recipient(
        &stack,
        "privacy+sent@example.test",
        "552 5.2.2 Mailbox full",
    )
    .await;
    bulk_append(
        &stack,
        "privacy",
        &[dated_mail(
            "copyless1@example.test",
            "copyless-1@consumer.example.test",
            "Delete my data",
            "",
            DELETE_BODY,
        )],
    )
    .await;
    run_once(&config);
    let ack = stack.wait_for("copyless1", "INBOX", 1, common::WAIT).await;
    assert!(header(&ack[0], "Subject")
        .unwrap_or_default()
        .contains("[PRIV-"));
    let conn = store(dir.path());
    let (status, note): (String, String) = conn
        .query_row(
            "SELECT status, last_error FROM outbox WHERE recipient = 'copyless1@example.test'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the acknowledgement's row");
    assert_eq!(status, "sent", "{note}");
    assert!(note.contains("copy") && note.contains("552"), "{note}");
    // Staff learn of it, by a notice that itself goes out without the copy.
    let notice = stack
        .wait_for_subject("staff", "refuses mail", common::WAIT)
        .await;
    assert!(notice.contains("privacy+sent@example.test"), "{notice}");
    assert!(notice.contains("552"), "{notice}");
    let events = scalar(
        &conn,
        "SELECT COUNT(*) FROM events WHERE kind = 'copy_refused'",
    );
    let detail: Vec<String> = conn
        .prepare("SELECT request_id || ' ' || detail FROM events WHERE kind = 'copy_refused'")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        })
        .expect("events");
    assert_eq!(
        events, 1,
        "the request's timeline says its reply has no copy: {detail:#?}"
    );

    // A second consumer the same day: answered too, and staff are not told again.
    bulk_append(
        &stack,
        "privacy",
        &[dated_mail(
            "copyless2@example.test",
            "copyless-2@consumer.example.test",
            "Delete my data",
            "",
            DELETE_BODY,
        )],
    )
    .await;
    run_once(&config);
    stack.wait_for("copyless2", "INBOX", 1, common::WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    assert_eq!(common::with_subject(&staff, "refuses mail"), 1, "told once");
    assert_eq!(
        scalar(&conn, "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'"),
        0,
        "nothing failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plus_addresses_and_case_do_not_lift_the_reply_cap_of_one_mailbox() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let spellings = [
        "victim+{n}@example.test",
        "Victim+{n}@Example.TEST",
        "VICTIM+x{n}@example.test",
    ];
    let mails: Vec<String> = (0..40)
        .map(|n| {
            let from = spellings[n % spellings.len()].replace("{n}", &n.to_string());
            dated_mail(
                &from,
                &format!("forged-{n}@attacker.example.test"),
                "Delete my data",
                "",
                DELETE_BODY,
            )
        })
        .collect();
    bulk_append(&stack, "privacy", &mails).await;
    run_once(&config);
    let conn = store(dir.path());
    // Nothing is lost: 40 mails recorded, as one request and 39 follow-ups linked to it
    // (one mailbox asking for one thing is one need).
    assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM requests"), 1);
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM inbox WHERE disposition IN ('request', 'follow_up', 'escalated')"
        ),
        40
    );
    let cap = 5; // smtp.per-recipient-per-day, default
    let queued = scalar(
        &conn,
        "SELECT COUNT(*) FROM outbox WHERE audience = 'consumer' AND lower(recipient) LIKE 'victim%@example.test'",
    );
    assert_eq!(queued, cap, "replies queued to the victim's one mailbox");
    stack.wait_for("victim", "INBOX", 1, common::WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = stack.count("victim", "INBOX").await;
    assert!(
        got as i64 <= cap,
        "{got} acknowledgements in the victim's INBOX (cap {cap})"
    );
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM events WHERE kind = 'reply_suppressed'"
        ),
        40 - cap
    );
}

/// The decoded text body of a mail, with `\n` line ends.
fn body(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.body_text(0).map(|t| t.to_string()))
        .unwrap_or_else(|| String::from_utf8_lossy(raw).to_string())
        .replace("\r\n", "\n")
}

/// RFC 2047 (base64, UTF-8) of `text`.
fn encoded_word(text: &str) -> String {
    use base64::Engine;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_subjects_reach_consumer_and_staff_as_one_clean_capped_line() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let forged = "Jane\r\nSubject: You won a prize\r\nFrom: ceo@acme.example\u{202E}";
    let long_name = format!("Bob {}", "b".repeat(1996));
    let link_name = format!(
        "Claim your refund at https://evil.example/pay {}",
        "z".repeat(1950)
    );
    let long_subject = format!(
        "Delete my data\r\nBcc: all@example.test {}",
        "s".repeat(1990)
    );
    let mails = vec![
        // A clear request: acknowledged, with the forged name in the greeting.
        dated_mail(
            &format!("{} <crlf@example.test>", encoded_word(forged)),
            "crlf-1@consumer.example.test",
            &encoded_word(&long_subject),
            "",
            DELETE_BODY,
        ),
        dated_mail(
            &format!("{} <long@example.test>", encoded_word(&long_name)),
            "long-1@consumer.example.test",
            "Delete my data",
            "",
            DELETE_BODY,
        ),
        dated_mail(
            &format!("{} <link@example.test>", encoded_word(&link_name)),
            "link-1@consumer.example.test",
            "Delete my data",
            "",
            DELETE_BODY,
        ),
        // A question: escalated, with the forged name and subject in staff's summary.
        dated_mail(
            &format!("{} <asker@example.test>", encoded_word(forged)),
            "asker-1@consumer.example.test",
            &encoded_word(&long_subject),
            "",
            "Hello, I have a question: which companies do you share my information with?",
        ),
    ];
    bulk_append(&stack, "privacy", &mails).await;
    run_once(&config);

    let ack = stack.wait_for("crlf", "INBOX", 1, common::WAIT).await;
    let text = body(&ack[0]);
    assert!(
        text.lines()
            .any(|l| l == "Dear Jane Subject: You won a prize From: ceo@acme.example,"),
        "the forged name is one line in the greeting:\n{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("Subject:") || l.starts_with("From:")),
        "{text}"
    );
    assert!(!text.contains('\u{202E}'), "no bidi override");

    let ack = stack.wait_for("long", "INBOX", 1, common::WAIT).await;
    let text = body(&ack[0]);
    // The capped name may be wrapped to the body's width: the greeting runs to its comma.
    let greeting = text
        .split_inclusive('\n')
        .scan(false, |done, l| {
            (!*done).then(|| {
                *done = l.trim_end().ends_with(',');
                l.trim_end().to_string()
            })
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert!(greeting.starts_with("Dear Bob bbbb"), "{text}");
    assert!(
        greeting.chars().count() <= 100 + "Dear ,".len(),
        "capped: {greeting}"
    );
    assert!(!text.contains(&"b".repeat(200)), "{text}");

    let ack = stack.wait_for("link", "INBOX", 1, common::WAIT).await;
    let text = body(&ack[0]);
    assert!(
        !text.contains("evil.example") && !text.contains("zzzz"),
        "no stranger's link from our address:\n{text}"
    );
    assert!(text.starts_with("Hello,"), "{text}");

    let staff = stack
        .wait_for_subject("staff", "Needs a person", common::WAIT)
        .await;
    let raw = staff.as_bytes();
    let subject = header(raw, "Subject").unwrap_or_default();
    assert!(
        !subject.contains("Bcc:") || subject.contains("Delete my data Bcc:"),
        "{subject}"
    );
    // Staff mail is wrapped to 76 columns under the value column: a line that starts with
    // spaces goes on with the field above it. What matters is that no value starts a
    // line of its own at the left margin.
    let mut text = String::new();
    for l in body(raw).lines() {
        if l.starts_with("            ") && !text.is_empty() {
            text.pop();
            text.push(' ');
            text.push_str(l.trim_start());
        } else {
            text.push_str(l);
        }
        text.push('\n');
    }
    let from_line: Vec<&str> = text.lines().filter(|l| l.starts_with("From:")).collect();
    assert_eq!(
        from_line,
        ["From:       Jane Subject: You won a prize From: ceo@acme.example <asker@example.test>"],
        "one From line, the name folded into it:\n{text}"
    );
    let subject_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("Subject:")).collect();
    assert_eq!(subject_lines.len(), 1, "{text}");
    assert!(
        subject_lines[0].starts_with("Subject:    Delete my data Bcc: all@example.test sss"),
        "{text}"
    );
    assert!(
        subject_lines[0].chars().count() <= "Subject:    ".len() + 200,
        "{}",
        subject_lines[0]
    );
    assert!(!text.lines().any(|l| l.starts_with("Bcc:")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_unclear_mail_gives_staff_the_budget_and_one_summary() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    common::edit_config(
        &config,
        "escalation-to = [\"staff@example.test\"]",
        "escalation-to = [\"staff@example.test\"]\nmax-mails-per-hour = 5",
    );
    let n = 60;
    let mails: Vec<String> = (0..n)
        .map(|i| {
            dated_mail(
                &format!("asker{i}@example.test"),
                &format!("asker-{i}@consumer.example.test"),
                "A question",
                "",
                "Hello, I have a question: which companies do you share my information with?",
            )
        })
        .collect();
    bulk_append(&stack, "privacy", &mails).await;
    run_once(&config);
    let conn = store(dir.path());
    // Nothing is lost: every request recorded and flagged.
    assert_eq!(
        scalar(&conn, "SELECT COUNT(*) FROM requests WHERE escalated = 1"),
        n
    );
    let summary = stack
        .wait_for_subject("staff", "held back", common::WAIT)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    let escalations = common::with_subject(&staff, "Needs a person");
    assert_eq!(escalations, 5, "the budget, one by one");
    assert_eq!(
        common::with_subject(&staff, "held back"),
        1,
        "then one summary"
    );
    assert!(
        staff.len() <= 7,
        "budget + summary + digest: {}",
        staff.len()
    );
    let listed = body(summary.as_bytes())
        .lines()
        .filter(|l| l.trim_start().starts_with("PRIV-") && l.contains("  escalation: "))
        .count();
    assert_eq!(
        listed as i64,
        n - 5,
        "the summary lists every held escalation:\n{summary}"
    );
    // A later pass within the hour sends nothing new; an hour later, nothing is left to say.
    run_once(&config);
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    run_once_with(&config, &[("PRIVACY_INBOX_NOW", &later)]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    assert_eq!(common::with_subject(&staff, "held back"), 1);
    assert_eq!(common::with_subject(&staff, "Needs a person"), 5);
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM staff_held WHERE summarized_at IS NULL"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_another_client_moved_first_is_skipped_quietly_not_recorded_empty() {
    use privacy_inbox::imap;
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let mails: Vec<String> = (0..4)
        .map(|i| {
            dated_mail(
                &format!("shared{i}@example.test"),
                &format!("shared-{i}@consumer.example.test"),
                "Delete my data",
                "",
                DELETE_BODY,
            )
        })
        .collect();
    bulk_append(&stack, "privacy", &mails).await;
    stack.create_mailbox("privacy", "Elsewhere").await;
    let settings = privacy_inbox::config::load(&config).expect("config");
    let app = privacy_inbox::daemon::App::new(
        settings,
        privacy_inbox::clock::Clock::from_env().expect("clock"),
    )
    .expect("app");
    let mut s = imap::open(&app.settings.imap).await.expect("IMAP");
    let sel = imap::select(&mut s, "INBOX").await.expect("SELECT");
    let listed = imap::list_new(&mut s, 0).await.expect("list");
    assert_eq!(listed.len(), 4);
    // A person (or a second bot) moves two of them away between our listing and our fetch:
    // Dovecot answers `BODY[] NIL` for them and `OK [EXPUNGEISSUED]`.
    let mut other = stack.imap("privacy").await;
    other.select("INBOX").await.expect("select");
    other.uid_mv("1:2", "Elsewhere").await.expect("move");
    let uids: Vec<u32> = listed.iter().map(|m| m.uid).collect();
    let fetched = imap::fetch(&mut s, &uids, false)
        .await
        .expect("the fetch goes on");
    assert_eq!(
        fetched.iter().map(|f| f.uid).collect::<Vec<_>>(),
        vec![3, 4],
        "only the mails still there; no empty stand-ins for the moved ones"
    );
    let stats = {
        let ctx = app.ctx();
        let mut st = privacy_inbox::store::lock(&app.store);
        privacy_inbox::intake::record_batch(&ctx, &mut st, "INBOX", sel.uidvalidity, &fetched)
            .expect("record")
    };
    assert_eq!((stats.requests, stats.quarantined), (2, 0));
    // And one more between our fetch and our move: a server without MOVE gets `UID COPY`,
    // which Dovecot refuses whole (`NO [EXPUNGEISSUED]`, nothing copied).
    other.uid_mv("4", "Elsewhere").await.expect("move");
    imap::move_uids(&mut s, &uids, "Processed", false)
        .await
        .expect("moving what is left is no error");
    imap::logout(s).await;
    let processed = stack.fetch_all("privacy", "Processed").await;
    assert_eq!(
        processed
            .iter()
            .map(|m| header(m, "Message-ID").unwrap_or_default())
            .collect::<Vec<_>>(),
        ["<shared-2@consumer.example.test>"],
        "the one mail left was moved, none lost"
    );
    assert_eq!(stack.count("privacy", "INBOX").await, 0);
    assert_eq!(stack.count("privacy", "Elsewhere").await, 3);
    let conn = store(dir.path());
    assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM inbox"), 2);
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE audience = 'staff'"
        ),
        0,
        "no quarantine notice about a mail that is not there"
    );
    let _ = PRIVACY;
}
