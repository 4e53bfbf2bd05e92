//! Language detection, measured: the hand-written stop-word detector against `whatlang`
//! (alone, and as the classifier uses it: stop words pick among the rule languages, whatlang
//! names the languages the rules do not cover) on the shared corpus's labelled letters plus
//! the project's fixtures, with the time per call.
//!
//! `cargo run --release --example lang_eval [CORPUS_DIR]` (default `../shared/corpus`).

use privacy_inbox::classify::{lang, normalize, rules, Classifier};
use privacy_inbox::mail::parse;
use std::path::PathBuf;
use std::time::Instant;

/// One way of naming a text's language.
type Detector<'a> = Box<dyn Fn(&Case) -> String + 'a>;

struct Case {
    gold: Vec<String>,
    folded: String,
    original: String,
    classified: String,
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/corpus"));
    let c = Classifier::builtin()?;
    let mut cases = Vec::new();
    let mut add = |raw: &[u8], gold: &str| -> anyhow::Result<()> {
        let mail = parse(raw)?;
        if privacy_inbox::mail::triage::automated(&mail).is_some() {
            return Ok(());
        }
        let original = if mail.new_text.trim().is_empty() {
            mail.subject.clone()
        } else {
            mail.new_text.clone()
        };
        cases.push(Case {
            gold: gold.split('-').map(str::to_string).collect(),
            folded: normalize::fold(&original),
            classified: c.classify(&mail).language,
            original,
        });
        Ok(())
    };
    let mut sources = vec![(corpus.join("labels.tsv"), corpus.join("eml"), 3usize)];
    let fixtures = root.join("fixtures/classify");
    sources.push((fixtures.join("expected.tsv"), fixtures.clone(), 3));
    for (labels, dir, col) in sources {
        let Ok(text) = std::fs::read_to_string(&labels) else {
            println!("notice: {} not found", labels.display());
            continue;
        };
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("file\t"))
        {
            let cols: Vec<&str> = line.split('\t').collect();
            let (Some(file), Some(gold)) = (cols.first(), cols.get(col)) else {
                continue;
            };
            // A fixture named `<code>-…` is in that language even where its expected
            // language is `*` (the classifier does not name it: no request was found).
            let named = file
                .split_once('-')
                .map(|(code, _)| code)
                .filter(|c| ["pt", "it", "nl", "pl", "sv"].contains(c));
            let gold = match (*gold, named) {
                ("*", Some(code)) => code,
                ("*", None) | ("", _) => continue,
                (g, _) => g,
            };
            add(&std::fs::read(dir.join(file))?, gold)?;
        }
    }
    let set = rules::load(None)?;
    let index = lang::index(&set.languages);
    let ours = |code: &str| set.languages.iter().any(|l| l.code == code);
    let methods: [(&str, Detector); 4] = [
        (
            "stop words (hand-written)",
            Box::new(|k: &Case| {
                lang::detect(&k.folded, &set.languages, &index)
                    .0
                    .to_string()
            }),
        ),
        (
            "whatlang alone",
            Box::new(|k: &Case| {
                whatlang::detect(&k.original)
                    .map(|i| lang::iso639_1(i.lang()).to_string())
                    .unwrap_or_else(|| "en".into())
            }),
        ),
        (
            "stop words, whatlang when in doubt",
            Box::new(|k: &Case| {
                let (code, hits, words) = lang::detect_counted(&k.folded, &set.languages, &index);
                match lang::in_doubt(hits, words)
                    .then(|| lang::foreign(&k.original, &set.languages))
                    .flatten()
                {
                    Some(f) => f.code.to_string(),
                    None => code.to_string(),
                }
            }),
        ),
        ("the classifier", Box::new(|k: &Case| k.classified.clone())),
    ];
    println!("{} labelled letters (corpus + fixtures)", cases.len());
    println!(
        "{:<40} {:>8} {:>12} {:>14} {:>9}",
        "detector", "right", "rule langs", "other langs", "us/call"
    );
    for (name, f) in &methods {
        let (mut ok, mut ours_n, mut ours_ok, mut other_n, mut other_ok) = (0, 0, 0, 0, 0);
        for k in &cases {
            let got = f(k);
            let right = k.gold.contains(&got);
            ok += usize::from(right);
            if k.gold.iter().any(|g| ours(g)) {
                ours_n += 1;
                ours_ok += usize::from(right);
            } else {
                other_n += 1;
                other_ok += usize::from(right);
            }
        }
        let rounds = 200;
        let start = Instant::now();
        for _ in 0..rounds {
            for k in &cases {
                std::hint::black_box(f(k));
            }
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / (rounds * cases.len()) as f64;
        println!(
            "{name:<40} {:>7.1}% {:>5}/{:<6} {:>6}/{:<7} {us:>9.2}",
            100.0 * ok as f64 / cases.len().max(1) as f64,
            ours_ok,
            ours_n,
            other_ok,
            other_n
        );
    }
    let mut ratios: Vec<(bool, f64, usize, String)> = cases
        .iter()
        .map(|k| {
            let (_, hits, words) = lang::detect_counted(&k.folded, &set.languages, &index);
            (
                k.gold.iter().any(|g| ours(g)),
                hits as f64 / words.max(1) as f64,
                words,
                k.gold.join("-"),
            )
        })
        .collect();
    ratios.sort_by(|a, b| a.1.total_cmp(&b.1));
    let below = |ours_wanted: bool| {
        ratios
            .iter()
            .filter(|r| r.0 == ours_wanted && r.1 < if r.2 >= 60 { 0.20 } else { 0.30 })
            .count()
    };
    println!(
        "stop-word share below 30 % (20 % from 60 words; whatlang asked): {} of the rule languages' letters, {} of the others'",
        below(true),
        below(false)
    );
    if std::env::var_os("LANG_EVAL_GATED").is_some() {
        for k in &cases {
            let (_, hits, words) = lang::detect_counted(&k.folded, &set.languages, &index);
            let letters = k.original.chars().filter(|c| c.is_alphabetic()).count();
            if lang::in_doubt(hits, words) && letters >= 24 {
                println!(
                    "gated {hits}/{words} {:?}: {:.70}",
                    k.gold,
                    k.original.replace('\n', " ")
                );
            }
        }
    }
    if std::env::var_os("LANG_EVAL_RATIOS").is_some() {
        for (is_ours, r, w, g) in &ratios {
            println!("ratio {r:.2} words {w:>3} gold {g} ours {is_ours}");
        }
    }
    if std::env::var_os("LANG_EVAL_COST").is_some() {
        // The classifier's own detector, so the figure is the one it pays.
        let latin = lang::latin_detector();
        for n in [200usize, 300, 400, 600] {
            let start = Instant::now();
            for _ in 0..50 {
                for k in &cases {
                    std::hint::black_box(whatlang::detect(clip(&k.original, n)));
                }
            }
            let a = start.elapsed().as_secs_f64() * 1e6 / (50 * cases.len()) as f64;
            let start = Instant::now();
            for _ in 0..50 {
                for k in &cases {
                    std::hint::black_box(latin.detect(clip(&k.original, n)));
                }
            }
            let b = start.elapsed().as_secs_f64() * 1e6 / (50 * cases.len()) as f64;
            println!(
                "whatlang on {n} bytes: {a:.1} us/call, the classifier's allowlist {b:.1} us/call"
            );
        }
    }
    for k in &cases {
        let (sw, hits, words) = lang::detect_counted(&k.folded, &set.languages, &index);
        let got = lang::in_doubt(hits, words)
            .then(|| lang::foreign(&k.original, &set.languages))
            .flatten()
            .map(|f| f.code);
        let hybrid = got.unwrap_or(sw);
        if !k.gold.iter().any(|g| g == hybrid) {
            println!(
                "MISS gold {:?} got {hybrid} ({:?}): {:.60}",
                k.gold,
                whatlang::detect(&k.original).map(|i| (i.lang(), i.confidence())),
                k.original.replace('\n', " ")
            );
        }
    }
    Ok(())
}

#[allow(dead_code)]
fn clip(s: &str, n: usize) -> &str {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}
