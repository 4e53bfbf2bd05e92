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
                let part = Attachment::new("original-message.eml".into()).body(
                    Body::new_with_encoding(raw.to_vec(), ContentTransferEncoding::Base64)
                        .map_err(|_| anyhow!("Cannot encode the attached message"))?,
                    ct,
                );
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
