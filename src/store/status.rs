//! The small reads and marks the daemon makes around its batches, on the store as a whole
//! (each one statement, outside any transaction, so none holds the write lock): where intake
//! stands in a mailbox, which recorded mails still wait to be moved, whether the outbox has
//! mail to send, one request by id (for a template preview); and, inside a transaction, what
//! an outbox row was for.

use super::inbox::{self, Cursor};
use super::requests::{self, Request};
use super::Store;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// Where intake stands in `mailbox` ([`inbox::cursor`]).
pub fn cursor(st: &Store, mailbox: &str) -> Result<Option<Cursor>> {
    inbox::cursor(&st.conn, mailbox)
}

/// Mails of `mailbox` recorded but not moved yet, by target ([`inbox::pending_moves`]).
pub fn pending_moves(
    st: &Store,
    mailbox: &str,
    uidvalidity: u32,
) -> Result<Vec<(String, Vec<u32>)>> {
    inbox::pending_moves(&st.conn, mailbox, uidvalidity)
}

/// Marks mails as moved ([`inbox::mark_moved`]).
pub fn mark_moved(st: &Store, mailbox: &str, uidvalidity: u32, uids: &[u32]) -> Result<()> {
    inbox::mark_moved(&st.conn, mailbox, uidvalidity, uids)
}

/// Forgets moves recorded under an old UIDVALIDITY ([`inbox::drop_stale_moves`]).
pub fn drop_stale_moves(st: &Store, mailbox: &str, uidvalidity: u32) -> Result<usize> {
    inbox::drop_stale_moves(&st.conn, mailbox, uidvalidity)
}

/// Does the outbox hold mail to send (queued, or being sent)?
pub fn outbox_has_work(st: &Store) -> Result<bool> {
    st.conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE status IN ('queued', 'sending'))",
            [],
            |r| r.get(0),
        )
        .context("Cannot read the outbox")
}

/// One request by its id ([`requests::get`]).
pub fn request(st: &Store, id: &str) -> Result<Option<Request>> {
    requests::get(&st.conn, id)
}

/// What the outbox row `id` was sent for (its `purpose`: `acknowledgement`, …); `None` when
/// there is no such row.
pub fn outbox_purpose(conn: &Connection, id: i64) -> Result<Option<String>> {
    conn.query_row(
        "SELECT purpose FROM outbox WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
    .optional()
    .context("Cannot read an outbox row")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_has_work_while_a_row_waits_to_be_sent_and_each_row_names_its_purpose() {
        let st = Store::in_memory().expect("store");
        assert!(!outbox_has_work(&st).expect("read"));
        assert_eq!(outbox_purpose(&st.conn, 1).expect("read"), None);
        st.conn
            .execute(
                "INSERT INTO outbox (message_id, purpose, audience, recipient, raw, status, \
                 next_attempt_at, created_at) VALUES ('m1@example.test', 'acknowledgement', \
                 'consumer', 'a@example.test', X'00', 'queued', '2026-01-01T00:00:00Z', \
                 '2026-01-01T00:00:00Z')",
                [],
            )
            .expect("insert");
        let id = st.conn.last_insert_rowid();
        assert_eq!(
            outbox_purpose(&st.conn, id).expect("read").as_deref(),
            Some("acknowledgement")
        );
        for (status, work) in [("sending", true), ("sent", false), ("failed", false)] {
            st.conn
                .execute("UPDATE outbox SET status = ?1", [status])
                .expect("update");
            assert_eq!(outbox_has_work(&st).expect("read"), work, "{status}");
        }
    }
}
