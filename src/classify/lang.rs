//! Language detection by stop-word scoring over the folded text. Simple and fast; good
//! enough to pick a reply template among the languages that have rule files.

use super::rules::Language;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Stop word → bit mask of the languages (positions in the language list) that list it.
/// A word is looked up by its bytes packed into a `u128` (words of the text are at most 16
/// bytes, and never hold a zero byte), so a lookup neither allocates nor compares strings.
#[derive(Debug, Default)]
pub struct StopIndex {
    masks: HashMap<u128, u64, BuildHasherDefault<WordHasher>>,
    /// The longest stop word: longer words of the text are not looked up.
    longest: usize,
}

/// A small multiply-rotate hash (FxHash) for the stop-word index: SipHash was a tenth of
/// the classifier's time. The table holds only the fixed stop words, and at most
/// `MAX_WORDS` lookups are made per mail, so crafted collisions cannot cost much.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

const HASH_K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(HASH_K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(HASH_K);
        }
        self.0 = h;
    }

    fn write_u128(&mut self, v: u128) {
        // The low and the high eight bytes (truncation intended).
        let (lo, hi) = (v as u64, (v >> 64) as u64);
        let h = (self.0.rotate_left(5) ^ lo).wrapping_mul(HASH_K);
        self.0 = (h.rotate_left(5) ^ hi).wrapping_mul(HASH_K);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The language used when no stop word of any loaded language occurs.
pub const FALLBACK: &str = "en";

/// The most words looked at; the opening of a mail says enough about its language.
const MAX_WORDS: usize = 400;

/// The longest word counted (longer "words" are URLs, tokens, base64…).
const MAX_WORD_LEN: usize = 16;

/// A word is a run of ASCII letters, digits and apostrophes; every other byte (including
/// any non-ASCII byte) separates words.
const fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'\''
}

/// [`is_word_byte`] as a table, for the scan.
static WORD_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = is_word_byte(b as u8);
        b += 1;
    }
    t
};

/// Returns the best-scoring language code and its stop-word hit count. `index` maps each
/// stop word to a bit mask of the languages (positions in `languages`) that list it.
pub fn detect<'a>(folded: &str, languages: &'a [Language], index: &StopIndex) -> (&'a str, usize) {
    let mut counts = [0usize; 64];
    let bytes = folded.as_bytes();
    let mut i = 0;
    let mut words = 0;
    while words < MAX_WORDS {
        let Some(start) = bytes
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| WORD_BYTE[usize::from(b)]))
            .map(|p| p + i)
        else {
            break;
        };
        let rest = bytes.get(start..).unwrap_or(b"");
        let len = rest
            .iter()
            .position(|&b| !WORD_BYTE[usize::from(b)])
            .unwrap_or(rest.len());
        i = start + len;
        if len > MAX_WORD_LEN {
            continue;
        }
        words += 1;
        if len > index.longest {
            continue;
        }
        let Some(key) = pack(rest, len) else {
            continue;
        };
        if let Some(mask) = index.masks.get(&key) {
            for (i, c) in counts.iter_mut().enumerate().take(languages.len()) {
                if mask & (1u64 << i) != 0 {
                    *c += 1;
                }
            }
        }
    }
    best(&counts, languages)
}

/// The language with the most stop-word hits (the first listed on a tie) and its count;
/// [`FALLBACK`] when no language has any.
fn best<'a>(counts: &[usize], languages: &'a [Language]) -> (&'a str, usize) {
    let best = counts
        .iter()
        .take(languages.len())
        .enumerate()
        .max_by_key(|(i, c)| (**c, usize::MAX - i))
        .filter(|(_, c)| **c > 0);
    match best.and_then(|(i, c)| languages.get(i).map(|l| (l.code.as_str(), *c))) {
        Some(found) => found,
        None => (FALLBACK, 0),
    }
}

/// The key of the word of `len` (1 to 16) bytes at the start of `text`: its bytes,
/// little-endian, zero-padded.
fn pack(text: &[u8], len: usize) -> Option<u128> {
    if len == 0 || len > MAX_WORD_LEN {
        return None;
    }
    // Sixteen bytes read at once where the text has them, the word's kept by a mask.
    if let Some(chunk) = text.get(..16) {
        let all = u128::from_le_bytes(chunk.try_into().ok()?);
        let keep = u128::MAX >> (8 * (16 - len));
        return Some(all & keep);
    }
    let mut k = [0u8; 16];
    k.get_mut(..len)?.copy_from_slice(text.get(..len)?);
    Some(u128::from_le_bytes(k))
}

/// Builds the stop-word index used by [`detect`] (at most 64 languages take part). Stop
/// words that no word of a text can equal (empty, longer than 16 bytes, or holding other
/// bytes than letters, digits and apostrophes) are left out: they never counted.
pub fn index(languages: &[Language]) -> StopIndex {
    let mut index = StopIndex::default();
    for (i, lang) in languages.iter().enumerate().take(64) {
        for w in &lang.stopwords {
            if !w.bytes().all(is_word_byte) {
                continue;
            }
            if let Some(key) = pack(w.as_bytes(), w.len()) {
                *index.masks.entry(key).or_default() |= 1u64 << i;
                index.longest = index.longest.max(w.len());
            }
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::normalize::fold;

    #[test]
    fn detect_table() {
        let set = crate::classify::rules::load(None).expect("rules");
        let cases = [
            (
                "Please delete my account and all the data you have about me.",
                "en",
            ),
            (
                "Hola, quiero que borren mis datos y que no me envíen más correos.",
                "es",
            ),
            (
                "Bitte löschen Sie meine Daten und schicken Sie mir keine Werbung mehr.",
                "de",
            ),
            (
                "Bonjour, je vous demande de supprimer mes données et mon compte.",
                "fr",
            ),
            ("12345 !!!", "en"),
        ];
        for (text, want) in cases {
            assert_eq!(
                detect(&fold(text), &set.languages, &index(&set.languages)).0,
                want,
                "{text}"
            );
        }
    }

    /// The straightforward version `detect` replaced: split on non-word bytes, look each
    /// word up by its bytes.
    fn detect_reference<'a>(folded: &str, languages: &'a [Language]) -> (&'a str, usize) {
        let mut counts = [0usize; 64];
        for word in folded
            .as_bytes()
            .split(|b| !(b.is_ascii_alphanumeric() || *b == b'\''))
            .filter(|w| !w.is_empty() && w.len() <= 16)
            .take(MAX_WORDS)
        {
            for (i, lang) in languages.iter().enumerate() {
                if lang.stopwords.iter().any(|s| s.as_bytes() == word) {
                    counts[i] += 1;
                }
            }
        }
        best(&counts, languages)
    }

    #[test]
    fn detect_matches_reference() {
        let set = crate::classify::rules::load(None).expect("rules");
        let index = index(&set.languages);
        let mut words: Vec<&str> = set
            .languages
            .iter()
            .flat_map(|l| l.stopwords.iter().map(String::as_str))
            .collect();
        words.sort_unstable();
        words.extend([
            "",
            " ",
            "  ",
            "\n",
            ".",
            "'",
            "x",
            "data",
            "delete",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "l'",
            "d'un",
            "é",
            "über",
            "-",
            "12",
            "the'",
            "thethe",
        ]);
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap_or(0)
        };
        for round in 0..3_000 {
            let mut text = String::new();
            // Some texts longer than MAX_WORDS words, to check where counting stops.
            let n = if round % 10 == 0 { 900 } else { next(60) };
            for _ in 0..n {
                text.push_str(words[next(words.len())]);
                text.push_str([" ", "", ", ", "\n", "-"][next(5)]);
            }
            assert_eq!(
                detect(&text, &set.languages, &index),
                detect_reference(&text, &set.languages),
                "{text:?}"
            );
        }
    }
}
