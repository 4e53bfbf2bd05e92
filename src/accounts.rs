//! The optional account directory: a CSV of `email,account number` an admin keeps, used as
//! the second data point in identity verification.

use anyhow::{anyhow, Context, Result};
use std::collections::HashMap;
use std::path::Path;

/// Email (lower-cased, without +tag) → account number.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    accounts: HashMap<String, String>,
}

impl Directory {
    /// Reads the CSV. Lines: `email,account`; a header line and `#` comments are skipped.
    /// Every bad line is reported with its number.
    pub fn load(path: &Path) -> Result<Directory> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("Cannot read account directory {}", path.display()))?;
        let mut accounts = HashMap::new();
        let mut problems = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut cols = l.split(',').map(|c| c.trim().trim_matches('"'));
            let (Some(email), Some(account)) = (cols.next(), cols.next()) else {
                problems.push(format!(
                    "{}:{}: expected `email,account`",
                    path.display(),
                    i + 1
                ));
                continue;
            };
            if i == 0 && !email.contains('@') {
                continue; // header
            }
            match crate::address::bare_address(email) {
                Some(e) if !account.is_empty() => {
                    accounts.insert(crate::address::base_address(&e), normalize(account));
                }
                _ => problems.push(format!(
                    "{}:{}: `{email}` / `{account}` is not an address and an account number",
                    path.display(),
                    i + 1
                )),
            }
        }
        if !problems.is_empty() {
            return Err(anyhow!(problems.join("; ")));
        }
        Ok(Directory { accounts })
    }

    /// The account number on file for an address.
    pub fn account_of(&self, email: &str) -> Option<&str> {
        self.accounts
            .get(&crate::address::base_address(email))
            .map(String::as_str)
    }

    /// True when `text` contains the account number (ignoring case, spaces and dashes).
    pub fn matches(expected: &str, text: &str) -> bool {
        let want = normalize(expected);
        !want.is_empty() && normalize(text).contains(&want)
    }
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_matches() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a.csv");
        std::fs::write(
            &p,
            "email,account\nJane@Example.test, AC-482913\n# comment\n",
        )
        .expect("write");
        let d = Directory::load(&p).expect("valid");
        assert_eq!(d.account_of("jane+x@example.test"), Some("AC482913"));
        // The address matches whatever its case, on either side.
        assert_eq!(d.account_of("JANE@EXAMPLE.TEST"), Some("AC482913"));
        assert_eq!(d.account_of("Jane+Shop@example.TEST"), Some("AC482913"));
        assert_eq!(d.account_of("jane@example.tes"), None);
        assert!(Directory::matches("AC482913", "my account is ac 482913."));
        assert!(!Directory::matches("AC482913", "my account is 482914"));
        std::fs::write(&p, "email,account\nnot-an-address,1\n").expect("write");
        let e = Directory::load(&p).expect_err("bad line").to_string();
        assert!(e.contains("a.csv:2"), "{e}");
    }
}
