//! The request lifecycle: a small state machine over [`Status`], plus the flags that are not
//! states (extended, escalated, assignee), all in [`RequestState`].
//!
//! # The graph
//! ```text
//! Received ──acknowledge──▶ Acknowledged ──request_verification──▶ AwaitingVerification
//!                                                                   │ verify      │ close_unverifiable
//!                                                                   ▼             ▼
//!             Completed ◀──complete── Verified              ClosedUnverifiable
//!
//! from \ to            Acknowledged  AwaitingVerification  Verified  Completed  Denied  ClosedUnverifiable
//! Received             acknowledge   request_verification  verify    complete*  deny    -
//! Acknowledged         -             request_verification  verify    complete*  deny    -
//! AwaitingVerification -             -                     verify    -          deny    close_unverifiable
//! Verified             -             -                     -         complete   deny**  -
//! Completed, Denied, ClosedUnverifiable: terminal, no edges out.
//!
//!  *  only when the request needs no verification (it is made only of opt-outs)
//!  ** not on the basis Unverifiable
//! ```
//! - `verify` is allowed from Received and Acknowledged too (staff verified out of band).
//! - `complete` needs Verified when the request needs verification. A request made only of
//!   opt-outs never needs it (CCPA §7060(b)), so it completes straight from Received or
//!   Acknowledged, and `request_verification`, `verify` and `close_unverifiable` are refused
//!   for it, as is `deny` on the basis `Unverifiable`.
//! - A request still AwaitingVerification cannot be completed: staff verify first, then
//!   complete (two transitions, both recorded).
//! - Completed, Denied and ClosedUnverifiable are terminal: nothing leaves them. Only `note`
//!   is accepted on a closed request (audit trail).
//! - `extend` sets a flag once, on an open request whose kinds allow it; a second extension is
//!   refused. Whether it is still in time is the caller's check
//!   ([`Deadlines::can_extend`](super::deadlines::Deadlines::can_extend)): this module knows
//!   no clock.
//! - `escalate` sets a flag (idempotent) and `assign` records an assignee, on open requests.
//!
//! A mixed request (say delete + opt-out of sale) needs verification as a whole: the opt-out
//! part is honoured without it, outside this machine, and the request completes once the
//! verified parts are done.

use super::deadlines::{rule, Jurisdiction};
use crate::kind::Kind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded; nothing sent yet.
    Received,
    /// Receipt confirmed to the consumer.
    Acknowledged,
    /// A verification mail with a token went out; waiting for the consumer's reply.
    AwaitingVerification,
    /// Identity verified (token reply, or staff).
    Verified,
    /// Done (terminal).
    Completed,
    /// Refused, with a basis (terminal).
    Denied,
    /// Closed because identity could not be verified in time (terminal).
    ClosedUnverifiable,
    /// Closed by staff: not a privacy request at all (terminal; counted apart from
    /// requests in the report).
    NotARequest,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 8] = [
        Status::Received,
        Status::Acknowledged,
        Status::AwaitingVerification,
        Status::Verified,
        Status::Completed,
        Status::Denied,
        Status::ClosedUnverifiable,
        Status::NotARequest,
    ];

    /// The wire name (`awaiting_verification`, ...), as used in JSON and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Acknowledged => "acknowledged",
            Status::AwaitingVerification => "awaiting_verification",
            Status::Verified => "verified",
            Status::Completed => "completed",
            Status::Denied => "denied",
            Status::ClosedUnverifiable => "closed_unverifiable",
            Status::NotARequest => "not_a_request",
        }
    }

    /// True while the request still needs work (and its clocks still matter).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::Received
                | Status::Acknowledged
                | Status::AwaitingVerification
                | Status::Verified
        )
    }

    /// True for the final statuses, which nothing leaves.
    pub fn is_terminal(self) -> bool {
        !self.is_open()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown request status `{s}`"))
    }
}

/// Why a request was denied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialBasis {
    /// Identity could not be verified.
    Unverifiable,
    /// The requester is not a consumer the law covers (e.g. not a California resident).
    NotAConsumer,
    /// An exemption applies (legal hold, other law, ...).
    Exempt,
    /// Another basis, in staff's words; must not be blank.
    Other(String),
}

impl DenialBasis {
    /// The stored category (`unverifiable`, `not_a_consumer`, `exempt`, `other`): the CCPA
    /// §7102 report's columns and the `denied` template's `basis`.
    pub fn category(&self) -> &'static str {
        match self {
            DenialBasis::Unverifiable => "unverifiable",
            DenialBasis::NotAConsumer => "not_a_consumer",
            DenialBasis::Exempt => "exempt",
            DenialBasis::Other(_) => "other",
        }
    }
}

impl fmt::Display for DenialBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenialBasis::Unverifiable => f.write_str("unverifiable"),
            DenialBasis::NotAConsumer => f.write_str("not_a_consumer"),
            DenialBasis::Exempt => f.write_str("exempt"),
            DenialBasis::Other(text) => write!(f, "other: {text}"),
        }
    }
}

/// Something that happens to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Receipt was confirmed to the consumer.
    Acknowledge,
    /// A verification mail (with a token) was sent.
    RequestVerification,
    /// Identity was verified, by token or by staff.
    Verify,
    /// The request was fulfilled.
    Complete,
    /// The request was refused on `basis`.
    Deny {
        /// Why; `Other` needs a non-blank text.
        basis: DenialBasis,
    },
    /// Verification never succeeded; the request is closed.
    CloseUnverifiable,
    /// The response deadline was extended (once) with notice to the consumer.
    Extend,
    /// The request was handed to staff (a flag, not a status).
    Escalate,
    /// A note for the audit trail.
    Note {
        /// The note; must not be blank.
        text: String,
    },
    /// The request was assigned to a staff member.
    Assign {
        /// Who; must not be blank.
        to: String,
    },
    /// Staff set the law (and so the clocks) the request runs on; not on a closed request.
    SetLaw {
        /// The law from now on.
        law: Jurisdiction,
    },
    /// Staff put an escalated request back on the automatic track (with the kinds they
    /// set on the stored request): the flag is cleared, and the bot acknowledges it as if it
    /// had classified the mail itself. Only before the acknowledgement went out.
    Handle,
    /// Staff closed it: not a privacy request at all.
    NotARequest,
}

impl Transition {
    /// The wire name (`request_verification`, ...), for logs and the event table.
    pub fn name(&self) -> &'static str {
        match self {
            Transition::Acknowledge => "acknowledge",
            Transition::RequestVerification => "request_verification",
            Transition::Verify => "verify",
            Transition::Complete => "complete",
            Transition::Deny { .. } => "deny",
            Transition::CloseUnverifiable => "close_unverifiable",
            Transition::Extend => "extend",
            Transition::Escalate => "escalate",
            Transition::Note { .. } => "note",
            Transition::Assign { .. } => "assign",
            Transition::SetLaw { .. } => "set_law",
            Transition::Handle => "handle",
            Transition::NotARequest => "not_a_request",
        }
    }
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The request is closed; only notes are accepted.
    #[error("cannot {transition}: the request is already {status}, which is final")]
    Closed {
        /// The terminal status.
        status: Status,
        /// The refused transition's name.
        transition: &'static str,
    },
    /// The transition does not start from this status.
    #[error("cannot {transition} a request that is {status}")]
    NotFrom {
        /// The current status.
        status: Status,
        /// The refused transition's name.
        transition: &'static str,
    },
    /// Completing a request that needs verification before it was verified.
    #[error("cannot complete a request that is {status}: identity is not verified yet (verify it first, then complete)")]
    NotVerified {
        /// The current status.
        status: Status,
    },
    /// A verification step on a request made only of opt-outs.
    #[error(
        "cannot {transition}: opt-out requests never require identity verification (CCPA §7060(b))"
    )]
    OptOutNeedsNoVerification {
        /// The refused transition's name.
        transition: &'static str,
    },
    /// Denying an opt-out-only request as unverifiable.
    #[error("cannot deny an opt-out request as unverifiable: opt-outs never require identity verification (CCPA §7060(b))")]
    OptOutNotUnverifiable,
    /// Denying a verified request as unverifiable.
    #[error("cannot deny as unverifiable a request whose identity is verified")]
    AlreadyVerified,
    /// A second extension.
    #[error("the deadline was already extended once; it cannot be extended again")]
    AlreadyExtended,
    /// Extending a request none of whose kinds allows it.
    #[error("this request's deadline cannot be extended (opt-out clocks have no extension)")]
    NotExtendable,
    /// A required text is blank.
    #[error("{field} must not be empty")]
    Empty {
        /// Which text.
        field: &'static str,
    },
}

/// A request's status and flags: everything the state machine reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestState {
    /// Where the request stands.
    pub status: Status,
    /// True when some kind needs identity verification (anything but opt-outs).
    pub needs_verification: bool,
    /// True when some kind's clock may be extended under the jurisdiction.
    pub extendable: bool,
    /// True once the deadline was extended (only once).
    pub extended: bool,
    /// True once the request was escalated to staff.
    pub escalated: bool,
    /// The staff member the request is assigned to, if any.
    pub assignee: Option<String>,
}

impl RequestState {
    /// A freshly received request with these kinds under this jurisdiction.
    pub fn new(kinds: &[Kind], jurisdiction: Jurisdiction) -> Self {
        RequestState {
            status: Status::Received,
            needs_verification: kinds.iter().any(|k| !k.is_opt_out()),
            extendable: kinds
                .iter()
                .any(|k| rule(jurisdiction, *k).extension.is_some()),
            extended: false,
            escalated: false,
            assignee: None,
        }
    }

    /// The state after `transition`, or why it is not allowed. `self` is left unchanged.
    pub fn apply(&self, transition: &Transition) -> Result<RequestState, TransitionError> {
        apply(self, transition)
    }
}

/// The state after `transition`, or why it is not allowed (see the module doc for the graph).
pub fn apply(
    state: &RequestState,
    transition: &Transition,
) -> Result<RequestState, TransitionError> {
    use Status as S;
    use Transition as T;
    use TransitionError as E;

    let status = state.status;
    let name = transition.name();
    let not_from = || E::NotFrom {
        status,
        transition: name,
    };
    let with_status = |status| RequestState {
        status,
        ..state.clone()
    };

    if let T::Note { text } = transition {
        return if text.trim().is_empty() {
            Err(E::Empty { field: "note text" })
        } else {
            Ok(state.clone())
        };
    }
    if status.is_terminal() {
        return Err(E::Closed {
            status,
            transition: name,
        });
    }
    let verification_step = matches!(
        transition,
        T::RequestVerification | T::Verify | T::CloseUnverifiable
    );
    if verification_step && !state.needs_verification {
        return Err(E::OptOutNeedsNoVerification { transition: name });
    }

    match transition {
        T::Acknowledge => match status {
            S::Received => Ok(with_status(S::Acknowledged)),
            _ => Err(not_from()),
        },
        T::RequestVerification => match status {
            S::Received | S::Acknowledged => Ok(with_status(S::AwaitingVerification)),
            _ => Err(not_from()),
        },
        T::Verify => match status {
            S::Received | S::Acknowledged | S::AwaitingVerification => Ok(with_status(S::Verified)),
            _ => Err(not_from()),
        },
        T::Complete => match status {
            S::Verified => Ok(with_status(S::Completed)),
            S::Received | S::Acknowledged if !state.needs_verification => {
                Ok(with_status(S::Completed))
            }
            _ => Err(E::NotVerified { status }),
        },
        T::Deny { basis } => match basis {
            DenialBasis::Other(text) if text.trim().is_empty() => Err(E::Empty {
                field: "denial basis",
            }),
            DenialBasis::Unverifiable if !state.needs_verification => Err(E::OptOutNotUnverifiable),
            DenialBasis::Unverifiable if status == S::Verified => Err(E::AlreadyVerified),
            _ => Ok(with_status(S::Denied)),
        },
        T::CloseUnverifiable => match status {
            S::AwaitingVerification => Ok(with_status(S::ClosedUnverifiable)),
            _ => Err(not_from()),
        },
        T::Extend if !state.extendable => Err(E::NotExtendable),
        T::Extend if state.extended => Err(E::AlreadyExtended),
        T::Extend => Ok(RequestState {
            extended: true,
            ..state.clone()
        }),
        T::Escalate => Ok(RequestState {
            escalated: true,
            ..state.clone()
        }),
        T::Assign { to } if to.trim().is_empty() => Err(E::Empty { field: "assignee" }),
        T::Assign { to } => Ok(RequestState {
            assignee: Some(to.trim().to_owned()),
            ..state.clone()
        }),
        T::Note { .. } => Ok(state.clone()),
        // The clocks live on the stored request; the state machine only refuses closed ones.
        T::SetLaw { .. } => Ok(state.clone()),
        T::Handle => match status {
            S::Received | S::Acknowledged => Ok(RequestState {
                escalated: false,
                ..state.clone()
            }),
            _ => Err(not_from()),
        },
        T::NotARequest => Ok(with_status(S::NotARequest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_bases_read_as_their_wire_names() {
        let shown: Vec<String> = [
            DenialBasis::Unverifiable,
            DenialBasis::NotAConsumer,
            DenialBasis::Exempt,
            DenialBasis::Other("trade secret".into()),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            shown,
            [
                "unverifiable",
                "not_a_consumer",
                "exempt",
                "other: trade secret"
            ]
        );
    }

    /// A short code for an outcome, so the edge tables below stay readable.
    fn code(result: &Result<RequestState, TransitionError>) -> &'static str {
        match result {
            Ok(state) => match state.status {
                Status::Received => "R",
                Status::Acknowledged => "A",
                Status::AwaitingVerification => "AV",
                Status::Verified => "V",
                Status::Completed => "C",
                Status::Denied => "D",
                Status::ClosedUnverifiable => "CU",
                Status::NotARequest => "NR",
            },
            Err(TransitionError::Closed { .. }) => "closed",
            Err(TransitionError::NotFrom { .. }) => "from",
            Err(TransitionError::NotVerified { .. }) => "unverified",
            Err(TransitionError::OptOutNeedsNoVerification { .. }) => "optout",
            Err(TransitionError::OptOutNotUnverifiable) => "optout_unv",
            Err(TransitionError::AlreadyVerified) => "verified",
            Err(TransitionError::AlreadyExtended) => "extended",
            Err(TransitionError::NotExtendable) => "not_ext",
            Err(TransitionError::Empty { .. }) => "empty",
        }
    }

    fn state(status: Status, needs_verification: bool) -> RequestState {
        RequestState {
            status,
            needs_verification,
            extendable: true,
            extended: false,
            escalated: false,
            assignee: None,
        }
    }

    fn transitions() -> Vec<Transition> {
        vec![
            Transition::Acknowledge,
            Transition::RequestVerification,
            Transition::Verify,
            Transition::Complete,
            Transition::Deny {
                basis: DenialBasis::Exempt,
            },
            Transition::Deny {
                basis: DenialBasis::NotAConsumer,
            },
            Transition::Deny {
                basis: DenialBasis::Other("fraudulent".into()),
            },
            Transition::Deny {
                basis: DenialBasis::Unverifiable,
            },
            Transition::Deny {
                basis: DenialBasis::Other("  ".into()),
            },
            Transition::CloseUnverifiable,
            Transition::Extend,
            Transition::Escalate,
            Transition::Note {
                text: "called back".into(),
            },
            Transition::Note { text: " ".into() },
            Transition::Assign { to: "dpo".into() },
            Transition::Assign { to: "".into() },
        ]
    }

    // Columns: Received, Acknowledged, AwaitingVerification, Verified, Completed, Denied,
    // ClosedUnverifiable. One row per entry of `transitions()`.
    const NEEDS_VERIFICATION: [[&str; 7]; 16] = [
        ["A", "from", "from", "from", "closed", "closed", "closed"],
        ["AV", "AV", "from", "from", "closed", "closed", "closed"],
        ["V", "V", "V", "from", "closed", "closed", "closed"],
        [
            "unverified",
            "unverified",
            "unverified",
            "C",
            "closed",
            "closed",
            "closed",
        ],
        ["D", "D", "D", "D", "closed", "closed", "closed"],
        ["D", "D", "D", "D", "closed", "closed", "closed"],
        ["D", "D", "D", "D", "closed", "closed", "closed"],
        ["D", "D", "D", "verified", "closed", "closed", "closed"],
        [
            "empty", "empty", "empty", "empty", "closed", "closed", "closed",
        ],
        ["from", "from", "CU", "from", "closed", "closed", "closed"],
        ["R", "A", "AV", "V", "closed", "closed", "closed"],
        ["R", "A", "AV", "V", "closed", "closed", "closed"],
        ["R", "A", "AV", "V", "C", "D", "CU"],
        [
            "empty", "empty", "empty", "empty", "empty", "empty", "empty",
        ],
        ["R", "A", "AV", "V", "closed", "closed", "closed"],
        [
            "empty", "empty", "empty", "empty", "closed", "closed", "closed",
        ],
    ];

    /// Opt-out-only requests (AwaitingVerification / Verified are unreachable for them but
    /// may come back from storage; they must still behave).
    const OPT_OUT_ONLY: [[&str; 7]; 16] = [
        ["A", "from", "from", "from", "closed", "closed", "closed"],
        [
            "optout", "optout", "optout", "optout", "closed", "closed", "closed",
        ],
        [
            "optout", "optout", "optout", "optout", "closed", "closed", "closed",
        ],
        ["C", "C", "unverified", "C", "closed", "closed", "closed"],
        ["D", "D", "D", "D", "closed", "closed", "closed"],
        ["D", "D", "D", "D", "closed", "closed", "closed"],
        ["D", "D", "D", "D", "closed", "closed", "closed"],
        [
            "optout_unv",
            "optout_unv",
            "optout_unv",
            "optout_unv",
            "closed",
            "closed",
            "closed",
        ],
        [
            "empty", "empty", "empty", "empty", "closed", "closed", "closed",
        ],
        [
            "optout", "optout", "optout", "optout", "closed", "closed", "closed",
        ],
        ["R", "A", "AV", "V", "closed", "closed", "closed"],
        ["R", "A", "AV", "V", "closed", "closed", "closed"],
        ["R", "A", "AV", "V", "C", "D", "CU"],
        [
            "empty", "empty", "empty", "empty", "empty", "empty", "empty",
        ],
        ["R", "A", "AV", "V", "closed", "closed", "closed"],
        [
            "empty", "empty", "empty", "empty", "closed", "closed", "closed",
        ],
    ];

    #[test]
    fn every_edge_of_the_graph() {
        for (needs_verification, table) in [(true, NEEDS_VERIFICATION), (false, OPT_OUT_ONLY)] {
            for (transition, row) in transitions().iter().zip(table) {
                for (status, want) in Status::ALL.into_iter().zip(row) {
                    let before = state(status, needs_verification);
                    let got = apply(&before, transition);
                    assert_eq!(
                        code(&got),
                        want,
                        "{} from {status} (needs verification: {needs_verification}): {got:?}",
                        transition.name()
                    );
                }
            }
        }
    }

    #[test]
    fn flags_extend_once_escalate_and_assign() {
        let open = state(Status::Acknowledged, true);
        let extended = apply(&open, &Transition::Extend).expect("first extension");
        assert!(extended.extended);
        assert_eq!(extended.status, Status::Acknowledged);
        assert_eq!(
            apply(&extended, &Transition::Extend),
            Err(TransitionError::AlreadyExtended)
        );
        let fixed = RequestState {
            extendable: false,
            ..open.clone()
        };
        assert_eq!(
            apply(&fixed, &Transition::Extend),
            Err(TransitionError::NotExtendable)
        );

        let escalated = apply(&open, &Transition::Escalate).expect("escalate");
        assert!(escalated.escalated);
        assert_eq!(
            apply(&escalated, &Transition::Escalate),
            Ok(escalated.clone())
        );

        let assigned = apply(
            &open,
            &Transition::Assign {
                to: " alice ".into(),
            },
        )
        .expect("assign");
        assert_eq!(assigned.assignee.as_deref(), Some("alice"));
        let noted = apply(&assigned, &Transition::Note { text: "x".into() }).expect("note");
        assert_eq!(noted, assigned);
    }

    #[test]
    fn a_delete_runs_the_whole_verified_path() {
        let mut s = RequestState::new(&[Kind::Delete], Jurisdiction::Ccpa);
        assert_eq!(s.status, Status::Received);
        assert!(s.needs_verification && s.extendable);
        for (t, want) in [
            (Transition::Acknowledge, Status::Acknowledged),
            (
                Transition::RequestVerification,
                Status::AwaitingVerification,
            ),
            (Transition::Verify, Status::Verified),
            (Transition::Complete, Status::Completed),
        ] {
            s = s.apply(&t).expect("legal edge");
            assert_eq!(s.status, want);
        }
    }

    #[test]
    fn a_delete_awaiting_verification_cannot_be_completed_until_staff_verify() {
        let s = RequestState {
            status: Status::AwaitingVerification,
            ..RequestState::new(&[Kind::Delete], Jurisdiction::Ccpa)
        };
        let err = s.apply(&Transition::Complete).expect_err("not verified");
        assert_eq!(
            err.to_string(),
            "cannot complete a request that is awaiting_verification: identity is not verified yet (verify it first, then complete)"
        );
        let done = s
            .apply(&Transition::Verify)
            .and_then(|v| v.apply(&Transition::Complete))
            .expect("staff verify then complete");
        assert_eq!(done.status, Status::Completed);
    }

    #[test]
    fn an_opt_out_completes_straight_after_acknowledgement() {
        let s = RequestState::new(
            &[Kind::OptOutSale, Kind::OptOutMarketing],
            Jurisdiction::Ccpa,
        );
        assert!(!s.needs_verification && !s.extendable);
        let done = s
            .apply(&Transition::Acknowledge)
            .and_then(|a| a.apply(&Transition::Complete))
            .expect("opt-out path");
        assert_eq!(done.status, Status::Completed);
        let err = s
            .apply(&Transition::RequestVerification)
            .expect_err("no verification");
        assert!(err.to_string().contains("§7060(b)"), "{err}");
    }

    #[test]
    fn mixed_requests_need_verification_and_gdpr_opt_outs_are_extendable() {
        let mixed = RequestState::new(&[Kind::OptOutSale, Kind::Access], Jurisdiction::Ccpa);
        assert!(mixed.needs_verification && mixed.extendable);
        let gdpr = RequestState::new(&[Kind::OptOutMarketing], Jurisdiction::Gdpr);
        assert!(!gdpr.needs_verification && gdpr.extendable);
    }

    #[test]
    fn staff_put_a_request_back_on_the_track_or_close_it_as_not_a_request() {
        let mut escalated = state(Status::Received, true);
        escalated.escalated = true;
        let handled = apply(&escalated, &Transition::Handle).expect("handle");
        assert_eq!(
            (handled.status, handled.escalated),
            (Status::Received, false)
        );
        let mut receipted = escalated.clone();
        receipted.status = Status::Acknowledged;
        assert!(
            apply(&receipted, &Transition::Handle).is_ok(),
            "after a receipt"
        );
        for status in [Status::AwaitingVerification, Status::Verified] {
            assert_eq!(
                apply(&state(status, true), &Transition::Handle),
                Err(TransitionError::NotFrom {
                    status,
                    transition: "handle"
                })
            );
        }
        for status in Status::ALL {
            let closed = apply(&state(status, true), &Transition::NotARequest);
            if status.is_open() {
                assert_eq!(closed.map(|s| s.status), Ok(Status::NotARequest));
            } else {
                assert!(closed.is_err(), "{status} is final");
            }
        }
        assert!(Status::NotARequest.is_terminal());
        assert!(apply(&state(Status::NotARequest, true), &Transition::Handle).is_err());
        assert_eq!("not_a_request".parse::<Status>(), Ok(Status::NotARequest));
    }

    #[test]
    fn nothing_leaves_a_terminal_state() {
        for status in [
            Status::Completed,
            Status::Denied,
            Status::ClosedUnverifiable,
        ] {
            for t in transitions() {
                if let Ok(after) = apply(&state(status, true), &t) {
                    assert_eq!(after.status, status, "{} from {status}", t.name());
                }
            }
        }
        let err = apply(&state(Status::Denied, true), &Transition::Complete).expect_err("closed");
        assert_eq!(
            err.to_string(),
            "cannot complete: the request is already denied, which is final"
        );
    }

    #[test]
    fn statuses_pad_in_tables() {
        // `requests list` lays its columns out with `{:<22}`: a Display that ignores the
        // width shifted every column after a short status.
        assert_eq!(format!("{:<12}|", Status::Completed), "completed   |");
        assert_eq!(format!("{:>6}|", Jurisdiction::Gdpr), "  gdpr|");
    }

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).expect("json"),
                format!("\"{}\"", status.as_str())
            );
            assert_eq!(status.is_open(), !status.is_terminal());
        }
        assert!("open".parse::<Status>().is_err());
        let open: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(open.len(), 4);
    }

    #[test]
    fn denial_basis_and_transition_serialize() {
        let basis = DenialBasis::Other("duplicate of #12".into());
        let json = serde_json::to_string(&basis).expect("json");
        assert_eq!(json, r#"{"other":"duplicate of #12"}"#);
        assert_eq!(
            serde_json::to_string(&DenialBasis::NotAConsumer).expect("json"),
            "\"not_a_consumer\""
        );
        let t = Transition::Deny { basis };
        let back: Transition =
            serde_json::from_str(&serde_json::to_string(&t).expect("json")).expect("json");
        assert_eq!(back, t);
        assert_eq!(t.name(), "deny");
    }
}
