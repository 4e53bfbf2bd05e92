//! Staff actions on the real mail stack: commands in replies to the escalation thread and
//! the same actions from the CLI; each tells the consumer where it should, confirms to staff
//! in the thread, and refuses what it must (no basis, a second extension, a stranger).

mod common;

use common::{
    cli, header, privacy_request, reply, request, requests, run_once, MailStack, PRIVACY,
};
use std::path::Path;
use std::time::{Duration, Instant};

fn events(config: &Path, id: &str) -> Vec<serde_json::Value> {
    let out = cli(config, &["requests", "show", id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["events"].as_array().cloned().unwrap_or_default()
}

/// Mails in `user`'s INBOX whose subject contains `needle`.
async fn mails(stack: &MailStack, user: &str, needle: &str) -> Vec<String> {
    common::mails_with_subject(&stack.fetch_all(user, "INBOX").await, needle)
}

/// Waits until `user` holds `n` mails whose subject contains `needle`.
async fn wait_mails(stack: &MailStack, user: &str, needle: &str, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let found = mails(stack, user, needle).await;
        if found.len() >= n || start.elapsed() > Duration::from_secs(30) {
            assert_eq!(found.len(), n, "{user}: mails with {needle:?}");
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends `raw` and waits until it is in privacy@'s INBOX (which the bot's own Bcc copies
/// reach as well, so a count would not do).
async fn deliver(stack: &MailStack, raw: String, from: &str, to: &str) {
    let id = header(&raw, "Message-ID").expect("the mail has a Message-ID");
    stack.send(raw, from, to).await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&id], Duration::from_secs(30))
        .await;
}

/// Delivers `from`'s first mail to privacy@.
async fn deliver_request(stack: &MailStack, from: &str, id: &str, body: &str) {
    deliver(stack, privacy_request(from, id, body), from, PRIVACY).await;
}

/// `from` replies to `escalation` with `body` (a staff command, Message-ID `<id>`); the
/// next pass handles it.
async fn command(
    stack: &MailStack,
    config: &Path,
    escalation: &str,
    from: &str,
    id: &str,
    body: &str,
) {
    let (raw, _) = reply(escalation, from, id, "", body);
    deliver(stack, raw, from, PRIVACY).await;
    run_once(config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_commands_by_mail_complete_deny_extend_and_strangers_are_refused() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let consumer = "dana@example.test";

    // A delete request, verified by the consumer's reply.
    deliver_request(
        &stack,
        consumer,
        "staff-1@c.example.test",
        "Please delete all my personal data.",
    )
    .await;
    run_once(&config);
    let ack = wait_mails(&stack, "dana", "privacy request", 1)
        .await
        .remove(0);
    let (raw, to) = reply(
        &ack,
        consumer,
        "staff-2@c.example.test",
        "",
        "Yes, it is me.",
    );
    deliver(&stack, raw, consumer, &to).await;
    run_once(&config);
    let r = request(&config, consumer);
    assert_eq!(r["status"], "verified", "{r}");
    let id = r["id"].as_str().expect("id").to_string();
    let escalation = wait_mails(&stack, "staff", "Needs a person", 1)
        .await
        .remove(0);
    assert!(
        escalation.contains("/complete"),
        "the escalation explains the commands"
    );

    // /deny without a basis is refused, in the thread, and changes nothing.
    command(
        &stack,
        &config,
        &escalation,
        "staff@example.test",
        "staff-3@s.example.test",
        "/deny",
    )
    .await;
    let refused = wait_mails(&stack, "staff", "Refused: /deny", 1)
        .await
        .remove(0);
    assert!(refused.contains("basis"), "{refused}");
    assert!(
        header(&refused, "In-Reply-To").is_some_and(|v| v.contains("staff-3@s.example.test")),
        "the refusal is threaded on the staff mail"
    );
    assert_eq!(request(&config, consumer)["status"], "verified");

    // A command from an address that is not staff is refused and escalated.
    command(
        &stack,
        &config,
        &escalation,
        "mallory@example.test",
        "staff-4@m.example.test",
        "/complete all done",
    )
    .await;
    let alarm = wait_mails(&stack, "staff", "non-staff address", 1).await;
    assert!(alarm[0].contains(&id));
    assert_eq!(request(&config, consumer)["status"], "verified");
    assert_eq!(
        stack.count("mallory", "INBOX").await,
        0,
        "no reply to a stranger"
    );
    assert!(events(&config, &id)
        .iter()
        .any(|e| e["kind"] == "staff_command_refused" && e["actor"] == "mallory@example.test"));

    // /extend tells the consumer the reason and the new date; a second one is refused.
    command(
        &stack,
        &config,
        &escalation,
        "staff@example.test",
        "staff-5@s.example.test",
        "/extend Your records are spread over three systems\n\nthanks",
    )
    .await;
    let notice = wait_mails(&stack, "dana", "more time", 1).await.remove(0);
    assert!(notice.contains("spread over three systems"), "{notice}");
    let r = request(&config, consumer);
    assert_eq!(r["extended"], true);
    assert_eq!(
        r["extension_reason"],
        "Your records are spread over three systems"
    );
    wait_mails(&stack, "staff", "Done: /extend", 1).await;
    command(
        &stack,
        &config,
        &escalation,
        "staff@example.test",
        "staff-6@s.example.test",
        "/extend still more",
    )
    .await;
    let refused = wait_mails(&stack, "staff", "Refused: /extend", 1)
        .await
        .remove(0);
    assert!(refused.contains("already extended"), "{refused}");

    // /complete completes it and the consumer gets the completion mail.
    command(
        &stack,
        &config,
        &escalation,
        "staff@example.test",
        "staff-7@s.example.test",
        "/complete deleted from CRM and billing",
    )
    .await;
    let done = wait_mails(&stack, "dana", "is complete", 1).await.remove(0);
    assert!(done.contains(&id));
    assert!(
        !done.contains("CRM and billing"),
        "the staff note is internal, not sent to the consumer"
    );
    wait_mails(&stack, "staff", "Done: /complete", 1).await;
    let r = request(&config, consumer);
    assert_eq!(r["status"], "completed", "{r}");
    assert!(r["responded_at"].is_string());
    let kinds: Vec<String> = events(&config, &id)
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect();
    for k in [
        "received",
        "acknowledged",
        "verification_requested",
        "verified",
        "extended",
        "completed",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    // Nothing more for the consumer than ack, verified, extension, completion.
    assert_eq!(stack.count("dana", "INBOX").await, 4);

    // Staff mail outside any thread is never a consumer request; a command in it is refused.
    deliver_request(
        &stack,
        "staff@example.test",
        "staff-8@s.example.test",
        "/complete\n\nPlease delete my data",
    )
    .await;
    run_once(&config);
    let refused = wait_mails(&stack, "staff", "Refused: /complete", 1)
        .await
        .remove(0);
    assert!(refused.contains("belongs to no request"), "{refused}");
    let list = requests(&config);
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "no request opened: {list:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_actions_from_the_cli_with_the_same_checks() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let consumer = "omar@example.test";
    deliver_request(
        &stack,
        consumer,
        "cli-1@c.example.test",
        "Do not sell or share my personal information.",
    )
    .await;
    run_once(&config);
    let r = request(&config, consumer);
    assert_eq!(
        r["status"], "acknowledged",
        "an opt-out needs no verification: {r}"
    );
    let id = r["id"].as_str().expect("id").to_string();

    // An opt-out cannot be denied as unverifiable (CCPA §7060(b)).
    let out = cli(&config, &["requests", "deny", &id, "unverifiable"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("opt-out"));
    // An opt-out has no extension.
    let out = cli(&config, &["requests", "extend", &id, "busy"]);
    assert_eq!(out.status.code(), Some(1));
    // A basis outside the list is refused with the list (it once sent "Why: because").
    let out = cli(&config, &["requests", "deny", &id, "because"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for basis in ["unverifiable", "not-a-consumer", "exempt", "other"] {
        assert!(err.contains(basis), "{basis} missing from: {err}");
    }
    assert_eq!(request(&config, consumer)["status"], "acknowledged");

    let out = cli(
        &config,
        &[
            "requests",
            "assign",
            &id,
            "Maria",
            "--by",
            "lead@example.test",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &config,
        &["requests", "complete", &id, "flag set in the ad platform"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = request(&config, consumer);
    assert_eq!(r["status"], "completed");
    assert_eq!(r["assignee"], "Maria");
    // Closed is final: nothing but notes.
    let out = cli(&config, &["requests", "deny", &id, "exempt"]);
    assert_eq!(out.status.code(), Some(1));
    let out = cli(
        &config,
        &["requests", "note", &id, "consumer called to say thanks"],
    );
    assert!(out.status.success());

    // The completion mail goes out on the next pass.
    run_once(&config);
    wait_mails(&stack, "omar", "is complete", 1).await;
    // The refused denial queued nothing: no denial mail, no outbox row for one.
    assert!(mails(&stack, "omar", "About your privacy request")
        .await
        .is_empty());
    assert!(
        !events(&config, &id)
            .iter()
            .any(|e| e.to_string().contains("denied")),
        "a refused denial left an event: {:#?}",
        events(&config, &id)
    );
    // A closed request has no days left in the list.
    let list = cli(&config, &["requests", "list"]);
    let list = String::from_utf8_lossy(&list.stdout);
    let row = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not in\n{list}"));
    assert!(
        row.split_whitespace().all(|w| w.parse::<i64>().is_err()),
        "a completed request shows days left: {row}"
    );

    let show = cli(&config, &["requests", "show", &id]);
    let text = String::from_utf8_lossy(&show.stdout);
    for needle in [
        "mail in (request)",
        "mail out (completed)",
        "assigned",
        "lead@example.test",
        "note",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    // The §7101 export has the request with its response.
    let out = cli(&config, &["requests", "export", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&out.stdout);
    let line = csv
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not in\n{csv}"));
    assert!(
        line.contains(",email,") && line.contains(",complied,"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sender_cannot_flood_staff_with_escalations() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let sender = "flood@example.test";
    // Fourteen different needs (an agent for fourteen people), so that each is a request of
    // its own: the same need asked again would be linked to one request.
    for i in 0..14 {
        stack
            .send(
                privacy_request(
                    sender,
                    &format!("flood-{i}@f.example.test"),
                    &format!(
                        "I am an authorized agent acting on behalf of my client Jane Doe {i}. \
                         Please delete her personal information."
                    ),
                ),
                sender,
                "privacy@example.test",
            )
            .await;
    }
    stack
        .wait_for("privacy", "INBOX", 14, Duration::from_secs(30))
        .await;
    run_once(&config);
    let list = requests(&config);
    let list = list.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 14, "every mail is a request: nothing lost");
    assert!(list.iter().all(|r| r["escalated"] == true));
    // 10 escalation mails, then silence. The agent gets a receipt per request (issue 13: no
    // request left in silence) up to the per-recipient reply cap (5 a day), no more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_mails(&stack, "staff", "Needs a person", 10).await;
    assert_eq!(stack.count("flood", "INBOX").await, 5);
    let digest = wait_mails(&stack, "staff", "Privacy requests open", 1)
        .await
        .remove(0);
    assert_eq!(
        list.iter()
            .filter(|r| digest.contains(r["id"].as_str().unwrap_or("?")))
            .count(),
        14,
        "the digest lists all of them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_action_is_mailed_by_the_running_daemon_without_incoming_mail() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let consumer = "ines@example.test";
    deliver_request(
        &stack,
        consumer,
        "daemon-1@c.example.test",
        "Do not sell or share my personal information.",
    )
    .await;
    let cfg = config.to_str().expect("utf-8");
    let mut daemon = common::spawn_bin(
        &["--config", cfg, "run"],
        &[("PRIVACY_INBOX_HOUSEKEEPING_SECONDS", "2")],
        &dir.path().join("daemon.log"),
    );
    wait_mails(&stack, "ines", "privacy request", 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let id = request(&config, consumer)["id"]
        .as_str()
        .expect("id")
        .to_string();
    // The daemon sits in IDLE; nothing new arrives. The CLI only queues the mail.
    let out = cli(
        &config,
        &["requests", "complete", &id, "done at the ad platform"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_mails(&stack, "ines", "is complete", 1).await;
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.success(), "{}", daemon.log_text());
}

/// A Spanish 8bit mail is escalated: the staff mail reads English, its dates included
/// (it once said "Received: 27 de noviembre de 2026"), and the original rides along as
/// `message/rfc822` in 8bit, not base64 (RFC 2046 §5.2.1), through the real Postfix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spanish_escalation_reads_english_and_attaches_the_original_in_8bit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = MailStack::start();
    // The relay must take 8bit bodies (RFC 6152): lettre refuses non-ASCII mail otherwise.
    let mut smtp = tokio::net::TcpStream::connect((stack.host(), stack.smtp_port()))
        .await
        .expect("smtp");
    let mut buf = vec![0u8; 4096];
    let _ = smtp.read(&mut buf).await.expect("greeting");
    smtp.write_all(b"EHLO test.example\r\n")
        .await
        .expect("ehlo");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = smtp.read(&mut buf).await.expect("ehlo reply");
    assert!(
        String::from_utf8_lossy(&buf[..n]).contains("8BITMIME"),
        "the test Postfix does not offer 8BITMIME: {}",
        String::from_utf8_lossy(&buf[..n])
    );
    drop(smtp);

    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    let from = "lucia@example.test";
    let raw = format!(
        "From: =?utf-8?q?Luc=C3=ADa?= <{from}>\r\nTo: {PRIVACY}\r\nSubject: Mis datos\r\n\
         Message-ID: <es-8bit-1@c.example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Hola, no vendan ni compartan mis datos personales, por favor.\r\n\
         ¿Con quién los han compartido hasta ahora? Gracias, Lucía Pérez\r\n"
    );
    // Received on November 27 whatever the day the test runs: the clocks start at the
    // server's INTERNALDATE, which SMTP delivery would set to today.
    stack
        .append_dated("privacy", "INBOX", raw, "27-Nov-2026 10:00:00 +0000")
        .await;
    common::run_once_with(&config, &[("PRIVACY_INBOX_NOW", "2026-11-27T18:00:00Z")]);
    let mail = wait_mails(&stack, "staff", "Needs a person", 1)
        .await
        .remove(0);
    assert!(mail.contains("Received:   November 27, 2026"), "{mail}");
    for spanish in ["noviembre", "diciembre", "enero", " de 2026", " de 2027"] {
        assert!(
            !mail.contains(spanish),
            "Spanish in staff mail ({spanish}):\n{mail}"
        );
    }
    let at = mail
        .find("Content-Type: message/rfc822")
        .unwrap_or_else(|| panic!("no message/rfc822 part:\n{mail}"));
    let part = &mail[at..];
    let headers = &part[..part.find("\r\n\r\n").unwrap_or(part.len())];
    assert!(
        headers.contains("Content-Transfer-Encoding: 8bit"),
        "the attached original is not 8bit: {headers}"
    );
    assert!(
        part.contains("¿Con quién los han compartido hasta ahora? Gracias, Lucía Pérez"),
        "the original's text is not readable in the attachment:\n{part}"
    );

    // The preview of a staff message about this request reads English too.
    let r = request(&config, from);
    let id = r["id"].as_str().expect("id").to_string();
    let preview = cli(
        &config,
        &["templates", "preview", "escalation", "--request", &id],
    );
    let preview = String::from_utf8_lossy(&preview.stdout);
    assert!(
        preview.contains("Received:   November 27, 2026"),
        "{preview}"
    );

    // Staff say it was a plain opt-out the bot should have handled (`/handle` records the
    // label); `classify eval` re-reads the stored mail and reports the disagreement.
    let handled = cli(&config, &["requests", "handle", &id, "opt-out-sale"]);
    assert!(handled.status.success(), "{handled:?}");
    let export = dir.path().join("labelled");
    let out = cli(
        &config,
        &["classify", "eval", "--export", &export.to_string_lossy()],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("1 staff-labelled mail(s) re-classified with the current rules: action 0.0% (0/1), kinds 100.0% (1/1)"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "DISAGREE {id}: classifier escalate [opt_out_sale], staff handle [opt_out_sale]"
        )),
        "{text}"
    );
    let tsv = std::fs::read_to_string(export.join("labels.tsv")).expect("labels.tsv");
    assert!(
        tsv.lines()
            .nth(1)
            .is_some_and(|l| l.contains("\thandle\topt_out_sale\tes\t")),
        "{tsv}"
    );
}
