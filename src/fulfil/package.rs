//! The access package: a zip with `index.html` (what each source is, what each table holds,
//! row counts; in the request's language: English, Spanish, German or French), and per table
//! `SOURCE/TABLE.json` and `SOURCE/TABLE.csv` (named by the admin's source and table keys, so
//! staff and the consumer speak of the same files); encrypted at rest
//! ([`super::crypt`]) with the store's package key, decrypted on download as a stream.
//!
//! Memory stays flat whatever the export's size: rows go, as they arrive, into one spool file
//! per table (encrypted under a key that lives only as long as the build, so no plaintext
//! touches the disk), and [`PackageBuilder::finish`] streams each spool into the zip twice
//! (JSON, then CSV), which is written through the encrypting writer straight to the file.

use super::crypt::{random_key, DecryptReader, EncryptWriter};
use super::rows::{RowSink, TableId};
use anyhow::{Context, Result};
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

/// What the index says about a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceNote {
    /// The source's `name`.
    pub name: String,
    /// `sqlite`, `postgres` or `command`.
    pub kind: String,
}

struct Spool {
    source: String,
    table: String,
    columns: Vec<String>,
    rows: u64,
    path: PathBuf,
    writer: Option<EncryptWriter<BufWriter<File>>>,
}

/// One table of a finished package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// The source's `name`.
    pub source: String,
    /// The table's name.
    pub table: String,
    /// Rows in it.
    pub rows: u64,
}

/// A finished, encrypted package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The encrypted file.
    pub path: PathBuf,
    /// Its size on disk.
    pub bytes: u64,
    /// Every table, in package order.
    pub tables: Vec<TableSummary>,
}

/// Collects rows (a [`RowSink`]) and writes the encrypted zip.
pub struct PackageBuilder {
    dir: PathBuf,
    key: [u8; 32],
    sources: Vec<SourceNote>,
    spools: Vec<Spool>,
    lang: Lang,
    tz: chrono_tz::Tz,
}

/// The languages `index.html` is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Es,
    De,
    Fr,
}

impl Lang {
    /// `de`, `de-AT`, `es_MX`… → that language; anything else English.
    fn of(tag: &str) -> Lang {
        match tag.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("es") => Lang::Es,
            Some("de") => Lang::De,
            Some("fr") => Lang::Fr,
            _ => Lang::En,
        }
    }

    fn code(self) -> &'static str {
        self.pick("en", "es", "de", "fr")
    }

    fn pick<'a>(self, en: &'a str, es: &'a str, de: &'a str, fr: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Es => es,
            Lang::De => de,
            Lang::Fr => fr,
        }
    }
}

impl PackageBuilder {
    /// A builder spooling under a new private directory inside `work_dir` (removed when the
    /// builder is dropped).
    pub fn new(work_dir: &Path) -> Result<PackageBuilder> {
        let name = format!("spool-{}", hex::encode(&random_key()[..8]));
        let dir = work_dir.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("Cannot create the spool directory {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(PackageBuilder {
            dir,
            key: random_key(),
            sources: Vec::new(),
            spools: Vec::new(),
            lang: Lang::En,
            tz: chrono_tz::UTC,
        })
    }

    /// Writes `index.html` for its reader: in the request's language (`en`, `es`, `de`, `fr`,
    /// or a tag such as `de-AT`; anything else is English, the default), the date it was made
    /// as a letter in that language writes it, in the business time zone.
    pub fn set_reader(&mut self, language: &str, tz: chrono_tz::Tz) {
        self.lang = Lang::of(language);
        self.tz = tz;
    }

    /// Records a source for the index (call once per source exported, before its rows).
    pub fn add_source(&mut self, name: &str, kind: &str) {
        if !self.sources.iter().any(|s| s.name == name) {
            self.sources.push(SourceNote {
                name: name.to_string(),
                kind: kind.to_string(),
            });
        }
    }

    /// Rows collected so far.
    pub fn rows(&self) -> u64 {
        self.spools.iter().map(|s| s.rows).sum()
    }

    /// Writes the encrypted zip to `out` (through `out.partial`, renamed at the end, so a
    /// crash never leaves a half package under the final name).
    pub fn finish(
        mut self,
        out: &Path,
        key: &[u8],
        request: &str,
        made_at: &str,
    ) -> Result<Summary> {
        let partial = out.with_extension("partial");
        let made = self.write(out, &partial, key, request, made_at);
        if made.is_err() {
            // Never leave half a package behind, under either name.
            let _ = std::fs::remove_file(&partial);
        }
        made
    }

    fn write(
        &mut self,
        out: &Path,
        partial: &Path,
        key: &[u8],
        request: &str,
        made_at: &str,
    ) -> Result<Summary> {
        for s in &mut self.spools {
            if let Some(w) = s.writer.take() {
                w.finish()
                    .and_then(|mut b| b.flush().map_err(Into::into))
                    .context("Cannot finish a spool file")?;
            }
        }
        let file = File::create(partial)
            .with_context(|| format!("Cannot create {}", partial.display()))?;
        let enc = EncryptWriter::new(BufWriter::with_capacity(64 * 1024, file), key)?;
        let mut zip = zip::ZipWriter::new_stream(enc);
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        zip.start_file("index.html", opts)
            .context("Cannot write the package")?;
        zip.write_all(
            index_html(
                self.lang,
                request,
                &made_on(made_at, self.tz, self.lang),
                &self.sources,
                &self.spools,
            )
            .as_bytes(),
        )
        .context("Cannot write the package")?;
        for s in &self.spools {
            let base = format!("{}/{}", s.source, s.table);
            zip.start_file(format!("{base}.json"), opts)
                .context("Cannot write the package")?;
            self.copy_json(s, &mut zip)?;
            zip.start_file(format!("{base}.csv"), opts)
                .context("Cannot write the package")?;
            self.copy_csv(s, &mut zip)?;
        }
        let enc = zip.finish().context("Cannot finish the zip")?.into_inner();
        let mut file = enc.finish()?;
        file.flush().context("Cannot write the package")?;
        let file = file
            .into_inner()
            .map_err(|e| e.into_error())
            .context("Cannot write the package")?;
        file.sync_all().context("Cannot sync the package")?;
        drop(file);
        std::fs::rename(partial, out)
            .with_context(|| format!("Cannot move the package to {}", out.display()))?;
        let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        Ok(Summary {
            path: out.to_path_buf(),
            bytes,
            tables: self
                .spools
                .iter()
                .map(|s| TableSummary {
                    source: s.source.clone(),
                    table: s.table.clone(),
                    rows: s.rows,
                })
                .collect(),
        })
    }

    fn rows_of(&self, s: &Spool) -> Result<impl Iterator<Item = Result<Vec<Value>>>> {
        let file =
            File::open(&s.path).with_context(|| format!("Cannot open {}", s.path.display()))?;
        let reader = BufReader::new(DecryptReader::new(BufReader::new(file), &self.key)?);
        Ok(reader.lines().map(|line| {
            let line = line.context("Cannot read a spool file")?;
            serde_json::from_str::<Vec<Value>>(&line).context("A spool line is not a JSON row")
        }))
    }

    fn copy_json(&self, s: &Spool, out: &mut impl Write) -> Result<()> {
        let mut w = BufWriter::new(out);
        w.write_all(b"[")?;
        for (i, row) in self.rows_of(s)?.enumerate() {
            let row = row?;
            w.write_all(if i == 0 { b"\n{" } else { b",\n{" })?;
            for (j, col) in s.columns.iter().enumerate() {
                if j > 0 {
                    w.write_all(b",")?;
                }
                serde_json::to_writer(&mut w, col)?;
                w.write_all(b":")?;
                serde_json::to_writer(&mut w, row.get(j).unwrap_or(&Value::Null))?;
            }
            w.write_all(b"}")?;
        }
        w.write_all(b"\n]\n")?;
        w.flush()?;
        Ok(())
    }

    fn copy_csv(&self, s: &Spool, out: &mut impl Write) -> Result<()> {
        let mut w = BufWriter::new(out);
        let header: Vec<String> = s.columns.iter().map(|c| csv_cell(c)).collect();
        w.write_all(header.join(",").as_bytes())?;
        w.write_all(b"\r\n")?;
        for row in self.rows_of(s)? {
            let row = row?;
            let cells: Vec<String> = (0..s.columns.len())
                .map(|j| csv_value(row.get(j).unwrap_or(&Value::Null)))
                .collect();
            w.write_all(cells.join(",").as_bytes())?;
            w.write_all(b"\r\n")?;
        }
        w.flush()?;
        Ok(())
    }
}

impl Drop for PackageBuilder {
    fn drop(&mut self) {
        for s in &mut self.spools {
            s.writer = None;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RowSink for PackageBuilder {
    fn begin_table(&mut self, source: &str, table: &str, columns: Vec<String>) -> Result<TableId> {
        let path = self.dir.join(format!("{}.spool", self.spools.len()));
        let file =
            File::create(&path).with_context(|| format!("Cannot create {}", path.display()))?;
        let writer = EncryptWriter::new(BufWriter::with_capacity(64 * 1024, file), &self.key)?;
        self.spools.push(Spool {
            source: source.to_string(),
            table: table.to_string(),
            columns,
            rows: 0,
            path,
            writer: Some(writer),
        });
        Ok(self.spools.len() - 1)
    }

    fn add_columns(&mut self, table: TableId, columns: Vec<String>) -> Result<()> {
        let s = self.spools.get_mut(table).context("No such table")?;
        s.columns.extend(columns);
        Ok(())
    }

    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<()> {
        let s = self.spools.get_mut(table).context("No such table")?;
        let w = s.writer.as_mut().context("The table is already closed")?;
        serde_json::to_writer(&mut *w, &values).context("Cannot write a spool file")?;
        w.write_all(b"\n").context("Cannot write a spool file")?;
        s.rows += 1;
        Ok(())
    }
}

/// Decrypts a package for download, chunk by chunk.
pub fn open(path: &Path, key: &[u8]) -> Result<DecryptReader<BufReader<File>>> {
    let file =
        File::open(path).with_context(|| format!("Cannot open the package {}", path.display()))?;
    DecryptReader::new(BufReader::with_capacity(64 * 1024, file), key)
}

/// Reads a whole decrypted package (tests and small tools; a download streams instead).
pub fn read_all(path: &Path, key: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    open(path, key)?
        .read_to_end(&mut out)
        .context("Cannot decrypt the package")?;
    Ok(out)
}

/// A CSV cell: quoted when needed; a text starting with `=`, `+`, `-`, `@`, tab or CR gets a
/// leading `'` so a spreadsheet shows it instead of running it as a formula (the JSON file
/// keeps the exact value).
fn csv_cell(s: &str) -> String {
    let guarded;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{s}");
        guarded.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => csv_cell(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => csv_cell(&other.to_string()),
    }
}

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn kind_words(lang: Lang, kind: &str) -> &'static str {
    match kind {
        "sqlite" => lang.pick(
            "a database (SQLite)",
            "una base de datos (SQLite)",
            "eine Datenbank (SQLite)",
            "une base de données (SQLite)",
        ),
        "postgres" => lang.pick(
            "a database (PostgreSQL)",
            "una base de datos (PostgreSQL)",
            "eine Datenbank (PostgreSQL)",
            "une base de données (PostgreSQL)",
        ),
        "command" => lang.pick(
            "a company system, read through its own export program",
            "un sistema de la empresa, leído mediante su propio programa de exportación",
            "ein System des Unternehmens, ausgelesen über sein eigenes Exportprogramm",
            "un système de l\u{2019}entreprise, lu par son propre programme d\u{2019}export",
        ),
        _ => lang.pick(
            "a company system",
            "un sistema de la empresa",
            "ein System des Unternehmens",
            "un système de l\u{2019}entreprise",
        ),
    }
}

/// `made_at` (RFC 3339) as a date in the reader's language; any other text as it is.
fn made_on(made_at: &str, tz: chrono_tz::Tz, lang: Lang) -> String {
    match chrono::DateTime::parse_from_rfc3339(made_at) {
        Ok(t) => crate::clock::long_date(t.with_timezone(&chrono::Utc), tz, lang.code()),
        Err(_) => made_at.to_string(),
    }
}

/// `1 table` / `2 tables` in the language.
fn counted(lang: Lang, n: usize, one: [&str; 4], many: [&str; 4]) -> String {
    let words = if n == 1 { one } else { many };
    format!("{n} {}", lang.pick(words[0], words[1], words[2], words[3]))
}

fn index_html(
    lang: Lang,
    request: &str,
    made_at: &str,
    sources: &[SourceNote],
    spools: &[Spool],
) -> String {
    let t = |en, es, de, fr| lang.pick(en, es, de, fr);
    let your_data = t("Your data", "Sus datos", "Ihre Daten", "Vos données");
    let req = t("request", "solicitud", "Anfrage", "demande");
    let mut h = String::new();
    h.push_str(&format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\n",
        lang.code()
    ));
    h.push_str(&format!(
        "<title>{your_data}: {req} {}</title>\n",
        esc(request)
    ));
    h.push_str("<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em;text-align:left}</style>\n</head><body>\n");
    h.push_str(&format!("<h1>{your_data} ({req} {})</h1>\n", esc(request)));
    let intro = t(
        "This package holds the personal data we found about you, collected on {date} for your access request. \
         Each table comes twice: a <code>.json</code> file with the exact values, and a <code>.csv</code> file that opens in a spreadsheet \
         (in the CSV, a value that starts with =, +, - or @ has a ' in front so a spreadsheet shows it instead of running it).",
        "Este paquete contiene los datos personales que encontramos sobre usted, reunidos el {date} para su solicitud de acceso. \
         Cada tabla aparece dos veces: un archivo <code>.json</code> con los valores exactos y un archivo <code>.csv</code> que se abre en una hoja de cálculo \
         (en el CSV, un valor que empieza por =, +, - o @ lleva delante un ' para que la hoja de cálculo lo muestre en lugar de ejecutarlo).",
        "Dieses Paket enthält die personenbezogenen Daten, die wir über Sie gefunden haben, zusammengestellt am {date} für Ihre Auskunftsanfrage. \
         Jede Tabelle ist zweimal enthalten: als <code>.json</code>-Datei mit den genauen Werten und als <code>.csv</code>-Datei, die sich in einer Tabellenkalkulation öffnen lässt \
         (in der CSV-Datei steht vor einem Wert, der mit =, +, - oder @ beginnt, ein ', damit die Tabellenkalkulation ihn anzeigt, statt ihn auszuführen).",
        "Ce paquet contient les données personnelles que nous avons trouvées à votre sujet, rassemblées le {date} pour votre demande d\u{2019}accès. \
         Chaque table figure deux fois : un fichier <code>.json</code> avec les valeurs exactes, et un fichier <code>.csv</code> qui s\u{2019}ouvre dans un tableur \
         (dans le CSV, une valeur qui commence par =, +, - ou @ est précédée d\u{2019}une ' pour que le tableur l\u{2019}affiche au lieu de l\u{2019}exécuter).",
    );
    h.push_str(&format!(
        "<p>{}</p>\n",
        intro.replace("{date}", &esc(made_at))
    ));
    let total: u64 = spools.iter().map(|s| s.rows).sum();
    let rows = if total == 1 {
        t(
            "row in all",
            "fila en total",
            "Zeile insgesamt",
            "ligne au total",
        )
    } else {
        t(
            "rows in all",
            "filas en total",
            "Zeilen insgesamt",
            "lignes au total",
        )
    };
    h.push_str(&format!(
        "<p>{}, {}, {total} {rows}.</p>\n",
        counted(
            lang,
            sources.len(),
            ["source", "fuente", "Quelle", "source"],
            ["sources", "fuentes", "Quellen", "sources"]
        ),
        counted(
            lang,
            spools.len(),
            ["table", "tabla", "Tabelle", "table"],
            ["tables", "tablas", "Tabellen", "tables"]
        ),
    ));
    for src in sources {
        h.push_str(&format!(
            "<h2>{}</h2>\n<p>{}.</p>\n",
            esc(&src.name),
            esc(kind_words(lang, &src.kind))
        ));
        let tables: Vec<&Spool> = spools.iter().filter(|s| s.source == src.name).collect();
        if tables.is_empty() {
            h.push_str(&format!(
                "<p>{}</p>\n",
                t(
                    "Nothing about you was found here.",
                    "Aquí no se encontró nada sobre usted.",
                    "Hier wurde nichts über Sie gefunden.",
                    "Rien n\u{2019}a été trouvé à votre sujet ici."
                )
            ));
            continue;
        }
        h.push_str(&format!(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
            t("Table", "Tabla", "Tabelle", "Table"),
            t("Rows", "Filas", "Zeilen", "Lignes"),
            t("What it holds", "Qué contiene", "Inhalt", "Contenu"),
            t("Files", "Archivos", "Dateien", "Fichiers"),
        ));
        for s in tables {
            let base = format!("{}/{}", s.source, s.table);
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}.json, {}.csv</td></tr>\n",
                esc(&s.table),
                s.rows,
                if s.columns.is_empty() {
                    t(
                        "no columns",
                        "sin columnas",
                        "keine Spalten",
                        "aucune colonne",
                    )
                    .to_string()
                } else {
                    esc(&s.columns.join(", "))
                },
                esc(&base),
                esc(&base)
            ));
        }
        h.push_str("</table>\n");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_guards_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_value(&Value::from(-2)), "-2");
        assert_eq!(csv_value(&Value::Null), "");
        assert_eq!(
            csv_value(&serde_json::json!({"a": [1]})),
            "\"{\"\"a\"\":[1]}\""
        );
    }

    #[test]
    fn a_failed_finish_leaves_no_partial_file() {
        let dir = std::env::temp_dir().join(format!("pi-pkg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("out/full")).expect("dirs");
        let mut b = PackageBuilder::new(&dir).expect("builder");
        let t = b.begin_table("s", "t", vec!["a".into()]).expect("table");
        b.row(t, vec![Value::from(1)]).expect("row");
        // The final name is a non-empty directory: the rename fails at the very end.
        let out = dir.join("out");
        assert!(b.finish(&out, &[0u8; 32], "PI-1", "now").is_err());
        assert!(
            !dir.join("out.partial").exists(),
            "the partial file is removed"
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            [std::ffi::OsString::from("out")],
            "spools removed too"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Builds a small package in `lang` and returns its index.html.
    fn index_in(lang: &str) -> String {
        let dir = tempfile::tempdir().expect("tmp");
        let mut b = PackageBuilder::new(dir.path()).expect("builder");
        b.set_reader(lang, chrono_tz::America::Los_Angeles);
        b.add_source("crm", "sqlite");
        b.add_source("billing", "command");
        let t = b
            .begin_table("crm", "customers", vec!["name".into(), "city".into()])
            .expect("table");
        b.row(t, vec![Value::from("Eli <b>"), Value::from("Köln")])
            .expect("row");
        let out = dir.path().join("p.zip.enc");
        let key = [7u8; 32];
        b.finish(&out, &key, "PI-2026-0042", "2026-11-27T06:00:00Z")
            .expect("finish");
        let zip = read_all(&out, &key).expect("decrypt");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("zip");
        let mut html = String::new();
        archive
            .by_name("index.html")
            .expect("index.html")
            .read_to_string(&mut html)
            .expect("utf-8");
        html
    }

    #[test]
    fn the_index_is_in_the_requests_language() {
        // (language tag, lang attribute, words that must be there, English that must not)
        let cases = [
            (
                "en",
                "en",
                vec![
                    "Your data (request PI-2026-0042)",
                    "collected on November 26, 2026",
                    "2 sources, 1 table, 1 row in all",
                    "Nothing about you was found here.",
                    "<th>What it holds</th>",
                    "a database (SQLite)",
                ],
            ),
            (
                "de",
                "de",
                vec![
                    "Ihre Daten (Anfrage PI-2026-0042)",
                    "zusammengestellt am 26. November 2026",
                    "2 Quellen, 1 Tabelle, 1 Zeile insgesamt",
                    "Hier wurde nichts über Sie gefunden.",
                    "<th>Inhalt</th>",
                    "eine Datenbank (SQLite)",
                    "ausgelesen über sein eigenes Exportprogramm",
                ],
            ),
            ("de-AT", "de", vec!["Ihre Daten (Anfrage PI-2026-0042)"]),
            (
                "es",
                "es",
                vec![
                    "Sus datos (solicitud PI-2026-0042)",
                    "reunidos el 26 de noviembre de 2026",
                    "2 fuentes, 1 tabla, 1 fila en total",
                    "Aquí no se encontró nada sobre usted.",
                    "<th>Qué contiene</th>",
                ],
            ),
            (
                "fr",
                "fr",
                vec![
                    "Vos données (demande PI-2026-0042)",
                    "rassemblées le 26 novembre 2026",
                    "2 sources, 1 table, 1 ligne au total",
                    "Rien n\u{2019}a été trouvé à votre sujet ici.",
                    "<th>Contenu</th>",
                ],
            ),
            ("xx", "en", vec!["Your data (request PI-2026-0042)"]),
        ];
        for (tag, code, words) in cases {
            let html = index_in(tag);
            assert!(
                html.contains(&format!("<html lang=\"{code}\">")),
                "{tag}: {html}"
            );
            for w in words {
                assert!(html.contains(w), "{tag}: {w:?} missing in {html}");
            }
            // Every language keeps the admin's names and escapes the data.
            assert!(
                html.contains("crm/customers.json, crm/customers.csv"),
                "{tag}"
            );
            assert!(html.contains("name, city"), "{tag}");
            if code != "en" {
                for english in [
                    "Your data",
                    "Nothing about you",
                    "What it holds",
                    "rows in all",
                    "a database",
                ] {
                    assert!(
                        !html.contains(english),
                        "{tag}: English {english:?} in {html}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_made_at_that_is_not_a_timestamp_is_shown_as_it_is() {
        assert_eq!(made_on("now", chrono_tz::UTC, Lang::De), "now");
        assert_eq!(
            made_on("2026-03-03T12:00:00Z", chrono_tz::UTC, Lang::Es),
            "3 de marzo de 2026"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
