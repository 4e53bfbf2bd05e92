//! The two parameters a source's SQL may use, `:email` and `:account`, and their translation to
//! PostgreSQL's `$n`. The values are always BOUND, never pasted into the SQL.
//!
//! The translation is a small tokenizer that knows what PostgreSQL does not read as code:
//! string literals (`'it''s'`, `E'\''`), quoted identifiers (`"a:b"`), comments (`-- :x`,
//! nested `/* /* :x */ */`), dollar-quoted bodies (`$f$ :x $f$`) and `::` casts. Anything
//! else that looks like `:name` must be `:email` or `:account`; positional `$1` is refused.

/// A parameter the SQL may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `:email`: the verified requester's address.
    Email,
    /// `:account`: the account number, when known (NULL otherwise).
    Account,
}

impl Param {
    /// The parameter's name as written in SQL, without the colon.
    pub fn name(self) -> &'static str {
        match self {
            Param::Email => "email",
            Param::Account => "account",
        }
    }

    /// `email` / `account` → the parameter.
    pub fn from_name(name: &str) -> Option<Param> {
        match name {
            "email" => Some(Param::Email),
            "account" => Some(Param::Account),
            _ => None,
        }
    }
}

/// The value bound to `:email` (and passed to command sources): the address in ASCII lower case,
/// whatever case the consumer typed. Compare it with `lower(column)`: SQLite's `lower()` folds
/// ASCII only, so ASCII folding on this side is what matches on SQLite and PostgreSQL alike.
pub fn email_value(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

/// What to tell the operator about a query the tokenizer refuses.
pub const ONLY_PARAMS: &str = "only :email and :account may be used";

/// `:email`/`:account` → `$1`, `$2` (numbered by first use); returns the SQL and the
/// parameters in `$n` order.
pub fn to_postgres(sql: &str) -> Result<(String, Vec<Param>), String> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut params: Vec<Param> = Vec::new();
    let mut i = 0;
    // Start of the text not yet copied to `out`.
    let mut copied = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' => {
                let escapes = i > 0
                    && (b[i - 1] == b'E' || b[i - 1] == b'e')
                    && (i < 2 || !ident(b[i - 2]) && b[i - 2] != b'$');
                i = skip_quoted(b, i, b'\'', escapes).ok_or("unterminated string literal")?;
            }
            b'"' => i = skip_quoted(b, i, b'"', false).ok_or("unterminated quoted identifier")?,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    match (b.get(i), b.get(i + 1)) {
                        (None, _) => return Err("unterminated /* comment".into()),
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'$' if i > 0 && (ident(b[i - 1]) || b[i - 1] == b'$') => i += 1,
            b'$' => {
                if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return Err(format!(
                        "positional parameters ($1) are not allowed; {ONLY_PARAMS}"
                    ));
                }
                // $tag$ ... $tag$ with an empty or identifier tag.
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|&x| !(x.is_ascii_alphanumeric() || x == b'_' || x >= 0x80))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(e) if b[e] == b'$' && !b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                        let tag = &b[i..=e];
                        let body = e + 1;
                        let close = b[body..]
                            .windows(tag.len())
                            .position(|w| w == tag)
                            .ok_or("unterminated dollar-quoted string")?;
                        i = body + close + tag.len();
                    }
                    _ => i += 1,
                }
            }
            b':' if b.get(i + 1) == Some(&b':') => i += 2,
            b':' if b
                .get(i + 1)
                .is_some_and(|&x| x.is_ascii_alphabetic() || x == b'_') =>
            {
                let start = i + 1;
                let end = b[start..]
                    .iter()
                    .position(|&x| !(x.is_ascii_alphanumeric() || x == b'_'))
                    .map_or(b.len(), |p| start + p);
                let name = &sql[start..end];
                let p = Param::from_name(name)
                    .ok_or_else(|| format!("unknown parameter :{name}; {ONLY_PARAMS}"))?;
                let n = match params.iter().position(|&q| q == p) {
                    Some(n) => n + 1,
                    None => {
                        params.push(p);
                        params.len()
                    }
                };
                out.push_str(&sql[copied..i]);
                out.push('$');
                out.push_str(&n.to_string());
                copied = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Ok((out, params))
}

/// Index just past the closing quote of the quoted run starting at `start`; `None` when it
/// is never closed. Shared with `casing`, which reads the same SQL.
pub(super) fn skip_quoted(b: &[u8], start: usize, q: u8, backslash: bool) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Removes trailing whitespace and semicolons, so a query can be wrapped as a subquery.
pub fn trim_statement(sql: &str) -> &str {
    sql.trim_end_matches(|c: char| c.is_whitespace() || c == ';')
}

#[cfg(test)]
mod tests {
    use super::*;
    use Param::*;

    #[test]
    fn named_parameters_become_numbered_by_first_use() {
        let (sql, p) = to_postgres(
            "SELECT * FROM t WHERE account = :account OR email = :email OR alt = :email",
        )
        .expect("ok");
        assert_eq!(
            sql,
            "SELECT * FROM t WHERE account = $1 OR email = $2 OR alt = $2"
        );
        assert_eq!(p, [Account, Email]);
    }

    #[test]
    fn hostile_sql_keeps_its_literals_comments_and_casts() {
        let cases: &[(&str, &str, &[Param])] = &[
            (
                "SELECT ':email' WHERE e = :email",
                "SELECT ':email' WHERE e = $1",
                &[Email],
            ),
            (
                "SELECT 'it''s :email' , :email",
                "SELECT 'it''s :email' , $1",
                &[Email],
            ),
            (
                "SELECT E'\\' :account' , :email",
                "SELECT E'\\' :account' , $1",
                &[Email],
            ),
            (
                "SELECT \"a:email\" FROM t",
                "SELECT \"a:email\" FROM t",
                &[],
            ),
            (
                "SELECT \"x\"\":email\" FROM t",
                "SELECT \"x\"\":email\" FROM t",
                &[],
            ),
            (
                "SELECT 1 -- :nope\n, :email",
                "SELECT 1 -- :nope\n, $1",
                &[Email],
            ),
            (
                "SELECT /* :a /* :b */ :c */ :email",
                "SELECT /* :a /* :b */ :c */ $1",
                &[Email],
            ),
            (
                "SELECT $$ :nope $$, :email",
                "SELECT $$ :nope $$, $1",
                &[Email],
            ),
            (
                "SELECT $fn$ ' :x $fn$ :email",
                "SELECT $fn$ ' :x $fn$ $1",
                &[Email],
            ),
            (
                "SELECT :email::text, x::int",
                "SELECT $1::text, x::int",
                &[Email],
            ),
            ("SELECT arr[1:2] FROM t", "SELECT arr[1:2] FROM t", &[]),
            (
                "SELECT a$b FROM t WHERE e = :email",
                "SELECT a$b FROM t WHERE e = $1",
                &[Email],
            ),
            (
                "SELECT 'é:email' , :account",
                "SELECT 'é:email' , $1",
                &[Account],
            ),
            (
                "SELECT count(*) FROM t WHERE e=:email;",
                "SELECT count(*) FROM t WHERE e=$1;",
                &[Email],
            ),
            (
                "SELECT d ? 'k' FROM t WHERE e = :email",
                "SELECT d ? 'k' FROM t WHERE e = $1",
                &[Email],
            ),
        ];
        for (input, want, params) in cases {
            let (sql, p) = to_postgres(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((&sql.as_str(), p.as_slice()), (want, *params), "{input}");
        }
    }

    #[test]
    fn unknown_positional_and_unterminated_are_refused() {
        for (input, want) in [
            ("SELECT :emails", "unknown parameter :emails"),
            ("SELECT :password", "unknown parameter :password"),
            ("SELECT $1", "positional parameters ($1)"),
            ("SELECT 'open", "unterminated string literal"),
            ("SELECT \"open", "unterminated quoted identifier"),
            ("SELECT /* /* */", "unterminated /* comment"),
            ("SELECT $x$ body", "unterminated dollar-quoted string"),
        ] {
            let err = to_postgres(input).expect_err(input);
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn the_email_is_bound_in_lower_case() {
        assert_eq!(
            email_value(" Eli.Marsh@Example.TEST "),
            "eli.marsh@example.test"
        );
        assert_eq!(email_value("jo+shop@x.test"), "jo+shop@x.test");
        // Non-ASCII letters stay as they are, as SQLite's lower() leaves them.
        assert_eq!(email_value("ÉLODIE@X.TEST"), "Élodie@x.test");
    }

    #[test]
    fn trailing_semicolons_are_trimmed_for_wrapping() {
        assert_eq!(trim_statement("SELECT 1 ;\n ;"), "SELECT 1");
    }
}
