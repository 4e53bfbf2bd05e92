//! `privacy-inbox check`: is this installation ready? Config, templates, rules, DKIM key,
//! store directory, then a real connection and login to the IMAP and SMTP servers. One
//! `PASS …` or `FAIL …: reason` line per check; secrets are never printed (only the
//! username and where the secret comes from). A `WARN …` line names a data source's query that
//! compares the requester's address case-sensitively (it does not fail the check: the column
//! may be case-insensitive by its own type).

use crate::config::{self, Auth, Endpoint, Secret, Security, Settings};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Upper bound for each server check (connect, TLS, login), so `check` always ends.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(45);

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Passed?
    pub ok: bool,
    /// What was checked, e.g. `imap 127.0.0.1:993 login privacy@example.test`.
    pub what: String,
    /// Extra facts when passed, or the reason when failed.
    pub detail: String,
    /// The problems behind a failure, one a line under it (empty for most checks).
    pub problems: Vec<String>,
}

impl Outcome {
    fn pass(what: impl Into<String>, detail: impl Into<String>) -> Outcome {
        Outcome {
            ok: true,
            what: what.into(),
            detail: detail.into(),
            problems: Vec::new(),
        }
    }

    fn fail(what: impl Into<String>, err: &anyhow::Error) -> Outcome {
        Outcome {
            ok: false,
            what: what.into(),
            detail: one_line(&format!("{err:#}")),
            problems: Vec::new(),
        }
    }

    /// `PASS what (detail)` or `FAIL what: reason`.
    pub fn line(&self) -> String {
        match (self.ok, self.detail.is_empty()) {
            (true, true) => format!("PASS {}", self.what),
            (true, false) => format!("PASS {} ({})", self.what, self.detail),
            (false, _) => format!("FAIL {}: {}", self.what, self.detail),
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs every check, printing each line to `out` as it completes. Returns true when all
/// passed. A config that does not load stops there (nothing else can be checked).
pub async fn run(config_path: &Path, out: &mut dyn Write) -> anyhow::Result<bool> {
    let mut all_ok = true;
    let mut emit = |o: Outcome, out: &mut dyn Write| -> anyhow::Result<()> {
        all_ok &= o.ok;
        writeln!(out, "{}", o.line())?;
        for p in &o.problems {
            writeln!(out, "  {p}")?;
        }
        out.flush()?;
        Ok(())
    };
    let what = format!("config {}", config_path.display());
    let settings = match config::load(config_path) {
        Ok(s) => {
            emit(Outcome::pass(what, ""), out)?;
            s
        }
        Err(e) => {
            match e.downcast_ref::<config::ConfigError>() {
                // One problem a line, as `check-config` prints them.
                Some(c) => {
                    let n = c.problems.len();
                    let head = anyhow::anyhow!("{n} problem{}", if n == 1 { "" } else { "s" });
                    emit(Outcome::fail(what, &head), out)?;
                    for p in &c.problems {
                        writeln!(out, "  {p}")?;
                    }
                }
                None => emit(Outcome::fail(what, &e), out)?,
            }
            return Ok(false);
        }
    };
    for o in local_checks(&settings) {
        emit(o, out)?;
    }
    emit(imap_check(&settings).await, out)?;
    emit(smtp_check(&settings).await, out)?;
    // Every data source: connected to, every query prepared (erase and opt-out not run),
    // every problem named by source and key.
    for src in &settings.fulfil.sources {
        let problems = crate::fulfil::source::check(src).await;
        let what = format!("source {} ({})", src.name, src.kind.as_str());
        if problems.is_empty() {
            emit(Outcome::pass(what, "connected, every query prepared"), out)?;
        } else {
            let n = problems.len();
            let head = anyhow::anyhow!("{n} problem{}", if n == 1 { "" } else { "s" });
            emit(Outcome::fail(what, &head), out)?;
            for p in &problems {
                writeln!(out, "  {p}")?;
            }
        }
        // A lookup that misses `Eli.Marsh@Example.TEST`: the bot would say nothing was found
        // and an erasure would leave the rows. A warning: the column may be citext.
        for w in crate::fulfil::source::case_warnings(src) {
            writeln!(out, "WARN {w}")?;
        }
    }
    Ok(all_ok)
}

/// Templates, rules, DKIM key and store directory: no network.
pub fn local_checks(s: &Settings) -> Vec<Outcome> {
    let mut v = Vec::new();
    // The same check and the same words as `templates check`: every message rendered.
    let problems = crate::outbound::templates::Templates::check(&s.templates_dir);
    match crate::outbound::templates::Templates::load(&s.templates_dir) {
        Ok(t) if problems.is_empty() => {
            v.push(Outcome::pass(
                "templates",
                format!(
                    "{} messages checked in {}",
                    crate::outbound::catalog::catalog().len(),
                    t.languages().join(", ")
                ),
            ));
        }
        Ok(_) => v.push(Outcome {
            problems: problems.iter().map(|p| one_line(&p.to_string())).collect(),
            ..Outcome::fail(
                format!("templates {}", s.templates_dir.display()),
                &anyhow::anyhow!(
                    "{} problem{}",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                ),
            )
        }),
        Err(e) => v.push(Outcome::fail(
            format!("templates {}", s.templates_dir.display()),
            &e,
        )),
    }
    match crate::classify::Classifier::load(s.classify.rules_dir.as_deref(), s.classify.threshold) {
        Ok(_) => v.push(Outcome::pass(
            "rules",
            match &s.classify.rules_dir {
                Some(d) => format!("shipped + {}", d.display()),
                None => "shipped".to_string(),
            },
        )),
        Err(e) => v.push(Outcome::fail("rules", &e)),
    }
    if let Some(d) = &s.dkim {
        let what = format!("dkim {}._domainkey.{}", d.selector, d.domain);
        match crate::outbound::dkim::load_config(d) {
            Ok(_) => v.push(Outcome::pass(
                what,
                format!("{:?} key {}", d.algorithm, d.key_file.display()).to_lowercase(),
            )),
            Err(e) => v.push(Outcome::fail(what, &e)),
        }
    }
    let store_dir = s
        .store_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let what = format!("store {}", s.store_path.display());
    if s.store_path.exists() {
        match std::fs::OpenOptions::new().append(true).open(&s.store_path) {
            Ok(_) => v.push(Outcome::pass(what, "exists, writable")),
            Err(e) => v.push(Outcome::fail(what, &anyhow::anyhow!("not writable: {e}"))),
        }
    } else if store_dir.is_dir() {
        v.push(Outcome::pass(what, "will be created"));
    } else {
        v.push(Outcome::fail(
            what,
            &anyhow::anyhow!("directory {} does not exist", store_dir.display()),
        ));
    }
    v
}

/// `imap HOST:PORT login USER` plus the mailbox's message count.
pub async fn imap_check(s: &Settings) -> Outcome {
    let ep = &s.imap.endpoint;
    let what = format!("imap {}:{} login {}", ep.host, ep.port, user(ep));
    let mailbox = s.imap.mailbox.clone();
    let result = tokio::time::timeout(CHECK_TIMEOUT, async {
        let mut session = crate::imap::connect(ep).await?;
        let sel = crate::imap::select(&mut session, &mailbox).await?;
        crate::imap::logout(session).await;
        anyhow::Ok(sel)
    })
    .await;
    match result {
        Ok(Ok(sel)) => Outcome::pass(
            what,
            format!(
                "{}{}, {}; {mailbox}: {} messages",
                security(ep.security),
                trusted("imap", ep),
                secret_source(&ep.auth),
                sel.exists
            ),
        ),
        Ok(Err(e)) => Outcome::fail(what, &e),
        Err(_) => Outcome::fail(what, &anyhow::anyhow!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

/// `smtp HOST:PORT [login USER]`: connect, TLS, EHLO, AUTH, NOOP.
pub async fn smtp_check(s: &Settings) -> Outcome {
    let ep = &s.smtp.endpoint;
    let what = match &ep.auth {
        Auth::None => format!("smtp {}:{}", ep.host, ep.port),
        _ => format!("smtp {}:{} login {}", ep.host, ep.port, user(ep)),
    };
    let result = tokio::time::timeout(CHECK_TIMEOUT, async {
        let smtp = crate::outbound::smtp::Smtp::new(&s.smtp)?;
        smtp.test_connection().await
    })
    .await;
    match result {
        Ok(Ok(())) => Outcome::pass(
            what,
            format!(
                "{}{}, {}",
                security(ep.security),
                trusted("smtp", ep),
                secret_source(&ep.auth)
            ),
        ),
        Ok(Err(e)) => Outcome::fail(what, &e),
        Err(_) => Outcome::fail(what, &anyhow::anyhow!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

/// Which certificate the TLS handshake trusted, as ` (certificate SHA-256 … pinned in
/// imap.ca-file)`; empty without TLS.
fn trusted(proto: &str, ep: &Endpoint) -> String {
    if ep.security == Security::None {
        return String::new();
    }
    match crate::tls::last_trusted(proto) {
        Some(t) => format!(" ({t})"),
        // SMTP without a ca-file: lettre checked the chain against the built-in web roots.
        None => " (certificate signed by a built-in web root)".to_string(),
    }
}

fn user(ep: &Endpoint) -> &str {
    match &ep.auth {
        Auth::None => "(none)",
        Auth::Password { username, .. } | Auth::OAuth2 { username, .. } => username,
    }
}

fn security(s: Security) -> &'static str {
    match s {
        Security::None => "no TLS",
        Security::Starttls => "STARTTLS",
        Security::Tls => "TLS",
    }
}

/// Where the secret came from, never the secret.
fn secret_source(a: &Auth) -> &'static str {
    match a {
        Auth::None => "no authentication",
        Auth::Password {
            secret: Secret::Literal(_),
            ..
        } => "password from the config file",
        Auth::Password {
            secret: Secret::Env(_),
            ..
        } => "password from password-env",
        Auth::Password {
            secret: Secret::Command(_),
            ..
        } => "password from password-command",
        Auth::OAuth2 { .. } => "XOAUTH2 token from oauth2-token-command",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_pass_or_fail_with_one_line_reasons() {
        assert_eq!(Outcome::pass("rules", "").line(), "PASS rules");
        assert_eq!(
            Outcome::pass("templates", "3 templates").line(),
            "PASS templates (3 templates)"
        );
        let e = anyhow::anyhow!("two\nlines").context("Outer");
        assert_eq!(
            Outcome::fail("smtp 127.0.0.1:25", &e).line(),
            "FAIL smtp 127.0.0.1:25: Outer: two; lines"
        );
    }

    #[test]
    fn the_readme_counts_the_templates_as_check_does() {
        let readme = include_str!("../README.md");
        let line = readme
            .lines()
            .find(|l| l.starts_with("PASS templates ("))
            .expect("README shows a `check` run");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let t = crate::outbound::templates::Templates::load(&dir).expect("shipped templates");
        assert_eq!(
            line,
            format!(
                "PASS templates ({} messages checked in {})",
                crate::outbound::catalog::catalog().len(),
                t.languages().join(", ")
            )
        );
    }

    #[test]
    fn a_bad_dkim_key_is_a_fail_line_naming_the_key_file_and_a_config_problem_at_start() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = dir.path().join("dkim.pem");
        std::fs::write(&key, "not a key").expect("write key");
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let text = format!(
            "[imap]\nhost = \"127.0.0.1\"\nport = 10143\nsecurity = \"none\"\n\
             username = \"privacy@example.test\"\npassword = \"pw\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = 10025\nsecurity = \"none\"\n\
             from = \"privacy@example.test\"\n\
             [staff]\nescalation-to = [\"staff@example.test\"]\n\
             [store]\npath = \"s.sqlite3\"\n[templates]\ndir = {templates:?}\n\
             [dkim]\nselector = \"s1\"\nkey-file = {key:?}\n"
        );
        let file = dir.path().join("p.toml");
        // The file says where the key is; reading the key is not the config's business.
        let s = config::parse(&text, &file).expect("the config file itself is valid");
        let lines: Vec<String> = local_checks(&s).iter().map(Outcome::line).collect();
        let dkim = lines
            .iter()
            .find(|l| l.contains(" dkim "))
            .expect("a dkim line");
        assert!(
            dkim.starts_with("FAIL dkim s1._domainkey.example.test: ")
                && dkim.contains(&key.display().to_string()),
            "{lines:#?}"
        );
        // `run` (and `check-config`) stop on it, naming the file, the key and the key file.
        let err = crate::outbound::dkim::load(&s).expect_err("an unusable key");
        let c = err
            .downcast_ref::<config::ConfigError>()
            .expect("worded as a config problem");
        assert_eq!(c.problems.len(), 1, "{c}");
        assert!(
            c.problems[0].starts_with(&format!(
                "{}: `dkim.key-file`: Unusable DKIM key {}: ",
                file.display(),
                key.display()
            )),
            "{c}"
        );
    }
}
