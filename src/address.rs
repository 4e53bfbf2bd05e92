//! Small helpers for email addresses: the bare address of a header value, plus-addresses,
//! and a masked form for logs (no full consumer addresses at info level).

/// The bare, lower-cased `local@domain` of `Name <local@domain>` or `local@domain`.
/// Returns `None` when there is no plausible address (no `@`, spaces, control characters).
pub fn bare_address(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = match (v.rfind('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    let inner = inner.trim();
    let (local, domain) = inner.rsplit_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.') && domain != "localhost"
        || inner.len() > 254
        || local.len() > 64
        || inner.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        })
    {
        return None;
    }
    Some(inner.to_ascii_lowercase())
}

/// `local+tag@domain` for `local@domain`.
pub fn plus_address(address: &str, tag: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let local = local.split('+').next().unwrap_or(local);
    Some(format!("{local}+{tag}@{domain}"))
}

/// The address without any `+tag` in the local part, for comparing identities.
pub fn base_address(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}").to_ascii_lowercase()
        }
        None => address.to_ascii_lowercase(),
    }
}

/// A form safe for info-level logs: `co***@example.test`.
pub fn mask(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let keep: String = local.chars().take(2).collect();
            format!("{keep}***@{domain}")
        }
        None => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_addresses() {
        let cases = [
            (
                "Acme Privacy Team <privacy@example.test>",
                Some("privacy@example.test"),
            ),
            ("Consumer@Example.TEST", Some("consumer@example.test")),
            (
                "\"Doe, Jane\" <jane.doe+x@mail.example.com>",
                Some("jane.doe+x@mail.example.com"),
            ),
            ("nobody", None),
            ("a b@example.test", None),
            ("<>", None),
            ("x@y", None),
        ];
        for (input, want) in cases {
            assert_eq!(bare_address(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn plus_and_base() {
        assert_eq!(
            plus_address("privacy@example.test", "sent").as_deref(),
            Some("privacy+sent@example.test")
        );
        assert_eq!(
            plus_address("privacy+x@example.test", "sent").as_deref(),
            Some("privacy+sent@example.test")
        );
        assert_eq!(
            base_address("Privacy+V-abc@Example.test"),
            "privacy@example.test"
        );
        assert_eq!(mask("consumer@example.test"), "co***@example.test");
    }
}
