//! TOML configuration → validated [`Settings`].
//!
//! Every section is read on its own so that errors in different sections are reported
//! together, and semantic checks (ports, addresses, paths, secrets) are collected into one
//! list. Each error names the file and the key. Relative paths are resolved against the
//! directory of the config file. `privacy-inbox.sample.toml` documents every key.
//!
//! The steps, one file each: `raw` reads the TOML into serde structs, one section at a
//! time, each bad key reported by its name; `validate` turns them into [`Settings`], one
//! function a section (`endpoint` for the server keys `[imap]` and `[smtp]` share);
//! `secrets` is where a password or token comes from at login (an environment variable,
//! a shell command). Nothing here loads a key or opens a connection: the DKIM key is loaded
//! where the daemon starts (and by `privacy-inbox check`).

mod endpoint;
mod problems;
mod raw;
mod secrets;
mod validate;

pub use problems::ConfigError;
pub use secrets::{run_secret_command, Secret};

use anyhow::{anyhow, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Transport security for a mail connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain text; refused unless the host is loopback or `allow-insecure = true`.
    None,
    /// Plain connect, then upgrade with STARTTLS (required, never optional).
    Starttls,
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
}

/// Authentication for IMAP or SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No authentication (SMTP only; typical for a local relay).
    None,
    /// Username + password (IMAP LOGIN / SMTP AUTH PLAIN or LOGIN).
    Password { username: String, secret: Secret },
    /// SASL XOAUTH2 with an access token printed by a command.
    OAuth2 {
        username: String,
        token_command: String,
    },
}

/// Where and how to reach a server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
    /// Extra CA certificate (PEM) trusted besides the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Credentials.
    pub auth: Auth,
}

/// `[imap]`
#[derive(Debug, Clone)]
pub struct ImapSettings {
    /// Server and credentials.
    pub endpoint: Endpoint,
    /// The mailbox the bot reads (usually INBOX).
    pub mailbox: String,
    /// Where processed mail is moved (created if missing).
    pub processed_mailbox: String,
    /// Where mail that cannot be processed is moved (created if missing).
    pub quarantine_mailbox: String,
    /// Seconds between polls when IDLE is not available or fails.
    pub poll_seconds: u64,
    /// Seconds after which IDLE is re-issued (well below the 29-minute server limit).
    pub idle_seconds: u64,
    /// Mails fetched per `UID FETCH` batch.
    pub batch_size: u32,
    /// Mails larger than this (RFC822.SIZE) are not downloaded but quarantined.
    pub max_message_bytes: u64,
    /// The authserv-id our receiving server writes in `Authentication-Results` (RFC 8601):
    /// only its headers are trusted ([`crate::mail::auth`]).
    pub authserv_id: Option<String>,
}

/// `[smtp]`
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server and credentials.
    pub endpoint: Endpoint,
    /// The From header of every reply, e.g. `Acme Privacy Team <privacy@example.test>`.
    pub from: String,
    /// The bare address of `from`.
    pub from_address: String,
    /// The domain used in our Message-IDs (the domain of `from`).
    pub message_id_domain: String,
    /// A copy of every reply is sent here in the same SMTP transaction (Bcc), so that a
    /// crash between the server's acceptance and our bookkeeping can be recognised over
    /// IMAP. `None` disables the copy (a crash in that window may then send a reply twice).
    pub copy_to: Option<String>,
    /// Parallel SMTP connections used by the outbox.
    pub connections: u32,
    /// Per-recipient limit on replies in 24 hours (anti-reflection).
    pub per_recipient_per_day: u32,
    /// Global limit on replies per hour.
    pub global_per_hour: u32,
}

/// `[staff]`
#[derive(Debug, Clone)]
pub struct StaffSettings {
    /// Addresses that receive escalations.
    pub escalation_to: Vec<String>,
    /// Addresses allowed to send staff commands (default: `escalation-to`).
    pub members: Vec<String>,
    /// Staff mails per hour to one staff address, at most; the rest go into one summary
    /// (default 30).
    pub max_mails_per_hour: u32,
}

/// `[classify]`
#[derive(Debug, Clone)]
pub struct ClassifySettings {
    /// Minimum confidence for the bot to handle a request by itself.
    pub threshold: f64,
    /// Extra rule files an admin keeps (per language), added to the shipped ones.
    pub rules_dir: Option<PathBuf>,
}

/// `[clock]`
#[derive(Debug, Clone)]
pub struct ClockSettings {
    /// `ccpa` (default) or `gdpr`.
    pub jurisdiction: crate::request::deadlines::Jurisdiction,
    /// The business time zone (IANA name).
    pub timezone: chrono_tz::Tz,
    /// Extra non-business days an admin adds (YYYY-MM-DD).
    pub holidays: Vec<chrono::NaiveDate>,
    /// Days before the due date at which staff are warned (default 10 and 3).
    pub due_soon_days: Vec<i64>,
    /// Days before the first period ends at which staff are reminded that the one extension
    /// must be announced by then (default 7; 0 turns the reminder off).
    pub extension_warning_days: i64,
}

/// `[verification]`
#[derive(Debug, Clone)]
pub struct VerificationSettings {
    /// Days after the acknowledgement before an unverified consumer is reminded.
    pub reminder_days: i64,
    /// Days after the acknowledgement before an unverified request is closed.
    pub expiry_days: i64,
    /// Optional CSV of `email,account number`: a consumer listed there must also give their
    /// account number in the verification reply (a second data point).
    pub account_directory: Option<PathBuf>,
}

/// DKIM signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    /// rsa-sha256 (key: PKCS#1 or PKCS#8 PEM).
    Rsa,
    /// ed25519-sha256 (RFC 8463; key: PKCS#8 PEM or the base64 32-byte seed).
    Ed25519,
}

/// `[dkim]` (optional): sign every outgoing mail.
#[derive(Debug, Clone)]
pub struct DkimSettings {
    /// The selector published in DNS (`SELECTOR._domainkey.DOMAIN`).
    pub selector: String,
    /// The signing domain (`d=`), usually the domain of `smtp.from`.
    pub domain: String,
    /// The private key file.
    pub key_file: PathBuf,
    /// `rsa` (default) or `ed25519`.
    pub algorithm: DkimAlgorithm,
}

/// `[metrics]` (optional): the `/healthz` and Prometheus `/metrics` HTTP endpoint.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// Address to listen on, e.g. `127.0.0.1:9898`.
    pub listen: std::net::SocketAddr,
    /// Seconds the mail loop may keep failing before `/healthz` answers 503.
    pub unhealthy_after_seconds: u64,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file it was read from.
    pub source: PathBuf,
    /// `[imap]`
    pub imap: ImapSettings,
    /// `[smtp]`
    pub smtp: SmtpSettings,
    /// `[staff]`
    pub staff: StaffSettings,
    /// `[store] path`: the SQLite database file.
    pub store_path: PathBuf,
    /// `[store] mail-retention-days`: `purge` drops the bodies of mails older than this
    /// (of closed requests and of mail that opened none); the records stay.
    pub mail_retention_days: i64,
    /// `[store] record-retention-months`: `purge` deletes the records of requests closed
    /// longer ago than this (with their audit log and mail rows), and rows of mail that opened
    /// none. At least 24 (CCPA §7101 keeps records 24 months).
    pub record_retention_months: u32,
    /// `[templates] dir`
    pub templates_dir: PathBuf,
    /// `[classify]`
    pub classify: ClassifySettings,
    /// `[clock]`
    pub clock: ClockSettings,
    /// `[verification]`
    pub verification: VerificationSettings,
    /// `[dkim]`, when outgoing mail is signed.
    pub dkim: Option<DkimSettings>,
    /// `[metrics]`, when the HTTP endpoint is enabled.
    pub metrics: Option<MetricsSettings>,
    /// `[[sources]]`, `[portal]` and `[fulfil]`: the company's data sources and the
    /// download page ([`crate::fulfil`]).
    pub fulfil: crate::fulfil::settings::FulfilSettings,
}

/// Reads and validates the config file, reporting every problem at once.
pub fn load(path: &Path) -> Result<Settings> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(anyhow!(
                "No config file at {}: write a first one with `privacy-inbox --config {} init \
                 --provider gmail|m365|generic --address privacy@your.domain`, or give another \
                 with --config FILE",
                path.display(),
                path.display()
            ))
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("Cannot read config file {}", path.display())))
        }
    };
    parse(&text, path)
}

/// Parses and validates config text; `path` names the file in errors and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Settings> {
    let root: toml::Table = toml::from_str(text).map_err(|e| ConfigError {
        problems: vec![problems::syntax_problem(path, text, &e)],
    })?;
    let mut errs = problems::Errors::new(path);
    let raw = raw::Sections::read(&root, &mut errs);
    let mut settings = validate::settings(raw, path, &mut errs);
    match crate::fulfil::settings::parse(&root) {
        Ok(mut f) => {
            f.resolve_paths(path.parent().unwrap_or(Path::new(".")));
            settings.fulfil = f;
        }
        Err(problems) => {
            for p in problems {
                match p.split_once(": ") {
                    Some((key, msg)) => errs.push(key, msg),
                    None => errs.push("sources", p),
                }
            }
        }
    }
    errs.into_result()?;
    Ok(settings)
}

#[cfg(test)]
mod tests;
