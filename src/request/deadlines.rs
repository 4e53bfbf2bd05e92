//! The legal clocks: when a request must be confirmed, answered, and how far it may be
//! extended, per jurisdiction and kind; plus the "due soon / overdue" arithmetic the sweeper
//! uses.
//!
//! # Semantics
//! - **Clocks run from receipt**, never from verification: the deadlines of a request are fixed
//!   the moment its mail is recorded, and verifying identity does not restart them.
//! - Counting follows [`calendar`](super::calendar): the day of receipt does not count, every
//!   due instant is 23:59:59 in the business time zone, and due dates are not rolled off
//!   weekends or holidays (the earlier, safe reading).
//! - **Extensions** are counted from the end of the first period: CCPA 45 + 45 = 90 days from
//!   receipt; GDPR one month, then two further months from that due date (received Jan 31 →
//!   due Feb 28 → extended Apr 28). The extension notice must go out before the first period
//!   ends, so [`Deadlines::extension_notice_by`] is the first-period due date.
//! - **Mixed mails** (say delete + opt-out of sale): every kind keeps its own clock in
//!   [`Deadlines::per_kind`]; the request-level fields are the earliest per-kind value, so a
//!   request is never reported later than its most urgent part. An opt-out's clock cannot be
//!   extended and therefore still bounds [`Deadlines::extended_respond_by`]; use
//!   [`Deadlines::due_for`] once parts of a mixed request are done.
//! - **GDPR has no confirmation deadline** (`confirm_by` is `None`). Art. 12(3) sets only the
//!   one-month response clock; the bot acknowledges at once anyway, and inventing a legal
//!   confirm date would make overdue reports cry wolf.

use super::calendar::BusinessCalendar;
use crate::kind::Kind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The privacy law whose clocks a request runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jurisdiction {
    /// California: CCPA as amended by the CPRA, and its regulations (Cal. Code Regs. tit. 11).
    Ccpa,
    /// EU / UK GDPR.
    Gdpr,
}

impl Jurisdiction {
    /// The wire name (`ccpa`, `gdpr`), as used in config, JSON and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Jurisdiction::Ccpa => "ccpa",
            Jurisdiction::Gdpr => "gdpr",
        }
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Jurisdiction {
    type Err = String;
    /// Accepts `ccpa` or `gdpr`, in any case, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ccpa" => Ok(Jurisdiction::Ccpa),
            "gdpr" => Ok(Jurisdiction::Gdpr),
            _ => Err(format!(
                "unknown jurisdiction `{s}` (expected ccpa or gdpr)"
            )),
        }
    }
}

/// A length of time, counted after the local day it starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Business days in the business calendar.
    BusinessDays(u32),
    /// Calendar days.
    CalendarDays(u32),
    /// Calendar months, same day of the month, clamped to the month's end.
    Months(u32),
}

impl Period {
    /// The end of this period counted from the local day of `start`.
    pub fn after(self, calendar: &BusinessCalendar, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Period::BusinessDays(n) => calendar.add_business_days(start, n),
            Period::CalendarDays(n) => calendar.add_calendar_days(start, n),
            Period::Months(n) => calendar.add_months(start, n),
        }
    }
}

/// The clocks for one kind of request under one jurisdiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Time to confirm receipt, from receipt; `None` when the law sets no such clock.
    pub confirm: Option<Period>,
    /// Time to respond (comply or deny), from receipt.
    pub respond: Period,
    /// Further time allowed with notice to the consumer, counted from the end of `respond`;
    /// `None` when the clock cannot be extended.
    pub extension: Option<Period>,
}

/// CCPA right to know, delete and correct: confirm receipt within 10 business days, respond
/// within 45 calendar days of receipt, extendable once by 45 more (90 in total) with notice
/// inside the first 45. Cal. Code Regs. tit. 11 §7021(a)–(b).
pub const CCPA_KNOW_DELETE_CORRECT: Rule = Rule {
    confirm: Some(Period::BusinessDays(10)),
    respond: Period::CalendarDays(45),
    extension: Some(Period::CalendarDays(45)),
};

/// CCPA opt-out of sale/sharing: comply no later than 15 business days from receipt; no
/// confirmation clock, no extension. Cal. Code Regs. tit. 11 §7026(e).
pub const CCPA_OPT_OUT_SALE: Rule = Rule {
    confirm: None,
    respond: Period::BusinessDays(15),
    extension: None,
};

/// CCPA limit the use of sensitive personal information: comply no later than 15 business
/// days from receipt; no confirmation clock, no extension. Cal. Code Regs. tit. 11 §7027(g).
pub const CCPA_LIMIT_SENSITIVE: Rule = Rule {
    confirm: None,
    respond: Period::BusinessDays(15),
    extension: None,
};

/// Marketing unsubscribe: honour within 10 business days (CAN-SPAM, 15 U.S.C.
/// §7704(a)(4)(A)(i); 16 C.F.R. §316.5). No confirmation clock, no extension.
pub const MARKETING_UNSUBSCRIBE: Rule = Rule {
    confirm: None,
    respond: Period::BusinessDays(10),
    extension: None,
};

/// GDPR, every kind: respond without undue delay and at the latest within one month of
/// receipt, extendable by two further months where requests are complex or numerous, with
/// notice inside the first month. No confirmation clock. GDPR Art. 12(3).
pub const GDPR_ANY: Rule = Rule {
    confirm: None,
    respond: Period::Months(1),
    extension: Some(Period::Months(2)),
};

/// The CCPA table, one rule per kind.
pub const CCPA_RULES: [(Kind, Rule); 6] = [
    (Kind::Access, CCPA_KNOW_DELETE_CORRECT),
    (Kind::Delete, CCPA_KNOW_DELETE_CORRECT),
    (Kind::Correct, CCPA_KNOW_DELETE_CORRECT),
    (Kind::OptOutSale, CCPA_OPT_OUT_SALE),
    (Kind::OptOutMarketing, MARKETING_UNSUBSCRIBE),
    (Kind::LimitSensitive, CCPA_LIMIT_SENSITIVE),
];

/// The rule for a kind under a jurisdiction.
pub fn rule(jurisdiction: Jurisdiction, kind: Kind) -> Rule {
    match jurisdiction {
        Jurisdiction::Gdpr => GDPR_ANY,
        Jurisdiction::Ccpa => CCPA_RULES
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(CCPA_KNOW_DELETE_CORRECT, |(_, rule)| *rule),
    }
}

/// Why deadlines could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// A request needs at least one kind to have a clock.
    #[error("a request needs at least one kind to compute deadlines")]
    NoKinds,
}

/// The clocks of one kind within a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindDeadline {
    /// The kind these clocks belong to.
    pub kind: Kind,
    /// Confirm receipt by then; `None` when no confirmation clock applies.
    pub confirm_by: Option<DateTime<Utc>>,
    /// Respond by then.
    pub respond_by: DateTime<Utc>,
    /// Respond by then once extended; `None` when this kind cannot be extended.
    pub extended_respond_by: Option<DateTime<Utc>>,
}

/// Every clock of a request, computed once at receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// The law the clocks follow.
    pub jurisdiction: Jurisdiction,
    /// When the request mail was received; every clock counts from here.
    pub received_at: DateTime<Utc>,
    /// Earliest confirmation deadline over the kinds; `None` when none applies.
    pub confirm_by: Option<DateTime<Utc>>,
    /// Earliest response deadline over the kinds.
    pub respond_by: DateTime<Utc>,
    /// Earliest deadline once extended (non-extendable kinds count with their first period);
    /// `None` when no kind of the request can be extended.
    pub extended_respond_by: Option<DateTime<Utc>>,
    /// Last moment to tell the consumer about an extension: the earliest first-period due date
    /// of the extendable kinds. `None` when no kind can be extended.
    pub extension_notice_by: Option<DateTime<Utc>>,
    /// The clocks of each distinct kind, in canonical kind order.
    pub per_kind: Vec<KindDeadline>,
}

impl Deadlines {
    /// The deadline the request as a whole is held to: `respond_by`, or
    /// `extended_respond_by` when `extended` and an extension is possible.
    pub fn due(&self, extended: bool) -> DateTime<Utc> {
        match (extended, self.extended_respond_by) {
            (true, Some(by)) => by,
            _ => self.respond_by,
        }
    }

    /// The earliest deadline among `kinds` only (for a mixed request whose other parts are
    /// done); `None` when none of `kinds` is part of this request.
    pub fn due_for(&self, kinds: &[Kind], extended: bool) -> Option<DateTime<Utc>> {
        self.per_kind
            .iter()
            .filter(|k| kinds.contains(&k.kind))
            .map(|k| match (extended, k.extended_respond_by) {
                (true, Some(by)) => by,
                _ => k.respond_by,
            })
            .min()
    }

    /// The one extension as a person is told about it: the due date it gives the kinds that
    /// can be extended, and the last moment to announce it. `None` when no kind can be
    /// extended. In a mixed request (delete + opt-out of sale) the opt-out keeps its own
    /// first-period clock, which also bounds [`Deadlines::extended_respond_by`]; the offer
    /// names the extendable kinds' own dates, so the two dates it gives are never the
    /// opt-out's due date twice.
    pub fn extension_offer(&self) -> Option<ExtensionOffer> {
        let extendable: Vec<&KindDeadline> = self
            .per_kind
            .iter()
            .filter(|k| k.extended_respond_by.is_some())
            .collect();
        Some(ExtensionOffer {
            due: extendable
                .iter()
                .filter_map(|k| k.extended_respond_by)
                .min()?,
            announce_by: self.extension_notice_by?,
            kinds: extendable.iter().map(|k| k.kind).collect(),
            others_keep: self
                .per_kind
                .iter()
                .filter(|k| k.extended_respond_by.is_none())
                .map(|k| k.kind)
                .collect(),
        })
    }

    /// True when an extension may still be announced at `now`.
    pub fn can_extend(&self, now: DateTime<Utc>) -> bool {
        self.extension_notice_by.is_some_and(|by| now <= by)
    }
}

/// The one extension a request may take ([`Deadlines::extension_offer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The due date of the extendable kinds once extended.
    pub due: DateTime<Utc>,
    /// The consumer must be told before this moment (the end of the first period).
    pub announce_by: DateTime<Utc>,
    /// The kinds the extension applies to.
    pub kinds: Vec<Kind>,
    /// The kinds that cannot be extended and keep their first-period due date.
    pub others_keep: Vec<Kind>,
}

/// Computes every clock of a request with these `kinds`, received at `received_at`.
/// Duplicate kinds are ignored; an empty list is an error.
pub fn compute_deadlines(
    kinds: &[Kind],
    received_at: DateTime<Utc>,
    jurisdiction: Jurisdiction,
    calendar: &BusinessCalendar,
) -> Result<Deadlines, DeadlineError> {
    let distinct: BTreeSet<Kind> = kinds.iter().copied().collect();
    let per_kind: Vec<KindDeadline> = distinct
        .into_iter()
        .map(|kind| {
            let rule = rule(jurisdiction, kind);
            let respond_by = rule.respond.after(calendar, received_at);
            KindDeadline {
                kind,
                confirm_by: rule.confirm.map(|p| p.after(calendar, received_at)),
                respond_by,
                extended_respond_by: rule.extension.map(|p| p.after(calendar, respond_by)),
            }
        })
        .collect();
    let respond_by = per_kind
        .iter()
        .map(|k| k.respond_by)
        .min()
        .ok_or(DeadlineError::NoKinds)?;
    let extendable = per_kind.iter().any(|k| k.extended_respond_by.is_some());
    let extended_respond_by = extendable.then(|| {
        per_kind
            .iter()
            .map(|k| k.extended_respond_by.unwrap_or(k.respond_by))
            .min()
            .unwrap_or(respond_by)
    });
    Ok(Deadlines {
        jurisdiction,
        received_at,
        confirm_by: per_kind.iter().filter_map(|k| k.confirm_by).min(),
        respond_by,
        extended_respond_by,
        extension_notice_by: per_kind
            .iter()
            .filter(|k| k.extended_respond_by.is_some())
            .map(|k| k.respond_by)
            .min(),
        per_kind,
    })
}

/// Default "due soon" notice thresholds, in calendar days left.
pub const DEFAULT_DUE_SOON_DAYS: [u32; 2] = [10, 3];

/// Where a request stands against a deadline at some moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueStatus {
    /// Calendar days from today to the due date, in the business time zone: 0 on the due day,
    /// negative once it has passed.
    pub days_left: i64,
    /// The thresholds already reached (`days_left <= threshold`), largest first, without
    /// duplicates. The sweeper sends one notice per threshold it has not yet sent.
    pub crossed: Vec<u32>,
    /// True once the deadline instant has passed.
    pub overdue: bool,
}

/// Calendar days from the local date of `now` to the local date of `due` (0 on the due day,
/// negative after it).
pub fn days_left(due: DateTime<Utc>, now: DateTime<Utc>, calendar: &BusinessCalendar) -> i64 {
    (calendar.local_date(due) - calendar.local_date(now)).num_days()
}

/// True once `now` is past the `due` instant.
pub fn is_overdue(due: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now > due
}

/// Where a request stands against `due` at `now`, given notice thresholds in days
/// (typically [`DEFAULT_DUE_SOON_DAYS`]).
pub fn due_status(
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    thresholds: &[u32],
    calendar: &BusinessCalendar,
) -> DueStatus {
    let left = days_left(due, now, calendar);
    let crossed: BTreeSet<u32> = thresholds
        .iter()
        .copied()
        .filter(|t| left <= i64::from(*t))
        .collect();
    DueStatus {
        days_left: left,
        crossed: crossed.into_iter().rev().collect(),
        overdue: is_overdue(due, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn la() -> BusinessCalendar {
        BusinessCalendar::new(chrono_tz::America::Los_Angeles, [])
    }

    fn ccpa(kinds: &[Kind], received: &str) -> Deadlines {
        compute_deadlines(kinds, t(received), Jurisdiction::Ccpa, &la()).expect("kinds")
    }

    #[test]
    fn ccpa_delete_received_before_thanksgiving() {
        let d = ccpa(&[Kind::Delete], "2026-11-20T17:00:00Z");
        // 10 business days skipping Thanksgiving → Mon Dec 7, end of day PST.
        assert_eq!(d.confirm_by, Some(t("2026-12-08T07:59:59Z")));
        // 45 calendar days → Mon Jan 4 2027; 90 → Thu Feb 18 2027.
        assert_eq!(d.respond_by, t("2027-01-05T07:59:59Z"));
        assert_eq!(d.extended_respond_by, Some(t("2027-02-19T07:59:59Z")));
        assert_eq!(d.extension_notice_by, Some(d.respond_by));
        assert_eq!(d.per_kind.len(), 1);
        assert_eq!(d.due(false), d.respond_by);
        assert_eq!(d.due(true), t("2027-02-19T07:59:59Z"));
    }

    #[test]
    fn ccpa_access_and_correct_share_the_delete_clock() {
        let delete = ccpa(&[Kind::Delete], "2026-11-20T17:00:00Z");
        for kind in [Kind::Access, Kind::Correct] {
            let d = ccpa(&[kind], "2026-11-20T17:00:00Z");
            assert_eq!(
                (d.confirm_by, d.respond_by, d.extended_respond_by),
                (
                    delete.confirm_by,
                    delete.respond_by,
                    delete.extended_respond_by
                ),
                "{kind}"
            );
        }
    }

    #[test]
    fn ccpa_opt_outs_over_thanksgiving_and_christmas() {
        // (kind, received, respond_by)
        let table = [
            (
                Kind::OptOutSale,
                "2026-11-20T17:00:00Z",
                "2026-12-15T07:59:59Z",
            ),
            (
                Kind::LimitSensitive,
                "2026-11-20T17:00:00Z",
                "2026-12-15T07:59:59Z",
            ),
            (
                Kind::OptOutMarketing,
                "2026-11-20T17:00:00Z",
                "2026-12-08T07:59:59Z",
            ),
            // Christmas (Fri) and New Year's Day 2027 (Fri) skipped.
            (
                Kind::OptOutSale,
                "2026-12-21T16:00:00Z",
                "2027-01-14T07:59:59Z",
            ),
            (
                Kind::LimitSensitive,
                "2026-12-21T16:00:00Z",
                "2027-01-14T07:59:59Z",
            ),
            (
                Kind::OptOutMarketing,
                "2026-12-21T16:00:00Z",
                "2027-01-07T07:59:59Z",
            ),
        ];
        for (kind, received, due) in table {
            let d = ccpa(&[kind], received);
            assert_eq!(d.respond_by, t(due), "{kind} received {received}");
            assert_eq!(d.confirm_by, None, "{kind}");
            assert_eq!(d.extended_respond_by, None, "{kind}");
            assert_eq!(d.extension_notice_by, None, "{kind}");
            assert_eq!(d.due(true), d.respond_by, "{kind}");
        }
    }

    #[test]
    fn mixed_mail_takes_the_earliest_clock_and_keeps_each_kind() {
        let d = ccpa(
            &[Kind::Delete, Kind::OptOutSale, Kind::Delete],
            "2026-11-20T17:00:00Z",
        );
        assert_eq!(d.per_kind.len(), 2, "duplicates ignored");
        assert_eq!(d.per_kind[0].kind, Kind::Delete);
        assert_eq!(d.per_kind[1].kind, Kind::OptOutSale);
        assert_eq!(d.confirm_by, Some(t("2026-12-08T07:59:59Z")));
        assert_eq!(d.respond_by, t("2026-12-15T07:59:59Z"));
        // The opt-out cannot be extended, so it still bounds the whole request...
        assert_eq!(d.extended_respond_by, Some(t("2026-12-15T07:59:59Z")));
        // ...but the delete can, and its notice is due by its own first deadline.
        assert_eq!(d.extension_notice_by, Some(t("2027-01-05T07:59:59Z")));
        assert_eq!(
            d.due_for(&[Kind::Delete], false),
            Some(t("2027-01-05T07:59:59Z"))
        );
        assert_eq!(
            d.due_for(&[Kind::Delete], true),
            Some(t("2027-02-19T07:59:59Z"))
        );
        assert_eq!(d.due_for(&[Kind::Access], true), None);
    }

    #[test]
    fn gdpr_one_month_clamps_to_month_end() {
        let dublin = BusinessCalendar::new(chrono_tz::Europe::Dublin, []);
        // (received, respond_by, extended_respond_by)
        let table = [
            (
                "2026-01-31T10:00:00Z",
                "2026-02-28T23:59:59Z",
                "2026-04-28T22:59:59Z",
            ),
            (
                "2028-01-31T10:00:00Z",
                "2028-02-29T23:59:59Z",
                "2028-04-29T22:59:59Z",
            ),
            (
                "2026-03-15T10:00:00Z",
                "2026-04-15T22:59:59Z",
                "2026-06-15T22:59:59Z",
            ),
            (
                "2026-12-31T23:30:00Z",
                "2027-01-31T23:59:59Z",
                "2027-03-31T22:59:59Z",
            ),
        ];
        for (received, due, extended) in table {
            for kind in Kind::ALL {
                let d = compute_deadlines(&[kind], t(received), Jurisdiction::Gdpr, &dublin)
                    .expect("kinds");
                assert_eq!(d.confirm_by, None, "{kind} {received}");
                assert_eq!(d.respond_by, t(due), "{kind} {received}");
                assert_eq!(
                    d.extended_respond_by,
                    Some(t(extended)),
                    "{kind} {received}"
                );
                assert_eq!(d.extension_notice_by, Some(t(due)), "{kind} {received}");
            }
        }
    }

    #[test]
    fn clocks_run_from_receipt_in_the_business_time_zone() {
        // 22:00 PST on Friday Nov 20 is Saturday in UTC but still Friday in Los Angeles.
        let late = ccpa(&[Kind::Delete], "2026-11-21T06:00:00Z");
        let early = ccpa(&[Kind::Delete], "2026-11-20T17:00:00Z");
        assert_eq!(late.confirm_by, early.confirm_by);
        assert_eq!(late.respond_by, early.respond_by);
        assert_eq!(late.received_at, t("2026-11-21T06:00:00Z"));
    }

    #[test]
    fn extra_holidays_move_business_day_clocks_only() {
        let cal = BusinessCalendar::new(
            chrono_tz::America::Los_Angeles,
            [NaiveDate::from_ymd_opt(2026, 11, 27).expect("date")],
        );
        let d = compute_deadlines(
            &[Kind::Delete],
            t("2026-11-20T17:00:00Z"),
            Jurisdiction::Ccpa,
            &cal,
        )
        .expect("kinds");
        assert_eq!(d.confirm_by, Some(t("2026-12-09T07:59:59Z")));
        assert_eq!(d.respond_by, t("2027-01-05T07:59:59Z"));
    }

    #[test]
    fn no_kinds_is_an_error() {
        let err = compute_deadlines(&[], t("2026-11-20T17:00:00Z"), Jurisdiction::Ccpa, &la());
        assert_eq!(err, Err(DeadlineError::NoKinds));
    }

    #[test]
    fn can_extend_until_the_first_period_ends() {
        let d = ccpa(&[Kind::Access], "2026-11-20T17:00:00Z");
        assert!(d.can_extend(t("2027-01-05T07:59:59Z")));
        assert!(!d.can_extend(t("2027-01-05T08:00:00Z")));
        assert!(!ccpa(&[Kind::OptOutSale], "2026-11-20T17:00:00Z")
            .can_extend(t("2026-11-20T18:00:00Z")));
    }

    #[test]
    fn jurisdiction_parses_and_serializes() {
        assert_eq!(" CCPA ".parse::<Jurisdiction>(), Ok(Jurisdiction::Ccpa));
        assert_eq!("gdpr".parse::<Jurisdiction>(), Ok(Jurisdiction::Gdpr));
        assert!("lgpd".parse::<Jurisdiction>().is_err());
        assert_eq!(Jurisdiction::Gdpr.to_string(), "gdpr");
        assert_eq!(
            serde_json::to_string(&Jurisdiction::Ccpa).expect("json"),
            "\"ccpa\""
        );
        let back: Jurisdiction = serde_json::from_str("\"gdpr\"").expect("json");
        assert_eq!(back, Jurisdiction::Gdpr);
    }

    #[test]
    fn the_rule_table_covers_every_kind() {
        for kind in Kind::ALL {
            assert!(CCPA_RULES.iter().any(|(k, _)| *k == kind), "{kind}");
        }
        assert_eq!(
            rule(Jurisdiction::Ccpa, Kind::OptOutSale),
            CCPA_OPT_OUT_SALE
        );
        assert_eq!(rule(Jurisdiction::Gdpr, Kind::OptOutSale), GDPR_ANY);
    }

    #[test]
    fn due_status_thresholds_and_overdue() {
        let cal = la();
        let due = t("2027-01-05T07:59:59Z"); // end of Jan 4, Los Angeles
                                             // (now, days_left, crossed, overdue)
        let table: [(&str, i64, &[u32], bool); 7] = [
            ("2026-12-24T20:00:00Z", 11, &[], false),
            ("2026-12-25T20:00:00Z", 10, &[10], false),
            // 23:00 PST Dec 25 is Dec 26 in UTC: still 10 days left locally.
            ("2026-12-26T07:00:00Z", 10, &[10], false),
            ("2027-01-01T20:00:00Z", 3, &[10, 3], false),
            ("2027-01-05T07:59:59Z", 0, &[10, 3], false),
            ("2027-01-05T08:00:00Z", -1, &[10, 3], true),
            ("2027-01-20T08:00:00Z", -16, &[10, 3], true),
        ];
        for (now, left, crossed, overdue) in table {
            let status = due_status(due, t(now), &DEFAULT_DUE_SOON_DAYS, &cal);
            assert_eq!(status.days_left, left, "{now}");
            assert_eq!(status.crossed, crossed, "{now}");
            assert_eq!(status.overdue, overdue, "{now}");
        }
    }

    #[test]
    fn due_status_sorts_and_dedupes_configured_thresholds() {
        let cal = la();
        let due = t("2027-01-05T07:59:59Z");
        let status = due_status(due, t("2027-01-04T20:00:00Z"), &[3, 10, 0, 3], &cal);
        assert_eq!(status.crossed, vec![10, 3, 0]);
        assert!(due_status(due, t("2026-12-01T20:00:00Z"), &[], &cal)
            .crossed
            .is_empty());
    }

    #[test]
    fn the_extension_offer_names_the_extended_kinds_dates_not_the_opt_outs_twice() {
        // Delete + marketing unsubscribe: the unsubscribe's 10 business days are the
        // request's due date and also its confirm-receipt date, and they bound
        // `extended_respond_by`. The offer is the deletion's: 90 days, announced within 45.
        let d = ccpa(
            &[Kind::Delete, Kind::OptOutMarketing],
            "2026-11-20T17:00:00Z",
        );
        assert_eq!(d.confirm_by, Some(t("2026-12-08T07:59:59Z")));
        assert_eq!(d.respond_by, t("2026-12-08T07:59:59Z"));
        assert_eq!(d.extended_respond_by, Some(d.respond_by));
        let offer = d.extension_offer().expect("delete can be extended");
        assert_eq!(offer.due, t("2027-02-19T07:59:59Z"));
        assert_eq!(offer.announce_by, t("2027-01-05T07:59:59Z"));
        assert_eq!(offer.kinds, vec![Kind::Delete]);
        assert_eq!(offer.others_keep, vec![Kind::OptOutMarketing]);
        assert_ne!(offer.due, offer.announce_by);

        // One extendable kind: due after 90 days, announce by the 45th.
        let d = ccpa(&[Kind::Access], "2026-11-20T17:00:00Z");
        let offer = d.extension_offer().expect("access can be extended");
        assert_eq!(
            (offer.due, offer.announce_by),
            (t("2027-02-19T07:59:59Z"), d.respond_by)
        );
        assert!(offer.others_keep.is_empty());

        // GDPR: one month, then two more; announced within the first month.
        let g = compute_deadlines(
            &[Kind::Access],
            t("2027-01-31T12:00:00Z"),
            Jurisdiction::Gdpr,
            &la(),
        )
        .expect("kinds");
        let offer = g.extension_offer().expect("gdpr can be extended");
        assert_eq!(offer.announce_by, g.respond_by);
        assert_eq!(Some(offer.due), g.extended_respond_by);

        // Nothing extendable: no offer.
        assert_eq!(
            ccpa(&[Kind::OptOutSale], "2026-11-20T17:00:00Z").extension_offer(),
            None
        );
    }
}
