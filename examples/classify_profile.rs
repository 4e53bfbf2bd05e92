//! A fixed amount of classification work, for profilers (callgrind counts instructions
//! reproducibly): parses the human-written letters of the corpus (or the project's fixtures)
//! once, then classifies them ROUNDS times.
//!
//! `valgrind --tool=callgrind target/profiling/examples/classify_profile [ROUNDS] [DIR]` (built with `cargo build --profile profiling --example classify_profile`)

use privacy_inbox::classify::Classifier;
use privacy_inbox::mail::{parse, triage, Inbound};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::args()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/corpus/eml"));
    let dir = if dir.is_dir() {
        dir
    } else {
        println!(
            "notice: {} not found; using fixtures/classify",
            dir.display()
        );
        root.join("fixtures/classify")
    };
    let c = Classifier::builtin()?;
    let mut mails: Vec<Inbound> = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "eml") {
            if let Ok(m) = parse(&std::fs::read(&p)?) {
                if triage::automated(&m).is_none() {
                    mails.push(m);
                }
            }
        }
    }
    let mut kinds = 0usize;
    for _ in 0..rounds {
        for m in &mails {
            kinds += std::hint::black_box(c.classify(m)).kinds.len();
        }
    }
    println!(
        "{} letters x {rounds} rounds, {kinds} kinds found",
        mails.len()
    );
    Ok(())
}
