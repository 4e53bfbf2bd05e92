//! The config file as TOML says it: one serde struct a section, every key optional, unknown
//! keys refused. Each section is read on its own, and a section that does not read is read
//! again key by key, so every bad key is reported by its own name and the good ones still
//! count ([`Sections::read`]). What the values mean is [`super::validate`]'s business.

use super::problems::{one_line, Errors};
use super::{DkimAlgorithm, Security};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::PathBuf;

/// The sections a config file may have.
pub(super) const KNOWN_SECTIONS: &[&str] = &[
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
    "sources",
    "portal",
    "fulfil",
];

/// Every section of the file; a missing one is all `None`, an optional one `None` itself.
pub(super) struct Sections {
    pub(super) imap: RawImap,
    pub(super) smtp: RawSmtp,
    pub(super) staff: RawStaff,
    pub(super) store: RawStore,
    pub(super) templates: RawTemplates,
    pub(super) classify: RawClassify,
    pub(super) clock: RawClock,
    pub(super) verification: RawVerification,
    pub(super) dkim: Option<RawDkim>,
    pub(super) metrics: Option<RawMetrics>,
}

impl Sections {
    /// Reads every section of `root`, reporting unknown sections and unreadable keys.
    pub(super) fn read(root: &toml::Table, errs: &mut Errors) -> Sections {
        unknown_sections(root, errs);
        Sections {
            imap: section(root, "imap", errs),
            smtp: section(root, "smtp", errs),
            staff: section(root, "staff", errs),
            store: section(root, "store", errs),
            templates: section(root, "templates", errs),
            classify: section(root, "classify", errs),
            clock: section(root, "clock", errs),
            verification: section(root, "verification", errs),
            dkim: root
                .contains_key("dkim")
                .then(|| section(root, "dkim", errs)),
            metrics: root
                .contains_key("metrics")
                .then(|| section(root, "metrics", errs)),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawImap {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) security: Option<Security>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_command: Option<String>,
    pub(super) oauth2_token_command: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) allow_insecure: Option<bool>,
    pub(super) mailbox: Option<String>,
    pub(super) processed_mailbox: Option<String>,
    pub(super) quarantine_mailbox: Option<String>,
    pub(super) poll_seconds: Option<u64>,
    pub(super) idle_seconds: Option<u64>,
    pub(super) batch_size: Option<u32>,
    pub(super) max_message_bytes: Option<u64>,
    pub(super) authserv_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawSmtp {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) security: Option<Security>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_command: Option<String>,
    pub(super) oauth2_token_command: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) allow_insecure: Option<bool>,
    pub(super) from: Option<String>,
    pub(super) copy_to: Option<String>,
    pub(super) connections: Option<u32>,
    pub(super) per_recipient_per_day: Option<u32>,
    pub(super) global_per_hour: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawStaff {
    pub(super) escalation_to: Option<Vec<String>>,
    pub(super) members: Option<Vec<String>>,
    pub(super) max_mails_per_hour: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawStore {
    pub(super) path: Option<PathBuf>,
    pub(super) mail_retention_days: Option<i64>,
    pub(super) record_retention_months: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTemplates {
    pub(super) dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawClassify {
    pub(super) threshold: Option<f64>,
    pub(super) rules_dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawClock {
    pub(super) jurisdiction: Option<String>,
    pub(super) timezone: Option<String>,
    pub(super) holidays: Option<Vec<String>>,
    pub(super) due_soon_days: Option<Vec<i64>>,
    pub(super) extension_warning_days: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawVerification {
    pub(super) reminder_days: Option<i64>,
    pub(super) expiry_days: Option<i64>,
    pub(super) account_directory: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDkim {
    pub(super) selector: Option<String>,
    pub(super) domain: Option<String>,
    pub(super) key_file: Option<PathBuf>,
    pub(super) algorithm: Option<DkimAlgorithm>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawMetrics {
    pub(super) listen: Option<String>,
    pub(super) unhealthy_after_seconds: Option<u64>,
}

/// Each section `root` has that is not one of [`KNOWN_SECTIONS`]. A misspelt one (`[imapp]`)
/// is named with the section it looks like, and when that section is absent nothing is said
/// about its keys being missing: they are in the misspelt section, and one line explains it.
fn unknown_sections(root: &toml::Table, errs: &mut Errors) {
    let known = KNOWN_SECTIONS.join(", ");
    for key in root.keys() {
        if KNOWN_SECTIONS.contains(&key.as_str()) {
            continue;
        }
        match meant(key) {
            Some(meant) => {
                errs.unreadable(
                    key,
                    format!("unknown section: did you mean [{meant}]? (known: {known})"),
                );
                if !root.contains_key(meant) {
                    errs.silence(meant);
                }
            }
            None => errs.unreadable(key, format!("unknown section (known: {known})")),
        }
    }
}

/// The known section `name` is most likely a misspelling of: another case, or one or two
/// letters off (one for the short names, so `[smtq]` is not taken for `[imap]`).
fn meant(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    KNOWN_SECTIONS
        .iter()
        .map(|k| (edits(&name, k), *k))
        .filter(|(d, k)| *d <= 1 || (*d <= 2 && k.len() >= 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance (insert, delete, replace, swap two neighbours) between two short names.
fn edits(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: edits from a[..i] to b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_section_is_named_with_the_one_it_looks_like() {
        for (typo, want) in [
            ("imapp", Some("imap")),
            ("IMAP", Some("imap")),
            ("smpt", Some("smtp")),
            ("tempaltes", Some("templates")),
            ("verificaton", Some("verification")),
            ("stafff", Some("staff")),
            ("smtq", Some("smtp")),
            ("mail", None),
            ("database", None),
            ("im", None),
        ] {
            assert_eq!(meant(typo), want, "{typo}");
        }
    }
}
