//! The daemon reloads edited templates on the real mail stack: a broken edit keeps the last
//! good set live and tells staff once; a fixed edit goes live without a restart.

mod common;

use common::{copy_templates, MailStack};
use std::fs;
use std::time::{Duration, Instant};

fn request_mail(from: &str, n: u32) -> String {
    common::privacy_request(
        from,
        &format!("reload-{n}-{}@c.example.test", std::process::id()),
        "Please delete all personal data you hold about me.",
    )
}

async fn ack_subject(stack: &MailStack, user: &str) -> String {
    let got = stack
        .wait_for(user, "INBOX", 1, Duration::from_secs(40))
        .await;
    common::header(&got[0], "Subject").expect("subject")
}

async fn problem_notices(stack: &MailStack) -> usize {
    common::with_subject(
        &stack.fetch_all("staff", "INBOX").await,
        "Edited mail templates",
    )
}

/// `user@example.test` sends request number `n`.
async fn send_request(stack: &MailStack, user: &str, n: u32) {
    let from = format!("{user}@example.test");
    stack
        .send(request_mail(&from, n), &from, "privacy@example.test")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_edit_keeps_the_old_set_and_tells_staff_once_and_a_fix_goes_live() {
    let stack = MailStack::start();
    let tmp = tempfile::tempdir().expect("temp dir");
    let templates = copy_templates(tmp.path());
    let config = stack.write_config(tmp.path(), "");
    let shipped = common::repo_root().join("templates");
    common::edit_config(
        &config,
        &format!("dir = \"{}\"", shipped.display()),
        &format!("dir = \"{}\"", templates.display()),
    );
    let text = fs::read_to_string(&config).expect("read config");
    assert!(text.contains(&templates.display().to_string()), "{text}");
    let subject_file = templates.join("en/acknowledgement.subject.hbs");

    let cfg = config.to_str().expect("utf-8");
    let mut daemon = common::spawn_bin(
        &["--config", cfg, "run"],
        &[],
        &tmp.path().join("daemon.log"),
    );

    // The shipped set is live.
    send_request(&stack, "consumer", 1).await;
    let s1 = ack_subject(&stack, "consumer").await;
    assert!(s1.contains("We received your privacy request"), "{s1}");

    // A broken edit: an unknown variable in the acknowledgement's subject.
    fs::write(&subject_file, "[{{request_id}}] Changed: {{reqest_id}}\n").expect("break");
    send_request(&stack, "consumer2", 2).await;
    let s2 = ack_subject(&stack, "consumer2").await;
    assert!(
        s2.contains("We received your privacy request") && !s2.contains("Changed"),
        "the last good set stays live: {s2}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while problem_notices(&stack).await == 0 {
        assert!(
            Instant::now() < deadline,
            "no template problem notice; log:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let notice = common::mails_with_subject(
        &stack.fetch_all("staff", "INBOX").await,
        "Edited mail templates",
    )
    .into_iter()
    .next()
    .expect("the notice");
    let body = mail_parser::MessageParser::default()
        .parse(&notice)
        .and_then(|m| m.body_text(0).map(|b| b.into_owned()))
        .expect("a text body");
    // Lines are wrapped at 76 columns (a long path may start a line of its own); names are
    // quoted, not in Markdown backticks.
    let unfolded = body.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        unfolded.contains(&format!(
            "{}:1: unknown variable \"reqest_id\"",
            subject_file.display()
        )),
        "the notice carries the report: {body}"
    );

    // Still broken, another mail: the old set again, and no second notice.
    send_request(&stack, "consumer3", 3).await;
    let s3 = ack_subject(&stack, "consumer3").await;
    assert!(!s3.contains("Changed"), "{s3}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        problem_notices(&stack).await,
        1,
        "staff are told once per broken version"
    );

    // Fixed: the new subject goes live without a restart.
    fs::write(
        &subject_file,
        "[{{request_id}}] Changed: we have your privacy request\n",
    )
    .expect("fix");
    send_request(&stack, "consumer4", 4).await;
    let s4 = ack_subject(&stack, "consumer4").await;
    assert!(s4.contains("Changed: we have your privacy request"), "{s4}");
    assert_eq!(problem_notices(&stack).await, 1);
    let log = daemon.log_text();
    assert!(log.contains("Edited templates have problems"), "{log}");
    assert!(log.contains("Templates reloaded"), "{log}");

    // preview --request renders with that request's real facts.
    let id = common::request(&config, "consumer4@example.test")["id"]
        .as_str()
        .expect("consumer4's request")
        .to_string();
    let out = common::run_bin(
        &[
            "--config",
            cfg,
            "templates",
            "preview",
            "completed",
            "--request",
            &id,
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "Subject:  [{id}] Your privacy request is complete"
        )),
        "{text}"
    );
    assert!(text.contains("Sample values for: completed_date"), "{text}");
    // Bodies are wrapped at 76 columns: the label may span two lines.
    let unfolded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        unfolded.contains("deletion of your personal information"),
        "{text}"
    );

    let status = daemon.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "daemon exit: {status}; log:\n{}",
        daemon.log_text()
    );

    // A broken set refuses to start, with the same report as `templates check`.
    fs::write(&subject_file, "[{{request_id}}] {{reqest_id}}\n").expect("break again");
    let out = common::run_bin(&["--config", cfg, "run", "--once"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a broken set must not start");
    assert!(
        err.contains(&format!(
            "{}:1: unknown variable `reqest_id`",
            subject_file.display()
        )),
        "{err}"
    );
}
