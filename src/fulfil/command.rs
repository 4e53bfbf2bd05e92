//! `kind = "command"` sources: a program (`command = ["/path", "arg", ...]`, run directly, no
//! shell) that gets one JSON object on stdin and answers on stdout.
//!
//! stdin: `{"action": "lookup"|"export"|"erase"|"opt-out", "email": "...", "account": "..."|null,
//! "request": "PI-2026-0001"}`. stdout by action:
//! - lookup: `{"count": 3}` or `{"counts": {"orders": 2, "invoices": 1}}`;
//! - export: JSON Lines, one row per line: `{"table": "orders", "row": {"id": 1, ...}}`
//!   (a table name is 1-64 of a-z, 0-9, `_`, `-`; columns in the CSV follow the keys' sorted
//!   order, new keys are appended as they appear); an empty output is an empty export;
//! - erase / opt-out: `{"ok": true}`, optionally `"count": N` (rows changed).
//!
//! A non-zero exit is an error carrying the program's stderr (trimmed, at most 500
//! characters); output that is not the JSON above is an error naming the line; the whole run
//! is bounded by the source's `timeout-seconds`, and the program is killed past it.

use super::rows::{Action, Count, ErrOf, Exported, RowSink, SourceError, Subject, TableId};
use super::settings::{SourceKind, SourceSettings};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Longest line of stdout (one export row).
pub const MAX_LINE: usize = 4 * 1024 * 1024;
/// Most stderr kept (the rest is read and dropped).
const MAX_STDERR: usize = 16 * 1024;
/// Most tables one export may name.
const MAX_TABLES: usize = 256;

/// Gets each stdout line (1-based number, bytes without the newline).
type LineHandler<'a> = dyn FnMut(usize, &[u8]) -> Result<(), SourceError> + 'a;

fn program(src: &SourceSettings) -> Result<(&str, &[String]), SourceError> {
    match &src.kind {
        SourceKind::Command { program, args } => Ok((program, args)),
        _ => Err(ErrOf(&src.name).failed("not a command source")),
    }
}

/// Runs the program for `action`; `on_line` gets each stdout line (without the newline).
async fn run(
    src: &SourceSettings,
    who: &Subject,
    action: Action,
    on_line: &mut LineHandler<'_>,
) -> Result<(), SourceError> {
    let e = ErrOf(&src.name);
    let (prog, args) = program(src)?;
    let input = serde_json::json!({
        "action": action.as_str(),
        "email": who.email,
        "account": who.account,
        "request": who.request,
    });
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| e.down(format!("cannot run {prog}: {err}")))?;
    let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(e.down("cannot open the program's pipes"));
    };
    let work = async {
        let write_in = async move {
            // A program that exits without reading stdin is not an error by itself.
            let _ = stdin.write_all(format!("{input}\n").as_bytes()).await;
            drop(stdin);
        };
        let read_err = async move {
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match stderr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = MAX_STDERR.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            kept
        };
        let read_out = async {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            let mut n = 0usize;
            loop {
                line.clear();
                let got = (&mut reader)
                    .take(MAX_LINE as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .await
                    .map_err(|err| e.failed(format!("cannot read the output: {err}")))?;
                if got == 0 {
                    return Ok(());
                }
                n += 1;
                if line.len() > MAX_LINE {
                    return Err(
                        e.failed(format!("output line {n} is longer than {MAX_LINE} bytes"))
                    );
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                on_line(n, text)?;
            }
        };
        let ((), err_text, out) = tokio::join!(write_in, read_err, read_out);
        let status = child
            .wait()
            .await
            .map_err(|err| e.down(format!("cannot wait for {prog}: {err}")))?;
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err_text);
            let stderr = stderr.trim();
            return Err(e.failed(if stderr.is_empty() {
                format!("{prog} failed ({status}) and printed nothing on stderr")
            } else {
                format!("{prog} failed ({status}): {stderr}")
            }));
        }
        out
    };
    tokio::time::timeout(src.timeout, work).await.map_err(|_| {
        e.down(format!(
            "{prog} did not finish within {}s",
            src.timeout.as_secs()
        ))
    })?
}

fn parse_line(e: ErrOf<'_>, n: usize, line: &[u8]) -> Result<Value, SourceError> {
    serde_json::from_slice(line).map_err(|err| {
        let shown = super::rows::one_line(&String::from_utf8_lossy(&line[..line.len().min(80)]));
        e.failed(format!("output line {n} is not JSON ({err}): {shown}"))
    })
}

/// Runs the program and parses its one JSON answer.
async fn answer(src: &SourceSettings, who: &Subject, action: Action) -> Result<Value, SourceError> {
    let e = ErrOf(&src.name);
    let mut got: Option<Value> = None;
    run(src, who, action, &mut |n, line| {
        if got.is_some() {
            return Err(e.failed(format!(
                "output line {n}: expected one JSON object, got more"
            )));
        }
        got = Some(parse_line(e, n, line)?);
        Ok(())
    })
    .await?;
    got.ok_or_else(|| {
        e.failed(format!(
            "printed nothing (expected JSON for {})",
            action.as_str()
        ))
    })
}

fn count(e: ErrOf<'_>, key: &str, v: &Value) -> Result<u64, SourceError> {
    v.as_u64()
        .ok_or_else(|| e.failed(format!("{key}: expected a whole number ≥ 0, got {v}")))
}

pub(crate) async fn lookup(src: &SourceSettings, who: &Subject) -> Result<Vec<Count>, SourceError> {
    let e = ErrOf(&src.name);
    let v = answer(src, who, Action::Lookup).await?;
    if let Some(n) = v.get("count") {
        return Ok(vec![Count {
            label: String::new(),
            count: count(e, "count", n)?,
        }]);
    }
    match v.get("counts") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, n)| {
                Ok(Count {
                    label: k.clone(),
                    count: count(e, &format!("counts.{k}"), n)?,
                })
            })
            .collect(),
        _ => Err(e.failed(format!(
            "lookup: expected {{\"count\": N}} or {{\"counts\": {{\"table\": N}}}}, got {}",
            super::rows::one_line(&v.to_string())
        ))),
    }
}

pub(crate) async fn write(
    src: &SourceSettings,
    who: &Subject,
    action: Action,
) -> Result<u64, SourceError> {
    let e = ErrOf(&src.name);
    let v = answer(src, who, action).await?;
    if v.get("ok") != Some(&Value::Bool(true)) {
        return Err(e.failed(format!(
            "{}: expected {{\"ok\": true}}, got {}",
            action.as_str(),
            super::rows::one_line(&v.to_string())
        )));
    }
    match v.get("count") {
        None => Ok(0),
        Some(n) => count(e, "count", n),
    }
}

pub(crate) async fn export(
    src: &SourceSettings,
    who: &Subject,
    sink: &mut dyn RowSink,
) -> Result<Vec<Exported>, SourceError> {
    let e = ErrOf(&src.name);
    // Per table: its sink id, its columns, its row count.
    let mut tables: BTreeMap<String, (TableId, Vec<String>, u64)> = BTreeMap::new();
    run(src, who, Action::Export, &mut |n, line| {
        let v = parse_line(e, n, line)?;
        let (Some(Value::String(table)), Some(Value::Object(row))) = (v.get("table"), v.get("row"))
        else {
            return Err(e.failed(format!(
                "output line {n}: expected {{\"table\": \"name\", \"row\": {{...}}}}"
            )));
        };
        if !super::settings::valid_name(table) {
            return Err(e.failed(format!(
                "output line {n}: table name must be 1-64 of a-z, 0-9, _ and -"
            )));
        }
        if !tables.contains_key(table) {
            if tables.len() >= MAX_TABLES {
                return Err(e.failed(format!("output line {n}: more than {MAX_TABLES} tables")));
            }
            let columns: Vec<String> = row.keys().cloned().collect();
            let id = sink
                .begin_table(&src.name, table, columns.clone())
                .map_err(|err| e.failed(format!("cannot write the package: {err:#}")))?;
            tables.insert(table.clone(), (id, columns, 0));
        }
        let Some((id, columns, rows)) = tables.get_mut(table) else {
            return Err(e.failed("internal: table vanished"));
        };
        let new: Vec<String> = row
            .keys()
            .filter(|k| !columns.contains(k))
            .cloned()
            .collect();
        if !new.is_empty() {
            sink.add_columns(*id, new.clone())
                .map_err(|err| e.failed(format!("cannot write the package: {err:#}")))?;
            columns.extend(new);
        }
        let values = columns
            .iter()
            .map(|c| row.get(c).cloned().unwrap_or(Value::Null))
            .collect();
        sink.row(*id, values)
            .map_err(|err| e.failed(format!("cannot write the package: {err:#}")))?;
        *rows += 1;
        Ok(())
    })
    .await?;
    Ok(tables
        .into_iter()
        .map(|(table, (_, _, rows))| Exported { table, rows })
        .collect())
}

pub(crate) fn check(src: &SourceSettings, program: &str) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::path::Path::new(program);
    let found = if program.contains('/') {
        Some(path.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|c| c.is_file())
        })
    };
    match found.map(|p| std::fs::metadata(&p).map(|m| (p, m))) {
        None => vec![format!("{}: command: {program} is not on PATH", src.name)],
        Some(Err(err)) => vec![format!("{}: command: {program}: {err}", src.name)],
        Some(Ok((p, m))) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => {
            vec![format!(
                "{}: command: {} is not an executable file",
                src.name,
                p.display()
            )]
        }
        Some(Ok(_)) => Vec::new(),
    }
}
