//! Trust boundaries on the real mail stack, each test named after what it breaks: a sender
//! address that stops the mailbox, forged staff commands, a disavowal or an echo bot that
//! verifies a request, a reused Message-ID that silences another sender, a reply without the
//! code that verifies.

mod common;

use common::{first_mail, header, reply, request, requests, run_once, MailStack, PRIVACY, STAFF};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn events(config: &Path, id: &str) -> Vec<serde_json::Value> {
    let out = common::cli(config, &["requests", "show", id, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["events"].as_array().cloned().unwrap_or_default()
}

fn has_event(config: &Path, id: &str, kind: &str) -> bool {
    events(config, id).iter().any(|e| e["kind"] == kind)
}

fn request_by_id(config: &Path, id: &str) -> serde_json::Value {
    requests(config)
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == id).cloned())
        .unwrap_or_else(|| panic!("no request {id}"))
}

/// The newest mail in `user`'s INBOX whose subject contains `needle`, once there is one.
async fn mail_with(stack: &MailStack, user: &str, needle: &str) -> String {
    stack.wait_for_subject(user, needle, WAIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_address_the_mailer_refuses_does_not_block_the_mailbox() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let long = format!("{}@example.test", "l".repeat(70));
    let senders = [
        ("a..b@example.test", "bad-1"),
        (".ab@example.test", "bad-2"),
        (long.as_str(), "bad-3"),
        ("\"john smith\"@example.test", "quoted"),
        ("consumer@example.test", "good"),
    ];
    let mut ids = Vec::new();
    for (from, tag) in senders {
        let id = format!("{tag}-{}@c.example.test", common::unique());
        stack
            .send(
                first_mail(
                    from,
                    &id,
                    "Delete my data",
                    "Please delete all my personal data.",
                ),
                "sender@example.test",
                PRIVACY,
            )
            .await;
        ids.push(format!("<{id}>"));
    }
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    stack.wait_for_ids("privacy", "INBOX", &id_refs, WAIT).await;
    // Before the fix, composing the first acknowledgement failed, the whole batch rolled
    // back and `run --once` exited 1, for ever.
    run_once(&config);

    let list = requests(&config);
    let all = list.as_array().expect("array");
    let conn = common::store(dir.path());
    let rows: Vec<String> = conn
        .prepare("SELECT sender || ' | ' || disposition || ' | ' || reason FROM inbox")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        })
        .expect("inbox rows");
    assert_eq!(all.len(), 5, "every mail opened a request: {rows:#?}");
    assert!(!rows.iter().any(|r| r.contains("quarantined")), "{rows:#?}");
    // Over RFC 5321's 64-character local part: no reply can be built; set aside for staff.
    let r = all
        .iter()
        .find(|r| r["requester"] == long.as_str())
        .unwrap_or_else(|| panic!("no request from the long address: {rows:#?}"));
    assert_eq!(r["escalated"], true, "{r}");
    assert_eq!(r["status"], "received", "no acknowledgement: {r}");
    assert!(
        r["escalation_reason"]
            .as_str()
            .is_some_and(|s| s.contains("cannot be replied to")),
        "{r}"
    );
    let good = request(&config, "consumer@example.test");
    assert_eq!(good["status"], "awaiting_verification", "{good}");
    let ack = mail_with(&stack, "consumer", "privacy request").await;
    assert!(header(&ack, "Subject").is_some_and(|s| s.contains("VERIFY-")));
    // Local parts that must be quoted to be valid (the parser reads `a..b@` as `"a..b"@`)
    // are real addresses: they get their acknowledgement, delivered.
    for quoted in [
        "\"a..b\"@example.test",
        "\".ab\"@example.test",
        "\"john smith\"@example.test",
    ] {
        let r = all
            .iter()
            .find(|r| r["requester"] == quoted)
            .unwrap_or_else(|| panic!("no request from {quoted}: {rows:#?}"));
        assert_eq!(r["status"], "awaiting_verification", "{r}");
        // The local stack's Dovecot has no user with a space in its name, so the reply to
        // `"john smith"@` comes back as a bounce; `run --once` takes that report in before
        // it ends, and flags the request for it. Never for anything else.
        assert!(
            r["escalated"] == false
                || r["escalation_reason"] == "Our acknowledgement mail could not be delivered",
            "{r}"
        );
    }
    // Accepted by the server: sent, or sent and bounced afterwards.
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE purpose = 'acknowledgement' AND status IN ('sent', 'bounced')"
        ),
        4
    );
    // Staff hear of the request that got no acknowledgement.
    let staff = stack
        .wait_until("staff", "INBOX", "the escalation", WAIT, |m| {
            common::with_subject(m, "cannot be replied to") >= 1
        })
        .await;
    assert_eq!(common::with_subject(&staff, "cannot be replied to"), 1);
}

/// Opens an escalated request (a question) and returns (its ID, the escalation staff got).
async fn escalated_request(stack: &MailStack, config: &Path, from: &str) -> (String, String) {
    let id = format!("q-{}@c.example.test", common::unique());
    stack
        .send(
            first_mail(
                from,
                &id,
                "A question",
                "How long do you keep call recordings, and who can listen to them?",
            ),
            from,
            PRIVACY,
        )
        .await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&format!("<{id}>")], WAIT)
        .await;
    run_once(config);
    let r = request(config, from);
    assert_eq!(r["escalated"], true, "{r}");
    let rid = r["id"].as_str().expect("id").to_string();
    let esc = mail_with(stack, "staff", &rid).await;
    (rid, esc)
}

/// `from` sends `raw` (a staff command) and the bot makes one pass.
async fn deliver(stack: &MailStack, config: &Path, raw: String, from: &str, msg_id: &str) {
    stack.send(raw, from, PRIVACY).await;
    stack
        .wait_for_ids("privacy", "INBOX", &[msg_id], WAIT)
        .await;
    run_once(config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_staff_commands_are_refused_and_escalated() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let (rid, esc) = escalated_request(&stack, &config, "consumer@example.test").await;
    let (other, other_esc) = escalated_request(&stack, &config, "consumer2@example.test").await;

    // Our staff mail carries the request's staff token in its Reply-To and subject.
    let reply_to = header(&esc, "Reply-To").unwrap_or_default();
    assert!(reply_to.contains("privacy+staff-"), "{reply_to}");
    assert!(header(&esc, "Subject").is_some_and(|s| s.contains("STAFF-")));

    // 1: From: staff@ and the request's tag, typed by anyone: refused.
    let forged_id = format!("forged-{}@evil.example.test", common::unique());
    let forged = format!(
        "From: {STAFF}\r\nTo: {PRIVACY}\r\nSubject: Re: [{rid}] Escalation\r\n\
         Message-ID: <{forged_id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
         /deny other we do not hold your data\r\n"
    );
    deliver(
        &stack,
        &config,
        forged,
        "attacker@example.test",
        &format!("<{forged_id}>"),
    )
    .await;
    // 2: a real reply to *another* request's staff mail, retargeted at this one: refused.
    let retarget_id = format!("retarget-{}@evil.example.test", common::unique());
    let (raw, _) = reply(&other_esc, STAFF, &retarget_id, "", "/complete");
    let raw = raw.replace(&format!("[{other}]"), &format!("[{rid}]"));
    // Thread it to this request by its subject tag only.
    let raw = raw
        .lines()
        .filter(|l| !l.starts_with("In-Reply-To:") && !l.starts_with("References:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    deliver(&stack, &config, raw, STAFF, &format!("<{retarget_id}>")).await;

    let r = request_by_id(&config, &rid);
    assert_eq!(r["status"], "received", "nothing was obeyed: {r}");
    let refused: Vec<serde_json::Value> = events(&config, &rid)
        .into_iter()
        .filter(|e| e["kind"] == "staff_command_refused")
        .collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert!(refused.iter().all(|e| e["detail"]
        .as_str()
        .is_some_and(|d| d.contains("staff token"))));
    // Staff are told, in the request's thread.
    let staff = stack
        .wait_until("staff", "INBOX", "the refusal escalations", WAIT, |m| {
            common::with_subject(m, "does not prove who sent it") >= 2
        })
        .await;
    assert_eq!(
        common::with_subject(&staff, "does not prove who sent it"),
        2
    );
    assert_eq!(request_by_id(&config, &other)["status"], "received");

    // 3: the real staff reply, with the token, is obeyed.
    let real_id = format!("real-{}@staff.example.test", common::unique());
    let (raw, _) = reply(&esc, STAFF, &real_id, "", "/note called the consumer");
    deliver(&stack, &config, raw, STAFF, &format!("<{real_id}>")).await;
    assert!(events(&config, &rid)
        .iter()
        .any(|e| e["kind"] == "note" && e["detail"] == "called the consumer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_commands_need_our_own_servers_authentication_results_when_configured() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    common::edit_config(
        &config,
        "processed-mailbox = \"Processed\"",
        "processed-mailbox = \"Processed\"\nauthserv-id = \"mx.example.test\"",
    );
    let (rid, esc) = escalated_request(&stack, &config, "consumer@example.test").await;

    // With the token, but a pass written by the sender below its own headers: not ours.
    let a = format!("a-{}@staff.example.test", common::unique());
    let (raw, _) = reply(
        &esc,
        STAFF,
        &a,
        "Authentication-Results: mx.example.test; dmarc=pass\r\n",
        "/note first",
    );
    deliver(&stack, &config, raw, STAFF, &format!("<{a}>")).await;
    // Our server's verdict at the top of the mail says DMARC failed: refused.
    let b = format!("b-{}@staff.example.test", common::unique());
    let (raw, _) = reply(&esc, STAFF, &b, "", "/note second");
    let raw = format!(
        "Authentication-Results: mx.example.test; dmarc=fail header.from=example.test\r\n{raw}"
    );
    deliver(&stack, &config, raw, STAFF, &format!("<{b}>")).await;
    // Our server's pass at the top: obeyed.
    let c = format!("c-{}@staff.example.test", common::unique());
    let (raw, _) = reply(&esc, STAFF, &c, "", "/note third");
    let raw = format!(
        "Authentication-Results: mx.example.test; spf=pass; dkim=pass; dmarc=pass\r\n{raw}"
    );
    deliver(&stack, &config, raw, STAFF, &format!("<{c}>")).await;

    let ev = events(&config, &rid);
    let notes: Vec<&str> = ev
        .iter()
        .filter(|e| e["kind"] == "note")
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(notes, vec!["third"], "{ev:#?}");
    let refused: Vec<&str> = ev
        .iter()
        .filter(|e| e["kind"] == "staff_command_refused")
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert!(
        refused[0].contains("No Authentication-Results from our server"),
        "{refused:#?}"
    );
    assert!(refused[1].contains("dmarc=fail"), "{refused:#?}");
}

/// A consumer's deletion request, its acknowledgement (with the code) and the request ID.
async fn acknowledged(stack: &MailStack, config: &Path, user: &str) -> (String, String) {
    let from = format!("{user}@example.test");
    let id = format!("d-{}@c.example.test", common::unique());
    stack
        .send(
            first_mail(
                &from,
                &id,
                "Delete my data",
                "Please delete all my personal data.",
            ),
            &from,
            PRIVACY,
        )
        .await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&format!("<{id}>")], WAIT)
        .await;
    run_once(config);
    let r = request(config, &from);
    assert_eq!(r["status"], "awaiting_verification", "{r}");
    let ack = mail_with(stack, user, "VERIFY-").await;
    (r["id"].as_str().expect("id").to_string(), ack)
}

async fn answer(stack: &MailStack, config: &Path, ack: &str, user: &str, body: &str) {
    let from = format!("{user}@example.test");
    let id = format!("r-{}@c.example.test", common::unique());
    let (raw, to) = reply(ack, &from, &id, "", body);
    stack.send(raw, &from, &to).await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&format!("<{id}>")], WAIT)
        .await;
    run_once(config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_says_i_did_not_send_this_does_not_verify() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let (rid, ack) = acknowledged(&stack, &config, "consumer").await;
    answer(
        &stack,
        &config,
        &ack,
        "consumer",
        "I did NOT send this request. Do not delete anything!",
    )
    .await;
    let r = request_by_id(&config, &rid);
    assert_eq!(r["verified"], false, "{r}");
    assert_eq!(r["escalated"], true, "{r}");
    assert!(has_event(&config, &rid, "disavowed"));
    let alert = mail_with(&stack, "staff", "Possible fraud").await;
    assert!(header(&alert, "Subject").is_some_and(|s| s.contains(&rid)));
    // The code is void: a later "yes" with the same code verifies nothing.
    answer(&stack, &config, &ack, "consumer", "Actually yes, it's me.").await;
    let r = request_by_id(&config, &rid);
    assert_eq!(r["verified"], false, "{r}");
    assert_eq!(r["status"], "awaiting_verification", "{r}");

    // A disavowal from anyone else (a forwarded acknowledgement) voids nothing: only the
    // requester's own address can stop their request.
    let (rid2, ack2) = acknowledged(&stack, &config, "consumer2").await;
    answer(
        &stack,
        &config,
        &ack2,
        "attacker",
        "I did not send this, do not delete anything",
    )
    .await;
    assert!(!has_event(&config, &rid2, "disavowed"));
    answer(&stack, &config, &ack2, "consumer2", "Yes, that's me.").await;
    assert_eq!(request_by_id(&config, &rid2)["verified"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_responder_echoing_the_code_does_not_verify() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let (rid, ack) = acknowledged(&stack, &config, "consumer").await;
    // No Auto-Submitted or other RFC 3834 header: only its text gives it away.
    answer(
        &stack,
        &config,
        &ack,
        "consumer",
        "I am out of the office until Monday with no access to email.",
    )
    .await;
    let r = request_by_id(&config, &rid);
    assert_eq!(r["verified"], false, "{r}");
    assert!(has_event(&config, &rid, "verification_ignored"));
    // The consumer's own confirmation still works afterwards.
    answer(&stack, &config, &ack, "consumer", "Yes, that's me.").await;
    assert_eq!(request_by_id(&config, &rid)["verified"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_without_the_code_does_not_verify() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let (rid, ack) = acknowledged(&stack, &config, "consumer").await;
    // From the requester's own address, in the thread, tagged, but without the code.
    let id = format!("nocode-{}@c.example.test", common::unique());
    let their = header(&ack, "Message-ID").expect("id");
    let raw = format!(
        "From: consumer@example.test\r\nTo: {PRIVACY}\r\nSubject: Re: [{rid}] your request\r\n\
         Message-ID: <{id}>\r\nIn-Reply-To: {their}\r\nReferences: {their}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nYes, that's me.\r\n"
    );
    stack.send(raw, "consumer@example.test", PRIVACY).await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&format!("<{id}>")], WAIT)
        .await;
    run_once(&config);
    let r = request_by_id(&config, &rid);
    assert_eq!(r["verified"], false, "{r}");
    assert_eq!(r["escalated"], true, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_message_id_does_not_silence_another_sender() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let shared = format!("form-{}@webform.example.test", common::unique());
    // The attacker (or a broken web form) uses the ID first…
    stack
        .send(
            first_mail(
                "attacker@example.test",
                &shared,
                "hello",
                "Nice weather today.",
            ),
            "attacker@example.test",
            PRIVACY,
        )
        .await;
    stack.wait_for("privacy", "INBOX", 1, WAIT).await;
    run_once(&config);
    // …then the consumer's real request arrives under the same Message-ID, and the
    // attacker's mail is delivered once more (a true duplicate).
    stack
        .send(
            first_mail(
                "consumer@example.test",
                &shared,
                "Delete my data",
                "Please delete all my personal data.",
            ),
            "consumer@example.test",
            PRIVACY,
        )
        .await;
    stack
        .send(
            first_mail(
                "attacker@example.test",
                &shared,
                "hello",
                "Nice weather today.",
            ),
            "attacker@example.test",
            PRIVACY,
        )
        .await;
    stack.wait_for("privacy", "INBOX", 2, WAIT).await;
    run_once(&config);
    let r = request(&config, "consumer@example.test");
    assert_eq!(r["status"], "awaiting_verification", "{r}");
    let conn = common::store(dir.path());
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM inbox WHERE disposition = 'duplicate'"
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mail_that_cannot_be_processed_is_set_aside_and_the_batch_goes_on() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    // A first pass makes the store; then the store refuses the audit event of one sender's
    // request, as a fault only that mail meets half-way (its request row is written first).
    run_once(&config);
    common::store(dir.path())
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.actor = 'poison@example.test'
             BEGIN SELECT RAISE(ABORT, 'refused for this test'); END;",
        )
        .expect("trigger");
    let mut ids = Vec::new();
    for user in ["poison", "consumer"] {
        let from = format!("{user}@example.test");
        let id = format!("{user}-{}@c.example.test", common::unique());
        stack
            .send(
                first_mail(
                    &from,
                    &id,
                    "Delete my data",
                    "Please delete all my personal data.",
                ),
                &from,
                PRIVACY,
            )
            .await;
        ids.push(format!("<{id}>"));
    }
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    stack.wait_for_ids("privacy", "INBOX", &id_refs, WAIT).await;
    // Before: the error aborted the batch, nothing was recorded and `run --once` exited 1.
    let log = run_once(&config);
    assert!(log.contains("quarantined=1"), "the pass counts it: {log}");
    assert_eq!(
        request(&config, "consumer@example.test")["status"],
        "awaiting_verification"
    );
    let conn = common::store(dir.path());
    let reason: String = conn
        .query_row(
            "SELECT reason FROM inbox WHERE sender = 'poison@example.test' AND disposition = 'quarantined'",
            [],
            |r| r.get(0),
        )
        .expect("the poison mail is recorded as quarantined");
    assert!(reason.contains("refused for this test"), "{reason}");
    // Both mails are kept whole (the record keeps the mail until `purge`), with their sizes
    // and times.
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM inbox WHERE raw IS NOT NULL AND size > 0 \
             AND internal_date LIKE '20%' AND fetched_at LIKE '20%' \
             AND sender IN ('poison@example.test', 'consumer@example.test')"
        ),
        2
    );
    let notice = mail_with(&stack, "staff", "Quarantined").await;
    assert!(notice.contains("refused for this test"), "{notice}");
    // It was moved to the quarantine mailbox, out of the way of the next pass.
    let q = stack.wait_for("privacy", "Quarantine", 1, WAIT).await;
    assert_eq!(q.len(), 1);
    run_once(&config);
    // The half-written request was rolled back with its mail: only the consumer's remains,
    // and it took the first number.
    let list = requests(&config);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list:#}");
    // The id's year is the year the mail was received, in the business time zone.
    let consumer = request(&config, "consumer@example.test");
    let year = chrono::DateTime::parse_from_rfc3339(
        consumer["received_at"].as_str().expect("received_at"),
    )
    .expect("received_at is RFC 3339")
    .with_timezone(&chrono_tz::America::Los_Angeles)
    .format("%Y")
    .to_string();
    assert_eq!(consumer["id"], format!("PRIV-{year}-00001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bot_with_another_store_on_the_same_mailbox_is_reported_once() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    // What another privacy-inbox (its own store) leaves in the mailbox: the Bcc copies of its
    // replies, from our address, with our Message-ID domain, that this store never sent.
    let mut ids = Vec::new();
    for n in 1..=2 {
        let id = format!(
            "PRIV-2026-0000{n}.{}@example.test",
            common::unique().replace('.', "")
        );
        let raw = format!(
            "From: Privacy <{PRIVACY}>\r\nTo: consumer{n}@example.test\r\n\
             Subject: [PRIV-2026-0000{n}] We received your privacy request\r\n\
             Message-ID: <{id}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain\r\n\r\nHello,\r\n"
        );
        stack.send(raw, PRIVACY, "privacy+sent@example.test").await;
        ids.push(format!("<{id}>"));
        stack
            .wait_for_ids("privacy", "INBOX", &[ids[n - 1].as_str()], WAIT)
            .await;
        let err = run_once(&config);
        assert!(
            err.contains("another privacy-inbox with a different store"),
            "logged as an error: {err}"
        );
    }
    let conn = common::store(dir.path());
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM inbox WHERE disposition = 'foreign_copy'"
        ),
        2
    );
    let notice = mail_with(&stack, "staff", "Another privacy-inbox").await;
    assert!(notice.contains(&ids[0][1..ids[0].len() - 1]), "{notice}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let staff = stack.wait_for("staff", "INBOX", 1, WAIT).await;
    assert_eq!(
        common::with_subject(&staff, "Another privacy-inbox"),
        1,
        "staff are told once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_on_an_acknowledged_thread_reach_staff_only_when_a_person_must_act() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    // Four opt-outs (acknowledged, no verification), then one reply on each thread.
    let mut acks = Vec::new();
    for user in ["consumer", "consumer2", "consumer3", "consumer4"] {
        let from = format!("{user}@example.test");
        let id = format!("o-{}@c.example.test", common::unique());
        stack
            .send(
                first_mail(
                    &from,
                    &id,
                    "Stop",
                    "Do not sell or share my personal information.",
                ),
                &from,
                PRIVACY,
            )
            .await;
        stack
            .wait_for_ids("privacy", "INBOX", &[&format!("<{id}>")], WAIT)
            .await;
        run_once(&config);
        acks.push((user, mail_with(&stack, user, "privacy request").await));
    }
    let replies = [
        ("attacker", "Thanks, noted."),
        (
            "consumer2",
            "Thanks! Which partners did you sell it to so far?",
        ),
        ("consumer3", "Thank you."),
        ("consumer4", "And please delete all my personal data too."),
    ];
    let mut ids = Vec::new();
    for ((owner, ack), (from_user, body)) in acks.iter().zip(replies) {
        let from = format!("{from_user}@example.test");
        let id = format!("t-{owner}-{}@c.example.test", common::unique());
        let (raw, to) = reply(ack, &from, &id, "", body);
        stack.send(raw, &from, &to).await;
        ids.push(format!("<{id}>"));
    }
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    stack.wait_for_ids("privacy", "INBOX", &id_refs, WAIT).await;
    run_once(&config);
    let why = |user: &str| {
        let r = request(&config, &format!("{user}@example.test"));
        let id = r["id"].as_str().unwrap_or_default().to_string();
        events(&config, &id)
            .iter()
            .filter(|e| e["kind"] == "escalated")
            .filter_map(|e| e["detail"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(
        why("consumer").contains("another address"),
        "{}",
        why("consumer")
    );
    assert!(
        why("consumer2").contains("asks a question"),
        "{}",
        why("consumer2")
    );
    assert!(
        !why("consumer3").contains("writes again"),
        "{}",
        why("consumer3")
    );
    assert!(
        !why("consumer3").contains("question"),
        "{}",
        why("consumer3")
    );
    assert!(
        why("consumer4").contains("writes again"),
        "{}",
        why("consumer4")
    );
}
