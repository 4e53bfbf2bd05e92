//! Identity verification by email on the real mail stack: the consumer's reply verifies the
//! request; a reply from another address or with a failed DMARC check does not; an opt-out
//! never asks for verification.

mod common;

use common::{header, privacy_request, reply, request, requests, run_once, MailStack, PRIVACY};
use std::path::Path;
use std::time::Duration;

/// `from` replies to `ack` as a mail client would (`extra`: whole header lines, or empty);
/// returns the reply's Message-ID.
async fn send_reply(stack: &MailStack, ack: &str, from: &str, extra: &str, body: &str) -> String {
    let id = format!("reply-{}@consumer.example.test", common::unique());
    let (raw, to) = reply(ack, from, &id, extra, body);
    stack.send(raw, from, &to).await;
    format!("<{id}>")
}

/// Sends `from`'s first mail to privacy@.
async fn send_request(stack: &MailStack, from: &str, id: &str, body: &str) {
    stack
        .send(privacy_request(from, id, body), from, PRIVACY)
        .await;
}

/// The first mail in `user`'s INBOX, once there is one.
async fn first_mail(stack: &MailStack, user: &str) -> String {
    let got = stack
        .wait_for(user, "INBOX", 1, Duration::from_secs(30))
        .await;
    String::from_utf8_lossy(&got[0]).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumers_reply_verifies_and_nobody_elses_does() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    for (user, id) in [
        ("consumer", "v-1@c.example.test"),
        ("consumer2", "v-2@c.example.test"),
        ("consumer3", "v-3@c.example.test"),
    ] {
        send_request(
            &stack,
            &format!("{user}@example.test"),
            id,
            "Please delete all personal data you hold about me.",
        )
        .await;
    }
    // An opt-out: acknowledged, never asked to verify, and sent to staff as ready to action.
    send_request(
        &stack,
        "consumer4@example.test",
        "v-4@c.example.test",
        "Do not sell or share my personal information.",
    )
    .await;
    stack
        .wait_for("privacy", "INBOX", 4, Duration::from_secs(30))
        .await;
    run_once(&config);

    let ack1 = first_mail(&stack, "consumer").await;
    let subject = header(&ack1, "Subject").expect("subject");
    assert!(
        subject.contains("VERIFY-"),
        "the acknowledgement asks for verification: {subject}"
    );
    assert!(
        header(&ack1, "Reply-To").is_some_and(|r| r.contains("privacy+verify-")),
        "Reply-To plus-address"
    );
    assert_eq!(
        request(&config, "consumer@example.test")["status"],
        "awaiting_verification"
    );
    let optout = request(&config, "consumer4@example.test");
    assert_eq!(optout["status"], "acknowledged", "{optout}");
    let ack4 = first_mail(&stack, "consumer4").await;
    assert!(
        !header(&ack4, "Subject")
            .unwrap_or_default()
            .contains("VERIFY-"),
        "no verification for an opt-out"
    );

    // 1: the consumer replies from their address: verified.
    let reply1 = send_reply(
        &stack,
        &ack1,
        "consumer@example.test",
        "",
        "Yes, this is me.",
    )
    .await;
    // 2: someone else replies with consumer2's acknowledgement (forwarded to them): not verified.
    let ack2 = first_mail(&stack, "consumer2").await;
    let reply2 = send_reply(&stack, &ack2, "attacker@example.test", "", "Confirming.").await;
    // 3: consumer3's address, but the receiving server saw DMARC fail: not verified.
    let ack3 = first_mail(&stack, "consumer3").await;
    let reply3 = send_reply(&stack, &ack3, "consumer3@example.test", "Authentication-Results: mx.example.test; spf=fail smtp.mailfrom=example.test; dmarc=fail header.from=example.test\r\n", "Confirmed.").await;
    // Our own Bcc copies from the first pass reach the same INBOX: wait for the replies.
    stack
        .wait_for_ids(
            "privacy",
            "INBOX",
            &[&reply1, &reply2, &reply3],
            Duration::from_secs(30),
        )
        .await;
    // Let those Bcc copies arrive too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    run_once(&config);

    let r1 = request(&config, "consumer@example.test");
    assert_eq!(r1["status"], "verified", "{r1}");
    assert_eq!(r1["verified"], true);
    let r2 = request(&config, "consumer2@example.test");
    assert_eq!(r2["verified"], false, "{r2}");
    assert_eq!(r2["escalated"], true, "{r2}");
    let r3 = request(&config, "consumer3@example.test");
    assert_eq!(r3["verified"], false, "{r3}");
    assert_eq!(r3["escalated"], true, "{r3}");

    let got = stack
        .wait_for("consumer", "INBOX", 2, Duration::from_secs(30))
        .await;
    let verified_mail = String::from_utf8_lossy(&got[1]).to_string();
    assert!(
        header(&verified_mail, "Subject").is_some_and(|s| s.contains("confirmed")),
        "{verified_mail}"
    );
    // Replies never open new requests.
    let list = requests(&config);
    assert_eq!(list.as_array().map(Vec::len), Some(4));
    // Staff: the opt-out (ready), consumer's verified request, and the two refused verifications.
    // The digest may land in the same mailbox, so wait for the three notices by subject.
    let staff = stack
        .wait_until(
            "staff",
            "INBOX",
            "the agent, spoofing and opt-out notices",
            Duration::from_secs(30),
            |mails| {
                ["another address", "spoofing", "opt-out"]
                    .iter()
                    .all(|needle| common::with_subject(mails, needle) > 0)
            },
        )
        .await;
    let subjects: Vec<String> = staff
        .iter()
        .map(|r| header(r, "Subject").unwrap_or_default())
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("another address")),
        "{subjects:#?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("spoofing")),
        "{subjects:#?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("opt-out")),
        "{subjects:#?}"
    );
}

fn run_once_at(config: &Path, now: &str) {
    common::run_once_with(config, &[("PRIVACY_INBOX_NOW", now)]);
}

async fn deadline_notices(stack: &MailStack) -> Vec<String> {
    let subjects: Vec<String> = stack
        .fetch_all("staff", "INBOX")
        .await
        .iter()
        .filter_map(|r| header(r, "Subject"))
        .filter(|s| s.contains("Deadline:"))
        .collect();
    // A mail program shows about 78 characters of a subject: the notice's point must fit
    // (the staff reply code after it, which matches a reply that lost its headers, aside).
    for s in &subjects {
        let words = s.split(" (STAFF-").next().unwrap_or(s);
        assert!(
            words.chars().count() <= 78,
            "subject over 78 characters: {s}"
        );
    }
    subjects
}

/// The deadline notices once at least `expected` have arrived and a duplicate has had a
/// second to follow them.
async fn settled_deadline_notices(stack: &MailStack, expected: usize) -> Vec<String> {
    stack
        .wait_until(
            "staff",
            "INBOX",
            &format!("{expected} deadline notice(s)"),
            Duration::from_secs(30),
            |mails| common::with_subject(mails, "Deadline:") >= expected,
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    deadline_notices(stack).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_get_one_due_soon_notice_per_threshold_and_none_on_reruns() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    send_request(
        &stack,
        "consumer@example.test",
        "clock-1@c.example.test",
        "Please delete all personal data you hold about me.",
    )
    .await;
    stack
        .wait_for("privacy", "INBOX", 1, Duration::from_secs(30))
        .await;
    run_once(&config);
    let ack = first_mail(&stack, "consumer").await;
    let id = send_reply(&stack, &ack, "consumer@example.test", "", "It is me.").await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&id], Duration::from_secs(30))
        .await;
    run_once(&config);
    let r = request(&config, "consumer@example.test");
    assert_eq!(r["status"], "verified", "{r}");
    let received =
        chrono::DateTime::parse_from_rfc3339(r["received_at"].as_str().expect("received_at"))
            .expect("RFC 3339");
    assert!(deadline_notices(&stack).await.is_empty());

    let at = |days: i64| (received + chrono::Duration::days(days)).to_rfc3339();
    // 36 days after receipt: 9 days left, the 10-day threshold is crossed.
    run_once_at(&config, &at(36));
    run_once_at(&config, &at(36));
    let n = settled_deadline_notices(&stack, 1).await;
    assert_eq!(n.len(), 1, "one notice for the 10-day threshold: {n:#?}");
    assert!(n[0].contains("threshold 10"), "{n:#?}");
    // 43 days: 2 days left, the 3-day threshold; re-runs (even a day later) add nothing.
    run_once_at(&config, &at(43));
    run_once_at(&config, &at(43));
    run_once_at(
        &config,
        &(received + chrono::Duration::days(43) + chrono::Duration::hours(5)).to_rfc3339(),
    );
    let n = settled_deadline_notices(&stack, 3).await;
    let due_soon: Vec<&String> = n.iter().filter(|s| s.contains("threshold")).collect();
    assert_eq!(
        due_soon.len(),
        2,
        "one more notice for the 3-day threshold: {n:#?}"
    );
    assert!(due_soon.iter().any(|s| s.contains("threshold 3")), "{n:#?}");
    // 2 days before the first period ends, within the 7-day extension warning: once.
    let extension: Vec<&String> = n
        .iter()
        .filter(|s| s.contains("Extension window"))
        .collect();
    assert_eq!(extension.len(), 1, "{n:#?}");
    assert_eq!(n.len(), 3, "{n:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_are_told_once_when_an_escalated_request_nears_and_passes_its_confirm_by() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    // Mail the bot reads no request in: escalated without a receipt (staff decide what it
    // is; an agent's request, escalated too, now gets a receipt at once), so the
    // confirm-receipt clock is for staff to watch.
    send_request(
        &stack,
        common::AGENT,
        "confirm-1@c.example.test",
        "Hello, I wrote to you last month about my account and nobody answered. Please call me back.",
    )
    .await;
    stack
        .wait_for_ids(
            PRIVACY,
            "INBOX",
            &["<confirm-1@c.example.test>"],
            Duration::from_secs(30),
        )
        .await;
    run_once(&config);
    let conn = common::store(dir.path());
    let (status, escalated, confirm_by): (String, bool, String) = conn
        .query_row(
            "SELECT status, escalated, confirm_by FROM requests WHERE requester = ?1",
            [common::AGENT],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? == 1, r.get(2)?)),
        )
        .expect("the request, with a confirm-by date");
    assert_eq!((status.as_str(), escalated), ("received", true));
    let confirm_by = chrono::DateTime::parse_from_rfc3339(&confirm_by).expect("RFC 3339");
    let at = |days: i64| (confirm_by + chrono::Duration::days(days)).to_rfc3339();
    let receipt = |subjects: &[String]| {
        subjects
            .iter()
            .filter(|s| s.contains("eceipt"))
            .cloned()
            .collect::<Vec<_>>()
    };

    // Five days before: nothing yet.
    run_once_at(&config, &at(-5));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receipt(&deadline_notices(&stack).await).is_empty());
    // Two days before, twice: one notice.
    run_once_at(&config, &at(-2));
    run_once_at(&config, &at(-2));
    let n = stack
        .wait_until(
            "staff",
            "INBOX",
            "the confirm-receipt notice",
            Duration::from_secs(30),
            |mails| common::with_subject(mails, "Confirm receipt") > 0,
        )
        .await;
    assert_eq!(common::with_subject(&n, "Confirm receipt"), 1);
    // A day after, twice: one more, saying it was missed.
    run_once_at(&config, &at(1));
    run_once_at(&config, &at(1));
    stack
        .wait_until(
            "staff",
            "INBOX",
            "the receipt-overdue notice",
            Duration::from_secs(30),
            |mails| common::with_subject(mails, "Receipt NOT CONFIRMED") > 0,
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = receipt(&deadline_notices(&stack).await);
    assert_eq!(all.len(), 2, "{all:#?}");
    let id: String = conn
        .query_row(
            "SELECT id FROM requests WHERE requester = ?1",
            [common::AGENT],
            |r| r.get(0),
        )
        .expect("id");
    assert!(
        all.iter().all(|s| s.contains(&format!("[{id}]"))),
        "{all:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_number_is_the_second_data_point_when_a_directory_is_configured() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("accounts.csv"),
        "email,account\nconsumer@example.test,AC-111222\nconsumer2@example.test,AC-333444\n",
    )
    .expect("write directory");
    let config = stack.write_config(
        dir.path(),
        "[verification]\naccount-directory = \"accounts.csv\"\n",
    );
    for (user, id) in [
        ("consumer", "acct-1@c.example.test"),
        ("consumer2", "acct-2@c.example.test"),
    ] {
        send_request(
            &stack,
            &format!("{user}@example.test"),
            id,
            "I want a copy of all the personal data you have about me.",
        )
        .await;
    }
    stack
        .wait_for("privacy", "INBOX", 2, Duration::from_secs(30))
        .await;
    run_once(&config);
    let ack1 = first_mail(&stack, "consumer").await;
    assert!(
        ack1.contains("account number"),
        "the acknowledgement asks for the account number"
    );
    let ack2 = first_mail(&stack, "consumer2").await;
    let reply1 = send_reply(
        &stack,
        &ack1,
        "consumer@example.test",
        "",
        "It is me, account AC-999999.",
    )
    .await;
    let reply2 = send_reply(
        &stack,
        &ack2,
        "consumer2@example.test",
        "",
        "It is me, my account is AC 333444.",
    )
    .await;
    stack
        .wait_for_ids(
            "privacy",
            "INBOX",
            &[&reply1, &reply2],
            Duration::from_secs(30),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    run_once(&config);
    let r1 = request(&config, "consumer@example.test");
    assert_eq!(r1["verified"], false, "{r1}");
    assert_eq!(r1["escalated"], true, "{r1}");
    let r2 = request(&config, "consumer2@example.test");
    assert_eq!(r2["status"], "verified", "{r2}");
}
