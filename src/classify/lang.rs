//! Language detection in two steps. [`detect`] scores stop words over the folded text: simple
//! and fast, and good at picking among the languages that have rule files. It cannot say
//! "none of these": a Dutch or Portuguese mail shares enough short words with them to look
//! Spanish or English. [`foreign`] asks `whatlang` (trigram profiles of 70 languages,
//! embedded) whether the original text is in a language the rules do not cover; such mail
//! is escalated, never handled. Measured in `examples/lang_eval.rs`.

use super::rules::Language;
use super::wordset::{KeyFilter, WordHasher};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Stop word → bit mask of the languages (positions in the language list) that list it.
/// A word is looked up by its bytes packed into a `u128` (words of the text are at most 16
/// bytes, and never hold a zero byte), so a lookup neither allocates nor compares strings.
#[derive(Debug, Default)]
pub struct StopIndex {
    masks: HashMap<u128, u64, BuildHasherDefault<WordHasher>>,
    /// A cheap first test: most words of a text are not stop words.
    filter: KeyFilter,
    /// The longest stop word: longer words of the text are not looked up.
    longest: usize,
}

/// The language used when no stop word of any loaded language occurs.
pub const FALLBACK: &str = "en";

/// The most words looked at; the opening of a mail says enough about its language
/// (measured with `examples/lang_eval.rs`: with 200 words every corpus and fixture letter in
/// a rule language is placed right, with 400 one French letter with English in it was not).
const MAX_WORDS: usize = 200;

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
    let (code, hits, _) = detect_counted(folded, languages, index);
    (code, hits)
}

/// [`detect`], plus the number of words looked at (at most 200): the share of stop words
/// says how much the text reads like one of the rule languages at all.
pub fn detect_counted<'a>(
    folded: &str,
    languages: &'a [Language],
    index: &StopIndex,
) -> (&'a str, usize, usize) {
    detect_scan(folded, languages, index, None, &mut Vec::new())
}

/// [`detect_counted`], which also notes, in the same pass over the same words (at most 200),
/// the words of 5 to 16 bytes that `typos` may hold (the one-edit variants of the request
/// vocabulary, see [`super::typo`]): their `(start, length)` in `folded` are pushed to
/// `candidates`, so that the typo pass need not read the text again.
pub fn detect_scan<'a>(
    folded: &str,
    languages: &'a [Language],
    index: &StopIndex,
    typos: Option<&KeyFilter>,
    candidates: &mut Vec<(usize, usize)>,
) -> (&'a str, usize, usize) {
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
        let typo = typos.filter(|_| len >= super::typo::MIN_LEN);
        if len > index.longest && typo.is_none() {
            continue;
        }
        let Some(key) = pack(rest, len) else {
            continue;
        };
        if typo.is_some_and(|f| f.may_contain(key)) {
            candidates.push((start, len));
        }
        if len > index.longest || !index.filter.may_contain(key) {
            continue;
        }
        if let Some(mask) = index.masks.get(&key) {
            for (i, c) in counts.iter_mut().enumerate().take(languages.len()) {
                if mask & (1u64 << i) != 0 {
                    *c += 1;
                }
            }
        }
    }
    let (code, hits) = best(&counts, languages);
    (code, hits, words)
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
                index.filter.insert(key);
                index.longest = index.longest.max(w.len());
            }
        }
    }
    index
}

/// A language the rules do not cover, as `whatlang` named it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Foreign {
    /// ISO 639-1 code where there is one (`pt`, `nl`), else ISO 639-3 (`epo`).
    pub code: &'static str,
    /// Its English name (`Portuguese`).
    pub name: &'static str,
    /// `whatlang`'s confidence, 0 to 1.
    pub confidence: f64,
}

/// The most bytes of the original text handed to `whatlang` (the opening says enough).
const IDENTIFY_MAX_BYTES: usize = 400;

/// The share of stop words (percent) below which a short text is in doubt: it may be in a
/// language the rules do not cover.
const DOUBT_BELOW_STOP_SHARE: usize = 30;

/// The same for a text of [`DOUBT_LONG_WORDS`] words or more: formal letters are full of
/// content words (many of the corpus's are at 25–29 %), and a long text in another language
/// shares only a few short words ("de", "en", "in") with the rule languages.
const DOUBT_BELOW_STOP_SHARE_LONG: usize = 20;

/// From this many words on, a text is long.
const DOUBT_LONG_WORDS: usize = 60;

/// Fewer letters than this say too little about a language ("REMOVE", "unsubscribe pls").
const IDENTIFY_MIN_LETTERS: usize = 24;

/// The least `whatlang` confidence for calling a Latin-script text foreign (short mails
/// rarely reach its own "reliable" mark, 0.9).
const FOREIGN_MIN_CONFIDENCE: f64 = 0.5;

/// Whether the stop words leave the language of a text in doubt: fewer than 30 % of its
/// `words` were stop words of a rule language, 20 % from 60 words on (`stop_hits` and
/// `words` from [`detect_counted`]). Measured on the corpus and the fixtures
/// (`examples/lang_eval.rs`): the other languages' share is at most 23 %, in mails of at
/// most 14 words, while 69 of the 71 letters of 60 words or more in a rule language are at
/// 20 % or above. Cheap; [`foreign`], which costs some 60 µs a call (thirty times the
/// stop-word count: `whatlang` scores every profile of the script, however short the
/// text), is asked only about text in doubt.
pub fn in_doubt(stop_hits: usize, words: usize) -> bool {
    let share = if words >= DOUBT_LONG_WORDS {
        DOUBT_BELOW_STOP_SHARE_LONG
    } else {
        DOUBT_BELOW_STOP_SHARE
    };
    words == 0 || stop_hits * 100 < words * share
}

/// Asks `whatlang` about `original` (the new text as written, accents and all): the
/// language it is in when that is one no rule file covers and `whatlang` is confident
/// enough (any text in a non-Latin script is); `None` when the text is short (fewer than 24
/// letters), in a rule language, or unclear.
pub fn foreign(original: &str, languages: &[Language]) -> Option<Foreign> {
    let mut end = original.len().min(IDENTIFY_MAX_BYTES);
    while !original.is_char_boundary(end) {
        end -= 1;
    }
    let text = original.get(..end)?;
    let letters = text
        .chars()
        .filter(|c| c.is_alphabetic())
        .take(IDENTIFY_MIN_LETTERS)
        .count();
    if letters < IDENTIFY_MIN_LETTERS {
        return None;
    }
    // Latin script: the languages people are likely to write in, a third fewer profiles to
    // score than all of whatlang's Latin ones (its cost is per profile). Other scripts:
    // whatlang's own, few per script.
    let info = if whatlang::detect_script(text)? == whatlang::Script::Latin {
        latin_detector().detect(text)?
    } else {
        whatlang::detect(text)?
    };
    let code = iso639_1(info.lang());
    if languages.iter().any(|l| l.code == code) {
        return None;
    }
    (info.script() != whatlang::Script::Latin || info.confidence() >= FOREIGN_MIN_CONFIDENCE).then(
        || Foreign {
            code,
            name: info.lang().eng_name(),
            confidence: info.confidence(),
        },
    )
}

/// `whatlang` limited to the Latin-script languages it is asked to tell apart.
pub fn latin_detector() -> &'static whatlang::Detector {
    use whatlang::Lang as L;
    static DETECTOR: std::sync::OnceLock<whatlang::Detector> = std::sync::OnceLock::new();
    DETECTOR.get_or_init(|| {
        whatlang::Detector::with_allowlist(vec![
            L::Eng,
            L::Spa,
            L::Deu,
            L::Fra,
            L::Por,
            L::Ita,
            L::Nld,
            L::Pol,
            L::Swe,
            L::Dan,
            L::Nob,
            L::Fin,
            L::Ces,
            L::Slk,
            L::Slv,
            L::Hrv,
            L::Ron,
            L::Hun,
            L::Est,
            L::Lav,
            L::Lit,
            L::Tur,
            L::Cat,
            L::Ind,
            L::Vie,
            L::Tgl,
            L::Afr,
        ])
    })
}

/// ISO 639-1 code of a `whatlang` language where one exists (the rule files use them),
/// else its ISO 639-3 code.
pub fn iso639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang as L;
    match lang {
        L::Eng => "en",
        L::Spa => "es",
        L::Deu => "de",
        L::Fra => "fr",
        L::Por => "pt",
        L::Ita => "it",
        L::Nld => "nl",
        L::Pol => "pl",
        L::Swe => "sv",
        L::Dan => "da",
        L::Nob => "nb",
        L::Fin => "fi",
        L::Ces => "cs",
        L::Slk => "sk",
        L::Slv => "sl",
        L::Hrv => "hr",
        L::Srp => "sr",
        L::Ron => "ro",
        L::Hun => "hu",
        L::Est => "et",
        L::Lav => "lv",
        L::Lit => "lt",
        L::Tur => "tr",
        L::Rus => "ru",
        L::Ukr => "uk",
        L::Bel => "be",
        L::Bul => "bg",
        L::Mkd => "mk",
        L::Ell => "el",
        L::Cat => "ca",
        L::Afr => "af",
        L::Lat => "la",
        L::Epo => "eo",
        L::Ind => "id",
        L::Tgl => "tl",
        L::Vie => "vi",
        L::Ara => "ar",
        L::Heb => "he",
        L::Pes => "fa",
        L::Hin => "hi",
        L::Jpn => "ja",
        L::Kor => "ko",
        L::Cmn => "zh",
        L::Tha => "th",
        L::Cym => "cy",
        other => other.code(),
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
