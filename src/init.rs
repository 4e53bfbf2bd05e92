//! `privacy-inbox init`: a first, commented config for a provider and an address, made from
//! the shipped sample (so it documents every key), written only where no file exists yet.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// The sample config, compiled in: `init` works from an installed binary too.
pub const SAMPLE: &str = include_str!("../privacy-inbox.sample.toml");

/// Where the mailbox is hosted: decides hosts, ports, TLS and how the bot logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// Google Workspace / Gmail: IMAPS and SMTPS with XOAUTH2.
    Gmail,
    /// Microsoft 365 / Exchange Online: IMAPS and SMTP STARTTLS with XOAUTH2.
    M365,
    /// Any other server (Dovecot, Postfix, a hosting company): IMAPS 993, STARTTLS 587,
    /// password from an environment variable.
    Generic,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::Gmail => "gmail",
            Provider::M365 => "m365",
            Provider::Generic => "generic",
        }
    }
}

/// What `init` was asked for.
#[derive(Debug, Clone)]
pub struct InitArgs {
    /// The provider.
    pub provider: Provider,
    /// The bot's mailbox, e.g. `privacy@acme.example`.
    pub address: String,
    /// Who gets escalations; `None`: `staff@` the same domain, flagged as a guess.
    pub staff: Option<String>,
    /// The templates folder to write into the config.
    pub templates_dir: PathBuf,
}

const GMAIL_TOKEN: &str = r#""""curl -fsS https://oauth2.googleapis.com/token \
  -d client_id=$GOOGLE_CLIENT_ID -d client_secret=$GOOGLE_CLIENT_SECRET \
  -d refresh_token=$GOOGLE_REFRESH_TOKEN -d grant_type=refresh_token | jq -r .access_token""""#;

const M365_TOKEN: &str = r#""""curl -fsS https://login.microsoftonline.com/$TENANT/oauth2/v2.0/token \
  -d client_id=$M365_CLIENT_ID -d refresh_token=$M365_REFRESH_TOKEN -d grant_type=refresh_token \
  -d 'scope=https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access' \
  | jq -r .access_token""""#;

/// `"text"` as a TOML basic string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Sets `key` in the lines of one section: the first line that sets it or shows it
/// commented out becomes `key = value`; with `None` it is commented out.
fn set(lines: &mut [String], key: &str, value: Option<&str>) -> Result<()> {
    let is_key = |l: &str| {
        let l = l.trim_start_matches('#').trim_start();
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let line = lines
        .iter_mut()
        .find(|l| is_key(l))
        .ok_or_else(|| anyhow!("the sample has no key {key}"))?;
    match value {
        Some(v) => *line = format!("{key} = {v}"),
        // Never a sample password, not even commented out.
        None if key == "password" => *line = "# password = \"...\"".to_string(),
        None if !line.starts_with('#') => *line = format!("# {line}"),
        None => {}
    }
    Ok(())
}

/// The lines of section `name`.
fn section<'a>(
    sections: &'a mut [(String, Vec<String>)],
    name: &str,
) -> Result<&'a mut Vec<String>> {
    sections
        .iter_mut()
        .find(|(n, _)| n == name)
        .map(|(_, l)| l)
        .ok_or_else(|| anyhow!("the sample has no [{name}]"))
}

/// The starter config text for `args`.
pub fn starter_config(args: &InitArgs) -> Result<String> {
    let address = crate::address::bare_address(&args.address)
        .filter(|a| a.contains('@'))
        .ok_or_else(|| anyhow!("--address {:?} is not an email address", args.address))?;
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let staff = match &args.staff {
        Some(s) => crate::address::bare_address(s)
            .ok_or_else(|| anyhow!("--staff {s:?} is not an email address"))?,
        None => format!("staff@{domain}"),
    };
    if staff.eq_ignore_ascii_case(&address) {
        bail!("--staff must be a person's address, not the bot's own mailbox {address}");
    }
    let templates = args
        .templates_dir
        .to_str()
        .ok_or_else(|| anyhow!("The templates folder is not a UTF-8 path"))?;

    // Section name -> its lines; the text before the first section is the header.
    let mut sections: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
    for line in SAMPLE.lines() {
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
            .map(|(n, _)| n.to_string())
        {
            sections.push((name, vec![line.to_string()]));
        } else if let Some(last) = sections.last_mut() {
            last.1.push(line.to_string());
        }
    }

    let q_address = quoted(&address);
    let (imap_host, imap_port, smtp_host, smtp_port, smtp_security, secret) = match args.provider {
        Provider::Gmail => (
            "imap.gmail.com".to_string(),
            "993",
            "smtp.gmail.com".to_string(),
            "465",
            "tls",
            ("oauth2-token-command", GMAIL_TOKEN.to_string()),
        ),
        Provider::M365 => (
            "outlook.office365.com".to_string(),
            "993",
            "smtp.office365.com".to_string(),
            "587",
            "starttls",
            ("oauth2-token-command", M365_TOKEN.to_string()),
        ),
        Provider::Generic => (
            format!("mail.{domain}"),
            "993",
            format!("mail.{domain}"),
            "587",
            "starttls",
            ("password-env", quoted("PRIVACY_INBOX_PASSWORD")),
        ),
    };
    for (name, host, port, security) in [
        ("imap", imap_host, imap_port, "tls"),
        ("smtp", smtp_host, smtp_port, smtp_security),
    ] {
        let lines = section(&mut sections, name)?;
        set(lines, "host", Some(&quoted(&host)))?;
        set(lines, "port", Some(port))?;
        set(lines, "security", Some(&quoted(security)))?;
        set(lines, "username", Some(&q_address))?;
        for key in [
            "password",
            "password-env",
            "password-command",
            "oauth2-token-command",
        ] {
            let value = (key == secret.0).then_some(secret.1.as_str());
            set(lines, key, value)?;
        }
    }
    set(
        section(&mut sections, "smtp")?,
        "from",
        Some(&quoted(&format!("Privacy Team <{address}>"))),
    )?;
    set(
        section(&mut sections, "staff")?,
        "escalation-to",
        Some(&format!("[{}]", quoted(&staff))),
    )?;
    set(
        section(&mut sections, "templates")?,
        "dir",
        Some(&quoted(templates)),
    )?;

    let mut out = format!(
        "# Written by `privacy-inbox init --provider {} --address {address}`.\n",
        args.provider.name()
    );
    if args.staff.is_none() {
        out.push_str(&format!(
            "# [staff] escalation-to is a guess ({staff}): set the address of the people who\n\
             # handle privacy requests.\n"
        ));
    }
    for (_, lines) in &sections {
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The templates folder a new config should name: beside the config, in the working
/// directory, or where this binary was built from (a source checkout).
pub fn find_templates(config: &Path) -> Option<PathBuf> {
    let beside = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("templates");
    let mut candidates = vec![beside, PathBuf::from("templates")];
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/privacy-inbox in a checkout; <prefix>/bin when installed.
        for up in exe.ancestors().skip(1).take(3) {
            candidates.push(up.join("templates"));
            candidates.push(up.join("share/privacy-inbox/templates"));
        }
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates"));
    candidates
        .into_iter()
        .find(|c| c.join("en").is_dir())
        .and_then(|c| std::fs::canonicalize(c).ok())
}

/// `privacy-inbox init`: writes the starter config to `path` (never over an existing file)
/// and returns the next steps to print.
pub fn write(
    path: &Path,
    provider: Provider,
    address: &str,
    staff: Option<&str>,
) -> Result<String> {
    if path.exists() {
        bail!(
            "{} exists already; init never overwrites a config (remove it, or give another \
             path with --config FILE)",
            path.display()
        );
    }
    let templates_dir = find_templates(path).ok_or_else(|| {
        anyhow!("Cannot find the templates folder (templates/en/); run init from the folder that holds templates/")
    })?;
    let text = starter_config(&InitArgs {
        provider,
        address: address.to_string(),
        staff: staff.map(str::to_string),
        templates_dir,
    })?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("Cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("Cannot write {}", path.display()))?;
    let cfg = path.display();
    let secret = match provider {
        Provider::Gmail => {
            "set GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and GOOGLE_REFRESH_TOKEN for the\n     \
             oauth2-token-command in [imap] and [smtp] (README: \"Gmail\")"
        }
        Provider::M365 => {
            "set TENANT, M365_CLIENT_ID and M365_REFRESH_TOKEN for the oauth2-token-command\n     \
             in [imap] and [smtp] (README: \"Microsoft 365\")"
        }
        Provider::Generic => {
            "check host and ports in [imap] and [smtp], and export PRIVACY_INBOX_PASSWORD\n     \
             (the mailbox password)"
        }
    };
    let mut steps = format!(
        "Wrote {cfg} ({} starter config).\nNext steps:\n",
        provider.name()
    );
    steps.push_str(&format!("  1. Edit {cfg}: {secret}.\n"));
    if staff.is_none() {
        steps.push_str("     Set [staff] escalation-to: who handles privacy requests.\n");
    }
    steps.push_str(&format!(
        "  2. privacy-inbox --config {cfg} check      config, templates, then a real login to IMAP and SMTP\n"
    ));
    steps.push_str(&format!(
        "  3. privacy-inbox --config {cfg} run --once one pass: read the mailbox, answer, exit\n"
    ));
    steps.push_str(&format!(
        "  4. privacy-inbox --config {cfg} run        the daemon (contrib/ has a systemd unit)\n"
    ));
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(provider: Provider) -> InitArgs {
        InitArgs {
            provider,
            address: "privacy@acme.example".into(),
            staff: Some("dpo@acme.example".into()),
            templates_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates"),
        }
    }

    #[test]
    fn every_provider_gives_a_config_that_loads_with_its_servers_and_login() {
        for (provider, imap, smtp, port, auth) in [
            (
                Provider::Gmail,
                "imap.gmail.com",
                "smtp.gmail.com",
                465,
                "oauth2",
            ),
            (
                Provider::M365,
                "outlook.office365.com",
                "smtp.office365.com",
                587,
                "oauth2",
            ),
            (
                Provider::Generic,
                "mail.acme.example",
                "mail.acme.example",
                587,
                "env",
            ),
        ] {
            let text = starter_config(&args(provider)).expect("starter config");
            let s = crate::config::parse(&text, Path::new("/tmp/x/privacy-inbox.toml"))
                .unwrap_or_else(|e| panic!("{provider:?}: {e:#}\n{text}"));
            assert_eq!(s.imap.endpoint.host, imap);
            assert_eq!(s.imap.endpoint.port, 993);
            assert_eq!(s.imap.endpoint.security, crate::config::Security::Tls);
            assert_eq!(s.smtp.endpoint.host, smtp);
            assert_eq!(s.smtp.endpoint.port, port);
            assert_eq!(s.smtp.from_address, "privacy@acme.example");
            assert_eq!(s.staff.escalation_to, vec!["dpo@acme.example".to_string()]);
            for ep in [&s.imap.endpoint, &s.smtp.endpoint] {
                match (&ep.auth, auth) {
                    (crate::config::Auth::OAuth2 { username, .. }, "oauth2")
                    | (crate::config::Auth::Password { username, .. }, "env") => {
                        assert_eq!(username, "privacy@acme.example")
                    }
                    (other, _) => panic!("{provider:?}: {other:?}"),
                }
            }
            assert!(
                !text.contains("\"secret\""),
                "no sample password left:\n{text}"
            );
            assert!(text.contains("# [dkim]"), "still documents every key");
        }
    }

    /// The starter config's example source compares addresses case-insensitively, so an admin
    /// who uncomments it finds `Eli.Marsh@Example.TEST`; `check` would not warn about it.
    #[test]
    fn the_example_source_compares_addresses_whatever_their_case() {
        use crate::fulfil::casing::{case_sensitive_comparisons, Dialect};
        let text = starter_config(&args(Provider::Generic)).expect("starter config");
        let queries: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                ["lookup =", "export =", "erase =", "opt-out ="]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .collect();
        assert_eq!(queries.len(), 4, "{queries:?}");
        for q in queries {
            assert!(q.contains("lower(email) = :email"), "{q}");
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                assert_eq!(
                    case_sensitive_comparisons(q, dialect),
                    Vec::<String>::new(),
                    "{q}"
                );
            }
        }
    }

    #[test]
    fn a_bad_address_or_the_bot_as_staff_is_refused() {
        let mut a = args(Provider::Generic);
        a.address = "not an address".into();
        assert!(starter_config(&a).is_err());
        let mut a = args(Provider::Generic);
        a.staff = Some("privacy@acme.example".into());
        assert!(starter_config(&a).is_err());
    }
}
