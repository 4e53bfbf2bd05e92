//! The config file as an admin writes it: every key documented, every problem reported
//! once, on one line, naming the file and the key.

use super::*;

/// `section -> keys` written in the sample file, set or commented out (`# key = …`).
fn documented(sample: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let header = regex::Regex::new(r"^#?\s*\[([a-z]+)\]").expect("regex");
    let key = regex::Regex::new(r"^#?\s?([a-z0-9-]+)\s*=").expect("regex");
    let mut out = std::collections::BTreeMap::<String, Vec<String>>::new();
    let mut current = String::new();
    for line in sample.lines() {
        if let Some(c) = header.captures(line) {
            current = c[1].to_string();
        } else if let Some(c) = key.captures(line) {
            out.entry(current.clone())
                .or_default()
                .push(c[1].to_string());
        }
    }
    out
}

#[test]
fn the_sample_file_parses_and_documents_every_key() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = dir.join("privacy-inbox.sample.toml");
    let sample = std::fs::read_to_string(&path).expect("the sample file");
    parse(&sample, &path).expect("the sample config is valid as shipped");
    let documented = documented(&sample);
    // Every field of every `Raw*` section struct, as its kebab-case key.
    let source = include_str!("raw.rs");
    let mut missing = Vec::new();
    let mut checked = 0;
    for block in source.split("\npub(super) struct Raw").skip(1) {
        let Some((name, body)) = block.split_once(" {\n") else {
            continue;
        };
        let Some((fields, _)) = body.split_once("\n}") else {
            continue;
        };
        let section = name.to_ascii_lowercase();
        for field in fields
            .lines()
            .filter_map(|l| l.trim().trim_start_matches("pub(super) ").split_once(':'))
        {
            let key = field.0.replace('_', "-");
            checked += 1;
            if !documented
                .get(&section)
                .is_some_and(|keys| keys.contains(&key))
            {
                missing.push(format!("[{section}] {key}"));
            }
        }
    }
    assert!(
        checked > 40,
        "only {checked} keys found: did the structs move?"
    );
    assert!(missing.is_empty(), "not in the sample file: {missing:?}");
}

fn sample(extra: &str) -> String {
    format!(
        r#"
[imap]
host = "127.0.0.1"
port = 10143
security = "none"
username = "privacy@example.test"
password = "secret"
mailbox = "INBOX"
processed-mailbox = "Processed"
[smtp]
host = "127.0.0.1"
port = 10025
security = "none"
from = "Acme Privacy Team <privacy@example.test>"
[staff]
escalation-to = ["staff@example.test"]
[store]
path = "privacy-inbox.sqlite3"
[templates]
dir = "."
{extra}"#
    )
}

#[test]
fn the_documented_keys_parse() {
    let s = parse(&sample(""), Path::new("./x.toml")).expect("valid");
    assert_eq!(s.imap.endpoint.port, 10143);
    assert_eq!(s.smtp.from_address, "privacy@example.test");
    assert_eq!(s.smtp.copy_to.as_deref(), Some("privacy+sent@example.test"));
    assert_eq!(s.staff.members, vec!["staff@example.test".to_string()]);
    assert_eq!(s.clock.due_soon_days, vec![10, 3]);
}

#[test]
fn every_error_is_reported_together_with_file_and_key() {
    let text = sample("")
        .replace("port = 10143", "port = 0")
        .replace(
            "from = \"Acme Privacy Team <privacy@example.test>\"",
            "from = \"nobody\"",
        )
        .replace(
            "escalation-to = [\"staff@example.test\"]",
            "escalation-to = []\nbogus = 1",
        );
    let err = parse(&text, Path::new("conf/p.toml"))
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("conf/p.toml: `imap.port`"), "{err}");
    assert!(err.contains("`smtp.from`"), "{err}");
    assert!(
        err.contains("`staff.bogus`: unknown key (known: escalation-to, members"),
        "{err}"
    );
}

#[test]
fn plaintext_to_a_remote_host_is_refused() {
    let text = sample("").replace(
        "host = \"127.0.0.1\"\nport = 10143",
        "host = \"imap.example.com\"\nport = 143",
    );
    let err = parse(&text, Path::new("p.toml"))
        .expect_err("insecure")
        .to_string();
    assert!(err.contains("`imap.security`"), "{err}");
    let ok = text.replace(
        "security = \"none\"\nusername",
        "security = \"none\"\nallow-insecure = true\nusername",
    );
    parse(&ok, Path::new("p.toml")).expect("allowed explicitly");
}

#[test]
fn password_sources_are_exclusive() {
    let text = sample("").replace(
        "password = \"secret\"",
        "password = \"a\"\npassword-env = \"B\"",
    );
    let err = parse(&text, Path::new("p.toml"))
        .expect_err("two sources")
        .to_string();
    assert!(err.contains("set only one of"), "{err}");
}

#[test]
fn dkim_and_metrics_sections_are_optional_and_validated() {
    let s = parse(&sample(""), Path::new("p.toml")).expect("valid");
    assert!(s.dkim.is_none() && s.metrics.is_none());
    let text = sample(
        "[dkim]\nselector = \"bad selector\"\nalgorithm = \"ed25519\"\n[metrics]\nlisten = \"localhost\"\n",
    );
    let err = parse(&text, Path::new("p.toml"))
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("`dkim.selector`"), "{err}");
    assert!(err.contains("`dkim.key-file`: missing"), "{err}");
    assert!(err.contains("`metrics.listen`"), "{err}");
    let text = sample("[metrics]\nlisten = \"127.0.0.1:9898\"\n");
    let s = parse(&text, Path::new("p.toml")).expect("valid metrics");
    let m = s.metrics.expect("metrics");
    assert_eq!(m.listen.port(), 9898);
    assert_eq!(m.unhealthy_after_seconds, 300);
}

/// The problem lines of a config that must not load.
fn problems(text: &str) -> Vec<String> {
    let err = parse(text, Path::new("p.toml")).expect_err("invalid");
    match err.downcast_ref::<ConfigError>() {
        Some(c) => c.problems.clone(),
        None => panic!("not a ConfigError: {err:#}"),
    }
}

#[test]
fn a_wrong_type_is_one_problem_and_does_not_make_the_section_missing() {
    let got = problems(&sample("").replace("port = 10143", "port = \"10143x\""));
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0]
            == "p.toml: `imap.port`: must be a port number (1 to 65535), not the text \"10143x\"",
        "{got:#?}"
    );
}

#[test]
fn two_bad_keys_in_one_section_are_both_reported_each_on_one_line() {
    let got = problems(&sample("").replace(
        "port = 10143",
        "port = 10143\nbogus = 1\npoll-seconds = \"soon\"",
    ));
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got.iter()
            .any(|l| l.starts_with("p.toml: `imap.bogus`: unknown key (known: host, port,")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("p.toml: `imap.poll-seconds`: must be a whole number")),
        "{got:#?}"
    );
    assert!(got.iter().all(|l| !l.contains('\n')), "{got:#?}");
    let message = parse(
        &sample("").replace(
            "port = 10143",
            "port = 10143\nbogus = 1\npoll-seconds = \"soon\"",
        ),
        Path::new("p.toml"),
    )
    .expect_err("invalid")
    .to_string();
    assert_eq!(
        message.lines().count(),
        3,
        "a heading and one line each:\n{message}"
    );
}

#[test]
fn a_section_that_is_not_a_table_is_one_problem() {
    let got = problems(&sample("").replace(
        "[imap]\nhost = \"127.0.0.1\"",
        "imap = 5\n[imapx]\nhost = \"127.0.0.1\"",
    ));
    assert!(
        got.iter()
            .any(|l| l == "p.toml: `imap`: must be a table ([section])"),
        "{got:#?}"
    );
    assert!(
        !got.iter().any(|l| l.contains("`imap.")),
        "nothing inside [imap] is repeated: {got:#?}"
    );
}

#[test]
fn invalid_toml_is_one_line_with_its_line_number() {
    let got = problems("[imap]\nhost = \"a\"\nport = = 3\n");
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].starts_with("p.toml: line 3: invalid TOML: "),
        "{got:#?}"
    );
}

#[test]
fn processed_or_quarantine_in_the_intake_mailbox_by_any_case_is_refused() {
    for (key, line) in [
        ("imap.processed-mailbox", "processed-mailbox = \"Inbox\""),
        ("imap.processed-mailbox", "processed-mailbox = \"inbox\""),
        (
            "imap.quarantine-mailbox",
            "processed-mailbox = \"Processed\"\nquarantine-mailbox = \"INBOX\"",
        ),
    ] {
        let text = sample("").replace("processed-mailbox = \"Processed\"", line);
        let got = problems(&text);
        assert_eq!(got.len(), 1, "{line}: {got:#?}");
        assert!(
            got[0].starts_with(&format!("p.toml: `{key}`: ")) && got[0].contains("imap.mailbox"),
            "{line}: {got:#?}"
        );
    }
    let text = sample("").replace(
        "mailbox = \"INBOX\"\nprocessed-mailbox = \"Processed\"",
        "mailbox = \"Requests\"\nprocessed-mailbox = \"requests\"",
    );
    assert_eq!(problems(&text).len(), 1);
    let ok = sample("").replace(
        "processed-mailbox = \"Processed\"",
        "processed-mailbox = \"INBOX/Processed\"",
    );
    parse(&ok, Path::new("p.toml")).expect("a folder below INBOX is another mailbox");
}

#[test]
fn a_missing_config_file_is_named_with_the_way_to_make_one() {
    let err = load(Path::new("/nonexistent/privacy-inbox.toml"))
        .expect_err("missing")
        .to_string();
    assert!(
        err.contains("No config file at /nonexistent/privacy-inbox.toml"),
        "{err}"
    );
    assert!(err.contains("init --provider"), "{err}");
}

#[test]
fn a_misspelt_section_is_one_problem_naming_the_section_meant_without_missing_keys() {
    let got = problems(&sample("").replace("[imap]\n", "[imapp]\n"));
    assert_eq!(
        got.len(),
        1,
        "no `imap.host`/`imap.port` missing lines: {got:#?}"
    );
    assert!(
        got[0].starts_with("p.toml: `imapp`: unknown section: did you mean [imap]? (known: "),
        "{got:#?}"
    );
    // Beside the real section, the misspelt one is named, and the real one is still checked.
    let got = problems(&sample("[stafff]\nmembers = []\n").replace("port = 10143", "port = 0"));
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got.iter()
            .any(|l| l.starts_with("p.toml: `stafff`: unknown section: did you mean [staff]?")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|l| l == "p.toml: `imap.port`: must be 1-65535"),
        "{got:#?}"
    );
    // A section like none of ours is unknown, with the list, and no guess.
    let got = problems(&sample("[database]\nurl = \"x\"\n"));
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].starts_with("p.toml: `database`: unknown section (known: "),
        "{got:#?}"
    );
}
