//! privacy-inbox command line. (This branch only carries the `classify` subcommand; the
//! daemon's CLI lands from the main branch.)

use std::process::ExitCode;

const USAGE: &str =
    "usage: privacy-inbox classify [--json] [--rules DIR] [--threshold X] FILE... (- = stdin)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("classify") => classify(args.get(1..).unwrap_or(&[])),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn classify(args: &[String]) -> ExitCode {
    let mut json = false;
    let mut rules_dir: Option<std::path::PathBuf> = None;
    let mut threshold = privacy_inbox::classify::DEFAULT_HANDLE_THRESHOLD;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--rules" => match it.next() {
                Some(d) => rules_dir = Some(d.into()),
                None => return usage("--rules needs a directory"),
            },
            "--threshold" => match it.next().and_then(|t| t.parse().ok()) {
                Some(t) => threshold = t,
                None => return usage("--threshold needs a number between 0 and 1"),
            },
            "-h" | "--help" => return usage(""),
            f if f.starts_with("--") => return usage(&format!("unknown option {f}")),
            f => files.push(f.to_string()),
        }
    }
    if files.is_empty() {
        return usage("no files given");
    }
    let classifier =
        match privacy_inbox::classify::Classifier::load(rules_dir.as_deref(), threshold) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e:#}");
                return ExitCode::from(2);
            }
        };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match privacy_inbox::classify::run_cli(&classifier, &files, json, &mut out) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("{problem}");
    }
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
