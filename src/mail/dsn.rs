//! Bounces: which of our mails a delivery report is about, and whether delivery failed for
//! good. Read from the report's standard parts (RFC 3464 `message/delivery-status`, the
//! returned `message/rfc822` or `text/rfc822-headers`), from `X-Failed-Recipients`, and from
//! the `Message-ID:` line of an original quoted inline (qmail and other plain-text bounces).
//!
//! Pure: raw bytes in, a [`Bounce`] out. Only mail already triaged as machine-made is given
//! to it, so a person quoting one of our Message-IDs is never taken for a bounce.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// The most Message-IDs taken from one report (each is looked up in the outbox).
pub const MAX_IDS: usize = 20;
/// The most characters of a diagnostic kept (it goes into a staff mail and the audit log).
const MAX_DIAGNOSTIC: usize = 300;

/// What a delivery report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounce {
    /// Message-IDs (without `<>`) of the original mail the report is about.
    pub original_ids: Vec<String>,
    /// What the report says happened.
    pub verdict: Verdict,
    /// The status and diagnostic, one line: `5.1.1 (550 5.1.1 <x@y>: User unknown)`.
    pub detail: String,
}

/// What a report says happened to the original mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verdict {
    /// Delivery failed for good: `Action: failed`, a 5.x.x status, `X-Failed-Recipients`,
    /// or a plain-text bounce from a mailer daemon.
    Failed,
    /// Not yet delivered; the sender's server keeps trying (`Action: delayed`, 4.x.x).
    Delayed,
    /// Anything else that returns the original: a success notice, an abuse report, an
    /// auto-reply that quotes it.
    #[default]
    Other,
}

/// The delivery report in `raw`, if it is one that names its original mail.
pub fn bounce(raw: &[u8]) -> Option<Bounce> {
    let msg = MessageParser::default().parse(raw)?;
    let mut ids = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut saw_report = false;
    for part in &msg.parts {
        let ct = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
            .unwrap_or_default();
        match &part.body {
            PartType::Message(inner) => push_id(&mut ids, inner),
            _ if ct == "message/delivery-status" || ct == "message/global-delivery-status" => {
                saw_report = true;
                groups.extend(status_groups(&String::from_utf8_lossy(part.contents())));
            }
            _ if ct == "text/rfc822-headers" || ct == "message/global-headers" => {
                if let Some(inner) = MessageParser::default().parse_headers(part.contents()) {
                    push_id(&mut ids, &inner);
                }
            }
            _ => {}
        }
    }
    if ids.is_empty() {
        // Plain-text bounces quote the original inline: its Message-ID line is in the body.
        for id in msg.body_text(0).iter().flat_map(|t| inline_ids(t)) {
            if !ids.contains(&id) && ids.len() < MAX_IDS {
                ids.push(id);
            }
        }
    }
    if ids.is_empty() {
        return None;
    }
    let failed_recipients = msg.header_raw("X-Failed-Recipients").is_some();
    let verdict = if groups.iter().any(|g| g.verdict() == Verdict::Failed) {
        Verdict::Failed
    } else if groups.iter().any(|g| g.verdict() == Verdict::Delayed) {
        Verdict::Delayed
    } else if groups.is_empty() && (failed_recipients || (!saw_report && from_mailer_daemon(&msg)))
    {
        Verdict::Failed
    } else {
        Verdict::Other
    };
    let detail = groups
        .iter()
        .find(|g| g.verdict() == verdict)
        .map(Group::detail)
        .unwrap_or_else(|| match verdict {
            Verdict::Failed => "delivery failed (no status given)".to_string(),
            Verdict::Delayed => "delivery delayed".to_string(),
            Verdict::Other => "a report that returns the original".to_string(),
        });
    Some(Bounce {
        original_ids: ids,
        verdict,
        detail,
    })
}

/// One per-recipient block of a `message/delivery-status` part.
#[derive(Debug, Default)]
struct Group {
    action: String,
    status: String,
    diagnostic: String,
}

impl Group {
    fn verdict(&self) -> Verdict {
        match self.action.as_str() {
            "failed" => Verdict::Failed,
            "delayed" => Verdict::Delayed,
            "delivered" | "relayed" | "expanded" => Verdict::Other,
            _ if self.status.starts_with('5') => Verdict::Failed,
            _ if self.status.starts_with('4') => Verdict::Delayed,
            _ => Verdict::Other,
        }
    }

    fn detail(&self) -> String {
        let status = if self.status.is_empty() {
            self.action.clone()
        } else {
            self.status.clone()
        };
        let mut d = if self.diagnostic.is_empty() {
            status
        } else {
            format!("{status} ({})", self.diagnostic)
        };
        if d.chars().count() > MAX_DIAGNOSTIC {
            d = d.chars().take(MAX_DIAGNOSTIC).collect::<String>() + "…";
        }
        d
    }
}

/// The per-recipient groups (those with an `Action` or `Status`) of a delivery-status body.
fn status_groups(text: &str) -> Vec<Group> {
    let mut out = Vec::new();
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let mut g = Group::default();
        for (name, value) in unfolded_fields(block) {
            match name.as_str() {
                "action" => g.action = value.to_ascii_lowercase(),
                "status" => g.status = value.split_whitespace().next().unwrap_or("").to_string(),
                "diagnostic-code" => {
                    // "smtp; 550 5.1.1 ...": drop the type.
                    let v = value.split_once(';').map_or(value.as_str(), |(_, v)| v);
                    g.diagnostic = v.split_whitespace().collect::<Vec<_>>().join(" ");
                }
                _ => {}
            }
        }
        if !g.action.is_empty() || !g.status.is_empty() {
            out.push(g);
        }
    }
    out
}

/// `Name: value` fields of a header-like block, continuation lines joined, names lowercased.
fn unfolded_fields(block: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            fields.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    fields
}

fn push_id(ids: &mut Vec<String>, msg: &Message<'_>) {
    if let Some(id) = msg.message_id().map(clean_id).filter(|s| !s.is_empty()) {
        if !ids.contains(&id) && ids.len() < MAX_IDS {
            ids.push(id);
        }
    }
}

/// Message-IDs on `Message-ID:` lines of a quoted original in a plain-text bounce.
fn inline_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start_matches(['>', ' ', '\t']);
            let (name, value) = line.split_once(':')?;
            if !name.trim().eq_ignore_ascii_case("message-id") {
                return None;
            }
            let value = value.trim();
            let start = value.find('<')?;
            let end = value[start..].find('>')? + start;
            Some(clean_id(&value[start + 1..end]))
        })
        .filter(|id| !id.is_empty() && id.contains('@'))
        .take(MAX_IDS)
        .collect()
}

fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

fn from_mailer_daemon(msg: &Message<'_>) -> bool {
    let from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_ascii_lowercase();
    let local = from.split('@').next().unwrap_or("");
    matches!(local, "mailer-daemon" | "postmaster" | "mail-daemon")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsn(action: &str, status: &str, original: &str) -> String {
        format!(
            "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n\
             To: privacy@example.com\r\n\
             Subject: Undelivered Mail Returned to Sender\r\n\
             Message-ID: <dsn-1@mx.example.org>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
             \r\n\
             --B\r\n\
             Content-Type: text/plain\r\n\
             \r\n\
             I'm sorry to have to inform you that your message could not be delivered.\r\n\
             --B\r\n\
             Content-Type: message/delivery-status\r\n\
             \r\n\
             Reporting-MTA: dns; mx.example.org\r\n\
             \r\n\
             Final-Recipient: rfc822; jo@example.org\r\n\
             Action: {action}\r\n\
             Status: {status}\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 <jo@example.org>:\r\n \
             Recipient address rejected: User unknown\r\n\
             \r\n\
             --B\r\n\
             {original}\
             --B--\r\n"
        )
    }

    const RFC822: &str = "Content-Type: message/rfc822\r\n\r\n\
        From: privacy@example.com\r\nTo: jo@example.org\r\n\
        Message-ID: <PRIV-2026-00001.abc@example.com>\r\nSubject: [PRIV-2026-00001] Hi\r\n\r\nBody\r\n";
    const HEADERS: &str = "Content-Type: text/rfc822-headers\r\n\r\n\
        From: privacy@example.com\r\nMessage-ID: <PRIV-2026-00002.def@example.com>\r\n\
        Subject: x\r\n\r\n";

    #[test]
    fn a_failed_report_names_the_returned_mail_and_the_diagnostic() {
        let b = bounce(dsn("failed", "5.1.1", RFC822).as_bytes()).expect("a bounce");
        assert_eq!(b.original_ids, vec!["PRIV-2026-00001.abc@example.com"]);
        assert_eq!(b.verdict, Verdict::Failed);
        assert_eq!(
            b.detail,
            "5.1.1 (550 5.1.1 <jo@example.org>: Recipient address rejected: User unknown)"
        );
    }

    #[test]
    fn returned_headers_only_are_enough() {
        let b = bounce(dsn("failed", "5.2.2", HEADERS).as_bytes()).expect("a bounce");
        assert_eq!(b.original_ids, vec!["PRIV-2026-00002.def@example.com"]);
        assert_eq!(b.verdict, Verdict::Failed);
    }

    #[test]
    fn a_delay_warning_is_not_a_failure() {
        let b = bounce(dsn("delayed", "4.4.1", RFC822).as_bytes()).expect("a report");
        assert_eq!(b.verdict, Verdict::Delayed);
        assert!(b.detail.starts_with("4.4.1"), "{}", b.detail);
    }

    #[test]
    fn a_success_notice_is_neither_failure_nor_delay() {
        let b = bounce(dsn("delivered", "2.0.0", RFC822).as_bytes()).expect("a report");
        assert_eq!(b.verdict, Verdict::Other);
    }

    #[test]
    fn a_status_without_an_action_decides_by_its_class() {
        let raw = dsn("", "5.7.1", RFC822).replace("Action: \r\n", "");
        assert_eq!(
            bounce(raw.as_bytes()).map(|b| b.verdict),
            Some(Verdict::Failed)
        );
        let raw = dsn("", "4.2.2", RFC822).replace("Action: \r\n", "");
        assert_eq!(
            bounce(raw.as_bytes()).map(|b| b.verdict),
            Some(Verdict::Delayed)
        );
    }

    #[test]
    fn a_plain_text_bounce_quoting_the_original_inline() {
        let raw = "From: MAILER-DAEMON@mx.example.org\r\nTo: privacy@example.com\r\n\
            Subject: failure notice\r\n\r\n\
            Hi. This is the qmail-send program. I'm afraid I wasn't able to deliver your message.\r\n\
            <jo@example.org>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n\
            --- Below this line is a copy of the message.\r\n\r\n\
            Return-Path: <privacy@example.com>\r\n\
            Message-ID: <PRIV-2026-00003.fed@example.com>\r\nSubject: hi\r\n\r\ntext\r\n";
        let b = bounce(raw.as_bytes()).expect("a bounce");
        assert_eq!(b.original_ids, vec!["PRIV-2026-00003.fed@example.com"]);
        assert_eq!(b.verdict, Verdict::Failed);
    }

    #[test]
    fn an_auto_reply_quoting_nothing_is_not_a_bounce() {
        let raw =
            "From: jo@example.org\r\nTo: privacy@example.com\r\nAuto-Submitted: auto-replied\r\n\
            Subject: Out of office\r\nIn-Reply-To: <PRIV-2026-00001.abc@example.com>\r\n\r\n\
            I am away until Monday.\r\n";
        assert_eq!(bounce(raw.as_bytes()), None);
    }

    #[test]
    fn real_bounces_in_the_shared_corpus_parse_without_panic() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/automated");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: {} not found", dir.display());
            return;
        };
        let (mut n, mut named, mut failed, mut delayed) = (0, 0, 0, 0);
        for e in entries.flatten() {
            let Ok(raw) = std::fs::read(e.path()) else {
                continue;
            };
            n += 1;
            if let Some(b) = bounce(&raw) {
                named += 1;
                failed += usize::from(b.verdict == Verdict::Failed);
                delayed += usize::from(b.verdict == Verdict::Delayed);
                assert!(b.original_ids.len() <= MAX_IDS);
                assert!(b.detail.chars().count() <= MAX_DIAGNOSTIC + 1);
            }
        }
        eprintln!(
            "{n} automated mails: {named} name their original; {failed} failed, {delayed} delayed"
        );
        // Most real DSNs carry the returned mail or its headers.
        assert!(n < 100 || named * 2 > n, "{named} of {n}");
    }
}
