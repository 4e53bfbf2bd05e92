//! Which law a request runs under: the one its mail cites. "Auskunft nach Art. 15 DSGVO" is a
//! GDPR request even on a bot configured for the CCPA, and "under the CCPA" is a CCPA request
//! on a bot configured for the GDPR. Nothing cited: the configured default. Both cited: the
//! law whose deadline comes first, so the consumer is never answered late under either.

use super::calendar::BusinessCalendar;
use super::deadlines::{compute_deadlines, Jurisdiction};
use crate::kind::Kind;
use chrono::{DateTime, Utc};
use regex::Regex;
use std::sync::LazyLock;

fn re(pattern: &str) -> Regex {
    // Only ever called on the constant patterns below; covered by unit tests.
    Regex::new(pattern).expect("built-in law regex compiles")
}

/// The GDPR by its names in en/es/de/fr/nl/it/pt, and its articles on the rights (15 access,
/// 16 rectification, 17 erasure, 21 objection).
static GDPR: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)(?:\b(?:uk[\s-]+)?gdpr\b|\bdsgvo\b|\bds-gvo\b|\brgpd\b|(?-i:\bAVG\b)",
        r"|general\s+data\s+protection\s+regulation|datenschutz-?grundverordnung",
        r"|r[èe]glement\s+g[ée]n[ée]ral\s+sur\s+la\s+protection\s+des\s+donn[ée]es",
        r"|reglamento\s+general\s+de\s+protecci[óo]n\s+de\s+datos",
        r"|\b(?:art(?:\.|icle|ikel|[íi]culo|icolo|igo)?)\s*(?:15|16|17|21)\b(?:\s*(?:\(\d\)|abs\.?\s*\d|para(?:graph)?\.?\s*\d))?)",
    ))
});

/// The CCPA/CPRA by name, its sections of the Civil Code, or "California".
static CCPA: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)(?:\bccpa\b|\bcpra\b|california\s+consumer\s+privacy\s+act|california\s+privacy\s+rights\s+act",
        r"|\bcal(?:\.|ifornia)?\s*civ(?:\.|il)?\s*code\b|\b1798\.\d{3}\b|\bcalifornia\b)",
    ))
});

/// The law named right after an article number: " DSGVO", " of the GDPR", " du RGPD".
static LAW_AFTER_ARTICLE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(?:(?:of|del|de|du|der|des)\s+(?:the\s+|la\s+|l')?)?(?:uk\s+)?(?:gdpr|dsgvo|ds-gvo|rgpd|avg)\b",
    )
});

/// What a mail cites, in its own words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cited {
    /// The first GDPR citation ("Art. 15 DSGVO").
    pub gdpr: Option<String>,
    /// The first CCPA citation ("CCPA").
    pub ccpa: Option<String>,
}

/// The citations in `text` (the subject and the sender's own words).
pub fn cited(text: &str) -> Cited {
    let text = crate::mail::text::clip(text, 64 * 1024);
    let phrase = |r: &Regex| {
        r.find(text).map(|m| {
            // Widen "Art. 15" to the law named right after it ("Art. 15 DSGVO").
            let mut end = m.end();
            if m.as_str().to_lowercase().starts_with("art") {
                if let Some(t) = LAW_AFTER_ARTICLE.find(&text[m.end()..]) {
                    end = m.end() + t.end();
                }
            }
            text[m.start()..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    Cited {
        gdpr: phrase(&GDPR),
        ccpa: phrase(&CCPA),
    }
}

/// The law a request runs under and why, in words for staff ("cites Art. 15 DSGVO").
pub fn choose(
    cited: &Cited,
    default: Jurisdiction,
    kinds: &[Kind],
    received: DateTime<Utc>,
    calendar: &BusinessCalendar,
) -> (Jurisdiction, String) {
    match (&cited.gdpr, &cited.ccpa) {
        (None, None) => (
            default,
            format!(
                "cites no law: the configured default ({})",
                default.as_str().to_uppercase()
            ),
        ),
        (Some(g), None) => (Jurisdiction::Gdpr, format!("cites {g}")),
        (None, Some(c)) => (Jurisdiction::Ccpa, format!("cites {c}")),
        (Some(g), Some(c)) => {
            let kinds: Vec<Kind> = if kinds.is_empty() {
                vec![Kind::Access]
            } else {
                kinds.to_vec()
            };
            let due = |j| {
                compute_deadlines(&kinds, received, j, calendar)
                    .map(|d| d.respond_by)
                    .ok()
            };
            // No kind has equal deadlines under both laws (a month against 45 days, 15 or 10
            // business days), so the default only decides when a clock cannot be computed.
            let law = match (due(Jurisdiction::Gdpr), due(Jurisdiction::Ccpa)) {
                (Some(gd), Some(cd)) if cd < gd => Jurisdiction::Ccpa,
                (Some(gd), Some(cd)) if gd < cd => Jurisdiction::Gdpr,
                _ => default,
            };
            (
                law,
                format!(
                    "cites {g} and {c}: the earlier deadline, {}'s",
                    law.as_str().to_uppercase()
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_in_four_languages() {
        let gdpr = [
            ("Auskunft nach Art. 15 DSGVO bitte", "Art. 15 DSGVO"),
            (
                "Ich verlange Löschung gemäß Artikel 17 DSGVO.",
                "Artikel 17 DSGVO",
            ),
            ("Under the GDPR I want a copy of my data", "GDPR"),
            ("Please erase my data (UK GDPR)", "UK GDPR"),
            ("Subject access request under Article 15", "Article 15"),
            ("Conforme al RGPD, solicito acceso", "RGPD"),
            (
                "ejerzo mi derecho del artículo 17 del RGPD",
                "artículo 17 del RGPD",
            ),
            ("Conformément au RGPD, supprimez mes données", "RGPD"),
            ("en vertu de l'article 15 du RGPD", "article 15 du RGPD"),
            ("Verzoek op grond van de AVG", "AVG"),
            (
                "General Data Protection Regulation request",
                "General Data Protection Regulation",
            ),
        ];
        for (text, want) in gdpr {
            let c = cited(text);
            assert_eq!(c.gdpr.as_deref(), Some(want), "{text}");
            assert_eq!(c.ccpa, None, "{text}");
        }
        let ccpa = [
            ("Under the CCPA, delete my data", "CCPA"),
            ("I am a California resident", "California"),
            ("my rights under Cal. Civ. Code 1798.105", "Cal. Civ. Code"),
            ("CPRA request to correct", "CPRA"),
        ];
        for (text, want) in ccpa {
            let c = cited(text);
            assert_eq!(c.ccpa.as_deref(), Some(want), "{text}");
            assert_eq!(c.gdpr, None, "{text}");
        }
        for text in [
            "Please delete my data",
            "Borren mis datos",
            "Löschen Sie bitte alles über mich",
            "Supprimez mes données",
            "I saw article 150 of your terms",
            "my average bill",
            "item 15 on the invoice",
        ] {
            assert_eq!(cited(text), Cited::default(), "{text}");
        }
    }

    #[test]
    fn a_citation_deep_in_a_long_mail_counts_within_the_cap() {
        let long = format!("{} Auskunft nach Art. 15 DSGVO", "Guten Tag. ".repeat(400));
        assert_eq!(cited(&long).gdpr.as_deref(), Some("Art. 15 DSGVO"));
        let past = format!("{} Auskunft nach Art. 15 DSGVO", "x".repeat(65 * 1024));
        assert_eq!(cited(&past), Cited::default());
    }

    #[test]
    fn the_earlier_deadline_wins_when_both_are_cited() {
        let cal = BusinessCalendar::new(chrono_tz::America::Los_Angeles, vec![]);
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-02T17:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("time");
        let both = cited("Under the CCPA and Art. 15 GDPR, send me my data");
        let (law, why) = choose(&both, Jurisdiction::Ccpa, &[Kind::Access], at, &cal);
        assert_eq!(law, Jurisdiction::Gdpr, "one month beats 45 days");
        assert!(why.contains("earlier deadline"), "{why}");
        // An opt-out of sale: CCPA's 15 business days beat GDPR's month.
        let (law, _) = choose(&both, Jurisdiction::Gdpr, &[Kind::OptOutSale], at, &cal);
        assert_eq!(law, Jurisdiction::Ccpa);
        let (law, why) = choose(&Cited::default(), Jurisdiction::Gdpr, &[], at, &cal);
        assert_eq!(law, Jurisdiction::Gdpr);
        assert!(why.contains("default"), "{why}");
    }
}
