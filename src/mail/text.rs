//! Separating what the sender wrote in *this* mail from what came with it: quoted replies
//! (`>` lines, "On … wrote:" and its es/de/fr/… forms, Outlook header blocks), signatures,
//! mailing-list footers, legal disclaimers and our own acknowledgement quoted back.
//! Forwarded mail is kept: its body is the content (see [`Split::forwarded`]).

use regex::Regex;
use std::sync::LazyLock;

/// The most body text examined; the rest goes to `quoted_text` unread.
pub const MAX_BODY: usize = 512 * 1024;

/// The result of [`split_body`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    /// What the sender wrote, including any forwarded mail's text.
    pub new_text: String,
    /// Everything set aside: quotes, signatures, footers, disclaimers.
    pub quoted_text: String,
    /// True when an inline forwarded mail was found.
    pub forwarded: bool,
    /// The forwarded mail's From address, lower-cased, when one was found.
    pub forwarded_from: Option<String>,
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

fn re(pattern: &str) -> Regex {
    // Only ever called on the constant patterns below; covered by unit tests.
    Regex::new(pattern).expect("built-in text regex compiles")
}

/// "-------- Forwarded Message --------", "Begin forwarded message:", ...
static FORWARD_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:-{2,}\s*(?:forwarded message|mensaje reenviado|weitergeleitete nachricht|message transf[ée]r[ée]|messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada)\s*-{2,}|begin forwarded message\s*:|inicio del mensaje reenviado\s*:|anfang der weitergeleiteten nachricht\s*:|d[ée]but du message r[ée]exp[ée]di[ée]\s*:)",
    )
});

/// A header line inside a forwarded or Outlook-quoted block.
static BLOCK_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\*?(?:from|de|von|da|van|exp[ée]diteur|sent|date|enviado|fecha|gesendet|datum|envoy[ée]|subject|to|cc|asunto|betreff|objet|para|an|à|a|reply-to|kopie|cc|от|отправлено|дата|кому|копия|тема|od|wysłano|do|temat|verzonden|aan|onderwerp|inviato|oggetto|assunto|data)\s*:\*?(?:\s|$)",
    )
});

static BLOCK_FROM: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^\*?(?:from|de|von|da|van|exp[ée]diteur|от|od)\s*:\*?\s"));

static BLOCK_SECOND: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\*?(?:sent|date|enviado|fecha|gesendet|datum|envoy[ée]|subject|asunto|betreff|objet|to|para|an|à|отправлено|дата|кому|тема|wysłano|temat|do|verzonden|aan|onderwerp|inviato|oggetto|assunto|data)\s*:\*?\s",
    )
});

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"));

/// "On … wrote:" in many languages, on one line (the caller also tries two joined lines).
static REPLY_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:(?:on|am|le|el|il|op|em|den|w dniu|dne)\b.{0,300}(?:wrote|schrieb|a [ée]crit|escribi[óo]|ha scritto|schreef|escreveu|skrev|napisa[łl]|napsal)\s*:?\s*$|(?:am|op)\b.{0,200}\b(?:schrieb|schreef)\b.{0,200}:\s*$)",
    )
});

/// Outlook/Exchange "-----Original Message-----" separators.
static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^-{2,}\s*(?:original message|mensaje original|urspr[üu]ngliche nachricht|original nachricht|message d'origine|messaggio originale|oorspronkelijk bericht)\s*-{2,}\s*$",
    )
});

/// One-line mobile signatures.
static MOBILE_SIG: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:sent from my \w+|sent from (?:outlook|yahoo mail|mail) for \w+|get outlook for \w+|enviado desde mi \w+|von meinem \w+ gesendet|envoy[ée] de mon \w+|sent via \w+|отправлено из почты для \w+|отправлено с (?:моего )?\w+)",
    )
});

/// A paragraph that is a legal disclaimer / confidentiality footer.
static DISCLAIMER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:confidentiality (?:notice|note|statement)|privileged and confidential|disclaimer\s*:|this (?:e-?mail|message|communication|transmission)\b[^.]{0,120}\b(?:is|are|may be|may contain|contains?)\b[^.]{0,40}\b(?:confidential|privileged|intended (?:solely|only)?\s*for)|intended (?:solely |only )?for the (?:use of the )?(?:individual|addressee|named|intended|person)|if you (?:are not|have received this)[^.]{0,80}(?:intended recipient|in error)|received this (?:e-?mail|message|communication|transmission) in error|aviso (?:de confidencialidad|legal)\s*:|este (?:mensaje|correo)[^.]{0,120}(?:confidencial|destinatario)|diese (?:e-?mail|nachricht)[^.]{0,120}(?:vertraulich|empf[äa]nger)|ce (?:message|courriel|mail|e-mail)[^.]{0,120}(?:confidentiel|destinataire)|please consider the environment before printing)",
    )
});

/// Our own acknowledgement (or other bot mail) pasted back without quote marks.
static OWN_ACK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:\[PRIV-\d{4}-\d+\]|we (?:have )?received your (?:privacy )?request|your request reference is|hemos recibido su solicitud|wir haben ihre anfrage erhalten|nous avons (?:bien )?re[çc]u votre demande)",
    )
});

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    New,
    /// After "On … wrote:" followed by `>` lines: only `>` lines are old (bottom posting).
    QuotePrefixed,
    /// Everything from here is old (Outlook blocks, unprefixed quotes).
    RestQuoted,
    /// Signature or list footer: old until a forward marker.
    Signature,
    /// Inside a forward whose text is `>`-prefixed (Apple Mail): `>` lines are new.
    ForwardPrefixed,
}

/// Splits a body into new text and the rest. `forward_subject` is true when the mail's
/// subject says it is a forward (`Fwd:`, `FW:`, `WG:`, `TR:`, `RV:`…), so an Outlook header
/// block is read as a forwarded mail rather than a quoted reply.
pub fn split_body(body: &str, forward_subject: bool) -> Split {
    let (body, overflow) = if body.len() > MAX_BODY {
        let head = clip(body, MAX_BODY);
        (head, body.get(head.len()..).unwrap_or(""))
    } else {
        (body, "")
    };
    let lines: Vec<&str> = body.lines().collect();
    let mut split = Split::default();
    let mut new_lines: Vec<&str> = Vec::new();
    let mut old_lines: Vec<&str> = Vec::new();
    let mut mode = Mode::New;
    let mut i = 0;
    while i < lines.len() {
        let line = lines.get(i).copied().unwrap_or("");
        let t = line.trim();
        // A forward marker starts forwarded content from any state but a plain quote.
        let outlook_forward = forward_subject && mode == Mode::New && outlook_block(&lines, i);
        if (mode != Mode::RestQuoted && FORWARD_MARKER.is_match(t)) || outlook_forward {
            split.forwarded = true;
            old_lines.push(line);
            i += 1;
            // Skip the forwarded header block (From:, Date:, Subject:, To: …).
            let mut seen_header = false;
            let mut prefixed = false;
            while let Some(l) = lines.get(i) {
                let mut lt = l.trim();
                if let Some(un) = lt.strip_prefix('>') {
                    prefixed = true;
                    lt = un.trim();
                }
                if BLOCK_HEADER.is_match(lt) {
                    if BLOCK_FROM.is_match(lt) && split.forwarded_from.is_none() {
                        split.forwarded_from =
                            EMAIL.find(lt).map(|m| m.as_str().to_ascii_lowercase());
                    }
                    seen_header = true;
                } else if !(lt.is_empty() || lt.chars().all(|c| c == '_' || c == '-')) {
                    // Wrapped header continuation lines (long To: lists) stay in the block.
                    if !seen_header || !l.starts_with([' ', '\t']) {
                        break;
                    }
                }
                old_lines.push(l);
                i += 1;
            }
            mode = if prefixed {
                Mode::ForwardPrefixed
            } else {
                Mode::New
            };
            continue;
        }
        match mode {
            Mode::ForwardPrefixed => {
                if let Some(un) = line.trim_start().strip_prefix('>') {
                    new_lines.push(un.strip_prefix(' ').unwrap_or(un));
                    i += 1;
                    continue;
                }
                if !t.is_empty() {
                    mode = Mode::New;
                }
                if t.is_empty() {
                    new_lines.push(line);
                    i += 1;
                    continue;
                }
            }
            Mode::RestQuoted | Mode::Signature => {
                old_lines.push(line);
                i += 1;
                continue;
            }
            Mode::QuotePrefixed => {
                if t.starts_with('>') || t.is_empty() {
                    old_lines.push(line);
                    i += 1;
                    continue;
                }
                mode = Mode::New;
            }
            Mode::New => {}
        }
        // Mode::New from here.
        if let Some(header_lines) = reply_header(&lines, i) {
            for k in 0..header_lines {
                if let Some(l) = lines.get(i + k) {
                    old_lines.push(l);
                }
            }
            i += header_lines;
            let next = lines
                .get(i..)
                .unwrap_or(&[])
                .iter()
                .find(|l| !l.trim().is_empty());
            mode = match next {
                Some(l) if l.trim_start().starts_with('>') => Mode::QuotePrefixed,
                _ => Mode::RestQuoted,
            };
            continue;
        }
        if ORIGINAL_MESSAGE.is_match(t) || outlook_block(&lines, i) {
            mode = Mode::RestQuoted;
            continue;
        }
        if t.starts_with('>') {
            old_lines.push(line);
        } else if line == "-- " || t == "--" || is_rule_line(t) {
            mode = Mode::Signature;
            old_lines.push(line);
        } else if MOBILE_SIG.is_match(t) {
            old_lines.push(line);
        } else {
            new_lines.push(line);
        }
        i += 1;
    }
    let (kept, dropped) = drop_paragraphs(&new_lines);
    split.new_text = kept.trim().to_string();
    let mut quoted = old_lines.join("\n");
    if !dropped.is_empty() {
        quoted = format!("{dropped}\n{quoted}");
    }
    quoted.push_str(overflow);
    split.quoted_text = quoted.trim().to_string();
    split
}

/// A long underscore rule (list footers, Outlook separators not followed by a header).
fn is_rule_line(t: &str) -> bool {
    t.len() >= 10 && t.chars().all(|c| c == '_' || c == '=' || c == '*')
}

/// How many lines an "On … wrote:" header spans at `i` (1 or 2, for clients that wrap it).
fn reply_header(lines: &[&str], i: usize) -> Option<usize> {
    let first = lines.get(i)?.trim();
    if first.is_empty() || first.len() > 400 {
        return None;
    }
    if REPLY_HEADER.is_match(first) {
        return Some(1);
    }
    let second = lines.get(i + 1)?.trim();
    if second.len() > 200 || first.ends_with(['.', '!', '?']) {
        return None;
    }
    let joined = format!("{first} {second}");
    REPLY_HEADER.is_match(&joined).then_some(2)
}

/// An Outlook-style quoted header block at `i`: an optional rule line, then "From:" and,
/// within the next four lines, "Sent:"/"Date:"/"Subject:" (or their translations).
fn outlook_block(lines: &[&str], i: usize) -> bool {
    let Some(first) = lines.get(i).map(|l| l.trim()) else {
        return false;
    };
    let start = if is_rule_line(first) { i + 1 } else { i };
    let Some(from) = lines.get(start).map(|l| l.trim()) else {
        return false;
    };
    if !BLOCK_FROM.is_match(from) {
        return false;
    }
    lines
        .iter()
        .skip(start + 1)
        .take(4)
        .any(|l| BLOCK_SECOND.is_match(l.trim()))
}

/// Drops disclaimer paragraphs and our own acknowledgement pasted back; returns
/// (kept text, dropped text).
fn drop_paragraphs(lines: &[&str]) -> (String, String) {
    let mut kept = String::new();
    let mut dropped = String::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, kept: &mut String, dropped: &mut String| {
        if para.is_empty() {
            return;
        }
        let text = para.join("\n");
        let target = if DISCLAIMER.is_match(&text) || OWN_ACK.is_match(&text) {
            dropped
        } else {
            kept
        };
        target.push_str(&text);
        target.push_str("\n\n");
        para.clear();
    };
    for line in lines {
        if line.trim().is_empty() {
            flush(&mut para, &mut kept, &mut dropped);
        } else {
            para.push(line);
        }
    }
    flush(&mut para, &mut kept, &mut dropped);
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_text(body: &str) -> String {
        split_body(body, false).new_text
    }

    #[test]
    fn strips_quotes_table() {
        let cases: &[(&str, &str)] = &[
            ("Please delete my data.\n\n> old text\n> more", "Please delete my data."),
            (
                "Thanks!\n\nOn Mon, 2 Nov 2026 at 10:00, Privacy <privacy@acme.example> wrote:\n> We received your request to delete your personal information",
                "Thanks!",
            ),
            (
                "Gracias\n\nEl lun, 2 nov 2026 a las 10:00, Privacy (<privacy@acme.example>)\nescribió:\n> Hemos recibido su solicitud",
                "Gracias",
            ),
            (
                "Danke\n\nAm 02.11.2026 um 10:00 schrieb Privacy <privacy@acme.example>:\n> alt",
                "Danke",
            ),
            (
                "Merci\n\nLe lun. 2 nov. 2026 à 10:00, Privacy <privacy@acme.example> a écrit :\n> ancien",
                "Merci",
            ),
            (
                "ok\n\n-----Original Message-----\nFrom: Privacy\nSent: Monday\nSubject: x\n\ndelete everything",
                "ok",
            ),
            (
                "ok\n________________________________\nFrom: Privacy <privacy@acme.example>\nSent: Monday\nTo: me\n\ndelete",
                "ok",
            ),
            (
                "ok\n\nDe: Privacy <privacy@acme.example>\nEnviado: lunes\nPara: yo\nAsunto: x\n\nborrar",
                "ok",
            ),
            ("Unsubscribe me\n\n-- \nJane\nhttp://jane.example", "Unsubscribe me"),
            ("Unsubscribe me\n\nSent from my iPhone", "Unsubscribe me"),
            (
                "Delete my account.\n\nCONFIDENTIALITY NOTICE: This e-mail is confidential. If you received it in error, please delete it.",
                "Delete my account.",
            ),
            (
                "Stop the emails.\n\nThis email and any attachments are confidential and intended solely for the addressee. If you are not the intended recipient please delete it.",
                "Stop the emails.",
            ),
            (
                "Hi\n\nWe received your request to delete your personal information. Your request reference is PRIV-2026-00001.",
                "Hi",
            ),
            // Bottom posting: the reply below the quote is new.
            (
                "On Mon, Jane wrote:\n> old line\n\nMy new answer",
                "My new answer",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(new_text(body), *want, "body: {body:?}");
        }
    }

    #[test]
    fn keeps_forwarded_content() {
        let body = "FYI, see below\n\n---------- Forwarded message ---------\nFrom: Ann Lee <Ann@Example.org>\nDate: Mon, 2 Nov 2026\nSubject: my data\nTo: <support@acme.example>\n\nPlease delete my data.\n";
        let s = split_body(body, true);
        assert!(s.forwarded);
        assert_eq!(s.forwarded_from.as_deref(), Some("ann@example.org"));
        assert!(s.new_text.contains("FYI"));
        assert!(s.new_text.contains("Please delete my data."));
        assert!(!s.new_text.contains("Subject:"));
    }

    #[test]
    fn apple_forward_quoted_with_marks_is_content() {
        let body = "Begin forwarded message:\n\n> From: Ann <ann@example.org>\n> Subject: hi\n> Date: Monday\n> \n> Please do not sell my data.\n";
        let s = split_body(body, true);
        assert!(s.forwarded);
        assert_eq!(s.forwarded_from.as_deref(), Some("ann@example.org"));
        assert_eq!(s.new_text, "Please do not sell my data.");
    }

    #[test]
    fn outlook_forward_with_fw_subject() {
        let body = "see below\n\n________________________________\nFrom: Ann <ann@example.org>\nSent: Monday\nTo: support\nSubject: hi\n\nUnsubscribe me please";
        let s = split_body(body, true);
        assert!(s.forwarded);
        assert!(s.new_text.contains("Unsubscribe me please"));
        let s = split_body(body, false);
        assert!(!s.new_text.contains("Unsubscribe"));
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let long = "a".repeat(MAX_BODY + 7);
        let _ = split_body(&long, false);
        let _ = split_body("é".repeat(MAX_BODY).as_str(), true);
        let _ = split_body("On\n", false);
        let _ = split_body("---------- Forwarded message ---------", true);
        let _ = split_body("\n\n\n>", false);
        assert_eq!(clip("héllo", 2), "h");
    }
}
