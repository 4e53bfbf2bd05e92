//! SQLite storage: schema and numbered migrations ([`schema`]), and the queries the rest of
//! the bot uses, grouped by table ([`inbox`], [`requests`], [`outbox`]).
//!
//! Conventions: `STRICT` tables, explicit column lists, times as UTC RFC 3339 text
//! ([`crate::clock::fmt`]), WAL mode, one transaction per fetched batch. Every change to a
//! request is also written to the append-only `events` table (the audit log).

pub mod fulfil;
pub mod inbox;
pub mod labels;
pub mod metrics;
pub mod outbox;
pub mod purge;
pub mod requests;
pub mod schema;
pub mod secrets;
pub mod transitions;
pub mod types;

use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

pub use rusqlite::Transaction;

/// The database handle. Not `Sync`: the daemon keeps it behind a mutex ([`lock`]).
///
/// The connection is private: every query lives in this module's files, which take a
/// `&Connection` (a [`Store::reader`] or a [`Transaction`]).
pub struct Store {
    conn: Connection,
}

/// A savepoint in a transaction: one mail's writes, rolled back alone when it fails.
pub struct Savepoint<'a> {
    conn: &'a Connection,
    name: &'static str,
}

impl<'a> Savepoint<'a> {
    /// Opens savepoint `name` (a constant identifier) on `conn`.
    pub fn open(conn: &'a Connection, name: &'static str) -> Result<Savepoint<'a>> {
        conn.execute_batch(&format!("SAVEPOINT {name}"))
            .context("Cannot open a savepoint")?;
        Ok(Savepoint { conn, name })
    }

    /// Keeps the writes since the savepoint.
    pub fn release(self) -> Result<()> {
        self.conn
            .execute_batch(&format!("RELEASE {}", self.name))
            .context("Cannot release a savepoint")
    }

    /// Undoes the writes since the savepoint.
    pub fn roll_back(self) -> Result<()> {
        self.conn
            .execute_batch(&format!("ROLLBACK TO {0}; RELEASE {0}", self.name))
            .context("Cannot roll back to a savepoint")
    }
}

/// Locks the store, recovering from a poisoned mutex (a panic elsewhere must not stop us).
pub fn lock(store: &std::sync::Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    match store.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Store {
    /// Opens (creating if needed) the database file and brings the schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("Cannot create directory {}", dir.display()))?;
            }
        }
        let conn = Connection::open(path)
            .with_context(|| format!("Cannot open the store {}", path.display()))?;
        Self::setup(conn).with_context(|| format!("Cannot prepare the store {}", path.display()))
    }

    /// An in-memory store, for unit tests.
    pub fn in_memory() -> Result<Store> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Store { conn })
    }

    /// The connection, for this module's query functions outside a transaction (each
    /// statement commits on its own).
    pub fn reader(&self) -> &Connection {
        &self.conn
    }

    /// Starts a transaction (IMMEDIATE, so two processes never interleave writes).
    pub fn begin(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }
}

/// Appends an event to a request's audit log.
pub fn add_event(
    tx: &Connection,
    request_id: &str,
    at: &str,
    kind: &str,
    actor: &str,
    detail: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO events (request_id, at, kind, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![request_id, at, kind, actor, detail],
    )
    .context("Cannot record an event")?;
    Ok(())
}

/// Records that `notice` was given for `request_id` ("" for none); false when it was already
/// (the once-only notices of the sweeper, and anything else that must happen once).
pub fn note_once(tx: &Connection, request_id: &str, notice: &str, at: &str) -> Result<bool> {
    let n = tx
        .execute(
            "INSERT OR IGNORE INTO notices (request_id, notice, at) VALUES (?1, ?2, ?3)",
            rusqlite::params![request_id, notice, at],
        )
        .context("Cannot record a notice")?;
    Ok(n == 1)
}
