//! Fulfilment states, pure: where a request's work on the company's data sources stands
//! ([`State`], derived from what the store knows, [`Facts`]) and what a command or an automatic
//! step may do from there ([`decide`]). Everything else is refused with the state the request
//! is in and what it waits for.
//!
//! ```text
//! awaiting verification ──verify──▶ looking up ──lookup ok──▶ exporting (access) ──▶ awaiting approval
//!                                        │                                      │ /approve
//!                                        └──▶ awaiting approval (delete plan,   ▼
//!                                             nothing found)        approved ──link──▶ delivered
//!                                                                   erasing ──▶ erased | partial
//! any running step ──last retry failed──▶ failed (step, sources, tries) ──/approve, /retry──▶ that step again
//! denied, withdrawn (closed unverifiable, not a request): no link, no step
//! ```
//! A download link exists only in approved or delivered (never after a denial, never once
//! the package is purged); `/resend` is allowed there and nowhere else.

use super::lifecycle::Status;
use crate::kind::Kind;
use std::fmt;

/// A step the bot runs on the data sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Count the requester's records in every source.
    Lookup,
    /// Build the access package.
    Export,
    /// Erase the requester's records.
    Erase,
    /// Run the sources' `opt-out` statements.
    OptOut,
}

impl Step {
    /// The job's wire name (`lookup`, `export`, `erase`, `opt-out`).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Lookup => "lookup",
            Step::Export => "export",
            Step::Erase => "erase",
            Step::OptOut => "opt-out",
        }
    }

    /// The step of a job's wire name.
    pub fn parse(s: &str) -> Option<Step> {
        [Step::Lookup, Step::Export, Step::Erase, Step::OptOut]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step that failed after its last retry (or at once, for an error that is not transient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Which step.
    pub step: Step,
    /// The sources that failed (the others succeeded and are not asked again).
    pub sources: Vec<String>,
    /// Tries made.
    pub tries: u32,
}

/// What the store knows about a request's fulfilment (loaded by `store::fulfil::facts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The request's status.
    pub status: Status,
    /// Its kinds.
    pub kinds: Vec<Kind>,
    /// Some data source is configured.
    pub configured: bool,
    /// Steps queued or being retried.
    pub pending: Vec<Step>,
    /// The failed step, when the newest job of a step failed and nothing replaced it.
    pub failed: Option<Failure>,
    /// Records found by the latest complete lookup (`None`: no lookup finished).
    pub found: Option<u64>,
    /// A package is kept (not purged).
    pub package: bool,
    /// A download link was issued.
    pub link: bool,
    /// The erasure was approved (or runs automatically) and was queued.
    pub erase_queued: bool,
    /// The erasure finished in every source, confirmed by a new lookup.
    pub erased: bool,
    /// Sources whose lookup after the erasure still found rows.
    pub partial: Vec<String>,
    /// Staff approved the "nothing found" reply.
    pub nothing_found_sent: bool,
    /// The opt-out ran in every source that has one (its newest job is done).
    pub opted_out: bool,
}

/// Where fulfilment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No data source does this request's work (none configured, or only opt-outs, or a
    /// correction): staff act by hand.
    ByHand,
    /// Identity not verified yet.
    AwaitingVerification,
    /// A step is queued or being retried.
    Running(Step),
    /// Waiting for staff: what `/approve` would do.
    AwaitingApproval {
        /// Mail the download link.
        link: bool,
        /// Run the erasure.
        erase: bool,
        /// Tell the consumer nothing was found.
        nothing_found: bool,
    },
    /// Approved: a link exists (the request may still wait for its other parts).
    Approved,
    /// Delivered: the request is completed and its package still kept.
    Delivered,
    /// Erased everywhere (and confirmed).
    Erased,
    /// The erasure ran, but rows were left in these sources.
    Partial(Vec<String>),
    /// A step failed for good; staff decide.
    Failed(Failure),
    /// Refused by staff.
    Denied,
    /// Closed without fulfilment (unverifiable, not a request), or completed with no
    /// package kept.
    Closed(Status),
}

impl State {
    /// What the request waits for, in words (for refusals).
    pub fn waits_for(&self) -> String {
        match self {
            State::ByHand => "staff act by hand in the company's systems, then /complete".into(),
            State::AwaitingVerification => {
                "waiting for the consumer to confirm by reply (identity not verified yet)".into()
            }
            State::Running(s) => format!("the {s} in the data sources is running or queued"),
            State::AwaitingApproval {
                link,
                erase,
                nothing_found,
            } => {
                let mut w = Vec::new();
                if *link {
                    w.push("the access package's link");
                }
                if *erase {
                    w.push("the erasure");
                }
                if *nothing_found {
                    w.push("the \"nothing found\" reply");
                }
                format!("waiting for staff to /approve {}", w.join(" and "))
            }
            State::Approved => "approved: the download link was mailed".into(),
            State::Delivered => {
                "delivered: the download link was mailed; the package is kept".into()
            }
            State::Erased => "erased in every data source".into(),
            State::Partial(s) => format!(
                "the erasure left records in {}: fix the source, then /retry",
                s.join(", ")
            ),
            State::Failed(f) => format!(
                "the {} failed in {} after {} tries: fix the source, then /retry or /approve",
                f.step,
                f.sources.join(", "),
                f.tries
            ),
            State::Denied => "denied: nothing is sent or erased".into(),
            State::Closed(s) => format!("{}: nothing more is done", s.as_str().replace('_', " ")),
        }
    }

    /// A short name (`awaiting approval`, `failed`, ...), for logs and staff mail.
    pub fn name(&self) -> &'static str {
        match self {
            State::ByHand => "by hand",
            State::AwaitingVerification => "awaiting verification",
            State::Running(_) => "running",
            State::AwaitingApproval { .. } => "awaiting approval",
            State::Approved => "approved",
            State::Delivered => "delivered",
            State::Erased => "erased",
            State::Partial(_) => "partial",
            State::Failed(_) => "failed",
            State::Denied => "denied",
            State::Closed(_) => "closed",
        }
    }

    /// True when a download link may exist (and `/resend` may issue a new one).
    pub fn link_allowed(&self) -> bool {
        matches!(self, State::Approved | State::Delivered)
    }
}

/// Works out the state from the facts.
pub fn state(f: &Facts) -> State {
    let fulfilled_by_sources = f.configured
        && f.kinds
            .iter()
            .any(|k| matches!(k, Kind::Access | Kind::Delete));
    match f.status {
        Status::Denied => return State::Denied,
        Status::Completed if f.link && f.package => return State::Delivered,
        Status::Completed if f.erased => return State::Erased,
        s if s.is_terminal() => return State::Closed(s),
        _ => {}
    }
    // A failed opt-out (which needs no verification) is open work before anything else.
    if let Some(fail) = &f.failed {
        return State::Failed(fail.clone());
    }
    if !fulfilled_by_sources {
        return State::ByHand;
    }
    if f.status != Status::Verified {
        return State::AwaitingVerification;
    }
    // Running steps come first, but an access link already issued while an erasure runs
    // still counts as approved for /resend.
    if let Some(step) = f.pending.first() {
        if !(f.link && f.package) {
            return State::Running(*step);
        }
    }
    if !f.partial.is_empty() {
        return State::Partial(f.partial.clone());
    }
    if f.link && f.package {
        return State::Approved;
    }
    let Some(found) = f.found else {
        return State::Running(Step::Lookup);
    };
    if found == 0 {
        return if f.nothing_found_sent {
            State::Closed(f.status)
        } else {
            State::AwaitingApproval {
                link: false,
                erase: false,
                nothing_found: true,
            }
        };
    }
    let wants_link = f.kinds.contains(&Kind::Access) && f.package && !f.link;
    let wants_erase = f.kinds.contains(&Kind::Delete) && !f.erase_queued && !f.erased;
    if f.kinds.contains(&Kind::Access) && !f.package && !f.link {
        return State::Running(Step::Export);
    }
    if wants_link || wants_erase {
        return State::AwaitingApproval {
            link: wants_link,
            erase: wants_erase,
            nothing_found: false,
        };
    }
    if f.erased {
        return State::Erased;
    }
    State::ByHand
}

/// A command about fulfilment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Staff `/approve`.
    Approve,
    /// Staff `/retry`.
    Retry,
    /// `/resend` from staff.
    StaffResend,
    /// `/resend` from the consumer (their verified address, authenticated).
    ConsumerResend,
}

impl Command {
    fn word(self) -> &'static str {
        match self {
            Command::Approve => "/approve",
            Command::Retry => "/retry",
            Command::StaffResend | Command::ConsumerResend => "/resend",
        }
    }
}

/// What a command does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Mail a (fresh) download link to the address on file.
    SendLink,
    /// Queue the erasure.
    QueueErase,
    /// Tell the consumer nothing was found, and complete.
    NothingFound,
    /// Run `step` again for exactly `sources`.
    Rerun {
        /// The step.
        step: Step,
        /// The sources (empty: all).
        sources: Vec<String>,
    },
}

/// What `cmd` does from `state`, or why it is refused (the state and what it waits for).
pub fn decide(state: &State, cmd: Command) -> Result<Vec<Act>, String> {
    let refuse = || {
        Err(format!(
            "{} is refused: the request is {} ({})",
            cmd.word(),
            state.name(),
            state.waits_for()
        ))
    };
    match (cmd, state) {
        (
            Command::Approve,
            State::AwaitingApproval {
                link,
                erase,
                nothing_found,
            },
        ) => {
            let mut acts = Vec::new();
            if *link {
                acts.push(Act::SendLink);
            }
            if *erase {
                acts.push(Act::QueueErase);
            }
            if *nothing_found {
                acts.push(Act::NothingFound);
            }
            Ok(acts)
        }
        (Command::Approve | Command::Retry, State::Failed(f)) => Ok(vec![Act::Rerun {
            step: f.step,
            sources: if f.step == Step::Export {
                // A package holds every source: it is built again whole.
                Vec::new()
            } else {
                f.sources.clone()
            },
        }]),
        (Command::Approve | Command::Retry, State::Partial(sources)) => Ok(vec![Act::Rerun {
            step: Step::Erase,
            sources: sources.clone(),
        }]),
        (Command::StaffResend | Command::ConsumerResend, s) if s.link_allowed() => {
            Ok(vec![Act::SendLink])
        }
        _ => refuse(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: Status, kinds: &[Kind]) -> Facts {
        Facts {
            status,
            kinds: kinds.to_vec(),
            configured: true,
            pending: Vec::new(),
            failed: None,
            found: None,
            package: false,
            link: false,
            erase_queued: false,
            erased: false,
            partial: Vec::new(),
            nothing_found_sent: false,
            opted_out: false,
        }
    }

    fn failure(step: Step) -> Failure {
        Failure {
            step,
            sources: vec!["crm".into()],
            tries: 5,
        }
    }

    #[test]
    fn states_from_facts() {
        use Kind::{Access, Delete, OptOutMarketing};
        use Status as S;
        let v = |kinds: &[Kind]| facts(S::Verified, kinds);
        let cases: Vec<(&str, Facts, State)> = vec![
            (
                "unverified access",
                facts(S::AwaitingVerification, &[Access]),
                State::AwaitingVerification,
            ),
            (
                "no sources: by hand",
                Facts {
                    configured: false,
                    ..v(&[Access])
                },
                State::ByHand,
            ),
            (
                "an opt-out alone: by hand (runs at once)",
                v(&[OptOutMarketing]),
                State::ByHand,
            ),
            (
                "verified, nothing yet: looking up",
                v(&[Access]),
                State::Running(Step::Lookup),
            ),
            (
                "lookup queued",
                Facts {
                    pending: vec![Step::Lookup],
                    ..v(&[Access])
                },
                State::Running(Step::Lookup),
            ),
            (
                "found, no package: exporting",
                Facts {
                    found: Some(3),
                    ..v(&[Access])
                },
                State::Running(Step::Export),
            ),
            (
                "package built: awaiting approval of the link",
                Facts {
                    found: Some(3),
                    package: true,
                    ..v(&[Access])
                },
                State::AwaitingApproval {
                    link: true,
                    erase: false,
                    nothing_found: false,
                },
            ),
            (
                "nothing found: awaiting approval of the reply",
                Facts {
                    found: Some(0),
                    ..v(&[Delete])
                },
                State::AwaitingApproval {
                    link: false,
                    erase: false,
                    nothing_found: true,
                },
            ),
            (
                "delete plan",
                Facts {
                    found: Some(2),
                    ..v(&[Delete, OptOutMarketing])
                },
                State::AwaitingApproval {
                    link: false,
                    erase: true,
                    nothing_found: false,
                },
            ),
            (
                "erase queued",
                Facts {
                    found: Some(2),
                    erase_queued: true,
                    pending: vec![Step::Erase],
                    ..v(&[Delete])
                },
                State::Running(Step::Erase),
            ),
            (
                "package built, erasure running, no link yet: running",
                Facts {
                    found: Some(2),
                    package: true,
                    erase_queued: true,
                    pending: vec![Step::Erase],
                    ..v(&[Access, Delete])
                },
                State::Running(Step::Erase),
            ),
            (
                "rows left after the erasure",
                Facts {
                    found: Some(2),
                    erase_queued: true,
                    partial: vec!["crm".into()],
                    ..v(&[Delete])
                },
                State::Partial(vec!["crm".into()]),
            ),
            (
                "a failure wins over what it would wait for",
                Facts {
                    found: Some(2),
                    failed: Some(failure(Step::Export)),
                    ..v(&[Access])
                },
                State::Failed(failure(Step::Export)),
            ),
            (
                "an opt-out failed before verification: failed, /retry allowed",
                Facts {
                    failed: Some(failure(Step::OptOut)),
                    ..facts(S::AwaitingVerification, &[Delete, OptOutMarketing])
                },
                State::Failed(failure(Step::OptOut)),
            ),
            (
                "link issued, request open: approved",
                Facts {
                    found: Some(2),
                    package: true,
                    link: true,
                    pending: vec![Step::Erase],
                    erase_queued: true,
                    ..v(&[Access, Delete])
                },
                State::Approved,
            ),
            (
                "completed with the package kept: delivered",
                Facts {
                    found: Some(2),
                    package: true,
                    link: true,
                    ..facts(S::Completed, &[Access])
                },
                State::Delivered,
            ),
            (
                "completed, package purged: closed",
                Facts {
                    found: Some(2),
                    package: false,
                    link: true,
                    ..facts(S::Completed, &[Access])
                },
                State::Closed(S::Completed),
            ),
            (
                "denied with a package: denied",
                Facts {
                    found: Some(2),
                    package: true,
                    ..facts(S::Denied, &[Access])
                },
                State::Denied,
            ),
            (
                "erased and completed",
                Facts {
                    found: Some(2),
                    erased: true,
                    erase_queued: true,
                    ..facts(S::Completed, &[Delete])
                },
                State::Erased,
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(state(&f), want, "{name}");
        }
    }

    #[test]
    fn commands_from_states() {
        use Command as C;
        let approval = State::AwaitingApproval {
            link: true,
            erase: true,
            nothing_found: false,
        };
        let ok = |s: &State, c: C| decide(s, c).expect("allowed");
        assert_eq!(
            ok(&approval, C::Approve),
            vec![Act::SendLink, Act::QueueErase]
        );
        assert_eq!(
            ok(
                &State::AwaitingApproval {
                    link: false,
                    erase: false,
                    nothing_found: true
                },
                C::Approve
            ),
            vec![Act::NothingFound]
        );
        for c in [C::Approve, C::Retry] {
            assert_eq!(
                ok(&State::Failed(failure(Step::Erase)), c),
                vec![Act::Rerun {
                    step: Step::Erase,
                    sources: vec!["crm".into()]
                }]
            );
            assert_eq!(
                ok(&State::Failed(failure(Step::Export)), c),
                vec![Act::Rerun {
                    step: Step::Export,
                    sources: vec![]
                }],
                "an export is built again whole"
            );
            assert_eq!(
                ok(&State::Partial(vec!["crm".into()]), c),
                vec![Act::Rerun {
                    step: Step::Erase,
                    sources: vec!["crm".into()]
                }]
            );
        }
        for s in [State::Approved, State::Delivered] {
            assert_eq!(ok(&s, C::StaffResend), vec![Act::SendLink]);
            assert_eq!(ok(&s, C::ConsumerResend), vec![Act::SendLink]);
        }
        // Refused, each saying the state and what it waits for.
        let refused: Vec<(State, C, &str)> = vec![
            (
                State::AwaitingVerification,
                C::Approve,
                "waiting for the consumer to confirm by reply",
            ),
            (
                approval.clone(),
                C::ConsumerResend,
                "waiting for staff to /approve",
            ),
            (
                approval.clone(),
                C::StaffResend,
                "waiting for staff to /approve",
            ),
            (approval.clone(), C::Retry, "awaiting approval"),
            (State::Denied, C::ConsumerResend, "denied"),
            (State::Denied, C::StaffResend, "denied"),
            (State::Denied, C::Approve, "denied"),
            (
                State::Closed(Status::Completed),
                C::StaffResend,
                "completed",
            ),
            (State::Running(Step::Lookup), C::Approve, "lookup"),
            (State::Running(Step::Export), C::ConsumerResend, "export"),
            (State::Erased, C::Approve, "erased"),
            (State::Approved, C::Approve, "approved"),
            (State::Delivered, C::Retry, "delivered"),
            (State::ByHand, C::Approve, "by hand"),
            (
                State::Failed(failure(Step::Lookup)),
                C::ConsumerResend,
                "lookup failed in crm",
            ),
        ];
        for (s, c, says) in refused {
            let why = decide(&s, c).expect_err("refused");
            assert!(why.contains(says), "{s:?} {c:?}: {why}");
        }
    }

    #[test]
    fn a_link_only_in_approved_or_delivered() {
        let all = [
            State::ByHand,
            State::AwaitingVerification,
            State::Running(Step::Export),
            State::AwaitingApproval {
                link: true,
                erase: false,
                nothing_found: false,
            },
            State::Approved,
            State::Delivered,
            State::Erased,
            State::Partial(vec![]),
            State::Failed(failure(Step::Export)),
            State::Denied,
            State::Closed(Status::Completed),
        ];
        for s in all {
            let sends = [
                Command::Approve,
                Command::Retry,
                Command::StaffResend,
                Command::ConsumerResend,
            ]
            .into_iter()
            .filter_map(|c| decide(&s, c).ok())
            .flatten()
            .any(|a| a == Act::SendLink);
            let allowed = matches!(
                s,
                State::Approved | State::Delivered | State::AwaitingApproval { link: true, .. }
            );
            assert_eq!(sends, allowed, "{s:?}");
        }
    }

    #[test]
    fn step_names_round_trip() {
        for s in [Step::Lookup, Step::Export, Step::Erase, Step::OptOut] {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
        assert_eq!(Step::parse("drop"), None);
    }
}
