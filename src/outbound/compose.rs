//! Builds our outgoing messages: headers (threading, RFC 3834 marks, our Message-ID), plain
//! and HTML bodies, and attachments such as the consumer's original mail.

use crate::outbound::templates::Rendered;
use anyhow::{anyhow, Context, Result};
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use rand::Rng;

/// What kind of automatic mail this is, for the `Auto-Submitted` header (RFC 3834).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoKind {
    /// A reply to a consumer's mail: `auto-replied`.
    Replied,
    /// A notice we generate ourselves (escalations, reminders, digests): `auto-generated`.
    Generated,
}

/// One outgoing message.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// Recipient address.
    pub to: &'a str,
    /// The rendered template.
    pub rendered: &'a Rendered,
    /// Request tag that must appear in the subject, e.g. `PRIV-2026-00001`.
    pub tag: Option<&'a str>,
    /// Message-ID being answered (without brackets).
    pub in_reply_to: Option<&'a str>,
    /// The thread so far (without brackets), oldest first.
    pub references: &'a [String],
    /// `Auto-Submitted` value.
    pub auto: AutoKind,
    /// A message attached as `message/rfc822` (e.g. the consumer's original mail).
    pub attach_rfc822: Option<&'a [u8]>,
    /// Reply-To, when replies must go somewhere other than From.
    pub reply_to: Option<&'a str>,
}

/// Builds messages from our From address.
#[derive(Debug, Clone)]
pub struct Composer {
    from: Mailbox,
    domain: String,
    /// DKIM signing, when `[dkim]` is configured.
    dkim: Option<std::sync::Arc<lettre::message::dkim::DkimConfig>>,
}

impl Composer {
    /// `from` is the configured From header; `domain` the Message-ID domain.
    pub fn new(from: &str, domain: &str) -> Result<Composer> {
        let from: Mailbox = from
            .parse()
            .with_context(|| format!("smtp.from `{from}` is not a valid mailbox"))?;
        Ok(Composer {
            from,
            domain: domain.to_string(),
            dkim: None,
        })
    }

    /// Signs every message built from now on with DKIM (`[dkim]`, its key loaded by
    /// [`crate::outbound::dkim::load`]); `None` leaves it unsigned.
    pub fn with_dkim(mut self, dkim: Option<lettre::message::dkim::DkimConfig>) -> Composer {
        self.dkim = dkim.map(std::sync::Arc::new);
        self
    }

    /// Our From address (`privacy@example.test`), without the display name.
    pub fn from_address(&self) -> String {
        self.from.email.to_string()
    }

    /// `Err(why)` when a mail to `address` cannot be built (the mail library refuses local
    /// parts such as `a..b` or longer than 64 characters): such a sender gets no automatic
    /// reply, and a person decides.
    pub fn check_recipient(&self, address: &str) -> std::result::Result<(), String> {
        recipient(address).map(|_| ()).map_err(|e| format!("{e}"))
    }

    /// A fresh Message-ID on our domain (without brackets), unique and unguessable.
    pub fn new_message_id(&self, hint: &str) -> String {
        let r: u128 = rand::rng().random();
        let hint: String = hint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        format!("{hint}.{r:032x}@{}", self.domain)
    }

    /// Renders the message to bytes with the given Message-ID.
    pub fn build(&self, message_id: &str, m: &Outgoing) -> Result<Vec<u8>> {
        let to = recipient(m.to)
            .map_err(|e| anyhow!("Recipient `{}` is not a valid address: {e}", m.to))?;
        let mut subject = m.rendered.subject.clone();
        if let Some(tag) = m.tag {
            let bracketed = format!("[{tag}]");
            if !subject.contains(&bracketed) {
                subject = format!("{bracketed} {subject}");
            }
        }
        // The envelope is given, not derived from the headers: lettre cannot read a quoted
        // local part (`"john smith"@…`) back from a header it wrote.
        let envelope =
            lettre::address::Envelope::new(Some(self.from.email.clone()), vec![to.email.clone()])
                .map_err(|e| anyhow!("Recipient `{}`: {e}", m.to))?;
        let mut b = Message::builder()
            .envelope(envelope)
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .date_now()
            .message_id(Some(format!("<{message_id}>")))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                match m.auto {
                    AutoKind::Replied => "auto-replied".into(),
                    AutoKind::Generated => "auto-generated".into(),
                },
            ))
            // Asks Exchange/Outlook not to send out-of-office replies to us (loop guard).
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".into(),
            ));
        if let Some(rt) = m.reply_to {
            let rt: Mailbox = rt
                .parse()
                .map_err(|e| anyhow!("Reply-To `{rt}` is not a valid address: {e}"))?;
            b = b.reply_to(rt);
        }
        if let Some(irt) = m.in_reply_to {
            b = b.in_reply_to(format!("<{}>", clean_id(irt)));
        }
        if !m.references.is_empty() {
            let refs: Vec<String> = m
                .references
                .iter()
                .rev()
                .take(20)
                .rev()
                .map(|r| format!("<{}>", clean_id(r)))
                .collect();
            b = b.references(refs.join(" "));
        }
        let body = match &m.rendered.html {
            Some(html) => MultiPart::alternative_plain_html(m.rendered.text.clone(), html.clone()),
            None => MultiPart::mixed().singlepart(SinglePart::plain(m.rendered.text.clone())),
        };
        let mut msg = match m.attach_rfc822 {
            Some(raw) => {
                let ct = ContentType::parse("message/rfc822")
                    .map_err(|e| anyhow!("message/rfc822 content type: {e}"))?;
                let (bytes, encoding) = rfc822_body(raw);
                let part = Attachment::new("original-message.eml".into())
                    .body(Body::dangerous_pre_encoded(bytes, encoding), ct);
                b.multipart(MultiPart::mixed().multipart(body).singlepart(part))
            }
            None => match &m.rendered.html {
                Some(_) => b.multipart(body),
                None => b.singlepart(SinglePart::plain(m.rendered.text.clone())),
            },
        }
        .context("Cannot build the message")?;
        if let Some(dkim) = &self.dkim {
            msg.sign(dkim);
        }
        Ok(msg.formatted())
    }
}

/// Longest line of a 7bit or 8bit body, without its CRLF (RFC 5322 §2.1.1, RFC 2045 §2.7).
const MAX_LINE: usize = 998;

/// The attached original as a `message/rfc822` body and its transfer encoding. RFC 2046
/// §5.2.1 allows only `7bit`, `8bit` or `binary` there (base64 shows as a block of base64 in
/// mail clients), and `binary` needs BINARYMIME, which Postfix does not offer. So the bytes
/// are made valid 8bit: every line ending becomes CRLF (bare CR and bare LF included), NUL
/// bytes are dropped, and a line longer than 998 octets is broken with a CRLF (at a UTF-8
/// character boundary when the line is UTF-8), as Postfix's own `smtp_line_length_limit`
/// would; the inner message is not otherwise re-encoded. The exact bytes stay in the store.
/// `7bit` when the result is all ASCII, else `8bit`.
fn rfc822_body(raw: &[u8]) -> (Vec<u8>, ContentTransferEncoding) {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 64 + 2);
    let mut line_start = 0;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                line_start = out.len();
                // CRLF is one line ending; a bare CR is one too.
                if raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                line_start = out.len();
            }
            0 => {}
            b => {
                if out.len() - line_start >= MAX_LINE {
                    let mut cut = out.len();
                    if b & 0xC0 == 0x80 {
                        // `b` continues a UTF-8 character: break before its first byte.
                        if let Some(at) = out[line_start..].iter().rposition(|&c| c & 0xC0 != 0x80)
                        {
                            let lead = line_start + at;
                            if out.len() - lead < 4 && out[lead] >= 0xC0 {
                                cut = lead;
                            }
                        }
                    }
                    out.splice(cut..cut, *b"\r\n");
                    line_start = cut + 2;
                }
                out.push(b);
            }
        }
        i += 1;
    }
    let encoding = if out.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    (out, encoding)
}

/// The mailbox of a recipient: a bare address, where RFC 5321 quoted local parts
/// (`"john smith"@example.test`) are valid, or `Name <address>`.
fn recipient(to: &str) -> std::result::Result<Mailbox, lettre::address::AddressError> {
    match to.trim().parse::<lettre::Address>() {
        Ok(a) => Ok(Mailbox::new(None, a)),
        Err(_) => to.parse::<Mailbox>(),
    }
}

/// A Message-ID without brackets or characters that could break a header.
fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(b: &[u8]) -> Vec<&[u8]> {
        b.split(|&c| c == b'\n').collect()
    }

    #[test]
    fn the_attached_original_is_7bit_or_8bit_never_base64() {
        let (b, e) = rfc822_body(b"Subject: hi\r\n\r\nplain\r\n");
        assert_eq!(e, ContentTransferEncoding::SevenBit);
        assert_eq!(b, b"Subject: hi\r\n\r\nplain\r\n");
        let (b, e) = rfc822_body("Subject: =?utf-8?q?x?=\r\n\r\nMaría, ¿qué datos?\r\n".as_bytes());
        assert_eq!(e, ContentTransferEncoding::EightBit);
        assert_eq!(
            b,
            "Subject: =?utf-8?q?x?=\r\n\r\nMaría, ¿qué datos?\r\n".as_bytes()
        );
        // Latin-1, not UTF-8: still 8bit, bytes kept.
        let (b, e) = rfc822_body(b"Subject: x\r\n\r\nMar\xeda\r\n");
        assert_eq!(e, ContentTransferEncoding::EightBit);
        assert_eq!(b, b"Subject: x\r\n\r\nMar\xeda\r\n");
    }

    #[test]
    fn bare_cr_bare_lf_and_nul_become_valid_8bit() {
        let (b, _) = rfc822_body(b"A: 1\nB: 2\r\rC\0D\r\n\nbody\n");
        assert_eq!(b, b"A: 1\r\nB: 2\r\n\r\nCD\r\n\r\nbody\r\n");
        for w in b.windows(2) {
            assert!(w[1] != b'\n' || w[0] == b'\r', "bare LF in {b:?}");
        }
        assert!(!b.contains(&0));
    }

    #[test]
    fn lines_over_998_octets_are_broken_not_inside_a_character() {
        let mut raw = b"Subject: x\r\n\r\n".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 997));
        raw.extend("é".repeat(600).as_bytes()); // 997 + 1200 octets on one line
        raw.extend(b"\r\nend\r\n");
        let (b, e) = rfc822_body(&raw);
        assert_eq!(e, ContentTransferEncoding::EightBit);
        for l in lines(&b) {
            assert!(l.len() <= MAX_LINE + 1, "a line of {} octets", l.len());
            assert!(std::str::from_utf8(l).is_ok(), "a character was cut");
        }
        // Only CRLFs were added.
        let stripped: Vec<u8> = b
            .iter()
            .copied()
            .filter(|&c| c != b'\r' && c != b'\n')
            .collect();
        let want: Vec<u8> = raw
            .iter()
            .copied()
            .filter(|&c| c != b'\r' && c != b'\n')
            .collect();
        assert_eq!(stripped, want);
    }
}
