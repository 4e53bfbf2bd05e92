//! The outbox sender: the only code that talks SMTP.
//!
//! Exactly-once rests on three steps. A row is marked `sending` (committed) just before its
//! SMTP exchange; it is marked `sent` only after the server accepted it; and each reply is sent
//! with a Bcc copy to our own mailbox in the same SMTP transaction. A row found `sending`
//! after a crash is resent only when no copy with its Message-ID is in our mailbox (the
//! caller checks over IMAP and passes what it found as `already_delivered`).
//!
//! Two processes on one store (the single-instance lock forgotten or its file deleted) must
//! not both send a row: each row is *claimed* with a conditional update that only one can
//! win ([`q::claim`]), with a lease of [`LEASE`] so a claim is not held for ever by a process
//! that died (and released at once when the claimer is known to be gone).

use crate::clock;
use crate::outbound::smtp::{Delivery, SendError, Smtp};
pub use crate::store::lock;
use crate::store::{outbox as q, Store};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use rand::Rng;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Rows taken per round.
pub const BATCH: usize = 500;

/// How long a claim keeps other processes off a row: longer than any one send can take
/// (the exchange is bounded by 4 × `SMTP_TIMEOUT`, twice when the copy is refused).
pub const LEASE: Duration = Duration::minutes(10);

/// This process's name in `outbox.claimed_by`: `PID:random`, so a restarted daemon that
/// got the same PID (PID 1 in a container) does not take its predecessor's claims for its own.
pub fn claimer() -> &'static str {
    static ME: OnceLock<String> = OnceLock::new();
    ME.get_or_init(|| {
        format!(
            "{}:{:016x}",
            std::process::id(),
            rand::rng().random::<u64>()
        )
    })
}

/// Whether the process that wrote `claimed_by` may still be running: our own claims are;
/// another incarnation with our PID is not; another PID is while `/proc/PID` exists (where
/// there is no `/proc`, it is assumed alive and its lease decides).
pub fn claimer_alive(claimed_by: &str) -> bool {
    if claimed_by == claimer() {
        return true;
    }
    let Some(pid) = claimed_by
        .split_once(':')
        .and_then(|(p, _)| p.parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// What a round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Accepted by the server.
    pub sent: usize,
    /// Found delivered already (their copy was in our mailbox).
    pub confirmed: usize,
    /// Will be retried later.
    pub deferred: usize,
    /// Failed for good.
    pub failed: Vec<OutboxFailure>,
    /// Sent, but our Bcc copy was refused.
    pub copy_refused: Vec<OutboxFailure>,
    /// Claimed by another process between our read and our claim: left to it.
    pub taken: usize,
}

/// A mail that failed for good, or went out without our Bcc copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxFailure {
    /// The outbox row.
    pub row: i64,
    /// The request it belongs to.
    pub request_id: Option<String>,
    /// Its recipient.
    pub recipient: String,
    /// What it was (`acknowledgement`, `escalation`, …).
    pub purpose: String,
    /// The server's words (addresses redacted).
    pub error: String,
}

impl OutboxFailure {
    fn of(r: &q::Queued, error: String) -> OutboxFailure {
        OutboxFailure {
            row: r.id,
            request_id: r.request_id.clone(),
            recipient: r.recipient.clone(),
            purpose: r.purpose.clone(),
            error,
        }
    }
}

/// Backoff after `attempts` failures: 30 s doubling to at most 1 hour, with ±20 % jitter.
pub fn backoff(attempts: i64) -> Duration {
    let base = 30i64.saturating_mul(1i64 << attempts.clamp(0, 7)).min(3600);
    let jitter = rand::rng().random_range(-(base / 5)..=(base / 5));
    Duration::seconds((base + jitter).max(1))
}

/// When to look again for the copy of a mail whose send had an unknown outcome: soon at
/// first (it was probably a dropped connection), then backing off like [`backoff`].
pub fn unknown_backoff(attempts: i64) -> Duration {
    if attempts < 2 {
        Duration::seconds(2)
    } else {
        backoff(attempts - 2)
    }
}

/// Message-IDs of rows whose last attempt has an unknown outcome (their lease over, or
/// their claimer gone).
pub fn unconfirmed(store: &Mutex<Store>, now: DateTime<Utc>) -> Result<Vec<String>> {
    let st = lock(store);
    let released = q::release_dead_claims(st.reader(), &clock::fmt(now), claimer_alive)?;
    if released > 0 {
        tracing::warn!(
            rows = released,
            "Claims of a process that is gone released: our copies decide"
        );
    }
    let rows = q::due(st.reader(), &clock::fmt(now), BATCH)?;
    Ok(rows
        .into_iter()
        .filter(|r| r.status == "sending")
        .map(|r| r.message_id)
        .collect())
}

/// Sends every due row once. `already_delivered` holds Message-IDs whose copy was found;
/// unconfirmed rows in `hold` are left alone this time.
///
/// Each row is claimed (marked `sending`, see [`q::claim`]) in its own commit just before
/// its SMTP exchange (not the whole batch up front), so a crash leaves at most
/// `connections` rows with an unknown outcome for recovery to look up, and a row another
/// process claimed first is left to it.
pub async fn send_due(
    store: &Mutex<Store>,
    smtp: &Smtp,
    now: DateTime<Utc>,
    connections: usize,
    already_delivered: &HashSet<String>,
    hold: &HashSet<String>,
) -> Result<Round> {
    let mut round = Round::default();
    let now_s = clock::fmt(now);
    let rows = {
        let mut st = lock(store);
        let rows = q::due(st.reader(), &now_s, BATCH)?;
        let tx = st.begin()?;
        let mut to_send = Vec::new();
        for r in rows {
            if r.status == "sending" && already_delivered.contains(&r.message_id) {
                q::mark_sent(&tx, r.id, &now_s)?;
                round.confirmed += 1;
            } else if r.status == "sending" && hold.contains(&r.message_id) {
                // Its copy may still be on its way: decided in a later pass.
            } else {
                to_send.push(r);
            }
        }
        tx.commit()?;
        to_send
    };
    let now_s = &now_s;
    let lease = clock::fmt(now + LEASE);
    let lease = &lease;
    let results: Vec<Result<Outcome>> = futures::stream::iter(rows)
        .map(|r| async move {
            {
                let st = lock(store);
                if !q::claim(st.reader(), &r, claimer(), lease)? {
                    return Ok(Outcome::Taken);
                }
            }
            let res = smtp.send(&r.recipient, &r.raw).await;
            let st = lock(store);
            Ok(match res {
                Ok(Delivery {
                    copy_refused: None,
                }) => {
                    q::mark_sent(st.reader(), r.id, now_s)?;
                    Outcome::Sent
                }
                Ok(Delivery {
                    copy_refused: Some(e),
                }) => {
                    let e = crate::address::redact(&e);
                    tracing::error!(outbox = r.id, purpose = %r.purpose, error = %e, "Our Bcc copy was refused; sent without it");
                    q::mark_sent_without_copy(
                        st.reader(),
                        r.id,
                        now_s,
                        &format!("sent without our Bcc copy, which was refused: {e}"),
                    )?;
                    Outcome::CopyRefused(OutboxFailure::of(&r, e))
                }
                Err(SendError::Transient(e)) => {
                    let e = crate::address::redact(&e);
                    let next = clock::fmt(now + backoff(r.attempts));
                    tracing::warn!(outbox = r.id, purpose = %r.purpose, attempts = r.attempts + 1, retry_at = %next, error = %e, "Send deferred");
                    q::retry_later(st.reader(), r.id, &next, &e)?;
                    Outcome::Deferred
                }
                Err(SendError::Unknown(e)) => {
                    let e = crate::address::redact(&e);
                    let next = clock::fmt(now + unknown_backoff(r.attempts));
                    tracing::warn!(outbox = r.id, purpose = %r.purpose, attempts = r.attempts + 1, check_at = %next, error = %e, "Send outcome unknown; our copy decides");
                    q::check_later(st.reader(), r.id, &next, &e)?;
                    Outcome::Deferred
                }
                Err(SendError::Permanent(e)) => {
                    let e = crate::address::redact(&e);
                    tracing::error!(outbox = r.id, purpose = %r.purpose, error = %e, "Send failed permanently");
                    q::mark_failed(st.reader(), r.id, &e)?;
                    Outcome::Failed(OutboxFailure::of(&r, e))
                }
            })
        })
        .buffer_unordered(connections.max(1))
        .collect()
        .await;
    for res in results {
        match res? {
            Outcome::Sent => round.sent += 1,
            Outcome::Taken => round.taken += 1,
            Outcome::CopyRefused(f) => {
                round.sent += 1;
                round.copy_refused.push(f);
            }
            Outcome::Deferred => round.deferred += 1,
            Outcome::Failed(f) => round.failed.push(f),
        }
    }
    Ok(round)
}

enum Outcome {
    Sent,
    Taken,
    CopyRefused(OutboxFailure),
    Deferred,
    Failed(OutboxFailure),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_alive_while_its_process_runs_and_never_for_a_former_self() {
        assert!(claimer_alive(claimer()));
        let me = std::process::id();
        assert!(
            !claimer_alive(&format!("{me}:0000000000000000")),
            "a predecessor with our PID (PID 1 in a container) is gone"
        );
        assert!(!claimer_alive("garbage"));
        assert!(!claimer_alive("4294967295:1"), "no such process");
        if std::path::Path::new("/proc/1").exists() {
            assert!(claimer_alive("1:x"), "PID 1 runs");
        }
    }
}
