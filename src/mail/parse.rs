//! Raw RFC 5322 bytes → owned [`Inbound`], with mail-parser doing MIME and charsets.
//! Never panics on hostile input: sizes are capped and nothing from the mail is indexed
//! without a check.

use super::{html, text, Inbound};
use anyhow::{bail, Context};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};

/// The most raw bytes parsed from one mail (attachments beyond this are cut off).
pub const MAX_RAW: usize = 25 * 1024 * 1024;
/// The most header lines kept.
const MAX_HEADERS: usize = 2000;

/// Parses one raw mail. Errors for input that is not a mail at all (empty, no headers).
pub fn parse(raw: &[u8]) -> anyhow::Result<Inbound> {
    let raw = raw.get(..MAX_RAW).unwrap_or(raw);
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        bail!("Empty mail");
    }
    let headers = raw_headers(raw);
    if headers.is_empty() {
        bail!("No headers: this is not a mail");
    }
    let msg = MessageParser::default()
        .parse(raw)
        .context("Unparseable mail")?;

    let mut mail = Inbound {
        headers,
        ..Inbound::default()
    };
    mail.message_id = msg.message_id().map(strip_id).filter(|s| !s.is_empty());
    let (from, from_name) = first_addr(msg.from());
    mail.from = from;
    mail.from_name = from_name;
    mail.reply_to = first_addr(msg.reply_to()).0;
    mail.to = msg
        .all_to()
        .chain(msg.all_cc())
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .collect();
    mail.subject = msg.subject().unwrap_or("").trim().to_string();
    mail.date = msg
        .date()
        .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0));
    mail.in_reply_to = ids(msg.in_reply_to());
    mail.references = ids(msg.references());
    mail.content_type = msg
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "text/plain".to_string())
        .to_ascii_lowercase();

    // Body: plain text parts, else HTML turned into text.
    let mut plain = Vec::new();
    let mut htmls = Vec::new();
    for id in msg.text_body.iter().chain(msg.html_body.iter()) {
        match msg.parts.get(*id as usize).map(|p| &p.body) {
            Some(PartType::Text(t)) if !plain.iter().any(|(i, _)| i == id) => {
                plain.push((*id, t.as_ref()))
            }
            Some(PartType::Html(h)) if !htmls.iter().any(|(i, _)| i == id) => {
                htmls.push((*id, h.as_ref()))
            }
            _ => {}
        }
    }
    if plain.iter().any(|(_, t)| !t.trim().is_empty()) {
        mail.body = join_parts(plain.iter().map(|(_, t)| t.to_string()));
    } else if !htmls.is_empty() {
        mail.body = join_parts(htmls.iter().map(|(_, h)| html::html_to_text(h)));
        mail.html_only = true;
    }
    mail.body = text::clip(&mail.body, text::MAX_BODY).to_string();

    // Non-body parts, by MIME type.
    for (idx, part) in msg.parts.iter().enumerate() {
        let idx = idx as u32;
        if msg.text_body.contains(&idx) || msg.html_body.contains(&idx) {
            continue;
        }
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let ct = match part.content_type() {
            Some(ct) => match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            },
            None if matches!(part.body, PartType::Message(_)) => "message/rfc822".to_string(),
            None => "text/plain".to_string(),
        };
        mail.part_types.push(ct.to_ascii_lowercase());
    }

    let split = text::split_body(&mail.body, is_forward_subject(&mail.subject));
    mail.new_text = split.new_text;
    mail.quoted_text = split.quoted_text;
    mail.forwarded = split.forwarded;
    mail.forwarded_from = split.forwarded_from;
    Ok(mail)
}

/// True for subjects like `Fwd:`, `FW:`, `WG:` (de), `TR:` (fr), `RV:`/`Reenviar:` (es).
pub fn is_forward_subject(subject: &str) -> bool {
    let s = subject.trim_start().to_ascii_lowercase();
    [
        "fwd:",
        "fw:",
        "wg:",
        "tr:",
        "rv:",
        "reenviar:",
        "enc:",
        "fwd ",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// True for reply subjects (`Re:`, `AW:`, `RE:`, `Antw:`, `Réf:` …).
pub fn is_reply_subject(subject: &str) -> bool {
    let s = subject.trim_start().to_lowercase();
    [
        "re:", "aw:", "antw:", "réf:", "ref:", "sv:", "r:", "odp:", "re :", "aw :",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

fn join_parts(parts: impl Iterator<Item = String>) -> String {
    parts
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn strip_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![strip_id(t)],
        HeaderValue::TextList(list) => list.iter().map(|t| strip_id(t)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

fn first_addr(addr: Option<&Address<'_>>) -> (Option<String>, Option<String>) {
    let Some(first) = addr.and_then(|a| a.first()) else {
        return (None, None);
    };
    let mut address = first
        .address()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty());
    let mut name = first
        .name()
        .map(|n| n.trim().trim_matches('"').trim().to_string())
        .filter(|n| !n.is_empty());
    // A bare quoted local part (`From: "john smith"@example.test`) is read by the parser as
    // a display name and an address with no local part: put the address back together.
    if let (Some(a), Some(n)) = (&address, &name) {
        if a.starts_with('@') && !n.contains(['"', '\\', '\r', '\n']) {
            address = Some(format!("\"{}\"{a}", n.to_lowercase()));
            name = None;
        }
    }
    (address, name)
}

/// The top-level header block as (lower-cased name, unfolded raw value). A leading mbox
/// `From ` line is skipped; lines that are not headers end the block.
fn raw_headers(raw: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut first = true;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if first && line.starts_with(b"From ") {
            first = false;
            continue;
        }
        first = false;
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some((_, value)) = out.last_mut() {
                if value.len() < 64 * 1024 {
                    value.push_str(&String::from_utf8_lossy(line));
                }
                continue;
            }
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            break;
        };
        let name = line.get(..colon).unwrap_or(b"");
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            break;
        }
        let value = line.get(colon + 1..).unwrap_or(b"");
        out.push((
            String::from_utf8_lossy(name).to_ascii_lowercase(),
            String::from_utf8_lossy(value).trim().to_string(),
        ));
        if out.len() >= MAX_HEADERS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_fields() {
        let raw = b"From: \"Jane Doe\" <Jane.Doe@Example.COM>\r\nTo: Privacy <privacy@acme.example>\r\nCc: b@x.org\r\nSubject: =?utf-8?q?Borrar_mis_datos_=C3=B1?=\r\nMessage-ID: <abc@x>\r\nIn-Reply-To: <p1@x>\r\nReferences: <p0@x>\r\n <p1@x>\r\nX-Long: a\r\n\tb\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nHola.\r\n\r\n> viejo\r\n";
        let m = parse(raw).expect("parses");
        assert_eq!(m.from.as_deref(), Some("jane.doe@example.com"));
        assert_eq!(m.from_name.as_deref(), Some("Jane Doe"));
        assert_eq!(m.to, vec!["privacy@acme.example", "b@x.org"]);
        assert_eq!(m.subject, "Borrar mis datos ñ");
        assert_eq!(m.message_id.as_deref(), Some("abc@x"));
        assert_eq!(m.in_reply_to, vec!["p1@x"]);
        assert_eq!(m.references, vec!["p0@x", "p1@x"]);
        assert_eq!(m.header("x-long"), Some("a\tb"));
        assert_eq!(m.new_text, "Hola.");
        assert_eq!(m.quoted_text, "> viejo");
        assert!(m.date.is_some());
        assert_eq!(m.content_type, "text/plain");
    }

    #[test]
    fn html_only_body() {
        let raw = b"From: a@b.c\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>t</title></head><body><p>Please unsubscribe me</p><blockquote>old</blockquote></body></html>";
        let m = parse(raw).expect("parses");
        assert!(m.html_only);
        assert_eq!(m.new_text, "Please unsubscribe me");
    }

    #[test]
    fn rejects_non_mail() {
        assert!(parse(b"").is_err());
        assert!(parse(b"   \r\n ").is_err());
        assert!(parse(b"\r\n\r\nbody only").is_err());
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let cases: Vec<Vec<u8>> = vec![
            b"From: <>\r\n\r\n".to_vec(),
            b"Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n--x--".to_vec(),
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n".to_vec(),
            b"Subject: =?x?B?////?=\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!".to_vec(),
            vec![0xff; 1000],
            b"A: b\r\n\r\n".iter().chain([0u8, 0xc3, 0x28].iter()).copied().collect(),
            b"Content-Type: text/html\r\n\r\n<<<<>>>><blockquote><blockquote>&#xFFFFFFFF;&#99999999999;".to_vec(),
        ];
        for raw in cases {
            let _ = parse(&raw);
        }
    }
}
