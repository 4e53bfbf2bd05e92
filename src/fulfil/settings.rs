//! `[[sources]]`, `[portal]` and `[fulfil]`: the root TOML table → typed settings, every problem
//! at once, each naming its file-relative key (`sources[1].kind: expected sqlite, postgres or
//! command`), as the rest of the config does.
//!
//! ```toml
//! [[sources]]
//! name = "crm"                       # shown to staff and in the package: [a-z0-9_-], unique
//! kind = "sqlite"                    # sqlite | postgres | command
//! url = "/var/lib/crm/crm.sqlite3"   # sqlite: a file; postgres: postgres://user@host:port/db
//! # a postgres host off this machine needs ?sslmode=require (TLS, certificate checked):
//! #   url = "postgres://crm@db.internal:5432/crm?sslmode=require"
//! # ca-file = "/etc/privacy-inbox/db-ca.pem"  # postgres + TLS: pinned cert or private CA
//! # password-env = "CRM_PASSWORD"    # postgres only, at most one of the two
//! # password-command = "pass show crm"
//! lookup = "SELECT count(*) FROM customers WHERE email = :email"
//! # or one count per table: lookup = { customers = "SELECT count(*) ...", calls = "..." }
//! export = { customers = "SELECT * FROM customers WHERE email = :email" }
//! erase = ["DELETE FROM calls WHERE email = :email", "DELETE FROM customers WHERE email = :email"]
//! opt-out = "UPDATE customers SET do_not_sell = 1 WHERE email = :email"
//! # timeout-seconds = 60             # each lookup/export/erase/opt-out, per source
//!
//! [[sources]]
//! name = "billing"
//! kind = "command"
//! command = ["/usr/local/bin/billing-privacy", "--json"]   # program and arguments, no shell
//! actions = ["lookup", "export", "erase", "opt-out"]        # what the program implements
//!
//! [portal]
//! listen = "127.0.0.1:8443"
//! public-url = "https://privacy.acme.example"
//! link-days = 7
//!
//! [fulfil]
//! access = "manual"   # or "auto": send the link without waiting for /approve
//! delete = "manual"   # or "auto": erase without waiting for /approve
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use toml::Value;

/// Default and bounds of `[portal] link-days`.
pub const DEFAULT_LINK_DAYS: u32 = 7;
const MAX_LINK_DAYS: i64 = 90;
/// Default `timeout-seconds` of a source.
pub const DEFAULT_SOURCE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_SOURCE_TIMEOUT_SECS: i64 = 3600;

/// Everything fulfilment reads from the config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FulfilSettings {
    /// `[[sources]]`, in file order.
    pub sources: Vec<SourceSettings>,
    /// `[portal]`, when present.
    pub portal: Option<PortalSettings>,
    /// `[fulfil] access`.
    pub access: Approval,
    /// `[fulfil] delete`.
    pub delete: Approval,
}

impl FulfilSettings {
    /// Resolves relative SQLite paths against the config file's directory (as the rest of
    /// the config does).
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        for s in &mut self.sources {
            if let SourceKind::Sqlite { path } = &mut s.kind {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
    }
}

/// Whether a step waits for staff's `/approve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Approval {
    /// Staff approves (`/approve`) first.
    #[default]
    Manual,
    /// The bot goes ahead by itself.
    Auto,
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    /// `name`: shown to staff and in the package; `[a-z0-9_-]`, unique.
    pub name: String,
    /// `kind` with its kind-specific keys.
    pub kind: SourceKind,
    /// `lookup`: one count, or one count per label.
    pub lookup: Option<Lookup>,
    /// `export`: table name → query, sorted by table name.
    pub export: Vec<(String, String)>,
    /// `erase`: statements run in one transaction, in order.
    pub erase: Vec<String>,
    /// `opt-out`.
    pub opt_out: Option<String>,
    /// `timeout-seconds`: the longest any one action may take.
    pub timeout: Duration,
}

/// `lookup`: one query that counts everything, or one per label (usually a table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `lookup = "SELECT count(*) ..."`.
    One(String),
    /// `lookup = { customers = "SELECT count(*) ...", ... }`, sorted by label.
    PerTable(Vec<(String, String)>),
}

/// How a source is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A SQLite file (`url` is its path), opened read-write only for erase/opt-out.
    Sqlite {
        /// The database file.
        path: std::path::PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// `url`: `postgres://user@host:port/db` (a password in the URL is refused: use
        /// `password-env` or `password-command`).
        url: String,
        /// Where the password comes from, if one is needed.
        password: Option<PasswordSource>,
        /// `ca-file`: a PEM certificate pinned, or a private CA, for `sslmode=require`
        /// (otherwise the built-in web roots decide; see [`crate::tls`]).
        ca_file: Option<std::path::PathBuf>,
    },
    /// A program that speaks JSON on stdin/stdout (see [`crate::fulfil::command`]).
    Command {
        /// `command[0]`: the program; run directly, no shell.
        program: String,
        /// `command[1..]`: its arguments.
        args: Vec<String>,
    },
}

impl SourceKind {
    /// `sqlite`, `postgres` or `command`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceKind::Sqlite { .. } => "sqlite",
            SourceKind::Postgres { .. } => "postgres",
            SourceKind::Command { .. } => "command",
        }
    }
}

/// `password-env` / `password-command` of a postgres source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The named environment variable.
    Env(String),
    /// The first line printed by `sh -c COMMAND`.
    Command(String),
}

/// `[portal]`: the download pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSettings {
    /// `listen`: the address the HTTP server binds (behind a TLS reverse proxy).
    pub listen: SocketAddr,
    /// `public-url`: how consumers reach it, without a trailing `/`.
    pub public_url: String,
    /// `link-days`: a link expires this many days after it was made.
    pub link_days: u32,
}

const SOURCE_KEYS: &[&str] = &[
    "name",
    "kind",
    "url",
    "password-env",
    "password-command",
    "ca-file",
    "command",
    "actions",
    "lookup",
    "export",
    "erase",
    "opt-out",
    "timeout-seconds",
];
const PORTAL_KEYS: &[&str] = &["listen", "public-url", "link-days"];
const FULFIL_KEYS: &[&str] = &["access", "delete"];

struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.0.push(format!("{key}: {msg}"));
    }
}

/// Reads `[[sources]]`, `[portal]` and `[fulfil]` from the root table. Other sections are left
/// to the rest of the config. Every problem is returned at once.
pub fn parse(root: &toml::Table) -> Result<FulfilSettings, Vec<String>> {
    let mut p = Problems(Vec::new());
    let mut out = FulfilSettings::default();
    match root.get("sources") {
        None => {}
        Some(Value::Array(items)) => {
            let mut names = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let key = format!("sources[{i}]");
                match item {
                    Value::Table(t) => {
                        if let Some(Value::String(name)) = t.get("name") {
                            if !names.insert(name.clone()) {
                                p.push(
                                    &format!("{key}.name"),
                                    format!("\"{name}\" is used by an earlier source"),
                                );
                            }
                        }
                        if let Some(s) = source(t, &key, &mut p) {
                            out.sources.push(s);
                        }
                    }
                    _ => p.push(&key, "expected a table ([[sources]])"),
                }
            }
        }
        Some(_) => p.push("sources", "expected [[sources]] tables"),
    }
    match root.get("portal") {
        None => {}
        Some(Value::Table(t)) => out.portal = portal(t, &mut p),
        Some(_) => p.push("portal", "expected a table ([portal])"),
    }
    match root.get("fulfil") {
        None => {}
        Some(Value::Table(t)) => {
            unknown(t, "fulfil", FULFIL_KEYS, &mut p);
            out.access = approval(t, "fulfil.access", &mut p);
            out.delete = approval(t, "fulfil.delete", &mut p);
        }
        Some(_) => p.push("fulfil", "expected a table ([fulfil])"),
    }
    if out.access == Approval::Auto && out.portal.is_none() {
        p.push(
            "fulfil.access",
            "\"auto\" sends a download link, which needs a [portal] section",
        );
    }
    if p.0.is_empty() {
        Ok(out)
    } else {
        Err(p.0)
    }
}

fn unknown(t: &toml::Table, key: &str, known: &[&str], p: &mut Problems) {
    for k in t.keys() {
        if !known.contains(&k.as_str()) {
            p.push(
                &format!("{key}.{k}"),
                format!("unknown key (known: {})", known.join(", ")),
            );
        }
    }
}

fn string(t: &toml::Table, key: &str, full: &str, p: &mut Problems) -> Option<String> {
    match t.get(key) {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            p.push(full, "is empty");
            None
        }
        Some(_) => {
            p.push(full, "expected a string");
            None
        }
    }
}

fn approval(t: &toml::Table, full: &str, p: &mut Problems) -> Approval {
    let key = full.rsplit('.').next().unwrap_or(full);
    match string(t, key, full, p).as_deref() {
        None | Some("manual") => Approval::Manual,
        Some("auto") => Approval::Auto,
        Some(other) => {
            p.push(
                full,
                format!("expected \"manual\" or \"auto\", not \"{other}\""),
            );
            Approval::Manual
        }
    }
}

/// A source or table name: it becomes a file name in the package.
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `label = "SQL"` pairs of an inline table, sorted by label.
fn named_queries(v: &Value, full: &str, p: &mut Problems) -> Vec<(String, String)> {
    let Value::Table(t) = v else {
        p.push(full, "expected a table of name = \"SQL\"");
        return Vec::new();
    };
    if t.is_empty() {
        p.push(full, "is empty");
    }
    let mut out = Vec::new();
    for (name, sql) in t {
        let key = format!("{full}.{name}");
        if !valid_name(name) {
            p.push(
                &key,
                "a name is 1-64 of a-z, 0-9, _ and - (it becomes a file name)",
            );
        }
        match sql {
            Value::String(s) if !s.trim().is_empty() => out.push((name.clone(), s.clone())),
            Value::String(_) => p.push(&key, "is empty"),
            _ => p.push(&key, "expected a string (SQL)"),
        }
    }
    out
}

fn source(t: &toml::Table, key: &str, p: &mut Problems) -> Option<SourceSettings> {
    unknown(t, key, SOURCE_KEYS, p);
    let name = string(t, "name", &format!("{key}.name"), p);
    match &name {
        None if !t.contains_key("name") => p.push(&format!("{key}.name"), "missing"),
        Some(n) if !valid_name(n) => p.push(
            &format!("{key}.name"),
            "a name is 1-64 of a-z, 0-9, _ and - (it becomes a file name)",
        ),
        _ => {}
    }
    let url = string(t, "url", &format!("{key}.url"), p);
    let pw_env = string(t, "password-env", &format!("{key}.password-env"), p);
    let pw_cmd = string(t, "password-command", &format!("{key}.password-command"), p);
    let kind_key = format!("{key}.kind");
    let kind = match t.get("kind") {
        None => {
            p.push(&kind_key, "missing: expected sqlite, postgres or command");
            None
        }
        Some(Value::String(k)) => match k.as_str() {
            "sqlite" => sqlite_kind(t, key, url, p),
            "postgres" => postgres_kind(t, key, url, pw_env.clone(), pw_cmd.clone(), p),
            "command" => command_kind(t, key, p),
            _ => {
                p.push(&kind_key, "expected sqlite, postgres or command");
                None
            }
        },
        Some(_) => {
            p.push(&kind_key, "expected sqlite, postgres or command");
            None
        }
    };
    let declared = t.get("kind").and_then(Value::as_str);
    if declared.is_some_and(|k| k != "postgres") {
        for k in ["password-env", "password-command", "ca-file"] {
            if t.contains_key(k) {
                p.push(
                    &format!("{key}.{k}"),
                    "only a postgres source takes a password",
                );
            }
        }
    }
    let is_command = declared == Some("command");
    if !is_command && t.contains_key("command") {
        p.push(
            &format!("{key}.command"),
            "only a command source runs a program",
        );
    }
    if !is_command && t.contains_key("actions") {
        p.push(
            &format!("{key}.actions"),
            "only a command source lists its actions",
        );
    }
    let (lookup, export, erase, opt_out) = if is_command {
        for k in ["lookup", "export", "erase", "opt-out"] {
            if t.contains_key(k) {
                p.push(
                    &format!("{key}.{k}"),
                    "a command source has no SQL; list what the program does in actions",
                );
            }
        }
        command_actions(t, key, p)
    } else {
        sql_actions(t, key, p)
    };
    if lookup.is_none() && export.is_empty() && erase.is_empty() && opt_out.is_none() {
        p.push(
            key,
            "does nothing: set at least one of lookup, export, erase, opt-out",
        );
    }
    let timeout = match t.get("timeout-seconds") {
        None => DEFAULT_SOURCE_TIMEOUT,
        Some(Value::Integer(n)) if (1..=MAX_SOURCE_TIMEOUT_SECS).contains(n) => {
            Duration::from_secs(*n as u64)
        }
        Some(_) => {
            p.push(
                &format!("{key}.timeout-seconds"),
                format!("expected a whole number of seconds, 1 to {MAX_SOURCE_TIMEOUT_SECS}"),
            );
            DEFAULT_SOURCE_TIMEOUT
        }
    };
    Some(SourceSettings {
        name: name?,
        kind: kind?,
        lookup,
        export,
        erase,
        opt_out,
        timeout,
    })
}

type Actions = (
    Option<Lookup>,
    Vec<(String, String)>,
    Vec<String>,
    Option<String>,
);

fn sql_actions(t: &toml::Table, key: &str, p: &mut Problems) -> Actions {
    let lookup = match t.get("lookup") {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(Lookup::One(s.clone())),
        Some(v @ Value::Table(_)) => Some(Lookup::PerTable(named_queries(
            v,
            &format!("{key}.lookup"),
            p,
        ))),
        Some(_) => {
            p.push(
                &format!("{key}.lookup"),
                "expected \"SQL\" (one count) or { table = \"SQL\", ... } (a count per table)",
            );
            None
        }
    };
    let export = t
        .get("export")
        .map(|v| named_queries(v, &format!("{key}.export"), p))
        .unwrap_or_default();
    let erase = match t.get("erase") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            if items.is_empty() {
                p.push(&format!("{key}.erase"), "is empty");
            }
            let mut out = Vec::new();
            for (i, v) in items.iter().enumerate() {
                match v {
                    Value::String(s) if !s.trim().is_empty() => out.push(s.clone()),
                    _ => p.push(
                        &format!("{key}.erase[{i}]"),
                        "expected a non-empty string (SQL)",
                    ),
                }
            }
            out
        }
        Some(_) => {
            p.push(&format!("{key}.erase"), "expected a list of SQL statements");
            Vec::new()
        }
    };
    let opt_out = string(t, "opt-out", &format!("{key}.opt-out"), p);
    (lookup, export, erase, opt_out)
}

/// A command source declares which actions its program implements; the "SQL" slot of each
/// holds the action name, so the rest of the code can ask "does this source do X?" uniformly.
fn command_actions(t: &toml::Table, key: &str, p: &mut Problems) -> Actions {
    let full = format!("{key}.actions");
    let mut out: Actions = (None, Vec::new(), Vec::new(), None);
    match t.get("actions") {
        None => p.push(
            &full,
            "missing: list what the program does, e.g. [\"lookup\", \"export\"]",
        ),
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                match v.as_str() {
                    Some("lookup") => out.0 = Some(Lookup::One("lookup".into())),
                    Some("export") => out.1 = vec![("*".into(), "export".into())],
                    Some("erase") => out.2 = vec!["erase".into()],
                    Some("opt-out") => out.3 = Some("opt-out".into()),
                    _ => p.push(
                        &format!("{full}[{i}]"),
                        "expected lookup, export, erase or opt-out",
                    ),
                }
            }
        }
        Some(_) => p.push(&full, "expected a list such as [\"lookup\", \"export\"]"),
    }
    out
}

fn sqlite_kind(
    t: &toml::Table,
    key: &str,
    url: Option<String>,
    p: &mut Problems,
) -> Option<SourceKind> {
    let _ = t;
    let Some(url) = url else {
        p.push(&format!("{key}.url"), "missing: the SQLite database file");
        return None;
    };
    let path = url.strip_prefix("sqlite://").unwrap_or(&url);
    Some(SourceKind::Sqlite { path: path.into() })
}

fn postgres_kind(
    t: &toml::Table,
    key: &str,
    url: Option<String>,
    pw_env: Option<String>,
    pw_cmd: Option<String>,
    p: &mut Problems,
) -> Option<SourceKind> {
    let ukey = format!("{key}.url");
    let Some(url) = url else {
        p.push(&ukey, "missing: postgres://user@host:port/database");
        return None;
    };
    let password = match (pw_env, pw_cmd) {
        (Some(_), Some(_)) => {
            p.push(
                &format!("{key}.password-env"),
                "set only one of password-env, password-command",
            );
            None
        }
        (Some(v), None) => Some(PasswordSource::Env(v)),
        (None, Some(c)) => Some(PasswordSource::Command(c)),
        (None, None) => None,
    };
    match url.parse::<tokio_postgres::Config>() {
        Err(e) => {
            p.push(&ukey, format!("not a PostgreSQL URL ({e})"));
            None
        }
        Ok(cfg) => {
            if cfg.get_password().is_some() {
                p.push(
                    &ukey,
                    "holds a password: move it to password-env or password-command",
                );
                return None;
            }
            if let Err(e) = check_host(&cfg) {
                p.push(&ukey, e);
                return None;
            }
            let ca_file =
                string(t, "ca-file", &format!("{key}.ca-file"), p).map(std::path::PathBuf::from);
            if ca_file.is_some() && cfg.get_ssl_mode() != tokio_postgres::config::SslMode::Require {
                p.push(
                    &format!("{key}.ca-file"),
                    "is used only with TLS: add ?sslmode=require to the url",
                );
            }
            Some(SourceKind::Postgres {
                url,
                password,
                ca_file,
            })
        }
    }
}

fn command_kind(t: &toml::Table, key: &str, p: &mut Problems) -> Option<SourceKind> {
    let full = format!("{key}.command");
    match t.get("command") {
        None => {
            p.push(&full, "missing: [\"/path/to/program\", \"arg\", ...]");
            None
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut words = Vec::new();
            for (i, v) in items.iter().enumerate() {
                match v.as_str() {
                    Some(s) if !s.is_empty() => words.push(s.to_string()),
                    _ => p.push(&format!("{full}[{i}]"), "expected a non-empty string"),
                }
            }
            if words.len() != items.len() {
                return None;
            }
            let program = words.remove(0);
            Some(SourceKind::Command {
                program,
                args: words,
            })
        }
        Some(_) => {
            p.push(
                &full,
                "expected [\"/path/to/program\", \"arg\", ...] (no shell)",
            );
            None
        }
    }
}

fn portal(t: &toml::Table, p: &mut Problems) -> Option<PortalSettings> {
    unknown(t, "portal", PORTAL_KEYS, p);
    let listen = match string(t, "listen", "portal.listen", p) {
        None => {
            if !t.contains_key("listen") {
                p.push("portal.listen", "missing: e.g. \"127.0.0.1:8443\"");
            }
            None
        }
        Some(s) => match s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                p.push(
                    "portal.listen",
                    format!("\"{s}\" is not an address:port such as 127.0.0.1:8443"),
                );
                None
            }
        },
    };
    let public_url = match string(t, "public-url", "portal.public-url", p) {
        None => {
            if !t.contains_key("public-url") {
                p.push(
                    "portal.public-url",
                    "missing: e.g. \"https://privacy.example.com\"",
                );
            }
            None
        }
        Some(u) => public_url(&u, p),
    };
    let link_days = match t.get("link-days") {
        None => DEFAULT_LINK_DAYS,
        Some(Value::Integer(n)) if (1..=MAX_LINK_DAYS).contains(n) => *n as u32,
        Some(_) => {
            p.push(
                "portal.link-days",
                format!("expected a whole number of days, 1 to {MAX_LINK_DAYS}"),
            );
            DEFAULT_LINK_DAYS
        }
    };
    Some(PortalSettings {
        listen: listen?,
        public_url: public_url?,
        link_days,
    })
}

/// `https://host[:port][/path]`; `http://` only for a loopback host (tests, a demo).
fn public_url(u: &str, p: &mut Problems) -> Option<String> {
    let key = "portal.public-url";
    let (scheme, rest) = match u.split_once("://") {
        Some(x) => x,
        None => {
            p.push(key, "expected https://host");
            return None;
        }
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostname = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    };
    if hostname.is_empty() || u.contains(['?', '#', ' ', '"', '<', '>']) {
        p.push(key, "expected https://host[/path], without query or spaces");
        return None;
    }
    let loopback = hostname == "localhost"
        || hostname
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    match scheme {
        "https" => {}
        "http" if loopback => {}
        _ => {
            p.push(key, "consumers download personal data here: use https://");
            return None;
        }
    }
    Some(u.trim_end_matches('/').to_string())
}

/// Refuses a host that would be reached without TLS over a network.
pub fn check_host(cfg: &tokio_postgres::Config) -> Result<(), String> {
    use tokio_postgres::config::{Host, SslMode};
    if cfg.get_ssl_mode() == SslMode::Require {
        return Ok(());
    }
    for h in cfg.get_hosts() {
        let (ok, shown) = match h {
            Host::Unix(p) => (true, p.display().to_string()),
            Host::Tcp(name) => (
                name == "localhost"
                    || name
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .map(|ip| ip.is_loopback())
                        .unwrap_or(false),
                name.clone(),
            ),
        };
        if !ok {
            return Err(format!(
                "host {shown} is not on this machine: add ?sslmode=require to the url (TLS, the \
                 certificate checked; ca-file for a private CA), or use a loopback address"
            ));
        }
    }
    if cfg.get_hostaddrs().iter().any(|a| !a.is_loopback()) {
        return Err("hostaddr is not a loopback address: add ?sslmode=require to the url".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<FulfilSettings, Vec<String>> {
        parse(&toml::from_str::<toml::Table>(s).expect("toml"))
    }

    #[test]
    fn the_issue_example_parses() {
        let s = parse_str(
            r#"
[[sources]]
name = "crm"
kind = "sqlite"
url = "/var/lib/crm/crm.sqlite3"
lookup = "SELECT count(*) FROM customers WHERE email = :email"
export = { customers = "SELECT * FROM customers WHERE email = :email", calls = "SELECT 1" }
erase = ["DELETE FROM calls WHERE email = :email", "DELETE FROM customers WHERE email = :email"]
opt-out = "UPDATE customers SET do_not_sell = 1 WHERE email = :email"

[[sources]]
name = "warehouse"
kind = "postgres"
url = "postgres://crm@127.0.0.1:5432/crm"
password-env = "CRM_PW"
lookup = { orders = "SELECT count(*) FROM orders WHERE email = :email" }

[[sources]]
name = "billing"
kind = "command"
command = ["/usr/local/bin/billing", "--json"]
actions = ["lookup", "export"]
timeout-seconds = 5

[portal]
listen = "127.0.0.1:8443"
public-url = "https://privacy.acme.example/"

[fulfil]
access = "auto"
"#,
        )
        .expect("valid");
        assert_eq!(s.sources.len(), 3);
        assert_eq!(
            s.sources[0].kind,
            SourceKind::Sqlite {
                path: "/var/lib/crm/crm.sqlite3".into()
            }
        );
        assert_eq!(
            s.sources[0]
                .export
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            ["calls", "customers"]
        );
        assert_eq!(s.sources[0].erase.len(), 2);
        assert!(s.sources[0].opt_out.is_some());
        assert_eq!(
            s.sources[1].kind,
            SourceKind::Postgres {
                url: "postgres://crm@127.0.0.1:5432/crm".into(),
                password: Some(PasswordSource::Env("CRM_PW".into())),
                ca_file: None,
            }
        );
        assert!(matches!(s.sources[1].lookup, Some(Lookup::PerTable(ref t)) if t.len() == 1));
        assert_eq!(
            s.sources[2].kind,
            SourceKind::Command {
                program: "/usr/local/bin/billing".into(),
                args: vec!["--json".into()]
            }
        );
        assert_eq!(s.sources[2].timeout, Duration::from_secs(5));
        assert!(s.sources[2].erase.is_empty());
        let portal = s.portal.expect("portal");
        assert_eq!(portal.link_days, 7);
        assert_eq!(portal.public_url, "https://privacy.acme.example");
        assert_eq!(s.access, Approval::Auto);
        assert_eq!(s.delete, Approval::Manual);
    }

    #[test]
    fn relative_sqlite_paths_resolve_against_the_config_directory() {
        let mut s = parse_str(
            "[[sources]]\nname = \"a\"\nkind = \"sqlite\"\nurl = \"data/a.db\"\nlookup = \"SELECT 1\"\n\n[[sources]]\nname = \"b\"\nkind = \"sqlite\"\nurl = \"/abs/b.db\"\nlookup = \"SELECT 1\"\n",
        )
        .expect("valid");
        s.resolve_paths(std::path::Path::new("/etc/privacy-inbox"));
        assert_eq!(
            s.sources[0].kind,
            SourceKind::Sqlite {
                path: "/etc/privacy-inbox/data/a.db".into()
            }
        );
        assert_eq!(
            s.sources[1].kind,
            SourceKind::Sqlite {
                path: "/abs/b.db".into()
            }
        );
    }

    #[test]
    fn no_sections_means_no_fulfilment() {
        assert_eq!(
            parse_str("[imap]\nhost = \"x\"\n").expect("ok"),
            FulfilSettings::default()
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_key() {
        let errs = parse_str(
            r#"
[[sources]]
name = "crm"
kind = "mysql"
url = "x"

[[sources]]
name = "crm"
kind = "sqlite"
url = "/x.db"
export = { "Bad Name" = "SELECT 1", ok = 3 }
erase = "DELETE FROM x"
password-env = "X"
colour = "blue"

[[sources]]
name = "pg"
kind = "postgres"
url = "postgres://u:secret@127.0.0.1/db"
lookup = "SELECT 1"

[[sources]]
name = "far"
kind = "postgres"
url = "postgres://u@db.example.com/db"
lookup = "SELECT 1"

[[sources]]
name = "cmd"
kind = "command"
command = "billing --json"
lookup = "SELECT 1"
actions = ["lookup", "sing"]

[portal]
listen = "everywhere"
public-url = "http://privacy.example.com"
link-days = 0

[fulfil]
access = "sometimes"
delete = "auto"
"#,
        )
        .expect_err("invalid");
        let want = [
            "sources[0].kind: expected sqlite, postgres or command",
            "sources[1].name: \"crm\" is used by an earlier source",
            "sources[1].export.Bad Name: a name is 1-64",
            "sources[1].export.ok: expected a string (SQL)",
            "sources[1].erase: expected a list of SQL statements",
            "sources[1].password-env: only a postgres source takes a password",
            "sources[1].colour: unknown key",
            "sources[2].url: holds a password",
            "sources[3].url: ",
            "sources[4].command: expected [",
            "sources[4].lookup: a command source has no SQL",
            "sources[4].actions[1]: expected lookup, export, erase or opt-out",
            "portal.listen: \"everywhere\" is not an address",
            "portal.public-url: consumers download personal data here: use https://",
            "portal.link-days: expected a whole number of days",
            "fulfil.access: expected \"manual\" or \"auto\", not \"sometimes\"",
        ];
        for w in want {
            assert!(
                errs.iter().any(|e| e.starts_with(w)),
                "missing {w:?} in {errs:#?}"
            );
        }
        assert!(
            errs.iter()
                .any(|e| e.starts_with("sources[3].url") && e.contains("TLS")),
            "{errs:#?}"
        );
    }

    #[test]
    fn a_source_that_does_nothing_is_refused() {
        let errs = parse_str("[[sources]]\nname = \"a\"\nkind = \"sqlite\"\nurl = \"/a.db\"\n")
            .expect_err("invalid");
        assert_eq!(
            errs,
            ["sources[0]: does nothing: set at least one of lookup, export, erase, opt-out"]
        );
    }

    #[test]
    fn auto_access_needs_a_portal() {
        let errs = parse_str("[fulfil]\naccess = \"auto\"\n").expect_err("invalid");
        assert!(errs[0].starts_with("fulfil.access:"), "{errs:?}");
    }

    #[test]
    fn plain_http_public_url_is_only_for_loopback() {
        let s = parse_str("[portal]\nlisten = \"127.0.0.1:0\"\npublic-url = \"http://127.0.0.1:8080\"\nlink-days = 3\n")
            .expect("valid");
        let portal = s.portal.expect("portal");
        assert_eq!(
            (portal.public_url.as_str(), portal.link_days),
            ("http://127.0.0.1:8080", 3)
        );
    }
}
