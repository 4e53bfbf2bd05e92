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
//! every value; subjects are folded to one line so no value can inject a header. A language
//! without a template falls back to English.

use crate::kind::Kind;
use anyhow::{anyhow, Context, Result};
use handlebars::Handlebars;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The language every message must exist in.
pub const FALLBACK_LANG: &str = "en";

/// One language's registries.
struct Lang {
    /// Subjects and text bodies (no escaping).
    text: Handlebars<'static>,
    /// HTML bodies (HTML escaping).
    html: Handlebars<'static>,
    /// Kind labels.
    labels: BTreeMap<String, String>,
    /// Message names that have a template here.
    names: Vec<String>,
}

/// All templates, loaded and compiled.
pub struct Templates {
    dir: PathBuf,
    langs: BTreeMap<String, Lang>,
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

impl Templates {
    /// Loads every language folder under `dir`. Collects every problem (file, line, what is
    /// wrong) into one error.
    pub fn load(dir: &Path) -> Result<Templates> {
        let mut problems = Vec::new();
        let mut langs = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("Cannot read templates folder {}", dir.display()))?;
        let mut lang_dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        lang_dirs.sort();
        for ldir in lang_dirs {
            let Some(code) = ldir
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            match load_lang(&ldir, &mut problems) {
                Some(lang) => {
                    langs.insert(code, lang);
                }
                None => continue,
            }
        }
        if !langs.contains_key(FALLBACK_LANG) {
            problems.push(format!(
                "{}: no `{FALLBACK_LANG}` folder: English is the fallback language and must exist",
                dir.display()
            ));
        }
        if !problems.is_empty() {
            return Err(anyhow!(
                "{} template problem{}:\n  {}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                problems.join("\n  ")
            ));
        }
        Ok(Templates {
            dir: dir.to_path_buf(),
            langs,
        })
    }

    /// The folder the templates came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Languages available.
    pub fn languages(&self) -> Vec<String> {
        self.langs.keys().cloned().collect()
    }

    /// Message names available in a language.
    pub fn names(&self, lang: &str) -> Vec<String> {
        self.langs
            .get(lang)
            .map(|l| l.names.clone())
            .unwrap_or_default()
    }

    /// The label of a kind in a language (falls back to English, then to the wire name).
    pub fn kind_label(&self, lang: &str, kind: Kind) -> String {
        [lang, FALLBACK_LANG]
            .iter()
            .filter_map(|l| self.langs.get(*l))
            .find_map(|l| l.labels.get(kind.as_str()).cloned())
            .unwrap_or_else(|| kind.as_str().replace('_', " "))
    }

    /// Renders message `name` in `lang` (falling back to English) with `data`.
    pub fn render<T: Serialize>(&self, name: &str, lang: &str, data: &T) -> Result<Rendered> {
        let (code, l) = [lang, FALLBACK_LANG]
            .iter()
            .find_map(|c| {
                self.langs
                    .get(*c)
                    .filter(|l| l.names.iter().any(|n| n == name))
                    .map(|l| (*c, l))
            })
            .ok_or_else(|| anyhow!("No template `{name}` in {} (nor in {FALLBACK_LANG})", lang))?;
        let subject = l
            .text
            .render(&format!("{name}.subject"), data)
            .map_err(|e| anyhow!("{e}"))?;
        let text = l
            .text
            .render(&format!("{name}.txt"), data)
            .map_err(|e| anyhow!("{e}"))?;
        let html = if l.html.has_template(&format!("{name}.html")) {
            Some(
                l.html
                    .render(&format!("{name}.html"), data)
                    .map_err(|e| anyhow!("{e}"))?,
            )
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

/// Folds a rendered subject to one line: no CR/LF can reach a header.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn load_lang(dir: &Path, problems: &mut Vec<String>) -> Option<Lang> {
    let mut text = strict(false);
    let mut html = strict(true);
    let mut labels = BTreeMap::new();
    let mut names = Vec::new();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            problems.push(format!("{}: cannot read: {e}", dir.display()));
            return None;
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
            continue;
        };
        if file == "labels.toml" {
            match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| toml::from_str::<LabelsFile>(&t).map_err(|e| e.to_string()))
            {
                Ok(lf) => {
                    for (k, v) in lf.kinds {
                        if k.parse::<Kind>().is_err() {
                            problems.push(format!("{}: unknown kind `{k}`", path.display()));
                        }
                        labels.insert(k, v);
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
            continue;
        }
        let Some(stem) = file.strip_suffix(".hbs") else {
            continue;
        };
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
        };
        let Some((base, part)) = stem.rsplit_once('.') else {
            problems.push(format!(
                "{}: name must be <message>.subject.hbs, <message>.txt.hbs or <message>.html.hbs",
                path.display()
            ));
            continue;
        };
        if !matches!(part, "subject" | "txt" | "html") {
            problems.push(format!(
                "{}: unknown part `{part}` (expected subject, txt or html)",
                path.display()
            ));
            continue;
        }
        if let Some(partial) = base.strip_prefix('_') {
            let reg = if part == "html" { &mut html } else { &mut text };
            if let Err(e) = reg.register_partial(partial, source.as_str()) {
                problems.push(template_problem(&path, &e.to_string()));
            }
            continue;
        }
        bodies.push((base.to_string(), part.to_string(), path.clone(), source));
    }
    for (base, part, path, source) in bodies {
        let reg = if part == "html" { &mut html } else { &mut text };
        let name = format!("{base}.{part}");
        if let Err(e) = reg.register_template_string(&name, source) {
            problems.push(template_problem(&path, &e.to_string()));
            continue;
        }
        if part == "txt" && !names.contains(&base) {
            names.push(base);
        }
    }
    for n in &names {
        if !text.has_template(&format!("{n}.subject")) {
            problems.push(format!(
                "{}: `{n}` has a body but no {n}.subject.hbs",
                dir.display()
            ));
        }
    }
    for n in text.get_templates().keys() {
        if let Some(base) = n.strip_suffix(".subject") {
            if !names.iter().any(|x| x == base) {
                problems.push(format!(
                    "{}: `{base}` has a subject but no {base}.txt.hbs",
                    dir.display()
                ));
            }
        }
    }
    Some(Lang {
        text,
        html,
        labels,
        names,
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsFile {
    kinds: BTreeMap<String, String>,
}

/// Rewrites a handlebars parse error as `file:line:col: reason`.
fn template_problem(path: &Path, err: &str) -> String {
    // handlebars prints `--> Template error in "name":LINE:COL` and `= reason: ...`.
    let loc = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> Template error in "))
        .and_then(|l| {
            l.rsplit_once('"')
                .map(|(_, rest)| rest.trim_start_matches(':').to_string())
        });
    let reason = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("= reason: "))
        .unwrap_or_else(|| err.lines().next().unwrap_or(err));
    match loc {
        Some(loc) => format!("{}:{loc}: {reason}", path.display()),
        None => format!("{}: {reason}", path.display()),
    }
}
