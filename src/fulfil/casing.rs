//! Does a source's SQL compare the requester's address case-sensitively? `:email` is always
//! bound lower-cased ([`super::params::email_value`]); a customer stored as
//! `Eli.Marsh@Example.TEST` is found only when the column side is folded too
//! (`lower(email) = :email`), compared under a case-insensitive collation (`COLLATE NOCASE`,
//! `citext`) or with a case-insensitive operator (`ILIKE`; SQLite's `LIKE`). `check` warns about
//! every other comparison of `:email` with a column: the bot would say "nothing found" and an
//! erasure would leave every row in place.
//!
//! The reading is lexical and deliberately small: each `:email` (`@email`, `$email`) that is
//! one side of `=`, `==`, `<>`, `!=`, `IS`, `LIKE`, `ILIKE`, `GLOB`, `~`, `~*` or of an `IN (…)`
//! list is paired with the expression on the other side (a column, possibly qualified, possibly
//! wrapped in functions, a `::type` cast, `CAST(… AS type)` or `COLLATE name`). An `:email` used
//! any other way (a function's argument, a selected value) is not judged. A column whose own
//! type or collation is case-insensitive (a `citext` column, `COLLATE NOCASE` in the table's
//! definition) cannot be seen from the query: the warning says so.

use super::params::skip_quoted;

/// Which SQL the query is written in: SQLite's `LIKE` ignores ASCII case, PostgreSQL's does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An identifier or keyword, lower-cased (quoted identifiers keep their text).
    Word(String),
    /// `:email`, `@email`, `$email`.
    Email,
    /// Any other parameter, a literal or a number: a value, not a column.
    Value,
    /// An operator run (`=`, `<>`, `::`, `~*`).
    Op(String),
    Open,
    Close,
    Comma,
    Dot,
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn tokens(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let tok = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while depth > 0 && i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'\'' => {
                let escapes = i > 0 && (b[i - 1] == b'E' || b[i - 1] == b'e');
                i = skip_quoted(b, i, b'\'', escapes).unwrap_or(b.len());
                Tok::Value
            }
            b'"' | b'`' => {
                i = skip_quoted(b, i, c, false).unwrap_or(b.len());
                let inner_end = if i > start + 1 && b[i - 1] == c {
                    i - 1
                } else {
                    i
                };
                Tok::Word(sql[start + 1..inner_end].to_string())
            }
            b'[' => {
                // SQLite's [identifier]; PostgreSQL's array subscript reads as other tokens.
                match b[i..].iter().position(|&x| x == b']') {
                    Some(p) if b[i + 1..i + p].iter().all(|&x| x != b':') => {
                        i += p + 1;
                        Tok::Word(sql[start + 1..i - 1].to_string())
                    }
                    _ => {
                        i += 1;
                        Tok::Other
                    }
                }
            }
            b'$' => {
                let end = b[i + 1..]
                    .iter()
                    .position(|&x| !ident(x))
                    .map_or(b.len(), |p| i + 1 + p);
                if b.get(end) == Some(&b'$') {
                    // $tag$ … $tag$
                    let tag = &b[i..=end];
                    i = b[end + 1..]
                        .windows(tag.len())
                        .position(|w| w == tag)
                        .map_or(b.len(), |p| end + 1 + p + tag.len());
                    Tok::Value
                } else {
                    i = end.max(i + 1);
                    param(&sql[start + 1..i])
                }
            }
            b':' if b.get(i + 1) == Some(&b':') => {
                i += 2;
                Tok::Op("::".into())
            }
            b':' | b'@' | b'?' => {
                let end = b[i + 1..]
                    .iter()
                    .position(|&x| !ident(x))
                    .map_or(b.len(), |p| i + 1 + p);
                i = end.max(i + 1);
                param(&sql[start + 1..i])
            }
            b'(' => {
                i += 1;
                Tok::Open
            }
            b')' => {
                i += 1;
                Tok::Close
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                Tok::Dot
            }
            _ if c.is_ascii_digit() || c == b'.' => {
                i = b[i..]
                    .iter()
                    .position(|&x| !(x.is_ascii_alphanumeric() || x == b'.'))
                    .map_or(b.len(), |p| i + p);
                Tok::Value
            }
            _ if ident(c) => {
                i = b[i..]
                    .iter()
                    .position(|&x| !(ident(x) || x == b'$'))
                    .map_or(b.len(), |p| i + p);
                Tok::Word(sql[start..i].to_ascii_lowercase())
            }
            _ if b"=<>!~*|+-/%&^#".contains(&c) => {
                i = b[i..]
                    .iter()
                    .position(|&x| !b"=<>!~*|+-/%&^#".contains(&x))
                    .map_or(b.len(), |p| i + p);
                Tok::Op(sql[start..i].to_string())
            }
            _ => {
                i += sql[i..].chars().next().map_or(1, char::len_utf8);
                Tok::Other
            }
        };
        out.push(Token {
            tok,
            start,
            end: i.min(b.len()),
        });
    }
    out
}

fn param(name: &str) -> Tok {
    if name.eq_ignore_ascii_case("email") {
        Tok::Email
    } else {
        Tok::Value
    }
}

/// What is known about one side of a comparison.
#[derive(Debug, Default)]
struct Side {
    /// The first and last token.
    from: usize,
    to: usize,
    /// Functions wrapped around it, outermost first (`lower`, `trim`).
    calls: Vec<String>,
    /// `::type` / `CAST(… AS type)` and `COLLATE name`, lower-cased.
    types: Vec<String>,
    /// A column (or a function of one), not a literal or another parameter.
    column: bool,
}

impl Side {
    fn folds(&self, f: &str) -> bool {
        self.calls.iter().any(|c| c == f)
    }

    fn insensitive_type(&self) -> bool {
        self.types.iter().any(|t| {
            let t = t.trim_matches('"');
            t == "citext"
                || t.contains("nocase")
                || t.ends_with("_ci")
                || t.contains("-ci")
                || t.contains("insensitive")
        })
    }
}

fn word(t: &[Token], i: usize) -> Option<&str> {
    match t.get(i).map(|x| &x.tok) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

fn is(t: &[Token], i: usize, want: &Tok) -> bool {
    t.get(i).is_some_and(|x| &x.tok == want)
}

/// Index of the `)` matching the `(` at `open`.
fn close_of(t: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, x) in t.iter().enumerate().skip(open) {
        match x.tok {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// Index of the `(` matching the `)` at `close`.
fn open_of(t: &[Token], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    for j in (0..=close).rev() {
        match t[j].tok {
            Tok::Close => depth += 1,
            Tok::Open => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// Grows `side` outwards over `f(…)`, `CAST(… AS type)`, `::type` and `COLLATE name`.
fn widen(t: &[Token], side: &mut Side) {
    loop {
        let (from, to) = (side.from, side.to);
        if is(t, to + 1, &Tok::Op("::".into())) {
            if let Some(ty) = word(t, to + 2) {
                side.types.push(ty.to_string());
                side.to += 2;
                continue;
            }
        }
        if word(t, to + 1) == Some("collate") {
            if let Some(c) = word(t, to + 2) {
                side.types.push(c.to_string());
                side.to += 2;
                continue;
            }
        }
        if from >= 2 && is(t, from - 1, &Tok::Open) {
            if let Some(f) = word(t, from - 2) {
                if f == "cast" && word(t, to + 1) == Some("as") && is(t, to + 3, &Tok::Close) {
                    if let Some(ty) = word(t, to + 2) {
                        side.types.push(ty.to_string());
                        side.from -= 2;
                        side.to += 3;
                        continue;
                    }
                }
                if is(t, to + 1, &Tok::Close) && !KEYWORDS.contains(&f) {
                    side.calls.push(f.to_string());
                    side.from -= 2;
                    side.to += 1;
                    continue;
                }
            }
        }
        return;
    }
}

/// Words that may stand before `(` without being a function.
const KEYWORDS: &[&str] = &[
    "in", "where", "and", "or", "not", "on", "exists", "select", "values", "any", "all", "some",
];

/// Reads the innermost expression of `f(g(x))` between `open` and `close` (exclusive).
fn inner(t: &[Token], side: &mut Side, mut open: usize, mut close: usize) {
    loop {
        // f( g( … ) ): the argument is itself one call.
        if let (Some(g), true) = (word(t, open + 1), is(t, open + 2, &Tok::Open)) {
            if close_of(t, open + 2) == Some(close - 1) && !KEYWORDS.contains(&g) {
                side.calls.push(g.to_string());
                open += 2;
                close -= 1;
                continue;
            }
        }
        break;
    }
    let body = &t[open + 1..close];
    // CAST(x AS type), x COLLATE c, x::type inside the innermost call.
    for (k, x) in body.iter().enumerate() {
        let next = body.get(k + 1).map(|y| &y.tok);
        match (&x.tok, next) {
            (Tok::Word(w), Some(Tok::Word(ty))) if w == "as" || w == "collate" => {
                side.types.push(ty.clone())
            }
            (Tok::Op(o), Some(Tok::Word(ty))) if o == "::" => side.types.push(ty.clone()),
            _ => {}
        }
    }
    side.column = body.iter().any(|x| matches!(&x.tok, Tok::Word(w) if !KEYWORDS.contains(&w.as_str()) && w != "as" && w != "collate"))
        && !body.iter().any(|x| x.tok == Tok::Email);
}

/// The operand that starts at `i` (after an operator).
fn operand_after(t: &[Token], i: usize) -> Option<Side> {
    let mut side = Side {
        from: i,
        to: i,
        ..Side::default()
    };
    match &t.get(i)?.tok {
        Tok::Word(f) if is(t, i + 1, &Tok::Open) && !KEYWORDS.contains(&f.as_str()) => {
            let close = close_of(t, i + 1)?;
            side.calls.push(f.clone());
            inner(t, &mut side, i + 1, close);
            side.to = close;
        }
        Tok::Word(w) if !KEYWORDS.contains(&w.as_str()) => {
            while is(t, side.to + 1, &Tok::Dot) && word(t, side.to + 2).is_some() {
                side.to += 2;
            }
            side.column = true;
        }
        _ => return None,
    }
    // Postfix casts and collations.
    loop {
        if is(t, side.to + 1, &Tok::Op("::".into())) || word(t, side.to + 1) == Some("collate") {
            if let Some(ty) = word(t, side.to + 2) {
                side.types.push(ty.to_string());
                side.to += 2;
                continue;
            }
        }
        break;
    }
    Some(side)
}

/// The operand that ends at `j` (before an operator).
fn operand_before(t: &[Token], mut j: usize) -> Option<Side> {
    let mut types = Vec::new();
    let to = j;
    // Postfix casts and collations, read backwards.
    while j >= 2 {
        match (word(t, j), &t[j - 1].tok) {
            (Some(ty), Tok::Op(o)) if o == "::" => types.push(ty.to_string()),
            (Some(ty), Tok::Word(c)) if c == "collate" => types.push(ty.to_string()),
            _ => break,
        }
        j -= 2;
    }
    let mut side = Side {
        from: j,
        to,
        types,
        ..Side::default()
    };
    match &t.get(j)?.tok {
        Tok::Close => {
            let open = open_of(t, j)?;
            match word(t, open.checked_sub(1)?) {
                Some(f) if !KEYWORDS.contains(&f) => {
                    side.calls.push(f.to_string());
                    side.from = open - 1;
                    inner(t, &mut side, open, j);
                }
                _ => return None, // a parenthesised expression or subquery: not judged
            }
        }
        Tok::Word(w) if !KEYWORDS.contains(&w.as_str()) => {
            while side.from >= 2
                && is(t, side.from - 1, &Tok::Dot)
                && word(t, side.from - 2).is_some()
            {
                side.from -= 2;
            }
            side.column = true;
        }
        _ => return None,
    }
    Some(side)
}

/// The comparison operator at `i`, lower-cased, with its width in tokens (`NOT LIKE` is 2).
fn operator_at(t: &[Token], i: usize) -> Option<(String, usize)> {
    match &t.get(i)?.tok {
        Tok::Op(o) if ["=", "==", "<>", "!=", "~", "~*", "!~", "!~*"].contains(&o.as_str()) => {
            Some((o.clone(), 1))
        }
        Tok::Word(w) if ["like", "ilike", "glob", "is"].contains(&w.as_str()) => {
            if w == "is" && word(t, i + 1) == Some("not") {
                Some(("is".into(), 2))
            } else {
                Some((w.clone(), 1))
            }
        }
        Tok::Word(w) if w == "not" => match word(t, i + 1) {
            Some(x @ ("like" | "ilike" | "glob")) => Some((x.to_string(), 2)),
            _ => None,
        },
        _ => None,
    }
}

/// The operator ending at `j` (reading backwards), with its first token.
fn operator_ending_at(t: &[Token], j: usize) -> Option<(String, usize)> {
    if j >= 1 {
        if let Some((op, 2)) = operator_at(t, j - 1) {
            return Some((op, j - 1));
        }
    }
    match operator_at(t, j) {
        Some((op, 1)) => Some((op, j)),
        _ => None,
    }
}

/// Every comparison of `:email` with a column that ignores case nowhere, as written in the
/// query (`email = :email`).
pub fn case_sensitive_comparisons(sql: &str, dialect: Dialect) -> Vec<String> {
    let t = tokens(sql);
    let mut found = Vec::new();
    for p in 0..t.len() {
        if t[p].tok != Tok::Email {
            continue;
        }
        let mut me = Side {
            from: p,
            to: p,
            ..Side::default()
        };
        widen(&t, &mut me);
        // :email OP column
        let mut pair = operator_at(&t, me.to + 1)
            .and_then(|(op, w)| operand_after(&t, me.to + 1 + w).map(|other| (op, other)));
        // column OP :email
        if pair.is_none() && me.from >= 1 {
            pair = operator_ending_at(&t, me.from - 1).and_then(|(op, first)| {
                first
                    .checked_sub(1)
                    .and_then(|j| operand_before(&t, j))
                    .map(|other| (op, other))
            });
        }
        // column IN (…, :email, …)
        if pair.is_none() {
            pair = in_list(&t, me.from, me.to).map(|other| ("in".to_string(), other));
        }
        let Some((op, other)) = pair else { continue };
        // `SET contact = :email` assigns; it does not compare.
        let assigns = other.from >= 1 && word(&t, other.from - 1) == Some("set");
        if assigns || !other.column || insensitive(&op, &me, &other, dialect) {
            continue;
        }
        let (from, to) = (me.from.min(other.from), me.to.max(other.to));
        found.push(sql[t[from].start..t[to].end].to_string());
    }
    found
}

/// `column IN (a, :email, b)`: the column.
fn in_list(t: &[Token], from: usize, to: usize) -> Option<Side> {
    let before = from.checked_sub(1)?;
    if !matches!(t[before].tok, Tok::Open | Tok::Comma) {
        return None;
    }
    if !matches!(t.get(to + 1)?.tok, Tok::Close | Tok::Comma) {
        return None;
    }
    // Back to the list's `(`.
    let mut depth = 0usize;
    let mut k = before;
    loop {
        match t[k].tok {
            Tok::Close => depth += 1,
            Tok::Open if depth == 0 => break,
            Tok::Open => depth -= 1,
            _ => {}
        }
        k = k.checked_sub(1)?;
    }
    if word(t, k.checked_sub(1)?) != Some("in") {
        return None;
    }
    let mut end = k.checked_sub(2)?;
    if word(t, end) == Some("not") {
        end = end.checked_sub(1)?;
    }
    operand_before(t, end)
}

fn insensitive(op: &str, me: &Side, other: &Side, dialect: Dialect) -> bool {
    if op == "ilike" || op.ends_with("~*") {
        return true;
    }
    if op == "like" && dialect == Dialect::Sqlite {
        return true;
    }
    if me.insensitive_type() || other.insensitive_type() {
        return true;
    }
    // :email is lower case: the column must be lowered (or both sides raised).
    (other.folds("lower") && !me.folds("upper")) || (other.folds("upper") && me.folds("upper"))
}

/// The WARN text for one query key of a source, or `None` when it compares addresses safely.
pub fn warning(source: &str, key: &str, sql: &str, dialect: Dialect) -> Option<String> {
    let found = case_sensitive_comparisons(sql, dialect);
    let first = found.first()?;
    let first: String = first.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(format!(
        "source {source}: {key} compares the address case-sensitively (`{first}`): a customer \
         stored as Eli.Marsh@Example.TEST is not found as eli.marsh@example.test, so the bot \
         would report nothing found and an erasure would leave the rows; :email is always \
         lower case, so compare `lower(COLUMN) = :email` (works on SQLite and PostgreSQL; index \
         lower(COLUMN) on large tables), or ignore this if the column itself is citext or \
         COLLATE NOCASE"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::*;

    #[test]
    fn case_sensitive_comparisons_are_found_and_folded_ones_are_not() {
        // (query, dialect, the comparison reported, or "" for none)
        let cases: &[(&str, Dialect, &str)] = &[
            // The README's old example, and its spellings.
            ("SELECT count(*) FROM customers WHERE email = :email", Sqlite, "email = :email"),
            ("SELECT count(*) FROM customers WHERE email = :email", Postgres, "email = :email"),
            ("SELECT * FROM t WHERE c.email=:email", Sqlite, "c.email=:email"),
            ("SELECT * FROM t WHERE \"Email\" = :email", Postgres, "\"Email\" = :email"),
            ("SELECT * FROM t WHERE :email = email", Sqlite, ":email = email"),
            ("SELECT * FROM t WHERE email == @email", Sqlite, "email == @email"),
            ("SELECT * FROM t WHERE email = $email", Sqlite, "email = $email"),
            ("DELETE FROM t WHERE email IS :email", Sqlite, "email IS :email"),
            ("DELETE FROM t WHERE email IN (:email, 'x')", Sqlite, "email IN (:email"),
            ("DELETE FROM t WHERE email NOT IN (:email)", Postgres, "email NOT IN (:email"),
            ("SELECT * FROM t WHERE email LIKE :email", Postgres, "email LIKE :email"),
            ("SELECT * FROM t WHERE email GLOB :email", Sqlite, "email GLOB :email"),
            // Folding only the parameter does nothing: it is lower case already.
            ("SELECT * FROM t WHERE email = lower(:email)", Sqlite, "email = lower(:email)"),
            // Upper-casing the column alone can never match a lower-case parameter.
            ("SELECT * FROM t WHERE upper(email) = :email", Postgres, "upper(email) = :email"),
            ("SELECT * FROM t WHERE trim(email) = :email", Postgres, "trim(email) = :email"),
            ("SELECT * FROM t WHERE json_extract(d, '$.email') = :email", Sqlite, "json_extract(d, '$.email') = :email"),
            ("SELECT * FROM t WHERE email::text = :email", Postgres, "email::text = :email"),
            (
                "SELECT id FROM o WHERE cid IN (SELECT id FROM c WHERE c.mail = :email) OR lower(alt) = :email",
                Postgres,
                "c.mail = :email",
            ),
            // Case-insensitive comparisons.
            ("SELECT count(*) FROM customers WHERE lower(email) = :email", Sqlite, ""),
            ("SELECT count(*) FROM customers WHERE lower(email) = :email", Postgres, ""),
            ("SELECT * FROM t WHERE LOWER(c.email) = LOWER(:email)", Postgres, ""),
            ("SELECT * FROM t WHERE lower(trim(email)) = :email", Sqlite, ""),
            ("SELECT * FROM t WHERE :email = lower(email)", Sqlite, ""),
            ("SELECT * FROM t WHERE upper(email) = upper(:email)", Postgres, ""),
            ("SELECT * FROM t WHERE email = :email COLLATE NOCASE", Sqlite, ""),
            ("SELECT * FROM t WHERE email COLLATE NOCASE = :email", Sqlite, ""),
            ("SELECT * FROM t WHERE email ILIKE :email", Postgres, ""),
            ("SELECT * FROM t WHERE email NOT ILIKE :email", Postgres, ""),
            ("SELECT * FROM t WHERE email LIKE :email", Sqlite, ""),
            ("SELECT * FROM t WHERE email::citext = :email", Postgres, ""),
            ("SELECT * FROM t WHERE email = :email::citext", Postgres, ""),
            ("SELECT * FROM t WHERE email = CAST(:email AS citext)", Postgres, ""),
            ("SELECT * FROM t WHERE email = :email COLLATE \"und-ci\"", Postgres, ""),
            ("SELECT * FROM t WHERE email ~* :email", Postgres, ""),
            ("DELETE FROM t WHERE lower(email) IN (:email)", Sqlite, ""),
            // :email not compared with a column: not judged.
            ("SELECT :email AS who, count(*) FROM t", Sqlite, ""),
            ("SELECT count(*) FROM t WHERE instr(email, :email) > 0", Sqlite, ""),
            ("SELECT count(*) FROM t WHERE account = :account", Sqlite, ""),
            ("SELECT count(*) FROM t WHERE 'x' = :email", Sqlite, ""),
            ("SELECT count(*) FROM t WHERE :account = :email", Sqlite, ""),
            // Text that only looks like a comparison.
            ("SELECT 'email = :email' FROM t WHERE lower(email) = :email", Sqlite, ""),
            ("SELECT 1 -- email = :email\nFROM t WHERE lower(email) = :email", Postgres, ""),
            ("SELECT /* email = :email */ 1 FROM t WHERE lower(email) = :email", Postgres, ""),
            ("SELECT $$ email = :email $$ FROM t WHERE lower(email) = :email", Postgres, ""),
            ("SELECT * FROM t WHERE email = :emails", Sqlite, ""),
            ("UPDATE t SET contact = :email WHERE lower(email) = :email", Sqlite, ""),
        ];
        for (sql, dialect, want) in cases {
            let got = case_sensitive_comparisons(sql, *dialect);
            let got = got.first().map(String::as_str).unwrap_or("");
            assert_eq!(got, *want, "{sql} ({dialect:?})");
        }
    }

    #[test]
    fn every_comparison_in_one_query_is_judged() {
        let sql =
            "UPDATE t SET x = 1 WHERE lower(email) = :email OR alt = :email OR backup = :email";
        assert_eq!(
            case_sensitive_comparisons(sql, Dialect::Sqlite),
            ["alt = :email", "backup = :email"]
        );
    }

    #[test]
    fn the_warning_names_source_key_comparison_and_fix() {
        let w = warning(
            "crm",
            "lookup.customers",
            "SELECT count(*) FROM customers WHERE email\n   = :email",
            Dialect::Sqlite,
        )
        .expect("warned");
        assert!(w.starts_with("source crm: lookup.customers"), "{w}");
        assert!(w.contains("`email = :email`"), "{w}");
        assert!(w.contains("lower(COLUMN) = :email"), "{w}");
        assert_eq!(
            warning(
                "crm",
                "lookup",
                "SELECT count(*) FROM c WHERE lower(email) = :email",
                Dialect::Postgres
            ),
            None
        );
    }

    #[test]
    fn unterminated_and_odd_text_never_panics() {
        for sql in [
            "",
            ":email",
            "= :email",
            ":email =",
            "((((:email",
            "WHERE email = (:email",
            "'",
            "\"",
            "$a$",
            "/* :email",
            "x::",
            "email COLLATE",
            "IN (:email",
            ") = :email",
            "[a:b] = :email",
            "é = :email",
            "CAST(:email AS",
            "f(g(:email)) = lower(",
        ] {
            let _ = case_sensitive_comparisons(sql, Dialect::Postgres);
            let _ = case_sensitive_comparisons(sql, Dialect::Sqlite);
        }
    }
}
