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
///
/// ASCII bytes (nearly all of a mail) take a byte-level fast path; other characters are
/// decoded and folded one by one. The output is pure ASCII.
pub fn fold(text: &str) -> String {
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
        if !buf.is_empty() {
            out.extend_from_slice(buf.as_bytes());
            // A dropped char became a space; keep runs collapsed.
            if out.last() == Some(&b' ') {
                if space {
                    out.pop();
                }
                space = true;
            } else {
                space = false;
            }
        }
    }
    // Only ASCII was pushed, so this never fails; a lossy copy keeps it panic-free anyway.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Words after which a full stop does not end a sentence (`art. 15`, `z.b.`, `no. 3`).
const ABBREVIATIONS: &[&str] = &[
    "art", "arts", "no", "nr", "num", "abs", "sec", "secs", "para", "e.g", "i.e", "eg", "ie",
    "etc", "vs", "dr", "mr", "mrs", "ms", "st", "z.b", "bzw", "ca", "cf", "p", "s", "lit", "ziff",
    "sr", "sra", "srta", "mme", "mlle", "m", "inc", "ltd", "co", "corp", "approx", "u.s", "cal",
    "civ", "ord", "al", "ref", "tel", "ph", "apt",
];

/// Splits folded text into sentences (byte ranges, trimmed, non-empty). A line break ends a
/// sentence when the line is short (headings, "UNSUBSCRIBE", "Name: …"), ends with `:`, or
/// the next line starts a list item; longer lines are treated as wrapped prose.
pub fn sentences(folded: &str) -> Vec<(usize, usize)> {
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
                if b == b'.' && is_abbreviation(folded.get(start..i).unwrap_or("")) {
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

fn is_abbreviation(before: &str) -> bool {
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
        ];
        for (input, want) in cases {
            assert_eq!(fold(input), *want, "input {input:?}");
        }
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
}
