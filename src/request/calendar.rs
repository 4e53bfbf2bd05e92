//! Business days in the business's time zone: US federal holidays (observed dates), extra
//! holidays the admin configures, and the "end of the local day" every deadline lands on.
//!
//! # Semantics
//! - **Local dates.** Every count happens on calendar dates in [`BusinessCalendar::tz`]. A mail
//!   received at `2026-11-21T02:00:00Z` was received on Friday 2026-11-20 in Los Angeles.
//! - **The day of receipt does not count.** Day 1 is the first business day *after* the local
//!   date of receipt, whether or not the day of receipt was itself a business day (a mail that
//!   arrives on Saturday has Monday as day 1). This is the conservative reading: treating a
//!   weekend mail as "received Monday" would push every deadline one business day later.
//! - **Deadlines are the end of a local day**: 23:59:59 local time on the due date, expressed in
//!   UTC. Across DST the UTC offset of that instant follows the due date, not the receipt date.
//!   If 23:59:59 is repeated (a fall-back at midnight) the later instant is used; if it does not
//!   exist (a spring-forward at midnight) the last local second that does exist is used.
//! - **Due dates are never rolled forward** off weekends or holidays for calendar-day and month
//!   periods: a 45-day clock that ends on a Sunday ends on that Sunday (the earlier, safe date).
//! - **Business day**: Monday–Friday, not a US federal holiday on its observed date, and not one
//!   of the configured extra holidays.
//!
//! US federal holidays (5 U.S.C. §6103) are observed on the Friday before when they fall on a
//! Saturday and on the Monday after when they fall on a Sunday. New Year's Day that falls on a
//! Saturday is therefore observed on 31 December of the *previous* year (2027-12-31 for
//! 2028-01-01), which [`federal_holidays`] reports under the year the observed date is in.

use chrono::{
    DateTime, Datelike, Days, Duration, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::fmt;

/// Why a calendar could not be built from configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The time zone is not an IANA name chrono-tz knows.
    #[error("unknown time zone `{0}` (expected an IANA name such as America/Los_Angeles)")]
    UnknownTimeZone(String),
    /// An extra holiday is not a `YYYY-MM-DD` date.
    #[error("invalid holiday date `{0}` (expected YYYY-MM-DD)")]
    InvalidDate(String),
}

/// A US federal holiday, by its statutory name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FederalHoliday {
    /// New Year's Day, January 1.
    NewYearsDay,
    /// Birthday of Martin Luther King, Jr., third Monday in January.
    MartinLutherKingJrDay,
    /// Washington's Birthday, third Monday in February.
    WashingtonsBirthday,
    /// Memorial Day, last Monday in May.
    MemorialDay,
    /// Juneteenth National Independence Day, June 19 (a federal holiday since 2021).
    Juneteenth,
    /// Independence Day, July 4.
    IndependenceDay,
    /// Labor Day, first Monday in September.
    LaborDay,
    /// Columbus Day, second Monday in October.
    ColumbusDay,
    /// Veterans Day, November 11.
    VeteransDay,
    /// Thanksgiving Day, fourth Thursday in November.
    Thanksgiving,
    /// Christmas Day, December 25.
    Christmas,
}

impl FederalHoliday {
    /// The holiday's name, for reports and logs.
    pub fn name(self) -> &'static str {
        match self {
            FederalHoliday::NewYearsDay => "New Year's Day",
            FederalHoliday::MartinLutherKingJrDay => "Birthday of Martin Luther King, Jr.",
            FederalHoliday::WashingtonsBirthday => "Washington's Birthday",
            FederalHoliday::MemorialDay => "Memorial Day",
            FederalHoliday::Juneteenth => "Juneteenth National Independence Day",
            FederalHoliday::IndependenceDay => "Independence Day",
            FederalHoliday::LaborDay => "Labor Day",
            FederalHoliday::ColumbusDay => "Columbus Day",
            FederalHoliday::VeteransDay => "Veterans Day",
            FederalHoliday::Thanksgiving => "Thanksgiving Day",
            FederalHoliday::Christmas => "Christmas Day",
        }
    }
}

impl fmt::Display for FederalHoliday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Saturday → the Friday before, Sunday → the Monday after, otherwise the date itself.
fn observed(date: NaiveDate) -> Option<NaiveDate> {
    match date.weekday() {
        Weekday::Sat => date.pred_opt(),
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

/// The `n`th `weekday` of a month (1-based).
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The last `weekday` of a month.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    nth_weekday(year, month, weekday, 5).or_else(|| nth_weekday(year, month, weekday, 4))
}

/// The observed dates of the holidays *of* `year` (New Year's may land in `year - 1`).
fn holidays_of(year: i32) -> Vec<(NaiveDate, FederalHoliday)> {
    use FederalHoliday as H;
    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day).and_then(observed);
    let mut out = vec![
        (fixed(1, 1), H::NewYearsDay),
        (
            nth_weekday(year, 1, Weekday::Mon, 3),
            H::MartinLutherKingJrDay,
        ),
        (
            nth_weekday(year, 2, Weekday::Mon, 3),
            H::WashingtonsBirthday,
        ),
        (last_weekday(year, 5, Weekday::Mon), H::MemorialDay),
        (fixed(7, 4), H::IndependenceDay),
        (nth_weekday(year, 9, Weekday::Mon, 1), H::LaborDay),
        (nth_weekday(year, 10, Weekday::Mon, 2), H::ColumbusDay),
        (fixed(11, 11), H::VeteransDay),
        (nth_weekday(year, 11, Weekday::Thu, 4), H::Thanksgiving),
        (fixed(12, 25), H::Christmas),
    ];
    if year >= 2021 {
        out.push((fixed(6, 19), H::Juneteenth));
    }
    out.into_iter()
        .filter_map(|(date, holiday)| date.map(|d| (d, holiday)))
        .collect()
}

/// The US federal holidays whose **observed** date falls in `year`, sorted by date.
///
/// This includes the next year's New Year's Day when it is observed on 31 December, and omits
/// this year's when it was observed on 31 December of the year before.
pub fn federal_holidays(year: i32) -> Vec<(NaiveDate, FederalHoliday)> {
    let mut out: Vec<_> = holidays_of(year)
        .into_iter()
        .chain(holidays_of(year.saturating_add(1)))
        .filter(|(date, _)| date.year() == year)
        .collect();
    out.sort();
    out
}

/// The federal holiday observed on `date`, if any.
pub fn federal_holiday_on(date: NaiveDate) -> Option<FederalHoliday> {
    federal_holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, holiday)| holiday)
}

/// The business calendar: a time zone plus holidays. Cheap to clone; build once from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    /// The business's time zone; every date is counted there.
    pub tz: Tz,
    /// Company holidays on top of the federal ones (office closures, state holidays).
    pub extra_holidays: BTreeSet<NaiveDate>,
}

impl BusinessCalendar {
    /// A calendar for `tz` with the given extra (non-federal) holidays.
    pub fn new(tz: Tz, extra_holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        BusinessCalendar {
            tz,
            extra_holidays: extra_holidays.into_iter().collect(),
        }
    }

    /// A calendar from configuration text: an IANA zone name and `YYYY-MM-DD` dates.
    /// Every bad entry is reported, not just the first.
    pub fn from_config<S: AsRef<str>>(
        tz: &str,
        extra_holidays: &[S],
    ) -> Result<Self, Vec<CalendarError>> {
        let mut errors = Vec::new();
        let zone = tz
            .trim()
            .parse::<Tz>()
            .map_err(|_| CalendarError::UnknownTimeZone(tz.into()));
        let zone = zone.map_err(|e| errors.push(e)).ok();
        let mut dates = BTreeSet::new();
        for raw in extra_holidays {
            let raw = raw.as_ref();
            match NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d") {
                Ok(date) => {
                    dates.insert(date);
                }
                Err(_) => errors.push(CalendarError::InvalidDate(raw.into())),
            }
        }
        match zone {
            Some(tz) if errors.is_empty() => Ok(BusinessCalendar {
                tz,
                extra_holidays: dates,
            }),
            _ => Err(errors),
        }
    }

    /// The local calendar date of an instant in the business time zone.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// True on a weekday that is neither an observed federal holiday nor an extra holiday.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            && !self.extra_holidays.contains(&date)
            && federal_holiday_on(date).is_none()
    }

    /// The `n`th business day strictly after `date` (`n == 0` gives `date` itself).
    /// `None` only at the far end of chrono's date range.
    pub fn nth_business_day_after(&self, date: NaiveDate, n: u32) -> Option<NaiveDate> {
        let mut day = date;
        let mut counted = 0;
        while counted < n {
            day = day.succ_opt()?;
            if self.is_business_day(day) {
                counted += 1;
            }
        }
        Some(day)
    }

    /// End of the `n`th business day after the local day of `start` (see the module doc: the
    /// day of receipt does not count; `n == 0` is the end of the day of receipt itself).
    ///
    /// Saturates at the end of chrono's date range rather than panicking.
    pub fn add_business_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let date = self.local_date(start);
        let due = self
            .nth_business_day_after(date, n)
            .unwrap_or(NaiveDate::MAX);
        self.end_of_day(due)
    }

    /// End of the local day `n` calendar days after the local day of `start`
    /// (received Nov 20, `n = 45` → due Jan 4 at 23:59:59 local).
    pub fn add_calendar_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let date = self.local_date(start);
        let due = date
            .checked_add_days(Days::new(n.into()))
            .unwrap_or(NaiveDate::MAX);
        self.end_of_day(due)
    }

    /// End of the local day `n` months after the local day of `start`: the same day of the
    /// month, clamped to the month's last day (Jan 31 + 1 month → Feb 28, or Feb 29 in a leap
    /// year). This is GDPR's "one month" (Art. 12(3), read with Regulation 1182/71 Art. 3).
    pub fn add_months(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let date = self.local_date(start);
        let due = date
            .checked_add_months(Months::new(n))
            .unwrap_or(NaiveDate::MAX);
        self.end_of_day(due)
    }

    /// Business days in `(from, to]`: how many business days after `from` up to and including
    /// `to`. Negative when `to` is before `from` (minus the business days in `(to, from]`).
    /// Inverse of [`nth_business_day_after`](Self::nth_business_day_after) on business days.
    pub fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        let (lo, hi, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let count = lo
            .iter_days()
            .skip(1)
            .take_while(|d| *d <= hi)
            .filter(|d| self.is_business_day(*d))
            .count();
        sign * i64::try_from(count).unwrap_or(i64::MAX)
    }

    /// The last second of a local date (23:59:59 local) as a UTC instant; see the module doc
    /// for what happens when a DST change makes that wall-clock time repeat or not exist.
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let last = NaiveDateTime::new(
            date,
            NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN),
        );
        // Walk back a minute at a time over a skipped stretch (at most a day in real zones).
        let mut wall = last;
        for _ in 0..=(48 * 60) {
            match self.tz.from_local_datetime(&wall) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(_, later) => return later.with_timezone(&Utc),
                LocalResult::None => match wall.checked_sub_signed(Duration::minutes(1)) {
                    Some(earlier) => wall = earlier,
                    None => break,
                },
            }
        }
        // Unreachable for real zones; fall back to reading the wall clock as UTC.
        last.and_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FederalHoliday as H;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn la() -> BusinessCalendar {
        BusinessCalendar::new(chrono_tz::America::Los_Angeles, [])
    }

    #[test]
    fn federal_holidays_2024_to_2028_observed_dates() {
        let table: [(i32, &[(&str, H)]); 4] = [
            (
                2024,
                &[
                    ("2024-01-01", H::NewYearsDay),
                    ("2024-01-15", H::MartinLutherKingJrDay),
                    ("2024-02-19", H::WashingtonsBirthday),
                    ("2024-05-27", H::MemorialDay),
                    ("2024-06-19", H::Juneteenth),
                    ("2024-07-04", H::IndependenceDay),
                    ("2024-09-02", H::LaborDay),
                    ("2024-10-14", H::ColumbusDay),
                    ("2024-11-11", H::VeteransDay),
                    ("2024-11-28", H::Thanksgiving),
                    ("2024-12-25", H::Christmas),
                ],
            ),
            (
                2025,
                &[
                    ("2025-01-01", H::NewYearsDay),
                    ("2025-01-20", H::MartinLutherKingJrDay),
                    ("2025-02-17", H::WashingtonsBirthday),
                    ("2025-05-26", H::MemorialDay),
                    ("2025-06-19", H::Juneteenth),
                    ("2025-07-04", H::IndependenceDay),
                    ("2025-09-01", H::LaborDay),
                    ("2025-10-13", H::ColumbusDay),
                    ("2025-11-11", H::VeteransDay),
                    ("2025-11-27", H::Thanksgiving),
                    ("2025-12-25", H::Christmas),
                ],
            ),
            (
                2026,
                &[
                    ("2026-01-01", H::NewYearsDay),
                    ("2026-01-19", H::MartinLutherKingJrDay),
                    ("2026-02-16", H::WashingtonsBirthday),
                    ("2026-05-25", H::MemorialDay),
                    ("2026-06-19", H::Juneteenth),
                    ("2026-07-03", H::IndependenceDay), // July 4 is a Saturday
                    ("2026-09-07", H::LaborDay),
                    ("2026-10-12", H::ColumbusDay),
                    ("2026-11-11", H::VeteransDay),
                    ("2026-11-26", H::Thanksgiving),
                    ("2026-12-25", H::Christmas),
                ],
            ),
            (
                2028,
                // No New Year's Day: 2028-01-01 is a Saturday, observed 2027-12-31.
                &[
                    ("2028-01-17", H::MartinLutherKingJrDay),
                    ("2028-02-21", H::WashingtonsBirthday),
                    ("2028-05-29", H::MemorialDay),
                    ("2028-06-19", H::Juneteenth),
                    ("2028-07-04", H::IndependenceDay),
                    ("2028-09-04", H::LaborDay),
                    ("2028-10-09", H::ColumbusDay),
                    ("2028-11-10", H::VeteransDay), // Nov 11 is a Saturday
                    ("2028-11-23", H::Thanksgiving),
                    ("2028-12-25", H::Christmas),
                ],
            ),
        ];
        for (year, expected) in table {
            let want: Vec<_> = expected.iter().map(|(s, h)| (d(s), *h)).collect();
            assert_eq!(federal_holidays(year), want, "year {year}");
        }
    }

    #[test]
    fn federal_holidays_2027_include_next_new_year_observed_on_dec_31() {
        let want: Vec<_> = [
            ("2027-01-01", H::NewYearsDay),
            ("2027-01-18", H::MartinLutherKingJrDay),
            ("2027-02-15", H::WashingtonsBirthday),
            ("2027-05-31", H::MemorialDay),
            ("2027-06-18", H::Juneteenth),      // Saturday → Friday
            ("2027-07-05", H::IndependenceDay), // Sunday → Monday
            ("2027-09-06", H::LaborDay),
            ("2027-10-11", H::ColumbusDay),
            ("2027-11-11", H::VeteransDay),
            ("2027-11-25", H::Thanksgiving),
            ("2027-12-24", H::Christmas),   // Saturday → Friday
            ("2027-12-31", H::NewYearsDay), // 2028-01-01 is a Saturday
        ]
        .iter()
        .map(|(s, h)| (d(s), *h))
        .collect();
        assert_eq!(federal_holidays(2027), want);
    }

    #[test]
    fn juneteenth_only_from_2021() {
        assert_eq!(federal_holiday_on(d("2020-06-19")), None);
        assert_eq!(federal_holiday_on(d("2021-06-18")), Some(H::Juneteenth));
        assert_eq!(federal_holidays(2020).len(), 10);
    }

    #[test]
    fn is_business_day_table() {
        let cal = la();
        let table = [
            ("2026-11-25", true),  // Wednesday before Thanksgiving
            ("2026-11-26", false), // Thanksgiving
            ("2026-11-27", true),  // Friday after: not federal
            ("2026-11-28", false), // Saturday
            ("2026-11-29", false), // Sunday
            ("2026-07-03", false), // observed Independence Day
            ("2026-07-04", false), // Saturday anyway
            ("2026-12-25", false),
            ("2027-12-24", false),
            ("2027-12-31", false),
            ("2028-01-03", true),
            ("2028-11-10", false),
            ("2028-11-13", true),
        ];
        for (date, want) in table {
            assert_eq!(cal.is_business_day(d(date)), want, "{date}");
        }
    }

    #[test]
    fn add_business_days_table() {
        let cal = la();
        // (received, n, due) — due is 23:59:59 Los Angeles time on the due date, in UTC.
        let table = [
            // Friday 09:00 PST before Thanksgiving: skips Thanksgiving, not the Friday after.
            ("2026-11-20T17:00:00Z", 1, "2026-11-24T07:59:59Z"),
            ("2026-11-20T17:00:00Z", 4, "2026-11-28T07:59:59Z"),
            ("2026-11-20T17:00:00Z", 10, "2026-12-08T07:59:59Z"),
            ("2026-11-20T17:00:00Z", 15, "2026-12-15T07:59:59Z"),
            // 21:00 PST Friday is already Saturday in UTC: still received Friday.
            ("2026-11-21T05:00:00Z", 1, "2026-11-24T07:59:59Z"),
            // Received on a Saturday: day 1 is the Monday.
            ("2026-11-21T18:00:00Z", 1, "2026-11-24T07:59:59Z"),
            // n = 0 is the end of the day of receipt.
            ("2026-11-20T17:00:00Z", 0, "2026-11-21T07:59:59Z"),
            // Christmas and New Year's Day 2027 (Friday).
            ("2026-12-21T16:00:00Z", 3, "2026-12-25T07:59:59Z"),
            ("2026-12-21T16:00:00Z", 4, "2026-12-29T07:59:59Z"),
            ("2026-12-21T16:00:00Z", 10, "2027-01-07T07:59:59Z"),
            ("2026-12-21T16:00:00Z", 15, "2027-01-14T07:59:59Z"),
            // 2027 year end: Dec 24 and Dec 31 are observed holidays.
            ("2027-12-22T18:00:00Z", 1, "2027-12-24T07:59:59Z"),
            ("2027-12-22T18:00:00Z", 2, "2027-12-28T07:59:59Z"),
            ("2027-12-22T18:00:00Z", 6, "2028-01-04T07:59:59Z"),
            // DST starts 2026-03-08: the due date is in PDT (UTC-7).
            ("2026-03-02T18:00:00Z", 4, "2026-03-07T07:59:59Z"),
            ("2026-03-02T18:00:00Z", 5, "2026-03-10T06:59:59Z"),
            // DST ends 2026-11-01: received in PDT, due in PST.
            ("2026-10-30T18:00:00Z", 1, "2026-11-03T07:59:59Z"),
            ("2026-10-29T18:00:00Z", 1, "2026-10-31T06:59:59Z"),
        ];
        for (received, n, due) in table {
            assert_eq!(
                cal.add_business_days(t(received), n),
                t(due),
                "{received} + {n}"
            );
        }
    }

    #[test]
    fn extra_holidays_are_skipped() {
        let cal = BusinessCalendar::new(
            chrono_tz::America::Los_Angeles,
            [d("2026-11-27"), d("2026-12-24")],
        );
        assert!(!cal.is_business_day(d("2026-11-27")));
        assert_eq!(
            cal.add_business_days(t("2026-11-20T17:00:00Z"), 4),
            t("2026-12-01T07:59:59Z")
        );
        assert_eq!(
            cal.add_business_days(t("2026-12-21T16:00:00Z"), 3),
            t("2026-12-29T07:59:59Z")
        );
    }

    #[test]
    fn business_days_between_is_the_inverse_of_add() {
        let cal = la();
        let start = d("2026-11-20");
        for n in 0..40 {
            let due = cal.nth_business_day_after(start, n).expect("in range");
            assert_eq!(
                cal.business_days_between(start, due),
                i64::from(n),
                "n = {n}"
            );
        }
        assert_eq!(
            cal.business_days_between(d("2026-11-30"), d("2026-11-20")),
            -5
        );
        assert_eq!(
            cal.business_days_between(d("2026-11-21"), d("2026-11-22")),
            0
        );
        assert_eq!(
            cal.business_days_between(d("2026-11-20"), d("2026-11-20")),
            0
        );
    }

    #[test]
    fn add_calendar_days_ends_at_local_midnight() {
        let cal = la();
        assert_eq!(
            cal.add_calendar_days(t("2026-11-20T17:00:00Z"), 45),
            t("2027-01-05T07:59:59Z")
        );
        assert_eq!(
            cal.add_calendar_days(t("2026-11-20T17:00:00Z"), 90),
            t("2027-02-19T07:59:59Z")
        );
        // Across the spring DST change.
        assert_eq!(
            cal.add_calendar_days(t("2026-03-01T20:00:00Z"), 10),
            t("2026-03-12T06:59:59Z")
        );
    }

    #[test]
    fn add_months_clamps_to_month_end() {
        let utc = BusinessCalendar::new(chrono_tz::UTC, []);
        let table = [
            ("2026-01-31T10:00:00Z", 1, "2026-02-28T23:59:59Z"),
            ("2028-01-31T10:00:00Z", 1, "2028-02-29T23:59:59Z"),
            ("2026-03-31T10:00:00Z", 1, "2026-04-30T23:59:59Z"),
            ("2026-01-15T10:00:00Z", 1, "2026-02-15T23:59:59Z"),
            ("2026-11-30T10:00:00Z", 3, "2027-02-28T23:59:59Z"),
            ("2026-12-15T10:00:00Z", 1, "2027-01-15T23:59:59Z"),
        ];
        for (received, n, due) in table {
            assert_eq!(
                utc.add_months(t(received), n),
                t(due),
                "{received} + {n} months"
            );
        }
    }

    #[test]
    fn end_of_day_handles_repeated_and_missing_local_times() {
        // Chile falls back at midnight: Saturday 23:00–23:59:59 happens twice; take the later.
        let santiago = BusinessCalendar::new(chrono_tz::America::Santiago, []);
        assert_eq!(
            santiago.end_of_day(d("2026-04-04")),
            t("2026-04-05T03:59:59Z")
        );
        // Samoa skipped 2011-12-30 entirely: the last second before it is the answer.
        let apia = BusinessCalendar::new(chrono_tz::Pacific::Apia, []);
        assert_eq!(apia.end_of_day(d("2011-12-30")), t("2011-12-30T09:59:59Z"));
    }

    #[test]
    fn from_config_reports_every_error() {
        let cal =
            BusinessCalendar::from_config("America/New_York", &["2026-11-27", " 2026-12-24 "])
                .expect("valid");
        assert_eq!(cal.tz, chrono_tz::America::New_York);
        assert_eq!(cal.extra_holidays.len(), 2);
        let errors = BusinessCalendar::from_config(
            "Mars/Olympus",
            &["2026-02-30", "tomorrow", "2026-01-02"],
        )
        .expect_err("invalid");
        assert_eq!(
            errors,
            vec![
                CalendarError::UnknownTimeZone("Mars/Olympus".into()),
                CalendarError::InvalidDate("2026-02-30".into()),
                CalendarError::InvalidDate("tomorrow".into()),
            ]
        );
    }

    #[test]
    fn far_future_saturates_instead_of_panicking() {
        let cal = la();
        let end = cal.add_calendar_days(t("2026-01-01T00:00:00Z"), u32::MAX);
        assert!(end > t("2026-01-01T00:00:00Z"));
    }
}
