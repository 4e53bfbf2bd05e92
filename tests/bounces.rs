//! Asynchronous bounces on the real stack: Postfix takes our acknowledgement, the recipient's
//! "server" refuses it afterwards, and Postfix's own delivery report comes back to the
//! privacy mailbox. The bot matches the report to the mail it sent, records it on the
//! request, tells staff once, and never answers the report.

mod common;

use common::{MailStack, PRIVACY};
use std::time::Duration;

fn request_row(conn: &rusqlite::Connection, requester: &str) -> (String, bool, String) {
    conn.query_row(
        "SELECT id, escalated, escalation_reason FROM requests WHERE requester = ?1",
        [requester],
        |r| Ok((r.get(0)?, r.get::<_, i64>(1)? == 1, r.get(2)?)),
    )
    .expect("the request")
}

fn is_report(raw: &[u8]) -> bool {
    common::header(raw, "From").is_some_and(|f| f.to_ascii_uppercase().contains("MAILER-DAEMON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounced_acknowledgement_is_matched_escalated_once_and_never_answered() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    // bounce…@example.test: Postfix accepts mail to it, then its delivery fails for good.
    let jo = "bouncejo@example.test";
    let ann = "ann@example.test";
    for (from, body) in [
        (
            jo,
            "Please delete my account and all personal data you hold about me.",
        ),
        (
            ann,
            "I would like a copy of all the personal data you have about me.",
        ),
    ] {
        stack
            .send(common::mail(from, PRIVACY, "My data", body), from, PRIVACY)
            .await;
    }
    stack.wait_for(PRIVACY, "INBOX", 2, common::WAIT).await;
    common::run_once_with(&config, &[]);
    stack.wait_for(ann, "INBOX", 1, common::WAIT).await;

    // Postfix's report on the acknowledgement to jo arrives in the privacy mailbox.
    // The pass may already have taken it in (it ends by taking in what arrived with its own
    // copies) and moved it to Processed.
    let report = arrived_report(&stack, |_| true).await;
    common::run_once_with(&config, &[]);

    let conn = common::store(dir.path());
    let (id, escalated, reason) = request_row(&conn, jo);
    assert!(escalated, "the request is flagged for staff");
    assert!(
        reason.contains("acknowledgement") && reason.contains("could not be delivered"),
        "{reason}"
    );
    let bounced_event: String = conn
        .query_row(
            "SELECT detail FROM events WHERE request_id = ?1 AND kind = 'bounced'",
            [&id],
            |r| r.get(0),
        )
        .expect("a bounced event in the audit log");
    assert!(
        bounced_event.contains("acknowledgement to bouncejo@example.test bounced: 5."),
        "{bounced_event}"
    );
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE recipient = 'bouncejo@example.test' AND status = 'bounced'"
        ),
        1
    );
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM inbox WHERE disposition = 'bounce' AND request_id IS NOT NULL"
        ),
        1,
        "the report is recorded on the request"
    );
    // ann's request is untouched.
    assert!(!request_row(&conn, ann).1);

    // Staff get one notice in the request's thread, with the report attached.
    let notice = stack
        .wait_for_subject("staff", "Could not deliver a reply", common::WAIT)
        .await;
    let subject = common::header(notice.as_bytes(), "Subject").unwrap_or_default();
    assert!(subject.contains(&format!("[{id}]")), "{subject}");
    assert!(notice.contains("message/rfc822"), "the report is attached");
    assert!(notice.contains("bouncejo@example.test"), "{notice}");

    // The same report again (a re-delivered copy under a new Message-ID) changes nothing,
    // and neither do more passes.
    let again =
        String::from_utf8_lossy(&report).replacen("Message-Id: <", "Message-Id: <again.", 1);
    assert_ne!(
        again.as_bytes(),
        report.as_slice(),
        "the copy has a new Message-ID"
    );
    stack.append(PRIVACY, "INBOX", again).await;
    common::run_once_with(&config, &[]);
    common::run_once_with(&config, &[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    assert_eq!(
        common::with_subject(&staff, "Could not deliver a reply"),
        1,
        "staff are told once"
    );
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM inbox WHERE disposition = 'bounce'"
        ),
        2
    );
    // Nothing was ever sent to the reporting MTA, and jo got no second mail attempt.
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE audience = 'consumer' AND recipient <> 'bouncejo@example.test' AND recipient <> 'ann@example.test'"
        ),
        0
    );
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE recipient = 'bouncejo@example.test'"
        ),
        1
    );

    // Eight days on, the verification reminder goes to jo and bounces as well: it is in the
    // audit log, but staff, already told about this request, get no second notice.
    let later = (chrono::Utc::now() + chrono::Duration::days(8)).to_rfc3339();
    common::run_once_with(&config, &[("PRIVACY_INBOX_NOW", &later)]);
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE recipient = 'bouncejo@example.test'"
        ),
        2,
        "the reminder"
    );
    let reminder_id: String = conn
        .query_row(
            "SELECT message_id FROM outbox WHERE recipient = 'bouncejo@example.test' ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("the reminder's Message-ID");
    arrived_report(&stack, |m| {
        String::from_utf8_lossy(m).contains(reminder_id.as_str())
    })
    .await;
    common::run_once_with(&config, &[("PRIVACY_INBOX_NOW", &later)]);
    let bounced: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE request_id = ?1 AND kind = 'bounced'",
            [&id],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(bounced, 2, "both bounces are in the audit log");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    assert_eq!(
        common::with_subject(&staff, "Could not deliver a reply"),
        1,
        "staff are told once per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_warning_is_logged_on_the_request_and_staff_are_not_mailed() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let ann = "ann@example.test";
    stack
        .send(
            common::mail(
                ann,
                PRIVACY,
                "Delete",
                "Please delete all the personal data you hold about me.",
            ),
            ann,
            PRIVACY,
        )
        .await;
    stack.wait_for(PRIVACY, "INBOX", 1, common::WAIT).await;
    common::run_once_with(&config, &[]);
    let ack = stack.wait_for(ann, "INBOX", 1, common::WAIT).await;
    let ack_id = common::header(&ack[0], "Message-ID").expect("our Message-ID");

    // A remote server's delay warning (RFC 3464) for that acknowledgement.
    let warning = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.remote.test>\r\n\
         To: {PRIVACY}\r\n\
         Subject: Delayed Mail (still being retried)\r\n\
         Message-ID: <delay-1@mx.remote.test>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\
         \r\n\
         --R\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         Your message could not be delivered for 4 hours. It will be retried until it is 5 days old.\r\n\
         --R\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.remote.test\r\n\
         \r\n\
         Final-Recipient: rfc822; {ann}\r\n\
         Action: delayed\r\n\
         Status: 4.4.1\r\n\
         Diagnostic-Code: X-Postfix; connect to mx.example.test: Connection timed out\r\n\
         \r\n\
         --R\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         From: {PRIVACY}\r\n\
         To: {ann}\r\n\
         Message-ID: {ack_id}\r\n\
         \r\n\
         --R--\r\n"
    );
    stack.append(PRIVACY, "INBOX", warning).await;
    common::run_once_with(&config, &[]);

    let conn = common::store(dir.path());
    let (id, escalated, _) = request_row(&conn, ann);
    assert!(!escalated, "a delay is not a failure");
    let detail: String = conn
        .query_row(
            "SELECT detail FROM events WHERE request_id = ?1 AND kind = 'delivery_delayed'",
            [&id],
            |r| r.get(0),
        )
        .expect("the delay is in the audit log");
    assert!(detail.contains("4.4.1"), "{detail}");
    assert_eq!(
        common::scalar(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE status = 'bounced'"
        ),
        0
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    assert_eq!(common::with_subject(&staff, "Could not deliver"), 0);
    assert_eq!(stack.count(ann, "INBOX").await, 1, "nothing more to ann");
}

/// Postfix's delivery report (one that `also` holds) in the privacy mailbox: in INBOX, or
/// already in Processed.
async fn arrived_report(stack: &MailStack, also: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        for mailbox in ["INBOX", "Processed"] {
            if let Some(r) = stack
                .fetch_all(PRIVACY, mailbox)
                .await
                .into_iter()
                .find(|m| is_report(m) && also(m))
            {
                return r;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery report in the privacy mailbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
