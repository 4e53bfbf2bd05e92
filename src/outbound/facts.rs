//! The facts about a request that every mail about it shows ([`RequestFacts`]), and the small
//! text helpers mail needs to show outside text safely ([`clean_line`], [`excerpt`],
//! [`team_name`]). Built from a stored request; no store access, no network.

use crate::clock;
use crate::kind::Kind;
use crate::store::requests::Request;
use serde::Serialize;

/// Template variables shared by every request mail.
#[derive(Debug, Clone, Serialize)]
pub struct RequestFacts {
    /// `PRIV-2026-00001`
    pub request_id: String,
    /// The requester's address.
    pub requester: String,
    /// The requester's display name ("" when unknown).
    pub requester_name: String,
    /// Kinds, wire names.
    pub kinds: Vec<String>,
    /// Kinds, in the mail's language.
    pub kind_labels: Vec<String>,
    /// Received, as a date in the business time zone.
    pub received_date: String,
    /// Due, as a date in the business time zone.
    pub due_date: String,
    /// Current status, wire name (`awaiting_verification`): for `{{#if (eq status ...)}}`.
    pub status: String,
    /// Current status in words for staff ("waiting for the consumer to confirm").
    pub status_text: String,
    /// Subject of the consumer's mail.
    pub original_subject: String,
    /// Our team's name (display name of smtp.from).
    pub team: String,
    /// The request includes a kind that requires identity verification.
    pub needs_verification: bool,
    /// `VERIFY-<token>` to keep in the reply's subject ("" when no verification is asked).
    pub verify_tag: String,
    /// The consumer is asked for their account number too (second data point).
    pub ask_account: bool,
    /// Sent by an authorized agent.
    pub agent: bool,
    /// The law whose clock the request runs on (`ccpa`, `gdpr`).
    pub law: String,
}

impl RequestFacts {
    /// The facts of `r`, dates in `lang` (the request's own language for consumer mail,
    /// English for staff mail) in the business time zone `tz`; `from` is `smtp.from`;
    /// `label` names a kind in `lang` (the templates' `labels.toml`).
    pub fn of(
        r: &Request,
        label: &dyn Fn(Kind) -> String,
        tz: chrono_tz::Tz,
        from: &str,
        lang: &str,
    ) -> RequestFacts {
        let date = |s: &str| {
            clock::parse(s)
                .map(|t| clock::long_date(t, tz, lang))
                .unwrap_or_else(|_| s.to_string())
        };
        RequestFacts {
            request_id: r.id.clone(),
            requester: r.requester.clone(),
            requester_name: r.requester_name.clone(),
            kinds: r.kinds.iter().map(|k| k.as_str().to_string()).collect(),
            kind_labels: r.kinds.iter().map(|k| label(*k)).collect(),
            received_date: date(&r.received_at),
            due_date: date(r.due_in_force()),
            status: r.status.as_str().to_string(),
            status_text: status_words(r.status.as_str()),
            original_subject: r.subject.clone(),
            team: team_name(from),
            needs_verification: r.kinds.iter().any(|k| !k.is_opt_out()),
            verify_tag: String::new(),
            ask_account: false,
            agent: r.agent,
            law: r.jurisdiction.as_str().to_string(),
        }
    }
}

/// A status as staff read it in mail: words, not the wire name.
pub fn status_words(status: &str) -> String {
    match status {
        "received" => "received, nothing sent yet".into(),
        "acknowledged" => "acknowledged".into(),
        "awaiting_verification" => "waiting for the consumer to confirm".into(),
        "verified" => "verified".into(),
        "completed" => "completed".into(),
        "denied" => "denied".into(),
        "closed_unverifiable" => "closed, identity never confirmed".into(),
        "not_a_request" => "closed, not a privacy request".into(),
        other => other.replace('_', " "),
    }
}

/// Request kinds as staff read them in mail ("deletion, opt-out of sale").
pub fn kinds_words(kinds: &[Kind]) -> String {
    let words: Vec<&str> = kinds
        .iter()
        .map(|k| match k.as_str() {
            "access" => "access",
            "delete" => "deletion",
            "correct" => "correction",
            "opt_out_sale" => "opt-out of sale",
            "opt_out_marketing" => "marketing opt-out",
            "limit_sensitive" => "limit on sensitive data",
            other => other,
        })
        .collect();
    if words.is_empty() {
        "no kind yet".into()
    } else {
        words.join(", ")
    }
}

/// The display name of a From header, or the whole value.
pub fn team_name(from: &str) -> String {
    match from.split_once('<') {
        Some((name, _)) if !name.trim().is_empty() => name.trim().trim_matches('"').to_string(),
        _ => from.trim().to_string(),
    }
}

/// The first `max` characters of a text, on a char boundary.
pub fn excerpt(text: &str, max: usize) -> String {
    let t: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        format!("{t}…")
    } else {
        t
    }
}

/// One line of mail text as it may be shown or stored: control characters (CR and LF
/// included) removed, whitespace runs folded to one space, at most `max` characters.
pub fn clean_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut space = false;
    let mut n = 0;
    for c in text.chars() {
        if n >= max {
            break;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || is_invisible(c) {
            continue;
        }
        if space {
            out.push(' ');
            n += 1;
            space = false;
        }
        out.push(c);
        n += 1;
    }
    out
}

/// Characters that change how text is shown without showing themselves: bidi overrides and
/// isolates, zero-width marks.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cleaned() {
        assert_eq!(clean_line("a\r\nSubject: x", 100), "a Subject: x");
        assert_eq!(clean_line("  a \t b  ", 100), "a b");
        assert_eq!(clean_line("abcdef", 3), "abc");
        assert_eq!(clean_line("x\u{202e}y\u{7}z", 10), "xyz");
    }

    #[test]
    fn statuses_and_kinds_read_as_words() {
        for s in crate::request::lifecycle::Status::ALL {
            let w = status_words(s.as_str());
            assert!(!w.contains('_'), "{s}: {w}");
        }
        assert_eq!(
            kinds_words(&[Kind::Delete, Kind::OptOutSale]),
            "deletion, opt-out of sale"
        );
        for k in Kind::ALL {
            assert!(!kinds_words(&[k]).contains('_'), "{k}");
        }
    }

    #[test]
    fn team_is_the_display_name() {
        assert_eq!(
            team_name("\"Acme Privacy\" <privacy@acme.test>"),
            "Acme Privacy"
        );
        assert_eq!(team_name("privacy@acme.test"), "privacy@acme.test");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("abc", 3), "abc");
    }
}
