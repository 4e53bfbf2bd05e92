//! The outbox sender: the only code that talks SMTP.
//!
//! Exactly-once rests on three steps. A row is marked `sending` (committed) before the SMTP
//! exchange; it is marked `sent` only after the server accepted it; and each reply is sent
//! with a Bcc copy to our own mailbox in the same SMTP transaction. A row found `sending`
//! after a crash is resent only when no copy with its Message-ID is in our mailbox (the
//! caller checks over IMAP and passes what it found as `already_delivered`).

use crate::clock;
use crate::outbound::smtp::{SendError, Smtp};
use crate::store::{outbox as q, Store};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use rand::Rng;
use std::collections::HashSet;
use std::sync::Mutex;

/// Rows taken per round.
pub const BATCH: usize = 500;

/// What a round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Accepted by the server.
    pub sent: usize,
    /// Found delivered already (their copy was in our mailbox).
    pub confirmed: usize,
    /// Will be retried later.
    pub deferred: usize,
    /// Failed for good: (row id, request id, recipient, error).
    pub failed: Vec<(i64, Option<String>, String, String)>,
}

/// Backoff after `attempts` failures: 30 s doubling to at most 1 hour, with ±20 % jitter.
pub fn backoff(attempts: i64) -> Duration {
    let base = 30i64.saturating_mul(1i64 << attempts.clamp(0, 7)).min(3600);
    let jitter = rand::rng().random_range(-(base / 5)..=(base / 5));
    Duration::seconds((base + jitter).max(1))
}

/// Message-IDs of rows whose last attempt has an unknown outcome.
pub fn unconfirmed(store: &Mutex<Store>, now: DateTime<Utc>) -> Result<Vec<String>> {
    let st = lock(store);
    let rows = q::due(&st.conn, &clock::fmt(now), BATCH)?;
    Ok(rows
        .into_iter()
        .filter(|r| r.status == "sending")
        .map(|r| r.message_id)
        .collect())
}

/// Sends every due row once. `already_delivered` holds Message-IDs whose copy was found.
pub async fn send_due(
    store: &Mutex<Store>,
    smtp: &Smtp,
    now: DateTime<Utc>,
    connections: usize,
    already_delivered: &HashSet<String>,
) -> Result<Round> {
    let mut round = Round::default();
    let now_s = clock::fmt(now);
    let rows = {
        let mut st = lock(store);
        let rows = q::due(&st.conn, &now_s, BATCH)?;
        let tx = st.begin()?;
        let mut to_send = Vec::new();
        for r in rows {
            if r.status == "sending" && already_delivered.contains(&r.message_id) {
                q::mark_sent(&tx, r.id, &now_s)?;
                round.confirmed += 1;
            } else {
                to_send.push(r);
            }
        }
        let ids: Vec<i64> = to_send.iter().map(|r| r.id).collect();
        q::mark_sending(&tx, &ids, &now_s)?;
        tx.commit()?;
        to_send
    };
    let results: Vec<(q::Queued, Result<(), SendError>)> = futures::stream::iter(rows)
        .map(|r| async move {
            let res = smtp.send(&r.recipient, &r.raw).await;
            (r, res)
        })
        .buffer_unordered(connections.max(1))
        .collect()
        .await;
    let mut st = lock(store);
    let tx = st.begin()?;
    for (r, res) in results {
        match res {
            Ok(()) => {
                q::mark_sent(&tx, r.id, &now_s)?;
                round.sent += 1;
            }
            Err(SendError::Transient(e)) => {
                let next = clock::fmt(now + backoff(r.attempts));
                tracing::warn!(outbox = r.id, attempts = r.attempts + 1, error = %e, "Send deferred");
                q::retry_later(&tx, r.id, &next, &e)?;
                round.deferred += 1;
            }
            Err(SendError::Permanent(e)) => {
                tracing::error!(outbox = r.id, error = %e, "Send failed permanently");
                q::mark_failed(&tx, r.id, &e)?;
                round
                    .failed
                    .push((r.id, r.request_id.clone(), r.recipient.clone(), e));
            }
        }
    }
    tx.commit()?;
    Ok(round)
}

/// Locks the store, recovering from a poisoned mutex (a panic elsewhere must not stop us).
pub fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    match store.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
