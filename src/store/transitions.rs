//! The one place a stored request changes status or flags: each change is checked by the
//! pure state machine in [`crate::request::lifecycle`] and recorded as an event of the
//! append-only audit log, in the caller's transaction.

use super::{add_event, requests, requests::Request};
use crate::clock;
use crate::request::lifecycle::{DenialBasis, RequestState, Transition, TransitionError};
use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

/// The state machine's view of a stored request.
pub fn state_of(r: &Request) -> Result<RequestState> {
    let mut s = RequestState::new(&r.kinds, r.jurisdiction);
    s.status = r.status;
    s.extended = r.extended;
    s.escalated = r.escalated;
    s.assignee = (!r.assignee.is_empty()).then(|| r.assignee.clone());
    Ok(s)
}

/// Whether `t` may happen to `r` now; `Err` says why not, in words fit for staff.
pub fn check(r: &Request, t: &Transition) -> Result<Result<RequestState, TransitionError>> {
    Ok(state_of(r)?.apply(t))
}

/// The audit-log event kind a transition is recorded under.
pub fn event_kind(t: &Transition) -> &'static str {
    match t {
        Transition::Acknowledge => "acknowledged",
        Transition::RequestVerification => "verification_requested",
        Transition::Verify => "verified",
        Transition::Complete => "completed",
        Transition::Deny { .. } => "denied",
        Transition::CloseUnverifiable => "closed_unverifiable",
        Transition::Extend => "extended",
        Transition::Escalate => "escalated",
        Transition::Note { .. } => "note",
        Transition::Assign { .. } => "assigned",
        Transition::SetLaw { .. } => "law_changed",
        Transition::Handle => "handled",
        Transition::NotARequest => "not_a_request",
    }
}

/// The stored category of a denial basis (the §7102 report's columns).
pub fn basis_category(b: &DenialBasis) -> &'static str {
    b.category()
}

/// Applies `t` to `r` (in memory and in the store) and records it as an event by `actor`
/// with `detail`. A refused transition is an error carrying the [`TransitionError`] and
/// changes nothing.
pub fn apply(
    tx: &Connection,
    r: &mut Request,
    t: &Transition,
    actor: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    apply_as(tx, r, t, event_kind(t), actor, detail, now)
}

/// [`apply`], recorded under the event kind `event` instead of the transition's own (a
/// bounce flags its request for staff: the event says `bounced`).
pub fn apply_as(
    tx: &Connection,
    r: &mut Request,
    t: &Transition,
    event: &str,
    actor: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let next = check(r, t)?.map_err(|e| anyhow!(e).context(format!("Request {}", r.id)))?;
    let now_s = clock::fmt(now);
    r.status = next.status;
    r.extended = next.extended;
    r.escalated = next.escalated;
    r.assignee = next.assignee.unwrap_or_default();
    match t {
        Transition::Verify => r.verified = true,
        Transition::Complete => r.responded_at = Some(now_s.clone()),
        Transition::Deny { basis } => {
            r.denial_basis = Some(basis_category(basis).to_string());
            if let DenialBasis::Other(text) = basis {
                if r.denial_detail.is_empty() {
                    r.denial_detail = text.trim().to_string();
                }
            }
            r.responded_at = Some(now_s.clone());
        }
        Transition::CloseUnverifiable => {
            r.denial_basis = Some("unverifiable".into());
            r.responded_at = Some(now_s.clone());
        }
        _ => {}
    }
    r.updated_at = now_s.clone();
    requests::update(tx, r)?;
    if next.status.is_terminal() {
        // A closed request answers no token any more.
        requests::set_token_hash(tx, &r.id, None)?;
    }
    add_event(tx, &r.id, &now_s, event, actor, detail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use crate::request::deadlines::Jurisdiction;
    use crate::request::lifecycle::Status;
    use crate::store::Store;

    fn request(kinds: Vec<Kind>, status: &str) -> Request {
        Request {
            id: "PRIV-2026-00001".into(),
            status: status.parse().unwrap_or(Status::Received),
            kinds,
            requester: "a@example.test".into(),
            requester_name: String::new(),
            language: "en".into(),
            jurisdiction: Jurisdiction::Ccpa,
            received_at: "2026-01-05T10:00:00Z".into(),
            confirm_by: None,
            due_at: "2026-02-19T10:00:00Z".into(),
            extended_due_at: Some("2026-04-05T10:00:00Z".into()),
            extended: false,
            escalated: false,
            escalation_reason: String::new(),
            verified: false,
            agent: false,
            subject: String::new(),
            origin_message_id: None,
            assignee: String::new(),
            denial_basis: None,
            denial_detail: String::new(),
            extension_reason: String::new(),
            law_reason: String::new(),
            responded_at: None,
            created_at: "2026-01-05T10:00:00Z".into(),
            updated_at: "2026-01-05T10:00:00Z".into(),
        }
    }

    #[test]
    fn transitions_are_stored_and_logged_and_refusals_change_nothing() -> Result<()> {
        let mut store = Store::in_memory()?;
        let tx = store.begin()?;
        let mut r = request(vec![Kind::Delete], "awaiting_verification");
        requests::insert(&tx, &r)?;
        let now = clock::parse("2026-01-10T00:00:00Z")?;

        let refused = apply(&tx, &mut r, &Transition::Complete, "staff", "", now);
        assert!(refused.is_err());
        assert_eq!(
            requests::get(&tx, &r.id)?.map(|x| x.status),
            Some(Status::AwaitingVerification)
        );

        apply(&tx, &mut r, &Transition::Verify, "staff", "by phone", now)?;
        apply(&tx, &mut r, &Transition::Extend, "staff", "backlog", now)?;
        let second = apply(&tx, &mut r, &Transition::Extend, "staff", "again", now)
            .map_err(|e| e.downcast::<TransitionError>().ok());
        assert_eq!(
            second.err().flatten(),
            Some(TransitionError::AlreadyExtended)
        );
        apply(&tx, &mut r, &Transition::Complete, "staff", "done", now)?;
        let stored = requests::get(&tx, &r.id)?.ok_or_else(|| anyhow!("gone"))?;
        assert_eq!(stored.status, Status::Completed);
        assert!(stored.verified && stored.extended);
        assert_eq!(stored.responded_at.as_deref(), Some("2026-01-10T00:00:00Z"));
        assert_eq!(stored.due_in_force(), "2026-04-05T10:00:00Z");
        let kinds: Vec<String> = requests::events(&tx, &r.id)?
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["verified", "extended", "completed"]);
        Ok(())
    }

    #[test]
    fn a_denial_records_its_category_and_text() -> Result<()> {
        let mut store = Store::in_memory()?;
        let tx = store.begin()?;
        let mut r = request(vec![Kind::Access], "verified");
        requests::insert(&tx, &r)?;
        let now = clock::parse("2026-01-10T00:00:00Z")?;
        let basis = DenialBasis::Other("records held under a court order".into());
        apply(&tx, &mut r, &Transition::Deny { basis }, "staff", "", now)?;
        let stored = requests::get(&tx, &r.id)?.ok_or_else(|| anyhow!("gone"))?;
        assert_eq!(stored.denial_basis.as_deref(), Some("other"));
        assert_eq!(stored.denial_detail, "records held under a court order");
        Ok(())
    }
}
