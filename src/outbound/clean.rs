//! Cleans every value a template receives, in one place ([`template_data`], called by the
//! renderer), so no template and no caller can forget it: display names, subjects and
//! bodies come from mail, and every byte of a mail is hostile.
//!
//! - Control characters go: C0 (CR, LF, TAB, ESC, NUL…), DEL, C1, and the Unicode format
//!   characters that reorder or hide text (bidi embeddings, overrides and isolates, zero-width
//!   characters, BOM). In the few multi-line values ([`MULTILINE`]) line breaks stay, as `\n`.
//! - Whitespace is folded to single spaces (per line, for multi-line values), trimmed.
//! - Lengths are capped (in characters, with `…`): [`NAME_MAX`] for names (keys ending in
//!   `name`), [`SUBJECT_MAX`] for subjects (keys containing `subject`), [`LINE_MAX`] for
//!   any other one-line value, [`TEXT_MAX`] for multi-line ones.
//! - A display name that carries a link (`://`, `www.`) is dropped: the bot must not mail a
//!   stranger's URL back from the company's address ("Dear http://…"). Templates then take
//!   their no-name branch ("Hello,").
//!
//! Template syntax in a value is inert (Handlebars does not evaluate data), and HTML bodies
//! escape every value; see `templates/README.md`.

use serde_json::Value;

/// Longest display name, in characters.
pub const NAME_MAX: usize = 100;
/// Longest subject, in characters.
pub const SUBJECT_MAX: usize = 200;
/// Longest other one-line value, in characters.
pub const LINE_MAX: usize = 500;
/// Longest multi-line value, in characters (the escalation excerpt is 1,500).
pub const TEXT_MAX: usize = 2000;

/// Keys whose values may hold several lines (each element, for lists): the sender's text,
/// staff's explanations, the bot's own reports.
pub const MULTILINE: &[&str] = &[
    "excerpt",
    "basis_text",
    "reason",
    "message",
    "problems",
    "next",
];

/// `data` with every string in it cleaned by the policy of its key (list elements and
/// nested objects' values by their own key, else their parent's).
pub fn template_data(data: Value) -> Value {
    clean_value(data, "")
}

fn clean_value(v: Value, key: &str) -> Value {
    match v {
        Value::String(s) => Value::String(clean_for(key, &s)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|i| clean_value(i, key)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = clean_value(v, &k);
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// One value, cleaned by the policy of `key`.
pub fn clean_for(key: &str, s: &str) -> String {
    if MULTILINE.contains(&key) {
        text(s, TEXT_MAX)
    } else if key.ends_with("name") {
        let name = line(s, NAME_MAX);
        let lower = name.to_lowercase();
        if lower.contains("://") || lower.contains("www.") {
            String::new()
        } else {
            name
        }
    } else if key.contains("subject") {
        line(s, SUBJECT_MAX)
    } else {
        line(s, LINE_MAX)
    }
}

/// Characters that are removed outright: controls (except the breaks and tabs that
/// [`line`] and [`text`] turn into spaces and newlines) and invisible format characters.
fn invisible(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}'              // BOM / zero-width no-break space
            | '\u{061C}'              // Arabic letter mark
        )
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0085}' | '\u{2028}' | '\u{2029}')
}

/// One line: every break and run of whitespace becomes one space, invisible characters go,
/// at most `max` characters.
pub fn line(s: &str, max: usize) -> String {
    let kept: String = s
        .chars()
        .filter(|c| is_break(*c) || !invisible(*c))
        .collect();
    cap(&kept.split_whitespace().collect::<Vec<_>>().join(" "), max)
}

/// Several lines: breaks (CRLF, CR, LF, NEL, U+2028/9) become `\n`, each line is folded as by
/// [`line`], runs of more than one empty line shrink to one, at most `max` characters.
pub fn text(s: &str, max: usize) -> String {
    let unified: String = s
        .replace("\r\n", "\n")
        .chars()
        .map(|c| if is_break(c) { '\n' } else { c })
        .collect();
    let mut out: Vec<String> = Vec::new();
    for l in unified.split('\n') {
        let l = line(l, usize::MAX);
        if l.is_empty() && out.last().is_some_and(String::is_empty) {
            continue;
        }
        out.push(l);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    while out.first().is_some_and(String::is_empty) {
        out.remove(0);
    }
    cap(&out.join("\n"), max)
}

fn cap(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_lose_breaks_controls_and_bidi_and_are_capped() {
        let cases: &[(&str, &str)] = &[
            ("Jane Doe", "Jane Doe"),
            ("Jane\r\nSubject: forged", "Jane Subject: forged"),
            ("  Jane \t  Doe  ", "Jane Doe"),
            ("Jane\u{202E}eoD", "JaneeoD"),
            (
                "A\u{0000}B\u{001B}[31mC\u{007F}D\u{0085}E\u{009B}F",
                "AB[31mCD EF",
            ),
            ("Zero\u{200B}Width\u{FEFF}", "ZeroWidth"),
            ("Line\u{2028}Sep", "Line Sep"),
            ("{{team}} {{{requester}}}", "{{team}} {{{requester}}}"),
            ("Claim at https://evil.example/x", ""),
            ("WWW.EVIL.EXAMPLE", ""),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(clean_for("requester_name", input), *want, "{input:?}");
        }
        let long = "x".repeat(2000);
        let got = clean_for("requester_name", &long);
        assert_eq!(got.chars().count(), NAME_MAX);
        assert!(got.ends_with('…'));
    }

    #[test]
    fn subjects_and_other_values_are_one_capped_line() {
        let s = clean_for(
            "original_subject",
            &format!("Hi\r\nBcc: x@y\r\n{}", "s".repeat(500)),
        );
        assert!(!s.contains(['\r', '\n']));
        assert!(s.starts_with("Hi Bcc: x@y s"));
        assert_eq!(s.chars().count(), SUBJECT_MAX);
        let other = clean_for("sender", &"a\nb".repeat(1000));
        assert!(!other.contains('\n'));
        assert_eq!(other.chars().count(), LINE_MAX);
    }

    #[test]
    fn multiline_values_keep_their_lines_but_not_controls() {
        let t = clean_for(
            "excerpt",
            "Please delete.\r\n\r\n\r\n\r\nThanks,\u{202E}\r\n  Jane\u{0007}  \r\n",
        );
        assert_eq!(t, "Please delete.\n\nThanks,\nJane");
        assert_eq!(
            clean_for("excerpt", &"y".repeat(5000)).chars().count(),
            TEXT_MAX
        );
    }

    #[test]
    fn a_name_cannot_inject_template_syntax_markup_or_lines_into_a_rendered_mail() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let templates = crate::outbound::templates::Templates::load(&dir).expect("templates");
        let entry = crate::outbound::catalog::entry("acknowledgement").expect("entry");
        let mut data = entry.data(crate::outbound::catalog::Sample::Typical);
        data["requester_name"] = json!("{{team}} <b>Eve</b>\r\nSubject: forged");
        let r = templates
            .render("acknowledgement", "en", &data)
            .expect("render");
        assert!(
            r.text
                .lines()
                .any(|l| l == "Dear {{team}} <b>Eve</b> Subject: forged,"),
            "{}",
            r.text
        );
        let html = r.html.expect("the acknowledgement has an HTML body");
        assert!(
            html.contains("{{team}} &lt;b&gt;Eve&lt;/b&gt; Subject: forged"),
            "{html}"
        );
        assert!(!html.contains("<b>Eve"), "{html}");
    }

    #[test]
    fn nested_values_are_cleaned_by_their_own_key_or_their_parents() {
        let v = template_data(json!({
            "requester_name": "Eve\r\nFrom: boss@example.test",
            "problems": ["a\nb", "c\u{0000}"],
            "items": [{"subject": "S\r\nX", "request_id": "PRIV-1"}],
            "count": 3,
            "agent": true,
        }));
        assert_eq!(
            v,
            json!({
                "requester_name": "Eve From: boss@example.test",
                "problems": ["a\nb", "c"],
                "items": [{"subject": "S X", "request_id": "PRIV-1"}],
                "count": 3,
                "agent": true,
            })
        );
    }
}
