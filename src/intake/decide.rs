//! The decision: what one parsed mail means, given what the store and the settings know about
//! it ([`Known`]). Pure: no store, no clock, no network; [`super::known`] loads the facts
//! first and the intake module applies it.

use crate::classify::{Action, Classification};
use crate::mail::auth::AuthVerdict;
use crate::mail::confirm::{self, ReplyIntent};
use crate::mail::{self, Inbound};
use crate::request::lifecycle::Status;
use crate::staff::command::{self, Parsed};
use crate::store::requests::Request;
use crate::store::types::Filed;

/// What is known about a mail before deciding: loaded by [`super::known::load`].
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The same mail (Message-ID or hash, and fingerprint) was recorded before.
    pub seen: bool,
    /// Its Message-ID is one this store sent: our own Bcc copy coming back.
    pub ours: bool,
    /// It looks like our kind of mail (our address, our Message-ID domain, automatic).
    pub looks_like_ours: bool,
    /// The request it continues, by its references or its subject tag.
    pub thread: Option<Thread>,
    /// The sender is one of `staff.members`.
    pub sender_is_staff: bool,
    /// What our own receiving server's `Authentication-Results` say.
    pub auth: AuthVerdict,
    /// `imap.authserv-id`, when configured: staff commands need a verdict from it.
    pub authserv_id: Option<String>,
    /// Why no reply can be built for the sender's address, when none can.
    pub unreplyable: Option<String>,
    /// The classifier's reading (not computed for staff senders).
    pub classification: Option<Classification>,
    /// An open request of the sender's whose kinds cover everything the mail asks for.
    pub covering: Option<String>,
}

/// What is known about the request a mail continues.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    /// The request's ID.
    pub id: String,
    /// The stored request (`None` when it is gone).
    pub request: Option<Request>,
    /// The mail carries the request's staff token (subject or a recipient address).
    pub staff_token: bool,
    /// The mail presents a verification code that matches the stored hash.
    pub code_valid: bool,
    /// The account number in the mail matches the directory (true without a directory).
    pub account_ok: bool,
    /// The texts of the mails we sent the consumer on this request: what a reply pastes
    /// back of them is ours, never the consumer's confirmation.
    pub ours: Vec<String>,
}

/// What to do with a mail. Replaces the disposition strings: each variant carries what
/// carrying it out needs; [`Disposition::filed`] is the stored disposition.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Recorded before: nothing happens.
    Duplicate,
    /// Our own copy of a mail we sent: confirms the outbox row.
    OwnCopy,
    /// Our kind of mail this store never sent: another bot answers this mailbox.
    ForeignCopy,
    /// Machine-made (a bounce about our mail is recorded on its request).
    Automated(String),
    /// Set aside for a person, with the reason.
    Quarantine(String),
    /// On a request's thread: what the reply means.
    Reply {
        /// The request.
        request_id: String,
        /// What to do.
        step: ReplyStep,
    },
    /// A staff address writing outside any request thread.
    StaffUnthreaded {
        /// The mail holds a command (it is answered with a refusal).
        command: bool,
    },
    /// Not a privacy request and nothing a person needs to see.
    Ignore(String),
    /// The same person asking again for what an open request already covers.
    FollowUp {
        /// The open request.
        request_id: String,
        /// Staff must look too, with this reason.
        escalate: Option<String>,
        /// The classification.
        classification: Classification,
    },
    /// A new request: acknowledged, or escalated with the reason.
    Open {
        /// Why staff must look first (no acknowledgement then).
        escalate: Option<String>,
        /// The classification (with the spoofing / address reasons added).
        classification: Classification,
    },
}

/// What a mail on a request's thread means.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyStep {
    /// The request is gone.
    UnknownRequest,
    /// From a staff address and proven: a command or a note ([`crate::staff::actions`]).
    Staff,
    /// From a staff address, not proven, no command: recorded only.
    StaffUnproven(String),
    /// A command that does not prove who sent it: refused and escalated.
    CommandRefused {
        /// For staff.
        why: String,
        /// The audit event's detail.
        detail: String,
    },
    /// The requester says they did not make the request.
    Disavowed(String),
    /// A verification reply that does not verify: escalated.
    NotVerified(String),
    /// An automatic reply echoing the code: the code stays valid.
    MachineEcho(String),
    /// Verified by the reply.
    Verified {
        /// The consumer also asks a question.
        question: bool,
    },
    /// The requester's address asks for a fresh download link (`/resend`); the link goes
    /// to the address on file only.
    Resend {
        /// Our own server's authentication results vouch for the sender (no failure, and a
        /// verdict from our server, so only with `imap.authserv-id` set). Unproven, it may
        /// not void a link that still works.
        proven: bool,
    },
    /// Something a person must read.
    Escalate(String),
    /// Recorded on the request.
    Recorded,
}

impl Disposition {
    /// The stored disposition (`store::inbox`'s `disposition` column); a machine-made mail
    /// that turns out to be a bounce of ours is filed as [`Filed::Bounce`] when applied.
    pub fn filed(&self) -> Filed {
        match self {
            Disposition::Duplicate => Filed::Duplicate,
            Disposition::OwnCopy => Filed::OwnCopy,
            Disposition::ForeignCopy => Filed::ForeignCopy,
            Disposition::Automated(_) => Filed::Ignored,
            Disposition::Quarantine(_) => Filed::Quarantined,
            Disposition::Reply { .. } => Filed::Reply,
            Disposition::StaffUnthreaded { .. } => Filed::Staff,
            Disposition::Ignore(_) => Filed::Ignored,
            Disposition::FollowUp { .. } => Filed::FollowUp,
            Disposition::Open {
                escalate: Some(_), ..
            } => Filed::Escalated,
            Disposition::Open { escalate: None, .. } => Filed::Request,
        }
    }
}

/// Prefix of the classification reason added when a first mail fails authentication.
pub const SPOOFING: &str = "Suspected spoofing, not answered";

/// Prefix of the classification reason added when the sender's address cannot be written to.
pub const UNREPLYABLE: &str = "Not answered: the sender's address cannot be replied to";

/// Decides what `mail` means. `Known::classification` must be set for a non-staff sender.
pub fn decide(mail: &Inbound, k: &Known) -> Disposition {
    if k.seen {
        return Disposition::Duplicate;
    }
    if mail.message_id.is_some() {
        if k.ours {
            return Disposition::OwnCopy;
        }
        if k.looks_like_ours {
            return Disposition::ForeignCopy;
        }
    }
    if let Some(why) = mail::triage::automated(mail) {
        return Disposition::Automated(why);
    }
    let Some(sender) = mail.from.as_deref() else {
        return Disposition::Quarantine("No usable From address".into());
    };
    if let Some(t) = &k.thread {
        return Disposition::Reply {
            request_id: t.id.clone(),
            step: reply_step(mail, sender, t, k),
        };
    }
    if k.sender_is_staff {
        // Staff write to the bot only in a request's thread; anything else is theirs (a
        // reply to a digest, a test mail), never a consumer request.
        return Disposition::StaffUnthreaded {
            command: !matches!(
                command::parse(command::first_line(&mail.new_text)),
                Parsed::NotACommand
            ),
        };
    }
    let mut c = k.classification.clone().unwrap_or_default();
    // A first mail whose From failed SPF/DKIM/DMARC is not answered: an acknowledgement
    // (with its verification code) to a forged From would make us a spam reflector.
    if c.action == Action::Handle {
        if let Some(why) = &k.auth.failure {
            c.action = Action::Escalate;
            c.reasons.push(format!("{SPOOFING}: {why}"));
        }
    }
    // An address our mail library cannot write to gets no acknowledgement.
    if c.action == Action::Handle {
        if let Some(why) = &k.unreplyable {
            c.action = Action::Escalate;
            c.reasons.push(format!("{UNREPLYABLE}: {why}"));
        }
    }
    match c.action {
        Action::Ignore => Disposition::Ignore(format!("Classifier: {}", c.reasons.join("; "))),
        Action::Handle | Action::Escalate => {
            // One request per need (not for agents: one agent, many consumers).
            if let Some(open) = &k.covering {
                let escalate = (c.action == Action::Escalate || c.question).then(|| {
                    format!(
                        "The consumer writes again about this open request: {}",
                        escalation_reason(&c)
                    )
                });
                return Disposition::FollowUp {
                    request_id: open.clone(),
                    escalate,
                    classification: c,
                };
            }
            let escalate = (c.action == Action::Escalate).then(|| escalation_reason(&c));
            Disposition::Open {
                escalate,
                classification: c,
            }
        }
    }
}

/// What a mail on the thread of request `t` means.
fn reply_step(mail: &Inbound, sender: &str, t: &Thread, k: &Known) -> ReplyStep {
    let Some(r) = &t.request else {
        return ReplyStep::UnknownRequest;
    };
    let line = command::first_line(&mail.new_text);
    let parsed = command::parse(line);
    if k.sender_is_staff {
        // A staff address in From proves nothing by itself: a command must also carry this
        // request's staff token and not be failed by our own server.
        let Err(why) = staff_proof(t, k) else {
            return ReplyStep::Staff;
        };
        if matches!(parsed, Parsed::NotACommand) {
            return ReplyStep::StaffUnproven(format!(
                "Mail from a staff address, not proven ({why}): recorded only"
            ));
        }
        let why = format!("A staff command that does not prove who sent it: refused. {why}");
        return ReplyStep::CommandRefused {
            detail: format!("{}: {why}", crate::outbound::facts::clean_line(line, 200)),
            why,
        };
    }
    let same_sender =
        crate::address::base_address(sender) == crate::address::base_address(&r.requester);
    // The one command a consumer may give: a fresh download link, to the address on file.
    if matches!(parsed, Parsed::Ok(command::Command::Resend)) && same_sender {
        if let Some(why) = &k.auth.failure {
            return ReplyStep::CommandRefused {
                why: format!("Suspected spoofing: a /resend in the requester's name ({why}): refused; their link is untouched"),
                detail: line.to_string(),
            };
        }
        return ReplyStep::Resend {
            // Without `imap.authserv-id` no Authentication-Results header can be trusted
            // (RFC 8601 §5): a From: alone proves nothing, so the link stays.
            proven: k.auth.from_our_server,
        };
    }
    if matches!(parsed, Parsed::Ok(_) | Parsed::Invalid { .. }) {
        return ReplyStep::CommandRefused {
            why: format!(
                "A staff command from a non-staff address ({}): refused",
                crate::address::mask(sender)
            ),
            detail: line.to_string(),
        };
    }
    let c = k.classification.clone().unwrap_or_default();
    let auth_failure = k.auth.failure.clone();
    // "I did not send this" from the requester's own address, whatever else the reply
    // carries (the code, a kind): nothing more happens automatically.
    if same_sender && auth_failure.is_none() {
        if let ReplyIntent::Disavows(phrase) = confirm::reply_intent(&mail.new_text) {
            return ReplyStep::Disavowed(phrase);
        }
    }
    if r.status == Status::AwaitingVerification {
        let problem = if !same_sender {
            Some(format!(
                "Verification reply from another address ({})",
                crate::address::mask(sender)
            ))
        } else if let Some(why) = auth_failure {
            Some(format!("Suspected spoofing: {why}"))
        } else if !t.code_valid {
            Some("Reply without a valid verification token".to_string())
        } else if !t.account_ok {
            Some("The account number in the reply does not match the account directory".into())
        } else {
            None
        };
        if let Some(problem) = problem {
            return ReplyStep::NotVerified(problem);
        }
        // An auto-responder that echoes our subject (and so the code) confirms nothing.
        // So does our own mail pasted back unquoted: text that is ours is never the
        // consumer's confirmation.
        if let ReplyIntent::Machine(phrase) = confirm::verification_reply(&mail.new_text, &t.ours) {
            return ReplyStep::MachineEcho(format!(
                "Not verified: an automatic reply (\"{}\"), not a confirmation; the code stays valid",
                crate::outbound::facts::clean_line(&phrase, 80)
            ));
        }
        return ReplyStep::Verified {
            question: c.question,
        };
    }
    let closed = r.status.is_terminal();
    if !same_sender || auth_failure.is_some() || c.question || !c.kinds.is_empty() || closed {
        let why = if !same_sender {
            "Mail on the thread from another address".to_string()
        } else if let Some(a) = auth_failure {
            format!("Suspected spoofing: {a}")
        } else if closed {
            format!(
                "The consumer writes again about this {} request: a follow-up for a person",
                r.status.as_str().replace('_', " ")
            )
        } else if c.question {
            "The consumer asks a question in the thread".to_string()
        } else {
            "The consumer writes again about the request".to_string()
        };
        return ReplyStep::Escalate(why);
    }
    ReplyStep::Recorded
}

/// `Err(why)` unless a mail from a staff address proves it comes from staff: it carries the
/// request's staff token and our own server did not fail its authentication (nor, with an
/// authserv-id configured, leave it without a verdict).
fn staff_proof(t: &Thread, k: &Known) -> Result<(), String> {
    if let Some(why) = &k.auth.failure {
        return Err(format!("Suspected spoofing of a staff address: {why}"));
    }
    if let Some(id) = &k.authserv_id {
        if !k.auth.from_our_server {
            return Err(format!(
                "No Authentication-Results from our server ({id}) on the mail"
            ));
        }
    }
    if !t.staff_token {
        return Err(format!(
            "The mail does not carry the staff token of {}: reply to the bot's staff mail \
             about it, keeping its subject and recipient, or use `privacy-inbox requests ...` \
             on the server",
            t.id
        ));
    }
    Ok(())
}

/// Why a classification sends a mail to staff, in one line.
pub fn escalation_reason(c: &Classification) -> String {
    if let Some(r) = c
        .reasons
        .iter()
        .find(|r| r.starts_with(SPOOFING) || r.starts_with(UNREPLYABLE))
    {
        r.clone()
    } else if c.agent {
        "Sent by an authorized agent or on someone else's behalf".into()
    } else if c.kinds.is_empty() {
        "Not a recognisable privacy request (question, complaint or other mail)".into()
    } else if c.question {
        "A privacy request that also asks a question".into()
    } else if !c.unplaced.is_empty() {
        format!(
            "A privacy request with {} sentence(s) the bot could not place (shown below)",
            c.unplaced.len()
        )
    } else {
        format!("Low confidence ({:.2})", c.confidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use crate::request::deadlines::Jurisdiction;

    const CONSUMER: &str = "jo@consumer.example.test";
    /// The text of the acknowledgement we sent on the request, code line included.
    const ACK_SENT: &str = "We handle it under the EU General Data Protection Regulation (GDPR)\r\nand will respond by December 28, 2026 at the latest.\r\n\r\nBefore we act on it, we need to confirm that this request comes from you. Please\r\nsimply reply to this mail from jo@consumer.example.test, keeping the subject as it is (it\r\ncontains your confirmation code VERIFY-3f2a9c41d07e5b8a6c1d2e3f4a5b6c7d). Nobody else can see this code.\r\nIf you did not send this request, ignore this mail and nothing will happen.";
    const STAFF: &str = "dpo@acme.example.test";

    /// A mail from `from` ("" for none) with `body`, plus `extra` header lines.
    fn mail(from: &str, extra: &str, body: &str) -> Inbound {
        let from = if from.is_empty() {
            String::new()
        } else {
            format!("From: {from}\r\n")
        };
        let raw = format!(
            "{from}To: privacy@acme.example.test\r\nSubject: Privacy\r\n\
             Message-ID: <m1@consumer.example.test>\r\n{extra}\r\n{body}\r\n"
        );
        crate::mail::parse(raw.as_bytes()).unwrap_or_default()
    }

    fn request(status: Status) -> Request {
        Request {
            id: "PRIV-2026-00001".into(),
            status,
            kinds: vec![Kind::Delete],
            requester: CONSUMER.into(),
            requester_name: String::new(),
            language: "en".into(),
            jurisdiction: Jurisdiction::Ccpa,
            law_reason: String::new(),
            received_at: "2026-11-02T10:00:00Z".into(),
            confirm_by: None,
            due_at: "2026-12-17T10:00:00Z".into(),
            extended_due_at: None,
            extended: false,
            escalated: false,
            escalation_reason: String::new(),
            verified: false,
            agent: false,
            subject: "Privacy".into(),
            origin_message_id: None,
            assignee: String::new(),
            denial_basis: None,
            denial_detail: String::new(),
            extension_reason: String::new(),
            responded_at: None,
            created_at: "2026-11-02T10:00:00Z".into(),
            updated_at: "2026-11-02T10:00:00Z".into(),
        }
    }

    fn classified(action: Action, kinds: &[Kind]) -> Classification {
        Classification {
            action,
            kinds: kinds.to_vec(),
            language: "en".into(),
            confidence: 0.9,
            ..Classification::default()
        }
    }

    fn consumer(c: Classification) -> Known {
        Known {
            classification: Some(c),
            ..Known::default()
        }
    }

    fn on_thread(status: Status, code_valid: bool, c: Classification) -> Known {
        Known {
            thread: Some(Thread {
                id: "PRIV-2026-00001".into(),
                request: Some(request(status)),
                staff_token: false,
                code_valid,
                account_ok: true,
                ours: vec![ACK_SENT.into()],
            }),
            classification: Some(c),
            ..Known::default()
        }
    }

    fn staff_on_thread(token: bool) -> Known {
        Known {
            sender_is_staff: true,
            thread: Some(Thread {
                id: "PRIV-2026-00001".into(),
                request: Some(request(Status::Verified)),
                staff_token: token,
                code_valid: false,
                account_ok: true,
                ours: Vec::new(),
            }),
            ..Known::default()
        }
    }

    fn failed_auth() -> AuthVerdict {
        AuthVerdict {
            failure: Some("dmarc=fail in Authentication-Results".into()),
            from_our_server: true,
        }
    }

    fn step(d: &Disposition) -> Option<&ReplyStep> {
        match d {
            Disposition::Reply { step, .. } => Some(step),
            _ => None,
        }
    }

    /// What kind of answer a case expects; the text of reasons is checked where it matters.
    #[derive(Debug)]
    #[allow(clippy::large_enum_variant)] // a test table; Classification carries its sentence readings
    enum Want {
        Is(Disposition),
        Step(fn(&ReplyStep) -> bool),
        Open(Option<&'static str>),
        FollowUp(bool),
        Quarantine,
        Ignore,
        Automated,
    }

    #[test]
    fn each_mail_gets_the_decision_its_facts_call_for() {
        use Want::*;
        let handle = || classified(Action::Handle, &[Kind::Delete]);
        let plain = "Please delete my data.";
        let thanks = "Thank you.";
        let cases: Vec<(&str, Inbound, Known, Want)> = vec![
            (
                "seen before: a duplicate, whatever else it is",
                mail(CONSUMER, "", plain),
                Known {
                    seen: true,
                    ours: true,
                    ..consumer(handle())
                },
                Is(Disposition::Duplicate),
            ),
            (
                "our own Bcc copy",
                mail(
                    "privacy@acme.example.test",
                    "Auto-Submitted: auto-replied\r\n",
                    plain,
                ),
                Known {
                    ours: true,
                    looks_like_ours: true,
                    ..Known::default()
                },
                Is(Disposition::OwnCopy),
            ),
            (
                "our kind of mail this store never sent",
                mail(
                    "privacy@acme.example.test",
                    "Auto-Submitted: auto-replied\r\n",
                    plain,
                ),
                Known {
                    looks_like_ours: true,
                    ..Known::default()
                },
                Is(Disposition::ForeignCopy),
            ),
            (
                "an auto-reply is never answered",
                mail(CONSUMER, "Auto-Submitted: auto-replied\r\n", "I am away."),
                consumer(handle()),
                Automated,
            ),
            (
                "a bulk mail is never answered",
                mail(CONSUMER, "Precedence: bulk\r\n", plain),
                consumer(handle()),
                Automated,
            ),
            (
                "no usable From address: quarantined",
                Inbound {
                    from: None,
                    ..mail("jo at consumer", "", plain)
                },
                consumer(handle()),
                Quarantine,
            ),
            (
                "a reply to a request that is gone",
                mail(CONSUMER, "", thanks),
                Known {
                    thread: Some(Thread {
                        id: "PRIV-2026-00009".into(),
                        ..Thread::default()
                    }),
                    ..consumer(handle())
                },
                Step(|s| *s == ReplyStep::UnknownRequest),
            ),
            (
                "staff with the request's token: a command to carry out",
                mail(STAFF, "", "/complete"),
                staff_on_thread(true),
                Step(|s| *s == ReplyStep::Staff),
            ),
            (
                "staff without the token, plain text: recorded only",
                mail(STAFF, "", "I will call them."),
                staff_on_thread(false),
                Step(|s| matches!(s, ReplyStep::StaffUnproven(w) if w.contains("staff token"))),
            ),
            (
                "staff without the token giving a command: refused",
                mail(STAFF, "", "/complete"),
                staff_on_thread(false),
                Step(
                    |s| matches!(s, ReplyStep::CommandRefused { why, .. } if why.contains("staff token")),
                ),
            ),
            (
                "staff with the token but failing DMARC: refused as spoofing",
                mail(STAFF, "", "/complete"),
                Known {
                    auth: failed_auth(),
                    ..staff_on_thread(true)
                },
                Step(
                    |s| matches!(s, ReplyStep::CommandRefused { why, .. } if why.contains("Suspected spoofing")),
                ),
            ),
            (
                "staff with the token, authserv-id set, no verdict from our server: refused",
                mail(STAFF, "", "/verify"),
                Known {
                    authserv_id: Some("mx.acme.example.test".into()),
                    ..staff_on_thread(true)
                },
                Step(
                    |s| matches!(s, ReplyStep::CommandRefused { why, .. } if why.contains("mx.acme.example.test")),
                ),
            ),
            (
                "a consumer typing a staff command: refused",
                mail(CONSUMER, "", "/complete"),
                on_thread(Status::Verified, false, classified(Action::Handle, &[])),
                Step(
                    |s| matches!(s, ReplyStep::CommandRefused { why, .. } if why.contains("non-staff")),
                ),
            ),
            (
                "a consumer approving their own erasure: refused",
                mail(CONSUMER, "", "/approve"),
                on_thread(Status::Verified, false, classified(Action::Escalate, &[])),
                Step(
                    |s| matches!(s, ReplyStep::CommandRefused { why, .. } if why.contains("non-staff")),
                ),
            ),
            (
                "a staff address without the token approving an erasure: refused",
                mail(STAFF, "", "/approve"),
                staff_on_thread(false),
                Step(
                    |s| matches!(s, ReplyStep::CommandRefused { why, .. } if why.contains("staff token")),
                ),
            ),
            (
                "a staff address without the token handing a request back: refused",
                mail(STAFF, "", "/handle access"),
                staff_on_thread(false),
                Step(|s| matches!(s, ReplyStep::CommandRefused { .. })),
            ),
            (
                "the requester asks for a fresh download link, our server vouching",
                mail(CONSUMER, "", "/resend"),
                Known {
                    authserv_id: Some("mx.acme.example.test".into()),
                    auth: AuthVerdict {
                        failure: None,
                        from_our_server: true,
                    },
                    ..on_thread(Status::Verified, false, classified(Action::Escalate, &[]))
                },
                Step(|s| *s == ReplyStep::Resend { proven: true }),
            ),
            (
                "a /resend in the requester's name with no authserv-id configured: its From: proves nothing",
                mail(CONSUMER, "", "/resend"),
                on_thread(Status::Verified, false, classified(Action::Escalate, &[])),
                Step(|s| *s == ReplyStep::Resend { proven: false }),
            ),
            (
                "the requester's /resend without a verdict from our server: unproven",
                mail(CONSUMER, "", "/resend"),
                Known {
                    authserv_id: Some("mx.acme.example.test".into()),
                    ..on_thread(Status::Verified, false, classified(Action::Escalate, &[]))
                },
                Step(|s| *s == ReplyStep::Resend { proven: false }),
            ),
            (
                "a /resend in the requester's name failing authentication: refused",
                mail(CONSUMER, "", "/resend"),
                Known {
                    auth: failed_auth(),
                    ..on_thread(Status::Verified, false, classified(Action::Escalate, &[]))
                },
                Step(
                    |s| matches!(s, ReplyStep::CommandRefused { why, .. } if why.contains("spoofing")),
                ),
            ),
            (
                "someone else asking for the requester's link: refused",
                mail("other@example.test", "", "/resend"),
                on_thread(Status::Verified, false, classified(Action::Escalate, &[])),
                Step(|s| matches!(s, ReplyStep::CommandRefused { .. })),
            ),
            (
                "the requester says they did not send it, even with a valid code",
                mail(CONSUMER, "", "I did not send this request."),
                on_thread(
                    Status::AwaitingVerification,
                    true,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| matches!(s, ReplyStep::Disavowed(_))),
            ),
            (
                "a disavowal from another address verifies nothing and voids nothing",
                mail("other@example.test", "", "I did not send this request."),
                on_thread(
                    Status::AwaitingVerification,
                    true,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| matches!(s, ReplyStep::NotVerified(p) if p.contains("another address"))),
            ),
            (
                "the requester replies with the valid code: verified",
                mail(CONSUMER, "", "Yes, that was me."),
                on_thread(
                    Status::AwaitingVerification,
                    true,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| *s == ReplyStep::Verified { question: false }),
            ),
            (
                "verified, and the consumer asks a question too",
                mail(CONSUMER, "", "Yes. Who did you share it with?"),
                on_thread(
                    Status::AwaitingVerification,
                    true,
                    Classification {
                        question: true,
                        ..classified(Action::Escalate, &[])
                    },
                ),
                Step(|s| *s == ReplyStep::Verified { question: true }),
            ),
            (
                "a reply without a valid code does not verify",
                mail(CONSUMER, "", "Yes, that was me."),
                on_thread(
                    Status::AwaitingVerification,
                    false,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| matches!(s, ReplyStep::NotVerified(p) if p.contains("token"))),
            ),
            (
                "the account number does not match the directory",
                mail(CONSUMER, "", "Yes, account 999."),
                Known {
                    thread: Some(Thread {
                        id: "PRIV-2026-00001".into(),
                        request: Some(request(Status::AwaitingVerification)),
                        staff_token: false,
                        code_valid: true,
                        account_ok: false,
                        ours: Vec::new(),
                    }),
                    ..consumer(classified(Action::Escalate, &[]))
                },
                Step(|s| matches!(s, ReplyStep::NotVerified(p) if p.contains("account number"))),
            ),
            (
                "a verification reply failing DMARC: spoofing, not verified",
                mail(CONSUMER, "", "Yes, that was me."),
                Known {
                    auth: failed_auth(),
                    ..on_thread(
                        Status::AwaitingVerification,
                        true,
                        classified(Action::Escalate, &[]),
                    )
                },
                Step(
                    |s| matches!(s, ReplyStep::NotVerified(p) if p.contains("Suspected spoofing")),
                ),
            ),
            (
                "an out-of-office echoing the code does not verify",
                mail(
                    CONSUMER,
                    "",
                    "I am out of the office until Monday with limited access to email.",
                ),
                on_thread(
                    Status::AwaitingVerification,
                    true,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| matches!(s, ReplyStep::MachineEcho(_))),
            ),
            (
                "an auto-responder pasting our acknowledgement back unquoted does not verify",
                mail(CONSUMER, "", &format!("Hello,\r\n\r\n{ACK_SENT}")),
                on_thread(
                    Status::AwaitingVerification,
                    true,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| matches!(s, ReplyStep::MachineEcho(p) if p.contains("our own mail"))),
            ),
            (
                "a helpdesk's ticket text above our pasted acknowledgement does not verify",
                mail(
                    CONSUMER,
                    "",
                    &format!("Thank you for contacting us. Ticket #48213 has been created and an agent will respond soon.\r\n\r\n{ACK_SENT}"),
                ),
                on_thread(
                    Status::AwaitingVerification,
                    true,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| matches!(s, ReplyStep::MachineEcho(_))),
            ),
            (
                "the consumer's own yes above our pasted acknowledgement verifies",
                mail(CONSUMER, "", &format!("Yes, this is me.\r\n\r\n{ACK_SENT}")),
                on_thread(
                    Status::AwaitingVerification,
                    true,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| *s == ReplyStep::Verified { question: false }),
            ),
            (
                "a thank-you on an acknowledged opt-out: recorded",
                mail(CONSUMER, "", thanks),
                on_thread(
                    Status::Acknowledged,
                    false,
                    classified(Action::Escalate, &[]),
                ),
                Step(|s| *s == ReplyStep::Recorded),
            ),
            (
                "writing again about a completed request: for a person",
                mail(CONSUMER, "", thanks),
                on_thread(Status::Completed, false, classified(Action::Escalate, &[])),
                Step(|s| matches!(s, ReplyStep::Escalate(w) if w.contains("completed request"))),
            ),
            (
                "a question in the thread: for a person",
                mail(CONSUMER, "", "When will you be done?"),
                on_thread(
                    Status::Verified,
                    false,
                    Classification {
                        question: true,
                        ..classified(Action::Escalate, &[])
                    },
                ),
                Step(|s| matches!(s, ReplyStep::Escalate(w) if w.contains("question"))),
            ),
            (
                "someone else writing on the thread: for a person",
                mail("other@example.test", "", thanks),
                on_thread(Status::Verified, false, classified(Action::Escalate, &[])),
                Step(|s| matches!(s, ReplyStep::Escalate(w) if w.contains("another address"))),
            ),
            (
                "staff outside any thread, no command",
                mail(STAFF, "", "Lunch?"),
                Known {
                    sender_is_staff: true,
                    ..Known::default()
                },
                Is(Disposition::StaffUnthreaded { command: false }),
            ),
            (
                "staff outside any thread with a command: answered with a refusal",
                mail(STAFF, "", "/complete"),
                Known {
                    sender_is_staff: true,
                    ..Known::default()
                },
                Is(Disposition::StaffUnthreaded { command: true }),
            ),
            (
                "the classifier says ignore",
                mail(CONSUMER, "", "Buy now"),
                consumer(classified(Action::Ignore, &[])),
                Ignore,
            ),
            (
                "a clear request: opened and acknowledged",
                mail(CONSUMER, "", plain),
                consumer(handle()),
                Open(None),
            ),
            (
                "a clear request failing DMARC: opened for staff, not answered",
                mail(CONSUMER, "", plain),
                Known {
                    auth: failed_auth(),
                    ..consumer(handle())
                },
                Open(Some(SPOOFING)),
            ),
            (
                "a clear request from an address no reply can be built for",
                mail(CONSUMER, "", plain),
                Known {
                    unreplyable: Some("local part too long".into()),
                    ..consumer(handle())
                },
                Open(Some(UNREPLYABLE)),
            ),
            (
                "an agent's request: for a person",
                mail(CONSUMER, "", plain),
                consumer(Classification {
                    agent: true,
                    ..classified(Action::Escalate, &[Kind::Delete])
                }),
                Open(Some("authorized agent")),
            ),
            (
                "a mail that is no privacy request: for a person",
                mail(CONSUMER, "", "Where is my order?"),
                consumer(classified(Action::Escalate, &[])),
                Open(Some("Not a recognisable privacy request")),
            ),
            (
                "asking again for what an open request covers: a follow-up",
                mail(CONSUMER, "", plain),
                Known {
                    covering: Some("PRIV-2026-00001".into()),
                    ..consumer(handle())
                },
                FollowUp(false),
            ),
            (
                "asking again with a question: a follow-up staff see",
                mail(CONSUMER, "", plain),
                Known {
                    covering: Some("PRIV-2026-00001".into()),
                    ..consumer(Classification {
                        question: true,
                        ..handle()
                    })
                },
                FollowUp(true),
            ),
        ];
        assert!(cases.len() >= 25);
        for (name, m, k, want) in cases {
            let d = decide(&m, &k);
            let ok = match &want {
                Is(w) => d == *w,
                Step(f) => step(&d).is_some_and(f),
                Open(None) => matches!(&d, Disposition::Open { escalate: None, .. }),
                Open(Some(why)) => {
                    matches!(&d, Disposition::Open { escalate: Some(w), .. } if w.contains(why))
                }
                FollowUp(esc) => {
                    matches!(&d, Disposition::FollowUp { escalate, .. } if escalate.is_some() == *esc)
                }
                Quarantine => matches!(d, Disposition::Quarantine(_)),
                Ignore => matches!(d, Disposition::Ignore(_)),
                Automated => matches!(d, Disposition::Automated(_)),
            };
            assert!(ok, "{name}: got {d:?}, wanted {want:?}");
        }
    }

    #[test]
    fn the_stored_disposition_of_each_decision() {
        let c = Classification::default();
        assert_eq!(Disposition::Duplicate.filed().as_str(), "duplicate");
        assert_eq!(
            Disposition::Automated(String::new()).filed().as_str(),
            "ignored"
        );
        assert_eq!(
            Disposition::Open {
                escalate: Some("x".into()),
                classification: c.clone()
            }
            .filed(),
            Filed::Escalated
        );
        assert_eq!(
            Disposition::Open {
                escalate: None,
                classification: c
            }
            .filed(),
            Filed::Request
        );
    }
}
