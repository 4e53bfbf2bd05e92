//! Export benchmark (driven by `bench/export.sh`): one requester's rows from a SQLite file and,
//! when a URL is given, a PostgreSQL database, streamed into an encrypted access package.
//!
//!   export_bench generate DB.sqlite3 ROWS          make a company database (untimed)
//!   export_bench run DB.sqlite3 [POSTGRES_URL]     time the export, report peak RSS
//!
//! `run` prints one line: rows, seconds, package size, and the peak resident memory (VmHWM)
//! before the export (the baseline: runtime, store and key loaded) and after it.

use anyhow::{Context, Result};
use privacy_inbox::fulfil::package::PackageBuilder;
use privacy_inbox::fulfil::settings;
use privacy_inbox::fulfil::source::{self, Subject};
use std::path::Path;
use std::time::Instant;

const EMAIL: &str = "heavy.user@example.test";

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn generate(path: &Path, rows: u64) -> Result<()> {
    let mut c = rusqlite::Connection::open(path)?;
    c.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT NOT NULL, at TEXT NOT NULL,
                              kind TEXT NOT NULL, page TEXT NOT NULL, agent TEXT NOT NULL, amount REAL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT NOT NULL, item TEXT NOT NULL,
                              address TEXT NOT NULL, total REAL NOT NULL);
         CREATE INDEX events_email ON events (email);
         CREATE INDEX orders_email ON orders (email);",
    )?;
    let tx = c.transaction()?;
    {
        let mut ev = tx.prepare("INSERT INTO events (email, at, kind, page, agent, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        let mut or =
            tx.prepare("INSERT INTO orders (email, item, address, total) VALUES (?1, ?2, ?3, ?4)")?;
        for i in 0..rows {
            let who = if i % 50 == 49 {
                "someone.else@example.test"
            } else {
                EMAIL
            };
            if i % 5 == 0 {
                or.execute(rusqlite::params![
                    who,
                    format!("Item number {i}, blue, size M"),
                    format!("{i} Long Street, Flat {}, Springfield, 12345", i % 97),
                    (i % 1000) as f64 / 10.0
                ])?;
            } else {
                ev.execute(rusqlite::params![
                    who,
                    format!("2026-01-{:02}T{:02}:{:02}:00Z", 1 + i % 28, i % 24, i % 60),
                    ["view", "click", "search", "cart"][(i % 4) as usize],
                    format!("/products/{}/details?ref=campaign-{}", i % 5000, i % 37),
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
                    (i % 100) as f64 * 1.25
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

async fn run(sqlite: &Path, pg: Option<&str>) -> Result<()> {
    let mut toml = format!(
        r#"
[[sources]]
name = "shop"
kind = "sqlite"
url = "{}"
timeout-seconds = 600
export = {{ events = "SELECT * FROM events WHERE email = :email", orders = "SELECT * FROM orders WHERE email = :email" }}
"#,
        sqlite.display()
    );
    if let Some(url) = pg {
        toml.push_str(&format!(
            r#"
[[sources]]
name = "warehouse"
kind = "postgres"
url = "{url}"
timeout-seconds = 600
export = {{ visits = "SELECT * FROM visits WHERE email = :email" }}
"#
        ));
    }
    let root: toml::Table = toml::from_str(&toml)?;
    let settings = settings::parse(&root).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let dir = tempfile_dir()?;
    let store = privacy_inbox::store::Store::open(&dir.join("store.sqlite3"))?;
    let key = privacy_inbox::store::secrets::package_key(store.reader())?;
    let who = Subject {
        email: EMAIL.into(),
        account: None,
        request: "PI-2026-0042".into(),
    };
    let base = vm_hwm_kb();
    let t0 = Instant::now();
    let mut pkg = PackageBuilder::new(&dir)?;
    let mut rows = 0;
    for src in &settings.sources {
        pkg.add_source(&src.name, src.kind.as_str());
        let out = source::export(src, &who, &mut pkg)
            .await
            .with_context(|| format!("export {}", src.name))?;
        rows += out.iter().map(|t| t.rows).sum::<u64>();
    }
    let exported = t0.elapsed();
    let summary = pkg.finish(
        &dir.join("p.pkg"),
        &key,
        "PI-2026-0042",
        "2026-01-02T00:00:00Z",
    )?;
    let total = t0.elapsed();
    let peak = vm_hwm_kb();
    println!(
        "rows {rows}  sources {}  export {:.2} s  package {:.2} s total  zip+encrypted {:.1} MB  peak-rss baseline {:.1} MB  peak-rss after {:.1} MB  above baseline {:.1} MB",
        settings.sources.len(),
        exported.as_secs_f64(),
        total.as_secs_f64(),
        summary.bytes as f64 / 1e6,
        base as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(base) as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") if args.len() == 4 => generate(Path::new(&args[2]), args[3].parse()?),
        Some("run") if args.len() >= 3 => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(run(Path::new(&args[2]), args.get(3).map(String::as_str))),
        _ => anyhow::bail!("usage: export_bench generate DB ROWS | run DB [POSTGRES_URL]"),
    }
}
