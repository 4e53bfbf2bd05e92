//! The first hour of a new user (issue 16): a first config with `init`, clear config
//! errors, read-only commands that never create a store, a `run --once` that leaves no copies
//! of its own in the mailbox, logs fit for a file, and list output without trailing spaces.
//! Plus issue 18 item 9: the intake mailbox refused as the processed/quarantine mailbox.

mod common;

use common::{cfg_str, cli, run_bin, MailStack, CONSUMER, PRIVACY, STAFF, WAIT};
use std::path::Path;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A config for a server nobody listens on: enough for commands that never connect.
fn offline_config(dir: &Path, imap_extra: &str) -> std::path::PathBuf {
    let templates = common::repo_root().join("templates");
    let text = format!(
        "[imap]\nhost = \"127.0.0.1\"\nport = 1\nsecurity = \"none\"\nusername = \"{PRIVACY}\"\n\
         password = \"x\"\n{imap_extra}\n[smtp]\nhost = \"127.0.0.1\"\nport = 1\nsecurity = \"none\"\n\
         from = \"Privacy <{PRIVACY}>\"\n[staff]\nescalation-to = [\"{STAFF}\"]\n[store]\n\
         path = \"privacy-inbox.sqlite3\"\n[templates]\ndir = {:?}\n",
        templates.display().to_string()
    );
    let path = dir.join("privacy-inbox.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

#[test]
fn read_only_commands_say_there_is_no_store_yet_and_create_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = offline_config(dir.path(), "");
    let store = dir.path().join("privacy-inbox.sqlite3");
    for args in [
        &["requests", "list"][..],
        &["requests", "show", "PRIV-2026-00001"],
        &["requests", "export"],
        &["report"],
        &["purge", "--dry-run"],
        &["requests", "note", "PRIV-2026-00001", "hello"],
    ] {
        let out = cli(&config, args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(&format!("No store at {} yet", store.display())),
            "{args:?}: {err}"
        );
        assert!(!store.exists(), "{args:?} created {}", store.display());
    }
}

#[test]
fn report_without_a_year_reports_the_current_year() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = offline_config(dir.path(), "");
    privacy_inbox::store::Store::open(&dir.path().join("privacy-inbox.sqlite3"))
        .expect("an empty store");
    let out = run_bin(
        &["--config", cfg_str(&config), "report"],
        &[("PRIVACY_INBOX_NOW", "2031-06-01T12:00:00Z")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("# Privacy requests received in 2031\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_intake_mailbox_by_another_case_is_refused_as_processed_or_quarantine_mailbox() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (line, key) in [
        (
            "mailbox = \"INBOX\"\nprocessed-mailbox = \"Inbox\"",
            "imap.processed-mailbox",
        ),
        (
            "mailbox = \"INBOX\"\nprocessed-mailbox = \"Processed\"\nquarantine-mailbox = \"inbox\"",
            "imap.quarantine-mailbox",
        ),
    ] {
        let config = offline_config(dir.path(), line);
        let file = config.display().to_string();
        for args in [&["check-config"][..], &["run", "--once"]] {
            let out = cli(&config, args);
            let err = text(&out.stderr);
            assert!(!out.status.success(), "{line} {args:?}: accepted");
            assert!(
                err.contains(&format!("{file}: `{key}`: ")) && err.contains("read again"),
                "{line} {args:?}: {err}"
            );
        }
    }
}

#[test]
fn config_problems_are_one_a_line_each_once_in_check_config_and_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = offline_config(dir.path(), "");
    common::edit_config(&config, "port = 1\n", "port = \"143\"\nbogus = 1\n");
    let file = config.display().to_string();
    let out = cli(&config, &["check-config"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a heading and exactly the two problems:\n{err}"
    );
    assert!(
        lines[0].ends_with("2 problems in the configuration:"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}: `imap.port`: must be a port number (1 to 65535), not the text \"143\" \
             (write 143 without quotes)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}: `imap.bogus`: unknown key (known: ")),
        "{err}"
    );

    let out = cli(&config, &["check"]);
    let out_text = text(&out.stdout);
    assert!(!out.status.success());
    let lines: Vec<&str> = out_text.lines().collect();
    assert_eq!(lines.len(), 3, "{out_text}");
    assert_eq!(lines[0], format!("FAIL config {file}: 2 problems"));
    assert!(
        lines[1].starts_with(&format!("  {file}: `imap.")),
        "{out_text}"
    );
    assert!(
        lines[2].starts_with(&format!("  {file}: `imap.")),
        "{out_text}"
    );
}

#[test]
fn init_writes_a_config_once_that_check_passes_against_the_local_stack() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("privacy-inbox.toml");
    let init = |provider: &str| {
        cli(
            &config,
            &[
                "init",
                "--provider",
                provider,
                "--address",
                PRIVACY,
                "--staff",
                STAFF,
            ],
        )
    };
    let out = init("generic");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let steps = text(&out.stdout);
    assert!(
        steps.contains("check") && steps.contains("run --once"),
        "{steps}"
    );
    let written = std::fs::read_to_string(&config).expect("the config");

    let again = init("gmail");
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&config).expect("the config"),
        written,
        "not overwritten"
    );

    // What an admin edits: the host and ports of their server (here: the local stack).
    for (from, to) in [
        (
            "host = \"mail.example.test\"\nport = 993\n",
            format!("host = \"127.0.0.1\"\nport = {}\n", stack.imap_port()),
        ),
        (
            "host = \"mail.example.test\"\nport = 587\n",
            format!("host = \"127.0.0.1\"\nport = {}\n", stack.smtp_port()),
        ),
    ] {
        common::edit_config(&config, from, &to);
    }
    let text_now = std::fs::read_to_string(&config).expect("the config");
    std::fs::write(
        &config,
        text_now
            .replace("security = \"tls\"", "security = \"none\"")
            .replace("security = \"starttls\"", "security = \"none\""),
    )
    .expect("write");
    let out = run_bin(
        &["--config", cfg_str(&config), "check"],
        &[("PRIVACY_INBOX_PASSWORD", common::PASSWORD)],
    );
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(report.lines().all(|l| l.starts_with("PASS ")), "{report}");
    assert!(report.contains("password from password-env"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_leaves_no_copies_of_its_own_and_writes_plain_logs_and_lists() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    for (i, body) in [
        "Please delete all my personal data.",
        "Send me a copy of the personal information you hold about me.",
        "Do not sell or share my personal information.",
    ]
    .iter()
    .enumerate()
    {
        let from = format!("consumer{i}@example.test");
        let raw = common::privacy_request(&from, &common::message_id(), body);
        stack.send(raw, &from, PRIVACY).await;
    }
    stack.wait_for(PRIVACY, "INBOX", 3, WAIT).await;
    let log = common::run_once(&config);

    // Right after the pass: nothing the bot handled is left in the mailbox staff read.
    let left = stack.messages(PRIVACY, "INBOX").await;
    assert!(
        left.is_empty(),
        "{} mails left in INBOX:\n{}",
        left.len(),
        left.iter()
            .map(|m| common::summary(&m.raw))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let store = common::store(dir.path());
    let sent = common::scalar(&store, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'");
    assert!(sent >= 3, "{sent} sent");
    let processed = stack.messages(PRIVACY, "Processed").await;
    assert_eq!(
        processed.len() as i64,
        3 + sent,
        "the requests and a copy of each mail sent"
    );

    // Logs go to a file here: no colour codes, no Rust debug structs.
    assert!(!log.contains('\u{1b}'), "ANSI codes in the log:\n{log}");
    assert!(
        !log.contains("Stats {") && !log.contains(" { "),
        "a debug struct in the log:\n{log}"
    );
    assert!(log.contains("Pass complete"), "{log}");

    // Lists a person reads: no spaces at the end of a line.
    let list = cli(&config, &["requests", "list"]);
    assert!(list.status.success());
    let id = common::request(&config, "consumer0@example.test")["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let show = cli(&config, &["requests", "show", &id]);
    let report = cli(&config, &["report"]);
    for out in [&list, &show, &report] {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let t = text(&out.stdout);
        assert!(t.lines().count() > 2, "{t}");
        for l in t.lines() {
            assert_eq!(l, l.trim_end(), "trailing spaces in:\n{t}");
        }
    }
    let _ = CONSUMER;
}

/// `openssl ARGS` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// A self-signed server certificate for 127.0.0.1 as `openssl req -x509` makes it (marked
/// CA): `name.pem` and `name.key` in `dir`.
fn self_signed(dir: &Path, name: &str) -> std::path::PathBuf {
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "30",
            "-subj",
            "/CN=mail.example.test",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
    );
    dir.join(cert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_self_signed_certificate_is_trusted_for_imap_and_smtp_alike() {
    let stack = MailStack::start_tls();
    let dir = tempfile::tempdir().expect("temp dir");
    // The servers present a self-signed certificate; the admin pins exactly that one.
    let pinned = self_signed(dir.path(), "server");
    let tls = stack.state_dir().join("tls");
    std::fs::copy(&pinned, tls.join("cert.pem")).expect("install the certificate");
    std::fs::copy(dir.path().join("server.key"), tls.join("key.pem")).expect("install the key");
    stack.restart_imap();
    stack.stop_smtp();
    stack.start_smtp();
    let ca = format!("ca-file = {:?}", pinned.display().to_string());
    let config = stack.write_config_with(
        dir.path(),
        &common::ConfigOptions {
            imap_security: common::Security::Tls,
            smtp_security: common::Security::Starttls,
            imap_extra: &ca,
            smtp_extra: &ca,
            ..Default::default()
        },
    );
    let out = cli(&config, &["check"]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    let fingerprint = {
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&pinned)
            .output()
            .expect("openssl");
        let t = text(&out.stdout);
        t.trim().rsplit('=').next().unwrap_or_default().to_string()
    };
    for proto in ["imap", "smtp"] {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("PASS {proto} ")))
            .unwrap_or_else(|| panic!("no {proto} line:\n{report}"));
        assert!(
            line.contains(&format!(
                "certificate SHA-256 {fingerprint} pinned in {proto}.ca-file"
            )),
            "says which certificate it trusted: {line}"
        );
    }

    // The real thing: a request read over IMAPS and answered over SMTP with STARTTLS.
    let raw = common::privacy_request(CONSUMER, &common::message_id(), "Please delete my data.");
    stack.send(raw, CONSUMER, PRIVACY).await;
    stack.wait_for(PRIVACY, "INBOX", 1, WAIT).await;
    common::run_once(&config);
    let acks = stack.wait_for(CONSUMER, "INBOX", 1, WAIT).await;
    assert_eq!(acks.len(), 1);

    // Pinning is exact: another self-signed certificate is not trusted.
    let other = self_signed(dir.path(), "other");
    let text_now = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text_now.replace(&pinned.display().to_string(), &other.display().to_string()),
    )
    .expect("write");
    let out = cli(&config, &["check"]);
    let report = text(&out.stdout);
    assert!(!out.status.success(), "{report}");
    for proto in ["imap", "smtp"] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(&format!("FAIL {proto} ")) && l.contains("certificate")),
            "{report}"
        );
    }
}

#[test]
fn the_release_binary_is_built_small_and_profiling_keeps_symbols() {
    let text = std::fs::read_to_string(common::repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let cargo: toml::Table = toml::from_str(&text).expect("Cargo.toml is TOML");
    let profile = |name: &str| cargo["profile"][name].clone();
    // 94 MB with debug info; stripped and without it, 15.5 MB (README).
    assert_eq!(profile("release")["strip"], toml::Value::Boolean(true));
    assert_eq!(profile("release")["debug"], toml::Value::Boolean(false));
    assert_eq!(profile("profiling")["inherits"].as_str(), Some("release"));
    assert_eq!(profile("profiling")["debug"].as_integer(), Some(1));
}

/// Issue 23 item 3: a login the IMAP server refuses reads as the server's words, without
/// Rust's `Some(…)`/`None`; at the start of `run` it stops the daemon with that message
/// and a non-zero exit (no endless retry of a password that will not change by itself).
#[test]
fn a_refused_imap_login_stops_run_at_start_in_the_servers_words() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = stack.write_config(dir.path(), "");
    common::edit_config(
        &config,
        &format!("password = \"{}\"\nmailbox", common::PASSWORD),
        "password = \"not-the-password\"\nmailbox",
    );
    let want = format!(
        "IMAP: the server refused the login for {PRIVACY}: [AUTHENTICATIONFAILED] \
         Authentication failed."
    );
    let started = std::time::Instant::now();
    let out = cli(&config, &["run"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "stopped at once, not after retries: {:?}",
        started.elapsed()
    );
    assert!(
        err.lines().any(|l| l == format!("privacy-inbox: {want}")),
        "{err}"
    );
    assert!(!err.contains("Some(") && !err.contains("None"), "{err}");

    // `run --once` and `check` say the same.
    let out = cli(&config, &["run", "--once"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&want), "{err}");
    let out = cli(&config, &["check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let fail = stdout
        .lines()
        .find(|l| l.starts_with("FAIL imap "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(fail.ends_with(&want), "{fail}");
    assert!(!fail.contains("Some(") && !fail.contains("None"), "{fail}");
}

/// Issue 23 item 3: `privacy-inbox … | head` ends quietly: the reader's going away ends
/// the command without a panic about a broken pipe.
#[test]
fn a_command_piped_into_a_reader_that_stops_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let file = common::repo_root().join("fixtures/classify/agent-assistant.eml");
    let file = file.to_str().expect("utf-8 path").to_string();
    // Far more output than a pipe holds, so the command is still writing when the
    // reader leaves.
    let mut args = vec!["classify".to_string(), "--json".to_string()];
    args.extend(std::iter::repeat_n(file, 3000));
    let mut child = std::process::Command::new(common::bin_path())
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start privacy-inbox");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).expect("the first bytes");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let err = text(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert!(err.is_empty(), "{err}");
    assert!(
        out.status.success() || out.status.signal() == Some(13),
        "ended by SIGPIPE or on its own, not by a panic: {:?}",
        out.status
    );
}
