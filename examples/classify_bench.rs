//! Classifier benchmark: per-kind precision/recall and action accuracy on the shared corpus,
//! then throughput on one core (classify only, and parse + classify).
//!
//! `cargo run --release --example classify_bench [CORPUS_DIR]` (default `../shared/corpus`).

use privacy_inbox::classify::Classifier;
use privacy_inbox::kind::Kind;
use privacy_inbox::mail::{parse, Inbound};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let labels = std::fs::read_to_string(dir.join("labels.tsv"))?;
    let c = Classifier::builtin()?;

    let mut raws: Vec<Vec<u8>> = Vec::new();
    let mut tp = [0usize; 6];
    let mut fp = [0usize; 6];
    let mut fneg = [0usize; 6];
    let (mut n, mut action_ok) = (0usize, 0usize);
    for line in labels.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, action, kinds, ..] = cols.as_slice() else {
            continue;
        };
        let raw = std::fs::read(dir.join("eml").join(file))?;
        let mail = parse(&raw)?;
        let got = c.classify(&mail);
        raws.push(raw);
        n += 1;
        action_ok += usize::from(action.split('|').any(|a| a == got.action.as_str()));
        let want: BTreeSet<Kind> = kinds
            .split('+')
            .filter(|k| !k.is_empty())
            .filter_map(|k| k.parse().ok())
            .collect();
        for (i, k) in Kind::ALL.iter().enumerate() {
            match (got.kinds.contains(k), want.contains(k)) {
                (true, true) => tp[i] += 1,
                (true, false) => fp[i] += 1,
                (false, true) => fneg[i] += 1,
                _ => {}
            }
        }
    }
    for e in std::fs::read_dir(dir.join("automated"))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "eml") {
            raws.push(std::fs::read(p)?);
        }
    }
    println!(
        "corpus: {n} labelled mails, action accuracy {:.1}%",
        100.0 * action_ok as f64 / n.max(1) as f64
    );
    println!(
        "{:<18} {:>5} {:>5} {:>5} {:>9} {:>7}",
        "kind", "tp", "fp", "fn", "precision", "recall"
    );
    for (i, k) in Kind::ALL.iter().enumerate() {
        let p = tp[i] as f64 / (tp[i] + fp[i]).max(1) as f64;
        let r = tp[i] as f64 / (tp[i] + fneg[i]).max(1) as f64;
        println!(
            "{:<18} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
            k.as_str(),
            tp[i],
            fp[i],
            fneg[i],
            p,
            r
        );
    }

    let mails: Vec<Inbound> = raws.iter().filter_map(|r| parse(r).ok()).collect();
    let budget = Duration::from_secs(3);
    let (count, took) = run(budget, || {
        for m in &mails {
            std::hint::black_box(c.classify(m));
        }
        mails.len()
    });
    println!(
        "classify:         {:>9.0} mails/s ({count} mails, {} distinct, one core)",
        count as f64 / took.as_secs_f64(),
        mails.len()
    );
    // The same, on human mail only (no triage shortcut).
    let human: Vec<&Inbound> = mails
        .iter()
        .take(n)
        .filter(|m| privacy_inbox::mail::triage::automated(m).is_none())
        .collect();
    let (count, took) = run(budget, || {
        for m in &human {
            std::hint::black_box(c.classify(m));
        }
        human.len()
    });
    println!(
        "classify (human): {:>9.0} mails/s ({} distinct letters, avg {} bytes new text)",
        count as f64 / took.as_secs_f64(),
        human.len(),
        human.iter().map(|m| m.new_text.len()).sum::<usize>() / human.len().max(1)
    );
    let (count, took) = run(budget, || {
        for r in &raws {
            if let Ok(m) = parse(r) {
                std::hint::black_box(c.classify(&m));
            }
        }
        raws.len()
    });
    println!(
        "parse + classify: {:>9.0} mails/s",
        count as f64 / took.as_secs_f64()
    );
    Ok(())
}

fn run(budget: Duration, mut f: impl FnMut() -> usize) -> (usize, Duration) {
    f(); // warm up (lazy DFA caches)
    let start = Instant::now();
    let mut count = 0;
    while start.elapsed() < budget {
        count += f();
    }
    (count, start.elapsed())
}
