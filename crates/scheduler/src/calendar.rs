//! Trading calendars: the New York Stock Exchange by its rules, and 24/7.
//!
//! NYSE holidays are computed from the exchange's rules (fixed dates with
//! their weekend observance, "nth weekday of the month" holidays, Good Friday
//! from the date of Easter), not read from a list of dates, so the calendar
//! is right for any year. The only dates listed by hand are the one-off
//! closures no rule can predict (national mourning, 9/11, Hurricane Sandy).
//!
//! Schedules use [`Calendar::is_trading_day`]; data gap detection for
//! equities uses [`Calendar::session`] / [`Calendar::sessions`] to know when
//! bars are expected.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::America::New_York;
use serde::Serialize;
use tessera_core::UnixNanos;

use crate::error::{Error, Result};

/// A trading calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Calendar {
    /// New York Stock Exchange: weekdays except its holidays; 09:30–16:00
    /// America/New_York, 13:00 on early-close days.
    Nyse,
    /// Every day, all day (crypto, the simulated venue).
    Always,
}

impl FromStr for Calendar {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nyse" => Ok(Self::Nyse),
            "always" | "24/7" | "24x7" => Ok(Self::Always),
            _ => Err(Error::UnknownCalendar(s.to_string())),
        }
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nyse => "nyse",
            Self::Always => "always",
        })
    }
}

/// One trading session: when the market opens and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// The trading day (exchange-local date).
    pub date: NaiveDate,
    /// Opening instant (UTC).
    pub open: UnixNanos,
    /// Closing instant (UTC), exclusive.
    pub close: UnixNanos,
    /// Whether the market closes early this day (13:00 at the NYSE).
    pub early_close: bool,
}

impl Calendar {
    /// Whether `date` is a trading day.
    #[must_use]
    pub fn is_trading_day(self, date: NaiveDate) -> bool {
        match self {
            Self::Always => true,
            Self::Nyse => {
                !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
                    && nyse_holiday(date).is_none()
            }
        }
    }

    /// The name of the holiday that closes the market on `date`, if any
    /// (weekends are not holidays).
    #[must_use]
    pub fn holiday(self, date: NaiveDate) -> Option<&'static str> {
        match self {
            Self::Always => None,
            Self::Nyse => nyse_holiday(date),
        }
    }

    /// Whether the market closes early on `date` (a trading day).
    #[must_use]
    pub fn is_early_close(self, date: NaiveDate) -> bool {
        match self {
            Self::Always => false,
            Self::Nyse => self.is_trading_day(date) && nyse_early_close(date),
        }
    }

    /// The session of `date`, or `None` when the market is closed all day.
    /// The 24/7 calendar's session is the whole UTC day.
    #[must_use]
    pub fn session(self, date: NaiveDate) -> Option<Session> {
        if !self.is_trading_day(date) {
            return None;
        }
        let stamp =
            |t: chrono::DateTime<chrono::Utc>| UnixNanos(t.timestamp_nanos_opt().unwrap_or(0));
        match self {
            Self::Always => {
                let start = date.and_time(NaiveTime::MIN).and_utc();
                Some(Session {
                    date,
                    open: stamp(start),
                    close: stamp(start + Duration::days(1)),
                    early_close: false,
                })
            }
            Self::Nyse => {
                let early = nyse_early_close(date);
                let local = |h, m| {
                    New_York
                        .from_local_datetime(&date.and_hms_opt(h, m, 0).expect("valid time"))
                        .single()
                        .expect("09:30 and 16:00 never fall in a DST transition")
                        .to_utc()
                };
                Some(Session {
                    date,
                    open: stamp(local(9, 30)),
                    close: stamp(if early { local(13, 0) } else { local(16, 0) }),
                    early_close: early,
                })
            }
        }
    }

    /// Every session whose date lies in `[from, to]`.
    #[must_use]
    pub fn sessions(self, from: NaiveDate, to: NaiveDate) -> Vec<Session> {
        from.iter_days()
            .take_while(|d| *d <= to)
            .filter_map(|d| self.session(d))
            .collect()
    }

    /// Whether the market is open at `t`.
    #[must_use]
    pub fn is_open(self, t: UnixNanos) -> bool {
        let date = match self {
            Self::Always => return true,
            Self::Nyse => t.to_datetime().with_timezone(&New_York).date_naive(),
        };
        self.session(date)
            .is_some_and(|s| s.open <= t && t < s.close)
    }
}

/// Easter Sunday of `year` (Gregorian), by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher).
#[must_use]
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a valid date")
}

/// The `n`th (1-based) `weekday` of `month`.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).expect("nth weekday exists")
}

/// The last `weekday` of `month`.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .expect("valid month");
    let mut d = first_next - Duration::days(1);
    while d.weekday() != weekday {
        d -= Duration::days(1);
    }
    d
}

/// A fixed-date holiday moved to Friday when it falls on Saturday and to
/// Monday when it falls on Sunday (NYSE Rule 7.2).
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

/// Closures no rule predicts: national days of mourning, 9/11, Hurricane Sandy.
const SPECIAL_CLOSURES: &[(i32, u32, u32, &str)] = &[
    (2001, 9, 11, "September 11 attacks"),
    (2001, 9, 12, "September 11 attacks"),
    (2001, 9, 13, "September 11 attacks"),
    (2001, 9, 14, "September 11 attacks"),
    (2004, 6, 11, "National Day of Mourning (Reagan)"),
    (2007, 1, 2, "National Day of Mourning (Ford)"),
    (2012, 10, 29, "Hurricane Sandy"),
    (2012, 10, 30, "Hurricane Sandy"),
    (2018, 12, 5, "National Day of Mourning (G. H. W. Bush)"),
    (2025, 1, 9, "National Day of Mourning (Carter)"),
];

fn nyse_holiday(date: NaiveDate) -> Option<&'static str> {
    let y = date.year();
    let fixed = |month, day| NaiveDate::from_ymd_opt(y, month, day).expect("valid date");
    // New Year's Day: a Sunday moves to Monday; a Saturday is not observed on
    // the Friday before, which closes the accounting year (Rule 7.2).
    let new_year = fixed(1, 1);
    if new_year.weekday() != Weekday::Sat && date == observed(new_year) {
        return Some("New Year's Day");
    }
    if y >= 1998 && date == nth_weekday(y, 1, Weekday::Mon, 3) {
        return Some("Martin Luther King Jr. Day");
    }
    if date == nth_weekday(y, 2, Weekday::Mon, 3) {
        return Some("Washington's Birthday");
    }
    if date == easter_sunday(y) - Duration::days(2) {
        return Some("Good Friday");
    }
    if date == last_weekday(y, 5, Weekday::Mon) {
        return Some("Memorial Day");
    }
    if y >= 2022 && date == observed(fixed(6, 19)) {
        return Some("Juneteenth National Independence Day");
    }
    if date == observed(fixed(7, 4)) {
        return Some("Independence Day");
    }
    if date == nth_weekday(y, 9, Weekday::Mon, 1) {
        return Some("Labor Day");
    }
    if date == nth_weekday(y, 11, Weekday::Thu, 4) {
        return Some("Thanksgiving Day");
    }
    if date == observed(fixed(12, 25)) {
        return Some("Christmas Day");
    }
    SPECIAL_CLOSURES
        .iter()
        .find(|(yy, m, d, _)| *yy == y && *m == date.month() && *d == date.day())
        .map(|(_, _, _, name)| *name)
}

/// 13:00 closes: the day before Independence Day (when July 4 falls Tuesday
/// to Friday), the day after Thanksgiving, and Christmas Eve on Monday to
/// Thursday (on a Friday it is the observed Christmas holiday).
fn nyse_early_close(date: NaiveDate) -> bool {
    let y = date.year();
    let july_3 = NaiveDate::from_ymd_opt(y, 7, 3).expect("valid date");
    let christmas_eve = NaiveDate::from_ymd_opt(y, 12, 24).expect("valid date");
    (date == july_3
        && matches!(
            date.weekday(),
            Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
        ))
        || date == nth_weekday(y, 11, Weekday::Thu, 4) + Duration::days(1)
        || (date == christmas_eve
            && matches!(
                date.weekday(),
                Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
            ))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[rstest]
    #[case(2019, "2019-04-21")]
    #[case(2024, "2024-03-31")]
    #[case(2025, "2025-04-20")]
    #[case(2038, "2038-04-25")]
    #[case(2008, "2008-03-23")]
    fn test_easter_sunday_known_years(#[case] year: i32, #[case] want: &str) {
        assert_eq!(easter_sunday(year), d(want));
    }

    /// The NYSE's published holiday lists, 2022–2026.
    #[rstest]
    #[case(2022, &["2022-01-17", "2022-02-21", "2022-04-15", "2022-05-30", "2022-06-20", "2022-07-04", "2022-09-05", "2022-11-24", "2022-12-26"])]
    #[case(2023, &["2023-01-02", "2023-01-16", "2023-02-20", "2023-04-07", "2023-05-29", "2023-06-19", "2023-07-04", "2023-09-04", "2023-11-23", "2023-12-25"])]
    #[case(2024, &["2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19", "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25"])]
    #[case(2025, &["2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"])]
    #[case(2026, &["2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"])]
    fn test_nyse_holidays_match_published_lists(#[case] year: i32, #[case] want: &[&str]) {
        let got: Vec<String> = d(&format!("{year}-01-01"))
            .iter_days()
            .take_while(|x| x.year() == year)
            .filter(|x| !matches!(x.weekday(), Weekday::Sat | Weekday::Sun))
            .filter(|x| !Calendar::Nyse.is_trading_day(*x))
            .map(|x| x.to_string())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn test_nyse_new_year_on_saturday_is_not_observed_on_friday() {
        // 2022-01-01 was a Saturday: Friday 2021-12-31 traded.
        assert!(Calendar::Nyse.is_trading_day(d("2021-12-31")));
        assert_eq!(
            Calendar::Nyse.holiday(d("2021-12-24")),
            Some("Christmas Day")
        );
    }

    #[rstest]
    #[case("2024-07-03", true)]
    #[case("2024-11-29", true)]
    #[case("2024-12-24", true)]
    #[case("2025-12-24", true)]
    #[case("2021-12-24", false)] // the observed Christmas holiday
    #[case("2020-07-02", false)] // July 3 2020 was the observed holiday
    #[case("2024-12-23", false)]
    fn test_nyse_early_closes(#[case] date: &str, #[case] early: bool) {
        assert_eq!(Calendar::Nyse.is_early_close(d(date)), early);
        if early {
            let s = Calendar::Nyse.session(d(date)).unwrap();
            let local = s.close.to_datetime().with_timezone(&New_York);
            assert_eq!(
                local.time(),
                NaiveTime::from_hms_opt(13, 0, 0).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn test_nyse_session_hours_follow_dst() {
        let winter = Calendar::Nyse.session(d("2024-01-10")).unwrap();
        assert_eq!(winter.open.to_rfc3339(), "2024-01-10T14:30:00Z");
        assert_eq!(winter.close.to_rfc3339(), "2024-01-10T21:00:00Z");
        let summer = Calendar::Nyse.session(d("2024-07-10")).unwrap();
        assert_eq!(summer.open.to_rfc3339(), "2024-07-10T13:30:00Z");
        assert!(Calendar::Nyse.is_open(UnixNanos::parse("2024-07-10T15:00:00Z").unwrap()));
        assert!(!Calendar::Nyse.is_open(UnixNanos::parse("2024-07-10T21:00:00Z").unwrap()));
        assert!(Calendar::Nyse.session(d("2024-12-25")).is_none());
        assert_eq!(
            Calendar::Nyse
                .sessions(d("2024-12-23"), d("2024-12-29"))
                .len(),
            4
        );
    }

    #[test]
    fn test_always_calendar_and_parsing() {
        assert!(Calendar::Always.is_trading_day(d("2024-12-25")));
        assert_eq!(
            Calendar::Always
                .sessions(d("2024-12-23"), d("2024-12-29"))
                .len(),
            7
        );
        assert_eq!("NYSE".parse::<Calendar>().unwrap(), Calendar::Nyse);
        assert_eq!("24/7".parse::<Calendar>().unwrap(), Calendar::Always);
        assert!(
            "lse"
                .parse::<Calendar>()
                .unwrap_err()
                .to_string()
                .contains("lse")
        );
    }
}
