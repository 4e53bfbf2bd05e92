//! Raw sections → [`Settings`]: defaults, ranges, addresses, paths, one function a section.
//! Every problem goes into one [`Errors`] list, so all of them are reported together, each
//! naming the file and the key. Nothing here runs a command or opens a connection; the files
//! it looks at are the ones a path key names (`ca-file`, `templates.dir`, `rules-dir`, the
//! account directory).

use super::endpoint::{endpoint, EndpointParts};
use super::problems::Errors;
use super::raw::{
    RawClassify, RawClock, RawDkim, RawImap, RawMetrics, RawSmtp, RawStaff, RawStore, RawTemplates,
    RawVerification, Sections,
};
use super::{
    ClassifySettings, ClockSettings, DkimAlgorithm, DkimSettings, ImapSettings, MetricsSettings,
    Settings, SmtpSettings, StaffSettings, VerificationSettings,
};
use crate::address::{bare_address, plus_address};
use crate::request::deadlines::Jurisdiction;
use std::path::{Path, PathBuf};

/// The validated settings of every section. With problems in `errs`, what it returns is
/// only a stand-in (the caller reports the problems instead).
pub(super) fn settings(raw: Sections, path: &Path, errs: &mut Errors) -> Settings {
    let base = Base::of(path);
    let imap = imap(raw.imap, &base, errs);
    let smtp = smtp(raw.smtp, &base, errs);
    let staff = staff(raw.staff, errs);
    let store = store(raw.store, &base, errs);
    let templates_dir = templates(raw.templates, &base, errs);
    let classify = classify(raw.classify, &base, errs);
    let clock = clock(raw.clock, errs);
    let verification = verification(raw.verification, &base, errs);
    let dkim = raw
        .dkim
        .and_then(|d| dkim(d, &smtp.message_id_domain, &base, errs));
    let metrics = raw.metrics.and_then(|m| metrics(m, errs));
    Settings {
        source: path.to_path_buf(),
        imap,
        smtp,
        staff,
        store_path: store.path,
        mail_retention_days: store.mail_retention_days,
        record_retention_months: store.record_retention_months,
        templates_dir,
        classify,
        clock,
        verification,
        dkim,
        metrics,
        fulfil: Default::default(),
    }
}

/// The folder of the config file, against which relative paths in it are read.
struct Base(PathBuf);

impl Base {
    fn of(path: &Path) -> Base {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => Base(p.to_path_buf()),
            _ => Base(PathBuf::from(".")),
        }
    }

    fn resolve(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() {
            p
        } else {
            self.0.join(p)
        }
    }
}

fn imap(r: RawImap, base: &Base, errs: &mut Errors) -> ImapSettings {
    let endpoint = endpoint(
        "imap",
        EndpointParts {
            host: r.host,
            port: r.port,
            security: r.security,
            username: r.username,
            password: r.password,
            password_env: r.password_env,
            password_command: r.password_command,
            oauth2_token_command: r.oauth2_token_command,
            ca_file: r.ca_file.map(|p| base.resolve(p)),
            allow_insecure: r.allow_insecure.unwrap_or(false),
            auth_required: true,
        },
        errs,
    );
    let mailbox = non_empty(r.mailbox, "INBOX");
    let processed_mailbox = non_empty(r.processed_mailbox, "Processed");
    let quarantine_mailbox = non_empty(r.quarantine_mailbox, "Quarantine");
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
    let batch_size = r.batch_size.unwrap_or(500);
    if batch_size == 0 {
        errs.push("imap.batch-size", "must be at least 1");
    }
    let idle_seconds = r.idle_seconds.unwrap_or(20 * 60);
    if !(10..=28 * 60).contains(&idle_seconds) {
        errs.push(
            "imap.idle-seconds",
            "must be between 10 and 1680 (servers drop IDLE at 29 minutes)",
        );
    }
    let poll_seconds = r.poll_seconds.unwrap_or(60);
    if poll_seconds == 0 {
        errs.push("imap.poll-seconds", "must be at least 1");
    }
    ImapSettings {
        endpoint,
        mailbox,
        processed_mailbox,
        quarantine_mailbox,
        poll_seconds,
        idle_seconds,
        batch_size,
        max_message_bytes: r.max_message_bytes.unwrap_or(25 * 1024 * 1024),
        authserv_id: r
            .authserv_id
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    }
}

fn smtp(r: RawSmtp, base: &Base, errs: &mut Errors) -> SmtpSettings {
    let endpoint = endpoint(
        "smtp",
        EndpointParts {
            host: r.host,
            port: r.port,
            security: r.security,
            username: r.username,
            password: r.password,
            password_env: r.password_env,
            password_command: r.password_command,
            oauth2_token_command: r.oauth2_token_command,
            ca_file: r.ca_file.map(|p| base.resolve(p)),
            allow_insecure: r.allow_insecure.unwrap_or(false),
            auth_required: false,
        },
        errs,
    );
    let from = r.from.unwrap_or_default();
    let from_address = match bare_address(&from) {
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
    let copy_to = match r.copy_to {
        Some(s) if s.trim().is_empty() => None,
        Some(s) => match bare_address(&s) {
            Some(a) => Some(a),
            None => {
                errs.push("smtp.copy-to", format!("`{s}` is not an email address"));
                None
            }
        },
        None => plus_address(&from_address, "sent"),
    };
    let connections = r.connections.unwrap_or(4);
    if !(1..=32).contains(&connections) {
        errs.push("smtp.connections", "must be between 1 and 32");
    }
    SmtpSettings {
        endpoint,
        from,
        from_address,
        message_id_domain,
        copy_to,
        connections,
        per_recipient_per_day: r.per_recipient_per_day.unwrap_or(5),
        global_per_hour: r.global_per_hour.unwrap_or(2000),
    }
}

fn staff(r: RawStaff, errs: &mut Errors) -> StaffSettings {
    let mut escalation_to = Vec::new();
    match r.escalation_to {
        Some(list) if !list.is_empty() => {
            for a in list {
                match bare_address(&a) {
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
    for a in r.members.unwrap_or_default() {
        match bare_address(&a) {
            Some(b) => members.push(b),
            None => errs.push("staff.members", format!("`{a}` is not an email address")),
        }
    }
    if members.is_empty() {
        members = escalation_to.clone();
    }
    if r.max_mails_per_hour == Some(0) {
        errs.push(
            "staff.max-mails-per-hour",
            "must be at least 1 (staff must get mail)",
        );
    }
    StaffSettings {
        escalation_to,
        members,
        max_mails_per_hour: r.max_mails_per_hour.unwrap_or(30),
    }
}

/// `[store]`, whose keys are fields of [`Settings`] itself.
struct StoreKeys {
    path: PathBuf,
    mail_retention_days: i64,
    record_retention_months: u32,
}

fn store(r: RawStore, base: &Base, errs: &mut Errors) -> StoreKeys {
    let path = match r.path {
        Some(p) if !p.as_os_str().is_empty() => base.resolve(p),
        _ => {
            errs.push(
                "store.path",
                "missing (the SQLite file, e.g. \"privacy-inbox.sqlite3\")",
            );
            PathBuf::new()
        }
    };
    let mail_retention_days = r.mail_retention_days.unwrap_or(180);
    if !(1..=3650).contains(&mail_retention_days) {
        errs.push(
            "store.mail-retention-days",
            "must be between 1 and 3650 days",
        );
    }
    let record_retention_months = r.record_retention_months.unwrap_or(24);
    if !(24..=120).contains(&record_retention_months) {
        errs.push(
            "store.record-retention-months",
            "must be between 24 (CCPA §7101 keeps request records 24 months) and 120",
        );
    }
    StoreKeys {
        path,
        mail_retention_days,
        record_retention_months: u32::try_from(record_retention_months).unwrap_or(24),
    }
}

fn templates(r: RawTemplates, base: &Base, errs: &mut Errors) -> PathBuf {
    match r.dir {
        Some(p) if !p.as_os_str().is_empty() => {
            let p = base.resolve(p);
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
    }
}

fn classify(r: RawClassify, base: &Base, errs: &mut Errors) -> ClassifySettings {
    let threshold = r.threshold.unwrap_or(0.6);
    if !(0.0..=1.0).contains(&threshold) {
        errs.push(
            "classify.threshold",
            format!("{threshold} is not between 0 and 1"),
        );
    }
    let rules_dir = r.rules_dir.map(|p| base.resolve(p));
    if let Some(d) = &rules_dir {
        if !d.is_dir() {
            errs.push(
                "classify.rules-dir",
                format!("{} is not a directory", d.display()),
            );
        }
    }
    ClassifySettings {
        threshold,
        rules_dir,
    }
}

fn clock(r: RawClock, errs: &mut Errors) -> ClockSettings {
    let jurisdiction = match r.jurisdiction.as_deref().unwrap_or("ccpa") {
        "gdpr" => Jurisdiction::Gdpr,
        "ccpa" => Jurisdiction::Ccpa,
        other => {
            errs.push(
                "clock.jurisdiction",
                format!("`{other}`: expected \"ccpa\" or \"gdpr\""),
            );
            Jurisdiction::Ccpa
        }
    };
    let tz_name = r.timezone.unwrap_or_else(|| "America/Los_Angeles".into());
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
    for h in r.holidays.unwrap_or_default() {
        match chrono::NaiveDate::parse_from_str(&h, "%Y-%m-%d") {
            Ok(d) => holidays.push(d),
            Err(e) => errs.push(
                "clock.holidays",
                format!("`{h}` is not a YYYY-MM-DD date: {e}"),
            ),
        }
    }
    let extension_warning_days = r.extension_warning_days.unwrap_or(7);
    if !(0..=45).contains(&extension_warning_days) {
        errs.push(
            "clock.extension-warning-days",
            "must be between 0 (off) and 45 days",
        );
    }
    let due_soon_days = r.due_soon_days.unwrap_or_else(|| vec![10, 3]);
    if due_soon_days.iter().any(|d| *d < 0 || *d > 90) {
        errs.push(
            "clock.due-soon-days",
            "each value must be between 0 and 90 days",
        );
    }
    ClockSettings {
        jurisdiction,
        timezone,
        holidays,
        due_soon_days,
        extension_warning_days,
    }
}

fn verification(r: RawVerification, base: &Base, errs: &mut Errors) -> VerificationSettings {
    let reminder_days = r.reminder_days.unwrap_or(7);
    let expiry_days = r.expiry_days.unwrap_or(30);
    if reminder_days < 1 || expiry_days <= reminder_days || expiry_days > 365 {
        errs.push(
            "verification.expiry-days",
            "need 1 <= reminder-days < expiry-days <= 365",
        );
    }
    let account_directory = r.account_directory.map(|p| base.resolve(p));
    if let Some(p) = &account_directory {
        if let Err(e) = crate::accounts::Directory::load(p) {
            errs.push("verification.account-directory", format!("{e:#}"));
        }
    }
    VerificationSettings {
        reminder_days,
        expiry_days,
        account_directory,
    }
}

/// `[dkim]`: what the file says (selector, domain, key file); the key itself is read where
/// the daemon starts or a command builds its context (`outbound::dkim::load`).
fn dkim(r: RawDkim, from_domain: &str, base: &Base, errs: &mut Errors) -> Option<DkimSettings> {
    let selector = r.selector.unwrap_or_default();
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
    let domain = r
        .domain
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| from_domain.to_string());
    if !valid_label(&domain) {
        errs.push("dkim.domain", format!("`{domain}` is not a domain name"));
    }
    let key_file = match r.key_file {
        Some(p) if !p.as_os_str().is_empty() => base.resolve(p),
        _ => {
            errs.push("dkim.key-file", "missing (the private key, PEM)");
            return None;
        }
    };
    Some(DkimSettings {
        selector,
        domain,
        key_file,
        algorithm: r.algorithm.unwrap_or(DkimAlgorithm::Rsa),
    })
}

fn metrics(r: RawMetrics, errs: &mut Errors) -> Option<MetricsSettings> {
    let listen = match r.listen.as_deref().map(str::parse::<std::net::SocketAddr>) {
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
    let unhealthy_after_seconds = r.unhealthy_after_seconds.unwrap_or(300);
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
