//! Faults against the real mail stack and the real binary: SIGKILL at random moments, an SMTP
//! outage (transient and permanent failures), an IMAP restart mid-run and mid-IDLE, a
//! recreated mailbox (UIDVALIDITY change), a sender trying to use the bot as a reflector,
//! Reply-To and forged From, and what the logs give away.
//!
//! Sizes: `PRIVACY_INBOX_CRASH_MAILS` (CI default 200; full size 1000) and
//! `PRIVACY_INBOX_CRASH_ROUNDS` (default 20; full size 50); `PRIVACY_INBOX_CRASH_SEED` replays
//! a run (the seed is printed).

mod common;

use common::{
    cfg_str, dated_mail, edit_config, run_once, run_once_with, scalar, store, ConfigOptions,
    MailStack,
};
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::time::Duration;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What most consumers in these tests write.
const DELETE_BODY: &str = "Please delete my account and all personal data you have about me.";

/// A "Delete my data" request from `from` with the Message-ID `<message_id>`.
fn delete_request(from: &str, message_id: &str) -> String {
    dated_mail(from, message_id, "Delete my data", "", DELETE_BODY)
}

/// APPENDs many mails over one IMAP session (much faster than one login per mail).
async fn bulk_append(stack: &MailStack, user: &str, mailbox: &str, mails: &[String]) {
    let mut s = stack.imap(user).await;
    for m in mails {
        tokio::time::timeout(Duration::from_secs(60), s.append(mailbox, None, None, m))
            .await
            .expect("APPEND timed out")
            .expect("APPEND");
    }
    let _ = s.logout().await;
}

/// Message-IDs of every message in a mailbox (for duplicate checks).
async fn message_ids(stack: &MailStack, user: &str, mailbox: &str) -> Vec<String> {
    stack
        .fetch_all(user, mailbox)
        .await
        .iter()
        .map(|raw| common::header(raw, "Message-ID").unwrap_or_default())
        .collect()
}

fn sigkill(p: &common::BinProcess) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &p.pid().to_string()])
        .status();
}

/// What a consumer in the crash test writes.
fn crash_mail(i: usize) -> (String, bool) {
    let from = format!("crash{i}@example.test");
    let mid = format!("crash-{i}@consumer.example.test");
    let m = match i % 10 {
        0..=2 => dated_mail(&from, &mid, "Please delete my account", "", DELETE_BODY),
        3..=4 => dated_mail(
            &from,
            &mid,
            "My data",
            "",
            "I would like to get a copy of all the personal information you have about me.",
        ),
        5..=6 => dated_mail(
            &from,
            &mid,
            "Delete my data",
            "",
            "Hello,\r\n\r\nPlease erase all the personal data you hold about me.\r\n\r\nThanks",
        ),
        7 => dated_mail(
            &from,
            &mid,
            "Automatic reply: your message",
            "Auto-Submitted: auto-replied\r\n",
            "I am away until Monday. To delete your data request, write again.",
        ),
        8 => dated_mail(
            &format!("MAILER-DAEMON@crash{i}.example.test"),
            &mid,
            "Undelivered Mail Returned to Sender",
            "Return-Path: <>\r\n",
            "This is the mail system. Your message to delete my data could not be delivered.",
        ),
        _ => dated_mail(
            &from,
            &mid,
            "Newsletter",
            "List-Unsubscribe: <mailto:unsubscribe@example.test>\r\nPrecedence: bulk\r\n",
            "Our weekly news. Delete your subscription here.",
        ),
    };
    (m, i % 10 < 7)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_answers_nothing_twice() {
    let n = env_usize("PRIVACY_INBOX_CRASH_MAILS", 200);
    let rounds = env_usize("PRIVACY_INBOX_CRASH_ROUNDS", 20);
    let seed: u64 = std::env::var("PRIVACY_INBOX_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("crash test: {n} mails, {rounds} rounds, seed {seed} (PRIVACY_INBOX_CRASH_SEED)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // A generous global limit: this test is about crashes, not about the reflector guard.
    let config = stack.write_config_with(
        dir.path(),
        &ConfigOptions {
            smtp_extra: "global-per-hour = 100000",
            ..ConfigOptions::default()
        },
    );
    let mails: Vec<(String, bool)> = (0..n).map(crash_mail).collect();
    // Two thirds as a backlog, the rest arrives while the daemon is being killed.
    let backlog = n * 2 / 3;
    let all: Vec<String> = mails.iter().map(|(m, _)| m.clone()).collect();
    bulk_append(&stack, "privacy", "INBOX", &all[..backlog]).await;
    let rest = &all[backlog..];
    let per_round = rest.len().div_ceil(rounds.max(1));

    let mut killed = 0;
    for round in 0..rounds {
        let log = dir.path().join(format!("daemon-{round}.log"));
        let p = common::spawn_bin(&["--config", cfg_str(&config), "run"], &[], &log);
        let chunk: Vec<String> = rest
            .iter()
            .skip(round * per_round)
            .take(per_round)
            .cloned()
            .collect();
        let delay = Duration::from_millis(rng.random_range(50..1500));
        let started = tokio::time::Instant::now();
        if !chunk.is_empty() {
            bulk_append(&stack, "privacy", "INBOX", &chunk).await;
        }
        tokio::time::sleep_until(started + delay).await;
        sigkill(&p);
        killed += 1;
        drop(p);
    }
    // Let it finish: one pass picks up everything (it waits for copies of unconfirmed sends),
    // a second one records the copies that arrived during the first.
    run_once(&config);
    tokio::time::sleep(Duration::from_secs(2)).await;
    run_once(&config);

    let conn = store(dir.path());
    // Nothing lost: every mail recorded once as something other than a duplicate.
    let mut lost = 0;
    let mut wrong = Vec::new();
    for (i, (_, is_request)) in mails.iter().enumerate() {
        let mid = format!("crash-{i}@consumer.example.test");
        let rows: Vec<String> = {
            let mut st = conn
                .prepare("SELECT disposition FROM inbox WHERE message_id = ?1 AND disposition <> 'duplicate'")
                .expect("prepare");
            st.query_map([&mid], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        match rows.as_slice() {
            [] => lost += 1,
            [d] => {
                let ok = if *is_request {
                    d == "request" || d == "escalated"
                } else {
                    d == "ignored"
                };
                if !ok {
                    wrong.push(format!("{mid}: {d}"));
                }
            }
            more => wrong.push(format!("{mid} recorded {} times: {more:?}", more.len())),
        }
    }
    // Nothing answered twice, nothing unanswered: each consumer's INBOX holds exactly the
    // consumer mails the store says were sent to them, each once; requests get one ack.
    let mut duplicates = 0;
    let mut missing = 0;
    let mut unanswered = Vec::new();
    for (i, (_, is_request)) in mails.iter().enumerate() {
        let user = format!("crash{i}");
        let ids = message_ids(&stack, &user, "INBOX").await;
        let distinct: HashSet<&String> = ids.iter().collect();
        duplicates += ids.len() - distinct.len();
        let acks = ids.len();
        let expected: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE recipient = ?1 AND audience = 'consumer'",
                [format!("{user}@example.test")],
                |r| r.get(0),
            )
            .expect("count");
        let request_mail: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM inbox WHERE message_id = ?1 AND disposition = 'request'",
                [format!("crash-{i}@consumer.example.test")],
                |r| r.get(0),
            )
            .expect("count");
        if *is_request && request_mail == 1 && acks != 1 {
            unanswered.push(format!("{user}: {acks} acknowledgements"));
        }
        if !*is_request && acks != 0 {
            unanswered.push(format!("{user} (machine mail) got {acks} replies"));
        }
        if acks as i64 != expected {
            missing += 1;
            unanswered.push(format!("{user}: {acks} in INBOX, {expected} in the outbox"));
        }
    }
    let stuck = scalar(&conn, "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'");
    let requests = scalar(&conn, "SELECT COUNT(*) FROM requests");
    let acked = scalar(
        &conn,
        "SELECT COUNT(*) FROM inbox WHERE disposition = 'request'",
    );
    eprintln!(
        "crash test figures: seed {seed}, rounds survived {killed}, mails {n}, requests {requests} \
         ({acked} acknowledged), lost {lost}, duplicates {duplicates}, missing replies {missing}, \
         outbox rows not sent {stuck}"
    );
    assert_eq!(killed, rounds);
    assert_eq!(lost, 0, "mails lost");
    assert!(wrong.is_empty(), "wrong dispositions: {wrong:#?}");
    assert_eq!(duplicates, 0, "duplicate replies");
    assert!(unanswered.is_empty(), "{unanswered:#?}");
    assert_eq!(stuck, 0, "every outbox row sent");
    assert!(
        acked as usize >= n * 6 / 10,
        "most requests acknowledged: {acked} of {n}"
    );
    assert_eq!(stack.count("privacy", "INBOX").await, 0, "INBOX emptied");
}

/// Consumer outbox rows: (status, attempts, created_at, next_attempt_at, last_error).
fn outbox_rows(conn: &rusqlite::Connection) -> Vec<(String, i64, String, String, String)> {
    let mut st = conn
        .prepare("SELECT status, attempts, created_at, next_attempt_at, last_error FROM outbox WHERE audience = 'consumer' ORDER BY id")
        .expect("prepare");
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn secs_between(a: &str, b: &str) -> i64 {
    let a = chrono::DateTime::parse_from_rfc3339(a).expect("time");
    let b = chrono::DateTime::parse_from_rfc3339(b).expect("time");
    (b - a).num_seconds()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_outage_defers_with_backoff_then_delivers_once_and_a_refusal_goes_to_staff() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let users: Vec<String> = (0..6).map(|i| format!("out{i}")).collect();
    let first: Vec<String> = users[..3]
        .iter()
        .map(|u| {
            delete_request(
                &format!("{u}@example.test"),
                &format!("{u}@consumer.example.test"),
            )
        })
        .collect();
    bulk_append(&stack, "privacy", "INBOX", &first).await;

    // Postfix goes down while the daemon runs; mail keeps arriving over IMAP.
    stack.stop_smtp();
    let log = dir.path().join("daemon.log");
    let mut p = common::spawn_bin(&["--config", cfg_str(&config), "run"], &[], &log);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later: Vec<String> = users[3..]
        .iter()
        .map(|u| {
            dated_mail(
                &format!("{u}@example.test"),
                &format!("{u}@consumer.example.test"),
                "My data",
                "",
                "I would like to get a copy of all the personal information you have about me.",
            )
        })
        .collect();
    bulk_append(&stack, "privacy", "INBOX", &later).await;
    // Wait until the daemon tried (and deferred) the later ones too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // The daemon creates the store: until then the query fails.
        let n: i64 = store(dir.path())
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE attempts >= 1 AND status = 'queued' AND audience = 'consumer'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        if n >= 6 || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    p.terminate(Duration::from_secs(30));
    let text = p.log_text();
    assert!(text.contains("Send deferred"), "{text}");

    let conn = store(dir.path());
    let rows = outbox_rows(&conn);
    let consumer_rows = scalar(
        &conn,
        "SELECT COUNT(*) FROM outbox WHERE audience = 'consumer'",
    );
    assert_eq!(consumer_rows, 6, "{rows:#?}");
    // Transient (connection refused): queued again, 30 s ± 20 % later, jittered.
    for (status, attempts, _created, _next, err) in &rows {
        assert_eq!(status, "queued", "{rows:#?}");
        assert_eq!(*attempts, 1, "{rows:#?}");
        assert!(!err.is_empty(), "the error is recorded");
    }
    // The attempt time is not stored; the retry time minus the queue time bounds it.
    for (_, _, created, next, _) in &rows {
        let gap = secs_between(created, next);
        assert!((20..=40).contains(&gap), "first retry {gap} s later");
    }

    // A second attempt, one minute on (fixed clock): the spacing doubles. Whole seconds, as
    // the store keeps them: with a fraction, a 48 s backoff read back as 47 s.
    let t1 = (chrono::Utc::now() + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    run_once_with(&config, &[("PRIVACY_INBOX_NOW", &t1)]);
    let rows2 = outbox_rows(&conn);
    for (status, attempts, _, next, _) in &rows2 {
        assert_eq!((status.as_str(), *attempts), ("queued", 2), "{rows2:#?}");
        let gap = secs_between(&t1, next);
        assert!((48..=72).contains(&gap), "second retry {gap} s after it");
    }
    let distinct: HashSet<&String> = rows2.iter().map(|r| &r.3).collect();
    eprintln!(
        "smtp outage: retry gaps after attempt 1: {:?}; after attempt 2: {:?}",
        rows.iter()
            .map(|r| secs_between(&r.2, &r.3))
            .collect::<Vec<_>>(),
        rows2
            .iter()
            .map(|r| secs_between(&t1, &r.3))
            .collect::<Vec<_>>()
    );
    assert!(distinct.len() > 1, "retries are jittered, not in lockstep");

    // Postfix is back: everything queued goes out exactly once.
    stack.start_smtp();
    let t2 = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    run_once_with(&config, &[("PRIVACY_INBOX_NOW", &t2)]);
    for u in &users {
        stack.wait_for(u, "INBOX", 1, common::WAIT).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    run_once_with(&config, &[("PRIVACY_INBOX_NOW", &t2)]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for u in &users {
        assert_eq!(stack.count(u, "INBOX").await, 1, "{u}: exactly one");
    }
    assert_eq!(
        scalar(&conn, "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'"),
        0
    );

    // Permanent: a consumer in another domain (the stack refuses relaying with a 5xx).
    bulk_append(
        &stack,
        "privacy",
        "INBOX",
        &[delete_request(
            "stranger@elsewhere.invalid",
            "perm-1@elsewhere.invalid",
        )],
    )
    .await;
    let err = run_once_with(&config, &[("PRIVACY_INBOX_NOW", &t2)]);
    assert!(err.contains("Send failed permanently"), "{err}");
    let (status, last_error): (String, String) = conn
        .query_row(
            "SELECT status, last_error FROM outbox WHERE recipient = 'stranger@elsewhere.invalid'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(status, "failed", "{last_error}");
    assert!(last_error.contains("permanent"), "{last_error}");
    let notice = stack
        .wait_for_subject("staff", "Could not deliver a reply", common::WAIT)
        .await;
    assert!(notice.contains("stranger@elsewhere.invalid"), "{notice}");
    let escalated = scalar(
        &conn,
        "SELECT COUNT(*) FROM requests WHERE requester = 'stranger@elsewhere.invalid' AND escalated = 1",
    );
    assert_eq!(escalated, 1, "the request is flagged for staff");
    // The failure is not retried.
    run_once_with(&config, &[("PRIVACY_INBOX_NOW", &t2)]);
    let attempts = scalar(
        &conn,
        "SELECT attempts FROM outbox WHERE recipient = 'stranger@elsewhere.invalid'",
    );
    assert_eq!(attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_restarts_mid_idle_and_mid_run_are_survived() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let log = dir.path().join("daemon.log");
    let mut p = common::spawn_bin(&["--config", cfg_str(&config), "run"], &[], &log);
    let ask = |u: &str| {
        delete_request(
            &format!("{u}@example.test"),
            &format!("{u}@consumer.example.test"),
        )
    };
    // The daemon is up and idle.
    bulk_append(&stack, "privacy", "INBOX", &[ask("idle0")]).await;
    stack.wait_for("idle0", "INBOX", 1, common::WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Mid-IDLE: Dovecot restarts, mail arrives afterwards.
    stack.restart_imap();
    bulk_append(&stack, "privacy", "INBOX", &[ask("idle1")]).await;
    stack
        .wait_for("idle1", "INBOX", 1, Duration::from_secs(40))
        .await;

    // Mid-run: a batch arrives and Dovecot restarts while it is being worked on.
    let batch: Vec<String> = (0..60).map(|i| ask(&format!("mid{i}"))).collect();
    bulk_append(&stack, "privacy", "INBOX", &batch).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack.restart_imap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for i in 0..60 {
        let u = format!("mid{i}");
        while stack.count(&u, "INBOX").await < 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{u} not answered; daemon log:\n{}",
                p.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let status = p.terminate(Duration::from_secs(30));
    let text = p.log_text();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("reconnecting"),
        "the daemon noticed the outage: {text}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    for u in ["idle0", "idle1"]
        .into_iter()
        .map(String::from)
        .chain((0..60).map(|i| format!("mid{i}")))
    {
        assert_eq!(stack.count(&u, "INBOX").await, 1, "{u}");
    }
    let reconnects = text.matches("Mail loop failed").count();
    if std::env::var_os("PRIVACY_INBOX_SHOW_LOG").is_some() {
        eprintln!("{text}");
    }
    eprintln!("imap outage: {reconnects} reconnects logged, 62 requests acknowledged once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_mailbox_with_new_uidvalidity_answers_nothing_twice() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    // Watch a mailbox that can be deleted (INBOX cannot).
    edit_config(&config, "mailbox = \"INBOX\"", "mailbox = \"Requests\"");
    stack.create_mailbox("privacy", "Requests").await;
    let mails: Vec<String> = (0..5)
        .map(|i| {
            delete_request(
                &format!("uv{i}@example.test"),
                &format!("uv-{i}@consumer.example.test"),
            )
        })
        .collect();
    bulk_append(&stack, "privacy", "Requests", &mails[..3]).await;
    run_once(&config);
    for i in 0..3 {
        stack
            .wait_for(&format!("uv{i}"), "INBOX", 1, common::WAIT)
            .await;
    }
    let before: i64 = scalar(
        &store(dir.path()),
        "SELECT uidvalidity FROM cursors WHERE mailbox = 'Requests'",
    );

    // The mailbox is deleted and recreated; the same mails come back, plus new ones.
    {
        let mut s = stack.imap("privacy").await;
        s.delete("Requests").await.expect("DELETE");
        s.create("Requests").await.expect("CREATE");
        let _ = s.logout().await;
    }
    bulk_append(&stack, "privacy", "Requests", &mails).await;
    run_once(&config);
    for i in 3..5 {
        stack
            .wait_for(&format!("uv{i}"), "INBOX", 1, common::WAIT)
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    run_once(&config);
    let conn = store(dir.path());
    let after: i64 = scalar(
        &conn,
        "SELECT uidvalidity FROM cursors WHERE mailbox = 'Requests'",
    );
    assert_ne!(before, after, "UIDVALIDITY changed");
    for i in 0..5 {
        assert_eq!(stack.count(&format!("uv{i}"), "INBOX").await, 1, "uv{i}");
    }
    assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM requests"), 5);
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM inbox WHERE disposition = 'duplicate'"
        ),
        3,
        "the re-appended mails are recorded as duplicates"
    );
    assert_eq!(stack.count("privacy", "Requests").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_of_500_requests_gets_a_bounded_number_of_replies_and_nothing_is_lost() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let n = 500;
    let mails: Vec<String> = (0..n)
        .map(|i| {
            delete_request(
                "flood@example.test",
                &format!("flood-{i}@consumer.example.test"),
            )
        })
        .collect();
    // A global limit too: 20 other senders against a limit of 10 an hour.
    let others: Vec<String> = (0..20)
        .map(|i| {
            delete_request(
                &format!("many{i}@example.test"),
                &format!("many-{i}@consumer.example.test"),
            )
        })
        .collect();
    bulk_append(&stack, "privacy", "INBOX", &mails).await;
    run_once(&config);
    let got = stack.wait_for("flood", "INBOX", 5, common::WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let conn = store(dir.path());
    let replies = stack.count("flood", "INBOX").await;
    let recorded = scalar(
        &conn,
        "SELECT COUNT(*) FROM inbox WHERE message_id LIKE 'flood-%'",
    );
    let suppressed = scalar(
        &conn,
        "SELECT COUNT(*) FROM events WHERE kind = 'reply_suppressed'",
    );
    eprintln!(
        "reflection: {n} requests from one sender, {replies} replies, {recorded} recorded, {suppressed} suppressed"
    );
    assert_eq!(
        replies,
        5,
        "per-recipient limit (default 5 a day): {}",
        got.len()
    );
    assert_eq!(recorded, n as i64, "every mail recorded");
    // One request per need: the same deletion asked 500 times is one request, and every
    // further mail is linked to it as a follow-up (nothing lost, one clock, one code).
    assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM requests"), 1);
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM inbox WHERE message_id LIKE 'flood-%' AND disposition = 'follow_up'"
        ),
        n as i64 - 1
    );
    assert_eq!(
        suppressed,
        n as i64 - 5,
        "each suppressed reply is in the audit log"
    );

    // The global limit, on a fresh stack and store.
    let stack = MailStack::start();
    let dir2 = tempfile::tempdir().expect("temp dir");
    let config2 = stack.write_config_with(
        dir2.path(),
        &ConfigOptions {
            smtp_extra: "global-per-hour = 10",
            ..ConfigOptions::default()
        },
    );
    bulk_append(&stack, "privacy", "INBOX", &others).await;
    run_once(&config2);
    let answered_now = || async {
        let mut answered = 0;
        for i in 0..20 {
            answered += stack.count(&format!("many{i}"), "INBOX").await;
        }
        answered
    };
    // Wait for the ten that may go out, then give an eleventh time to show up.
    let deadline = std::time::Instant::now() + common::WAIT;
    while answered_now().await < 10 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answered = answered_now().await;
    eprintln!("global limit: 20 senders, limit 10 an hour, {answered} answered");
    assert_eq!(answered, 10);
    assert_eq!(
        scalar(&store(dir2.path()), "SELECT COUNT(*) FROM requests"),
        20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_is_from_never_reply_to_and_a_forged_from_is_not_answered() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    bulk_append(
        &stack,
        "privacy",
        "INBOX",
        &[
            dated_mail(
                "alice@example.test",
                "rt-1@consumer.example.test",
                "Delete my data",
                "Reply-To: mallory@example.test\r\n",
                DELETE_BODY,
            ),
            dated_mail(
                "victim@example.test",
                "spoof-1@attacker.example.test",
                "Delete my data",
                "Authentication-Results: mx.example.test; spf=fail smtp.mailfrom=example.test; dmarc=fail header.from=example.test\r\n",
                DELETE_BODY,
            ),
        ],
    )
    .await;
    run_once(&config);
    let got = stack.wait_for("alice", "INBOX", 1, common::WAIT).await;
    assert_eq!(
        common::header(&got[0], "To").as_deref(),
        Some("alice@example.test")
    );
    // Staff may get the daily digest as well: wait for the spoofing escalation itself.
    let staff = stack
        .wait_until(
            "staff",
            "INBOX",
            "the spoofing escalation",
            common::WAIT,
            |mails| {
                mails
                    .iter()
                    .any(|m| String::from_utf8_lossy(m).contains("spoofing"))
            },
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.count("alice", "INBOX").await, 1);
    assert_eq!(
        stack.count("mallory", "INBOX").await,
        0,
        "Reply-To is not who asked"
    );
    assert_eq!(
        stack.count("victim", "INBOX").await,
        0,
        "no verification mail to a forged From"
    );
    let conn = store(dir.path());
    let (status, escalated, reason): (String, i64, String) = conn
        .query_row(
            "SELECT status, escalated, escalation_reason FROM requests WHERE requester = 'victim@example.test'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the forged request is recorded");
    assert_eq!(escalated, 1, "{status} {reason}");
    assert!(reason.contains("spoofing"), "{reason}");
    let staff_text: Vec<String> = staff
        .iter()
        .chain(stack.fetch_all("staff", "INBOX").await.iter())
        .map(|r| String::from_utf8_lossy(r).to_string())
        .collect();
    assert!(
        staff_text.iter().any(|m| m.contains("spoofing")),
        "staff are told"
    );
    let requester: String = conn
        .query_row(
            "SELECT requester FROM requests WHERE origin_message_id = 'rt-1@consumer.example.test'",
            [],
            |r| r.get(0),
        )
        .expect("request");
    assert_eq!(requester, "alice@example.test");
}

/// Every string a log must not contain: consumer addresses, body text, the password.
fn assert_clean_log(stderr: &str, forbidden: &[&str]) {
    for f in forbidden {
        assert!(
            !stderr
                .to_ascii_lowercase()
                .contains(&f.to_ascii_lowercase()),
            "`{f}` appears in the info-level log:\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_logs_hold_no_addresses_bodies_or_secrets() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let body =
        "Zebra-quartz-marmalade: please delete my account and all personal data you have about me.";
    bulk_append(
        &stack,
        "privacy",
        "INBOX",
        &[
            dated_mail(
                "logcheck.person@example.test",
                "log-1@c.example.test",
                "Delete my data",
                "",
                body,
            ),
            dated_mail(
                "logcheck.far@elsewhere.invalid",
                "log-2@c.example.test",
                "Delete my data",
                "",
                body,
            ),
            "garbage that is no mail, from logcheck.garbage@example.test\r\n".to_string(),
        ],
    )
    .await;
    let out = common::run_bin(
        &[
            "--config",
            cfg_str(&config),
            "--log-format",
            "json",
            "run",
            "--once",
        ],
        &[("PRIVACY_INBOX_LOG", "info")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    // The log is JSON and says something useful.
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(stderr.contains("Pass complete"), "{stderr}");
    assert!(stderr.contains("Send failed permanently"), "{stderr}");
    assert!(!lines.is_empty());
    assert_clean_log(
        &stderr,
        &[
            "logcheck.person@",
            "logcheck.far@",
            "logcheck.garbage@",
            "Zebra-quartz",
            "password",
            common::PASSWORD,
        ],
    );
    // A daemon run (reconnect errors included) is as careful.
    let log = dir.path().join("daemon.log");
    let mut p = common::spawn_bin(
        &["--config", cfg_str(&config), "--log-format", "json", "run"],
        &[("PRIVACY_INBOX_LOG", "info")],
        &log,
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    stack.restart_imap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    p.terminate(Duration::from_secs(30));
    assert_clean_log(
        &p.log_text(),
        &[
            "logcheck.person@",
            "logcheck.far@",
            "Zebra-quartz",
            common::PASSWORD,
        ],
    );
}
