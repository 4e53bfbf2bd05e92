//! One loaded set of templates: every language folder compiled (text and HTML registries,
//! partials, kind labels), the problems found while loading, and rendering. The live,
//! reloadable set is [`crate::outbound::templates::Templates`]; its checks against the
//! catalog are [`crate::outbound::template_check`].

use crate::kind::Kind;
use anyhow::{anyhow, Context, Result};
use handlebars::{Handlebars, RenderError, TemplateError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

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

impl Set {
    pub(crate) fn load(dir: &Path) -> (Set, Vec<Problem>) {
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

    pub(crate) fn render<T: Serialize>(
        &self,
        name: &str,
        lang: &str,
        data: &T,
    ) -> Result<Rendered> {
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
            // Lines of at most 76 columns, whatever the values made them.
            text: crate::outbound::wrap::reflow(&text),
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
