//! Typo tolerance on the request vocabulary: a word of the folded text that is one edit (a
//! letter dropped, added, changed, or two neighbours swapped) away from a word of the
//! language's `typo-words` is read as that word ("dlete" → "delete", "errase" → "erase").
//!
//! Only words of 5 to 16 letters, on both sides, and only words the language does not know:
//! every word of its rule patterns, its stop words and its `not-typos` ("remote", "telling")
//! are left alone, and a word near two different vocabulary words is ambiguous and left alone
//! too. The common case costs one hash lookup per long word: a word is looked up among the
//! known ones first, and only an unknown word is tried against the vocabulary, through its
//! one-letter deletions (a symmetric-deletion index: a vocabulary word and each of its
//! deletions point back to it).

use super::lang::WordHasher;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

/// Shortest word corrected, and shortest vocabulary word.
pub const MIN_LEN: usize = 5;
/// Longest word looked at (words are packed into 16 bytes).
const MAX_LEN: usize = 16;
/// The most corrections named in the reasons.
const MAX_REPORTED: usize = 5;

type FxMap<V> = HashMap<u128, V, BuildHasherDefault<WordHasher>>;
type FxSet = HashSet<u128, BuildHasherDefault<WordHasher>>;

/// One language's vocabulary and known words.
#[derive(Debug, Default)]
pub struct Typos {
    /// Words never corrected (rule pattern words, stop words, `not-typos`, the vocabulary).
    known: FxSet,
    /// A vocabulary word, or one of its one-letter deletions → the vocabulary words it
    /// comes from (indexes into `vocab`).
    near: FxMap<Vec<u16>>,
    vocab: Vec<String>,
}

/// A word packed into a `u128` (little-endian bytes, zero-padded); `None` when it is not
/// 1 to 16 lower-case ASCII letters.
fn pack(word: &[u8]) -> Option<u128> {
    if word.is_empty() || word.len() > MAX_LEN || !word.iter().all(u8::is_ascii_lowercase) {
        return None;
    }
    let mut k = [0u8; 16];
    k.get_mut(..word.len())?.copy_from_slice(word);
    Some(u128::from_le_bytes(k))
}

/// `key` (a packed word of `len` bytes) without its byte `i`.
fn delete_at(key: u128, i: usize, len: usize) -> u128 {
    let low_mask = if i == 0 {
        0
    } else {
        u128::MAX >> (8 * (16 - i))
    };
    let low = key & low_mask;
    let high = if i + 1 >= len {
        0
    } else {
        (key >> (8 * (i + 1))) << (8 * i)
    };
    low | high
}

/// Whether `a` and `b` are at most one edit apart (optimal string alignment: insertion,
/// deletion, substitution or one swap of neighbours).
pub fn within_one(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            let diff: Vec<usize> = (0..short.len())
                .filter(|&i| short.get(i) != long.get(i))
                .collect();
            match diff.as_slice() {
                [] | [_] => true,
                [i, j] => {
                    *j == i + 1 && short.get(*i) == long.get(*j) && short.get(*j) == long.get(*i)
                }
                _ => false,
            }
        }
        1 => {
            let first = (0..short.len())
                .find(|&i| short.get(i) != long.get(i))
                .unwrap_or(short.len());
            short.get(first..) == long.get(first + 1..)
        }
        _ => false,
    }
}

impl Typos {
    /// Builds the index from the vocabulary and the words to leave alone (any case and
    /// accents; folded here). Words outside 5 to 16 letters are left out of the vocabulary.
    pub fn new<'a>(
        vocab: impl IntoIterator<Item = &'a str>,
        known: impl IntoIterator<Item = &'a str>,
    ) -> Typos {
        let mut t = Typos::default();
        for w in known {
            if let Some(k) = pack(super::normalize::fold(w).as_bytes()) {
                t.known.insert(k);
            }
        }
        for w in vocab {
            let w = super::normalize::fold(w);
            let Some(key) = pack(w.as_bytes()).filter(|_| w.len() >= MIN_LEN) else {
                continue;
            };
            if t.vocab.contains(&w) || t.vocab.len() >= usize::from(u16::MAX) {
                continue;
            }
            let idx = t.vocab.len() as u16;
            t.known.insert(key);
            let mut keys = vec![key];
            keys.extend((0..w.len()).map(|i| delete_at(key, i, w.len())));
            for k in keys {
                let slot = t.near.entry(k).or_default();
                if !slot.contains(&idx) {
                    slot.push(idx);
                }
            }
            t.vocab.push(w);
        }
        t
    }

    /// Whether there is any vocabulary.
    pub fn is_empty(&self) -> bool {
        self.vocab.is_empty()
    }

    /// The vocabulary word `word` is a typo of, if exactly one.
    fn correction(&self, word: &[u8]) -> Option<&str> {
        let key = pack(word)?;
        if self.known.contains(&key) {
            return None;
        }
        let mut found: Option<u16> = None;
        let len = word.len();
        let probes = std::iter::once(key).chain((0..len).map(|i| delete_at(key, i, len)));
        for probe in probes {
            for &idx in self.near.get(&probe).map(Vec::as_slice).unwrap_or(&[]) {
                if found == Some(idx) {
                    continue;
                }
                let v = self.vocab.get(usize::from(idx))?;
                if v.len() < MIN_LEN || !within_one(word, v.as_bytes()) {
                    continue;
                }
                if found.is_some() {
                    return None; // near two vocabulary words: ambiguous
                }
                found = Some(idx);
            }
        }
        self.vocab.get(usize::from(found?)).map(String::as_str)
    }

    /// The folded `text` with its typos corrected, and what was corrected (at most five
    /// pairs named), or `None` when nothing was (then nothing is allocated).
    pub fn correct(&self, text: &str) -> Option<(String, Vec<(String, String)>)> {
        if self.vocab.is_empty() {
            return None;
        }
        let bytes = text.as_bytes();
        let mut out: Option<(String, usize)> = None; // (corrected so far, bytes of text copied)
        let mut fixed = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if !bytes.get(i).is_some_and(u8::is_ascii_lowercase) {
                i += 1;
                continue;
            }
            let start = i;
            while bytes
                .get(i)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'\'')
            {
                i += 1;
            }
            let Some(word) = bytes.get(start..i) else {
                break;
            };
            if word.len() < MIN_LEN || word.len() > MAX_LEN {
                continue;
            }
            let Some(right) = self.correction(word) else {
                continue;
            };
            let (buf, copied) =
                out.get_or_insert_with(|| (String::with_capacity(text.len() + 16), 0));
            buf.push_str(text.get(*copied..start).unwrap_or(""));
            buf.push_str(right);
            *copied = i;
            if fixed.len() < MAX_REPORTED {
                fixed.push((
                    String::from_utf8_lossy(word).into_owned(),
                    right.to_string(),
                ));
            }
        }
        let (mut buf, copied) = out?;
        buf.push_str(text.get(copied..).unwrap_or(""));
        Some((buf, fixed))
    }
}

/// The literal words of a rule pattern (runs of letters outside escapes), for the known
/// words: a word the rules spell out is never "corrected".
pub fn pattern_words(pattern: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_ascii_alphabetic() {
            cur.push(c.to_ascii_lowercase());
        } else if !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typos() -> Typos {
        Typos::new(
            [
                "delete",
                "erase",
                "remove",
                "access",
                "information",
                "personal",
                "unsubscribe",
                "account",
                "eliminen",
            ],
            ["remote", "deleted", "removed", "the"],
        )
    }

    #[test]
    fn one_edit_typos_of_request_words_are_read_as_them() {
        let t = typos();
        for (typo, want) in [
            ("dlete", "delete"),             // dropped
            ("errase", "erase"),             // doubled
            ("delte", "delete"),             // dropped
            ("acces", "access"),             // dropped
            ("informations", "information"), // added
            ("pesonal", "personal"),         // dropped
            ("unsubscibe", "unsubscribe"),
            ("unsusbcribe", "unsubscribe"), // swapped
            ("accuont", "account"),         // swapped
            ("delate", "delete"),           // changed
            ("elimnen", "eliminen"),
        ] {
            let (got, fixed) = t
                .correct(typo)
                .unwrap_or_else(|| panic!("{typo} not corrected"));
            assert_eq!(got, want, "{typo}");
            assert_eq!(fixed, vec![(typo.to_string(), want.to_string())]);
        }
    }

    #[test]
    fn unrelated_and_known_words_do_not_match() {
        let t = typos();
        for word in [
            "remote",
            "deleted",
            "removed",
            "delta",
            "excess",
            "accept",
            "erasing",
            "dat",
            "data",
            "eras",
            "relate",
            "accounting",
            "informal",
            "the",
            "cases",
            "addresses",
            "dlt",
        ] {
            assert_eq!(t.correct(word), None, "{word}");
        }
    }

    #[test]
    fn text_is_rewritten_in_place_and_untouched_text_is_not_copied() {
        let t = typos();
        let (got, fixed) = t
            .correct("pls dlete my acount, and errase my pesonal info.")
            .expect("corrected");
        assert_eq!(got, "pls delete my account, and erase my personal info.");
        assert_eq!(fixed.len(), 4);
        assert_eq!(t.correct("please delete my account"), None);
        assert_eq!(t.correct(""), None);
        assert_eq!(t.correct("é ü 12345 --- x"), None);
    }

    #[test]
    fn two_vocabulary_words_one_edit_away_is_ambiguous() {
        let t = Typos::new(["delete", "delate"], []);
        // "delete" and "delate" are both one edit from "delote".
        assert_eq!(t.correct("delote"), None);
    }

    #[test]
    fn within_one_table() {
        for (a, b, want) in [
            ("delete", "delete", true),
            ("delete", "dlete", true),
            ("delete", "deleete", true),
            ("delete", "delate", true),
            ("delete", "edlete", true),
            ("delete", "eldete", false),
            ("delete", "dleete", true),
            ("delete", "dleeet", false),
            ("access", "acess", true),
            ("abxcd", "abcyd", false),
            ("erase", "arise", false),
        ] {
            assert_eq!(within_one(a.as_bytes(), b.as_bytes()), want, "{a} {b}");
        }
    }

    #[test]
    fn pattern_words_skip_escapes() {
        assert_eq!(
            pattern_words(r"\b(delete|erase)\b{gap}my (data|info)\w*"),
            vec!["delete", "erase", "gap", "my", "data", "info"]
        );
    }
}
