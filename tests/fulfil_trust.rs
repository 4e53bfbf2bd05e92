//! Fulfilment you can trust (issue 24), on the real mail stack and real SQLite sources, each
//! test written as the attacker or the unlucky admin first: a consumer's `/resend` before
//! approval or after a denial gets no link; a forged or unproven `/resend` voids no unused
//! link; staff may `/resend` after completion; "nothing found" waits for staff; a source down
//! for the whole retry schedule comes back to staff and `/approve` finishes the job; an erase
//! blocked by a trigger erases nothing, and `/approve` after the fix erases; the lookup after
//! an erasure catches rows left.

mod common;

use common::{reply, request, run_once, run_once_with, send_first, MailStack};
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// An Authentication-Results header our own server (mx.example.test) would add.
const AR_PASS: &str = "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=example.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test\r\n";
const AR_FAIL: &str = "Authentication-Results: mx.example.test; spf=fail smtp.mailfrom=example.test; dmarc=fail header.from=example.test\r\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The company's CRM: alice 2 customers rows and 3 calls, bob 1 and 1, carol 1 and 1.
fn company(dir: &Path) -> PathBuf {
    let path = dir.join("crm.sqlite3");
    let c = rusqlite::Connection::open(&path).expect("crm");
    c.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);
         CREATE TABLE calls (id INTEGER PRIMARY KEY, email TEXT NOT NULL, note TEXT);
         INSERT INTO customers (email, name) VALUES
           ('alice@example.test', 'Alice'), ('alice@example.test', 'Alice (old)'),
           ('bob@example.test', 'Bob'), ('carol@example.test', 'Carol');
         INSERT INTO calls (email, note) VALUES
           ('alice@example.test', 'first'), ('alice@example.test', 'second'),
           ('alice@example.test', 'third'), ('bob@example.test', 'bob'),
           ('carol@example.test', 'hello');",
    )
    .expect("rows");
    path
}

fn crm_source(crm: &Path, erase: &str) -> String {
    format!(
        r#"
[[sources]]
name = "crm"
kind = "sqlite"
url = "{crm}"
lookup = {{ customers = "SELECT count(*) FROM customers WHERE email = :email", calls = "SELECT count(*) FROM calls WHERE email = :email" }}
export = {{ customers = "SELECT name FROM customers WHERE email = :email", calls = "SELECT note FROM calls WHERE email = :email" }}
erase = [{erase}]
"#,
        crm = crm.display()
    )
}

const ERASE_ALL: &str =
    r#""DELETE FROM calls WHERE email = :email", "DELETE FROM customers WHERE email = :email""#;

fn portal(port: u16) -> String {
    format!("\n[portal]\nlisten = \"127.0.0.1:{port}\"\npublic-url = \"http://127.0.0.1:{port}\"\n")
}

fn setup(stack: &MailStack, dir: &Path, sources: &str, authserv: bool) -> PathBuf {
    let config = stack.write_config(dir, "");
    if authserv {
        common::edit_config(
            &config,
            "processed-mailbox = \"Processed\"",
            "processed-mailbox = \"Processed\"\nauthserv-id = \"mx.example.test\"",
        );
    }
    let mut cfg = std::fs::read_to_string(&config).expect("config");
    cfg.push_str(sources);
    std::fs::write(&config, cfg).expect("config");
    config
}

/// Replies to the newest acknowledgement in `user`'s INBOX from `from`, with `headers` and
/// `body`; waits until the bot's mailbox has it.
async fn reply_in_thread(stack: &MailStack, user: &str, from: &str, headers: &str, body: &str) {
    let acks = stack
        .wait_until(user, "INBOX", "the acknowledgement", WAIT, |m| {
            common::with_subject(m, "VERIFY-") > 0
        })
        .await;
    let ack = common::mails_with_subject(&acks, "VERIFY-")
        .pop()
        .expect("ack");
    let id = format!("r-{}@c.example.test", common::unique());
    let (raw, to) = reply(&ack, from, &id, headers, body);
    stack.send(raw, from, &to).await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&format!("<{id}>")], WAIT)
        .await;
}

fn id_of(config: &Path, requester: &str) -> String {
    request(config, requester)["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn cli_ok(config: &Path, args: &[&str]) -> String {
    let out = common::cli(config, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn mails_with(stack: &MailStack, user: &str, needle: &str) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    common::mails_with_subject(&stack.fetch_all(user, "INBOX").await, needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_resend_gets_no_link_before_approval_or_after_denial_and_a_forged_one_voids_nothing(
) {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let crm = company(dir.path());
    let port = free_port();
    let sources = format!("{}{}", crm_source(&crm, ERASE_ALL), portal(port));
    let config = setup(&stack, dir.path(), &sources, true);
    let store = dir.path().join("privacy-inbox.sqlite3");
    let ask = "Please send me a copy of all personal data you hold about me.";
    send_first(&stack, "alice@example.test", "My data", ask).await;
    send_first(&stack, "bob@example.test", "My data", ask).await;
    run_once(&config);
    reply_in_thread(
        &stack,
        "alice",
        "alice@example.test",
        AR_PASS,
        "Yes, that was me.",
    )
    .await;
    reply_in_thread(
        &stack,
        "bob",
        "bob@example.test",
        AR_PASS,
        "Yes, that was me.",
    )
    .await;

    // One pass carries verification → lookup → export → staff mail.
    run_once(&config);
    let ready = stack
        .wait_until("staff", "INBOX", "two packages ready", WAIT, |m| {
            common::with_subject(m, "Access package ready") >= 2
        })
        .await;
    let staff_mail = common::mails_with_subject(&ready, "Access package ready").remove(0);
    println!("--- staff sees:\n{staff_mail}");
    assert!(
        !common::folded_body(&staff_mail).contains("/resend"),
        "no /resend offered before a link exists"
    );
    let alice = id_of(&config, "alice@example.test");
    let bob = id_of(&config, "bob@example.test");

    // The attacker's test: the consumer's /resend before staff approved (manual mode).
    reply_in_thread(&stack, "alice", "alice@example.test", AR_PASS, "/resend").await;
    run_once(&config);
    let told = stack
        .wait_for_subject("alice", "About your download link", WAIT)
        .await;
    println!("--- alice sees:\n{told}");
    let body = common::folded_body(&told);
    assert!(body.contains("reviewed by our team"), "{body}");
    assert!(
        !body.contains(&format!("127.0.0.1:{port}/d/")),
        "no link: {body}"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM links"),
        0,
        "no link exists"
    );
    assert_eq!(request(&config, "alice@example.test")["status"], "verified");

    // Bob is denied; his /resend gets no link either.
    cli_ok(
        &config,
        &[
            "requests",
            "deny",
            &bob,
            "exempt",
            "We must keep these records for a legal hold.",
        ],
    );
    run_once(&config);
    reply_in_thread(&stack, "bob", "bob@example.test", AR_PASS, "/resend").await;
    run_once(&config);
    let told = stack
        .wait_for_subject("bob", "About your download link", WAIT)
        .await;
    let body = common::folded_body(&told);
    assert!(body.contains("declined this request"), "{body}");
    assert_eq!(
        count(&store, "SELECT count(*) FROM links"),
        0,
        "no link after a denial"
    );
    // Staff cannot send one either.
    let out = common::cli(&config, &["requests", "resend", &bob]);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("denied"), "{said}");
    assert_eq!(count(&store, "SELECT count(*) FROM links"), 0);

    // /approve on the unverified: the refusal says what it waits for (a third request).
    send_first(&stack, "carol@example.test", "My data", ask).await;
    run_once(&config);
    let carol = id_of(&config, "carol@example.test");
    let out = common::cli(&config, &["requests", "approve", &carol]);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("waiting for the consumer to confirm by reply"),
        "{said}"
    );

    // Staff approve alice: the link goes to the address on file.
    cli_ok(&config, &["requests", "approve", &alice]);
    run_once(&config);
    stack
        .wait_for_subject("alice", "ready to download", WAIT)
        .await;
    assert_eq!(
        count(&store, "SELECT count(*) FROM links WHERE state = 'active'"),
        1
    );
    assert_eq!(
        request(&config, "alice@example.test")["status"],
        "completed"
    );

    // A forged /resend (our server says dmarc=fail) and an unproven one (no verdict from
    // our server): the unused link stays active.
    reply_in_thread(&stack, "alice", "alice@example.test", AR_FAIL, "/resend").await;
    run_once(&config);
    reply_in_thread(&stack, "alice", "alice@example.test", "", "/resend").await;
    run_once(&config);
    assert_eq!(
        count(&store, "SELECT count(*) FROM links WHERE state = 'active'"),
        1,
        "the unused link still works"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM links"),
        1,
        "no new link"
    );
    let kept = mails_with(&stack, "alice", "About your download link").await;
    assert!(
        kept.iter()
            .any(|m| common::folded_body(m).contains("current link still works")),
        "{kept:#?}"
    );
    assert_eq!(
        mails_with(&stack, "alice", "ready to download").await.len(),
        1
    );

    // Staff /resend after completion (the consumer lost the mail): a fresh link, the old void.
    cli_ok(&config, &["requests", "resend", &alice]);
    run_once(&config);
    stack
        .wait_until("alice", "INBOX", "a second link", WAIT, |m| {
            common::with_subject(m, "ready to download") >= 2
        })
        .await;
    assert_eq!(
        count(&store, "SELECT count(*) FROM links WHERE state = 'voided'"),
        1
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM links WHERE state = 'active'"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_found_waits_for_staff_and_a_source_down_for_every_retry_comes_back() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // The CRM's file is not there: the source is down.
    let staged = tempfile::tempdir().expect("staging dir");
    let ready = company(staged.path());
    let crm = dir.path().join("crm.sqlite3");
    let config = setup(&stack, dir.path(), &crm_source(&crm, ERASE_ALL), false);
    let ask = "Please delete all my personal data.";
    send_first(&stack, "carol@example.test", "Delete", ask).await;
    run_once(&config);
    reply_in_thread(
        &stack,
        "carol",
        "carol@example.test",
        "",
        "Yes, that was me.",
    )
    .await;
    let t0 = chrono::Utc::now();
    run_once(&config);
    let id = id_of(&config, "carol@example.test");
    // Each retry after its backoff; after the last, one mail to staff.
    for minutes in [2, 10, 45, 200] {
        let at = (t0 + chrono::Duration::minutes(minutes)).to_rfc3339();
        run_once_with(&config, &[("PRIVACY_INBOX_NOW", at.as_str())]);
    }
    let failed = stack
        .wait_for_subject("staff", "A source failed", WAIT)
        .await;
    println!("--- staff sees:\n{failed}");
    let body = common::folded_body(&failed);
    assert!(
        body.contains(&id) && body.contains("crm") && body.contains("lookup"),
        "{body}"
    );
    assert!(body.contains("/retry"), "{body}");
    assert!(
        !body.contains("carol@"),
        "no personal data beyond the id in the error: {body}"
    );
    assert_eq!(
        mails_with(&stack, "staff", "A source failed").await.len(),
        1
    );
    assert_eq!(request(&config, "carol@example.test")["status"], "verified");
    // The failed step is open work: near the deadline, staff are told what failed.
    let near = (t0 + chrono::Duration::days(40)).to_rfc3339();
    run_once_with(&config, &[("PRIVACY_INBOX_NOW", near.as_str())]);
    let due = stack.wait_for_subject("staff", "Due in", WAIT).await;
    println!("--- staff sees:\n{due}");
    assert!(
        common::folded_body(&due).contains("open work: the lookup failed"),
        "{due}"
    );

    // The source is back; /approve runs the failed lookup, then the plan, then the erasure.
    std::fs::copy(&ready, &crm).expect("the CRM is back");
    let later = (t0 + chrono::Duration::minutes(300)).to_rfc3339();
    let now = [("PRIVACY_INBOX_NOW", later.as_str())];
    let out = common::run_bin(
        &[
            "--config",
            common::cfg_str(&config),
            "requests",
            "approve",
            &id,
        ],
        &now,
    );
    assert!(out.status.success(), "{out:?}");
    run_once_with(&config, &now);
    stack.wait_for_subject("staff", "Deletion plan", WAIT).await;
    let out = common::run_bin(
        &[
            "--config",
            common::cfg_str(&config),
            "requests",
            "approve",
            &id,
        ],
        &now,
    );
    assert!(out.status.success(), "{out:?}");
    run_once_with(&config, &now);
    assert_eq!(
        count(
            &crm,
            "SELECT count(*) FROM customers WHERE email = 'carol@example.test'"
        ),
        0
    );
    assert_eq!(
        request(&config, "carol@example.test")["status"],
        "completed"
    );

    // Dave is found nowhere: staff see the identifiers asked and approve the reply.
    send_first(&stack, "dave@example.test", "Delete", ask).await;
    run_once_with(&config, &now);
    reply_in_thread(&stack, "dave", "dave@example.test", "", "Yes, that was me.").await;
    run_once_with(&config, &now);
    let plan = stack
        .wait_for_subject("staff", "Nothing found in any source", WAIT)
        .await;
    println!("--- staff sees:\n{plan}");
    let body = common::folded_body(&plan);
    assert!(
        body.contains("asked with: email dave@example.test"),
        "{body}"
    );
    assert!(!body.contains("/resend"), "{body}");
    assert_eq!(request(&config, "dave@example.test")["status"], "verified");
    assert_eq!(
        mails_with(&stack, "dave", "no personal information")
            .await
            .len(),
        0
    );
    let dave = id_of(&config, "dave@example.test");
    let out = common::run_bin(
        &[
            "--config",
            common::cfg_str(&config),
            "requests",
            "approve",
            &dave,
        ],
        &now,
    );
    assert!(out.status.success(), "{out:?}");
    run_once_with(&config, &now);
    stack
        .wait_for_subject("dave", "no personal information", WAIT)
        .await;
    assert_eq!(request(&config, "dave@example.test")["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erase_blocked_by_a_trigger_erases_nothing_and_rows_left_are_caught() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let crm = company(dir.path());
    rusqlite::Connection::open(&crm)
        .and_then(|c| {
            c.execute_batch(
                "CREATE TRIGGER hold BEFORE DELETE ON customers BEGIN
                   SELECT RAISE(ABORT, 'legal hold on customers'); END;",
            )
        })
        .expect("trigger");
    // A second source whose erase forgets a table: its lookup after the erasure finds rows.
    let crm2 = dir.path().join("crm2.sqlite3");
    std::fs::copy(&crm, &crm2).expect("copy");
    rusqlite::Connection::open(&crm2)
        .and_then(|c| c.execute_batch("DROP TRIGGER hold;"))
        .expect("no trigger");
    let sources = format!(
        "{}{}",
        crm_source(&crm, ERASE_ALL),
        crm_source(&crm2, r#""DELETE FROM customers WHERE email = :email""#)
            .replace("name = \"crm\"", "name = \"sales\"")
    );
    let config = setup(&stack, dir.path(), &sources, false);
    send_first(
        &stack,
        "carol@example.test",
        "Delete",
        "Please delete all my personal data.",
    )
    .await;
    run_once(&config);
    reply_in_thread(
        &stack,
        "carol",
        "carol@example.test",
        "",
        "Yes, that was me.",
    )
    .await;
    run_once(&config);
    let plan = stack.wait_for_subject("staff", "Deletion plan", WAIT).await;
    println!("--- staff sees:\n{plan}");
    assert!(
        !common::folded_body(&plan).contains("/resend"),
        "no /resend for a deletion"
    );
    let id = id_of(&config, "carol@example.test");
    cli_ok(&config, &["requests", "approve", &id]);
    run_once(&config);
    // crm: the trigger aborted the transaction, nothing half-erased; sales: rows left.
    let carol_in = |db: &Path, table: &str| {
        count(
            db,
            &format!("SELECT count(*) FROM {table} WHERE email = 'carol@example.test'"),
        )
    };
    assert_eq!(carol_in(&crm, "calls"), 1, "nothing half-erased");
    assert_eq!(carol_in(&crm, "customers"), 1);
    assert_eq!(carol_in(&crm2, "customers"), 0);
    assert_eq!(carol_in(&crm2, "calls"), 1);
    let mails = stack
        .wait_until("staff", "INBOX", "the failure", WAIT, |m| {
            common::with_subject(m, "A source failed (erase)")
                + common::with_subject(m, "Erasure partial")
                >= 1
        })
        .await;
    for m in common::mails_with_subject(&mails, "erase") {
        println!("--- staff sees:\n{m}");
    }
    let all: String = mails
        .iter()
        .map(|m| common::folded_body(&String::from_utf8_lossy(m)))
        .collect();
    assert!(all.contains("legal hold on customers"), "{all}");
    assert!(all.contains("sales: 1 record(s) still found"), "{all}");
    assert_eq!(request(&config, "carol@example.test")["status"], "verified");
    assert_eq!(mails_with(&stack, "carol", "complete").await.len(), 0);

    // The admin fixes both; /approve runs the erasure again in exactly those sources.
    rusqlite::Connection::open(&crm)
        .and_then(|c| c.execute_batch("DROP TRIGGER hold;"))
        .expect("fix");
    common::edit_config(
        &config,
        r#"erase = ["DELETE FROM customers WHERE email = :email"]"#,
        &format!("erase = [{ERASE_ALL}]"),
    );
    cli_ok(&config, &["requests", "approve", &id]);
    run_once(&config);
    assert_eq!(carol_in(&crm, "calls") + carol_in(&crm, "customers"), 0);
    assert_eq!(carol_in(&crm2, "calls") + carol_in(&crm2, "customers"), 0);
    assert_eq!(
        count(
            &crm,
            "SELECT count(*) FROM customers WHERE email = 'bob@example.test'"
        ),
        1,
        "nobody else"
    );
    assert_eq!(
        request(&config, "carol@example.test")["status"],
        "completed"
    );
    stack.wait_for_subject("carol", "complete", WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_unsubscribe_in_one_mail_are_both_carried_out_and_the_completion_says_so() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let crm = company(dir.path());
    rusqlite::Connection::open(&crm)
        .and_then(|c| {
            c.execute_batch(
                "CREATE TABLE newsletter (email TEXT NOT NULL, subscribed INTEGER NOT NULL);
                 INSERT INTO newsletter VALUES ('alice@example.test', 1), ('bob@example.test', 1);",
            )
        })
        .expect("newsletter");
    let sources = crm_source(&crm, ERASE_ALL)
        + "opt-out = \"UPDATE newsletter SET subscribed = 0 WHERE email = :email\"\n";
    let config = setup(&stack, dir.path(), &sources, false);
    send_first(
        &stack,
        "alice@example.test",
        "Account",
        "Please delete my account and all data, and remove me from your mailing list.",
    )
    .await;
    run_once(&config);
    let r = request(&config, "alice@example.test");
    println!("{r:#}");
    let kinds = r["kinds"].to_string();
    assert!(
        kinds.contains("delete") && kinds.contains("opt_out_marketing"),
        "{kinds}"
    );
    // The opt-out part runs at once, before any verification.
    let subscribed = |who: &str| {
        count(
            &crm,
            &format!("SELECT subscribed FROM newsletter WHERE email = '{who}'"),
        )
    };
    assert_eq!(subscribed("alice@example.test"), 0, "unsubscribed at once");
    assert_eq!(subscribed("bob@example.test"), 1, "nobody else");
    assert_eq!(r["status"], "awaiting_verification");
    // The erasure on its own track: verification, plan, /approve.
    reply_in_thread(
        &stack,
        "alice",
        "alice@example.test",
        "",
        "Yes, that was me.",
    )
    .await;
    run_once(&config);
    stack.wait_for_subject("staff", "Deletion plan", WAIT).await;
    let id = id_of(&config, "alice@example.test");
    cli_ok(&config, &["requests", "approve", &id]);
    run_once(&config);
    assert_eq!(
        count(
            &crm,
            "SELECT count(*) FROM customers WHERE email = 'alice@example.test'"
        ),
        0
    );
    assert_eq!(
        request(&config, "alice@example.test")["status"],
        "completed"
    );
    let done = stack.wait_for_subject("alice", "complete", WAIT).await;
    println!("--- alice sees:\n{done}");
    let body = common::folded_body(&done);
    assert!(body.contains("deletion"), "{body}");
    assert!(body.contains("marketing"), "{body}");
    assert_eq!(mails_with(&stack, "alice", "complete").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribe_no_source_can_run_is_never_reported_done() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let crm = company(dir.path());
    let config = setup(&stack, dir.path(), &crm_source(&crm, ERASE_ALL), false);
    send_first(
        &stack,
        "alice@example.test",
        "Account",
        "Please delete my account and all data, and remove me from your mailing list.",
    )
    .await;
    run_once(&config);
    reply_in_thread(
        &stack,
        "alice",
        "alice@example.test",
        "",
        "Yes, that was me.",
    )
    .await;
    run_once(&config);
    stack.wait_for_subject("staff", "Deletion plan", WAIT).await;
    let id = id_of(&config, "alice@example.test");
    cli_ok(&config, &["requests", "approve", &id]);
    run_once(&config);
    assert_eq!(
        count(
            &crm,
            "SELECT count(*) FROM customers WHERE email = 'alice@example.test'"
        ),
        0
    );
    let waits = stack
        .wait_for_subject("staff", "the opt-out part waits for you", WAIT)
        .await;
    println!("--- staff sees:\n{waits}");
    assert_eq!(request(&config, "alice@example.test")["status"], "verified");
    assert_eq!(mails_with(&stack, "alice", "complete").await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_source_failing_half_way_through_an_export_leaves_no_package_and_no_link() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let crm = company(dir.path());
    let fixed = dir.path().join("fixed");
    let script = dir.path().join("billing.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nread -r input\ncase \"$input\" in\n\
             *'\"action\":\"lookup\"'*) echo '{{\"count\":1}}' ;;\n\
             *'\"action\":\"export\"'*)\n\
               echo '{{\"table\":\"invoices\",\"row\":{{\"number\":\"INV-1\"}}}}'\n\
               if [ -f '{fixed}' ]; then echo '{{\"table\":\"invoices\",\"row\":{{\"number\":\"INV-2\"}}}}'; \
               else echo 'disk full half-way'; fi ;;\n\
             *) echo '{{\"ok\":true}}' ;;\nesac\n",
            fixed = fixed.display()
        ),
    )
    .expect("script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let port = free_port();
    let sources = format!(
        "{}\n[[sources]]\nname = \"billing\"\nkind = \"command\"\ncommand = [\"{}\"]\nactions = [\"lookup\", \"export\"]\n{}",
        crm_source(&crm, ERASE_ALL),
        script.display(),
        portal(port)
    );
    let config = setup(&stack, dir.path(), &sources, false);
    let store = dir.path().join("privacy-inbox.sqlite3");
    send_first(
        &stack,
        "alice@example.test",
        "My data",
        "Please send me a copy of all personal data you hold about me.",
    )
    .await;
    run_once(&config);
    reply_in_thread(
        &stack,
        "alice",
        "alice@example.test",
        "",
        "Yes, that was me.",
    )
    .await;
    run_once(&config);
    let failed = stack
        .wait_for_subject("staff", "A source failed (export)", WAIT)
        .await;
    println!("--- staff sees:\n{failed}");
    assert!(common::folded_body(&failed).contains("billing"), "{failed}");
    assert_eq!(
        count(&store, "SELECT count(*) FROM packages"),
        0,
        "no package"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM links"), 0, "no link");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("packages"))
        .map(|d| d.filter_map(|e| e.ok()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no partial file: {left:?}");
    let id = id_of(&config, "alice@example.test");
    // Nothing to approve but the failed step: /resend is refused, saying so.
    let out = common::cli(&config, &["requests", "resend", &id]);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("export failed in billing"), "{said}");

    // Fixed: /approve runs the export again, whole; then /approve mails the link.
    std::fs::write(&fixed, "").expect("fix");
    cli_ok(&config, &["requests", "approve", &id]);
    run_once(&config);
    stack
        .wait_for_subject("staff", "Access package ready", WAIT)
        .await;
    assert_eq!(count(&store, "SELECT count(*) FROM packages"), 1);
    assert_eq!(
        count(&store, "SELECT count(*) FROM links"),
        0,
        "no link before approval"
    );
    cli_ok(&config, &["requests", "approve", &id]);
    run_once(&config);
    stack
        .wait_for_subject("alice", "ready to download", WAIT)
        .await;
    assert_eq!(
        request(&config, "alice@example.test")["status"],
        "completed"
    );
}
