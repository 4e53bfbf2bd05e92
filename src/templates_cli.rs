//! The `templates` commands (`check`, `preview`). (Hot reload of an edited folder is the
//! daemon's own.)
//!
//! Which folder: `--dir` when given; else `[templates] dir` of the config file (relative to
//! the config's folder); else, when the config file does not exist, `templates/` in the
//! current directory. `check` reads nothing else from the config, so it works on a
//! machine without mail settings (an admin's laptop, CI).

use crate::config;
use crate::kind::Kind;
use crate::outbound::catalog::{self, Sample};
use crate::outbound::templates::{require_dir, Templates};
use crate::store::{requests, Store};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The templates folder for `check` and `preview` (see the module doc).
pub fn templates_dir(config_path: &Path, dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(d) = dir {
        return Ok(d.to_path_buf());
    }
    if !config_path.exists() {
        return Ok(PathBuf::from("templates"));
    }
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("Cannot read config file {}", config_path.display()))?;
    let root: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: invalid TOML: {e}", config_path.display()))?;
    let base = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match root.get("templates").and_then(|t| t.get("dir")) {
        Some(toml::Value::String(d)) if !d.is_empty() => {
            let p = PathBuf::from(d);
            Ok(if p.is_absolute() { p } else { base.join(p) })
        }
        Some(_) => bail!(
            "{}: templates.dir must be a non-empty string",
            config_path.display()
        ),
        None => Ok(base.join("templates")),
    }
}

/// `templates check`: prints every problem (`file:line: what is wrong`); true when none.
pub fn check(dir: &Path, out: &mut impl std::io::Write) -> Result<bool> {
    require_dir(dir)?;
    let problems = Templates::check(dir);
    if problems.is_empty() {
        let t = Templates::load(dir)?;
        writeln!(
            out,
            "{}: OK: {} messages checked in {}",
            dir.display(),
            catalog::catalog().len(),
            t.languages().join(", ")
        )?;
        return Ok(true);
    }
    for p in &problems {
        writeln!(out, "{p}")?;
    }
    writeln!(
        out,
        "{}: {} problem{}",
        dir.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    )?;
    Ok(false)
}

/// What to preview.
pub struct PreviewArgs<'a> {
    /// The config file (needed with `request`).
    pub config: &'a Path,
    /// `--dir`, overriding the config's folder.
    pub dir: Option<&'a Path>,
    /// Template name.
    pub name: &'a str,
    /// Language wanted.
    pub lang: &'a str,
    /// Render with this request's real facts.
    pub request: Option<&'a str>,
}

/// `templates preview NAME [--lang L] [--request ID]`: the rendered mail as text.
pub fn preview(a: &PreviewArgs, out: &mut impl std::io::Write) -> Result<()> {
    let entry = catalog::entry(a.name).ok_or_else(|| {
        anyhow!(
            "Unknown template `{}` (known: {})",
            a.name,
            catalog::names()
        )
    })?;
    let mut data = entry.data(Sample::Typical);
    let (templates, from_sample) = match a.request {
        None => {
            let dir = templates_dir(a.config, a.dir)?;
            require_dir(&dir)?;
            let templates = Templates::load(&dir)?;
            localize_labels(&mut data, &templates, a.lang);
            localize_dates(&mut data, a.lang);
            (templates, Vec::new())
        }
        Some(id) => {
            if !entry.has_var("request_id") {
                bail!(
                    "`{}` is not about one request: preview it without --request",
                    entry.name
                );
            }
            let settings = config::load(a.config)?;
            let dir = a
                .dir
                .map_or(settings.templates_dir.clone(), Path::to_path_buf);
            let templates = Templates::load(&dir)?;
            let staff = entry.audience == catalog::Audience::Staff;
            let facts = request_facts(&settings, &templates, id, staff)?;
            let mut from_sample = Vec::new();
            if let (Some(obj), Value::Object(real)) = (data.as_object_mut(), facts) {
                for (k, v) in obj.iter_mut() {
                    match real.get(k) {
                        Some(r) => *v = r.clone(),
                        None => from_sample.push(k.clone()),
                    }
                }
            }
            (templates, from_sample)
        }
    };
    let r = templates.render(entry.name, a.lang, &data)?;
    writeln!(out, "Template: {}", entry.name)?;
    if r.lang == a.lang {
        writeln!(out, "Language: {}", r.lang)?;
    } else {
        writeln!(
            out,
            "Language: {} (no `{}` version in {}: falls back)",
            r.lang, entry.name, a.lang
        )?;
    }
    writeln!(out, "To:       {}", entry.audience.as_str())?;
    if !from_sample.is_empty() {
        writeln!(out, "Sample values for: {}", from_sample.join(", "))?;
    }
    writeln!(out, "Subject:  {}\n", r.subject)?;
    writeln!(out, "{}", r.text.trim_end())?;
    if let Some(html) = &r.html {
        writeln!(out, "\n--- HTML body ---\n{}", html.trim_end())?;
    }
    Ok(())
}

/// Sample `kind_labels` in the previewed language (from its `labels.toml`).
fn localize_labels(data: &mut Value, templates: &Templates, lang: &str) {
    let kinds: Vec<Kind> = data["kinds"]
        .as_array()
        .map(|a| a.iter().filter_map(|k| k.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    if let Some(labels) = data.get_mut("kind_labels") {
        *labels = kinds
            .into_iter()
            .map(|k| Value::String(templates.kind_label(lang, k)))
            .collect();
    }
}

/// Sample dates (`*_date`, written "March 3, 2026") as a letter in the previewed language
/// writes them, the way intake formats real ones (`clock::long_date`): "3. März 2026".
fn localize_dates(data: &mut Value, lang: &str) {
    let Some(obj) = data.as_object_mut() else {
        return;
    };
    for (k, v) in obj.iter_mut() {
        let Some(day) = v
            .as_str()
            .filter(|_| k.ends_with("_date"))
            .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%B %d, %Y").ok())
            .and_then(|d| d.and_hms_opt(12, 0, 0))
        else {
            continue;
        };
        *v = Value::String(crate::clock::long_date(
            day.and_utc(),
            chrono_tz::Tz::UTC,
            lang,
        ));
    }
}

/// The facts of a stored request, built by the same code intake uses (in English for a
/// staff message, as staff mail is).
fn request_facts(
    settings: &config::Settings,
    templates: &Templates,
    id: &str,
    staff: bool,
) -> Result<Value> {
    if !settings.store_path.exists() {
        bail!("No store at {}", settings.store_path.display());
    }
    let store = Store::open(&settings.store_path)?;
    let r = requests::get(store.reader(), id)?.ok_or_else(|| anyhow!("No request {id}"))?;
    let lang = if staff { "en" } else { r.language.as_str() };
    let facts = crate::outbound::facts::RequestFacts::of(
        &r,
        &|k| templates.kind_label(lang, k),
        settings.clock.timezone,
        &settings.smtp.from,
        lang,
    );
    Ok(serde_json::to_value(facts)?)
}
