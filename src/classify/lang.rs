//! Language detection by stop-word scoring over the folded text. Simple and fast; good
//! enough to pick a reply template among the languages that have rule files.

use super::rules::Language;
use std::collections::HashMap;

/// The language used when no stop word of any loaded language occurs.
pub const FALLBACK: &str = "en";

/// The most words looked at; the opening of a mail says enough about its language.
const MAX_WORDS: usize = 400;

/// Returns the best-scoring language code and its stop-word hit count. `index` maps each
/// stop word to a bit mask of the languages (positions in `languages`) that list it.
pub fn detect<'a>(
    folded: &str,
    languages: &'a [Language],
    index: &HashMap<String, u64>,
) -> (&'a str, usize) {
    let mut counts = [0usize; 64];
    for word in folded
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\''))
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
pub fn index(languages: &[Language]) -> HashMap<String, u64> {
    let mut map: HashMap<String, u64> = HashMap::new();
    for (i, lang) in languages.iter().enumerate().take(64) {
        for w in &lang.stopwords {
            *map.entry(w.clone()).or_default() |= 1u64 << i;
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
