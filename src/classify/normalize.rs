//! Text normalisation for matching: rules are written against lower-case, accent-folded
//! ASCII (`información` → `informacion`, `Löschung` → `loschung`, `ß` → `ss`, curly quotes
//! → straight), split into sentences so every rule, negation and question is judged inside
//! one sentence. Pure ASCII also keeps the regex engine on its fast path.

/// The most new text classified; the rest of a longer mail is not read.
pub const MAX_CLASSIFY: usize = 48 * 1024;

/// Folds one char to lower-case ASCII; `None` drops it (becomes a space).
fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let s = match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ā' | 'ą' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' | 'Ą' => {
            "a"
        }
        'é' | 'è' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' | 'É' | 'È' | 'Ê' | 'Ë' | 'Ę' | 'Ě' => {
            "e"
        }
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => "i",
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ő' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' | 'Ø' | 'Ő' => {
            "o"
        }
        'ú' | 'ù' | 'û' | 'ü' | 'ű' | 'ů' | 'Ú' | 'Ù' | 'Û' | 'Ü' | 'Ű' | 'Ů' => "u",
        'ñ' | 'Ñ' | 'ń' | 'ň' => "n",
        'ç' | 'Ç' | 'ć' | 'č' | 'Č' => "c",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ł' | 'Ł' => "l",
        'ś' | 'š' | 'Š' | 'Ś' => "s",
        'ź' | 'ż' | 'ž' | 'Ž' | 'Ż' | 'Ź' => "z",
        'ř' | 'Ř' => "r",
        'ď' => "d",
        'ť' => "t",
        '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' | '\u{b4}' => "'",
        '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{ab}' | '\u{bb}' => "\"",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '\u{2026}' => "...",
        '\u{a7}' => " section ",
        _ => " ",
    };
    out.push_str(s);
}

/// Lower-case, accent-folded ASCII; whitespace runs collapse to one space, line breaks kept.
pub fn fold(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 16);
    fold_into(text, &mut out);
    ascii_string(out)
}

/// [`fold`], appended to `out` (which the caller may already have filled: the subject, then
/// the body, into one buffer). Only `out`'s new part is looked at; only ASCII is pushed.
///
/// ASCII (nearly all of a mail) takes two fast paths: runs of plain eight-byte chunks (see
/// [`plain8`]) are copied and lowered at once, other ASCII goes one byte at a time; other
/// characters are decoded and folded one by one with [`fold_char`].
pub fn fold_into(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let floor = out.len();
    let mut space = true;
    let mut buf = String::new();
    let mut i = 0;
    while i < bytes.len() {
        // A run of plain eight-byte chunks is copied at once, then lowered in place.
        let run = i;
        while let Some(ends_in_space) = bytes.get(i..i + 8).and_then(|c| plain8(c, space)) {
            space = ends_in_space;
            i += 8;
        }
        if i > run {
            let at = out.len();
            out.extend_from_slice(bytes.get(run..i).unwrap_or(b""));
            if let Some(copied) = out.get_mut(at..) {
                copied.make_ascii_lowercase();
            }
        }
        // Then the next eight bytes (or the character that crosses them) one at a time.
        let stop = i + 8;
        while let Some(&b) = bytes.get(i).filter(|_| i < stop) {
            if b.is_ascii() {
                i += 1;
                match b {
                    b'\n' => {
                        while out.len() > floor && out.last() == Some(&b' ') {
                            out.pop();
                        }
                        out.push(b'\n');
                        space = true;
                    }
                    // ASCII whitespace and control characters (char::is_whitespace/is_control).
                    b'\t' | b'\r' | b'\x0b' | b'\x0c' | b' ' | 0..=0x1f | 0x7f => {
                        if !space {
                            out.push(b' ');
                            space = true;
                        }
                    }
                    _ => {
                        out.push(b.to_ascii_lowercase());
                        space = false;
                    }
                }
                continue;
            }
            let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
                return;
            };
            i += c.len_utf8();
            if c.is_whitespace() || c.is_control() {
                if !space {
                    out.push(b' ');
                    space = true;
                }
                continue;
            }
            buf.clear();
            fold_char(c, &mut buf);
            // The folded form may hold spaces (a dropped char, `§` → " section "): keep
            // whitespace runs collapsed across it, so words never run together.
            for &b in buf.as_bytes() {
                if b == b' ' {
                    if !space {
                        out.push(b' ');
                        space = true;
                    }
                } else {
                    out.push(b);
                    space = false;
                }
            }
        }
    }
}

/// The fast path of [`fold_into`]: eight bytes that are all printable ASCII or single
/// spaces (the common case inside a line of prose), whose folded form is just their lower
/// case. `None` when the chunk holds anything else (a line break, a control character, two
/// spaces in a row, non-ASCII), or starts with a space right after a space (`space`); the
/// byte-by-byte path takes it then. `Some(whether the last byte is a space)` otherwise.
///
/// Works on the eight bytes as one `u64` (SWAR); each byte is below 0x80 before any sum, so
/// no sum carries into the next byte.
fn plain8(chunk: &[u8], space: bool) -> Option<bool> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let w = u64::from_le_bytes(chunk.try_into().ok()?);
    // Every byte in 0x20..=0x7e: ASCII, >= 0x20 (b + 0x60 reaches bit 7), not 0x7f.
    if w & HIGH != 0
        || w.wrapping_add(0x60 * ONES) & HIGH != HIGH
        || w.wrapping_add(ONES) & HIGH != 0
    {
        return None;
    }
    // Bit 7 of every byte that is a space (exact zero-byte test of w ^ "        ").
    let x = w ^ (0x20 * ONES);
    let spaces = !(((x & !HIGH).wrapping_add(!HIGH)) | x) & HIGH;
    if spaces & (spaces << 8) != 0 || (space && spaces & 0x80 != 0) {
        return None;
    }
    Some(spaces >> 63 != 0)
}

/// The folded bytes as a `String`. They are ASCII, so this never fails; a lossy copy keeps
/// it panic-free anyway.
pub fn ascii_string(folded: Vec<u8>) -> String {
    String::from_utf8(folded).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Words after which a full stop does not end a sentence (`art. 15`, `z.b.`, `no. 3`).
const ABBREVIATIONS: &[&str] = &[
    "art", "arts", "no", "nr", "num", "abs", "sec", "secs", "para", "e.g", "i.e", "eg", "ie",
    "etc", "vs", "dr", "mr", "mrs", "ms", "st", "z.b", "bzw", "ca", "cf", "p", "s", "lit", "ziff",
    "sr", "sra", "srta", "mme", "mlle", "m", "inc", "ltd", "co", "corp", "approx", "u.s", "cal",
    "civ", "ord", "al", "ref", "tel", "ph", "apt",
];

/// German written without umlauts: `ae`, `oe`, `ue` (not after `q`, as in "quelle", nor
/// after `e`, as in "neue" or "teuer") become `a`, `o`, `u`, the way [`fold`] reads "ä",
/// "ö", "ü". `None` when the text has none. Applied to German mail only; patterns in
/// `de.toml` are written with umlauts or plain vowels, never with the digraphs.
pub fn fold_digraphs(folded: &str) -> Option<String> {
    let b = folded.as_bytes();
    let hit = |i: usize| {
        matches!(b.get(i), Some(b'a' | b'o' | b'u'))
            && b.get(i + 1) == Some(&b'e')
            && !(b.get(i) == Some(&b'u') && i > 0 && matches!(b.get(i - 1), Some(b'q' | b'e')))
    };
    if !(0..b.len()).any(hit) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        out.push(c);
        i += if hit(i) { 2 } else { 1 };
    }
    Some(ascii_string(out))
}

/// A checkbox at the start of a line: `Some(true)` ticked (`[x]`, `[X]`, `(x)`, `[*]`),
/// `Some(false)` empty (`[ ]`, `[]`, `( )`, `[_]`).
fn checkbox(line: &str) -> Option<bool> {
    let l = line.trim_start().trim_start_matches(['-', '*', ' ']);
    let (open, close) = match l.as_bytes().first()? {
        b'[' => (b'[', b']'),
        b'(' => (b'(', b')'),
        _ => return None,
    };
    let end = l.bytes().position(|b| b == close)?;
    if end > 3 || l.as_bytes().first() != Some(&open) {
        return None;
    }
    let inner = l.get(1..end)?.trim();
    match inner {
        "" | "_" => Some(false),
        "x" | "X" | "*" | "v" | "/" => Some(true),
        _ => None,
    }
}

/// A form's checkbox list: empty boxes are what the person did not ask for, so their lines
/// are blanked, and so is the form's prompt just above the list ("Which request would you
/// like to make?"). `None` when the text has no empty box.
pub fn drop_unchecked(folded: &str) -> Option<String> {
    let lines: Vec<&str> = folded.split('\n').collect();
    if !lines.iter().any(|l| checkbox(l) == Some(false)) {
        return None;
    }
    let mut out = String::with_capacity(folded.len());
    for (i, line) in lines.iter().enumerate() {
        let next_is_box = lines
            .iter()
            .skip(i + 1)
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| checkbox(l).is_some());
        let prompt = checkbox(line).is_none()
            && next_is_box
            && (line.trim_end().ends_with('?') || line.trim_end().ends_with(':'));
        if checkbox(line) != Some(false) && !prompt {
            out.push_str(line);
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    Some(out)
}

/// The length of the longest of [`ABBREVIATIONS`] (a unit test checks it).
const LONGEST_ABBREVIATION: usize = 6;

/// Splits folded text into sentences (byte ranges, trimmed, non-empty). A line break ends a
/// sentence when the line is short (headings, "UNSUBSCRIBE", "Name: …"), ends with `:`, or
/// the next line is empty or starts a list item; longer lines are treated as wrapped prose.
pub fn sentences(folded: &str) -> Vec<(usize, usize)> {
    let bytes = folded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 64 + 4);
    let mut start = 0;
    let mut line_start = 0;
    let push = |out: &mut Vec<(usize, usize)>, s: usize, e: usize| {
        let (mut s, mut e) = (s, e);
        while s < e && matches!(bytes.get(s), Some(b' ' | b'\n' | b'-' | b'*' | b'>')) {
            s += 1;
        }
        while e > s && matches!(bytes.get(e - 1), Some(b' ' | b'\n')) {
            e -= 1;
        }
        if e > s {
            out.push((s, e));
        }
    };
    // Only the bytes that may end a sentence are looked at; the scan skips the rest.
    let mut i = 0;
    while let Some(at) = next_stop(bytes, i) {
        i = at;
        let b = bytes.get(i).copied().unwrap_or(b' ');
        if b == b'\n' {
            let line = folded.get(line_start..i).unwrap_or("").trim();
            if line.len() < 45
                || line.ends_with(':')
                || next_line_breaks(folded.get(i + 1..).unwrap_or(""))
            {
                push(&mut out, start, i);
                start = i + 1;
            }
            line_start = i + 1;
        } else if matches!(bytes.get(i + 1), None | Some(b' ' | b'\n' | b')' | b'"'))
            && !(b == b'.' && is_abbreviation(bytes.get(start..i).unwrap_or(b"")))
        {
            push(&mut out, start, i + 1);
            start = i + 1;
        }
        i += 1;
    }
    push(&mut out, start, bytes.len());
    out
}

/// The position of the next byte at or after `from` that [`sentences`] stops at: `.`, `!`,
/// `?`, `;` (a sentence end when a space, line break, `)`, `"` or the end follows) and the
/// line break. Eight bytes at a time (SWAR): most chunks hold none of them.
fn next_stop(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero when some byte of `w` equals `b` (exact for "any"; it may also flag bytes
    // after a true match, which the byte scan below does not rely on).
    let has = |w: u64, b: u8| {
        let x = w ^ (u64::from(b) * ONES);
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        if has(w, b'.') | has(w, b'!') | has(w, b'?') | has(w, b';') | has(w, b'\n') != 0 {
            break;
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|b| matches!(b, b'.' | b'!' | b'?' | b';' | b'\n'))
        .map(|p| p + i)
}

/// Whether the line after a line break (`rest` is the text after it) ends the sentence
/// before it: it is empty (only whitespace) or starts a list item (`-`, `*`, `>`, or up to
/// three letters or digits then `.` or `)`, as in "1." or "a)").
fn next_line_breaks(rest: &str) -> bool {
    let line = rest
        .trim_start_matches(|c: char| c != '\n' && c.is_whitespace())
        .as_bytes();
    match line.first() {
        None | Some(b'\n' | b'-' | b'*' | b'>') => true,
        _ => {
            for (j, c) in line.iter().take(4).enumerate() {
                match c {
                    b'.' | b')' => return j > 0,
                    c if c.is_ascii_alphanumeric() => {}
                    _ => return false,
                }
            }
            false
        }
    }
}

fn is_abbreviation(before: &[u8]) -> bool {
    let from = before
        .iter()
        .rposition(|&c| matches!(c, b' ' | b'\n' | b'('))
        .map_or(0, |p| p + 1);
    let mut word = before.get(from..).unwrap_or(b"");
    while let [rest @ .., b'.'] = word {
        word = rest;
    }
    if word.is_empty() {
        return false;
    }
    // Numbers ("12.", "3.2.") and single letters ("a.") continue the sentence.
    word.iter().all(|&c| c.is_ascii_digit() || c == b'.')
        || word.len() == 1
        || (word.len() <= LONGEST_ABBREVIATION
            && ABBREVIATIONS.iter().any(|a| a.as_bytes() == word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_table() {
        let cases: &[(&str, &str)] = &[
            ("Información  Sensible", "informacion sensible"),
            ("Löschung gemäß Art. 17", "loschung gemass art. 17"),
            ("Don’t  SELL", "don't sell"),
            ("¿Pueden borrar mis datos?", "pueden borrar mis datos?"),
            (
                "Ne supprimez pas\r\n mon compte",
                "ne supprimez pas\nmon compte",
            ),
            ("données — œuvre", "donnees - oeuvre"),
            ("привет delete", "delete"),
            // A multi-word fold keeps its words apart (it once gave "a  sectionb").
            ("a § b", "a section b"),
            ("CCPA §1798.105", "ccpa section 1798.105"),
            ("§ 7 x", "section 7 x"),
            ("x ¤ y", "x y"),
        ];
        for (input, want) in cases {
            assert_eq!(fold(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn longest_abbreviation_is_right() {
        let longest = ABBREVIATIONS.iter().map(|a| a.len()).max();
        assert_eq!(longest, Some(LONGEST_ABBREVIATION));
    }

    #[test]
    fn sentences_table() {
        let cases: &[(&str, &[&str])] = &[
            (
                "please delete my data. also stop the emails!",
                &["please delete my data.", "also stop the emails!"],
            ),
            (
                "according to art. 17 gdpr i request erasure.",
                &["according to art. 17 gdpr i request erasure."],
            ),
            ("unsubscribe\nthanks", &["unsubscribe", "thanks"]),
            (
                "i request the following:\n1. a copy of my data\n2. deletion",
                &[
                    "i request the following:",
                    "1. a copy of my data",
                    "2. deletion",
                ],
            ),
            (
                "this is a long wrapped line of a formal letter that goes on\nand ends here.",
                &["this is a long wrapped line of a formal letter that goes on\nand ends here."],
            ),
        ];
        for (text, want) in cases {
            let got: Vec<&str> = sentences(text)
                .into_iter()
                .map(|(s, e)| text.get(s..e).unwrap_or(""))
                .collect();
            assert_eq!(got, *want, "text {text:?}");
        }
    }

    /// The straightforward versions that `fold` and `sentences` replaced (byte at a time,
    /// `str` helpers); the fast paths must agree with them on any text.
    mod reference {
        use super::super::{fold_char, ABBREVIATIONS};

        pub fn fold_reference(text: &str) -> String {
            let bytes = text.as_bytes();
            let mut out: Vec<u8> = Vec::with_capacity(text.len() + 16);
            let mut space = true;
            let mut buf = String::new();
            let mut i = 0;
            while let Some(&b) = bytes.get(i) {
                if b.is_ascii() {
                    i += 1;
                    match b {
                        b'\n' => {
                            while out.last() == Some(&b' ') {
                                out.pop();
                            }
                            out.push(b'\n');
                            space = true;
                        }
                        // ASCII whitespace and control characters (char::is_whitespace/is_control).
                        b'\t' | b'\r' | b'\x0b' | b'\x0c' | b' ' | 0..=0x1f | 0x7f => {
                            if !space {
                                out.push(b' ');
                                space = true;
                            }
                        }
                        _ => {
                            out.push(b.to_ascii_lowercase());
                            space = false;
                        }
                    }
                    continue;
                }
                let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
                    break;
                };
                i += c.len_utf8();
                if c.is_whitespace() || c.is_control() {
                    if !space {
                        out.push(b' ');
                        space = true;
                    }
                    continue;
                }
                buf.clear();
                fold_char(c, &mut buf);
                for &b in buf.as_bytes() {
                    if b == b' ' {
                        if !space {
                            out.push(b' ');
                            space = true;
                        }
                    } else {
                        out.push(b);
                        space = false;
                    }
                }
            }
            // Only ASCII was pushed, so this never fails; a lossy copy keeps it panic-free anyway.
            String::from_utf8(out)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
        pub fn sentences_reference(folded: &str) -> Vec<(usize, usize)> {
            let bytes = folded.as_bytes();
            let mut out = Vec::new();
            let mut start = 0;
            let mut line_start = 0;
            let mut i = 0;
            let push = |out: &mut Vec<(usize, usize)>, s: usize, e: usize| {
                let (mut s, mut e) = (s, e);
                while s < e && matches!(bytes.get(s), Some(b' ' | b'\n' | b'-' | b'*' | b'>')) {
                    s += 1;
                }
                while e > s && matches!(bytes.get(e - 1), Some(b' ' | b'\n')) {
                    e -= 1;
                }
                if e > s {
                    out.push((s, e));
                }
            };
            while i < bytes.len() {
                let b = bytes.get(i).copied().unwrap_or(b' ');
                let next = bytes.get(i + 1).copied();
                match b {
                    b'.' | b'!' | b'?' | b';'
                        if matches!(next, None | Some(b' ' | b'\n' | b')' | b'"')) =>
                    {
                        if b == b'.'
                            && is_abbreviation_reference(folded.get(start..i).unwrap_or(""))
                        {
                            i += 1;
                            continue;
                        }
                        push(&mut out, start, i + 1);
                        start = i + 1;
                    }
                    b'\n' => {
                        let line = folded.get(line_start..i).unwrap_or("").trim();
                        let rest = folded.get(i + 1..).unwrap_or("");
                        let next_line = rest.lines().next().unwrap_or("").trim_start();
                        let list_item = next_line.starts_with(['-', '*', '>'])
                            || next_line.split_once(['.', ')']).is_some_and(|(n, _)| {
                                !n.is_empty()
                                    && n.len() <= 3
                                    && n.bytes().all(|c| c.is_ascii_alphanumeric())
                            });
                        if line.is_empty()
                            || line.len() < 45
                            || line.ends_with(':')
                            || list_item
                            || next_line.is_empty()
                        {
                            push(&mut out, start, i);
                            start = i + 1;
                        }
                        line_start = i + 1;
                    }
                    _ => {}
                }
                i += 1;
            }
            push(&mut out, start, bytes.len());
            out
        }
        fn is_abbreviation_reference(before: &str) -> bool {
            let word = before
                .rsplit([' ', '\n', '('])
                .next()
                .unwrap_or("")
                .trim_end_matches('.');
            if word.is_empty() {
                return false;
            }
            // Numbers ("12.", "3.2.") and single letters ("a.") continue the sentence.
            word.bytes().all(|c| c.is_ascii_digit() || c == b'.')
                || word.len() == 1
                || ABBREVIATIONS.contains(&word)
        }
    }

    /// Random texts built from the pieces that steer folding and splitting (spaces, line
    /// breaks, terminators, abbreviations, list items, accents, dropped characters), run
    /// through both versions.
    #[test]
    fn fast_paths_match_reference() {
        const PIECES: &[&str] = &[
            " ",
            "  ",
            "\t",
            "\n",
            "\n\n",
            "\r\n",
            "\r",
            ".",
            ". ",
            "?",
            "? ",
            "!",
            ";",
            ":",
            ",",
            "(",
            ")",
            "\"",
            "'",
            "-",
            "* ",
            "> ",
            "é",
            "É",
            "ß",
            "ñ",
            "Ö",
            "§",
            "…",
            "’",
            "“",
            "—",
            "\u{a0}",
            "\u{2003}",
            "\u{85}",
            "привет",
            "中",
            "\u{7f}",
            "\u{1}",
            "Art. ",
            "z.B. ",
            "e.g.",
            "no. 3",
            "1. ",
            "a) ",
            "12.3. ",
            "abc)",
            "DO NOT ",
            "Please delete my account",
            "can I delete my data",
            "UNSUBSCRIBE",
            "x",
            "this line is long enough to count as wrapped prose in a letter",
            "Hello World",
            "AbCdEfGhIj",
            "~{|}",
            "@[`]^",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap_or(0)
        };
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..next(40) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            let want = reference::fold_reference(&text);
            assert_eq!(fold(&text), want, "fold {text:?}");
            let mut into = b"subject\n\n".to_vec();
            fold_into(&text, &mut into);
            assert_eq!(into.get(9..), Some(want.as_bytes()), "fold_into {text:?}");
            for t in [text.as_str(), want.as_str()] {
                assert_eq!(
                    sentences(t),
                    reference::sentences_reference(t),
                    "sentences {t:?}"
                );
            }
        }
    }
}
