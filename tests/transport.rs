//! Transport security and authentication, end to end with the real binary:
//! STARTTLS and implicit TLS against the TLS stack (self-signed CA through `ca-file`), a
//! clear certificate error without it, `security = "none"` refused for a remote host,
//! `password-env` and `password-command`, and XOAUTH2 against small test doubles that speak
//! the real SASL exchange (Dovecot's oauth2 passdb would need an introspection server and
//! a second Dovecot config; the doubles check the exact bytes a provider receives).

mod common;

use base64::Engine as _;
use common::{ConfigOptions, MailStack, Security, CONSUMER, PASSWORD, PRIVACY};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn toml_str(s: &str) -> String {
    format!("{s:?}")
}

/// Writes `text` as the config, replacing the generated IMAP `password = "secret"` line by
/// `imap_secret` (e.g. a `password-env` line).
fn write_config(dir: &Path, text: &str, imap_secret: &str) -> PathBuf {
    let line = format!("password = \"{PASSWORD}\"\n");
    assert!(
        text.contains(&line),
        "generated config has the password line"
    );
    let text = text.replacen(&line, &format!("{imap_secret}\n"), 1);
    let path = dir.join("privacy-inbox.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn request_is_acknowledged(
    stack: &MailStack,
    config: &Path,
    consumer: &str,
    envs: &[(&str, &str)],
) {
    let mail = common::mail(
        consumer,
        PRIVACY,
        "Delete my data",
        "Please delete all personal data you hold about me.",
    );
    let id = common::header(&mail, "Message-ID").expect("a Message-ID");
    stack.send(mail, consumer, PRIVACY).await;
    stack
        .wait_for_ids(PRIVACY, "INBOX", &[&id], common::WAIT)
        .await;
    common::run_once_with(config, envs);
    let got = stack.wait_for(consumer, "INBOX", 1, common::WAIT).await;
    let subject = common::header(&got[0], "Subject").unwrap_or_default();
    assert!(subject.contains("[PRIV-"), "an acknowledgement: {subject}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_the_ca_file_and_secrets_from_env_and_command() {
    let stack = MailStack::start_tls();
    let dir = tempfile::tempdir().expect("tmp");
    let ca = toml_str(&stack.ca_file().to_string_lossy());
    let smtp_extra = format!(
        "ca-file = {ca}\nusername = \"{PRIVACY}\"\npassword-command = \"printf '%s\\\\n' {PASSWORD}\""
    );
    let text = stack.config_toml_with(
        dir.path(),
        &ConfigOptions {
            imap_security: Security::Starttls,
            smtp_security: Security::Starttls,
            imap_extra: &format!("ca-file = {ca}"),
            smtp_extra: &smtp_extra,
            extra: "",
        },
    );
    let config = write_config(dir.path(), &text, "password-env = \"TEST_IMAP_PASSWORD\"");
    request_is_acknowledged(
        &stack,
        &config,
        CONSUMER,
        &[("TEST_IMAP_PASSWORD", PASSWORD)],
    )
    .await;
    // Postfix saw STARTTLS and a SASL login from us.
    let log = std::fs::read_to_string(stack.log_dir().join("postfix.log")).unwrap_or_default();
    assert!(
        log.contains("sasl_method=PLAIN") || log.contains("sasl_username="),
        "Postfix logged our SMTP AUTH:\n{}",
        stack.log_tail("postfix.log", 30)
    );
    assert!(log.contains("TLS connection established"), "SMTP over TLS");

    // The variable missing: a clear error naming it, exit 1.
    let out = common::cli(&config, &["run", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TEST_IMAP_PASSWORD") && err.contains("not set"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_with_the_ca_file_and_a_password_command() {
    let stack = MailStack::start_tls();
    let dir = tempfile::tempdir().expect("tmp");
    let ca = toml_str(&stack.ca_file().to_string_lossy());
    let text = stack.config_toml_with(
        dir.path(),
        &ConfigOptions {
            imap_security: Security::Tls,
            smtp_security: Security::Tls,
            imap_extra: &format!("ca-file = {ca}"),
            smtp_extra: &format!("ca-file = {ca}"),
            extra: "",
        },
    );
    assert!(text.contains(&format!("port = {}", stack.imaps_port())));
    let config = write_config(
        dir.path(),
        &text,
        &format!("password-command = \"echo {PASSWORD}\""),
    );
    request_is_acknowledged(&stack, &config, "consumer7@example.test", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_file_tls_fails_with_a_certificate_error() {
    let stack = MailStack::start_tls();
    let dir = tempfile::tempdir().expect("tmp");
    let config = stack.write_config_with(
        dir.path(),
        &ConfigOptions {
            imap_security: Security::Tls,
            smtp_security: Security::Starttls,
            ..ConfigOptions::default()
        },
    );
    let out = common::cli(&config, &["run", "--once"]);
    assert!(!out.status.success(), "must fail: {}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("certificate")
            && err.contains("UnknownIssuer")
            && err.contains("imap.ca-file"),
        "clear IMAP certificate error: {err}"
    );
    // `check` reports both sides, SMTP (STARTTLS through lettre) included.
    let out = common::cli(&config, &["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let smtp = stdout
        .lines()
        .find(|l| l.starts_with("FAIL smtp "))
        .unwrap_or_else(|| panic!("a FAIL smtp line: {stdout}"));
    assert!(smtp.contains("certificate"), "{smtp}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL imap ") && l.contains("certificate")),
        "{stdout}"
    );
}

#[test]
fn plain_text_to_a_remote_host_is_refused_by_config_validation() {
    let dir = tempfile::tempdir().expect("tmp");
    let templates = common::repo_root().join("templates");
    let text = format!(
        r#"[imap]
host = "imap.example.com"
port = 143
security = "none"
username = "privacy@example.com"
password-env = "X"
[smtp]
host = "smtp.example.com"
port = 25
security = "none"
from = "Privacy <privacy@example.com>"
[staff]
escalation-to = ["staff@example.com"]
[store]
path = "p.sqlite3"
[templates]
dir = {}
"#,
        toml_str(&templates.to_string_lossy())
    );
    let path = dir.path().join("p.toml");
    std::fs::write(&path, &text).expect("write");
    let out = common::cli(&path, &["check-config"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`imap.security`") && err.contains("`smtp.security`"),
        "{err}"
    );
    assert!(
        err.contains("allow-insecure"),
        "says how to override: {err}"
    );
    let allowed = text.replace(
        "security = \"none\"\n",
        "security = \"none\"\nallow-insecure = true\n",
    );
    std::fs::write(&path, allowed).expect("write");
    let out = common::cli(&path, &["check-config"]);
    assert!(out.status.success(), "{}", show(&out));
}

// ---- XOAUTH2 test doubles --------------------------------------------------------------

/// What a double saw: the decoded SASL initial responses.
type Seen = Arc<Mutex<Vec<String>>>;

/// The error challenge Gmail sends for a bad token (base64 JSON).
const ERROR_JSON: &str =
    r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_else(|e| panic!("client sent bad base64 {s:?}: {e}"));
    String::from_utf8_lossy(&bytes).into_owned()
}

type Reader = BufReader<tokio::net::tcp::OwnedReadHalf>;
type Writer = tokio::net::tcp::OwnedWriteHalf;

/// Listens on a free loopback port and runs `session` on every connection, each in a task
/// of its own; returns the port.
async fn serve<S, F>(session: S) -> u16
where
    S: Fn(Reader, Writer) -> F + Send + 'static,
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let (r, w) = conn.into_split();
            tokio::spawn(session(BufReader::new(r), w));
        }
    });
    port
}

/// An IMAP server that offers only AUTH=XOAUTH2, accepts `good_token` and otherwise sends
/// the error challenge, waits for the empty continuation and answers NO. After a login it
/// answers SELECT, CAPABILITY and LOGOUT.
async fn imap_double(good_token: &'static str, seen: Seen) -> u16 {
    serve(move |mut r, mut w| {
        let seen = seen.clone();
        async move {
            let caps = "IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER LOGINDISABLED";
            w.write_all(format!("* OK [CAPABILITY {caps}] double ready\r\n").as_bytes())
                .await?;
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return anyhow::Ok(());
                }
                let mut parts = line.trim_end().splitn(3, ' ');
                let tag = parts.next().unwrap_or("*").to_string();
                let cmd = parts.next().unwrap_or("").to_ascii_uppercase();
                let arg = parts.next().unwrap_or("").to_string();
                let reply = match cmd.as_str() {
                    "CAPABILITY" => format!("* CAPABILITY {caps}\r\n{tag} OK done\r\n"),
                    "AUTHENTICATE" if arg.eq_ignore_ascii_case("XOAUTH2") => {
                        w.write_all(b"+ \r\n").await?;
                        line.clear();
                        r.read_line(&mut line).await?;
                        let got = unb64(&line);
                        seen.lock().expect("lock").push(got.clone());
                        if got == format!("user={PRIVACY}\x01auth=Bearer {good_token}\x01\x01") {
                            format!("{tag} OK [CAPABILITY IMAP4rev1 IDLE MOVE] Authenticated\r\n")
                        } else {
                            w.write_all(format!("+ {}\r\n", b64(ERROR_JSON)).as_bytes())
                                .await?;
                            line.clear();
                            r.read_line(&mut line).await?;
                            seen.lock().expect("lock").push(if line == "\r\n" {
                                "(empty continuation)".to_string()
                            } else {
                                format!("(continuation {line:?})")
                            });
                            format!(
                                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n"
                            )
                        }
                    }
                    "SELECT" | "EXAMINE" => format!(
                        "* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n\
                         * OK [UIDNEXT 1] next\r\n{tag} OK [READ-WRITE] SELECT done\r\n"
                    ),
                    "LOGOUT" => {
                        w.write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes())
                            .await?;
                        return Ok(());
                    }
                    _ => format!("{tag} BAD unexpected {cmd}\r\n"),
                };
                w.write_all(reply.as_bytes()).await?;
            }
        }
    })
    .await
}

/// An SMTP server that offers only AUTH XOAUTH2 (initial response on the AUTH line), sends
/// `334 <base64 error>` for a wrong token and `535` after the client's answer (or drop).
async fn smtp_double(good_token: &'static str, seen: Seen) -> u16 {
    serve(move |mut r, mut w| {
        let seen = seen.clone();
        async move {
            w.write_all(b"220 double ESMTP\r\n").await?;
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return anyhow::Ok(());
                }
                let l = line.trim_end().to_string();
                let upper = l.to_ascii_uppercase();
                let reply = if upper.starts_with("EHLO") {
                    "250-double\r\n250-8BITMIME\r\n250 AUTH XOAUTH2\r\n".to_string()
                } else if upper.starts_with("AUTH XOAUTH2 ") {
                    let got = unb64(&l["AUTH XOAUTH2 ".len()..]);
                    seen.lock().expect("lock").push(got.clone());
                    if got == format!("user={PRIVACY}\x01auth=Bearer {good_token}\x01\x01") {
                        "235 2.7.0 Accepted\r\n".to_string()
                    } else {
                        w.write_all(format!("334 {}\r\n", b64(ERROR_JSON)).as_bytes())
                            .await?;
                        line.clear();
                        if r.read_line(&mut line).await? == 0 {
                            return Ok(());
                        }
                        "535 5.7.8 Username and Password not accepted\r\n".to_string()
                    }
                } else if upper.starts_with("NOOP") || upper.starts_with("RSET") {
                    "250 2.0.0 OK\r\n".to_string()
                } else if upper.starts_with("QUIT") {
                    w.write_all(b"221 2.0.0 bye\r\n").await?;
                    return Ok(());
                } else {
                    "502 5.5.1 not in this double\r\n".to_string()
                };
                w.write_all(reply.as_bytes()).await?;
            }
        }
    })
    .await
}

fn oauth_config(dir: &Path, imap_port: u16, smtp_port: u16, token_command: &str) -> PathBuf {
    let templates = common::repo_root().join("templates");
    let cmd = toml_str(token_command);
    let text = format!(
        r#"[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{PRIVACY}"
oauth2-token-command = {cmd}
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
username = "{PRIVACY}"
oauth2-token-command = {cmd}
from = "Privacy <{PRIVACY}>"
[staff]
escalation-to = ["staff@example.test"]
[store]
path = {store}
[templates]
dir = {templates}
"#,
        store = toml_str(&dir.join("p.sqlite3").to_string_lossy()),
        templates = toml_str(&templates.to_string_lossy()),
    );
    let path = dir.join("privacy-inbox.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_sends_the_token_from_the_command_to_imap_and_smtp() {
    let imap_seen: Seen = Arc::default();
    let smtp_seen: Seen = Arc::default();
    let token = "ya29.test-token-4711";
    let imap_port = imap_double(token, imap_seen.clone()).await;
    let smtp_port = smtp_double(token, smtp_seen.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    // The token comes from a command, as it would from `gcloud auth print-access-token`.
    let script = dir.path().join("token.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho {token}\n")).expect("write script");
    let config = oauth_config(
        dir.path(),
        imap_port,
        smtp_port,
        &format!("sh {}", script.display()),
    );

    let out = common::cli_async(&config, &["check"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains(&format!("PASS imap 127.0.0.1:{imap_port} login {PRIVACY}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("PASS smtp 127.0.0.1:{smtp_port} login {PRIVACY}")),
        "{stdout}"
    );
    assert!(stdout.contains("XOAUTH2"), "{stdout}");
    assert!(
        !stdout.contains(token),
        "the token is never printed: {stdout}"
    );
    let expected = format!("user={PRIVACY}\x01auth=Bearer {token}\x01\x01");
    assert_eq!(*imap_seen.lock().expect("lock"), vec![expected.clone()]);
    assert_eq!(*smtp_seen.lock().expect("lock"), vec![expected]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_and_a_failing_token_command_give_clear_errors() {
    let imap_seen: Seen = Arc::default();
    let smtp_seen: Seen = Arc::default();
    let imap_port = imap_double("the-good-token", imap_seen.clone()).await;
    let smtp_port = smtp_double("the-good-token", smtp_seen.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");

    // The server rejects the token: IMAP gets the error challenge answered and a NO.
    let config = oauth_config(dir.path(), imap_port, smtp_port, "echo expired-token");
    let out = common::cli_async(&config, &["check"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let imap = stdout
        .lines()
        .find(|l| l.starts_with("FAIL imap"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        imap.contains("XOAUTH2") && imap.contains("refused") && imap.contains("401"),
        "{imap}"
    );
    let smtp = stdout
        .lines()
        .find(|l| l.starts_with("FAIL smtp"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(smtp.contains("rejected the XOAUTH2 access token"), "{smtp}");
    assert!(
        !stdout.contains("expired-token"),
        "the token is never printed: {stdout}"
    );
    assert_eq!(
        *imap_seen.lock().expect("lock"),
        vec![
            format!("user={PRIVACY}\x01auth=Bearer expired-token\x01\x01"),
            "(empty continuation)".to_string()
        ],
        "IMAP answers the error challenge with an empty line, as SASL requires"
    );
    assert_eq!(smtp_seen.lock().expect("lock").len(), 1);

    // The token command fails: nothing is sent to the servers, the error says which key.
    let config = oauth_config(
        dir.path(),
        imap_port,
        smtp_port,
        "echo 'no refresh token' >&2; exit 3",
    );
    let out = common::cli_async(&config, &["check"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    for side in ["imap", "smtp"] {
        let l = stdout
            .lines()
            .find(|l| l.starts_with(&format!("FAIL {side}")))
            .unwrap_or_else(|| panic!("FAIL {side}: {stdout}"));
        assert!(
            l.contains("oauth2-token-command") && l.contains("no refresh token"),
            "{l}"
        );
    }
    assert_eq!(
        imap_seen.lock().expect("lock").len(),
        2,
        "no new login attempt"
    );
    assert_eq!(
        smtp_seen.lock().expect("lock").len(),
        1,
        "no new login attempt"
    );

    // The daemon path: `run --once` fails with the same clear error.
    let out = common::cli_async(&config, &["run", "--once"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("oauth2-token-command") && err.contains("exit status: 3"),
        "{err}"
    );
}
