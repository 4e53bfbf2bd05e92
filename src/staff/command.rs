//! Staff commands, pure: the first line of a staff reply (or the CLI's arguments) → a
//! [`Command`], or why it is not one.
//!
//! ```text
//! /verify                      identity checked out of band
//! /complete [note]             the request is done (the note stays internal)
//! /deny <basis> [explanation]  basis: unverifiable | not-a-consumer | exempt | other <explanation>
//! /extend <reason>             the one extension, with the reason told to the consumer
//! /note <text>                 a note in the audit log
//! /assign <name>               who handles it
//! /law gdpr|ccpa               the law (and so the clocks) the request runs on
//! /handle [kind...]            back on the automatic track, with these kinds (or the
//!                              classifier's): acknowledged as if the bot had read it so
//! /not-a-request [note]        closed: not a privacy request; no mail to the consumer
//! /approve                     what fulfilment waits for: the access link, the erasure,
//!                              the "nothing found" reply, or a failed step run again
//! /retry                       a failed fulfilment step again, for the sources that failed
//! /resend                      a fresh download link (the old one void); consumers may too
//! ```

use crate::kind::Kind;
use crate::request::deadlines::Jurisdiction;
use crate::request::lifecycle::{DenialBasis, Transition};

/// A staff command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Identity verified by staff.
    Verify,
    /// Done; the note is internal.
    Complete {
        /// Internal note ("" when none).
        note: String,
    },
    /// Refused on a basis.
    Deny {
        /// The basis.
        basis: DenialBasis,
        /// The explanation told to the consumer ("" when none given).
        text: String,
    },
    /// The one extension.
    Extend {
        /// Why, told to the consumer.
        reason: String,
    },
    /// A note in the audit log.
    Note {
        /// The note.
        text: String,
    },
    /// Assign to someone.
    Assign {
        /// Who.
        to: String,
    },
    /// Run the request on another law's clocks.
    Law {
        /// The law.
        law: Jurisdiction,
    },
    /// Put an escalated request back on the automatic track.
    Handle {
        /// The kinds staff read in it (empty: the classifier's).
        kinds: Vec<Kind>,
    },
    /// Close it: not a privacy request.
    NotARequest {
        /// Internal note ("" when none).
        note: String,
    },
    /// Approve what fulfilment waits for: the access link, the erasure.
    Approve,
    /// A fresh download link (the old one void).
    Resend,
    /// Run a failed fulfilment step again, for exactly the sources that failed.
    Retry,
}

/// Every command word, for help texts.
pub const WORDS: &[&str] = &[
    "verify",
    "complete",
    "deny",
    "extend",
    "note",
    "assign",
    "law",
    "handle",
    "not-a-request",
    "approve",
    "retry",
    "resend",
];

/// What a line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not a command at all (ordinary text).
    NotACommand,
    /// `/word` with a word that is not a command.
    Unknown(String),
    /// A command word with missing or bad arguments; the text says how to write it.
    Invalid {
        /// The command (`/deny`).
        command: String,
        /// What is wrong and how to write it.
        why: String,
    },
    /// A command.
    Ok(Command),
}

impl Command {
    /// The command as staff write it (`/deny`).
    pub fn word(&self) -> &'static str {
        match self {
            Command::Verify => "/verify",
            Command::Complete { .. } => "/complete",
            Command::Deny { .. } => "/deny",
            Command::Extend { .. } => "/extend",
            Command::Note { .. } => "/note",
            Command::Assign { .. } => "/assign",
            Command::Law { .. } => "/law",
            Command::Handle { .. } => "/handle",
            Command::NotARequest { .. } => "/not-a-request",
            Command::Approve => "/approve",
            Command::Resend => "/resend",
            Command::Retry => "/retry",
        }
    }

    /// The lifecycle transition it asks for.
    pub fn transition(&self) -> Transition {
        match self {
            Command::Verify => Transition::Verify,
            Command::Complete { .. } => Transition::Complete,
            Command::Deny { basis, .. } => Transition::Deny {
                basis: basis.clone(),
            },
            Command::Extend { .. } => Transition::Extend,
            Command::Note { text } => Transition::Note { text: text.clone() },
            Command::Assign { to } => Transition::Assign { to: to.clone() },
            Command::Law { law } => Transition::SetLaw { law: *law },
            Command::Handle { .. } => Transition::Handle,
            Command::NotARequest { .. } => Transition::NotARequest,
            Command::Approve | Command::Resend | Command::Retry => Transition::Note {
                text: self.word().to_string(),
            },
        }
    }
}

/// The first non-blank line of a text.
pub fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The denial bases staff may write, as they write them.
pub const BASES: &str = "unverifiable | not-a-consumer | exempt | other <explanation>";

/// A denial basis as staff write it: `unverifiable`, `not-a-consumer` (or `not a consumer`,
/// `not_a_consumer`, any case, a trailing `:` allowed) or `exempt`. `other` is not here: it
/// needs its explanation (see [`parse`]). Anything else is `None`: a basis is a legal
/// category the consumer is told, never free text.
pub fn parse_basis(word: &str) -> Option<DenialBasis> {
    let w: String = word
        .trim()
        .trim_end_matches([':', ',', '.', ';', '-'])
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect();
    match w.as_str() {
        "unverifiable" => Some(DenialBasis::Unverifiable),
        "not_a_consumer" => Some(DenialBasis::NotAConsumer),
        "exempt" => Some(DenialBasis::Exempt),
        _ => None,
    }
}

/// Parses one line (`/deny exempt trade secrets`).
pub fn parse(line: &str) -> Parsed {
    let line = line.trim();
    let Some(rest) = line.strip_prefix('/') else {
        return Parsed::NotACommand;
    };
    let (word, args) = match rest.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (rest, ""),
    };
    let word = word.to_ascii_lowercase();
    if word.is_empty()
        || !word.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
        || word.starts_with('-')
    {
        return Parsed::NotACommand;
    }
    let invalid = |why: &str| Parsed::Invalid {
        command: format!("/{word}"),
        why: why.to_string(),
    };
    let cmd = match word.as_str() {
        "verify" => Command::Verify,
        "complete" => Command::Complete {
            note: args.to_string(),
        },
        "deny" => {
            if args.is_empty() {
                return invalid(&format!("a denial needs a basis: /deny {BASES}"));
            }
            // "not a consumer" is three words: try the longest basis first.
            let words: Vec<&str> = args.split_whitespace().collect();
            let mut found = None;
            for n in (1..=words.len().min(3)).rev() {
                if let Some(b) = parse_basis(&words[..n].join(" ")) {
                    let text = words[n..].join(" ");
                    let text = text.trim_start_matches([':', ',', '.', ';', '-', ' ']);
                    found = Some((b, text.to_string()));
                    break;
                }
            }
            match found {
                Some((basis, text)) => Command::Deny { basis, text },
                None => {
                    let (first, after) = match args.split_once(char::is_whitespace) {
                        Some((f, a)) => (f, a.trim()),
                        None => (args, ""),
                    };
                    let first = first.trim_end_matches([':', ',', '.', ';', '-']);
                    if !first.eq_ignore_ascii_case("other") {
                        return invalid(&format!(
                            "`{first}` is not a denial basis; write one of: /deny {BASES}"
                        ));
                    }
                    let after = after.trim_start_matches([':', ',', '.', ';', '-', ' ']);
                    if after.is_empty() {
                        return invalid(
                            "/deny other needs the basis in words: /deny other <explanation>",
                        );
                    }
                    Command::Deny {
                        basis: DenialBasis::Other(after.to_string()),
                        text: after.to_string(),
                    }
                }
            }
        }
        "law" => match args.parse::<Jurisdiction>() {
            Ok(law) => Command::Law { law },
            Err(_) => return invalid("name the law: /law gdpr or /law ccpa"),
        },
        "extend" => {
            if args.is_empty() {
                return invalid(
                    "an extension needs a reason, which the consumer is told: /extend <reason>",
                );
            }
            Command::Extend {
                reason: args.to_string(),
            }
        }
        "note" => {
            if args.is_empty() {
                return invalid("a note needs text: /note <text>");
            }
            Command::Note {
                text: args.to_string(),
            }
        }
        "assign" => {
            if args.is_empty() {
                return invalid("say who: /assign <name>");
            }
            Command::Assign {
                to: args.to_string(),
            }
        }
        "handle" => {
            let mut kinds = Vec::new();
            for w in args.split([' ', ',', '\t']).filter(|w| !w.is_empty()) {
                match parse_kind(w) {
                    Some(k) if !kinds.contains(&k) => kinds.push(k),
                    Some(_) => {}
                    None => {
                        return invalid(&format!(
                            "unknown kind `{w}`; the kinds are {} (or none: the classifier's)",
                            Kind::ALL.map(|k| k.as_str().replace('_', "-")).join(", ")
                        ))
                    }
                }
            }
            kinds.sort();
            Command::Handle { kinds }
        }
        "not-a-request" | "notarequest" => Command::NotARequest {
            note: args.to_string(),
        },
        "approve" => Command::Approve,
        "resend" => Command::Resend,
        "retry" => Command::Retry,
        _ => return Parsed::Unknown(format!("/{word}")),
    };
    Parsed::Ok(cmd)
}

/// A request kind as staff write it: the wire name with `-` or `_` (`opt-out-sale`), or a
/// plain word (`access`, `deletion`, `unsubscribe`, `do-not-sell`).
pub fn parse_kind(word: &str) -> Option<Kind> {
    let w = word
        .trim()
        .trim_end_matches([',', '.', ';'])
        .to_ascii_lowercase()
        .replace('-', "_");
    if let Ok(k) = w.parse::<Kind>() {
        return Some(k);
    }
    match w.as_str() {
        "know" | "copy" | "export" => Some(Kind::Access),
        "deletion" | "erase" | "erasure" => Some(Kind::Delete),
        "correction" | "rectify" => Some(Kind::Correct),
        "opt_out" | "do_not_sell" | "sale" => Some(Kind::OptOutSale),
        "unsubscribe" | "marketing" => Some(Kind::OptOutMarketing),
        "limit" | "sensitive" => Some(Kind::LimitSensitive),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_their_arguments() {
        let table: &[(&str, Parsed)] = &[
            ("/verify", Parsed::Ok(Command::Verify)),
            (
                "/law GDPR",
                Parsed::Ok(Command::Law {
                    law: Jurisdiction::Gdpr,
                }),
            ),
            (
                "/law ccpa",
                Parsed::Ok(Command::Law {
                    law: Jurisdiction::Ccpa,
                }),
            ),
            (
                "/law lgpd",
                Parsed::Invalid {
                    command: "/law".into(),
                    why: "name the law: /law gdpr or /law ccpa".into(),
                },
            ),
            ("  /VERIFY  ", Parsed::Ok(Command::Verify)),
            (
                "/complete sent the export",
                Parsed::Ok(Command::Complete {
                    note: "sent the export".into(),
                }),
            ),
            (
                "/complete",
                Parsed::Ok(Command::Complete { note: "".into() }),
            ),
            (
                "/deny exempt trade secrets",
                Parsed::Ok(Command::Deny {
                    basis: DenialBasis::Exempt,
                    text: "trade secrets".into(),
                }),
            ),
            (
                "/deny not a consumer: lives in Oregon",
                Parsed::Ok(Command::Deny {
                    basis: DenialBasis::NotAConsumer,
                    text: "lives in Oregon".into(),
                }),
            ),
            (
                "/deny not-a-consumer",
                Parsed::Ok(Command::Deny {
                    basis: DenialBasis::NotAConsumer,
                    text: "".into(),
                }),
            ),
            (
                "/deny other court order",
                Parsed::Ok(Command::Deny {
                    basis: DenialBasis::Other("court order".into()),
                    text: "court order".into(),
                }),
            ),
            (
                "/deny other: court order",
                Parsed::Ok(Command::Deny {
                    basis: DenialBasis::Other("court order".into()),
                    text: "court order".into(),
                }),
            ),
            (
                "/deny Not_A_Consumer",
                Parsed::Ok(Command::Deny {
                    basis: DenialBasis::NotAConsumer,
                    text: "".into(),
                }),
            ),
            (
                "/extend records in three systems",
                Parsed::Ok(Command::Extend {
                    reason: "records in three systems".into(),
                }),
            ),
            (
                "/assign Maria",
                Parsed::Ok(Command::Assign { to: "Maria".into() }),
            ),
            ("/frobnicate", Parsed::Unknown("/frobnicate".into())),
            ("hello /verify", Parsed::NotACommand),
            ("/", Parsed::NotACommand),
            ("/s/ John Smith", Parsed::NotACommand),
            ("", Parsed::NotACommand),
        ];
        for (line, want) in table {
            assert_eq!(&parse(line), want, "{line:?}");
        }
    }

    #[test]
    fn missing_arguments_are_refused_with_the_right_form() {
        for line in [
            "/deny",
            "/deny   ",
            "/deny other",
            "/extend",
            "/note",
            "/assign",
        ] {
            match parse(line) {
                Parsed::Invalid { why, .. } => assert!(why.contains('/'), "{line}: {why}"),
                other => panic!("{line:?} parsed as {other:?}"),
            }
        }
        // "not a consumer:" with a colon still reads as the basis.
        assert!(matches!(
            parse("/deny exempt"),
            Parsed::Ok(Command::Deny {
                basis: DenialBasis::Exempt,
                ..
            })
        ));
    }

    #[test]
    fn handle_and_not_a_request() {
        assert_eq!(
            parse("/handle"),
            Parsed::Ok(Command::Handle { kinds: vec![] })
        );
        assert_eq!(
            parse("/handle delete, access access"),
            Parsed::Ok(Command::Handle {
                kinds: vec![Kind::Access, Kind::Delete]
            })
        );
        assert_eq!(
            parse("/Handle opt-out-sale limit_sensitive"),
            Parsed::Ok(Command::Handle {
                kinds: vec![Kind::OptOutSale, Kind::LimitSensitive]
            })
        );
        match parse("/handle access everything") {
            Parsed::Invalid { command, why } => {
                assert_eq!(command, "/handle");
                assert!(
                    why.contains("`everything`") && why.contains("opt-out-sale"),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse("/not-a-request an invoice"),
            Parsed::Ok(Command::NotARequest {
                note: "an invoice".into()
            })
        );
        assert_eq!(
            parse("/not-a-request"),
            Parsed::Ok(Command::NotARequest { note: "".into() })
        );
        assert_eq!(parse("/-x"), Parsed::NotACommand);
    }

    #[test]
    fn a_basis_outside_the_list_is_refused_with_the_list() {
        // Once any text was a basis: `/deny because` denied with "Why: because".
        for line in [
            "/deny because",
            "/deny we hold nothing",
            "/deny unverified",
            "/deny exemption trade secrets",
            "/deny not a customer",
            "/deny othr court order",
        ] {
            match parse(line) {
                Parsed::Invalid { command, why } => {
                    assert_eq!(command, "/deny", "{line}");
                    for basis in ["unverifiable", "not-a-consumer", "exempt", "other"] {
                        assert!(why.contains(basis), "{line}: {why} lacks {basis}");
                    }
                }
                other => panic!("{line:?} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn other_needs_an_explanation() {
        for line in ["/deny other", "/deny other:", "/deny OTHER -  "] {
            match parse(line) {
                Parsed::Invalid { why, .. } => {
                    assert!(why.contains("explanation"), "{line}: {why}")
                }
                p => panic!("{line:?} parsed as {p:?}"),
            }
        }
    }

    #[test]
    fn the_first_line_is_the_first_non_blank_one() {
        assert_eq!(first_line("\n\n  /complete done\nthanks"), "/complete done");
        assert_eq!(first_line(""), "");
    }
}
