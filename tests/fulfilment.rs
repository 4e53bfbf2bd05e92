//! Fulfilment on the real stack: a company SQLite file and a `command` source (a small
//! script) as data sources, the daemon's download page, and the consumer's mailbox. An access
//! request is verified by reply, looked up, packaged, approved, mailed as a single-use link and
//! downloaded once; a deletion erases the rows after /approve; an opt-out runs everywhere at
//! once; a requester found nowhere is told so once staff approve; a source that prints
//! garbage goes to staff.

mod common;

use common::{reply, request, run_once, send_first, MailStack};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The company's CRM: alice has 2 customers rows and 3 calls, carol 1 and 1, erin 1; bob's
/// rows are never touched.
fn company(dir: &Path) -> PathBuf {
    let path = dir.join("crm.sqlite3");
    let c = rusqlite::Connection::open(&path).expect("crm");
    c.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT,
                                 do_not_sell INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE calls (id INTEGER PRIMARY KEY, email TEXT NOT NULL, note TEXT);
         INSERT INTO customers (email, name) VALUES
           ('alice@example.test', 'Alice'), ('alice@example.test', 'Alice (old)'),
           ('carol@example.test', 'Carol'), ('erin@example.test', 'Erin'), ('bob@example.test', 'Bob');
         INSERT INTO calls (email, note) VALUES
           ('alice@example.test', 'first'), ('alice@example.test', 'second'),
           ('alice@example.test', 'third'), ('carol@example.test', 'hello'), ('bob@example.test', 'bob');",
    )
    .expect("rows");
    path
}

/// A `command` source: a billing system that knows alice (lookup, export) and prints
/// `{"ok":true}` for everything else.
fn billing_script(dir: &Path) -> PathBuf {
    let path = dir.join("billing.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nread -r input\ncase \"$input\" in\n\
         *'\"action\":\"lookup\"'*alice*|*alice*'\"action\":\"lookup\"'*) echo '{\"count\":1}' ;;\n\
         *'\"action\":\"lookup\"'*) echo '{\"count\":0}' ;;\n\
         *'\"action\":\"export\"'*alice*|*alice*'\"action\":\"export\"'*) echo '{\"table\":\"invoices\",\"row\":{\"number\":\"INV-1\",\"total\":\"9.99\"}}' ;;\n\
         *'\"action\":\"export\"'*) ;;\n\
         *) echo '{\"ok\":true}' ;;\nesac\n",
    )
    .expect("script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    path
}

fn fulfil_config(crm: &Path, billing: &Path, port: u16) -> String {
    format!(
        r#"
[[sources]]
name = "crm"
kind = "sqlite"
url = "{crm}"
lookup = {{ customers = "SELECT count(*) FROM customers WHERE email = :email", calls = "SELECT count(*) FROM calls WHERE email = :email" }}
export = {{ customers = "SELECT name, do_not_sell FROM customers WHERE email = :email", calls = "SELECT note FROM calls WHERE email = :email" }}
erase = ["DELETE FROM calls WHERE email = :email", "DELETE FROM customers WHERE email = :email"]
opt-out = "UPDATE customers SET do_not_sell = 1 WHERE email = :email"

[[sources]]
name = "billing"
kind = "command"
command = ["{billing}"]
actions = ["lookup", "export", "erase"]

[portal]
listen = "127.0.0.1:{port}"
public-url = "http://127.0.0.1:{port}"
"#,
        crm = crm.display(),
        billing = billing.display()
    )
}

/// Replies to the newest mail with VERIFY- in `user`'s INBOX, from `from`.
async fn verify(stack: &MailStack, user: &str, from: &str) {
    let acks = stack
        .wait_until(user, "INBOX", "the acknowledgement", WAIT, |m| {
            common::with_subject(m, "VERIFY-") > 0
        })
        .await;
    let ack = common::mails_with_subject(&acks, "VERIFY-")
        .pop()
        .expect("ack");
    let id = format!("v-{}@c.example.test", common::unique());
    let (raw, to) = reply(&ack, from, &id, "", "Yes, that was me.");
    stack.send(raw, from, &to).await;
    stack
        .wait_for_ids("privacy", "INBOX", &[&format!("<{id}>")], WAIT)
        .await;
}

fn show(config: &Path, id: &str) -> serde_json::Value {
    let out = common::cli(config, &["requests", "show", id, "--json"]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("json")
}

fn count(crm: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(crm)
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .expect("count")
}

/// curl: (status, body).
fn curl(args: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    assert!(out.status.success(), "{out:?}");
    let mut body = out.stdout;
    let split = body.iter().rposition(|b| *b == b'\n').unwrap_or(0);
    let code = String::from_utf8_lossy(&body[split + 1..])
        .trim()
        .parse()
        .unwrap_or(0);
    body.truncate(split);
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_delete_opt_out_and_nobody_on_real_sources_and_the_download_page() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let crm = company(dir.path());
    let billing = billing_script(dir.path());
    let port = free_port();
    let config = stack.write_config(dir.path(), "");
    let mut cfg = std::fs::read_to_string(&config).expect("config");
    cfg.push_str(&fulfil_config(&crm, &billing, port));
    std::fs::write(&config, cfg).expect("config");
    let check = common::cli(&config, &["check"]);
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("PASS source crm (sqlite)"), "{said}");
    assert!(said.contains("PASS source billing (command)"), "{said}");

    send_first(
        &stack,
        "alice@example.test",
        "My data",
        "Please send me a copy of all personal data you hold about me.",
    )
    .await;
    send_first(
        &stack,
        "carol@example.test",
        "Delete",
        "Please delete all my personal data.",
    )
    .await;
    send_first(
        &stack,
        "dave@example.test",
        "My data",
        "Please send me a copy of all personal data you hold about me.",
    )
    .await;
    send_first(
        &stack,
        "erin@example.test",
        "Stop",
        "Do not sell or share my personal information.",
    )
    .await;
    run_once(&config);

    // The opt-out ran at once in every source with an opt-out; erin is told it is done.
    assert_eq!(
        count(
            &crm,
            "SELECT do_not_sell FROM customers WHERE email = 'erin@example.test'"
        ),
        1
    );
    assert_eq!(
        count(&crm, "SELECT count(*) FROM customers WHERE do_not_sell = 1"),
        1,
        "nobody else"
    );
    assert_eq!(request(&config, "erin@example.test")["status"], "completed");
    stack.wait_for_subject("erin", "complete", WAIT).await;

    verify(&stack, "alice", "alice@example.test").await;
    verify(&stack, "carol", "carol@example.test").await;
    verify(&stack, "dave", "dave@example.test").await;
    run_once(&config); // verified, looked up, alice's package built: one pass

    // Dave is found nowhere: a finding staff confirm, not a reason to close.
    stack
        .wait_for_subject("staff", "Nothing found in any source", WAIT)
        .await;
    assert_eq!(request(&config, "dave@example.test")["status"], "verified");
    let dave_id = request(&config, "dave@example.test")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let out = common::cli(&config, &["requests", "approve", &dave_id]);
    assert!(out.status.success(), "{out:?}");
    run_once(&config);
    let nothing = stack
        .wait_for_subject("dave", "no personal information", WAIT)
        .await;
    assert!(
        common::folded_body(&nothing).contains("dave@example.test"),
        "{nothing}"
    );
    assert_eq!(request(&config, "dave@example.test")["status"], "completed");

    // Carol: the plan goes to staff; nothing is erased before /approve.
    let carol = request(&config, "carol@example.test");
    let carol_id = carol["id"].as_str().expect("id").to_string();
    let plan = stack.wait_for_subject("staff", "Deletion plan", WAIT).await;
    assert!(
        common::folded_body(&plan).contains("crm: calls 1, customers 1"),
        "{plan}"
    );
    assert_eq!(
        count(
            &crm,
            "SELECT count(*) FROM customers WHERE email = 'carol@example.test'"
        ),
        1
    );
    let out = common::cli(&config, &["requests", "approve", &carol_id]);
    assert!(out.status.success(), "{out:?}");
    run_once(&config);
    assert_eq!(
        count(
            &crm,
            "SELECT count(*) FROM customers WHERE email = 'carol@example.test'"
        ),
        0
    );
    assert_eq!(
        count(
            &crm,
            "SELECT count(*) FROM calls WHERE email = 'carol@example.test'"
        ),
        0
    );
    assert_eq!(
        count(
            &crm,
            "SELECT count(*) FROM customers WHERE email = 'bob@example.test'"
        ),
        1
    );
    assert_eq!(
        request(&config, "carol@example.test")["status"],
        "completed"
    );
    stack.wait_for_subject("carol", "complete", WAIT).await;
    let sources = show(&config, &carol_id)["sources"].clone();
    let crm_row = sources
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "crm"))
        .cloned()
        .expect("crm in sources");
    assert_eq!(crm_row["found"], 2, "{sources}");
    assert_eq!(crm_row["erased"], 2, "{sources}");
    assert!(crm_row["error"].is_null(), "{sources}");

    // Alice: the package is ready; staff approve; the consumer gets a link, never the data.
    let alice = request(&config, "alice@example.test");
    let alice_id = alice["id"].as_str().expect("id").to_string();
    stack
        .wait_for_subject("staff", "Access package ready", WAIT)
        .await;
    let out = common::cli(&config, &["requests", "approve", &alice_id]);
    assert!(out.status.success(), "{out:?}");
    run_once(&config);
    let mail = stack
        .wait_for_subject("alice", "ready to download", WAIT)
        .await;
    assert!(
        !mail.contains("Content-Disposition: attachment"),
        "no data by mail"
    );
    let link_prefix = format!("http://127.0.0.1:{port}/d/");
    let body = common::folded_body(&mail);
    let at = body.find(&link_prefix).expect("the link in the mail");
    let link: String = body[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert_eq!(
        request(&config, "alice@example.test")["status"],
        "completed"
    );

    // The daemon serves the page: GET shows a button, only the POST downloads, once.
    let daemon = common::spawn_bin(
        &["--config", common::cfg_str(&config), "run"],
        &[],
        &dir.path().join("daemon.log"),
    );
    let mut page = (0, Vec::new());
    for _ in 0..100 {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "2", &link])
            .output();
        if out.is_ok_and(|o| o.status.success()) {
            page = curl(&[&link]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(page.0, 200, "{}", daemon.log_text());
    let html = String::from_utf8_lossy(&page.1).to_string();
    let at = html.find("name=\"confirm\" value=\"").expect("form") + 22;
    let confirm = html[at..].split('"').next().expect("value").to_string();
    let (code, zip) = curl(&[
        "-X",
        "POST",
        "--data-urlencode",
        &format!("confirm={confirm}"),
        &link,
    ]);
    assert_eq!(code, 200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    let mut names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .collect();
    names.sort();
    for want in [
        "index.html",
        "crm/customers.json",
        "crm/calls.csv",
        "billing/invoices.json",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let mut customers = String::new();
    archive
        .by_name("crm/customers.json")
        .expect("customers")
        .read_to_string(&mut customers)
        .expect("read");
    assert!(
        customers.contains("Alice (old)") && !customers.contains("Bob"),
        "{customers}"
    );
    let (again, body) = curl(&[
        "-X",
        "POST",
        "--data-urlencode",
        &format!("confirm={confirm}"),
        &link,
    ]);
    assert_ne!(again, 200);
    assert!(String::from_utf8_lossy(&body).contains("/resend"));
    drop(daemon);
    let sources = show(&config, &alice_id)["sources"].clone();
    let billing_row = sources
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "billing"))
        .cloned()
        .expect("billing in sources");
    assert_eq!(billing_row["exported"], 1, "{sources}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_prints_garbage_goes_to_staff_and_nothing_reaches_the_consumer() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("broken.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat >/dev/null\necho 'this is not JSON'\n",
    )
    .expect("script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let config = stack.write_config(dir.path(), "");
    let mut cfg = std::fs::read_to_string(&config).expect("config");
    cfg.push_str(&format!(
        "\n[[sources]]\nname = \"broken\"\nkind = \"command\"\ncommand = [\"{}\"]\nactions = [\"lookup\", \"export\"]\n",
        script.display()
    ));
    std::fs::write(&config, cfg).expect("config");
    send_first(
        &stack,
        "frank@example.test",
        "My data",
        "Please send me a copy of all personal data you hold about me.",
    )
    .await;
    run_once(&config);
    verify(&stack, "frank", "frank@example.test").await;
    run_once(&config);
    let failed = stack
        .wait_for_subject("staff", "A source failed", WAIT)
        .await;
    assert!(common::folded_body(&failed).contains("broken"), "{failed}");
    let r = request(&config, "frank@example.test");
    assert_eq!(r["status"], "verified", "nothing completed: {r}");
    let id = r["id"].as_str().expect("id").to_string();
    let sources = show(&config, &id)["sources"].clone();
    assert!(
        sources[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("broken")),
        "{sources}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mails = stack.fetch_all("frank", "INBOX").await;
    assert!(
        mails.iter().all(|m| {
            let s = String::from_utf8_lossy(m);
            !s.contains("no personal information") && !s.contains("ready to download")
        }),
        "the consumer is told nothing false"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_is_down_is_tried_again_later_and_then_carries_on() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // The CRM's file is not there yet: the source is down (never created empty).
    let staged = tempfile::tempdir().expect("staging dir");
    let ready = company(staged.path());
    let crm = dir.path().join("crm.sqlite3");
    let config = stack.write_config(dir.path(), "");
    let mut cfg = std::fs::read_to_string(&config).expect("config");
    cfg.push_str(&format!(
        "\n[[sources]]\nname = \"crm\"\nkind = \"sqlite\"\nurl = \"{}\"\n\
         lookup = \"SELECT count(*) FROM customers WHERE email = :email\"\n\
         erase = [\"DELETE FROM customers WHERE email = :email\"]\n",
        crm.display()
    ));
    std::fs::write(&config, cfg).expect("config");
    send_first(
        &stack,
        "carol@example.test",
        "Delete",
        "Please delete all my personal data.",
    )
    .await;
    run_once(&config);
    verify(&stack, "carol", "carol@example.test").await;
    run_once(&config);
    let r = request(&config, "carol@example.test");
    let id = r["id"].as_str().expect("id").to_string();
    let v = show(&config, &id);
    let kinds: Vec<String> = v["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(kinds.iter().any(|k| k == "fulfil_retry"), "{kinds:?}");
    assert!(
        v["sources"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("unavailable")),
        "{}",
        v["sources"]
    );
    // Nothing for staff or the consumer yet: a retry is not a failure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let staff = stack.fetch_all("staff", "INBOX").await;
    assert_eq!(common::with_subject(&staff, "A source failed"), 0);
    assert_eq!(common::with_subject(&staff, "Deletion plan"), 0);

    // The source is back; the next try (after its backoff) looks the request up.
    std::fs::copy(&ready, &crm).expect("the CRM is back");
    let later = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    common::run_once_with(&config, &[("PRIVACY_INBOX_NOW", later.as_str())]);
    let plan = stack.wait_for_subject("staff", "Deletion plan", WAIT).await;
    assert!(common::folded_body(&plan).contains("crm: 1"), "{plan}");
    let v = show(&config, &id);
    assert_eq!(v["sources"][0]["found"], 1, "{}", v["sources"]);
    assert!(v["sources"][0]["error"].is_null(), "{}", v["sources"]);
}
