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

/// A date as a letter writes it, in the language of the letter (English for languages it does
/// not know): "March 3, 2026", "3 de marzo de 2026", "3. März 2026", "3 mars 2026".
pub fn long_date(t: DateTime<Utc>, tz: chrono_tz::Tz, lang: &str) -> String {
    use chrono::Datelike;
    let d = t.with_timezone(&tz);
    let (day, month, year) = (d.day(), d.month0() as usize, d.year());
    const ES: [&str; 12] = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    const DE: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    const FR: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    match lang {
        "es" => format!("{day} de {} de {year}", ES[month]),
        "de" => format!("{day}. {} {year}", DE[month]),
        "fr" if day == 1 => format!("1er {} {year}", FR[month]),
        "fr" => format!("{day} {} {year}", FR[month]),
        _ => d.format("%B %-d, %Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_dates_per_language_in_the_business_time_zone() -> Result<()> {
        // 2026-03-04 05:00 UTC is still March 3 in Los Angeles.
        let t = parse("2026-03-04T05:00:00Z")?;
        let la = chrono_tz::America::Los_Angeles;
        assert_eq!(long_date(t, la, "en"), "March 3, 2026");
        assert_eq!(long_date(t, la, "es"), "3 de marzo de 2026");
        assert_eq!(long_date(t, la, "de"), "3. März 2026");
        assert_eq!(long_date(t, la, "fr"), "3 mars 2026");
        assert_eq!(long_date(t, la, "xx"), "March 3, 2026");
        assert_eq!(
            long_date(parse("2026-05-01T12:00:00Z")?, la, "fr"),
            "1er mai 2026"
        );
        Ok(())
    }
}
