//! PostgreSQL sources through tokio-postgres (not sqlx: its sqlite feature links a second
//! SQLite beside rusqlite's bundled one, and the postgres driver alone is all we need).
//!
//! `:email`/`:account` become `$n` ([`super::params::to_postgres`]) and are bound as `text`.
//! Export reads each query through a cursor (a portal, [`FETCH_ROWS`] rows at a time) inside
//! one REPEATABLE READ, READ ONLY transaction, each row turned into JSON by the server
//! (`row_to_json`), so every PostgreSQL type arrives as JSON and memory stays flat.
//!
//! TLS: with `?sslmode=require` in the url the connection goes through rustls
//! (tokio-postgres-rustls, the bot's one certificate verifier [`crate::tls`]: the host name
//! is checked; `ca-file` pins a certificate or names a private CA). Without it the
//! connection is plain, which is allowed only to a loopback host or a Unix socket: any
//! other host without `sslmode=require` is refused when the config is read.

use super::params::{to_postgres, trim_statement, Param};
use super::rows::{Count, ErrOf, Exported, RowSink, SourceError, Subject};
use super::settings::{PasswordSource, SourceKind, SourceSettings};
use futures::TryStreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, NoTls};

/// Longest wait for a connection (TCP + startup + authentication).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows fetched per round trip of an export cursor: bounds memory whatever the table's size.
pub const FETCH_ROWS: i32 = 500;
/// Longest wait for a `password-command`.
const PASSWORD_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

async fn password(src: &SourceSettings, p: &PasswordSource) -> Result<String, SourceError> {
    let e = ErrOf(&src.name);
    match p {
        PasswordSource::Env(var) => std::env::var(var).map_err(|_| {
            e.failed(format!(
                "password-env: environment variable {var} is not set"
            ))
        }),
        PasswordSource::Command(cmd) => {
            let out = tokio::time::timeout(
                PASSWORD_COMMAND_TIMEOUT,
                tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .output(),
            )
            .await
            .map_err(|_| e.failed("password-command: timed out"))?
            .map_err(|err| e.failed(format!("password-command: cannot run: {err}")))?;
            if !out.status.success() {
                return Err(e.failed(format!(
                    "password-command: failed with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().next().unwrap_or("").trim().to_string();
            if line.is_empty() {
                return Err(e.failed("password-command: printed nothing"));
            }
            Ok(line)
        }
    }
}

async fn connect(src: &SourceSettings) -> Result<Client, SourceError> {
    let e = ErrOf(&src.name);
    let SourceKind::Postgres {
        url,
        password: pw,
        ca_file,
    } = &src.kind
    else {
        return Err(e.failed("not a postgres source"));
    };
    let mut cfg: Config = url.parse().map_err(|err| e.failed(format!("url: {err}")))?;
    super::settings::check_host(&cfg).map_err(|m| e.failed(format!("url: {m}")))?;
    if let Some(p) = pw {
        cfg.password(password(src, p).await?);
    }
    cfg.connect_timeout(CONNECT_TIMEOUT);
    let classify = |err: tokio_postgres::Error| {
        let text = describe(&err);
        // A refused login or certificate will not fix itself; a network failure may.
        if err.as_db_error().is_some() || text.contains("certificate") || text.contains("TLS") {
            e.failed(format!("connect: {text}"))
        } else {
            e.down(format!("connect: {text}"))
        }
    };
    let client = if cfg.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        let tls = crate::tls::client_config("postgres", ca_file.as_deref())
            .map_err(|err| e.failed(format!("ca-file: {err:#}")))?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
        let (client, conn) = tokio::time::timeout(CONNECT_TIMEOUT, cfg.connect(tls))
            .await
            .map_err(|_| e.down("connect: timed out"))?
            .map_err(classify)?;
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "PostgreSQL source connection ended");
            }
        });
        client
    } else {
        let (client, conn) = tokio::time::timeout(CONNECT_TIMEOUT, cfg.connect(NoTls))
            .await
            .map_err(|_| e.down("connect: timed out"))?
            .map_err(classify)?;
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "PostgreSQL source connection ended");
            }
        });
        client
    };
    let ms = src.timeout.as_millis();
    client
        .batch_execute(&format!("SET statement_timeout = {ms}"))
        .await
        .map_err(|err| e.down(format!("connect: {}", describe(&err))))?;
    Ok(client)
}

/// The server's message (with its detail) or the driver's, one line.
fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_string(),
        },
        None => {
            let mut s = err.to_string();
            let mut cur = std::error::Error::source(err);
            while let Some(c) = cur {
                s.push_str(": ");
                s.push_str(&c.to_string());
                cur = c.source();
            }
            s
        }
    }
}

/// A query error: unavailable when the connection broke or the statement timed out.
fn failed(e: ErrOf<'_>, key: &str, err: &tokio_postgres::Error) -> SourceError {
    use tokio_postgres::error::SqlState;
    let timed_out = err.code() == Some(&SqlState::QUERY_CANCELED);
    let transient = err.is_closed()
        || timed_out
        || err.code().is_some_and(|c| {
            c == &SqlState::T_R_SERIALIZATION_FAILURE
                || c == &SqlState::T_R_DEADLOCK_DETECTED
                || c == &SqlState::ADMIN_SHUTDOWN
                || c == &SqlState::CANNOT_CONNECT_NOW
                || c == &SqlState::LOCK_NOT_AVAILABLE
        });
    if transient {
        e.down(format!("{key}: {}", describe(err)))
    } else {
        e.failed(format!("{key}: {}", describe(err)))
    }
}

type Bound<'a> = Vec<&'a (dyn ToSql + Sync)>;

fn values<'a>(params: &[Param], who: &'a Subject) -> Bound<'a> {
    params
        .iter()
        .map(|p| match p {
            Param::Email => &who.email as &(dyn ToSql + Sync),
            Param::Account => &who.account as &(dyn ToSql + Sync),
        })
        .collect()
}

fn translate(e: ErrOf<'_>, key: &str, sql: &str) -> Result<(String, Vec<Param>), SourceError> {
    to_postgres(sql).map_err(|m| e.failed(format!("{key}: {m}")))
}

/// Runs `f` under the source's timeout.
async fn timed<T>(
    src: &SourceSettings,
    what: &str,
    f: impl std::future::Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    tokio::time::timeout(src.timeout + CONNECT_TIMEOUT, f)
        .await
        .map_err(|_| ErrOf(&src.name).down(format!("{what}: timed out")))?
}

pub(crate) async fn lookup(
    src: &SourceSettings,
    queries: &[(String, String)],
    who: &Subject,
) -> Result<Vec<Count>, SourceError> {
    timed(src, "lookup", async {
        let e = ErrOf(&src.name);
        let client = connect(src).await?;
        let mut out = Vec::new();
        for (label, sql) in queries {
            let key = if label.is_empty() {
                "lookup".to_string()
            } else {
                format!("lookup.{label}")
            };
            let (sql, params) = translate(e, &key, sql)?;
            let types = vec![Type::TEXT; params.len()];
            let stmt = client
                .prepare_typed(&sql, &types)
                .await
                .map_err(|err| failed(e, &key, &err))?;
            let row = client
                .query_opt(&stmt, &values(&params, who))
                .await
                .map_err(|err| failed(e, &key, &err))?
                .ok_or_else(|| e.failed(format!("{key}: returned no row (expected one count)")))?;
            let n: i64 = row
                .try_get::<_, i64>(0)
                .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
                .or_else(|_| row.try_get::<_, i16>(0).map(i64::from))
                .map_err(|err| e.failed(format!("{key}: expected an integer count: {err}")))?;
            let count =
                u64::try_from(n).map_err(|_| e.failed(format!("{key}: negative count {n}")))?;
            out.push(Count {
                label: label.clone(),
                count,
            });
        }
        Ok(out)
    })
    .await
}

pub(crate) async fn export(
    src: &SourceSettings,
    who: &Subject,
    sink: &mut dyn RowSink,
) -> Result<Vec<Exported>, SourceError> {
    timed(src, "export", async {
        let e = ErrOf(&src.name);
        let mut client = connect(src).await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|err| failed(e, "export", &err))?;
        let mut out = Vec::new();
        for (table, sql) in &src.export {
            let key = format!("export.{table}");
            let (sql, params) = translate(e, &key, sql)?;
            let types = vec![Type::TEXT; params.len()];
            let inner = tx
                .prepare_typed(&sql, &types)
                .await
                .map_err(|err| failed(e, &key, &err))?;
            let columns: Vec<String> = inner
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            super::rows::distinct_columns(&columns).map_err(|m| e.failed(format!("{key}: {m}")))?;
            let wrapped = format!(
                "SELECT row_to_json(q)::text FROM ({}\n) AS q",
                trim_statement(&sql)
            );
            let stmt = tx
                .prepare_typed(&wrapped, &types)
                .await
                .map_err(|err| failed(e, &key, &err))?;
            let id = sink
                .begin_table(&src.name, table, columns.clone())
                .map_err(|err| e.failed(format!("{key}: cannot write the package: {err:#}")))?;
            let portal = tx
                .bind_raw(&stmt, values(&params, who))
                .await
                .map_err(|err| failed(e, &key, &err))?;
            let mut count = 0u64;
            loop {
                let rows = tx
                    .query_portal_raw(&portal, FETCH_ROWS)
                    .await
                    .map_err(|err| failed(e, &key, &err))?;
                let mut rows = std::pin::pin!(rows);
                let mut got = 0;
                while let Some(row) = rows.try_next().await.map_err(|err| failed(e, &key, &err))? {
                    got += 1;
                    let text: &str = row
                        .try_get(0)
                        .map_err(|err| e.failed(format!("{key}: {err}")))?;
                    let obj: serde_json::Map<String, Value> = serde_json::from_str(text)
                        .map_err(|err| e.failed(format!("{key}: unreadable row: {err}")))?;
                    let vals = columns
                        .iter()
                        .map(|c| obj.get(c).cloned().unwrap_or(Value::Null))
                        .collect();
                    sink.row(id, vals).map_err(|err| {
                        e.failed(format!("{key}: cannot write the package: {err:#}"))
                    })?;
                    count += 1;
                }
                if got < FETCH_ROWS {
                    break;
                }
            }
            out.push(Exported {
                table: table.clone(),
                rows: count,
            });
        }
        tx.commit().await.map_err(|err| failed(e, "export", &err))?;
        Ok(out)
    })
    .await
}

pub(crate) async fn write(
    src: &SourceSettings,
    statements: &[(String, String)],
    who: &Subject,
) -> Result<u64, SourceError> {
    timed(src, "erase", async {
        let e = ErrOf(&src.name);
        let mut client = connect(src).await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| failed(e, "begin", &err))?;
        let mut changed = 0;
        for (key, sql) in statements {
            let (sql, params) = translate(e, key, sql)?;
            let types = vec![Type::TEXT; params.len()];
            let stmt = tx
                .prepare_typed(&sql, &types)
                .await
                .map_err(|err| failed(e, key, &err))?;
            changed += tx
                .execute(&stmt, &values(&params, who))
                .await
                .map_err(|err| failed(e, key, &err))?;
        }
        // An error above drops `tx`, which rolls back every statement.
        tx.commit().await.map_err(|err| failed(e, "commit", &err))?;
        Ok(changed)
    })
    .await
}

pub(crate) async fn check(src: &SourceSettings) -> Vec<String> {
    let client = match timed(src, "connect", connect(src)).await {
        Ok(c) => c,
        Err(err) => return vec![err.to_string()],
    };
    let mut out = Vec::new();
    for (key, sql) in super::rows::keyed_queries(src) {
        let (sql, params) = match to_postgres(sql) {
            Ok(x) => x,
            Err(m) => {
                out.push(format!("{}: {key}: {m}", src.name));
                continue;
            }
        };
        let types = vec![Type::TEXT; params.len()];
        let prepared = tokio::time::timeout(src.timeout, client.prepare_typed(&sql, &types)).await;
        match prepared {
            Err(_) => out.push(format!("{}: {key}: timed out", src.name)),
            Ok(Err(err)) => out.push(format!("{}: {key}: {}", src.name, describe(&err))),
            Ok(Ok(stmt)) => {
                if key.starts_with("export") {
                    let cols: Vec<String> = stmt
                        .columns()
                        .iter()
                        .map(|c| c.name().to_string())
                        .collect();
                    if let Err(m) = super::rows::distinct_columns(&cols) {
                        out.push(format!("{}: {key}: {m}", src.name));
                    }
                    // The export runs wrapped (row_to_json over a subquery): it must be a query.
                    let wrapped = format!(
                        "SELECT row_to_json(q)::text FROM ({}\n) AS q",
                        trim_statement(&sql)
                    );
                    match tokio::time::timeout(src.timeout, client.prepare_typed(&wrapped, &types))
                        .await
                    {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => out.push(format!(
                            "{}: {key}: cannot be read as rows ({}); an export is a SELECT",
                            src.name,
                            describe(&err)
                        )),
                        Err(_) => out.push(format!("{}: {key}: timed out", src.name)),
                    }
                }
                if key.starts_with("lookup") && stmt.columns().len() != 1 {
                    out.push(format!(
                        "{}: {key}: returns {} columns; a lookup returns one count",
                        src.name,
                        stmt.columns().len()
                    ));
                }
            }
        }
    }
    out
}
