//! What every kind of source shares: who an action is for ([`Subject`]), what it is
//! ([`Action`]), how it fails ([`SourceError`]), what comes back ([`Count`], [`Exported`]) and
//! where export rows go ([`RowSink`]). The dispatcher is [`super::source`]; the kinds are
//! [`super::sqlite`], [`super::postgres`] and [`super::command`].

use super::settings::{Lookup, SourceSettings};
use serde_json::Value;

/// Who the action is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The verified requester's address (`:email`).
    pub email: String,
    /// The account number, when the directory or the consumer gave one (`:account`, else NULL).
    pub account: Option<String>,
    /// The request id (`PI-2026-0001`), passed to command sources.
    pub request: String,
}

/// What a source is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Count what exists.
    Lookup,
    /// Collect the rows.
    Export,
    /// Delete.
    Erase,
    /// Mark as opted out of sale/sharing or limited use.
    OptOut,
}

impl Action {
    /// `lookup`, `export`, `erase`, `opt-out` (the config's and the command protocol's word).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Lookup => "lookup",
            Action::Export => "export",
            Action::Erase => "erase",
            Action::OptOut => "opt-out",
        }
    }
}

/// Why an action failed. The caller retries [`SourceError::Unavailable`] with backoff and
/// escalates [`SourceError::Failed`] to staff.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    /// The source could not be reached or timed out: worth retrying.
    #[error("{source_name}: unavailable: {message}")]
    Unavailable {
        /// The source's `name`.
        source_name: String,
        /// What went wrong, one line.
        message: String,
    },
    /// The source answered with an error (a failing query, garbage output, a non-zero exit):
    /// retrying will not help; staff must look.
    #[error("{source_name}: {message}")]
    Failed {
        /// The source's `name`.
        source_name: String,
        /// What went wrong, one line.
        message: String,
    },
    /// The source has no such action configured.
    #[error("{source_name}: no {action} configured")]
    NotConfigured {
        /// The source's `name`.
        source_name: String,
        /// The action asked for.
        action: &'static str,
    },
}

impl SourceError {
    /// True when a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SourceError::Unavailable { .. })
    }
}

/// Builds [`SourceError`]s for one source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrOf<'a>(pub &'a str);

impl ErrOf<'_> {
    pub(crate) fn down(self, m: impl std::fmt::Display) -> SourceError {
        SourceError::Unavailable {
            source_name: self.0.to_string(),
            message: one_line(&m.to_string()),
        }
    }
    pub(crate) fn failed(self, m: impl std::fmt::Display) -> SourceError {
        SourceError::Failed {
            source_name: self.0.to_string(),
            message: one_line(&m.to_string()),
        }
    }
}

/// Longest error text kept (a command's stderr, a driver's message).
pub const MAX_ERROR_CHARS: usize = 500;

/// Newlines flattened, trimmed, at most [`MAX_ERROR_CHARS`] characters.
pub fn one_line(s: &str) -> String {
    let flat: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > MAX_ERROR_CHARS {
        let mut cut: String = flat.chars().take(MAX_ERROR_CHARS).collect();
        cut.push('…');
        cut
    } else {
        flat
    }
}

/// One count of a lookup: `label` is the table (per-table lookup) or `""` (one count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// What was counted (`""` for a source's single count).
    pub label: String,
    /// How many.
    pub count: u64,
}

/// Handle of a table opened in a [`RowSink`].
pub type TableId = usize;

/// Where export rows go, one at a time.
pub trait RowSink {
    /// Starts a table of `source` with these columns.
    fn begin_table(
        &mut self,
        source: &str,
        table: &str,
        columns: Vec<String>,
    ) -> anyhow::Result<TableId>;
    /// More columns appeared (command sources: a later row had a new key); rows written before
    /// have no value for them.
    fn add_columns(&mut self, table: TableId, columns: Vec<String>) -> anyhow::Result<()>;
    /// One row, its values in column order (shorter than the columns: the rest are missing).
    fn row(&mut self, table: TableId, values: Vec<Value>) -> anyhow::Result<()>;
}

/// Rows exported per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The table's name.
    pub table: String,
    /// Rows written to the sink.
    pub rows: u64,
}

/// Every SQL query of a source with its config key (`lookup`, `lookup.t`, `export.t`,
/// `erase[0]`, `opt-out`).
pub(crate) fn keyed_queries(src: &SourceSettings) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    match &src.lookup {
        Some(Lookup::One(sql)) => out.push(("lookup".to_string(), sql.as_str())),
        Some(Lookup::PerTable(t)) => out.extend(
            t.iter()
                .map(|(n, sql)| (format!("lookup.{n}"), sql.as_str())),
        ),
        None => {}
    }
    out.extend(
        src.export
            .iter()
            .map(|(n, sql)| (format!("export.{n}"), sql.as_str())),
    );
    out.extend(
        src.erase
            .iter()
            .enumerate()
            .map(|(i, sql)| (format!("erase[{i}]"), sql.as_str())),
    );
    if let Some(sql) = &src.opt_out {
        out.push(("opt-out".to_string(), sql.as_str()));
    }
    out
}

/// Refuses an export whose columns repeat a name: the JSON objects and the CSV header would
/// lose or confuse one of them (`SELECT a.email, b.email`: name each with `AS`).
pub(crate) fn distinct_columns(columns: &[String]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for c in columns {
        if !seen.insert(c.as_str()) {
            return Err(format!(
                "column \"{c}\" appears twice; give each column its own name (AS ...)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_column_names_are_refused() {
        let cols = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(distinct_columns(&cols(&["a", "b"])).is_ok());
        assert!(distinct_columns(&cols(&["email", "x", "email"]))
            .expect_err("repeated")
            .contains("\"email\" appears twice"));
    }

    #[test]
    fn errors_are_one_bounded_line() {
        let long = "x\n".repeat(2000);
        let s = one_line(&long);
        assert!(!s.contains('\n'));
        assert_eq!(s.chars().count(), MAX_ERROR_CHARS + 1);
        assert_eq!(one_line("  a\r\nb  "), "a  b");
    }
}
