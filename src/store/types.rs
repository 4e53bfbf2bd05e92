//! How the store reads and writes the project's typed values: a column holds the wire name
//! (`awaiting_verification`, `gdpr`, `consumer`), and a value the code does not know is an
//! error naming the column, never a silent default (a corrupt row must not get the CCPA clock).

use crate::request::deadlines::Jurisdiction;
use crate::request::lifecycle::Status;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Who a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// The person who made the request (their detected language, English fallback).
    Consumer,
    /// The addresses in `staff.escalation-to` (English).
    Staff,
}

impl Audience {
    /// `consumer` or `staff`.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Consumer => "consumer",
            Audience::Staff => "staff",
        }
    }
}

impl std::fmt::Display for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Audience {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "consumer" => Ok(Audience::Consumer),
            "staff" => Ok(Audience::Staff),
            _ => Err(format!(
                "unknown audience `{s}` (expected consumer or staff)"
            )),
        }
    }
}

/// How a received mail was filed: the inbox record's `disposition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Filed {
    /// A new request, acknowledged.
    Request,
    /// A new request, sent to staff first.
    Escalated,
    /// On a request's thread.
    Reply,
    /// Asks again for what an open request of the sender's covers.
    FollowUp,
    /// From staff, outside any request's thread.
    Staff,
    /// Machine-made or not a privacy request; never answered.
    #[default]
    Ignored,
    /// A delivery report about one of our mails.
    Bounce,
    /// Recorded before.
    Duplicate,
    /// Our own Bcc copy coming back.
    OwnCopy,
    /// Our kind of mail another store sent.
    ForeignCopy,
    /// Set aside for a person.
    Quarantined,
}

impl Filed {
    /// Every value, as the CHECK constraint lists them.
    pub const ALL: [Filed; 11] = [
        Filed::Request,
        Filed::Escalated,
        Filed::Reply,
        Filed::FollowUp,
        Filed::Staff,
        Filed::Ignored,
        Filed::Bounce,
        Filed::Duplicate,
        Filed::OwnCopy,
        Filed::ForeignCopy,
        Filed::Quarantined,
    ];

    /// The stored name (`own_copy`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Filed::Request => "request",
            Filed::Escalated => "escalated",
            Filed::Reply => "reply",
            Filed::FollowUp => "follow_up",
            Filed::Staff => "staff",
            Filed::Ignored => "ignored",
            Filed::Bounce => "bounce",
            Filed::Duplicate => "duplicate",
            Filed::OwnCopy => "own_copy",
            Filed::ForeignCopy => "foreign_copy",
            Filed::Quarantined => "quarantined",
        }
    }
}

impl std::fmt::Display for Filed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Filed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filed::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown disposition `{s}`"))
    }
}

impl FromSql for Filed {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        parse(v)
    }
}

impl ToSql for Filed {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

fn parse<T: std::str::FromStr<Err = String>>(v: ValueRef<'_>) -> FromSqlResult<T> {
    let s = v.as_str()?;
    s.parse::<T>()
        .map_err(|e| FromSqlError::Other(Box::new(std::io::Error::other(e))))
}

impl FromSql for Status {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        parse(v)
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Jurisdiction {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        // Stored values are exact: `CCPA` or ` gdpr` in a row is corruption, not a spelling.
        match v.as_str()? {
            s @ ("ccpa" | "gdpr") => parse(ValueRef::Text(s.as_bytes())),
            other => Err(FromSqlError::Other(Box::new(std::io::Error::other(
                format!("unknown jurisdiction `{other}` (expected ccpa or gdpr)"),
            )))),
        }
    }
}

impl ToSql for Jurisdiction {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Audience {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        parse(v)
    }
}

impl ToSql for Audience {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn typed_columns_round_trip_and_unknown_values_are_errors() -> anyhow::Result<()> {
        let c = Connection::open_in_memory()?;
        let s: Status = c.query_row("SELECT ?1", [Status::AwaitingVerification], |r| r.get(0))?;
        assert_eq!(s, Status::AwaitingVerification);
        let j: Jurisdiction = c.query_row("SELECT ?1", [Jurisdiction::Gdpr], |r| r.get(0))?;
        assert_eq!(j, Jurisdiction::Gdpr);
        let a: Audience = c.query_row("SELECT ?1", [Audience::Staff], |r| r.get(0))?;
        assert_eq!(a, Audience::Staff);
        assert!(c
            .query_row("SELECT 'waiting'", [], |r| r.get::<_, Status>(0))
            .is_err());
        assert!(c
            .query_row("SELECT 'CCPA'", [], |r| r.get::<_, Jurisdiction>(0))
            .is_err());
        assert!(c
            .query_row("SELECT 'public'", [], |r| r.get::<_, Audience>(0))
            .is_err());
        Ok(())
    }
}
