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

/// `text` with every email address in it masked as by [`mask`]: for error messages (an SMTP
/// server's reply quotes the recipient) that go to logs at info level or above.
pub fn redact(text: &str) -> String {
    let is_addr_char =
        |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '=');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let (before, after) = rest.split_at(at);
        let local_len = before
            .chars()
            .rev()
            .take_while(|c| is_addr_char(*c))
            .map(char::len_utf8)
            .sum::<usize>();
        let domain_len = after[1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '-'))
            .map(char::len_utf8)
            .sum::<usize>();
        let (keep, local) = before.split_at(before.len() - local_len);
        out.push_str(keep);
        let domain = after[1..1 + domain_len].trim_end_matches('.');
        if local.is_empty() || domain.is_empty() {
            out.push_str(local);
            out.push('@');
            rest = &after[1..];
            continue;
        }
        out.push_str(&mask(&format!("{local}@{domain}")));
        rest = &after[1 + domain.len()..];
    }
    out.push_str(rest);
    out
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

    #[test]
    fn redacted_texts() {
        let cases = [
            (
                "permanent: 554 5.7.1 <jane.doe+x@other.test>: Relay access denied",
                "permanent: 554 5.7.1 <ja***@other.test>: Relay access denied",
            ),
            ("to a@b.c and bob@x.y.", "to a***@b.c and bo***@x.y."),
            ("no address here", "no address here"),
            ("a lone @ sign and x@ and @y", "a lone @ sign and x@ and @y"),
            ("ünï@ex.test", "ün***@ex.test"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }
}
