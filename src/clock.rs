//! The current time, injectable.
//!
//! Every command honours the environment variable `PRIVACY_INBOX_NOW` (RFC 3339, e.g.
//! `2026-12-28T09:00:00Z`) as the current time when it is set: a testing and drill aid, so
//! that deadline behaviour can be rehearsed without waiting. Tests may also build a fixed
//! [`Clock`] directly.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

/// Name of the environment variable that fixes the current time.
pub const NOW_ENV: &str = "PRIVACY_INBOX_NOW";

/// A source of "now".
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed instant (from `PRIVACY_INBOX_NOW` or a test).
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The clock for this process: fixed when `PRIVACY_INBOX_NOW` is set, else the system clock.
    /// An unparsable value is an error, never silently ignored.
    pub fn from_env() -> Result<Clock> {
        match std::env::var(NOW_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                let t = DateTime::parse_from_rfc3339(v.trim()).with_context(|| {
                    format!("{NOW_ENV}={v:?} is not an RFC 3339 time such as 2026-12-28T09:00:00Z")
                })?;
                Ok(Clock::Fixed(t.with_timezone(&Utc)))
            }
            _ => Ok(Clock::System),
        }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// Formats a time the one way the store keeps times: UTC RFC 3339 with seconds.
pub fn fmt(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses a stored time.
pub fn parse(s: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("Bad stored time {s:?}"))?
        .with_timezone(&Utc))
}
