//! SQLite sources through rusqlite (the crate the store already uses: it bundles SQLite, and a
//! second crate linking its own SQLite, such as sqlx's sqlite feature, would not link beside it).
//!
//! The file in `url` is opened read-only for lookup and export and read-write (never created)
//! for erase and opt-out. A watchdog thread interrupts a statement that runs past the
//! source's `timeout-seconds`; a locked database waits at most as long.

use super::params::{Param, ONLY_PARAMS};
use super::rows::{Count, ErrOf, Exported, RowSink, SourceError, Subject};
use super::settings::SourceSettings;
use base64::Engine as _;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Statement};
use serde_json::Value;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

fn open(src: &SourceSettings, path: &Path, write: bool) -> Result<Connection, SourceError> {
    let e = ErrOf(&src.name);
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // Never create: a missing file is a source that is down, not an empty one.
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|err| e.down(format!("cannot open {}: {err}", path.display())))?;
    conn.busy_timeout(src.timeout)
        .map_err(|err| e.down(format!("cannot set a busy timeout: {err}")))?;
    // A file that is not a database fails here, not half-way through.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|err| e.down(format!("cannot read {}: {err}", path.display())))?;
    Ok(conn)
}

/// Interrupts the connection's running statement when dropped late: the guard of one action.
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn start(conn: &Connection, limit: Duration) -> Watchdog {
        let handle = conn.get_interrupt_handle();
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                handle.interrupt();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `:email` / `:account` wherever the statement names them; refuses any other parameter.
fn bind(stmt: &mut Statement<'_>, who: &Subject) -> Result<(), String> {
    for i in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(i).map(str::to_string);
        let param = name
            .as_deref()
            .and_then(|n| n.strip_prefix([':', '@', '$']))
            .and_then(Param::from_name);
        let bound = match param {
            Some(Param::Email) => stmt.raw_bind_parameter(i, who.email.as_str()),
            Some(Param::Account) => stmt.raw_bind_parameter(i, who.account.as_deref()),
            None => {
                return Err(format!(
                    "parameter {} is not allowed; {ONLY_PARAMS}",
                    name.unwrap_or_else(|| "?".into())
                ))
            }
        };
        bound.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Checks the parameters of a prepared statement without binding values.
fn check_params(stmt: &Statement<'_>) -> Result<(), String> {
    for i in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(i);
        if name
            .and_then(|n| n.strip_prefix([':', '@', '$']))
            .and_then(Param::from_name)
            .is_none()
        {
            return Err(format!(
                "parameter {} is not allowed; {ONLY_PARAMS}",
                name.unwrap_or("?")
            ));
        }
    }
    Ok(())
}

fn failed(e: ErrOf<'_>, key: &str, err: impl std::fmt::Display) -> SourceError {
    let text = err.to_string();
    if text.contains("interrupted") {
        e.down(format!("{key}: timed out"))
    } else if text.contains("database is locked") || text.contains("database is busy") {
        e.down(format!("{key}: {text}"))
    } else {
        e.failed(format!("{key}: {text}"))
    }
}

pub(crate) fn lookup(
    src: &SourceSettings,
    path: &Path,
    queries: &[(String, String)],
    who: &Subject,
) -> Result<Vec<Count>, SourceError> {
    let e = ErrOf(&src.name);
    let conn = open(src, path, false)?;
    let _dog = Watchdog::start(&conn, src.timeout);
    let mut out = Vec::new();
    for (label, sql) in queries {
        let key = if label.is_empty() {
            "lookup".to_string()
        } else {
            format!("lookup.{label}")
        };
        let mut stmt = conn.prepare(sql).map_err(|err| failed(e, &key, err))?;
        bind(&mut stmt, who).map_err(|err| e.failed(format!("{key}: {err}")))?;
        let mut rows = stmt.raw_query();
        let row = rows
            .next()
            .map_err(|err| failed(e, &key, err))?
            .ok_or_else(|| e.failed(format!("{key}: returned no row (expected one count)")))?;
        let n: i64 = row
            .get(0)
            .map_err(|err| e.failed(format!("{key}: expected a count: {err}")))?;
        let count = u64::try_from(n).map_err(|_| e.failed(format!("{key}: negative count {n}")))?;
        out.push(Count {
            label: label.clone(),
            count,
        });
    }
    Ok(out)
}

/// A SQLite value as JSON: integers and reals as numbers, text as a string, blobs as base64.
pub(crate) fn json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

pub(crate) fn export(
    src: &SourceSettings,
    path: &Path,
    who: &Subject,
    sink: &mut dyn RowSink,
) -> Result<Vec<Exported>, SourceError> {
    let e = ErrOf(&src.name);
    let conn = open(src, path, false)?;
    let _dog = Watchdog::start(&conn, src.timeout);
    // One read transaction: every table from the same snapshot.
    conn.execute_batch("BEGIN")
        .map_err(|err| failed(e, "export", err))?;
    let mut out = Vec::new();
    for (table, sql) in &src.export {
        let key = format!("export.{table}");
        let mut stmt = conn.prepare(sql).map_err(|err| failed(e, &key, err))?;
        bind(&mut stmt, who).map_err(|err| e.failed(format!("{key}: {err}")))?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        super::rows::distinct_columns(&columns).map_err(|m| e.failed(format!("{key}: {m}")))?;
        let n = columns.len();
        let id = sink
            .begin_table(&src.name, table, columns)
            .map_err(|err| e.failed(format!("{key}: cannot write the package: {err:#}")))?;
        let mut rows = stmt.raw_query();
        let mut count = 0u64;
        while let Some(row) = rows.next().map_err(|err| failed(e, &key, err))? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(json(row.get_ref(i).map_err(|err| failed(e, &key, err))?));
            }
            sink.row(id, values)
                .map_err(|err| e.failed(format!("{key}: cannot write the package: {err:#}")))?;
            count += 1;
        }
        out.push(Exported {
            table: table.clone(),
            rows: count,
        });
    }
    let _ = conn.execute_batch("COMMIT");
    Ok(out)
}

pub(crate) fn write(
    src: &SourceSettings,
    path: &Path,
    statements: &[(String, String)],
    who: &Subject,
) -> Result<u64, SourceError> {
    let e = ErrOf(&src.name);
    let mut conn = open(src, path, true)?;
    let _dog = Watchdog::start(&conn, src.timeout);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|err| failed(e, "erase", err))?;
    let mut changed = 0u64;
    for (key, sql) in statements {
        let key = key.as_str();
        let mut stmt = tx.prepare(sql).map_err(|err| failed(e, key, err))?;
        bind(&mut stmt, who).map_err(|err| e.failed(format!("{key}: {err}")))?;
        let n = stmt.raw_execute().map_err(|err| failed(e, key, err))?;
        changed += n as u64;
    }
    // Dropping `tx` on any error above rolls every statement back.
    tx.commit().map_err(|err| failed(e, "commit", err))?;
    Ok(changed)
}

pub(crate) fn check(src: &SourceSettings, path: &Path) -> Vec<String> {
    let conn = match open(src, path, false) {
        Ok(c) => c,
        Err(err) => return vec![format!("{err}")],
    };
    let mut out = Vec::new();
    for (key, sql) in super::rows::keyed_queries(src) {
        match conn.prepare(sql) {
            Ok(stmt) => {
                if let Err(err) = check_params(&stmt) {
                    out.push(format!("{}: {key}: {err}", src.name));
                }
                if key.starts_with("export") {
                    let cols: Vec<String> =
                        stmt.column_names().iter().map(|c| c.to_string()).collect();
                    if let Err(m) = super::rows::distinct_columns(&cols) {
                        out.push(format!("{}: {key}: {m}", src.name));
                    }
                }
                let multi = stmt.column_count();
                if key.starts_with("lookup") && multi != 1 {
                    out.push(format!(
                        "{}: {key}: returns {multi} columns; a lookup returns one count",
                        src.name
                    ));
                }
            }
            Err(err) => out.push(format!(
                "{}: {key}: {}",
                src.name,
                super::rows::one_line(&err.to_string())
            )),
        }
    }
    out
}
