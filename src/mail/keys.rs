//! The keys a mail is known by: its deduplication key, its content fingerprint and the
//! request tag in its subject. Pure; the store keeps them ([`crate::store::inbox`]).

use super::Inbound;
use sha2::{Digest, Sha256};

/// The key a mail is deduplicated on: its Message-ID, or a hash of its bytes.
pub fn message_key(message_id: Option<&str>, raw: &[u8]) -> String {
    match message_id {
        Some(id) if !id.trim().is_empty() => format!("mid:{}", id.trim()),
        _ => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

/// What makes a mail the same mail, whatever path it took: its sender (mailbox, without
/// `+detail`, any case), subject and body, hashed. Two deliveries of one mail share it even
/// when their trace headers differ; two different mails that reuse a Message-ID do not.
pub fn fingerprint(mail: &Inbound) -> String {
    let mut h = Sha256::new();
    let from = mail
        .from
        .as_deref()
        .map(crate::address::base_address)
        .unwrap_or_default();
    for part in [from.as_str(), mail.subject.trim(), mail.body.trim()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// True for mail of our kind: from our address (`from_address`, `+detail` and case aside),
/// with a Message-ID (`id`) on our domain, marked automatic (`Auto-Submitted`), as every
/// mail the bot sends is. A copy of such a mail that the store never sent comes from
/// another bot writing as us.
pub fn looks_like_ours(mail: &Inbound, id: &str, from_address: &str, domain: &str) -> bool {
    let ours = mail.from.as_deref().map(crate::address::base_address)
        == Some(crate::address::base_address(from_address));
    let our_domain = id
        .rsplit_once('@')
        .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
    ours && our_domain && mail.header("auto-submitted").is_some()
}

/// The request tag in a subject: `[PRIV-2026-00001]` → `PRIV-2026-00001`.
pub fn subject_tag(subject: &str) -> Option<String> {
    let start = subject.find("[PRIV-")?;
    let rest = &subject[start + 1..];
    let end = rest.find(']')?;
    let tag = &rest[..end];
    let ok = tag.len() <= 20
        && tag
            .split('-')
            .skip(1)
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    ok.then(|| tag.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_in_subjects() {
        assert_eq!(
            subject_tag("Re: [PRIV-2026-00012] We received").as_deref(),
            Some("PRIV-2026-00012")
        );
        assert_eq!(subject_tag("[PRIV-x] no"), None);
        assert_eq!(subject_tag("nothing"), None);
    }

    #[test]
    fn our_kind_of_mail_needs_our_address_our_domain_and_the_automatic_mark() {
        let mail = |from: &str, auto: bool| Inbound {
            from: Some(from.to_string()),
            headers: if auto {
                vec![("auto-submitted".into(), "auto-replied".into())]
            } else {
                vec![]
            },
            ..Inbound::default()
        };
        let ours = "privacy@example.test";
        let id = "PRIV-2026-00001.ab@example.test";
        assert!(looks_like_ours(
            &mail("Privacy+sent@Example.test", true),
            id,
            ours,
            "example.test"
        ));
        assert!(!looks_like_ours(
            &mail("someone@example.test", true),
            id,
            ours,
            "example.test"
        ));
        assert!(!looks_like_ours(
            &mail(ours, true),
            "x@elsewhere.example",
            ours,
            "example.test"
        ));
        assert!(!looks_like_ours(
            &mail(ours, false),
            id,
            ours,
            "example.test"
        ));
        assert!(!looks_like_ours(
            &mail(ours, true),
            "no-domain",
            ours,
            "example.test"
        ));
    }

    #[test]
    fn keys_prefer_the_message_id() {
        assert_eq!(message_key(Some("a@b"), b"x"), "mid:a@b");
        assert!(message_key(None, b"x").starts_with("sha256:"));
        // A blank Message-ID is no Message-ID: two such mails must not be each other's
        // duplicates.
        assert!(message_key(Some("  "), b"x").starts_with("sha256:"));
        assert_ne!(message_key(Some(""), b"x"), message_key(Some(""), b"y"));
    }

    #[test]
    fn fingerprints_tell_reused_message_ids_apart() {
        let mail = |from: &str, subject: &str, body: &str| Inbound {
            from: Some(from.to_string()),
            subject: subject.to_string(),
            body: body.to_string(),
            ..Inbound::default()
        };
        let a = fingerprint(&mail("jo@example.test", "Delete", "Delete my data"));
        assert_eq!(
            a,
            fingerprint(&mail("Jo+x@Example.test", " Delete", "Delete my data\n"))
        );
        assert_ne!(
            a,
            fingerprint(&mail("ann@example.test", "Delete", "Delete my data"))
        );
        assert_ne!(
            a,
            fingerprint(&mail("jo@example.test", "Delete", "Delete my data!"))
        );
        assert_ne!(
            a,
            fingerprint(&mail("jo@example.test", "Delete my", " data"))
        );
    }
}
