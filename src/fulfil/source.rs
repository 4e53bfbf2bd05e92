//! One API over every kind of source. The requester's `:email` and `:account` are bound as
//! parameters, never pasted into SQL; export rows go to a [`RowSink`] one at a time, so a
//! source never holds a requester's data in memory. The shared types are in [`super::rows`].

pub use super::rows::{Action, Count, Exported, RowSink, SourceError, Subject, TableId};
use super::settings::{Lookup, SourceKind, SourceSettings};

/// The subject as every source sees it: `:email` in lower case ([`super::params::email_value`]),
/// so `lower(email) = :email` finds `Eli.Marsh@Example.TEST`.
fn bound(who: &Subject) -> Subject {
    Subject {
        email: super::params::email_value(&who.email),
        ..who.clone()
    }
}

/// Counts what the source holds about the subject.
pub async fn lookup(src: &SourceSettings, who: &Subject) -> Result<Vec<Count>, SourceError> {
    let who = &bound(who);
    let Some(lookup) = &src.lookup else {
        return Err(SourceError::NotConfigured {
            source_name: src.name.clone(),
            action: "lookup",
        });
    };
    let queries: Vec<(String, String)> = match lookup {
        Lookup::One(sql) => vec![(String::new(), sql.clone())],
        Lookup::PerTable(t) => t.clone(),
    };
    match &src.kind {
        SourceKind::Sqlite { path } => super::sqlite::lookup(src, path, &queries, who),
        SourceKind::Postgres { .. } => super::postgres::lookup(src, &queries, who).await,
        SourceKind::Command { .. } => super::command::lookup(src, who).await,
    }
}

/// Streams the subject's rows into `sink`, table by table.
pub async fn export(
    src: &SourceSettings,
    who: &Subject,
    sink: &mut dyn RowSink,
) -> Result<Vec<Exported>, SourceError> {
    let who = &bound(who);
    if src.export.is_empty() {
        return Err(SourceError::NotConfigured {
            source_name: src.name.clone(),
            action: "export",
        });
    }
    match &src.kind {
        SourceKind::Sqlite { path } => super::sqlite::export(src, path, who, sink),
        SourceKind::Postgres { .. } => super::postgres::export(src, who, sink).await,
        SourceKind::Command { .. } => super::command::export(src, who, sink).await,
    }
}

/// Runs every `erase` statement in one transaction; returns the rows changed.
pub async fn erase(src: &SourceSettings, who: &Subject) -> Result<u64, SourceError> {
    let who = &bound(who);
    if src.erase.is_empty() {
        return Err(SourceError::NotConfigured {
            source_name: src.name.clone(),
            action: "erase",
        });
    }
    let keyed: Vec<(String, String)> = src
        .erase
        .iter()
        .enumerate()
        .map(|(i, sql)| (format!("erase[{i}]"), sql.clone()))
        .collect();
    write(src, who, Action::Erase, &keyed).await
}

/// Runs `opt-out`; returns the rows changed.
pub async fn opt_out(src: &SourceSettings, who: &Subject) -> Result<u64, SourceError> {
    let who = &bound(who);
    let Some(sql) = &src.opt_out else {
        return Err(SourceError::NotConfigured {
            source_name: src.name.clone(),
            action: "opt-out",
        });
    };
    write(
        src,
        who,
        Action::OptOut,
        &[("opt-out".to_string(), sql.clone())],
    )
    .await
}

async fn write(
    src: &SourceSettings,
    who: &Subject,
    action: Action,
    statements: &[(String, String)],
) -> Result<u64, SourceError> {
    match &src.kind {
        SourceKind::Sqlite { path } => super::sqlite::write(src, path, statements, who),
        SourceKind::Postgres { .. } => super::postgres::write(src, statements, who).await,
        SourceKind::Command { .. } => super::command::write(src, who, action).await,
    }
}

/// Every query of a SQL source that compares the address case-sensitively: one WARN text each,
/// naming the source and the key ([`super::casing::warning`]). Command sources: none.
pub fn case_warnings(src: &SourceSettings) -> Vec<String> {
    use super::casing::{warning, Dialect};
    let dialect = match &src.kind {
        SourceKind::Sqlite { .. } => Dialect::Sqlite,
        SourceKind::Postgres { .. } => Dialect::Postgres,
        SourceKind::Command { .. } => return Vec::new(),
    };
    super::rows::keyed_queries(src)
        .into_iter()
        .filter_map(|(key, sql)| warning(&src.name, &key, sql, dialect))
        .collect()
}

/// Connects and prepares every query of the source without running any; every problem, each
/// naming the source and the key (`crm: export.calls: no such table: calls`).
pub async fn check(src: &SourceSettings) -> Vec<String> {
    match &src.kind {
        SourceKind::Sqlite { path } => super::sqlite::check(src, path),
        SourceKind::Postgres { .. } => super::postgres::check(src).await,
        SourceKind::Command { program, .. } => super::command::check(src, program),
    }
}
