//! The report of a config file that does not load: one line a problem, each naming the
//! file and the key, every problem once.

use std::path::Path;

/// Every problem of a config file, one `FILE: `key`: problem` line each.
#[derive(Debug, thiserror::Error)]
#[error("{} problem{} in the configuration:\n  {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.join("\n  "))]
pub struct ConfigError {
    /// One line per problem, each starting with the file name and the key.
    pub problems: Vec<String>,
}

impl ConfigError {
    /// One problem with `key` of the config file `file`, in the words of the whole report:
    /// for what is found wrong after the file loaded (the DKIM key, read where the daemon
    /// starts).
    pub fn one(file: &Path, key: &str, msg: impl std::fmt::Display) -> ConfigError {
        let mut errs = Errors::new(file);
        errs.push(key, msg);
        ConfigError {
            problems: errs.list,
        }
    }
}

/// Collects errors, each prefixed with the file name.
pub(super) struct Errors<'a> {
    file: &'a Path,
    list: Vec<String>,
    /// Keys (`imap.port`) and sections (`imap`) already reported as unreadable: later checks
    /// that would only repeat them ("missing") are dropped, so each real problem is reported
    /// once.
    unreadable: Vec<String>,
}

impl<'a> Errors<'a> {
    /// No problems yet, in `file`.
    pub(super) fn new(file: &'a Path) -> Errors<'a> {
        Errors {
            file,
            list: Vec::new(),
            unreadable: Vec::new(),
        }
    }

    /// A problem with `key` (`section.key`, or a section), unless it only repeats one
    /// reported already.
    pub(super) fn push(&mut self, key: &str, msg: impl std::fmt::Display) {
        let repeats = self.unreadable.iter().any(|u| {
            key == u
                || key
                    .strip_prefix(u.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        });
        if !repeats {
            self.list.push(format!(
                "{}: `{key}`: {}",
                self.file.display(),
                one_line(&msg.to_string())
            ));
        }
    }

    /// A key or section that could not be read at all: reported here, never again.
    pub(super) fn unreadable(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.push(key, msg);
        self.silence(key);
    }

    /// Nothing more is said about `key` (or, for a section, any key in it): a problem
    /// reported under another name already explains it.
    pub(super) fn silence(&mut self, key: &str) {
        self.unreadable.push(key.to_string());
    }

    /// `Err` with every problem, or `Ok` when there was none.
    pub(super) fn into_result(self) -> Result<(), ConfigError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.list,
            })
        }
    }
}

/// `text` on one line: a problem is always one line of the report.
pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A TOML syntax error as one line: `FILE: line N: problem`.
pub(super) fn syntax_problem(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .and_then(|s| text.get(..s.start))
        .map(|before| before.matches('\n').count() + 1);
    match line {
        Some(n) => format!(
            "{}: line {n}: invalid TOML: {}",
            path.display(),
            one_line(e.message())
        ),
        None => format!(
            "{}: invalid TOML: {}",
            path.display(),
            one_line(e.message())
        ),
    }
}
