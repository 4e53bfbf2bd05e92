//! Inbound mail: parsing raw RFC 5322 bytes into an owned [`Inbound`], telling machine-made
//! mail apart ([`triage`]), and separating the new text from quotes and signatures ([`text`]).

pub mod auth;
pub mod confirm;
pub mod dsn;
pub mod html;
pub mod keys;
pub mod parse;
pub mod text;
pub mod triage;

pub use parse::parse;

/// Parses a mail with a panic guard: a bug in a dependency must not take the daemon down.
pub fn parse_isolated(raw: &[u8]) -> anyhow::Result<Inbound> {
    match std::panic::catch_unwind(|| parse(raw)) {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("The mail parser panicked on this message")),
    }
}

/// One message as the IMAP fetch brought it: bytes and the server's metadata.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// UID.
    pub uid: u32,
    /// RFC822.SIZE.
    pub size: u32,
    /// The server's INTERNALDATE.
    pub internal_date: Option<chrono::DateTime<chrono::Utc>>,
    /// The whole message (`BODY.PEEK[]`: never sets \Seen), or just its header when
    /// `header_only`.
    pub raw: Vec<u8>,
    /// True when only the header was fetched (the message is over the size limit).
    pub header_only: bool,
}

/// A parsed inbound mail, owned, with everything later stages need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inbound {
    /// Message-ID without angle brackets, if the mail had one.
    pub message_id: Option<String>,
    /// The From address, lower-cased (`local@domain`), if there was a usable one.
    pub from: Option<String>,
    /// The display name of From, if any.
    pub from_name: Option<String>,
    /// Reply-To address, lower-cased; informational only, never trusted for identity.
    pub reply_to: Option<String>,
    /// To and Cc addresses, lower-cased.
    pub to: Vec<String>,
    /// Decoded Subject (empty when missing).
    pub subject: String,
    /// The Date header, if it parsed.
    pub date: Option<chrono::DateTime<chrono::Utc>>,
    /// In-Reply-To message IDs, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References message IDs, without angle brackets.
    pub references: Vec<String>,
    /// Every header as (lower-cased name, unfolded raw value), in order.
    pub headers: Vec<(String, String)>,
    /// Top-level MIME type, lower-cased, e.g. `text/plain`, `multipart/report`.
    pub content_type: String,
    /// The whole readable body: text/plain, or text derived from HTML when there is none.
    pub body: String,
    /// True when the body had to be derived from HTML.
    pub html_only: bool,
    /// The text the sender wrote in this mail: quoted replies, forwarded headers and
    /// signatures/legal footers removed. This is what classification reads.
    pub new_text: String,
    /// What was set aside from `body` (quotes, signatures), kept for staff and threading.
    pub quoted_text: String,
    /// MIME types of the non-body parts (attachments, message/rfc822, delivery-status, ...).
    pub part_types: Vec<String>,
    /// True when `new_text` contains a forwarded mail (inline "Forwarded message" block).
    pub forwarded: bool,
    /// The From address of the forwarded mail, lower-cased, when one could be read.
    pub forwarded_from: Option<String>,
}

impl Inbound {
    /// The `References` a reply to this mail carries: its own references, then its Message-ID.
    pub fn reply_references(&self) -> Vec<String> {
        self.references
            .iter()
            .cloned()
            .chain(self.message_id.clone())
            .collect()
    }

    /// The first value of a header (name compared case-insensitively), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}
