//! The CCPA §7102 report and the §7101 export, from a real SQLite store holding a fixture
//! built by hand; the expected numbers below were worked out on paper from that fixture.
//! `purge` drops old mail bodies and keeps the records until their retention ends.

mod common;

use privacy_inbox::kind::Kind;
use privacy_inbox::store::{inbox, requests, Store};
use std::path::Path;

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("privacy-inbox.toml");
    let templates = common::repo_root().join("templates");
    std::fs::write(
        &path,
        format!(
            r#"[imap]
host = "127.0.0.1"
port = 1
security = "none"
username = "privacy@example.test"
password = "secret"
mailbox = "INBOX"
processed-mailbox = "Processed"
[smtp]
host = "127.0.0.1"
port = 1
security = "none"
from = "Acme Privacy Team <privacy@example.test>"
[staff]
escalation-to = ["staff@example.test"]
[store]
path = "store.sqlite3"
mail-retention-days = 90
[templates]
dir = "{}"
[clock]
timezone = "America/Los_Angeles"
"#,
            templates.display()
        ),
    )
    .expect("write config");
    path
}

/// (id, kinds, received, status, denial basis, responded)
type Row<'a> = (
    &'a str,
    &'a [Kind],
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
);

const FIXTURE: &[Row] = &[
    // 10 days
    (
        "PRIV-2026-00001",
        &[Kind::Access],
        "2026-01-05T17:00:00Z",
        "completed",
        None,
        Some("2026-01-15T17:00:00Z"),
    ),
    // 30 days, counts under access and delete
    (
        "PRIV-2026-00002",
        &[Kind::Access, Kind::Delete],
        "2026-02-01T17:00:00Z",
        "completed",
        None,
        Some("2026-03-03T17:00:00Z"),
    ),
    // 9.5 days
    (
        "PRIV-2026-00003",
        &[Kind::Delete],
        "2026-03-01T17:00:00Z",
        "denied",
        Some("exempt"),
        Some("2026-03-11T05:00:00Z"),
    ),
    // 30 days
    (
        "PRIV-2026-00004",
        &[Kind::Delete],
        "2026-04-01T17:00:00Z",
        "closed_unverifiable",
        Some("unverifiable"),
        Some("2026-05-01T17:00:00Z"),
    ),
    // 3 days
    (
        "PRIV-2026-00005",
        &[Kind::OptOutSale],
        "2026-05-01T17:00:00Z",
        "completed",
        None,
        Some("2026-05-04T17:00:00Z"),
    ),
    // 2 days
    (
        "PRIV-2026-00006",
        &[Kind::Access],
        "2026-06-01T17:00:00Z",
        "denied",
        Some("not_a_consumer"),
        Some("2026-06-03T17:00:00Z"),
    ),
    (
        "PRIV-2026-00007",
        &[Kind::Correct],
        "2026-07-01T17:00:00Z",
        "verified",
        None,
        None,
    ),
    // 20 days
    (
        "PRIV-2026-00008",
        &[Kind::Delete],
        "2026-08-01T17:00:00Z",
        "denied",
        Some("other"),
        Some("2026-08-21T17:00:00Z"),
    ),
    // 2025 in Los Angeles: not in the 2026 report.
    (
        "PRIV-2025-00001",
        &[Kind::Access],
        "2025-12-31T20:00:00Z",
        "completed",
        None,
        Some("2026-01-02T20:00:00Z"),
    ),
    // 2027 in UTC, still December 31, 2026 in Los Angeles: in the report, open.
    (
        "PRIV-2026-00009",
        &[Kind::Access],
        "2027-01-01T07:30:00Z",
        "acknowledged",
        None,
        None,
    ),
    // Never a privacy request: left out.
    (
        "PRIV-2026-00010",
        &[],
        "2026-09-01T17:00:00Z",
        "completed",
        None,
        Some("2026-09-02T17:00:00Z"),
    ),
];

fn seed(store_path: &Path) {
    let mut store = Store::open(store_path).expect("open store");
    let tx = store.begin().expect("begin");
    for (id, kinds, received, status, basis, responded) in FIXTURE {
        let r = requests::Request {
            id: id.to_string(),
            status: status.parse().expect("status"),
            kinds: kinds.to_vec(),
            requester: format!("{}@example.test", id.to_lowercase()),
            requester_name: String::new(),
            language: "en".into(),
            jurisdiction: privacy_inbox::request::deadlines::Jurisdiction::Ccpa,
            received_at: received.to_string(),
            confirm_by: None,
            due_at: received.to_string(),
            extended_due_at: None,
            extended: false,
            escalated: false,
            escalation_reason: String::new(),
            verified: false,
            agent: false,
            subject: "Privacy request".into(),
            origin_message_id: Some(format!("{id}@c.example.test")),
            assignee: String::new(),
            denial_basis: basis.map(str::to_string),
            denial_detail: if *basis == Some("other") {
                "=HYPERLINK(\"http://x.example\"), court order".into()
            } else {
                String::new()
            },
            extension_reason: String::new(),
            law_reason: String::new(),
            responded_at: responded.map(str::to_string),
            created_at: received.to_string(),
            updated_at: received.to_string(),
        };
        requests::insert(&tx, &r).expect("insert");
        inbox::insert(
            &tx,
            &inbox::InboxRow {
                message_key: format!("mid:{id}@c.example.test"),
                fingerprint: String::new(),
                message_id: Some(format!("{id}@c.example.test")),
                mailbox: "INBOX".into(),
                uidvalidity: 1,
                uid: 1 + FIXTURE.iter().position(|f| f.0 == *id).unwrap_or(0) as u32,
                internal_date: received.to_string(),
                fetched_at: received.to_string(),
                sender: r.requester.clone(),
                subject: "Privacy request".into(),
                size: 20,
                raw: Some(b"Subject: x\r\n\r\nbody\r\n".to_vec()),
                disposition: privacy_inbox::store::types::Filed::Request,
                reason: String::new(),
                request_id: Some(id.to_string()),
                classification: String::new(),
                move_to: String::new(),
            },
        )
        .expect("insert mail");
    }
    tx.commit().expect("commit");
}

fn run(config: &Path, args: &[&str], now: &str) -> String {
    let mut all = vec!["--config", config.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    let out = common::run_bin(&all, &[("PRIVACY_INBOX_NOW", now)]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_yearly_report_matches_the_hand_built_fixture() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path());
    seed(&dir.path().join("store.sqlite3"));
    let now = "2027-02-01T00:00:00Z";

    let json: serde_json::Value = serde_json::from_str(&run(
        &config,
        &["report", "--year", "2026", "--format", "json"],
        now,
    ))
    .expect("json");
    assert_eq!(json["year"], 2026);
    let line = |kind: &str| -> serde_json::Value {
        json["kinds"]
            .as_array()
            .expect("kinds")
            .iter()
            .find(|k| k["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {json:#}"))
    };
    // kind: received, complied, denied, unverifiable, not a consumer, exempt, other, open,
    // median, mean — worked out by hand from FIXTURE.
    type Expected<'a> = (&'a str, [u64; 8], Option<f64>, Option<f64>);
    let expected: &[Expected] = &[
        ("access", [4, 2, 1, 0, 1, 0, 0, 1], Some(10.0), Some(14.0)),
        ("delete", [4, 1, 3, 1, 0, 1, 1, 0], Some(25.0), Some(22.4)),
        ("correct", [1, 0, 0, 0, 0, 0, 0, 1], None, None),
        (
            "opt_out_sale",
            [1, 1, 0, 0, 0, 0, 0, 0],
            Some(3.0),
            Some(3.0),
        ),
        ("opt_out_marketing", [0; 8], None, None),
        ("limit_sensitive", [0; 8], None, None),
    ];
    let fields = [
        "received",
        "complied",
        "denied",
        "denied_unverifiable",
        "denied_not_a_consumer",
        "denied_exempt",
        "denied_other",
        "open",
    ];
    for (kind, counts, median, mean) in expected {
        let l = line(kind);
        for (f, want) in fields.iter().zip(counts) {
            assert_eq!(l[f].as_u64(), Some(*want), "{kind}.{f}: {l}");
        }
        assert_eq!(l["median_days"].as_f64(), *median, "{kind} median: {l}");
        assert_eq!(l["mean_days"].as_f64(), *mean, "{kind} mean: {l}");
    }

    let md = run(&config, &["report", "--year", "2026"], now);
    assert!(
        md.contains("| delete | 4 | 1 | 3 | 1 | 0 | 1 | 1 | 0 | 25.0 | 22.4 |"),
        "{md}"
    );
    let csv = run(
        &config,
        &["report", "--year", "2026", "--format", "csv"],
        now,
    );
    assert!(
        csv.contains("2026,access,4,2,1,0,1,0,0,1,10.0,14.0"),
        "{csv}"
    );
}

#[test]
fn the_export_holds_every_record_and_purge_keeps_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path());
    let store_path = dir.path().join("store.sqlite3");
    seed(&store_path);
    let now = "2026-11-01T00:00:00Z";

    let csv = run(&config, &["requests", "export", "--format", "csv"], now);
    assert_eq!(csv.lines().count(), 1 + FIXTURE.len(), "{csv}");
    let line = csv
        .lines()
        .find(|l| l.starts_with("PRIV-2026-00008"))
        .expect("row");
    assert!(
        line.contains(",email,") && line.contains(",denied,other,"),
        "{line}"
    );
    assert!(
        line.contains(r#","'=HYPERLINK(""http://x.example""), court order","#),
        "quoted, and a formula is defused: {line}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(
        &config,
        &["requests", "export", "--format", "json"],
        now,
    ))
    .expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(FIXTURE.len()));
    assert!(json[0]["events"].is_array());

    // 90 days of retention on 2026-11-01: the bodies of closed requests received before
    // 2026-08-03 go (eight of them); the open ones (00007, 00009) and the recent closed one
    // (00010) stay.
    let dry = run(&config, &["purge", "--dry-run"], now);
    assert!(dry.contains("Would drop 8 received"), "{dry}");
    let done = run(&config, &["purge"], now);
    assert!(done.contains("Dropped 8 received"), "{done}");
    let again = run(&config, &["purge"], now);
    assert!(again.contains("Dropped 0 received"), "{again}");
    let store = rusqlite::Connection::open(&store_path).expect("open");
    let kept: i64 = store
        .query_row(
            "SELECT COUNT(*) FROM inbox WHERE raw IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(kept, 3, "00007, 00009 and 00010 keep their bodies");
    let records: i64 = store
        .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
        .expect("count");
    assert_eq!(records, FIXTURE.len() as i64, "every record is kept");
    drop(store);

    // 24 months (the default) after their last activity, closed records go: on 2028-08-15,
    // the closed ones last touched before 2026-08-15 (00001-00006 and 2025-00001). 00008
    // (answered 2026-08-21) and 00010 stay, and so do the open 00007 and 00009.
    let later = "2028-08-15T00:00:00Z";
    let dry = run(&config, &["purge", "--dry-run"], later);
    assert!(dry.contains("Would delete 7 closed requests"), "{dry}");
    let done = run(&config, &["purge"], later);
    assert!(done.contains("Deleted 7 closed requests"), "{done}");
    assert!(
        done.contains("7 received"),
        "their mail rows go too: {done}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(
        &config,
        &["requests", "export", "--format", "json"],
        later,
    ))
    .expect("json");
    let mut left: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    left.sort_unstable();
    assert_eq!(
        left,
        [
            "PRIV-2026-00007",
            "PRIV-2026-00008",
            "PRIV-2026-00009",
            "PRIV-2026-00010"
        ]
    );
    let again = run(&config, &["purge"], later);
    assert!(again.contains("Deleted 0 closed requests"), "{again}");
}

#[test]
fn a_record_retention_under_24_months_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path());
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace(
            "mail-retention-days = 90",
            "mail-retention-days = 90\nrecord-retention-months = 12",
        ),
    )
    .expect("write config");
    let out = common::run_bin(&["--config", config.to_str().expect("utf-8"), "purge"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("store.record-retention-months") && err.contains("24"),
        "{err}"
    );
}
