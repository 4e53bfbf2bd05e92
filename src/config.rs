//! TOML configuration → validated [`Settings`].
//!
//! Every section is read on its own so that errors in different sections are reported
//! together, and semantic checks (ports, addresses, paths, secrets) are collected into one
//! list. Each error names the file and the key. Relative paths are resolved against the
//! directory of the config file. `privacy-inbox.sample.toml` documents every key.

use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::IpAddr;
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

/// How the password (or OAuth2 token) is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// Written in the config file.
    Literal(String),
    /// Read from this environment variable at each login.
    Env(String),
    /// Printed on stdout by this shell command at each login.
    Command(String),
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawImap {
    host: Option<String>,
    port: Option<u16>,
    security: Option<Security>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_command: Option<String>,
    oauth2_token_command: Option<String>,
    ca_file: Option<PathBuf>,
    allow_insecure: Option<bool>,
    mailbox: Option<String>,
    processed_mailbox: Option<String>,
    quarantine_mailbox: Option<String>,
    poll_seconds: Option<u64>,
    idle_seconds: Option<u64>,
    batch_size: Option<u32>,
    max_message_bytes: Option<u64>,
    authserv_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    security: Option<Security>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_command: Option<String>,
    oauth2_token_command: Option<String>,
    ca_file: Option<PathBuf>,
    allow_insecure: Option<bool>,
    from: Option<String>,
    copy_to: Option<String>,
    connections: Option<u32>,
    per_recipient_per_day: Option<u32>,
    global_per_hour: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStaff {
    escalation_to: Option<Vec<String>>,
    members: Option<Vec<String>>,
    max_mails_per_hour: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStore {
    path: Option<PathBuf>,
    mail_retention_days: Option<i64>,
    record_retention_months: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTemplates {
    dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClassify {
    threshold: Option<f64>,
    rules_dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClock {
    jurisdiction: Option<String>,
    timezone: Option<String>,
    holidays: Option<Vec<String>>,
    due_soon_days: Option<Vec<i64>>,
    extension_warning_days: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawVerification {
    reminder_days: Option<i64>,
    expiry_days: Option<i64>,
    account_directory: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDkim {
    selector: Option<String>,
    domain: Option<String>,
    key_file: Option<PathBuf>,
    algorithm: Option<DkimAlgorithm>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMetrics {
    listen: Option<String>,
    unhealthy_after_seconds: Option<u64>,
}

const KNOWN_SECTIONS: &[&str] = &[
    "verification",
    "imap",
    "smtp",
    "staff",
    "store",
    "templates",
    "classify",
    "clock",
    "dkim",
    "metrics",
];

/// Collects errors, each prefixed with the file name.
struct Errors<'a> {
    file: &'a Path,
    list: Vec<String>,
    /// Keys (`imap.port`) and sections (`imap`) already reported as unreadable: later checks
    /// that would only repeat them ("missing") are dropped, so each real problem is reported
    /// once.
    unreadable: Vec<String>,
}

impl Errors<'_> {
    fn push(&mut self, key: &str, msg: impl std::fmt::Display) {
        let repeats = self.unreadable.iter().any(|u| {
            key == u
                || key
                    .strip_prefix(u.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        });
        if !repeats {
            self.list.push(format!(
                "{}: `{key}`: {}",
                self.file.display(),
                one_line(&msg.to_string())
            ));
        }
    }

    /// A key or section that could not be read at all: reported here, never again.
    fn unreadable(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.push(key, msg);
        self.unreadable.push(key.to_string());
    }
}

/// `text` on one line: a problem is always one line of the report.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every problem of a config file, one `FILE: `key`: problem` line each.
#[derive(Debug, thiserror::Error)]
#[error("{} problem{} in the configuration:\n  {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.join("\n  "))]
pub struct ConfigError {
    /// One line per problem, each starting with the file name and the key.
    pub problems: Vec<String>,
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
        problems: vec![syntax_problem(path, text, &e)],
    })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let mut errs = Errors {
        file: path,
        list: Vec::new(),
        unreadable: Vec::new(),
    };
    for key in root.keys() {
        if !KNOWN_SECTIONS.contains(&key.as_str()) {
            errs.unreadable(
                key,
                format!("unknown section (known: {})", KNOWN_SECTIONS.join(", ")),
            );
        }
    }
    let imap: RawImap = section(&root, "imap", &mut errs);
    let smtp: RawSmtp = section(&root, "smtp", &mut errs);
    let staff: RawStaff = section(&root, "staff", &mut errs);
    let store: RawStore = section(&root, "store", &mut errs);
    let templates: RawTemplates = section(&root, "templates", &mut errs);
    let classify: RawClassify = section(&root, "classify", &mut errs);
    let clock: RawClock = section(&root, "clock", &mut errs);
    let verification: RawVerification = section(&root, "verification", &mut errs);
    let dkim_raw: Option<RawDkim> = root
        .contains_key("dkim")
        .then(|| section(&root, "dkim", &mut errs));
    let metrics_raw: Option<RawMetrics> = root
        .contains_key("metrics")
        .then(|| section(&root, "metrics", &mut errs));

    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

    let imap_endpoint = endpoint(
        "imap",
        EndpointParts {
            host: imap.host,
            port: imap.port,
            security: imap.security,
            username: imap.username,
            password: imap.password,
            password_env: imap.password_env,
            password_command: imap.password_command,
            oauth2_token_command: imap.oauth2_token_command,
            ca_file: imap.ca_file.map(resolve),
            allow_insecure: imap.allow_insecure.unwrap_or(false),
            auth_required: true,
        },
        &mut errs,
    );
    let smtp_endpoint = endpoint(
        "smtp",
        EndpointParts {
            host: smtp.host,
            port: smtp.port,
            security: smtp.security,
            username: smtp.username,
            password: smtp.password,
            password_env: smtp.password_env,
            password_command: smtp.password_command,
            oauth2_token_command: smtp.oauth2_token_command,
            ca_file: smtp.ca_file.map(resolve),
            allow_insecure: smtp.allow_insecure.unwrap_or(false),
            auth_required: false,
        },
        &mut errs,
    );

    let from = smtp.from.unwrap_or_default();
    let from_address = match crate::address::bare_address(&from) {
        Some(a) => a,
        None => {
            if from.is_empty() {
                errs.push(
                    "smtp.from",
                    "missing (e.g. \"Acme Privacy Team <privacy@example.test>\")",
                );
            } else {
                errs.push("smtp.from", format!("`{from}` has no valid email address"));
            }
            String::new()
        }
    };
    let message_id_domain = from_address
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let copy_to = match smtp.copy_to {
        Some(s) if s.trim().is_empty() => None,
        Some(s) => match crate::address::bare_address(&s) {
            Some(a) => Some(a),
            None => {
                errs.push("smtp.copy-to", format!("`{s}` is not an email address"));
                None
            }
        },
        None => crate::address::plus_address(&from_address, "sent"),
    };

    let mut escalation_to = Vec::new();
    match staff.escalation_to {
        Some(list) if !list.is_empty() => {
            for a in list {
                match crate::address::bare_address(&a) {
                    Some(b) => escalation_to.push(b),
                    None => errs.push(
                        "staff.escalation-to",
                        format!("`{a}` is not an email address"),
                    ),
                }
            }
        }
        _ => errs.push(
            "staff.escalation-to",
            "missing: at least one staff address must receive escalations",
        ),
    }
    let mut members = Vec::new();
    for a in staff.members.unwrap_or_default() {
        match crate::address::bare_address(&a) {
            Some(b) => members.push(b),
            None => errs.push("staff.members", format!("`{a}` is not an email address")),
        }
    }
    if members.is_empty() {
        members = escalation_to.clone();
    }
    if staff.max_mails_per_hour == Some(0) {
        errs.push(
            "staff.max-mails-per-hour",
            "must be at least 1 (staff must get mail)",
        );
    }

    let store_path = match store.path {
        Some(p) if !p.as_os_str().is_empty() => resolve(p),
        _ => {
            errs.push(
                "store.path",
                "missing (the SQLite file, e.g. \"privacy-inbox.sqlite3\")",
            );
            PathBuf::new()
        }
    };
    let templates_dir = match templates.dir {
        Some(p) if !p.as_os_str().is_empty() => {
            let p = resolve(p);
            if !p.is_dir() {
                errs.push(
                    "templates.dir",
                    format!("{} is not a directory", p.display()),
                );
            }
            p
        }
        _ => {
            errs.push(
                "templates.dir",
                "missing (the folder with <lang>/ template files)",
            );
            PathBuf::new()
        }
    };

    let threshold = classify.threshold.unwrap_or(0.6);
    if !(0.0..=1.0).contains(&threshold) {
        errs.push(
            "classify.threshold",
            format!("{threshold} is not between 0 and 1"),
        );
    }
    let rules_dir = classify.rules_dir.map(resolve);
    if let Some(d) = &rules_dir {
        if !d.is_dir() {
            errs.push(
                "classify.rules-dir",
                format!("{} is not a directory", d.display()),
            );
        }
    }

    let jurisdiction = match clock.jurisdiction.as_deref().unwrap_or("ccpa") {
        "gdpr" => crate::request::deadlines::Jurisdiction::Gdpr,
        "ccpa" => crate::request::deadlines::Jurisdiction::Ccpa,
        other => {
            errs.push(
                "clock.jurisdiction",
                format!("`{other}`: expected \"ccpa\" or \"gdpr\""),
            );
            crate::request::deadlines::Jurisdiction::Ccpa
        }
    };
    let tz_name = clock
        .timezone
        .unwrap_or_else(|| "America/Los_Angeles".into());
    let timezone = match tz_name.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz,
        Err(_) => {
            errs.push(
                "clock.timezone",
                format!("`{tz_name}` is not an IANA time zone name"),
            );
            chrono_tz::UTC
        }
    };
    let mut holidays = Vec::new();
    for h in clock.holidays.unwrap_or_default() {
        match chrono::NaiveDate::parse_from_str(&h, "%Y-%m-%d") {
            Ok(d) => holidays.push(d),
            Err(e) => errs.push(
                "clock.holidays",
                format!("`{h}` is not a YYYY-MM-DD date: {e}"),
            ),
        }
    }
    let extension_warning_days = clock.extension_warning_days.unwrap_or(7);
    if !(0..=45).contains(&extension_warning_days) {
        errs.push(
            "clock.extension-warning-days",
            "must be between 0 (off) and 45 days",
        );
    }
    let mail_retention_days = store.mail_retention_days.unwrap_or(180);
    if !(1..=3650).contains(&mail_retention_days) {
        errs.push(
            "store.mail-retention-days",
            "must be between 1 and 3650 days",
        );
    }
    let record_retention_months = store.record_retention_months.unwrap_or(24);
    if !(24..=120).contains(&record_retention_months) {
        errs.push(
            "store.record-retention-months",
            "must be between 24 (CCPA §7101 keeps request records 24 months) and 120",
        );
    }
    let due_soon_days = clock.due_soon_days.unwrap_or_else(|| vec![10, 3]);
    if due_soon_days.iter().any(|d| *d < 0 || *d > 90) {
        errs.push(
            "clock.due-soon-days",
            "each value must be between 0 and 90 days",
        );
    }

    let reminder_days = verification.reminder_days.unwrap_or(7);
    let expiry_days = verification.expiry_days.unwrap_or(30);
    if reminder_days < 1 || expiry_days <= reminder_days || expiry_days > 365 {
        errs.push(
            "verification.expiry-days",
            "need 1 <= reminder-days < expiry-days <= 365",
        );
    }
    let account_directory = verification.account_directory.map(resolve);
    if let Some(p) = &account_directory {
        if let Err(e) = crate::accounts::Directory::load(p) {
            errs.push("verification.account-directory", format!("{e:#}"));
        }
    }

    let mailbox = non_empty(imap.mailbox, "INBOX");
    let processed_mailbox = non_empty(imap.processed_mailbox, "Processed");
    let quarantine_mailbox = non_empty(imap.quarantine_mailbox, "Quarantine");
    // IMAP's INBOX is case-insensitive (RFC 3501 §5.1), and many servers fold the case of
    // every name: "Inbox" for processed mail would move each mail back into the mailbox it
    // was read from, to be fetched and recorded again, for ever.
    for (key, value, default) in [
        ("imap.processed-mailbox", &processed_mailbox, "Processed"),
        ("imap.quarantine-mailbox", &quarantine_mailbox, "Quarantine"),
    ] {
        if value.trim().eq_ignore_ascii_case(mailbox.trim()) {
            errs.push(
                key,
                format!(
                    "\"{value}\" is the mailbox the bot reads (imap.mailbox = \"{mailbox}\"; \
                     mailbox names are compared without case): mail moved there would be \
                     read again for ever; use another name, e.g. \"{default}\""
                ),
            );
        }
    }
    let batch_size = imap.batch_size.unwrap_or(500);
    if batch_size == 0 {
        errs.push("imap.batch-size", "must be at least 1");
    }
    let idle_seconds = imap.idle_seconds.unwrap_or(20 * 60);
    if !(10..=28 * 60).contains(&idle_seconds) {
        errs.push(
            "imap.idle-seconds",
            "must be between 10 and 1680 (servers drop IDLE at 29 minutes)",
        );
    }
    let poll_seconds = imap.poll_seconds.unwrap_or(60);
    if poll_seconds == 0 {
        errs.push("imap.poll-seconds", "must be at least 1");
    }
    let connections = smtp.connections.unwrap_or(4);
    if !(1..=32).contains(&connections) {
        errs.push("smtp.connections", "must be between 1 and 32");
    }

    let dkim = dkim_raw.and_then(|d| dkim_settings(d, &message_id_domain, &resolve, &mut errs));
    let metrics = metrics_raw.and_then(|m| metrics_settings(m, &mut errs));

    if !errs.list.is_empty() {
        return Err(ConfigError {
            problems: errs.list,
        }
        .into());
    }
    Ok(Settings {
        source: path.to_path_buf(),
        imap: ImapSettings {
            endpoint: imap_endpoint,
            mailbox,
            processed_mailbox,
            quarantine_mailbox,
            poll_seconds,
            idle_seconds,
            batch_size,
            max_message_bytes: imap.max_message_bytes.unwrap_or(25 * 1024 * 1024),
            authserv_id: imap
                .authserv_id
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        },
        smtp: SmtpSettings {
            endpoint: smtp_endpoint,
            from,
            from_address,
            message_id_domain,
            copy_to,
            connections,
            per_recipient_per_day: smtp.per_recipient_per_day.unwrap_or(5),
            global_per_hour: smtp.global_per_hour.unwrap_or(2000),
        },
        staff: StaffSettings {
            escalation_to,
            members,
            max_mails_per_hour: staff.max_mails_per_hour.unwrap_or(30),
        },
        store_path,
        mail_retention_days,
        record_retention_months: u32::try_from(record_retention_months).unwrap_or(24),
        templates_dir,
        classify: ClassifySettings {
            threshold,
            rules_dir,
        },
        clock: ClockSettings {
            jurisdiction,
            timezone,
            holidays,
            due_soon_days,
            extension_warning_days,
        },
        verification: VerificationSettings {
            reminder_days,
            expiry_days,
            account_directory,
        },
        dkim,
        metrics,
    })
}

fn dkim_settings(
    d: RawDkim,
    from_domain: &str,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    errs: &mut Errors,
) -> Option<DkimSettings> {
    let selector = d.selector.unwrap_or_default();
    let valid_label = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    if !valid_label(&selector) {
        errs.push(
            "dkim.selector",
            "missing or not a DNS label (e.g. \"privacy2026\")",
        );
    }
    let domain = d
        .domain
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| from_domain.to_string());
    if !valid_label(&domain) {
        errs.push("dkim.domain", format!("`{domain}` is not a domain name"));
    }
    let key_file = match d.key_file {
        Some(p) if !p.as_os_str().is_empty() => resolve(p),
        _ => {
            errs.push("dkim.key-file", "missing (the private key, PEM)");
            return None;
        }
    };
    let algorithm = d.algorithm.unwrap_or(DkimAlgorithm::Rsa);
    let settings = DkimSettings {
        selector,
        domain,
        key_file,
        algorithm,
    };
    if let Err(e) = crate::outbound::dkim::load_config(&settings) {
        errs.push("dkim.key-file", format!("{e:#}"));
    }
    Some(settings)
}

fn metrics_settings(m: RawMetrics, errs: &mut Errors) -> Option<MetricsSettings> {
    let listen = match m.listen.as_deref().map(str::parse::<std::net::SocketAddr>) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            errs.push(
                "metrics.listen",
                format!("not an IP:PORT address (e.g. \"127.0.0.1:9898\"): {e}"),
            );
            return None;
        }
        None => {
            errs.push("metrics.listen", "missing (e.g. \"127.0.0.1:9898\")");
            return None;
        }
    };
    let unhealthy_after_seconds = m.unhealthy_after_seconds.unwrap_or(300);
    if unhealthy_after_seconds == 0 {
        errs.push("metrics.unhealthy-after-seconds", "must be at least 1");
    }
    Some(MetricsSettings {
        listen,
        unhealthy_after_seconds,
    })
}

fn non_empty(v: Option<String>, default: &str) -> String {
    match v {
        Some(s) if !s.trim().is_empty() => s,
        _ => default.to_string(),
    }
}

fn section<T: DeserializeOwned + Default>(root: &toml::Table, name: &str, errs: &mut Errors) -> T {
    match root.get(name) {
        None => T::default(),
        Some(toml::Value::Table(t)) => match T::deserialize(t.clone()) {
            Ok(v) => v,
            Err(_) => {
                // Try each key on its own: a bad key is reported by its own name, does not
                // hide a second one, and does not make the good keys look missing.
                let mut good = toml::Table::new();
                for (key, value) in t {
                    let mut one = toml::Table::new();
                    one.insert(key.clone(), value.clone());
                    match T::deserialize(one) {
                        Ok(_) => {
                            good.insert(key.clone(), value.clone());
                        }
                        Err(e) => errs.unreadable(&format!("{name}.{key}"), key_problem(&e)),
                    }
                }
                T::deserialize(good).unwrap_or_default()
            }
        },
        Some(_) => {
            errs.unreadable(name, "must be a table ([section])");
            T::default()
        }
    }
}

/// serde's account of one bad key, in the words of a config file.
fn key_problem(e: &toml::de::Error) -> String {
    let msg = one_line(e.message());
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let known = rest
            .split_once(", expected ")
            .map(|(_, k)| k.trim_start_matches("one of ").replace('`', ""))
            .unwrap_or_default();
        return format!("unknown key (known: {known})");
    }
    msg
}

/// A TOML syntax error as one line: `FILE: line N: problem`.
fn syntax_problem(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .and_then(|s| text.get(..s.start))
        .map(|before| before.matches('\n').count() + 1);
    match line {
        Some(n) => format!(
            "{}: line {n}: invalid TOML: {}",
            path.display(),
            one_line(e.message())
        ),
        None => format!(
            "{}: invalid TOML: {}",
            path.display(),
            one_line(e.message())
        ),
    }
}

struct EndpointParts {
    host: Option<String>,
    port: Option<u16>,
    security: Option<Security>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_command: Option<String>,
    oauth2_token_command: Option<String>,
    ca_file: Option<PathBuf>,
    allow_insecure: bool,
    auth_required: bool,
}

fn endpoint(sec: &str, p: EndpointParts, errs: &mut Errors) -> Endpoint {
    let host = p.host.unwrap_or_default();
    if host.trim().is_empty() {
        errs.push(&format!("{sec}.host"), "missing");
    }
    let port = match p.port {
        Some(0) => {
            errs.push(&format!("{sec}.port"), "must be 1-65535");
            0
        }
        Some(port) => port,
        None => {
            errs.push(&format!("{sec}.port"), "missing");
            0
        }
    };
    let security = p.security.unwrap_or(Security::Tls);
    if security == Security::None && !p.allow_insecure && !is_loopback(&host) && !host.is_empty() {
        errs.push(
            &format!("{sec}.security"),
            format!("\"none\" sends the password in clear text to {host}; use \"tls\" or \"starttls\", or set {sec}.allow-insecure = true"),
        );
    }
    if let Some(ca) = &p.ca_file {
        if !ca.is_file() {
            errs.push(
                &format!("{sec}.ca-file"),
                format!("{} is not a readable file", ca.display()),
            );
        }
    }
    let sources = [
        p.password.is_some(),
        p.password_env.is_some(),
        p.password_command.is_some(),
        p.oauth2_token_command.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources > 1 {
        errs.push(
            &format!("{sec}.password"),
            "set only one of password, password-env, password-command, oauth2-token-command",
        );
    }
    let username = p.username.unwrap_or_default();
    let auth = if let Some(cmd) = p.oauth2_token_command {
        Auth::OAuth2 {
            username: username.clone(),
            token_command: cmd,
        }
    } else if let Some(pw) = p.password {
        Auth::Password {
            username: username.clone(),
            secret: Secret::Literal(pw),
        }
    } else if let Some(var) = p.password_env {
        Auth::Password {
            username: username.clone(),
            secret: Secret::Env(var),
        }
    } else if let Some(cmd) = p.password_command {
        Auth::Password {
            username: username.clone(),
            secret: Secret::Command(cmd),
        }
    } else {
        if p.auth_required {
            errs.push(
                &format!("{sec}.password"),
                "missing: set password, password-env, password-command or oauth2-token-command",
            );
        }
        Auth::None
    };
    if !matches!(auth, Auth::None) && username.trim().is_empty() {
        errs.push(&format!("{sec}.username"), "missing");
    }
    Endpoint {
        host,
        port,
        security,
        ca_file: p.ca_file,
        auth,
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl Secret {
    /// Resolves the secret now (environment variable or command output).
    pub fn resolve(&self) -> Result<String> {
        match self {
            Secret::Literal(s) => Ok(s.clone()),
            Secret::Env(var) => std::env::var(var)
                .with_context(|| format!("Environment variable {var} (password-env) is not set")),
            Secret::Command(cmd) => run_secret_command(cmd),
        }
    }
}

/// Runs a secret/token command with `sh -c` and returns its first output line.
pub fn run_secret_command(cmd: &str) -> Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("Cannot run secret command `{cmd}`"))?;
    if !out.status.success() {
        return Err(anyhow!(
            "Secret command `{cmd}` failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8(out.stdout).context("Secret command printed non-UTF-8 output")?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(anyhow!("Secret command `{cmd}` printed nothing"));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
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
        // Every field of every `Raw*` section struct in this file, as its kebab-case key.
        let source = include_str!("config.rs");
        let mut missing = Vec::new();
        let mut checked = 0;
        for block in source.split("\nstruct Raw").skip(1) {
            let Some((name, body)) = block.split_once(" {\n") else {
                continue;
            };
            let Some((fields, _)) = body.split_once("\n}") else {
                continue;
            };
            let section = name.to_ascii_lowercase();
            for field in fields.lines().filter_map(|l| l.trim().split_once(':')) {
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
            got[0].starts_with("p.toml: `imap.port`: invalid type: string"),
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
                .any(|l| l.starts_with("p.toml: `imap.poll-seconds`: invalid type")),
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
                got[0].starts_with(&format!("p.toml: `{key}`: "))
                    && got[0].contains("imap.mailbox"),
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
}
