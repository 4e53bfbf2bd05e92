//! Admin-edited Handlebars templates, one folder per language.
//!
//! ```text
//! templates/<lang>/<name>.subject.hbs   one line; the request tag is added if missing
//! templates/<lang>/<name>.txt.hbs       the plain-text body (required)
//! templates/<lang>/<name>.html.hbs      an HTML body (optional)
//! templates/<lang>/_<partial>.txt.hbs   a partial, used as {{> partial}} in text bodies
//! templates/<lang>/_<partial>.html.hbs  a partial for HTML bodies
//! templates/<lang>/labels.toml          names of the request kinds in that language
//! ```
//!
//! Rendering is strict: a missing variable is an error, never a blank. HTML bodies escape
//! every value; subjects are folded to one line so no value can inject a header. Before any
//! of that, every string value is cleaned ([`crate::outbound::clean`]: no control or bidi
//! characters, whitespace folded, lengths capped, one line unless multi-line). A language
//! without a template falls back to English.
//!
//! [`Templates::load`] refuses a set with any problem, and reports all of them at once with
//! file and line ([`crate::outbound::template_check`] renders every message of
//! [`crate::outbound::catalog`] in every language with sample data). [`Templates::refresh`]
//! reloads an edited folder in place: a good set is swapped in, a broken one leaves the last
//! good set live.

pub(crate) use super::template_set::Set;
pub use super::template_set::{one_line, report, Problem, Rendered, FALLBACK_LANG};
use crate::kind::Kind;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// All templates, loaded, checked and compiled; reloadable in place ([`Templates::refresh`]).
pub struct Templates {
    dir: PathBuf,
    live: RwLock<Arc<Set>>,
    watch: Mutex<Watch>,
}

/// What [`Templates::refresh`] last saw.
struct Watch {
    stamp: Vec<Stamp>,
    /// Versions (content hashes) already reported broken.
    reported: BTreeSet<String>,
}

/// Path, modification time and size of one file or folder.
type Stamp = (PathBuf, Option<SystemTime>, u64);

/// What a [`Templates::refresh`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Nothing changed on disk.
    Unchanged,
    /// The folder changed and the new set is live.
    Reloaded {
        /// Content hash of the new set.
        version: String,
    },
    /// The folder changed but the new set has problems; the last good set stays live.
    Broken {
        /// Content hash of the broken set.
        version: String,
        /// Every problem.
        problems: Vec<Problem>,
        /// True the first time this version is seen broken (tell staff then, once).
        first: bool,
    },
}

impl Templates {
    /// Loads every language folder under `dir` and checks the set against the catalog.
    /// Any problem refuses the whole set, with every problem (file, line, what is wrong)
    /// in one error.
    pub fn load(dir: &Path) -> Result<Templates> {
        let stamp = stamp(dir);
        let (set, problems) = load_checked(dir);
        if !problems.is_empty() {
            bail!("{}", report(&problems));
        }
        Ok(Templates {
            dir: dir.to_path_buf(),
            live: RwLock::new(Arc::new(set)),
            watch: Mutex::new(Watch {
                stamp,
                reported: BTreeSet::new(),
            }),
        })
    }

    /// Every problem of the templates in `dir`, sorted; empty when the set is good.
    pub fn check(dir: &Path) -> Vec<Problem> {
        load_checked(dir).1
    }

    fn set(&self) -> Arc<Set> {
        Arc::clone(&read_lock(&self.live))
    }

    /// The folder the templates came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Languages available.
    pub fn languages(&self) -> Vec<String> {
        self.set().langs.keys().cloned().collect()
    }

    /// Message names available in a language.
    pub fn names(&self, lang: &str) -> Vec<String> {
        self.set()
            .langs
            .get(lang)
            .map(|l| l.names.clone())
            .unwrap_or_default()
    }

    /// The label of a kind in a language (falls back to English, then to the wire name).
    pub fn kind_label(&self, lang: &str, kind: Kind) -> String {
        self.set().kind_label(lang, kind)
    }

    /// Renders message `name` in `lang` (falling back to English) with `data`.
    pub fn render<T: Serialize>(&self, name: &str, lang: &str, data: &T) -> Result<Rendered> {
        self.set().render(name, lang, data)
    }

    /// Looks at the folder again; when anything changed, loads and checks the new set and
    /// swaps it in if it is good. A broken set never replaces the live one.
    pub fn refresh(&self) -> Reload {
        let now = stamp(&self.dir);
        let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        if now == w.stamp {
            return Reload::Unchanged;
        }
        w.stamp = now;
        let version = content_hash(&self.dir);
        let (set, problems) = load_checked(&self.dir);
        if problems.is_empty() {
            *self.live.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
            Reload::Reloaded { version }
        } else {
            let first = w.reported.insert(version.clone());
            Reload::Broken {
                version,
                problems,
                first,
            }
        }
    }
}

/// Loads `dir` and runs every check; problems sorted and deduplicated.
pub(crate) fn load_checked(dir: &Path) -> (Set, Vec<Problem>) {
    let (set, mut problems) = Set::load(dir);
    crate::outbound::template_check::check(&set, &mut problems);
    let problems = merge_partial_problems(problems);
    let mut problems = problems;
    problems.sort();
    problems.dedup();
    // A render error and the template walk may report one fault twice; keep the longer.
    let all = problems.clone();
    problems.retain(|p| {
        !all.iter().any(|q| {
            q != p && q.file == p.file && q.line == p.line && q.message.starts_with(&p.message)
        })
    });
    (set, problems)
}

/// One fault in a partial shows up once per message using it: report it once, naming them.
fn merge_partial_problems(problems: Vec<Problem>) -> Vec<Problem> {
    const MARK: &str = " (rendering `";
    let mut out: Vec<Problem> = Vec::new();
    let mut users: BTreeMap<(PathBuf, Option<usize>, String), Vec<String>> = BTreeMap::new();
    for p in problems {
        match p.message.split_once(MARK) {
            Some((what, rest)) => users
                .entry((p.file.clone(), p.line, what.to_string()))
                .or_default()
                .push(rest.trim_end_matches(")").trim_end_matches('`').to_string()),
            None => out.push(p),
        }
    }
    for ((file, line, what), mut names) in users {
        names.sort();
        names.dedup();
        out.push(Problem::new(
            &file,
            line,
            format!("{what} (rendering {})", names.join(", ")),
        ));
    }
    out
}

/// Paths, modification times and sizes of the folder, its language folders and their files.
fn stamp(dir: &Path) -> Vec<Stamp> {
    fn one(p: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(p).ok()?;
        Some((p.to_path_buf(), m.modified().ok(), m.len()))
    }
    fn list(p: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
    let mut out: Vec<Stamp> = one(dir).into_iter().collect();
    for p in list(dir) {
        out.extend(one(&p));
        if p.is_dir() {
            out.extend(list(&p).iter().filter_map(|f| one(f)));
        }
    }
    out
}

/// SHA-256 over every file's relative path and bytes: the version of a template set.
fn content_hash(dir: &Path) -> String {
    let mut h = Sha256::new();
    for (path, _, _) in stamp(dir) {
        if path.is_file() {
            let rel = path.strip_prefix(dir).unwrap_or(&path);
            h.update(rel.to_string_lossy().as_bytes());
            h.update([0]);
            h.update(std::fs::read(&path).unwrap_or_default());
            h.update([0]);
        }
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Reads `dir` for a preview or check: the folder must exist.
pub fn require_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("Cannot read templates folder {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    Ok(())
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}
