//! HTML → plain text, good enough for reading what a person wrote: block elements become
//! line breaks, `<blockquote>` content is prefixed with `> ` (so the quote stripper in
//! [`super::text`] sees it as quoted), `<script>`/`<style>`/`<head>` are dropped and the
//! common character entities are decoded. Never panics; input is capped at [`MAX_HTML`].

/// The most HTML read from one mail; the rest is ignored (a request is never that long).
pub const MAX_HTML: usize = 2 * 1024 * 1024;

/// Converts HTML to text lines.
pub fn html_to_text(html: &str) -> String {
    let html = super::text::clip(html, MAX_HTML);
    let mut out = String::with_capacity(html.len() / 2);
    let mut quote_depth: usize = 0;
    let mut skip_until: Option<&'static str> = None;
    let mut rest = html;
    let mut at_line_start = true;
    while !rest.is_empty() {
        if let Some(end_tag) = skip_until {
            match find_ci(rest, end_tag) {
                Some(pos) => {
                    rest = rest.get(pos..).unwrap_or("");
                    skip_until = None;
                }
                None => break,
            }
            continue;
        }
        let Some(lt) = rest.find('<') else {
            push_text(&mut out, rest, quote_depth, &mut at_line_start);
            break;
        };
        push_text(
            &mut out,
            rest.get(..lt).unwrap_or(""),
            quote_depth,
            &mut at_line_start,
        );
        let after = rest.get(lt + 1..).unwrap_or("");
        if after.starts_with("!--") {
            rest = match after.find("-->") {
                Some(p) => after.get(p + 3..).unwrap_or(""),
                None => "",
            };
            continue;
        }
        let Some(gt) = after.find('>') else {
            break;
        };
        let tag = after.get(..gt).unwrap_or("");
        rest = after.get(gt + 1..).unwrap_or("");
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match name.as_str() {
            "script" if !closing => skip_until = Some("</script"),
            "style" if !closing => skip_until = Some("</style"),
            "head" if !closing => skip_until = Some("</head"),
            "title" if !closing => skip_until = Some("</title"),
            "blockquote" => {
                newline(&mut out, &mut at_line_start);
                if closing {
                    quote_depth = quote_depth.saturating_sub(1);
                } else {
                    quote_depth = (quote_depth + 1).min(20);
                }
            }
            // A second `<br>` in a row is an empty line: a paragraph break, as the sender's
            // client showed it (Outlook.com writes paragraphs as `text<br><br>text`).
            "br" if at_line_start && !out.is_empty() => newline_force(&mut out, &mut at_line_start),
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul"
            | "ol" | "table" | "hr" | "pre" | "section" | "article" | "header" | "footer" => {
                newline(&mut out, &mut at_line_start);
                if name == "p" && closing {
                    newline_force(&mut out, &mut at_line_start);
                }
            }
            "td" | "th" => out.push(' '),
            _ => {}
        }
    }
    out
}

fn newline(out: &mut String, at_line_start: &mut bool) {
    if !*at_line_start {
        out.push('\n');
        *at_line_start = true;
    }
}

fn newline_force(out: &mut String, at_line_start: &mut bool) {
    out.push('\n');
    *at_line_start = true;
}

fn push_text(out: &mut String, text: &str, quote_depth: usize, at_line_start: &mut bool) {
    let decoded = decode_entities(text);
    // HTML whitespace collapses; line structure comes from tags only.
    let mut last_space = out.ends_with(' ') || *at_line_start;
    for c in decoded.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
            continue;
        }
        if *at_line_start {
            for _ in 0..quote_depth {
                out.push_str("> ");
            }
            *at_line_start = false;
        }
        out.push(if c == '\u{a0}' { ' ' } else { c });
        last_space = false;
    }
}

/// Case-insensitive ASCII find.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| {
        h.get(i..i + n.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(n))
    })
}

/// Decodes `&name;`, `&#123;` and `&#x7b;` entities (the common named ones).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        let after = rest.get(amp + 1..).unwrap_or("");
        let semi = after.find(';').filter(|&p| p <= 10);
        let decoded = semi.and_then(|p| entity(after.get(..p).unwrap_or("")));
        match (semi, decoded) {
            (Some(p), Some(c)) => {
                out.push(c);
                rest = after.get(p + 1..).unwrap_or("");
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "nbsp" => ' ',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "rsquo" | "lsquo" => '\'',
        "rdquo" | "ldquo" => '"',
        "ndash" | "mdash" => '-',
        "hellip" => '…',
        "copy" => '©',
        "euro" => '€',
        "iexcl" => '¡',
        "iquest" => '¿',
        "laquo" => '«',
        "raquo" => '»',
        "szlig" => 'ß',
        "ntilde" => 'ñ',
        "Ntilde" => 'Ñ',
        "ccedil" => 'ç',
        "Ccedil" => 'Ç',
        "aacute" => 'á',
        "eacute" => 'é',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "Aacute" => 'Á',
        "Eacute" => 'É',
        "Iacute" => 'Í',
        "Oacute" => 'Ó',
        "Uacute" => 'Ú',
        "agrave" => 'à',
        "egrave" => 'è',
        "ugrave" => 'ù',
        "Agrave" => 'À',
        "Egrave" => 'È',
        "acirc" => 'â',
        "ecirc" => 'ê',
        "icirc" => 'î',
        "ocirc" => 'ô',
        "ucirc" => 'û',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "euml" => 'ë',
        "iuml" => 'ï',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "oelig" => 'œ',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text_table() {
        let cases: &[(&str, &str)] = &[
            ("<p>Hello</p><p>World</p>", "Hello\n\nWorld"),
            ("a<br>b", "a\nb"),
            (
                "<style>p{color:red}</style><div>Delete&nbsp;my data</div>",
                "Delete my data",
            ),
            (
                "<div>x</div><blockquote>old<br>mail</blockquote>",
                "x\n> old\n> mail",
            ),
            ("caf&eacute; &amp; &#241; &#x41;", "café & ñ A"),
            ("<!-- delete my data --><p>hi</p>", "hi"),
            ("<p>broken <b", "broken"),
            ("&bogus; &", "&bogus; &"),
        ];
        for (html, want) in cases {
            assert_eq!(html_to_text(html).trim(), *want, "html: {html}");
        }
    }
}
