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
                        Err(e) => {
                            let full = format!("{name}.{key}");
                            errs.unreadable(&full, key_problem(&full, value, &e))
                        }
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

/// serde's account of one bad key (`full`, e.g. `imap.port`, holding `value`), in the words
/// of a config file: what the key wants, and what it got.
fn key_problem(full: &str, value: &toml::Value, e: &toml::de::Error) -> String {
    let msg = one_line(e.message());
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let (name, known) = match rest.split_once(", expected ") {
            Some((name, k)) => (
                name.trim_matches('`'),
                k.trim_start_matches("one of ").replace('`', ""),
            ),
            None => (rest.trim_matches('`'), String::new()),
        };
        let names: Vec<&str> = known.split(", ").filter(|k| !k.is_empty()).collect();
        return match nearest(name, &names) {
            Some(near) => format!("unknown key: did you mean `{near}`? (known: {known})"),
            None => format!("unknown key (known: {known})"),
        };
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        let choices = rest
            .split_once(", expected ")
            .map(|(_, k)| k.trim_start_matches("one of ").replace('`', "\""))
            .unwrap_or_default();
        return format!("must be one of {choices}, not {}", shown(value));
    }
    // `invalid type: string "10143", expected u16` or `invalid value: integer `70000`,
    // expected u16`: what the key wants is after "expected".
    let Some((_, wanted)) = msg.rsplit_once("expected ") else {
        return msg;
    };
    let key = full.rsplit('.').next().unwrap_or(full);
    let out_of_range = msg.starts_with("invalid value");
    let want = match wanted.trim() {
        "u16" if key == "port" => "a port number (1 to 65535)".to_string(),
        "u16" | "u32" | "u64" => "a whole number, 0 or more".to_string(),
        "i64" | "i32" => "a whole number".to_string(),
        "f64" | "f32" => "a number".to_string(),
        "a boolean" => "true or false (without quotes)".to_string(),
        "a string" | "path string" => "text in quotes".to_string(),
        "a sequence" => {
            // The usual slip: one address where a list is wanted. Show the list to write.
            return match value {
                toml::Value::String(_) => {
                    format!(
                        "is a list: [{}]",
                        shown(value).trim_start_matches("the text ")
                    )
                }
                _ => format!("is a list, like [\"...\"], not {}", shown(value)),
            };
        }
        other => other.to_string(),
    };
    if out_of_range {
        return format!("must be {want}, not {}", shown(value));
    }
    let hint = match (value, wanted.trim()) {
        (toml::Value::String(t), "u16" | "u32" | "u64" | "i64" | "i32" | "f64" | "f32")
            if t.trim().parse::<f64>().is_ok() =>
        {
            format!(" (write {} without quotes)", t.trim())
        }
        _ => String::new(),
    };
    format!("must be {want}, not {}{hint}", shown(value))
}

/// A TOML value as a problem line names it: `the text "10143"`, `the number 5`, `a list`.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("the text {s:?}"),
        toml::Value::Integer(i) => format!("the number {i}"),
        toml::Value::Float(f) => format!("the number {f}"),
        toml::Value::Boolean(b) => format!("{b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "a list".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}

/// The known key `name` is most likely a misspelling of (another case, `_` for `-`, or a
/// few letters off), if any.
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase().replace('_', "-");
    known
        .iter()
        .map(|k| (edits(&name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
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

    /// The problem line of `key = value` in `[section]`, read as the config loader reads it.
    fn problem_of(section: &str, line: &str) -> String {
        let root: toml::Table = toml::from_str(&format!("[{section}]\n{line}\n")).expect("toml");
        let path = std::path::Path::new("p.toml");
        let mut errs = Errors::new(path);
        let _ = Sections::read(&root, &mut errs);
        match errs.into_result() {
            Ok(()) => String::new(),
            Err(e) => e.problems.join("\n"),
        }
    }

    #[test]
    fn a_wrong_type_says_what_the_key_wants_in_words() {
        for (section, line, want) in [
            (
                "imap",
                "port = \"10143\"",
                "p.toml: `imap.port`: must be a port number (1 to 65535), not the text \"10143\" \
                 (write 10143 without quotes)",
            ),
            (
                "imap",
                "port = 70000",
                "p.toml: `imap.port`: must be a port number (1 to 65535), not the number 70000",
            ),
            (
                "staff",
                "escalation-to = \"staff@example.test\"",
                "p.toml: `staff.escalation-to`: is a list: [\"staff@example.test\"]",
            ),
            (
                "imap",
                "allow-insecure = \"yes\"",
                "p.toml: `imap.allow-insecure`: must be true or false (without quotes), not the \
                 text \"yes\"",
            ),
            (
                "imap",
                "host = 127",
                "p.toml: `imap.host`: must be text in quotes, not the number 127",
            ),
            (
                "imap",
                "poll-seconds = -5",
                "p.toml: `imap.poll-seconds`: must be a whole number, 0 or more, not the number -5",
            ),
            (
                "imap",
                "security = \"ssl\"",
                "p.toml: `imap.security`: must be one of \"none\", \"starttls\", \"tls\", not \
                 the text \"ssl\"",
            ),
            (
                "classify",
                "threshold = \"high\"",
                "p.toml: `classify.threshold`: must be a number, not the text \"high\"",
            ),
        ] {
            assert_eq!(problem_of(section, line), want, "{line}");
        }
    }

    #[test]
    fn an_unknown_key_suggests_the_nearest_known_one() {
        let got = problem_of("imap", "pasword = \"x\"");
        assert!(
            got.starts_with(
                "p.toml: `imap.pasword`: unknown key: did you mean `password`? (known: host, port,"
            ),
            "{got}"
        );
        let got = problem_of("imap", "poll_seconds = 5");
        assert!(got.contains("did you mean `poll-seconds`?"), "{got}");
        let got = problem_of("staff", "escalation = [\"a@b.test\"]");
        assert!(got.contains("did you mean `escalation-to`?"), "{got}");
        // Nothing like any key: the list, no guess.
        let got = problem_of("imap", "colour = \"blue\"");
        assert!(
            got.starts_with("p.toml: `imap.colour`: unknown key (known: "),
            "{got}"
        );
    }
}
