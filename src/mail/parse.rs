//! Raw RFC 5322 bytes → an owned [`Inbound`], with mail-parser (`full_encoding`).

use super::{text, Inbound};
use anyhow::{anyhow, Result};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

/// Parses a mail. Errors for input that is not a mail at all (empty, no header).
pub fn parse(raw: &[u8]) -> Result<Inbound> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(anyhow!("Empty message"));
    }
    let m = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| anyhow!("Not an RFC 5322 message"))?;
    if m.headers().is_empty() {
        return Err(anyhow!("The message has no header"));
    }
    let first = m.from().and_then(|a| a.first());
    let from = first
        .and_then(|a| a.address())
        .and_then(crate::address::bare_address);
    let from_name = first
        .and_then(|a| a.name())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let reply_to = m
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .and_then(crate::address::bare_address);
    let mut to = Vec::new();
    for list in [m.to(), m.cc()].into_iter().flatten() {
        for a in list.iter() {
            if let Some(b) = a.address().and_then(crate::address::bare_address) {
                to.push(b);
            }
        }
    }
    let ids = |v: &HeaderValue| -> Vec<String> {
        v.as_text_list()
            .map(|l| {
                l.iter()
                    .map(|s| clean_id(s))
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let headers: Vec<(String, String)> = m
        .headers_raw()
        .map(|(n, v)| (n.to_ascii_lowercase(), unfold(v)))
        .collect();
    let content_type = m
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        })
        .unwrap_or_else(|| "text/plain".into());
    let has_plain = m.text_body.iter().any(|&i| {
        m.parts
            .get(i as usize)
            .is_some_and(|p| p.is_text() && !p.is_text_html())
    });
    let body = m.body_text(0).map(|c| c.into_owned()).unwrap_or_default();
    let html_only = !has_plain && !m.html_body.is_empty();
    let part_types: Vec<String> = m
        .parts
        .iter()
        .skip(1)
        .filter_map(|p| {
            p.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
                None => ct.ctype().to_ascii_lowercase(),
            })
        })
        .collect();
    let (new_text, quoted_text) = text::split(&body);
    Ok(Inbound {
        message_id: m.message_id().map(clean_id).filter(|s| !s.is_empty()),
        from,
        from_name,
        reply_to,
        to,
        subject: m.subject().unwrap_or("").trim().to_string(),
        date: m
            .date()
            .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0)),
        in_reply_to: ids(m.in_reply_to()),
        references: ids(m.references()),
        headers,
        content_type,
        body,
        html_only,
        new_text,
        quoted_text,
        part_types,
    })
}

fn clean_id(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

fn unfold(v: &str) -> String {
    v.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
