//! Where a password or an OAuth2 token comes from, and reading it at each login: written in
//! the file, an environment variable, or the first line a shell command prints. The only
//! part of the configuration that runs a command or reads a secret; nothing here runs while
//! the file is checked, only when a server asks.

use anyhow::{anyhow, Context, Result};

/// How the password (or OAuth2 token) is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// Written in the config file.
    Literal(String),
    /// Read from this environment variable at each login.
    Env(String),
    /// Printed on stdout by this shell command at each login.
    Command(String),
}

impl Secret {
    /// Resolves the secret now (environment variable or command output).
    pub fn resolve(&self) -> Result<String> {
        match self {
            Secret::Literal(s) => Ok(s.clone()),
            Secret::Env(var) => std::env::var(var)
                .with_context(|| format!("Environment variable {var} (password-env) is not set")),
            Secret::Command(cmd) => run_secret_command(cmd),
        }
    }
}

/// Runs a secret/token command with `sh -c` and returns its first output line.
pub fn run_secret_command(cmd: &str) -> Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("Cannot run secret command `{cmd}`"))?;
    if !out.status.success() {
        return Err(anyhow!(
            "Secret command `{cmd}` failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8(out.stdout).context("Secret command printed non-UTF-8 output")?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(anyhow!("Secret command `{cmd}` printed nothing"));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_gives_its_first_line_and_a_failing_or_silent_one_an_error() {
        assert_eq!(
            run_secret_command("printf '  s3cret  \\nsecond\\n'").expect("runs"),
            "s3cret"
        );
        let err = format!(
            "{:#}",
            run_secret_command("echo oops >&2; exit 3").expect_err("fails")
        );
        assert!(err.contains("failed with") && err.contains("oops"), "{err}");
        let err = format!("{:#}", run_secret_command("true").expect_err("silent"));
        assert!(err.contains("printed nothing"), "{err}");
    }

    #[test]
    fn an_unset_environment_variable_is_named_not_read_as_empty() {
        let var = "PRIVACY_INBOX_TEST_SURELY_UNSET_SECRET";
        let err = format!(
            "{:#}",
            Secret::Env(var.into()).resolve().expect_err("unset")
        );
        assert!(err.contains(var) && err.contains("password-env"), "{err}");
        assert_eq!(
            Secret::Literal("pw".into()).resolve().expect("literal"),
            "pw"
        );
    }
}
