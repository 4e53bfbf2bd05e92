//! Typo tolerance on the request vocabulary: a word of the folded text that is one edit (a
//! letter dropped, added, changed, or two neighbours swapped) away from a word of the
//! language's `typo-words` is read as that word ("dlete" → "delete", "errase" → "erase").
//!
//! Only words of 5 to 16 letters, on both sides, and only words the language does not know:
//! every word of its rule patterns, its stop words and its `not-typos` ("remote", "telling")
//! are left alone, and a word one edit from two different vocabulary words is ambiguous and
//! left alone too. Every one-edit variant of the vocabulary is computed once, when the rules
//! load (some ten thousand a language), so a word of the text costs one hash lookup of its
//! packed bytes, the same as a stop word: tolerating typos must not slow the common case.

use super::wordset::{KeyFilter, WordHasher};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

/// Shortest word corrected, and shortest vocabulary word.
pub const MIN_LEN: usize = 5;
/// Longest word looked at (words are packed into 16 bytes).
const MAX_LEN: usize = 16;
/// The most corrections named in the reasons.
const MAX_REPORTED: usize = 5;

type FxSet = HashSet<u128, BuildHasherDefault<WordHasher>>;
type FxMap<V> = HashMap<u128, V, BuildHasherDefault<WordHasher>>;

/// In `variants`: a variant of two different vocabulary words.
const AMBIGUOUS: u16 = u16::MAX;

/// One language's vocabulary and known words.
#[derive(Debug, Default)]
pub struct Typos {
    /// Words never corrected (rule pattern words, stop words, `not-typos`, the vocabulary).
    known: FxSet,
    /// Every word one edit from a vocabulary word (5 to 16 letters) → that word's index in
    /// `vocab`, or [`AMBIGUOUS`].
    variants: FxMap<u16>,
    /// The keys of `variants`, for a cheap first test.
    filter: KeyFilter,
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

/// Whether `a` and `b` are at most one edit apart (optimal string alignment: insertion,
/// deletion, substitution or one swap of neighbours): the test oracle for [`one_edit`].
#[cfg(test)]
fn within_one(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    // The common prefix; what follows it decides.
    let p = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    let (s, l) = (short.get(p..).unwrap_or(b""), long.get(p..).unwrap_or(b""));
    match long.len() - short.len() {
        0 => {
            s.is_empty()
                || s.get(1..) == l.get(1..)
                || (s.len() >= 2
                    && s.first() == l.get(1)
                    && s.get(1) == l.first()
                    && s.get(2..) == l.get(2..))
        }
        1 => s == l.get(1..).unwrap_or(b""),
        _ => false,
    }
}

/// Every word one edit from `w` (lower-case ASCII letters): each letter dropped or changed,
/// any letter added anywhere, and each pair of different neighbours swapped.
fn one_edit(w: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..w.len() {
        let (head, tail) = (w.get(..i).unwrap_or(b""), w.get(i + 1..).unwrap_or(b""));
        out.push([head, tail].concat());
        for c in b'a'..=b'z' {
            if Some(&c) != w.get(i) {
                out.push([head, &[c], tail].concat());
            }
        }
        if let (Some(a), Some(b)) = (w.get(i), w.get(i + 1)) {
            if a != b {
                let mut swapped = w.to_vec();
                swapped.swap(i, i + 1);
                out.push(swapped);
            }
        }
    }
    for i in 0..=w.len() {
        for c in b'a'..=b'z' {
            out.push([w.get(..i).unwrap_or(b""), &[c], w.get(i..).unwrap_or(b"")].concat());
        }
    }
    out
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
            for v in one_edit(w.as_bytes()) {
                if v.len() < MIN_LEN {
                    continue;
                }
                if let Some(k) = pack(&v) {
                    t.filter.insert(k);
                    let slot = t.variants.entry(k).or_insert(idx);
                    if *slot != idx {
                        *slot = AMBIGUOUS;
                    }
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

    /// The vocabulary word `word` (lower-case ASCII letters) is a typo of, if exactly one.
    fn correction(&self, word: &[u8]) -> Option<&str> {
        let key = pack(word)?;
        if !self.filter.may_contain(key) {
            return None;
        }
        let idx = *self.variants.get(&key)?;
        if idx == AMBIGUOUS || self.known.contains(&key) {
            return None;
        }
        self.vocab.get(usize::from(idx)).map(String::as_str)
    }

    /// The filter of every variant, for [`super::lang::detect_scan`].
    pub fn filter(&self) -> &KeyFilter {
        &self.filter
    }

    /// The folded `text` with its typos corrected, and what was corrected (at most five
    /// pairs named), or `None` when nothing was (then nothing is allocated).
    pub fn correct(&self, text: &str) -> Option<(String, Vec<(String, String)>)> {
        self.correct_spans(text, words(text))
    }

    /// [`Typos::correct`] on the words of `text` at `spans` (`(start, length)`, in order):
    /// those another pass already found (see [`super::lang::detect_scan`]). A span is
    /// corrected only when it is a whole word of 5 to 16 lower-case letters (not part of a
    /// token with digits or an apostrophe).
    pub fn correct_spans(
        &self,
        text: &str,
        spans: impl IntoIterator<Item = (usize, usize)>,
    ) -> Option<(String, Vec<(String, String)>)> {
        if self.vocab.is_empty() {
            return None;
        }
        let bytes = text.as_bytes();
        let mut out: Option<(String, usize)> = None; // (corrected so far, bytes of text copied)
        let mut fixed = Vec::new();
        for (start, len) in spans {
            let end = start + len;
            let glued = |b: Option<&u8>| b.is_some_and(|&b| CLASS[usize::from(b)] != SEP);
            if !(MIN_LEN..=MAX_LEN).contains(&len)
                || out.as_ref().is_some_and(|(_, copied)| start < *copied)
                || glued(bytes.get(end))
                || glued(start.checked_sub(1).and_then(|p| bytes.get(p)))
            {
                continue;
            }
            let Some(word) = bytes.get(start..end) else {
                continue;
            };
            if !word.iter().all(|&b| CLASS[usize::from(b)] == LETTER) {
                continue;
            }
            let Some(right) = self.correction(word) else {
                continue;
            };
            let (buf, copied) =
                out.get_or_insert_with(|| (String::with_capacity(text.len() + 16), 0));
            buf.push_str(text.get(*copied..start).unwrap_or(""));
            buf.push_str(right);
            *copied = end;
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

/// `(start, length)` of every token (a run of letters, digits, `'` and `_`) of `text` that
/// is 5 to 16 lower-case letters: the words [`Typos::correct_spans`] looks at.
pub fn words(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(start) = bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| CLASS[usize::from(b)] != SEP))
        .map(|p| p + i)
    {
        let rest = bytes.get(start..).unwrap_or(b"");
        let len = rest
            .iter()
            .position(|&b| CLASS[usize::from(b)] == SEP)
            .unwrap_or(rest.len());
        i = start + len;
        if (MIN_LEN..=MAX_LEN).contains(&len)
            && rest
                .get(..len)
                .is_some_and(|w| w.iter().all(|&b| CLASS[usize::from(b)] == LETTER))
        {
            spans.push((start, len));
        }
    }
    spans
}

/// Byte classes for the scan: a separator, a lower-case letter, another word byte.
const SEP: u8 = 0;
const LETTER: u8 = 1;
const OTHER: u8 = 2;

static CLASS: [u8; 256] = {
    let mut t = [SEP; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_lowercase() {
            LETTER
        } else if c.is_ascii_alphanumeric() || c == b'\'' || c == b'_' {
            OTHER
        } else {
            SEP
        };
        b += 1;
    }
    t
};

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
        // Only whole words of letters: not tokens with digits, apostrophes or underscores.
        assert_eq!(t.correct("3dlete dlete2 l'acces dlete_x x_dlete"), None);
        assert_eq!(
            t.correct("(dlete)").map(|(s, _)| s),
            Some("(delete)".to_string())
        );
    }

    #[test]
    fn two_vocabulary_words_one_edit_away_is_ambiguous() {
        let t = Typos::new(["delete", "delate"], []);
        // "delete" and "delate" are both one edit from "delote".
        assert_eq!(t.correct("delote"), None);
    }

    /// The precomputed variants agree with a plain edit-distance check over the vocabulary,
    /// on words made from the vocabulary's own letters (so that many are near it).
    #[test]
    fn variants_match_the_edit_distance_oracle() {
        let vocab = [
            "delete", "erase", "remove", "access", "deletion", "eliminen",
        ];
        let t = Typos::new(vocab, ["deleted"]);
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap_or(0)
        };
        let letters = b"deltrasmovcin";
        for round in 0..20_000 {
            // Half: a vocabulary word with one or two random edits; half: random words.
            let mut w: Vec<u8> = if round % 2 == 0 {
                vocab[next(vocab.len())].as_bytes().to_vec()
            } else {
                (0..5 + next(5))
                    .map(|_| letters[next(letters.len())])
                    .collect()
            };
            for _ in 0..1 + next(2) {
                let at = next(w.len() + 1);
                match next(3) {
                    0 if at < w.len() => {
                        w.remove(at);
                    }
                    1 if at < w.len() => w[at] = letters[next(letters.len())],
                    _ => w.insert(at, letters[next(letters.len())]),
                }
            }
            let near: Vec<&str> = vocab
                .iter()
                .copied()
                .filter(|v| v.as_bytes() != w.as_slice() && within_one(&w, v.as_bytes()))
                .collect();
            let want = match near.as_slice() {
                [one] if w.len() >= MIN_LEN && w.as_slice() != b"deleted" => Some(*one),
                _ => None,
            };
            let w = String::from_utf8(w).expect("ascii");
            assert_eq!(t.correction(w.as_bytes()), want, "{w}");
        }
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
