//! The house rules, checked on the source: SQL on the bot's own store lives only under
//! `src/store/`, and no module of `src/` imports (through `crate::` or `super::` paths) a
//! module that imports it back, directly or around a circle. Pure reading of the files; no
//! build, no network.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                out.push((p, text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &mut out);
    out.into_iter()
        .map(|(p, t)| (p.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(p), t))
        .collect()
}

/// The code of a file without its `#[cfg(test)]` module (tests may set up tables by hand).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

#[test]
fn sql_on_the_store_lives_only_under_src_store() {
    // `src/fulfil/` runs the SQL an admin configures against the company's own data
    // sources (`[[sources]]`), never against the bot's store.
    let allowed = |p: &Path| p.starts_with("store") || p.starts_with("fulfil");
    let needles = [
        ".execute(",
        ".execute_batch(",
        ".query_row(",
        ".prepare(",
        ".prepare_cached(",
        "\"SELECT ",
        "\"INSERT ",
        "\"UPDATE ",
        "\"DELETE ",
    ];
    let mut found = Vec::new();
    for (path, text) in sources() {
        if allowed(&path) {
            continue;
        }
        for (n, line) in without_tests(&text).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if needles.iter().any(|s| line.contains(s)) {
                found.push(format!("src/{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside src/store:\n{}",
        found.join("\n")
    );
}

/// `outbound/queue.rs` → `outbound::queue`; `intake/mod.rs` → `intake`.
fn module_of(path: &Path) -> Option<String> {
    let s = path.to_str()?.strip_suffix(".rs")?;
    if s == "lib" || s == "main" {
        return None;
    }
    let s = s.strip_suffix("/mod").unwrap_or(s);
    Some(s.replace('/', "::"))
}

/// The modules a file names through `crate::a::b` and `super::x` paths.
fn references(
    module: &str,
    is_mod_rs: bool,
    text: &str,
    known: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let parent: Vec<&str> = {
        // `super::` of `a::b` (in `a/b.rs` or `a/b/mod.rs`) is `a`.
        let _ = is_mod_rs;
        let mut parts: Vec<&str> = module.split("::").collect();
        parts.pop();
        parts
    };
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            let after = &rest[i + prefix.len()..];
            rest = after;
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = after.chars().take_while(|c| ident(*c)).collect();
            let mut parts: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            parts.extend(
                path.split("::")
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            );
            // The longest prefix that is a module file.
            while !parts.is_empty() {
                let m = parts.join("::");
                if known.contains(&m) {
                    if m != module {
                        out.insert(m);
                    }
                    break;
                }
                parts.pop();
            }
        }
    }
    out
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let files: Vec<(String, bool, String)> = sources()
        .into_iter()
        .filter_map(|(p, t)| {
            let is_mod = p.file_name().is_some_and(|f| f == "mod.rs");
            // Doc links (`[`crate::store::inbox`]`) name a module without importing it.
            let code: String = without_tests(&t)
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            module_of(&p).map(|m| (m, is_mod, code))
        })
        .collect();
    let known: BTreeSet<String> = files.iter().map(|(m, _, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, is_mod, text) in &files {
        let mut refs = references(m, *is_mod, text, &known);
        // A folder's `mod.rs` declares and re-exports its children: that is the tree, not
        // an import. A child naming its own folder's `mod.rs` is an import.
        refs.retain(|r| !r.starts_with(&format!("{m}::")));
        graph.insert(m.clone(), refs);
    }
    // Every circle shows as a module that reaches itself.
    let mut circles = BTreeSet::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, trail)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == start {
                    let mut c = trail.clone();
                    let min = c.iter().min().cloned().unwrap_or_default();
                    while c.first() != Some(&min) {
                        c.rotate_left(1);
                    }
                    circles.insert(c.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    assert!(
        graph.len() > 40,
        "the reader found the modules: {:?}",
        graph.keys()
    );
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.into_iter().collect::<Vec<_>>().join("\n")
    );
}
