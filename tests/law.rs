//! The right clock for each request, and one request per need, on the real mail stack: the
//! law a mail cites sets its clock; staff can change it; the same person asking again for
//! what an open request covers is linked to it; a reply to a closed request reaches staff.

mod common;

use common::{header, reply, request, requests, run_once, MailStack, PRIVACY};
use privacy_inbox::kind::Kind;
use privacy_inbox::request::calendar::BusinessCalendar;
use privacy_inbox::request::deadlines::{compute_deadlines, Jurisdiction};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn send(stack: &MailStack, from: &str, subject: &str, body: &str) -> String {
    let id = format!("law-{}@c.example.test", common::unique());
    let raw = format!(
        "From: {from}\r\nTo: {PRIVACY}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    );
    stack.send(raw, &from.to_ascii_lowercase(), PRIVACY).await;
    format!("<{id}>")
}

/// The due date `law` gives an access request received at `received_at`, as stored.
fn due(config: &Path, received_at: &str, kinds: &[Kind], law: Jurisdiction) -> String {
    let _ = config;
    let received = chrono::DateTime::parse_from_rfc3339(received_at)
        .expect("received_at")
        .with_timezone(&chrono::Utc);
    // The harness's config uses the default business time zone and no holidays.
    let cal = BusinessCalendar::new(chrono_tz::America::Los_Angeles, vec![]);
    let d = compute_deadlines(kinds, received, law, &cal).expect("deadlines");
    d.respond_by
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_law_a_mail_cites_sets_its_clock() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let ids = [
        send(
            &stack,
            "consumer@example.test",
            "Auskunft nach Art. 15 DSGVO",
            "Sehr geehrte Damen und Herren, bitte senden Sie mir eine Kopie aller Daten, die Sie über mich gespeichert haben.",
        )
        .await,
        send(
            &stack,
            "consumer2@example.test",
            "Request to know under the CCPA",
            "I would like a copy of all personal information you hold about me.",
        )
        .await,
        send(
            &stack,
            "consumer3@example.test",
            "Access request",
            "Under the CCPA and Art. 15 GDPR, I would like a copy of all personal information you hold about me.",
        )
        .await,
    ];
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    stack.wait_for_ids("privacy", "INBOX", &refs, WAIT).await;
    run_once(&config);

    let de = request(&config, "consumer@example.test");
    assert_eq!(de["law"], "gdpr", "{de}");
    let received = de["received_at"].as_str().expect("received_at");
    assert_eq!(
        de["due_at"].as_str(),
        Some(due(&config, received, &[Kind::Access], Jurisdiction::Gdpr).as_str()),
        "one month, not 45 days: {de}"
    );
    assert_eq!(de["law_reason"], "cites Art. 15 DSGVO", "{de}");
    let shown = common::cli(
        &config,
        &["requests", "show", de["id"].as_str().unwrap_or_default()],
    );
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("law:        GDPR (cites Art. 15 DSGVO)"),
        "{shown}"
    );

    let ccpa = request(&config, "consumer2@example.test");
    assert_eq!(ccpa["law"], "ccpa", "{ccpa}");
    let received = ccpa["received_at"].as_str().expect("received_at");
    assert_eq!(
        ccpa["due_at"].as_str(),
        Some(due(&config, received, &[Kind::Access], Jurisdiction::Ccpa).as_str()),
        "45 days: {ccpa}"
    );
    let ack = stack
        .wait_for_subject("consumer2", "privacy request", WAIT)
        .await;
    assert!(
        ack.contains("California Consumer Privacy Act (CCPA)"),
        "{ack}"
    );

    // Both cited: the earlier deadline (GDPR's month, for access) wins.
    let both = request(&config, "consumer3@example.test");
    assert_eq!(both["law"], "gdpr", "{both}");
    assert!(
        both["law_reason"]
            .as_str()
            .is_some_and(|r| r.contains("earlier deadline")),
        "{both}"
    );
    let ack = stack
        .wait_for_subject("consumer3", "privacy request", WAIT)
        .await;
    assert!(
        ack.contains("General Data Protection Regulation (GDPR)"),
        "{ack}"
    );

    // Staff move the CCPA request onto the GDPR clock: dates recomputed, an audit event.
    let id = ccpa["id"].as_str().expect("id");
    let out = common::cli(&config, &["requests", "law", id, "gdpr", "--by", "ann"]);
    assert!(out.status.success(), "{out:?}");
    let moved = request(&config, "consumer2@example.test");
    assert_eq!(moved["law"], "gdpr");
    assert_eq!(
        moved["due_at"].as_str(),
        Some(due(&config, received, &[Kind::Access], Jurisdiction::Gdpr).as_str())
    );
    let show = common::cli(&config, &["requests", "show", id, "--json"]);
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert!(show["events"].as_array().is_some_and(|e| e
        .iter()
        .any(|e| e["kind"] == "law_changed" && e["actor"] == "ann")));
    // The same law again is refused, with the reason.
    let again = common::cli(&config, &["requests", "law", id, "gdpr"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already runs under the GDPR")
            || String::from_utf8_lossy(&again.stderr).contains("already runs under the GDPR")
    );
    // The report splits its figures by law: the report of the year the mails came in (in
    // the business time zone, the report's), whatever year the test runs in.
    let year = chrono::DateTime::parse_from_rfc3339(received)
        .expect("received_at")
        .with_timezone(&chrono_tz::America::Los_Angeles)
        .format("%Y")
        .to_string();
    let report = common::cli(&config, &["report", "--year", &year, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).expect("json");
    let laws: Vec<&str> = report["by_law"]
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["law"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        laws,
        vec!["gdpr"],
        "all three now run under the GDPR: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_person_asking_again_is_linked_not_opened_again() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let first = send(
        &stack,
        "jo@example.test",
        "My data",
        "Please send me a copy of all personal information you hold about me.",
    )
    .await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&first], WAIT)
        .await;
    run_once(&config);
    let opened = request(&config, "jo@example.test");
    let id = opened["id"].as_str().expect("id").to_string();

    // The same mailbox, written differently, asks again for the same.
    let again = send(
        &stack,
        "Jo+shop@Example.test",
        "Still waiting",
        "I would like a copy of all personal information you hold about me.",
    )
    .await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&again], WAIT)
        .await;
    run_once(&config);
    assert_eq!(
        requests(&config).as_array().map(Vec::len),
        Some(1),
        "no second record, clock or code"
    );
    let note = stack.wait_for_subject("jo", "is in progress", WAIT).await;
    assert!(
        header(&note, "Subject").is_some_and(|s| s.contains(&id)),
        "{note}"
    );
    assert!(note.contains("we will respond by"), "{note}");
    let show = common::cli(&config, &["requests", "show", &id, "--json"]);
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert!(show["events"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["kind"] == "follow_up")));

    // A new kind opens a new request.
    let delete = send(
        &stack,
        "jo@example.test",
        "Delete",
        "Please delete all my personal data.",
    )
    .await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&delete], WAIT)
        .await;
    run_once(&config);
    assert_eq!(requests(&config).as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_completed_request_reaches_staff() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let first = send(
        &stack,
        "consumer@example.test",
        "Stop",
        "Do not sell or share my personal information.",
    )
    .await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&first], WAIT)
        .await;
    run_once(&config);
    let r = request(&config, "consumer@example.test");
    let id = r["id"].as_str().expect("id").to_string();
    let out = common::cli(&config, &["requests", "complete", &id, "done"]);
    assert!(out.status.success(), "{out:?}");
    let ack = stack
        .wait_for_subject("consumer", "privacy request", WAIT)
        .await;
    let reply_id = format!("late-{}@c.example.test", common::unique());
    let (raw, to) = reply(
        &ack,
        "consumer@example.test",
        &reply_id,
        "",
        "You still send my data to partners, I saw it again today.",
    );
    stack.send(raw, "consumer@example.test", &to).await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&format!("<{reply_id}>")], WAIT)
        .await;
    run_once(&config);
    let staff = stack
        .wait_for_subject("staff", "completed request", WAIT)
        .await;
    assert!(
        header(&staff, "Subject").is_some_and(|s| s.contains(&id)),
        "{staff}"
    );
}
