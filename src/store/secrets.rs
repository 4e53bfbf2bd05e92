//! Secrets the bot makes for itself and keeps in the store: the key of the staff tokens
//! ([`crate::request::staff_token`]). Made once, from the operating system's CSPRNG (through
//! `rand`), on first use.

use anyhow::{Context, Result};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};

/// Bytes of a generated key (256 bits).
const KEY_BYTES: usize = 32;

/// The staff-token key, made on first use.
pub fn staff_key(conn: &Connection) -> Result<Vec<u8>> {
    key(conn, "staff_token_key")
}

fn key(conn: &Connection, name: &str) -> Result<Vec<u8>> {
    let get = || -> Result<Option<Vec<u8>>> {
        Ok(conn
            .query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?)
    };
    if let Some(k) = get().context("Cannot read a key from the store")? {
        return Ok(k);
    }
    let mut bytes = vec![0u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    // Two processes may race here: the first insert wins and both read it back.
    conn.execute(
        "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
        params![name, bytes],
    )
    .context("Cannot store a new key")?;
    get()?.context("The key just stored is missing")
}

/// The key that encrypts access packages at rest ([`crate::fulfil::crypt`]), made on first use.
pub fn package_key(conn: &Connection) -> Result<Vec<u8>> {
    key(conn, "package_key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_kept() {
        let store = crate::store::Store::in_memory().expect("store");
        let a = staff_key(&store.conn).expect("key");
        let b = staff_key(&store.conn).expect("key");
        assert_eq!(a.len(), KEY_BYTES);
        assert_eq!(a, b);
        assert!(a.iter().any(|&x| x != 0));
    }
}
