//! Staff tokens: the proof that a staff command by mail comes from someone who received our
//! staff mail about that request, not from anyone who can type `From: staff@…`.
//!
//! Every staff mail about a request carries the request's token, in its Reply-To
//! (`privacy+staff-<token>@example.test`) and at the end of its subject (`STAFF-<token>`), so a
//! reply in the thread carries it back. A command is obeyed only from a staff address, with
//! the token of the request it acts on, and not failed by our own server's authentication
//! results. The token is HMAC-SHA256(store key, request ID), cut to 128 bits: nothing per
//! request is stored, a token for one request is useless for another, and request IDs,
//! which are sequential and appear in consumer mail, give nothing away. The key is
//! 256 random bits kept in the store ([`crate::store::secrets`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Bytes of the HMAC kept in a token (128 bits).
const TOKEN_BYTES: usize = 16;

/// Hex digits in a token.
pub const TOKEN_LEN: usize = TOKEN_BYTES * 2;

/// The marker in front of a token, in a subject or a plus-address (any case).
pub const MARKER: &str = "staff-";

/// The token of `request_id` under `key`: [`TOKEN_LEN`] lowercase hex digits.
pub fn derive(key: &[u8], request_id: &str) -> String {
    hex::encode(mac(key, request_id))
}

fn mac(key: &[u8], request_id: &str) -> [u8; TOKEN_BYTES] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut out = [0u8; TOKEN_BYTES];
    if let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) {
        m.update(b"privacy-inbox staff command\0");
        m.update(request_id.as_bytes());
        let full = m.finalize().into_bytes();
        out.copy_from_slice(&full[..TOKEN_BYTES]);
    }
    out
}

/// `STAFF-<token>`, as it ends a staff mail's subject.
pub fn tagged(token: &str) -> String {
    format!("STAFF-{token}")
}

/// Every token-shaped `staff-<32 hex>` in `text` (any case), lowercase.
pub fn find_all(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let marker = MARKER.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at + marker.len() + TOKEN_LEN <= bytes.len() {
        let start = at + marker.len();
        let end = start + TOKEN_LEN;
        let hit = bytes[at..start].eq_ignore_ascii_case(marker)
            && (at == 0 || !bytes[at - 1].is_ascii_alphanumeric())
            && bytes[start..end].iter().all(u8::is_ascii_hexdigit)
            && bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if hit {
            if let Some(t) = text.get(start..end) {
                found.push(t.to_ascii_lowercase());
            }
            at = end;
        } else {
            at += 1;
        }
    }
    found
}

/// True when `presented` is `request_id`'s token under `key` (constant-time comparison).
pub fn verify(key: &[u8], request_id: &str, presented: &str) -> bool {
    let Ok(bytes) = hex::decode(presented.trim()) else {
        return false;
    };
    if bytes.len() != TOKEN_BYTES {
        return false;
    }
    bool::from(mac(key, request_id).as_slice().ct_eq(&bytes))
}

/// True when any token in `text` is `request_id`'s.
pub fn carried_in(key: &[u8], request_id: &str, text: &str) -> bool {
    find_all(text).iter().any(|t| verify(key, request_id, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_serves_one_request_under_one_key() {
        let t = derive(KEY, "PRIV-2026-00001");
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(verify(KEY, "PRIV-2026-00001", &t));
        assert!(verify(KEY, "PRIV-2026-00001", &t.to_ascii_uppercase()));
        assert!(!verify(KEY, "PRIV-2026-00002", &t));
        assert!(!verify(b"another key", "PRIV-2026-00001", &t));
        assert!(!verify(KEY, "PRIV-2026-00001", &t[..30]));
        assert!(!verify(KEY, "PRIV-2026-00001", ""));
        assert!(!verify(KEY, "PRIV-2026-00001", "zz"));
        assert_ne!(
            derive(KEY, "PRIV-2026-00001"),
            derive(KEY, "PRIV-2026-00002")
        );
    }

    #[test]
    fn tokens_are_found_in_subjects_and_addresses() {
        let t = derive(KEY, "PRIV-2026-00007");
        let subject = format!("Re: [PRIV-2026-00007] Escalation ({})", tagged(&t));
        assert_eq!(find_all(&subject), vec![t.clone()]);
        assert!(carried_in(KEY, "PRIV-2026-00007", &subject));
        assert!(!carried_in(KEY, "PRIV-2026-00008", &subject));
        let to = format!("privacy+STAFF-{}@example.test", t.to_ascii_uppercase());
        assert!(carried_in(KEY, "PRIV-2026-00007", &to));
        // Glued to a word, one digit short or long: not a token.
        assert!(find_all(&format!("xstaff-{t}")).is_empty());
        assert!(find_all(&format!("staff-{}", &t[..31])).is_empty());
        assert!(find_all(&format!("staff-{t}0")).is_empty());
        assert!(find_all("staff-").is_empty());
    }
}
