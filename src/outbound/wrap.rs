//! Plain-text bodies re-wrapped to a readable width, whatever the values put into them: pure,
//! used where templates render (`template_set`), so a preview, `templates check` and the
//! mail sent all read the same.

/// The widest line a plain-text body gets (RFC 5322 recommends 78; two columns are left for
/// the `> ` of a quoting reply).
pub const TEXT_WIDTH: usize = 76;

/// Re-wraps a rendered plain-text body so no line is wider than [`TEXT_WIDTH`] columns,
/// whatever the values put into it (a long name, a list of kinds, a date in German). Only a
/// line too wide is touched: it is cut at its last space that fits, and the rest goes to
/// the front of the next line when that line continues the same paragraph (same indent,
/// prose), else onto a line of its own, indented like it (under the text of a `- ` item, or
/// of an aligned `Label:   value` column). A word wider than the line (a link) is never cut.
pub fn reflow(text: &str) -> String {
    let mut queue: std::collections::VecDeque<String> =
        text.split('\n').map(String::from).collect();
    let mut out: Vec<String> = Vec::with_capacity(queue.len());
    while let Some(line) = queue.pop_front() {
        if line.chars().count() <= TEXT_WIDTH {
            out.push(line);
            continue;
        }
        // A hand-wrapped continuation below (deeper than this line) sets the indent: a
        // table whose columns are one space apart, a list item.
        let indent = match queue.front() {
            Some(next) if lead_of(next) > lead_of(&line) && !is_layout(next) => {
                next[..lead_of(next)].to_string()
            }
            _ => continuation_indent(&line),
        };
        let Some(cut) = cut_at(&line, indent.chars().count()) else {
            out.push(line);
            continue;
        };
        let (head, rest) = line.split_at(cut);
        let rest = rest.trim_start();
        out.push(head.trim_end().to_string());
        match queue.front_mut() {
            Some(next) if continues(next, &indent) => {
                *next = format!("{indent}{rest} {}", next.trim_start());
            }
            _ => queue.push_front(format!("{indent}{rest}")),
        }
    }
    out.join("\n")
}

/// The byte index to cut `line` at: its last space within [`TEXT_WIDTH`] columns (after the
/// first `min` columns, its indent), else its first space after; `None` for one long word.
/// A date stays on one line (no cut beside a word that starts with a digit: "March 3,
/// 2026", "3. März 2026"), and so does a French `:` or `;` with its word.
fn cut_at(line: &str, min: usize) -> Option<usize> {
    let mut last_fit = None;
    for (col, (i, c)) in line.char_indices().enumerate() {
        let keep = || {
            let before = line[..i].rsplit(' ').next().unwrap_or("");
            let after = line[i + 1..].split(' ').next().unwrap_or("");
            let digit = |w: &str| w.starts_with(|c: char| c.is_ascii_digit());
            digit(before)
                || digit(after)
                || matches!(after, ":" | ";" | "!" | "?" | "»")
                || header_like(after)
        };
        if c == ' ' && col > min && !keep() {
            if col <= TEXT_WIDTH {
                last_fit = Some(i);
            } else {
                return Some(last_fit.unwrap_or(i));
            }
        }
    }
    last_fit
}

/// A word like `From:` or `Reply-To:`: never the first of a continuation line, so values
/// from outside (a sender's display name) cannot be wrapped into a line that reads like a
/// header of a forwarded mail.
fn header_like(word: &str) -> bool {
    word.strip_suffix(':').is_some_and(|name| {
        name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// The indent of the lines a too-wide `line` continues on: under the text of a `- ` or
/// `* ` item, under the value column of an aligned `Label:   value` line, else its own.
fn continuation_indent(line: &str) -> String {
    let lead = line.len() - line.trim_start().len();
    let body = &line[lead..];
    if body.starts_with("- ") || body.starts_with("* ") {
        return " ".repeat(lead + 2);
    }
    if let Some(gap) = body.rfind("  ") {
        let after = &body[gap..];
        let value_at = gap + (after.len() - after.trim_start().len());
        let col = body[..value_at].chars().count();
        if lead + col < TEXT_WIDTH / 2 {
            return " ".repeat(lead + col);
        }
    }
    line[..lead].to_string()
}

/// A line laid out by hand: a list item, an aligned column, a command. It starts its own
/// line; an overflow never joins it.
fn is_layout(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ") || t.starts_with("* ") || t.starts_with('/') || t.contains("  ")
}

/// Whether `next` goes on with a line whose continuation is indented by `indent`: the next
/// line of a paragraph, of a list item, or of an aligned column's value. A field line
/// ("Access requests in the last 12 months: 1") starts its own line.
fn continues(next: &str, indent: &str) -> bool {
    let t = next.trim_start();
    let lead = &next[..next.len() - t.len()];
    !t.is_empty()
        && lead == indent
        && !is_layout(next)
        && !is_field(t)
        && !t.starts_with("--")
        && !t.starts_with('>')
        && !t.starts_with("http")
}

/// `Label: value`, a capitalised label before the first sentence ends.
fn is_field(t: &str) -> bool {
    t.starts_with(|c: char| c.is_uppercase())
        && t.find(": ")
            .is_some_and(|at| !t[..at].contains(". ") && t[..at].chars().count() <= 60)
}

/// The width of a line's leading spaces, in bytes.
fn lead_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_value_never_starts_a_line_with_a_header_name() {
        // A line may stay a little wider than TEXT_WIDTH rather than start with one.
        for pad in 40..75 {
            let name = format!(
                "{} Subject: You won From: ceo@acme.example",
                "b".repeat(pad)
            );
            let got = reflow(&format!("Dear {name},\n\nWe received your request."));
            for line in got.lines() {
                let first = line.split(' ').next().unwrap_or("");
                assert!(!header_like(first), "pad {pad}: {line:?} in\n{got}");
            }
        }
    }

    #[test]
    fn reflow_wraps_only_what_is_too_wide_and_keeps_paragraphs_and_layout() {
        // A paragraph whose first line a long value made too wide: the overflow joins the
        // next line, which is wrapped in turn; lines that fit and blank lines stay.
        let text = "Dear María,\n\nWe have completed your privacy request PRIV-2026-00042 (access to (a copy of) your personal information, deletion of your personal information),\nreceived on March 3, 2026.\n\n--\nAcme Privacy Team";
        let got = reflow(text);
        for line in got.lines() {
            assert!(line.chars().count() <= TEXT_WIDTH, "{line:?} in\n{got}");
        }
        assert_eq!(
            got,
            "Dear María,\n\nWe have completed your privacy request PRIV-2026-00042 (access to (a copy\nof) your personal information, deletion of your personal information),\nreceived on March 3, 2026.\n\n--\nAcme Privacy Team"
        );
        // A list item continues under its text; the next item is not joined.
        let got = reflow("  - exclusión de la venta o el intercambio de sus datos personales y algo más largo\n  - b");
        assert_eq!(
            got,
            "  - exclusión de la venta o el intercambio de sus datos personales y algo\n    más largo\n  - b"
        );
        // A table whose columns are one space apart: the continuation line below sets the
        // indent. A field line is not joined.
        let got = reflow("  /deny <basis> [explanation] basis: unverifiable, not-a-consumer, exempt, or\n                              other <explanation>\nThe consumer has received: the receipt (a person follows up; no verification code yet)\nAccess requests: 1");
        assert_eq!(
            got,
            "  /deny <basis> [explanation] basis: unverifiable, not-a-consumer, exempt,\n                              or other <explanation>\nThe consumer has received: the receipt (a person follows up; no verification\ncode yet)\nAccess requests: 1"
        );
        // An aligned column continues under its value; a link is never cut.
        let got = reflow("Why:        A privacy request that also asks a question and a second long question here\nRequest:    X");
        assert_eq!(
            got,
            "Why:        A privacy request that also asks a question and a second long\n            question here\nRequest:    X"
        );
        // A command table's description column: the overflow joins its continuation line.
        let got = reflow("  /approve                     go ahead: send the consumer the download link, or\n                               erase the records (one transaction per source)\n  /note <text>                 a note");
        assert_eq!(
            got,
            "  /approve                     go ahead: send the consumer the download\n                               link, or erase the records (one transaction\n                               per source)\n  /note <text>                 a note"
        );
        let link = format!("https://privacy.example.test/d/{}", "x".repeat(90));
        assert_eq!(reflow(&link), link);
        // The verification code stays whole, on the line it fits.
        let code = "contains your confirmation code VERIFY-3f2a9c41d07e5b8a6c1d2e3f4a5b6c7d8e9f0a1b). Nobody else can see this code.";
        let got = reflow(code);
        assert!(
            got.lines()
                .any(|l| l.contains("VERIFY-3f2a9c41d07e5b8a6c1d2e3f4a5b6c7d8e9f0a1b")),
            "{got}"
        );
        assert!(
            got.lines().all(|l| l.chars().count() <= TEXT_WIDTH),
            "{got}"
        );
        assert_eq!(reflow("short\n\nlines\n"), "short\n\nlines\n");
    }
}
