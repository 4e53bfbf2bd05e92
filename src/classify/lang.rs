//! Language detection by stop-word scoring over the folded text. Simple and fast; good
//! enough to pick a reply template among the languages that have rule files.

use super::rules::Language;

/// The language used when no stop word of any loaded language occurs.
pub const FALLBACK: &str = "en";

/// Returns the best-scoring language code and its stop-word hit count.
pub fn detect<'a>(folded: &str, languages: &'a [Language]) -> (&'a str, usize) {
    let mut counts = vec![0usize; languages.len()];
    for word in folded
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .take(3000)
    {
        for (i, lang) in languages.iter().enumerate() {
            if lang.stopwords.contains(word) {
                if let Some(c) = counts.get_mut(i) {
                    *c += 1;
                }
            }
        }
    }
    let best = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (**c, usize::MAX - i))
        .filter(|(_, c)| **c > 0);
    match best.and_then(|(i, c)| languages.get(i).map(|l| (l.code.as_str(), *c))) {
        Some(found) => found,
        None => (FALLBACK, 0),
    }
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
            assert_eq!(detect(&fold(text), &set.languages).0, want, "{text}");
        }
    }
}
