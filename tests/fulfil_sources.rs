//! Data sources against real parts: a SQLite file, a private PostgreSQL cluster started by
//! `scripts/postgres.sh`, and `command` sources that are small shell scripts. Hostile email
//! values are bound (in lower case, compared with `lower(email)`), never pasted; erase is one transaction per source; a source that is down,
//! a failing query and garbage output are clear errors; the package's zip holds index.html,
//! JSON and CSV per table, and is encrypted at rest.

use privacy_inbox::fulfil::package::{self, PackageBuilder};
use privacy_inbox::fulfil::settings::{self, SourceSettings};
use privacy_inbox::fulfil::source::{self, Count, Exported, SourceError, Subject};
use std::io::Read;
use std::path::{Path, PathBuf};

const HOSTILE: &[&str] = &[
    "'; DROP TABLE customers; --@example.test",
    "o'brien@example.test",
    "\"quoted\"@example.test",
    "zoë@exämple.test",
    "x@example.test' OR '1'='1",
];

fn who(email: &str) -> Subject {
    Subject {
        email: email.into(),
        account: None,
        request: "PI-2026-0001".into(),
    }
}

fn sources(toml: &str) -> Vec<SourceSettings> {
    let root: toml::Table = toml::from_str(toml).expect("toml");
    settings::parse(&root).expect("valid settings").sources
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A company database: two customers rows and three calls for alice, one row for each
/// hostile address, and bob's rows that must never be touched.
fn company_sqlite(dir: &Path) -> PathBuf {
    let path = dir.join("crm.sqlite3");
    let c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, account TEXT,
                                 do_not_sell INTEGER NOT NULL DEFAULT 0, photo BLOB, score REAL);
         CREATE TABLE calls (id INTEGER PRIMARY KEY, email TEXT NOT NULL, note TEXT);",
    )
    .expect("schema");
    let add = |email: &str, name: &str| {
        c.execute(
            "INSERT INTO customers (email, name, account, photo, score) VALUES (?1, ?2, 'A-1', x'00ff', 1.5)",
            [email, name],
        )
        .expect("row");
    };
    add("alice@example.test", "Alice, \"Al\"");
    add("alice@example.test", "=HYPERLINK(\"http://evil\")");
    add("bob@example.test", "Bob");
    for h in HOSTILE {
        add(h, "hostile");
    }
    for note in ["first", "second\nline", "third"] {
        c.execute(
            "INSERT INTO calls (email, note) VALUES ('alice@example.test', ?1)",
            [note],
        )
        .expect("call");
    }
    c.execute(
        "INSERT INTO calls (email, note) VALUES ('bob@example.test', 'bob')",
        [],
    )
    .expect("call");
    path
}

fn sqlite_source(path: &Path) -> SourceSettings {
    sources(&format!(
        r#"
[[sources]]
name = "crm"
kind = "sqlite"
url = "{}"
lookup = {{ customers = "SELECT count(*) FROM customers WHERE lower(email) = :email", calls = "SELECT count(*) FROM calls WHERE lower(email) = :email" }}
export = {{ customers = "SELECT id, email, name, photo, score FROM customers WHERE lower(email) = :email ORDER BY id", calls = "SELECT * FROM calls WHERE lower(email) = :email" }}
erase = ["DELETE FROM calls WHERE lower(email) = :email", "DELETE FROM customers WHERE lower(email) = :email"]
opt-out = "UPDATE customers SET do_not_sell = 1 WHERE lower(email) = :email"
"#,
        path.display()
    ))
    .remove(0)
}

fn count_of(path: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path)
        .expect("open")
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

#[test]
fn sqlite_lookup_export_erase_and_opt_out_bind_hostile_emails() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = company_sqlite(dir.path());
    let src = sqlite_source(&db);
    let rt = rt();
    let counts = rt
        .block_on(source::lookup(&src, &who("alice@example.test")))
        .expect("lookup");
    assert_eq!(
        counts,
        [
            Count {
                label: "calls".into(),
                count: 3
            },
            Count {
                label: "customers".into(),
                count: 2
            }
        ]
    );
    for h in HOSTILE {
        let counts = rt.block_on(source::lookup(&src, &who(h))).expect("lookup");
        assert_eq!(counts[1].count, 1, "{h}: exactly its own row");
        assert_eq!(
            rt.block_on(source::opt_out(&src, &who(h)))
                .expect("opt-out"),
            1,
            "{h}"
        );
        assert_eq!(
            rt.block_on(source::erase(&src, &who(h))).expect("erase"),
            1,
            "{h}"
        );
    }
    assert_eq!(
        count_of(&db, "SELECT count(*) FROM customers"),
        3,
        "alice x2 + bob survive"
    );
    assert_eq!(count_of(&db, "SELECT count(*) FROM calls"), 4);
    let nobody = rt
        .block_on(source::lookup(&src, &who("nobody@example.test")))
        .expect("lookup");
    assert!(nobody.iter().all(|c| c.count == 0), "{nobody:?}");
    assert_eq!(
        rt.block_on(source::erase(&src, &who("alice@example.test")))
            .expect("erase"),
        5
    );
    assert_eq!(
        count_of(
            &db,
            "SELECT count(*) FROM customers WHERE email = 'bob@example.test'"
        ),
        1
    );
    assert_eq!(
        count_of(
            &db,
            "SELECT count(*) FROM calls WHERE email = 'bob@example.test'"
        ),
        1
    );
    assert_eq!(
        count_of(&db, "SELECT count(*) FROM customers WHERE do_not_sell = 1"),
        0,
        "bob untouched"
    );
}

#[test]
fn sqlite_erase_is_one_transaction_a_failing_statement_keeps_everything() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = company_sqlite(dir.path());
    let mut src = sqlite_source(&db);
    src.erase = vec![
        "DELETE FROM calls WHERE email = :email".into(),
        "DELETE FROM invoices WHERE email = :email".into(),
    ];
    let err = rt()
        .block_on(source::erase(&src, &who("alice@example.test")))
        .expect_err("second statement fails");
    assert!(!err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("crm: erase[1]: ") && text.contains("invoices"),
        "{text}"
    );
    assert_eq!(
        count_of(
            &db,
            "SELECT count(*) FROM calls WHERE email = 'alice@example.test'"
        ),
        3,
        "the first DELETE was rolled back"
    );
}

#[test]
fn sqlite_source_that_is_down_is_unavailable_and_not_created() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("gone.sqlite3");
    let src = sqlite_source(&missing);
    let err = rt()
        .block_on(source::lookup(&src, &who("a@example.test")))
        .expect_err("down");
    assert!(err.is_transient(), "{err}");
    assert!(!missing.exists(), "a missing database must not be created");
    let not_db = dir.path().join("text.sqlite3");
    std::fs::write(&not_db, "this is not a database at all, just text").expect("write");
    let err = rt()
        .block_on(source::lookup(
            &sqlite_source(&not_db),
            &who("a@example.test"),
        ))
        .expect_err("garbage file");
    assert!(err.to_string().starts_with("crm: "), "{err}");
}

#[test]
fn sqlite_check_reports_every_problem_naming_source_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = company_sqlite(dir.path());
    let src = sources(&format!(
        r#"
[[sources]]
name = "crm"
kind = "sqlite"
url = "{}"
lookup = "SELECT count(*), 2 FROM customers WHERE email = :email"
export = {{ customers = "SELECT * FROM customers WHERE email = :email", orders = "SELECT * FROM orders WHERE email = :email", leak = "SELECT * FROM customers WHERE email = :mail", dup = "SELECT c.email, k.email FROM customers c JOIN calls k ON k.email = c.email WHERE c.email = :email" }}
erase = ["DELETE FROM customers WHERE email = :email", "DELETE FROM nowhere WHERE email = :email"]
opt-out = "UPDATE customers SET nope = 1 WHERE email = :email"
"#,
        db.display()
    ))
    .remove(0);
    let before = count_of(&db, "SELECT count(*) FROM customers");
    let problems = rt().block_on(source::check(&src));
    for want in [
        "crm: lookup: returns 2 columns",
        "crm: export.orders: no such table: orders",
        "crm: export.leak: parameter :mail is not allowed",
        "crm: export.dup: column \"email\" appears twice",
        "crm: erase[1]: no such table: nowhere",
        "crm: opt-out: no such column: nope",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "missing {want:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 6, "{problems:#?}");
    assert_eq!(
        count_of(&db, "SELECT count(*) FROM customers"),
        before,
        "check runs nothing"
    );
}

// ---------------------------------------------------------------------------------------
// command sources

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

fn command_source(program: &Path, timeout: u32) -> SourceSettings {
    sources(&format!(
        "[[sources]]\nname = \"billing\"\nkind = \"command\"\ncommand = [\"{}\"]\nactions = [\"lookup\", \"export\", \"erase\", \"opt-out\"]\ntimeout-seconds = {timeout}\n",
        program.display()
    ))
    .remove(0)
}

/// A billing system's export program: answers by action, echoes what it was asked on stderr
/// into a file so the test can read the JSON it got.
const BILLING: &str = r#"
input=$(cat)
printf '%s' "$input" > "$0.stdin"
case "$input" in
  *'"action":"lookup"'*) echo '{"counts": {"invoices": 2, "cards": 1}}' ;;
  *'"action":"export"'*)
    echo '{"table": "invoices", "row": {"id": 1, "amount": 9.5, "email": "a@example.test"}}'
    echo ''
    echo '{"table": "cards", "row": {"last4": "4242"}}'
    echo '{"table": "invoices", "row": {"id": 2, "amount": 12, "note": "=1+1"}}' ;;
  *) echo '{"ok": true, "count": 3}' ;;
esac
"#;

#[test]
fn command_source_speaks_json_on_stdin_and_stdout() {
    let dir = tempfile::tempdir().expect("tmp");
    let prog = script(dir.path(), "billing", BILLING);
    let src = command_source(&prog, 10);
    let rt = rt();
    let hostile = HOSTILE[0];
    let counts = rt
        .block_on(source::lookup(&src, &who(hostile)))
        .expect("lookup");
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 3);
    let sent: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("billing.stdin")).expect("stdin"),
    )
    .expect("the program got JSON");
    assert_eq!(
        sent["email"],
        hostile.to_ascii_lowercase(),
        "the address arrives exactly as bound (in lower case), as a JSON string"
    );
    assert_eq!(sent["action"], "lookup");
    assert_eq!(sent["request"], "PI-2026-0001");
    assert!(sent["account"].is_null());
    assert_eq!(
        rt.block_on(source::erase(&src, &who(hostile)))
            .expect("erase"),
        3
    );
    let sent = std::fs::read_to_string(dir.path().join("billing.stdin")).expect("stdin");
    assert!(sent.contains("\"action\":\"erase\""), "{sent}");
    assert_eq!(
        rt.block_on(source::opt_out(&src, &who(hostile)))
            .expect("opt-out"),
        3
    );
}

#[test]
fn command_source_failures_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = rt();
    let case = |name: &str, body: &str, timeout: u32| -> SourceError {
        let prog = script(dir.path(), name, body);
        rt.block_on(source::lookup(
            &command_source(&prog, timeout),
            &who("a@example.test"),
        ))
        .expect_err(name)
    };
    let garbage = case(
        "garbage",
        "cat >/dev/null; echo 'Traceback (most recent call last):'",
        10,
    );
    assert!(!garbage.is_transient());
    assert!(
        garbage.to_string().contains("output line 1 is not JSON"),
        "{garbage}"
    );
    let wrong = case("wrong", "cat >/dev/null; echo '{\"rows\": 3}'", 10);
    assert!(
        wrong.to_string().contains("expected {\"count\": N}"),
        "{wrong}"
    );
    let negative = case("negative", "cat >/dev/null; echo '{\"count\": -1}'", 10);
    assert!(
        negative.to_string().contains("expected a whole number"),
        "{negative}"
    );
    let exit = case(
        "exit",
        "cat >/dev/null; echo 'partial'; printf 'db is down\\nretry later\\n' >&2; exit 3",
        10,
    );
    let text = exit.to_string();
    assert!(!exit.is_transient());
    assert!(
        text.contains("exit status: 3") && text.contains("db is down retry later"),
        "{text}"
    );
    let chatty = case(
        "chatty",
        "cat >/dev/null; head -c 100000 /dev/zero | tr '\\0' x >&2; exit 1",
        10,
    );
    assert!(
        chatty.to_string().chars().count() < 700,
        "stderr is bounded"
    );
    let slow = case("slow", "cat >/dev/null; sleep 30", 1);
    assert!(
        slow.is_transient() && slow.to_string().contains("did not finish within 1s"),
        "{slow}"
    );
    let missing = rt
        .block_on(source::lookup(
            &command_source(&dir.path().join("no-such-program"), 5),
            &who("a@example.test"),
        ))
        .expect_err("missing");
    assert!(
        missing.is_transient() && missing.to_string().contains("cannot run"),
        "{missing}"
    );
    let problems = rt.block_on(source::check(&command_source(
        &dir.path().join("no-such-program"),
        5,
    )));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("billing: command: "),
        "{problems:?}"
    );
}

#[test]
fn command_export_with_garbage_midway_fails_and_makes_no_package() {
    let dir = tempfile::tempdir().expect("tmp");
    let prog = script(
        dir.path(),
        "half",
        "cat >/dev/null; echo '{\"table\": \"t\", \"row\": {\"a\": 1}}'; echo 'oops'",
    );
    let mut pkg = PackageBuilder::new(dir.path()).expect("builder");
    let err = rt()
        .block_on(source::export(
            &command_source(&prog, 5),
            &who("a@example.test"),
            &mut pkg,
        ))
        .expect_err("garbage");
    assert!(
        err.to_string().contains("output line 2 is not JSON"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// the package

fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut out = std::collections::BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).expect("entry");
        let mut s = String::new();
        f.read_to_string(&mut s).expect("utf-8 entry");
        out.insert(f.name().expect("name").to_string(), s);
    }
    out
}

#[test]
fn package_holds_index_json_and_csv_per_table_and_is_encrypted_at_rest() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = company_sqlite(dir.path());
    let crm = sqlite_source(&db);
    let prog = script(dir.path(), "billing", BILLING);
    let billing = command_source(&prog, 10);
    let rt = rt();
    let alice = who("alice@example.test");
    let mut pkg = PackageBuilder::new(dir.path()).expect("builder");
    pkg.add_source("crm", "sqlite");
    let crm_out = rt
        .block_on(source::export(&crm, &alice, &mut pkg))
        .expect("export crm");
    assert_eq!(
        crm_out,
        [
            Exported {
                table: "calls".into(),
                rows: 3
            },
            Exported {
                table: "customers".into(),
                rows: 2
            }
        ]
    );
    pkg.add_source("billing", "command");
    rt.block_on(source::export(&billing, &alice, &mut pkg))
        .expect("export billing");
    let key = [7u8; 32];
    let out = dir.path().join("PI-2026-0001.pkg");
    let summary = pkg
        .finish(&out, &key, "PI-2026-0001", "2026-01-02T00:00:00Z")
        .expect("finish");
    assert_eq!(summary.tables.iter().map(|t| t.rows).sum::<u64>(), 8);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("spool-") || n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "spools removed: {leftovers:?}");

    let on_disk = std::fs::read(&out).expect("read");
    assert!(
        !on_disk.windows(5).any(|w| w == b"alice")
            && !on_disk.windows(10).any(|w| w == b"index.html")
            && !on_disk.starts_with(b"PK\x03\x04"),
        "the file on disk is neither plaintext nor a bare zip"
    );
    assert!(package::read_all(&out, &[8u8; 32]).is_err(), "another key");
    let files = unzip(&package::read_all(&out, &key).expect("decrypt"));
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "billing/cards.csv",
            "billing/cards.json",
            "billing/invoices.csv",
            "billing/invoices.json",
            "crm/calls.csv",
            "crm/calls.json",
            "crm/customers.csv",
            "crm/customers.json",
            "index.html"
        ]
    );
    let customers: serde_json::Value =
        serde_json::from_str(&files["crm/customers.json"]).expect("json");
    assert_eq!(customers[0]["name"], "Alice, \"Al\"");
    assert_eq!(customers[0]["photo"], "AP8=", "blob as base64");
    assert_eq!(customers[0]["score"], 1.5);
    assert_eq!(
        customers[1]["name"], "=HYPERLINK(\"http://evil\")",
        "JSON keeps the exact value"
    );
    let csv = &files["crm/customers.csv"];
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], "id,email,name,photo,score");
    assert_eq!(
        lines[1],
        "1,alice@example.test,\"Alice, \"\"Al\"\"\",AP8=,1.5"
    );
    assert_eq!(
        lines[2],
        "2,alice@example.test,\"'=HYPERLINK(\"\"http://evil\"\")\",AP8=,1.5"
    );
    assert!(files["crm/calls.csv"].contains("\"second\nline\""));
    let invoices: serde_json::Value =
        serde_json::from_str(&files["billing/invoices.json"]).expect("json");
    assert_eq!(invoices.as_array().map(Vec::len), Some(2));
    assert_eq!(invoices[1]["note"], "=1+1");
    assert!(
        invoices[0]["note"].is_null(),
        "a key that appeared later is null before"
    );
    assert_eq!(
        files["billing/invoices.csv"].split("\r\n").next(),
        Some("amount,email,id,note")
    );
    let index = &files["index.html"];
    assert!(index.contains("request PI-2026-0001"), "{index}");
    assert!(
        index.contains("<h2>crm</h2>") && index.contains("<h2>billing</h2>"),
        "{index}"
    );
    assert!(
        index.contains("<td>customers</td><td>2</td><td>id, email, name, photo, score</td>"),
        "{index}"
    );
    assert!(index.contains("2 sources, 4 tables, 8 rows"), "{index}");
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/// A private cluster from `scripts/postgres.sh`, destroyed on drop.
struct Pg {
    dir: tempfile::TempDir,
    port: u16,
}

impl Pg {
    fn start() -> Option<Pg> {
        Pg::start_with(None, false)
    }

    /// A cluster whose TCP clients must give `password` (scram-sha-256), and that speaks
    /// TLS with a self-signed certificate (`cert()`) when `tls`.
    fn start_with(password: Option<&str>, tls: bool) -> Option<Pg> {
        let have = std::fs::read_dir("/usr/lib/postgresql")
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if !have && std::env::var_os("CI").is_none() {
            eprintln!(
                "NOTICE: PostgreSQL is not installed (scripts/postgres.sh install); skipping"
            );
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
        let mut last = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("pi-pg-")
                .tempdir()
                .expect("tmp");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("port");
            let mut cmd = std::process::Command::new(&script);
            if let Some(pw) = password {
                cmd.env("PG_PASSWORD", pw);
            }
            if tls {
                cmd.env("PG_TLS", "1");
            }
            let out = cmd
                .arg("start")
                .arg(dir.path().join("pg"))
                .arg(port.to_string())
                .output()
                .expect("run scripts/postgres.sh");
            if out.status.success() {
                return Some(Pg { dir, port });
            }
            last = String::from_utf8_lossy(&out.stderr).to_string();
        }
        panic!("scripts/postgres.sh start failed: {last}");
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("pg/server.crt")
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    async fn sql(&self, db: &str, sql: &str) {
        let (c, conn) = tokio_postgres::connect(&self.url(db), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        c.batch_execute(sql).await.expect("sql");
    }

    async fn count(&self, sql: &str) -> i64 {
        let (c, conn) = tokio_postgres::connect(&self.url("crm"), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        c.query_one(sql, &[]).await.expect("count").get(0)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .arg(self.dir.path().join("pg"))
            .status();
    }
}

fn pg_source(url: &str, extra: &str) -> SourceSettings {
    sources(&format!(
        r#"
[[sources]]
name = "warehouse"
kind = "postgres"
url = "{url}"
timeout-seconds = 3
lookup = "SELECT count(*) FROM customers WHERE lower(email) = :email OR account = :account"
export = {{ customers = "SELECT id, email, name, born, balance, tags, photo, vip, seen FROM customers WHERE lower(email) = :email ORDER BY id;", orders = "SELECT o.* FROM orders o JOIN customers c ON c.id = o.customer WHERE lower(c.email) = :email AND ':email' = ':email' -- :nope" }}
erase = ["DELETE FROM orders WHERE customer IN (SELECT id FROM customers WHERE lower(email) = :email)", "DELETE FROM customers WHERE lower(email) = :email"]
opt-out = "UPDATE customers SET do_not_sell = true WHERE lower(email) = :email::text"
{extra}
"#
    ))
    .remove(0)
}

#[test]
fn postgres_source_against_a_real_cluster() {
    let Some(pg) = Pg::start() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        pg.sql("postgres", "CREATE DATABASE crm").await;
        pg.sql(
            "crm",
            "CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL, name text, account text,
                born date, balance numeric(10,2), tags jsonb, photo bytea, vip boolean, seen timestamptz,
                do_not_sell boolean NOT NULL DEFAULT false);
             CREATE TABLE orders (id serial PRIMARY KEY, customer int NOT NULL REFERENCES customers(id), total numeric);
             INSERT INTO customers (email, name, account, born, balance, tags, photo, vip, seen) VALUES
               ('alice@example.test', 'Alice', 'A-7', '1990-02-03', 12.50, '{\"a\": [1, 2]}', '\\x00ff', true, '2026-01-02T03:04:05Z'),
               ('bob@example.test', 'Bob', 'B-1', NULL, NULL, NULL, NULL, NULL, NULL);
             INSERT INTO orders (customer, total) VALUES (1, 10), (1, 20), (2, 30);",
        )
        .await;
        for h in HOSTILE {
            pg.sql(
                "crm",
                &format!(
                    "INSERT INTO customers (email, name) VALUES ('{}', 'hostile')",
                    h.replace('\'', "''")
                ),
            )
            .await;
        }
        let src = pg_source(&pg.url("crm"), "");
        let problems = source::check(&src).await;
        assert!(problems.is_empty(), "{problems:#?}");

        let mut alice = who("alice@example.test");
        assert_eq!(source::lookup(&src, &alice).await.expect("lookup")[0].count, 1);
        alice.account = Some("B-1".into());
        assert_eq!(source::lookup(&src, &alice).await.expect("lookup")[0].count, 2, ":account bound");
        alice.account = None;
        for h in HOSTILE {
            assert_eq!(source::lookup(&src, &who(h)).await.expect("lookup")[0].count, 1, "{h}");
            assert_eq!(source::opt_out(&src, &who(h)).await.expect("opt-out"), 1, "{h}");
            assert_eq!(source::erase(&src, &who(h)).await.expect("erase"), 1, "{h}");
        }
        assert_eq!(pg.count("SELECT count(*) FROM customers").await, 2, "the table survived");

        let dir = tempfile::tempdir().expect("tmp");
        let mut pkg = PackageBuilder::new(dir.path()).expect("builder");
        pkg.add_source("warehouse", "postgres");
        let out = source::export(&src, &alice, &mut pkg).await.expect("export");
        assert_eq!(
            out,
            [
                Exported { table: "customers".into(), rows: 1 },
                Exported { table: "orders".into(), rows: 2 }
            ]
        );
        let key = [1u8; 32];
        let path = dir.path().join("p.pkg");
        pkg.finish(&path, &key, "PI-2026-0001", "2026-01-02T00:00:00Z").expect("finish");
        let files = unzip(&package::read_all(&path, &key).expect("decrypt"));
        let c: serde_json::Value = serde_json::from_str(&files["warehouse/customers.json"]).expect("json");
        assert_eq!(c[0]["born"], "1990-02-03");
        assert_eq!(c[0]["balance"], 12.5);
        assert_eq!(c[0]["tags"]["a"][1], 2);
        assert_eq!(c[0]["photo"], "\\x00ff");
        assert_eq!(c[0]["vip"], true);
        assert_eq!(c[0]["seen"], "2026-01-02T03:04:05+00:00");
        assert_eq!(
            files["warehouse/customers.csv"].split("\r\n").next(),
            Some("id,email,name,born,balance,tags,photo,vip,seen")
        );

        // One transaction: the second statement fails, the first is rolled back.
        let mut broken = src.clone();
        broken.erase.push("DELETE FROM invoices WHERE email = :email".into());
        let err = source::erase(&broken, &alice).await.expect_err("fails");
        assert!(err.to_string().starts_with("warehouse: erase[2]: relation \"invoices\" does not exist"), "{err}");
        assert_eq!(pg.count("SELECT count(*) FROM orders").await, 3, "rolled back");

        // A query that runs past the timeout is cancelled and reported as transient.
        let mut slow = src.clone();
        slow.timeout = std::time::Duration::from_secs(1);
        slow.opt_out = Some("UPDATE customers SET vip = (SELECT true FROM pg_sleep(5)) WHERE email = :email".into());
        let err = source::opt_out(&slow, &alice).await.expect_err("timeout");
        assert!(err.is_transient(), "{err}");

        // check: every problem at once, naming source and key; nothing runs.
        let bad = pg_source(
            &pg.url("crm"),
            "",
        );
        let mut bad = bad;
        bad.export.push(("ghosts".into(), "SELECT * FROM ghosts WHERE email = :email".into()));
        bad.erase.push("DELETE FROM customers WHERE mail = :email".into());
        bad.opt_out = Some("UPDATE customers SET x = 1 WHERE email = :who".into());
        bad.export.push((
            "gone".into(),
            "DELETE FROM customers WHERE email = :email RETURNING *".into(),
        ));
        let problems = source::check(&bad).await;
        for want in [
            "warehouse: export.ghosts: relation \"ghosts\" does not exist",
            "warehouse: erase[2]: column \"mail\" does not exist",
            "warehouse: opt-out: unknown parameter :who",
            "warehouse: export.gone: cannot be read as rows",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(want)), "missing {want:?} in {problems:#?}");
        }
        assert_eq!(pg.count("SELECT count(*) FROM customers").await, 2, "check ran nothing");
    });
    let port = pg.port;
    drop(pg);
    // The same source with its server stopped: unavailable (retry), not failed.
    let src = pg_source(&format!("postgres://postgres@127.0.0.1:{port}/crm"), "");
    let err = rt
        .block_on(source::lookup(&src, &who("a@example.test")))
        .expect_err("down");
    assert!(
        err.is_transient()
            && err
                .to_string()
                .starts_with("warehouse: unavailable: connect"),
        "{err}"
    );
}

#[test]
fn postgres_password_comes_from_password_command_and_a_wrong_one_is_a_clear_failure() {
    let Some(pg) = Pg::start_with(Some("s3cret pass"), false) else {
        return;
    };
    let rt = rt();
    let src = |extra: &str| {
        sources(&format!(
            "[[sources]]\nname = \"locked\"\nkind = \"postgres\"\nurl = \"{}\"\nlookup = \"SELECT count(*) FROM pg_roles WHERE rolname = :email\"\n{extra}\n",
            pg.url("postgres")
        ))
        .remove(0)
    };
    let counts = rt
        .block_on(source::lookup(
            &src("password-command = \"printf 's3cret pass'\""),
            &who("postgres"),
        ))
        .expect("the password from the command opens the database");
    assert_eq!(counts[0].count, 1);
    let wrong = rt
        .block_on(source::lookup(
            &src("password-command = \"echo nope\""),
            &who("postgres"),
        ))
        .expect_err("wrong password");
    assert!(!wrong.is_transient(), "{wrong}");
    assert!(
        wrong.to_string().contains("password authentication failed"),
        "{wrong}"
    );
    let none = rt
        .block_on(source::lookup(
            &src("password-env = \"PI_TEST_NO_SUCH_VARIABLE\""),
            &who("postgres"),
        ))
        .expect_err("no variable");
    assert!(
        none.to_string()
            .contains("PI_TEST_NO_SUCH_VARIABLE is not set"),
        "{none}"
    );
}

#[test]
fn postgres_over_tls_checks_the_certificate_and_is_really_encrypted() {
    let Some(pg) = Pg::start_with(None, true) else {
        return;
    };
    let rt = rt();
    let src = |host: &str, extra: &str| {
        sources(&format!(
            "[[sources]]\nname = \"tls\"\nkind = \"postgres\"\nurl = \"postgres://postgres@{host}:{}/postgres?sslmode=require\"\n\
             lookup = \"SELECT count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl AND :email = :email\"\n{extra}\n",
            pg.port
        ))
        .remove(0)
    };
    let pinned = format!("ca-file = \"{}\"", pg.cert().display());
    for host in ["localhost", "127.0.0.1"] {
        let counts = rt
            .block_on(source::lookup(&src(host, &pinned), &who("a@example.test")))
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(
            counts[0].count, 1,
            "{host}: the server sees an encrypted connection"
        );
    }
    let unknown = rt
        .block_on(source::lookup(
            &src("localhost", ""),
            &who("a@example.test"),
        ))
        .expect_err("a self-signed certificate without ca-file");
    assert!(!unknown.is_transient(), "{unknown}");
    assert!(unknown.to_string().contains("certificate"), "{unknown}");
    // A host that is not on this machine is refused without sslmode=require ...
    let root: toml::Table = toml::from_str(
        "[[sources]]\nname = \"far\"\nkind = \"postgres\"\nurl = \"postgres://u@db.example.com/crm\"\nlookup = \"SELECT 1\"\n",
    )
    .expect("toml");
    let errs = settings::parse(&root).expect_err("plain text over a network");
    assert!(errs[0].contains("sslmode=require"), "{errs:?}");
    // ... and accepted with it.
    let root: toml::Table = toml::from_str(
        "[[sources]]\nname = \"far\"\nkind = \"postgres\"\nurl = \"postgres://u@db.example.com/crm?sslmode=require\"\nlookup = \"SELECT 1\"\n",
    )
    .expect("toml");
    assert!(settings::parse(&root).is_ok());
}
