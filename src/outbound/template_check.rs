//! Checks a loaded template set against [`crate::outbound::catalog`], collecting every
//! problem with its file and line:
//!
//! - every message of the catalog has a subject and a text body in English (the fallback);
//! - no message the bot never sends, and no file in another language without its English
//!   counterpart; English names every request kind in `labels.toml`;
//! - every message renders in every language, in strict mode, with typical and alternative
//!   sample data (so both sides of each `{{#if}}` run), and names only its own variables,
//!   including inside `{{#if}}` conditions (which strict mode does not check);
//! - a subject renders on one line (a header cannot hold a line break);
//! - an HTML body escapes every untrusted value (no `{{{triple}}}` or `{{& x}}`).

use crate::kind::Kind;
use crate::outbound::catalog::{self, hostile_marker, Entry, Sample};
use crate::outbound::template_set::{Lang, Problem, Set, FALLBACK_LANG};
use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::Path as HbPath;
use std::path::Path;

/// Adds every problem of `set` to `problems`.
pub(crate) fn check(set: &Set, problems: &mut Vec<Problem>) {
    if let Some(en) = set.langs.get(FALLBACK_LANG) {
        for e in catalog::catalog() {
            for part in ["subject", "txt"] {
                let file = format!("{}.{part}.hbs", e.name);
                if !en.file_names.contains(&file) {
                    problems.push(Problem::new(
                        &en.dir.join(&file),
                        None,
                        format!(
                            "missing: the bot sends `{}` and English, the fallback, needs its {part} file",
                            e.name
                        ),
                    ));
                }
            }
        }
        for k in Kind::ALL {
            if !en.labels.contains_key(k.as_str()) {
                problems.push(Problem::new(
                    &en.dir.join("labels.toml"),
                    None,
                    format!("[kinds] has no label for `{k}`"),
                ));
            }
        }
    }
    for (code, lang) in &set.langs {
        for file in &lang.file_names {
            let base = file
                .strip_suffix(".hbs")
                .and_then(|s| s.rsplit_once('.'))
                .map(|(b, _)| b);
            if let Some(base) = base.filter(|b| !b.starts_with('_')) {
                if catalog::entry(base).is_none() {
                    problems.push(Problem::new(
                        &lang.dir.join(file),
                        None,
                        format!(
                            "unknown template `{base}`: the bot never sends it (known: {})",
                            catalog::names()
                        ),
                    ));
                    continue;
                }
            }
            if code != FALLBACK_LANG {
                let has_en = set
                    .langs
                    .get(FALLBACK_LANG)
                    .is_some_and(|en| en.file_names.contains(file));
                if !has_en && file != "labels.toml" {
                    problems.push(Problem::new(
                        &lang.dir.join(file),
                        None,
                        format!(
                            "no English version ({FALLBACK_LANG}/{file}): every template and partial must exist in {FALLBACK_LANG}, the fallback"
                        ),
                    ));
                }
            }
        }
        for e in catalog::catalog() {
            if code != FALLBACK_LANG {
                check_pairs(lang, e, problems);
            }
            if lang.names.iter().any(|n| n == e.name) {
                check_message(lang, e, problems);
            }
        }
    }
}

/// Outside English (where a missing part is reported as missing): a message present in a
/// language needs both its subject and its text body there; an HTML body needs a text body.
fn check_pairs(lang: &Lang, e: &Entry, problems: &mut Vec<Problem>) {
    let has = |part: &str| lang.file_names.contains(&format!("{}.{part}.hbs", e.name));
    for (part, other) in [("subject", "txt"), ("txt", "subject"), ("html", "txt")] {
        if has(part) && !has(other) {
            problems.push(Problem::new(
                &lang.dir.join(format!("{}.{part}.hbs", e.name)),
                None,
                format!(
                    "`{0}` has a {part} part but no {0}.{other}.hbs beside it",
                    e.name
                ),
            ));
        }
    }
}

/// Renders one message of one language with every sample set, and walks its templates.
fn check_message(lang: &Lang, e: &Entry, problems: &mut Vec<Problem>) {
    let parts: [(bool, &str); 3] = [(false, "subject"), (false, "txt"), (true, "html")];
    for (html, part) in parts {
        let tname = format!("{}.{part}", e.name);
        let reg = if html { &lang.html } else { &lang.text };
        let Some(template) = reg.get_template(&tname) else {
            continue;
        };
        let file = lang
            .files
            .get(&(html, tname.clone()))
            .cloned()
            .unwrap_or_else(|| lang.dir.join(format!("{tname}.hbs")));
        walk(&file, template, e, true, problems);
        for which in [Sample::Typical, Sample::Alternative] {
            match reg.render(&tname, &e.data(which)) {
                Ok(out) if part == "subject" && which == Sample::Typical => {
                    check_subject(&file, &out, problems)
                }
                Ok(_) => {}
                Err(err) => problems.push(lang.render_problem(html, &tname, &err)),
            }
        }
        if html {
            if let Ok(out) = reg.render(&tname, &e.data(Sample::Hostile)) {
                for v in e.vars.iter().filter(|v| v.untrusted) {
                    if out.contains(&hostile_marker(v.name)) {
                        problems.push(Problem::new(
                            &file,
                            unescaped_line(template, v.name),
                            format!(
                                "the HTML body does not escape `{}`: write {{{{{0}}}}}, never {{{{{{{0}}}}}}} or {{{{& {0}}}}}",
                                v.name
                            ),
                        ));
                    }
                }
            }
        }
    }
}

fn check_subject(file: &Path, out: &str, problems: &mut Vec<Problem>) {
    let t = out.trim();
    if t.is_empty() {
        problems.push(Problem::new(file, None, "the subject renders empty"));
    } else if t.contains(['\r', '\n']) {
        let line = t
            .find(['\r', '\n'])
            .map(|i| t[..i].matches('\n').count() + 2);
        problems.push(Problem::new(
            file,
            line,
            "the subject renders on more than one line (a mail header cannot hold a line break)",
        ));
    }
}

/// The line of the first unescaped (`{{{x}}}`, `{{& x}}`) use of `var`.
fn unescaped_line(t: &Template, var: &str) -> Option<usize> {
    for (i, el) in t.elements.iter().enumerate() {
        let line = t.mapping.get(i).map(|m| m.0);
        match el {
            TemplateElement::HtmlExpression(ht) if root_of(&ht.name) == Some(var) => return line,
            TemplateElement::HtmlExpression(ht) | TemplateElement::HelperBlock(ht) => {
                let found = [&ht.template, &ht.inverse]
                    .into_iter()
                    .flatten()
                    .find_map(|t| unescaped_line(t, var));
                if found.is_some() {
                    return found;
                }
            }
            _ => {}
        }
    }
    None
}

/// The first segment of a variable path (`a` of `a.b`), or None for `this`, `@index`,
/// `../x` and literals: what is checked against the catalog.
fn root_of(p: &Parameter) -> Option<&str> {
    let raw = match p {
        Parameter::Path(HbPath::Relative((_, raw))) => raw.as_str(),
        Parameter::Name(n) => n.as_str(),
        _ => return None,
    };
    let root = raw.split(['.', '/']).next().unwrap_or(raw);
    if root.is_empty() || root == "this" || root.starts_with('@') || raw.starts_with("..") {
        return None;
    }
    Some(root)
}

/// Helpers that ship with handlebars (and may appear as names).
const HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];

/// Reports variables that are not the message's own. `top` is false inside `{{#each}}` and
/// `{{#with}}`, where names refer to the inner object and are left to strict rendering.
fn walk(file: &Path, t: &Template, e: &Entry, top: bool, problems: &mut Vec<Problem>) {
    for (i, el) in t.elements.iter().enumerate() {
        let line = t.mapping.get(i).map(|m| m.0);
        match el {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                if ht.params.is_empty() && ht.hash.is_empty() {
                    check_name(file, line, &ht.name, e, top, problems);
                } else {
                    check_params(file, line, ht, e, top, problems);
                }
            }
            TemplateElement::HelperBlock(ht) => {
                check_params(file, line, ht, e, top, problems);
                let helper = match &ht.name {
                    Parameter::Name(n) => n.as_str(),
                    _ => "",
                };
                let inner_top = top && !matches!(helper, "each" | "with");
                if let Some(inner) = &ht.template {
                    walk(file, inner, e, inner_top, problems);
                }
                if let Some(inverse) = &ht.inverse {
                    walk(file, inverse, e, top, problems);
                }
            }
            _ => {}
        }
    }
}

fn check_params(
    file: &Path,
    line: Option<usize>,
    ht: &HelperTemplate,
    e: &Entry,
    top: bool,
    problems: &mut Vec<Problem>,
) {
    for p in ht.params.iter().chain(ht.hash.values()) {
        match p {
            Parameter::Path(_) => check_name(file, line, p, e, top, problems),
            Parameter::Subexpression(sub) => {
                for sp in sub.params().into_iter().flatten() {
                    check_name(file, line, sp, e, top, problems);
                }
            }
            _ => {}
        }
    }
}

fn check_name(
    file: &Path,
    line: Option<usize>,
    p: &Parameter,
    e: &Entry,
    top: bool,
    problems: &mut Vec<Problem>,
) {
    if !top || matches!(p, Parameter::Literal(_)) {
        return;
    }
    let Some(root) = root_of(p) else {
        return;
    };
    if HELPERS.contains(&root) || e.has_var(root) {
        return;
    }
    problems.push(Problem::new(
        file,
        line,
        format!(
            "unknown variable `{root}` (`{}` has: {})",
            e.name,
            e.var_names()
        ),
    ));
}
