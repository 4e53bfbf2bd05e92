//! Language detection by stop-word scoring over the folded text. Simple and fast; good
//! enough to pick a reply template among the languages that have rule files.

use super::rules::Language;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Stop word → bit mask of the languages (positions in the language list) that list it.
/// Keyed by bytes, so a word of the text is looked up without a UTF-8 check.
pub type StopIndex = HashMap<Vec<u8>, u64, BuildHasherDefault<WordHasher>>;

/// A small multiply-rotate hash (FxHash) for the stop-word index: SipHash was a tenth of
/// the classifier's time. The table holds only the fixed stop words, and at most
/// `MAX_WORDS` lookups are made per mail, so crafted collisions cannot cost much.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The language used when no stop word of any loaded language occurs.
pub const FALLBACK: &str = "en";

/// The most words looked at; the opening of a mail says enough about its language.
const MAX_WORDS: usize = 400;

/// Returns the best-scoring language code and its stop-word hit count. `index` maps each
/// stop word to a bit mask of the languages (positions in `languages`) that list it.
pub fn detect<'a>(folded: &str, languages: &'a [Language], index: &StopIndex) -> (&'a str, usize) {
    let mut counts = [0usize; 64];
    // Split on bytes: a non-ASCII byte is never part of a word (as with the char split).
    for word in folded
        .as_bytes()
        .split(|b| !(b.is_ascii_alphanumeric() || *b == b'\''))
        .filter(|w| !w.is_empty() && w.len() <= 16)
        .take(MAX_WORDS)
    {
        if let Some(mask) = index.get(word) {
            for (i, c) in counts.iter_mut().enumerate().take(languages.len()) {
                if mask & (1u64 << i) != 0 {
                    *c += 1;
                }
            }
        }
    }
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

/// Builds the stop-word index used by [`detect`] (at most 64 languages take part).
pub fn index(languages: &[Language]) -> StopIndex {
    let mut map = StopIndex::default();
    for (i, lang) in languages.iter().enumerate().take(64) {
        for w in &lang.stopwords {
            *map.entry(w.as_bytes().to_vec()).or_default() |= 1u64 << i;
        }
    }
    map
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
}
