//! One daemon per store: `run` and `run --once` hold an exclusive lock file beside the
//! SQLite file for as long as they run.

use anyhow::{Context, Result};

/// The single-instance lock on a store: an exclusive `flock` on `<store>.lock` (next to the
/// SQLite file, holding the owner's PID), held for as long as this value lives. `run` and
/// `run --once` take it, so a second daemon on the same store refuses to start instead of
/// answering every mail twice; the CLI's read and staff commands do not need it (SQLite
/// serializes their writes). The outbox's row claims still guard against a lock that is
/// bypassed (its file deleted while a daemon runs).
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
    /// The lock file.
    pub path: std::path::PathBuf,
}

/// The lock file of a store: `<store>.lock`.
pub fn lock_path(store: &std::path::Path) -> std::path::PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    std::path::PathBuf::from(name)
}

/// Takes the store's single-instance lock ([`StoreLock`]), or says who holds it.
pub fn lock_store(store: &std::path::Path) -> Result<StoreLock> {
    use std::io::{Read, Seek, Write};
    let path = lock_path(store);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Cannot create directory {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("Cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim();
            let who = if pid.is_empty() {
                "another process".to_string()
            } else {
                format!("another privacy-inbox (PID {pid})")
            };
            anyhow::bail!(
                "The store {} is in use by {who}: only one daemon may run on a store (lock file {}). \
                 Stop the other one first, or give this one a store of its own",
                store.display(),
                path.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("Cannot lock {}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush())
        .with_context(|| format!("Cannot write the lock file {}", path.display()))?;
    Ok(StoreLock { _file: file, path })
}
