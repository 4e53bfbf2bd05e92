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

use crate::kind::Kind;
use anyhow::{anyhow, bail, Context, Result};
use handlebars::{Handlebars, RenderError, TemplateError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The language every message must exist in.
pub const FALLBACK_LANG: &str = "en";

/// One problem with a template folder: `file:line: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file (or folder) at fault; for a missing file, the path it should have.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem, one per line, under a count.
pub fn report(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    format!(
        "{} template problem{}:\n{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}

/// One language's registries.
pub(crate) struct Lang {
    /// The language's folder.
    pub(crate) dir: PathBuf,
    /// Subjects, text bodies and their partials (no escaping).
    pub(crate) text: Handlebars<'static>,
    /// HTML bodies and their partials (HTML escaping).
    pub(crate) html: Handlebars<'static>,
    /// Kind labels.
    pub(crate) labels: BTreeMap<String, String>,
    /// Message names that have a compiled text body here.
    pub(crate) names: Vec<String>,
    /// Registered name (`acknowledgement.txt`, `signature`) → its file, per registry
    /// (`true` = the HTML registry).
    pub(crate) files: BTreeMap<(bool, String), PathBuf>,
    /// Every file name present (`acknowledgement.txt.hbs`, `_signature.txt.hbs`,
    /// `labels.toml`), compiled or not.
    pub(crate) file_names: BTreeSet<String>,
}

/// One loaded set of templates (every language), immutable once built.
pub(crate) struct Set {
    /// Language code → its templates.
    pub(crate) langs: BTreeMap<String, Lang>,
}

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

/// A rendered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// One-line subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body, when the template has one.
    pub html: Option<String>,
    /// The language actually used.
    pub lang: String,
}

fn strict(escape: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    if escape {
        hb.register_escape_fn(handlebars::html_escape);
    } else {
        hb.register_escape_fn(handlebars::no_escape);
    }
    hb
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
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

impl Set {
    fn load(dir: &Path) -> (Set, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut langs = BTreeMap::new();
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                problems.push(Problem::new(
                    dir,
                    None,
                    format!("cannot read the templates folder: {e}"),
                ));
                Vec::new()
            }
        };
        entries.sort();
        for path in entries {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                problems.push(Problem::new(&path, None, "file name is not UTF-8"));
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if !path.is_dir() {
                if name != "README.md" {
                    problems.push(Problem::new(
                        &path,
                        None,
                        "unknown file: the templates folder holds only <lang>/ folders and README.md",
                    ));
                }
                continue;
            }
            if !is_lang_code(name) {
                problems.push(Problem::new(
                    &path,
                    None,
                    "not a language folder: name it by its two- or three-letter language code (en, es, de...)",
                ));
                continue;
            }
            let code = name.to_string();
            langs.insert(code, load_lang(&path, &mut problems));
        }
        if !langs.contains_key(FALLBACK_LANG) {
            problems.push(Problem::new(
                &dir.join(FALLBACK_LANG),
                None,
                format!("missing: `{FALLBACK_LANG}` is the fallback language and must exist"),
            ));
        }
        (Set { langs }, problems)
    }

    pub(crate) fn kind_label(&self, lang: &str, kind: Kind) -> String {
        [lang, FALLBACK_LANG]
            .iter()
            .filter_map(|l| self.langs.get(*l))
            .find_map(|l| l.labels.get(kind.as_str()).cloned())
            .unwrap_or_else(|| kind.as_str().replace('_', " "))
    }

    fn render<T: Serialize>(&self, name: &str, lang: &str, data: &T) -> Result<Rendered> {
        let (code, l) = [lang, FALLBACK_LANG]
            .iter()
            .find_map(|c| {
                self.langs
                    .get(*c)
                    .filter(|l| l.names.iter().any(|n| n == name))
                    .map(|l| (*c, l))
            })
            .ok_or_else(|| anyhow!("No template `{name}` in {} (nor in {FALLBACK_LANG})", lang))?;
        // Every value from a mail is cleaned here, once, whatever the template or caller.
        let data = crate::outbound::clean::template_data(
            serde_json::to_value(data).context("Template data is not serializable")?,
        );
        let data = &data;
        let part = |html: bool, part: &str| -> Result<String> {
            let reg = if html { &l.html } else { &l.text };
            let tname = format!("{name}.{part}");
            reg.render(&tname, data)
                .map_err(|e| anyhow!("{}", l.render_problem(html, &tname, &e)))
        };
        let subject = part(false, "subject")?;
        let text = part(false, "txt")?;
        let html = if l.html.has_template(&format!("{name}.html")) {
            Some(part(true, "html")?)
        } else {
            None
        };
        Ok(Rendered {
            subject: one_line(&subject),
            text,
            html,
            lang: code.to_string(),
        })
    }
}

impl Lang {
    /// A render error as a problem at the file (and line) where it happened: the partial's
    /// file when the error is inside a partial.
    pub(crate) fn render_problem(&self, html: bool, rendering: &str, e: &RenderError) -> Problem {
        let own = self
            .files
            .get(&(html, rendering.to_string()))
            .cloned()
            .unwrap_or_else(|| self.dir.join(format!("{rendering}.hbs")));
        let (file, inside) = match e
            .template_name
            .as_ref()
            .and_then(|n| self.files.get(&(html, n.clone())))
        {
            Some(f) if *f != own => (f.clone(), true),
            _ => (own, false),
        };
        let mut message = match e.reason() {
            handlebars::RenderErrorReason::MissingVariable(Some(v)) => {
                format!("unknown variable `{v}`")
            }
            handlebars::RenderErrorReason::PartialNotFound(p) => format!(
                "partial `{p}` not found: no _{p}.{}.hbs in {}",
                if html { "html" } else { "txt" },
                self.dir.display()
            ),
            other => other.to_string(),
        };
        if inside {
            let base = rendering.rsplit_once('.').map_or(rendering, |(b, _)| b);
            message.push_str(&format!(" (rendering `{base}`)"));
        }
        Problem::new(&file, e.line_no, message)
    }
}

/// `en`, `es`, `pt`, `ast`: two or three lowercase ASCII letters.
fn is_lang_code(s: &str) -> bool {
    (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
}

/// Folds a rendered subject to one line: no CR/LF can reach a header.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn load_lang(dir: &Path, problems: &mut Vec<Problem>) -> Lang {
    let mut lang = Lang {
        dir: dir.to_path_buf(),
        text: strict(false),
        html: strict(true),
        labels: BTreeMap::new(),
        names: Vec::new(),
        files: BTreeMap::new(),
        file_names: BTreeSet::new(),
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            problems.push(Problem::new(dir, None, format!("cannot read: {e}")));
            return lang;
        }
    };
    files.sort();
    let mut bodies: Vec<(String, String, PathBuf, String)> = Vec::new();
    for path in files {
        let Some(file) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            problems.push(Problem::new(&path, None, "file name is not UTF-8"));
            continue;
        };
        if file.starts_with('.') {
            continue;
        }
        if file == "labels.toml" {
            lang.file_names.insert(file);
            load_labels(&path, &mut lang.labels, problems);
            continue;
        }
        let parsed = file
            .strip_suffix(".hbs")
            .and_then(|stem| stem.rsplit_once('.'))
            .filter(|(base, part)| !base.is_empty() && matches!(*part, "subject" | "txt" | "html"));
        let Some((base, part)) = parsed else {
            problems.push(Problem::new(
                &path,
                None,
                "unknown file: expected <message>.subject.hbs, <message>.txt.hbs, \
                 <message>.html.hbs, _<partial>.txt.hbs, _<partial>.html.hbs or labels.toml",
            ));
            continue;
        };
        let (base, part) = (base.to_string(), part.to_string());
        lang.file_names.insert(file);
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Problem::new(&path, None, format!("cannot read: {e}")));
                continue;
            }
        };
        if let Some(partial) = base.strip_prefix('_') {
            let html = part == "html";
            let reg = if html { &mut lang.html } else { &mut lang.text };
            match reg.register_partial(partial, source.as_str()) {
                Ok(()) => {
                    lang.files.insert((html, partial.to_string()), path);
                }
                Err(e) => problems.push(parse_problem(&path, &source, &e)),
            }
            continue;
        }
        bodies.push((base, part, path, source));
    }
    for (base, part, path, source) in bodies {
        let html = part == "html";
        let reg = if html { &mut lang.html } else { &mut lang.text };
        let name = format!("{base}.{part}");
        if let Err(e) = reg.register_template_string(&name, &source) {
            problems.push(parse_problem(&path, &source, &e));
            continue;
        }
        lang.files.insert((html, name), path);
        if part == "txt" && !lang.names.contains(&base) {
            lang.names.push(base);
        }
    }
    lang
}

fn load_labels(path: &Path, labels: &mut BTreeMap<String, String>, problems: &mut Vec<Problem>) {
    let parsed = std::fs::read_to_string(path)
        .map_err(|e| (None, format!("cannot read: {e}")))
        .and_then(|t| toml::from_str::<LabelsFile>(&t).map_err(|e| toml_message(&t, &e)));
    match parsed {
        Ok(lf) => {
            for (k, v) in lf.kinds {
                if let Err(e) = k.parse::<Kind>() {
                    problems.push(Problem::new(path, None, e));
                }
                labels.insert(k, v);
            }
        }
        Err((line, e)) => problems.push(Problem::new(path, line, e)),
    }
}

/// A TOML error as (line, message).
fn toml_message(text: &str, e: &toml::de::Error) -> (Option<usize>, String) {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    (line, e.message().to_string())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsFile {
    kinds: BTreeMap<String, String>,
}

/// A handlebars parse error as a problem at `file:line`.
fn parse_problem(path: &Path, source: &str, e: &TemplateError) -> Problem {
    let reason = e.reason().to_string();
    if reason.contains("helper_block_end") {
        if let Some((line, name)) = unclosed_block(source) {
            return Problem::new(
                path,
                Some(line),
                format!("`{{{{#{name}}}}}` opened here is never closed with `{{{{/{name}}}}}`"),
            );
        }
    }
    Problem::new(path, e.pos().map(|(l, _)| l), reason)
}

/// The line and name of the last `{{#block}}` left open, by a plain scan of the source.
fn unclosed_block(source: &str) -> Option<(usize, String)> {
    let mut open: Vec<(usize, String)> = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("{{") {
            rest = &rest[i + 2..];
            let tag = rest.trim_start_matches('~').trim_start();
            let name = |t: &str| -> String {
                t.trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                    .collect()
            };
            if let Some(t) = tag.strip_prefix('#') {
                open.push((n + 1, name(t.trim_start_matches(['>', '*']))));
            } else if let Some(t) = tag.strip_prefix('/') {
                let closing = name(t);
                if let Some(pos) = open.iter().rposition(|(_, o)| *o == closing) {
                    open.truncate(pos);
                }
            }
        }
    }
    open.pop()
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
