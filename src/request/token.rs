//! Identity-verification tokens: the proof that whoever replies controls the mailbox the
//! request came from.
//!
//! # Format
//! A token is [`TOKEN_BYTES`] (20) bytes, 160 bits, from the thread-local CSPRNG of `rand`
//! (ChaCha, seeded and periodically reseeded from the operating system), written as
//! [`TOKEN_LEN`] (40) lowercase hex digits: no ambiguous characters, nothing a mail client
//! re-cases or wraps. In mail it travels behind the marker `VERIFY-` ([`tagged`]), in the
//! subject, the body, or a plus-address (`privacy+verify-<token>@example.test`, 55 characters
//! of local part, under RFC 5321's 64; see [`plus_address`]). [`find_token`] looks for that
//! marker in any case.
//!
//! Only [`hash_token`] (SHA-256, hex) is stored. A reply is matched either by looking the hash
//! of the token it carries up, or, when the request is already known from threading, with
//! [`verify_token`], which compares in constant time. Expiry and attempt limits belong to the
//! store and the sweeper. A short numeric code is never a substitute: the 160-bit token is the
//! proof.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random bytes in a token (160 bits).
pub const TOKEN_BYTES: usize = 20;

// A token must carry at least 128 bits; checked at compile time.
const _: () = assert!(TOKEN_BYTES * 8 >= 128, "tokens need at least 128 bits");

/// Characters in a token: two lowercase hex digits per byte.
pub const TOKEN_LEN: usize = TOKEN_BYTES * 2;

/// The marker that introduces a token in a subject, body or plus-address (any case).
pub const MARKER: &str = "verify-";

/// Longest local part of an address (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_PART: usize = 64;

/// A fresh token: [`TOKEN_LEN`] lowercase hex digits from a CSPRNG.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The token as it appears in mail: `VERIFY-<token>`.
pub fn tagged(token: &str) -> String {
    format!("VERIFY-{}", normalize(token))
}

/// `local+verify-<token>@domain` for the mailbox `address`; `None` when `address` has no `@`
/// or the local part would exceed 64 characters.
pub fn plus_address(address: &str, token: &str) -> Option<String> {
    let (local, domain) = address.trim().rsplit_once('@')?;
    let local = format!("{local}+{MARKER}{}", normalize(token));
    (!domain.is_empty() && local.len() <= MAX_LOCAL_PART).then(|| format!("{local}@{domain}"))
}

/// Trimmed, lower-cased, with one leading marker removed.
fn normalize(token: &str) -> String {
    let lower = token.trim().to_ascii_lowercase();
    match lower.strip_prefix(MARKER) {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

/// True for exactly [`TOKEN_LEN`] ASCII hex digits.
fn is_token_shaped(s: &str) -> bool {
    s.len() == TOKEN_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The SHA-256 of the token, lowercase hex: what the store keeps. Case, surrounding
/// whitespace and a leading `VERIFY-` marker do not change it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(normalize(token).as_bytes()))
}

/// True when `presented` is the token whose hash is `stored_hash`. Tolerates case, surrounding
/// whitespace and a leading `VERIFY-` marker; the digests are compared in constant time.
pub fn verify_token(presented: &str, stored_hash: &str) -> bool {
    let presented = normalize(presented);
    let Ok(stored) = hex::decode(stored_hash.trim()) else {
        return false;
    };
    if !is_token_shaped(&presented) {
        return false;
    }
    let digest = Sha256::digest(presented.as_bytes());
    bool::from(digest.as_slice().ct_eq(&stored))
}

/// The first token in `text` (a subject, body or address), lowercase, or `None`.
///
/// A token is the marker `verify-` (any case, not glued to a preceding letter or digit)
/// followed by exactly [`TOKEN_LEN`] hex digits and then a non-alphanumeric character or the
/// end of the text, so `privacy+verify-<token>@…`, `VERIFY-<token>` in a subject and
/// `> VERIFY-<token>.` in a quoted body all match.
pub fn find_token(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let marker = MARKER.as_bytes();
    let mut at = 0;
    while at + marker.len() + TOKEN_LEN <= bytes.len() {
        let start = at + marker.len();
        let end = start + TOKEN_LEN;
        let found = bytes[at..start].eq_ignore_ascii_case(marker)
            && (at == 0 || !bytes[at - 1].is_ascii_alphanumeric())
            && bytes[start..end].iter().all(u8::is_ascii_hexdigit)
            && bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if found {
            // All ASCII, so these are character boundaries.
            return text.get(start..end).map(str::to_ascii_lowercase);
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn new_tokens_are_160_bit_lowercase_hex_and_distinct() {
        let tokens: HashSet<String> = (0..1000).map(|_| new_token()).collect();
        assert_eq!(tokens.len(), 1000);
        for token in &tokens {
            assert_eq!(token.len(), TOKEN_LEN);
            assert!(
                token
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{token}"
            );
        }
    }

    #[test]
    fn plus_address_stays_a_valid_local_part() {
        let token = new_token();
        let address = plus_address("privacy@example.test", &token).expect("fits");
        assert_eq!(address, format!("privacy+verify-{token}@example.test"));
        let local = address.split('@').next().expect("local part");
        assert!(local.len() <= 64, "{}", local.len());
        assert_eq!(find_token(&address), Some(token));
        let long = format!("{}@example.test", "p".repeat(17));
        assert_eq!(plus_address(&long, TOKEN), None);
        assert_eq!(plus_address("privacy", TOKEN), None);
        assert_eq!(plus_address("privacy@", TOKEN), None);
    }

    #[test]
    fn hash_is_sha256_hex_of_the_normalized_token() {
        // FIPS 180-2 test vector for "abc".
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hash_token("abc"), abc);
        assert_eq!(hash_token(" ABC\n"), abc);
        assert_eq!(hash_token(&tagged(TOKEN)), hash_token(TOKEN));
    }

    #[test]
    fn verify_accepts_the_token_in_any_case_and_spacing() {
        let stored = hash_token(TOKEN);
        let table = [
            (TOKEN.to_string(), true),
            (TOKEN.to_ascii_uppercase(), true),
            (format!("  {TOKEN}\r\n"), true),
            (tagged(TOKEN), true),
            (format!("verify-{TOKEN}"), true),
            (TOKEN[..39].to_string(), false),
            (format!("{TOKEN}0"), false),
            (
                "1123456789abcdef0123456789abcdef01234567".to_string(),
                false,
            ),
            (String::new(), false),
            ("abc".to_string(), false),
        ];
        for (presented, want) in table {
            assert_eq!(verify_token(&presented, &stored), want, "{presented:?}");
        }
        assert!(verify_token(TOKEN, &stored.to_ascii_uppercase()));
        assert!(verify_token(TOKEN, &format!(" {stored} ")));
        assert!(!verify_token(TOKEN, "not hex"));
        assert!(!verify_token(TOKEN, ""));
        assert!(!verify_token(TOKEN, &stored[..32]));
        assert!(!verify_token(&new_token(), &stored));
    }

    #[test]
    fn find_token_in_subjects_bodies_and_addresses() {
        let upper = TOKEN.to_ascii_uppercase();
        let table = [
            (
                format!("Re: Confirm your privacy request VERIFY-{TOKEN}"),
                Some(TOKEN),
            ),
            (format!("Re: [privacy] verify-{upper}"), Some(TOKEN)),
            (
                format!("Yes it's me.\n\n> Reply to confirm: VERIFY-{TOKEN}.\n"),
                Some(TOKEN),
            ),
            (
                format!("To: <privacy+verify-{TOKEN}@example.test>"),
                Some(TOKEN),
            ),
            (format!("é VERIFY-{TOKEN}é"), Some(TOKEN)),
            (format!("VERIFY-{TOKEN}"), Some(TOKEN)),
            (format!("VERIFY-{}", &TOKEN[..39]), None),
            (format!("VERIFY-{TOKEN}0"), None),
            (format!("VERIFY-{TOKEN}x"), None),
            (format!("reverify-{TOKEN}"), None),
            (format!("VERIFY {TOKEN}"), None),
            (TOKEN.to_string(), None),
            ("VERIFY-".to_string(), None),
            (String::new(), None),
        ];
        for (text, want) in table {
            assert_eq!(find_token(&text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn find_token_returns_the_first_of_several() {
        let other = "fedcba9876543210fedcba9876543210fedcba98";
        let text = format!("verify-{other} then VERIFY-{TOKEN}");
        assert_eq!(find_token(&text).as_deref(), Some(other));
        let text = format!("VERIFY-short, later VERIFY-{TOKEN}");
        assert_eq!(find_token(&text).as_deref(), Some(TOKEN));
    }

    #[test]
    fn a_found_token_verifies_against_its_stored_hash() {
        let token = new_token();
        let stored = hash_token(&token);
        let reply = format!("Subject: Re: {}", tagged(&token).to_ascii_lowercase());
        let found = find_token(&reply).expect("token in reply");
        assert!(verify_token(&found, &stored));
        assert_eq!(hash_token(&found), stored);
    }
}
