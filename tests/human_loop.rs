//! The human loop on the real mail stack: an escalated request gets a receipt, staff put it
//! back on the automatic track (`/handle`) or close it (`/not-a-request`), and the consumer
//! hears exactly what they should: the receipt, then the acknowledgement with its code; or
//! nothing at all for mail that is no privacy request or looks forged.

mod common;

use common::{first_mail, header, reply, request, run_once, send_first, MailStack, PRIVACY, STAFF};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn events(config: &Path, id: &str) -> Vec<String> {
    let out = common::cli(config, &["requests", "show", id, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalated_access_request_gets_a_receipt_and_staff_handle_puts_it_on_the_track() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let consumer = "consumer2@example.test";
    // The demo's own access mail: read as a question, so escalated.
    send_first(
        &stack,
        consumer,
        "What do you have on me?",
        "I would like a copy of all personal information you hold about me.",
    )
    .await;
    run_once(&config);
    let r = request(&config, consumer);
    let id = r["id"].as_str().expect("id").to_string();
    assert_eq!(r["escalated"], true, "{r}");
    assert_eq!(
        r["status"], "acknowledged",
        "the receipt confirms receipt: {r}"
    );

    // The consumer: a receipt in the thread, the reference, a person follows up, a date.
    let receipt = stack
        .wait_for_subject("consumer2", "We received your privacy request", WAIT)
        .await;
    assert!(header(&receipt, "Subject").is_some_and(|s| s.contains(&id)));
    assert!(header(&receipt, "In-Reply-To").is_some_and(|s| s.contains("first-")));
    assert_eq!(
        header(&receipt, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    let text = common::folded_body(&receipt);
    assert!(
        text.contains("A member of our team will read it personally"),
        "{text}"
    );
    assert!(
        !text.contains("VERIFY-"),
        "no code before a person looked: {text}"
    );

    // Staff: what the consumer got, and the confirm-receipt date beside the due date.
    let esc = stack
        .wait_for_subject("staff", "Needs a person", WAIT)
        .await;
    let esc_text = common::folded_body(&esc);
    assert!(
        esc_text.contains("The consumer has received: the receipt"),
        "{esc_text}"
    );
    assert!(esc_text.contains("Confirm receipt by:"), "{esc_text}");
    assert!(esc_text.contains("/handle [kind...]"), "{esc_text}");

    // Staff reply /handle access: the acknowledgement with its code goes out.
    let (raw, to) = reply(
        &esc,
        STAFF,
        &format!("handle-{}@s.example.test", common::unique()),
        "",
        "/handle access",
    );
    stack.send(raw, STAFF, &to).await;
    stack
        .wait_until("privacy", "INBOX", "the /handle reply", WAIT, |m| {
            !m.is_empty()
        })
        .await;
    run_once(&config);
    let r = request(&config, consumer);
    assert_eq!(r["status"], "awaiting_verification", "{r}");
    assert_eq!(r["escalated"], false, "back on the automatic track: {r}");
    let ack = stack
        .wait_until("consumer2", "INBOX", "the acknowledgement", WAIT, |m| {
            common::with_subject(m, "VERIFY-") > 0
        })
        .await;
    let ack = common::mails_with_subject(&ack, "VERIFY-")
        .pop()
        .expect("the acknowledgement");
    let done = stack.wait_for_subject("staff", "Done: /handle", WAIT).await;
    assert!(
        common::folded_body(&done).contains("acknowledgement with a verification code"),
        "{done}"
    );

    // The consumer's reply verifies it, and staff get the request itself, not the reply.
    let (raw, to) = reply(
        &ack,
        consumer,
        &format!("verify-{}@c.example.test", common::unique()),
        "",
        "Yes, that was me.",
    );
    stack.send(raw, consumer, &to).await;
    stack
        .wait_until("privacy", "INBOX", "the verification reply", WAIT, |m| {
            !m.is_empty()
        })
        .await;
    run_once(&config);
    let r = request(&config, consumer);
    assert_eq!(r["status"], "verified", "{r}");
    let ready = stack
        .wait_for_subject("staff", "ready to action", WAIT)
        .await;
    let ready_text = common::folded_body(&ready);
    assert!(
        ready_text.contains("I would like a copy of all personal information"),
        "the original request, not the one-line reply: {ready_text}"
    );
    assert!(!ready_text.contains("Confidence: 0.00"), "{ready_text}");
    assert!(!ready_text.contains("/verify "), "{ready_text}");
    let kinds = events(&config, &id);
    for k in [
        "received",
        "acknowledged",
        "escalated",
        "handled",
        "verified",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing: {kinds:?}");
    }

    // /handle again: refused, it already had its acknowledgement.
    let again = common::cli(&config, &["requests", "handle", &id]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already had its acknowledgement") || err.contains("Cannot handle"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_on_an_opt_out_goes_ready_to_action_without_verification() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let consumer = "optout@example.test";
    send_first(
        &stack,
        consumer,
        "My data",
        "Do not sell or share my personal information. Who did you sell it to?",
    )
    .await;
    run_once(&config);
    let r = request(&config, consumer);
    let id = r["id"].as_str().expect("id").to_string();
    assert_eq!(r["escalated"], true, "{r}");

    let unknown = common::cli(&config, &["requests", "handle", &id, "everything"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown kind"));

    let out = common::cli(&config, &["requests", "handle", &id]);
    assert!(out.status.success(), "{out:?}");
    run_once(&config);
    let r = request(&config, consumer);
    assert_eq!(
        r["status"], "acknowledged",
        "no verification for an opt-out: {r}"
    );
    stack
        .wait_for_subject("staff", "Ready to action: an opt-out", WAIT)
        .await;
    // Acknowledged (not verified): the lifecycle would allow it; the acknowledgement sent
    // is what refuses a second /handle.
    let again = common::cli(&config, &["requests", "handle", &id, "opt-out-sale"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already had its acknowledgement"),
        "{again:?}"
    );
    let mails = stack.fetch_all("optout", "INBOX").await;
    assert!(
        mails
            .iter()
            .all(|m| !String::from_utf8_lossy(m).contains("VERIFY-")),
        "an opt-out never asks for a code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_and_not_a_request_escalations_send_the_consumer_nothing() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    common::edit_config(
        &config,
        "processed-mailbox = \"Processed\"",
        "processed-mailbox = \"Processed\"\nauthserv-id = \"mx.example.test\"",
    );
    // Not a privacy request: an order question.
    send_first(
        &stack,
        "shopper@example.test",
        "Order 1234",
        "Where is my order 1234? It was due last week.",
    )
    .await;
    // A clear request whose From failed DMARC at our own server.
    let spoof_id = format!("spoof-{}@c.example.test", common::unique());
    let raw = first_mail(
        "victim@example.test",
        &spoof_id,
        "Delete my data",
        "Please delete all my personal data.",
    );
    stack
        .send(
            format!("Authentication-Results: mx.example.test; dmarc=fail header.from=example.test\r\n{raw}"),
            "victim@example.test",
            PRIVACY,
        )
        .await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&format!("<{spoof_id}>")], WAIT)
        .await;
    run_once(&config);
    let shop = request(&config, "shopper@example.test");
    let victim = request(&config, "victim@example.test");
    assert_eq!(shop["escalated"], true, "{shop}");
    assert_eq!(victim["escalated"], true, "{victim}");
    assert_eq!(shop["status"], "received", "{shop}");
    assert_eq!(victim["status"], "received", "{victim}");
    let esc = stack
        .wait_until("staff", "INBOX", "both escalations", WAIT, |m| {
            common::with_subject(m, "Needs a person") >= 2
        })
        .await;
    for m in &esc {
        let text = common::folded_body(&String::from_utf8_lossy(m));
        if text.contains("Needs a person") {
            assert!(
                text.contains("The consumer has received: nothing"),
                "{text}"
            );
        }
    }
    // Staff close the order question as no privacy request: still no mail to the shopper.
    let id = shop["id"].as_str().expect("id").to_string();
    let out = common::cli(
        &config,
        &["requests", "not-a-request", &id, "an", "order", "question"],
    );
    assert!(out.status.success(), "{out:?}");
    run_once(&config);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.count("shopper", "INBOX").await, 0);
    assert_eq!(stack.count("victim", "INBOX").await, 0);
    let shop = request(&config, "shopper@example.test");
    assert_eq!(shop["status"], "not_a_request", "{shop}");
    let listed = common::cli(&config, &["requests", "list", "--status", "not_a_request"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));
    let report = common::cli(&config, &["report", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&report.stdout).expect("json");
    assert_eq!(v["not_a_request"], 1, "{v}");
    // The staff label is kept beside what the classifier said, for `classify eval`.
    let export = dir.path().join("labelled");
    let eval = common::cli(
        &config,
        &[
            "classify",
            "eval",
            "--export",
            export.to_str().expect("utf-8 path"),
        ],
    );
    assert!(eval.status.success(), "{eval:?}");
    let said = String::from_utf8_lossy(&eval.stdout);
    assert!(said.contains("1 staff-labelled mail"), "{said}");
    let tsv = std::fs::read_to_string(export.join("labels.tsv")).expect("labels.tsv");
    assert!(tsv.lines().count() >= 2, "a header and the label: {tsv}");
    // A closed record takes no /handle.
    let late = common::cli(&config, &["requests", "handle", &id, "access"]);
    assert!(!late.status.success());
}
