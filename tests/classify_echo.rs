//! The attacker's mail on the real mail stack: an auto-responder answers our acknowledgement
//! with "Re: <our subject>", a fresh Message-ID and no references, no RFC 3834 headers, and
//! our own mail pasted back unquoted, verification code included. Text that is ours is never
//! the person's confirmation: the request stays unverified, and the consumer's own "yes"
//! afterwards still verifies it.

mod common;

use common::{header, privacy_request, reply, request, run_once, MailStack, PRIVACY};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_responder_pasting_our_mail_back_does_not_verify() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let consumer = "consumer@example.test";
    stack
        .send(
            privacy_request(
                consumer,
                "echo-1@c.example.test",
                "Please delete all personal data you hold about me.",
            ),
            consumer,
            PRIVACY,
        )
        .await;
    stack
        .wait_for("privacy", "INBOX", 1, Duration::from_secs(30))
        .await;
    run_once(&config);
    let got = stack
        .wait_for("consumer", "INBOX", 1, Duration::from_secs(30))
        .await;
    let ack = String::from_utf8_lossy(&got[0]).to_string();
    let subject = header(&ack, "Subject").expect("subject");
    assert!(subject.contains("VERIFY-"), "{subject}");
    let ours = privacy_inbox::mail::parse(ack.as_bytes()).expect("our mail parses");
    assert!(
        ours.body.contains("VERIFY-"),
        "the code is in our text: {}",
        ours.body
    );

    // The echo: a fresh Message-ID, no In-Reply-To, no Auto-Submitted, our text unquoted.
    let to = header(&ack, "Reply-To").expect("Reply-To");
    let to = to
        .rsplit_once('<')
        .map(|(_, a)| a.trim_end_matches('>').to_string())
        .unwrap_or(to);
    let echo_id = format!("echo-{}@consumer.example.test", common::unique());
    let echo = format!(
        "From: {consumer}\r\nTo: {to}\r\nSubject: Re: {subject}\r\nMessage-ID: <{echo_id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Thank you for your email. It has been forwarded to the right person.\r\n\r\n{}\r\n",
        ours.body.replace('\n', "\r\n")
    );
    stack.send(echo, consumer, &to).await;
    stack
        .wait_for_ids(
            "privacy",
            "INBOX",
            &[&format!("<{echo_id}>")],
            Duration::from_secs(30),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    run_once(&config);
    let r = request(&config, consumer);
    assert_eq!(
        r["status"], "awaiting_verification",
        "the echo verified: {r}"
    );
    assert_eq!(r["verified"], false, "{r}");

    // The consumer's own reply still verifies: the code stayed valid.
    let yes_id = format!("yes-{}@consumer.example.test", common::unique());
    let (raw, to) = reply(&ack, consumer, &yes_id, "", "Yes, this is me.");
    stack.send(raw, consumer, &to).await;
    stack
        .wait_for_ids(
            "privacy",
            "INBOX",
            &[&format!("<{yes_id}>")],
            Duration::from_secs(30),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    run_once(&config);
    let r = request(&config, consumer);
    assert_eq!(r["status"], "verified", "{r}");
}

/// A request with a sentence no rule places (a refund): escalated with its kind pre-filled,
/// and the staff mail shows the sentence the bot could not place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_escalation_mail_shows_the_sentences_the_bot_could_not_place() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let consumer = "refund@example.test";
    stack
        .send(
            privacy_request(
                consumer,
                "unplaced-1@c.example.test",
                "Please delete my account and all my data.\r\n\r\nYou charged my card twice in October and I want that money back.\r\n\r\nThanks, Priya",
            ),
            consumer,
            PRIVACY,
        )
        .await;
    stack
        .wait_for("privacy", "INBOX", 1, Duration::from_secs(30))
        .await;
    run_once(&config);
    let r = request(&config, consumer);
    assert_eq!(r["escalated"], true, "{r}");
    assert_eq!(r["kinds"], serde_json::json!(["delete"]), "{r}");
    // The escalation, not the day's digest that the same pass may send first.
    let staff = stack
        .wait_for_subject("staff", "Needs a person", Duration::from_secs(30))
        .await;
    let mail = privacy_inbox::mail::parse(staff.as_bytes()).expect("staff mail parses");
    eprintln!("{}", mail.body);
    assert!(
        mail.body
            .contains("Why:        A privacy request with 1 sentence(s) the bot could not place"),
        "{}",
        mail.body
    );
    assert!(
        mail.body.contains("Sentences the bot could not place"),
        "{}",
        mail.body
    );
    assert!(
        mail.body
            .contains(">> you charged my card twice in october and i want that money back."),
        "{}",
        mail.body
    );
    assert!(
        !mail.body.contains(">> please delete my account"),
        "{}",
        mail.body
    );
}
