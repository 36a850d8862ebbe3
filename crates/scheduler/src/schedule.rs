//! Schedules: when a job or pipeline starts.
//!
//! A schedule is a cron expression read in an IANA time zone, filtered by a
//! trading [`Calendar`] and an optional trading-week window, with a catch-up
//! policy for runs missed while nothing was running. Everything here is pure
//! (no I/O, no clock): [`Schedule::runs_between`] answers `schedule
//! simulate`, and [`Schedule::plan`] tells the scheduler loop what to start
//! at a given instant, so both are tested on any instant without waiting.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;
use tessera_core::time::NANOS_PER_SECOND;

use crate::calendar::Calendar;
use crate::error::{Error, Result};

/// One `[[schedules]]` entry as written in the configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Unique name, e.g. `eod`.
    pub name: String,
    /// Job types run one after another; a failed step stops the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Vec<String>>,
    /// A single job type (instead of `pipeline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Five fields: minute hour day-of-month month day-of-week.
    pub cron: String,
    /// IANA time zone the cron expression and the window are read in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// `nyse` (weekdays except NYSE holidays) or `always`.
    #[serde(default = "default_calendar")]
    pub calendar: String,
    /// Start of the trading-week window, e.g. `mon 00:00` (optional, with `week_end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_start: Option<String>,
    /// End of the trading-week window (exclusive), e.g. `fri 22:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_end: Option<String>,
    /// After downtime: `skip` missed runs, or run the latest one `once`.
    #[serde(default = "default_catch_up")]
    pub catch_up: String,
    /// Parameters per step, keyed by job type (`[schedules.params.run_systems]`);
    /// a step without an entry gets `{}` (its defaults). The binary validates
    /// each table against the job type's parameters when the config loads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_calendar() -> String {
    "always".into()
}
fn default_catch_up() -> String {
    "skip".into()
}

impl ScheduleConfig {
    /// The schedule `tessera up` runs when the configuration names none: the
    /// end-of-day pipeline at 18:00 New York time on NYSE trading days.
    #[must_use]
    pub fn default_eod() -> Self {
        Self {
            name: "eod".into(),
            pipeline: Some(
                [
                    "daily_price_update",
                    "run_systems",
                    "order_generation",
                    "cleaners",
                    "reports",
                ]
                .map(String::from)
                .to_vec(),
            ),
            job: None,
            cron: "0 18 * * *".into(),
            timezone: "America/New_York".into(),
            calendar: "nyse".into(),
            week_start: None,
            week_end: None,
            catch_up: "skip".into(),
            params: BTreeMap::new(),
        }
    }
}

/// What to do with runs whose time passed while no scheduler was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CatchUp {
    /// Record them as missed and run none.
    Skip,
    /// Run the most recent missed one, once; record the others as missed.
    Once,
}

impl FromStr for CatchUp {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip" => Ok(Self::Skip),
            "once" => Ok(Self::Once),
            _ => Err(format!("catch_up = {s:?}: expected \"skip\" or \"once\"")),
        }
    }
}

impl fmt::Display for CatchUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Skip => "skip",
            Self::Once => "once",
        })
    }
}

/// A weekly window `[start, end)` in local time, e.g. `mon 00:00` to `fri 22:00`.
/// A window whose end comes before its start wraps over the weekend
/// (`sun 17:00` to `fri 17:00`, the futures week).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeekWindow {
    start: u32,
    end: u32,
}

/// Minutes since Monday 00:00 of a weekday and time.
fn minute_of_week(day: Weekday, time: NaiveTime) -> u32 {
    day.num_days_from_monday() * 24 * 60 + time.hour() * 60 + time.minute()
}

fn parse_week_point(s: &str) -> std::result::Result<u32, String> {
    let (day, time) = s
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("{s:?}: expected \"<day> HH:MM\", e.g. \"mon 00:00\""))?;
    let day: Weekday = day
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: unknown day {day:?} (mon, tue, … sun)"))?;
    let time = NaiveTime::parse_from_str(time.trim(), "%H:%M")
        .map_err(|_| format!("{s:?}: expected a time HH:MM after the day"))?;
    Ok(minute_of_week(day, time))
}

impl WeekWindow {
    /// Parse `week_start` / `week_end` values such as `mon 00:00`.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn parse(start: &str, end: &str) -> std::result::Result<Self, String> {
        let w = Self {
            start: parse_week_point(start).map_err(|e| format!("week_start = {e}"))?,
            end: parse_week_point(end).map_err(|e| format!("week_end = {e}"))?,
        };
        if w.start == w.end {
            return Err(format!(
                "week_start {start:?} equals week_end {end:?}: the window would be empty"
            ));
        }
        Ok(w)
    }

    /// Whether a local weekday and time lies inside the window.
    #[must_use]
    pub fn contains(&self, day: Weekday, time: NaiveTime) -> bool {
        let m = minute_of_week(day, time);
        if self.start < self.end {
            self.start <= m && m < self.end
        } else {
            m >= self.start || m < self.end
        }
    }
}

/// A validated schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    config: ScheduleConfig,
    steps: Vec<String>,
    cron: Cron,
    tz: Tz,
    calendar: Calendar,
    window: Option<WeekWindow>,
    catch_up: CatchUp,
}

/// What the scheduler should do for one schedule at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Slots to start now, oldest first.
    pub run: Vec<UnixNanos>,
    /// Slots missed while nothing ran, not started (only the latest one is
    /// listed, with the count in `missed_count`, so a week of downtime on a
    /// one-minute schedule does not write ten thousand rows).
    pub missed: Option<UnixNanos>,
    /// How many slots were missed and not run.
    pub missed_count: usize,
}

/// At most this many candidate cron times are examined in a row without one
/// passing the calendar and window, so a schedule that can never fire
/// (e.g. `0 3 * * sat` on the NYSE calendar) cannot loop forever.
const MAX_REJECTED_CANDIDATES: usize = 100_000;

impl Schedule {
    /// Validate a configured schedule.
    ///
    /// # Errors
    /// [`Error::InvalidSchedule`] naming the key and the reason.
    pub fn from_config(config: &ScheduleConfig) -> Result<Self> {
        let bad = |reason: String| Error::InvalidSchedule {
            schedule: config.name.clone(),
            reason,
        };
        if config.name.trim().is_empty() {
            return Err(bad("name is empty".into()));
        }
        let steps = match (&config.pipeline, &config.job) {
            (Some(p), None) if !p.is_empty() => p.clone(),
            (Some(_), None) => return Err(bad("pipeline is empty".into())),
            (None, Some(j)) => vec![j.clone()],
            (Some(_), Some(_)) => {
                return Err(bad("set either `pipeline` or `job`, not both".into()));
            }
            (None, None) => return Err(bad("set `pipeline = [...]` or `job = \"...\"`".into())),
        };
        if let Some(s) = steps.iter().find(|s| s.trim().is_empty()) {
            return Err(bad(format!("empty job type {s:?} in the pipeline")));
        }
        for (step, p) in &config.params {
            if !steps.contains(step) {
                return Err(bad(format!(
                    "params.{step}: {step:?} is not a step of this schedule ({})",
                    steps.join(", ")
                )));
            }
            if !p.is_object() {
                return Err(bad(format!(
                    "params.{step}: expected a table of parameters, e.g. [schedules.params.{step}]"
                )));
            }
        }
        if config.cron.split_whitespace().count() != 5 {
            return Err(bad(format!(
                "cron = {:?}: expected five fields: minute hour day-of-month month day-of-week",
                config.cron
            )));
        }
        let cron = Cron::from_str(&config.cron)
            .map_err(|e| bad(format!("cron = {:?}: {e}", config.cron)))?;
        let tz: Tz = config.timezone.parse().map_err(|_| {
            bad(format!(
                "timezone = {:?}: expected an IANA time zone such as America/New_York or UTC",
                config.timezone
            ))
        })?;
        let calendar: Calendar = config
            .calendar
            .parse()
            .map_err(|e: Error| bad(format!("calendar: {e}")))?;
        let window = match (&config.week_start, &config.week_end) {
            (Some(s), Some(e)) => Some(WeekWindow::parse(s, e).map_err(bad)?),
            (None, None) => None,
            _ => return Err(bad("set both week_start and week_end, or neither".into())),
        };
        let catch_up = config.catch_up.parse().map_err(bad)?;
        Ok(Self {
            config: config.clone(),
            steps,
            cron,
            tz,
            calendar,
            window,
            catch_up,
        })
    }

    /// The schedule's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The job types run, in order (one for a `job` schedule).
    #[must_use]
    pub fn steps(&self) -> &[String] {
        &self.steps
    }

    /// The configured parameters of `step` as JSON text (`{}` when none).
    #[must_use]
    pub fn step_params(&self, step: &str) -> String {
        self.config
            .params
            .get(step)
            .map_or_else(|| "{}".into(), serde_json::Value::to_string)
    }

    /// The first job type.
    #[must_use]
    pub fn first_job(&self) -> &str {
        &self.steps[0]
    }

    /// The configuration it was built from.
    #[must_use]
    pub fn config(&self) -> &ScheduleConfig {
        &self.config
    }

    /// The time zone.
    #[must_use]
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The calendar.
    #[must_use]
    pub fn calendar(&self) -> Calendar {
        self.calendar
    }

    /// The catch-up policy.
    #[must_use]
    pub fn catch_up(&self) -> CatchUp {
        self.catch_up
    }

    /// Whether a cron time passes the calendar (its local date is a trading
    /// day) and the trading-week window.
    fn admits(&self, local: &DateTime<Tz>) -> bool {
        self.calendar.is_trading_day(local.date_naive())
            && self
                .window
                .is_none_or(|w| w.contains(local.weekday(), local.time()))
    }

    /// The first run strictly after `t`, or `None` when there is none.
    #[must_use]
    pub fn next_after(&self, t: UnixNanos) -> Option<UnixNanos> {
        // Whole seconds: croner keeps the cursor's fraction in what it returns.
        let whole = UnixNanos(t.0.div_euclid(NANOS_PER_SECOND) * NANOS_PER_SECOND);
        let mut cursor = self.tz.from_utc_datetime(&whole.to_datetime().naive_utc());
        for _ in 0..MAX_REJECTED_CANDIDATES {
            let next = self.cron.find_next_occurrence(&cursor, false).ok()?;
            if self.admits(&next) {
                return UnixNanos::from_datetime(&next).ok();
            }
            cursor = next;
        }
        None
    }

    /// Every run in `[from, to)`, oldest first.
    #[must_use]
    pub fn runs_between(&self, from: UnixNanos, to: UnixNanos) -> Vec<UnixNanos> {
        let mut out = Vec::new();
        let mut t = UnixNanos(from.0.saturating_sub(1));
        while let Some(next) = self.next_after(t) {
            if next >= to {
                break;
            }
            out.push(next);
            t = next;
        }
        out
    }

    /// What to start at `now`, given that every slot up to `last` was
    /// already handled. A slot at most `grace_nanos` old is on time and
    /// runs; older slots were missed (the scheduler was down) and follow the
    /// catch-up policy: `skip` runs none of them, `once` runs the latest
    /// one unless an on-time run starts anyway.
    #[must_use]
    pub fn plan(&self, last: UnixNanos, now: UnixNanos, grace_nanos: i64) -> Plan {
        let mut plan = Plan::default();
        let mut missed_latest = None;
        let mut t = last;
        while let Some(slot) = self.next_after(t) {
            if slot > now {
                break;
            }
            if now.0 - slot.0 <= grace_nanos {
                plan.run.push(slot);
            } else {
                plan.missed_count += 1;
                missed_latest = Some(slot);
            }
            t = slot;
        }
        if let Some(latest) = missed_latest {
            if self.catch_up == CatchUp::Once && plan.run.is_empty() {
                plan.run.insert(0, latest);
                plan.missed_count -= 1;
                if plan.missed_count > 0 {
                    plan.missed = self.runs_between(last, latest).last().copied();
                }
            } else {
                plan.missed = Some(latest);
            }
        }
        plan
    }
}

/// One run `schedule simulate` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimulatedRun {
    /// Schedule name.
    pub schedule: String,
    /// The job started (a pipeline's first step).
    pub job: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    #[serde(skip)]
    /// When, as an instant (for sorting).
    pub instant: UnixNanos,
}

/// Every run the schedules would start in `[from, to)`, ordered by time then
/// schedule name. Nothing is run.
#[must_use]
pub fn simulate(schedules: &[Schedule], from: UnixNanos, to: UnixNanos) -> Vec<SimulatedRun> {
    let mut out: Vec<SimulatedRun> = schedules
        .iter()
        .flat_map(|s| {
            s.runs_between(from, to).into_iter().map(|at| SimulatedRun {
                schedule: s.name().to_string(),
                job: s.first_job().to_string(),
                at: at.to_rfc3339(),
                instant: at,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.instant
            .cmp(&b.instant)
            .then_with(|| a.schedule.cmp(&b.schedule))
    });
    out
}

/// Midnight at the start of `date` in `tz` (the first instant of that local
/// day, which differs from 00:00 only where a DST change skips midnight).
#[must_use]
pub fn local_midnight(tz: Tz, date: chrono::NaiveDate) -> UnixNanos {
    let naive = date.and_time(NaiveTime::MIN);
    let dt = tz
        .from_local_datetime(&naive)
        .earliest()
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive).with_timezone(&tz));
    UnixNanos::from_datetime(&dt).unwrap_or(UnixNanos::EPOCH)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn t(s: &str) -> UnixNanos {
        UnixNanos::parse(s).unwrap()
    }

    fn eod() -> Schedule {
        Schedule::from_config(&ScheduleConfig::default_eod()).unwrap()
    }

    #[test]
    fn test_schedule_params_only_for_its_steps_and_as_tables() {
        let mut c = ScheduleConfig::default_eod();
        c.params.insert(
            "run_systems".into(),
            serde_json::json!({"strategy": "ewmac"}),
        );
        let s = Schedule::from_config(&c).unwrap();
        assert_eq!(s.step_params("run_systems"), r#"{"strategy":"ewmac"}"#);
        assert_eq!(s.step_params("reports"), "{}");
        c.params.insert("backtest".into(), serde_json::json!({}));
        let e = Schedule::from_config(&c).unwrap_err().to_string();
        assert!(
            e.contains("params.backtest") && e.contains("not a step"),
            "{e}"
        );
        c.params.remove("backtest");
        c.params.insert("reports".into(), serde_json::json!(3));
        let e = Schedule::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("params.reports") && e.contains("table"), "{e}");
    }

    #[test]
    fn test_schedule_eod_skips_weekends_and_holidays_in_utc() {
        let runs = eod().runs_between(t("2024-12-20"), t("2025-01-04"));
        let got: Vec<String> = runs.iter().map(|r| r.to_rfc3339()).collect();
        assert_eq!(
            got,
            [
                "2024-12-20T23:00:00Z",
                "2024-12-23T23:00:00Z",
                "2024-12-24T23:00:00Z",
                "2024-12-26T23:00:00Z",
                "2024-12-27T23:00:00Z",
                "2024-12-30T23:00:00Z",
                "2024-12-31T23:00:00Z",
                "2025-01-02T23:00:00Z",
                "2025-01-03T23:00:00Z",
            ]
        );
    }

    #[test]
    fn test_schedule_follows_dst() {
        let runs = eod().runs_between(t("2024-03-08"), t("2024-03-12"));
        let got: Vec<String> = runs.iter().map(|r| r.to_rfc3339()).collect();
        assert_eq!(got, ["2024-03-08T23:00:00Z", "2024-03-11T22:00:00Z"]);
    }

    #[test]
    fn test_schedule_week_window_wraps_and_is_half_open() {
        let mut c = ScheduleConfig::default_eod();
        c.cron = "0 * * * *".into();
        c.calendar = "always".into();
        c.timezone = "UTC".into();
        c.week_start = Some("sun 22:00".into());
        c.week_end = Some("fri 21:00".into());
        let s = Schedule::from_config(&c).unwrap();
        // Friday 2024-01-05 20:00 is the last; Sunday 2024-01-07 22:00 the next.
        assert_eq!(
            s.next_after(t("2024-01-05T19:30:00Z")),
            Some(t("2024-01-05T20:00:00Z"))
        );
        assert_eq!(
            s.next_after(t("2024-01-05T20:00:00Z")),
            Some(t("2024-01-07T22:00:00Z"))
        );
    }

    #[rstest]
    #[case("cron", |c: &mut ScheduleConfig| c.cron = "0 18 * *".into())]
    #[case("cron", |c: &mut ScheduleConfig| c.cron = "61 18 * * *".into())]
    #[case("timezone", |c: &mut ScheduleConfig| c.timezone = "Mars/Olympus".into())]
    #[case("calendar", |c: &mut ScheduleConfig| c.calendar = "lse".into())]
    #[case("week_end", |c: &mut ScheduleConfig| c.week_start = Some("mon 00:00".into()))]
    #[case("week_start", |c: &mut ScheduleConfig| { c.week_start = Some("someday 00:00".into()); c.week_end = Some("fri 22:00".into()); })]
    #[case("catch_up", |c: &mut ScheduleConfig| c.catch_up = "all".into())]
    #[case("job", |c: &mut ScheduleConfig| c.job = Some("reports".into()))]
    fn test_schedule_invalid_config_names_the_key(
        #[case] key: &str,
        #[case] change: fn(&mut ScheduleConfig),
    ) {
        let mut c = ScheduleConfig::default_eod();
        change(&mut c);
        let e = Schedule::from_config(&c).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains("eod"), "{e}");
    }

    #[test]
    fn test_schedule_plan_on_time_and_catch_up() {
        let s = eod();
        let minute = 60_000_000_000;
        // On time: the 18:00 run seen at 18:00:30.
        let p = s.plan(t("2024-12-20T22:59:00Z"), t("2024-12-20T23:00:30Z"), minute);
        assert_eq!(p.run, [t("2024-12-20T23:00:00Z")]);
        assert_eq!(p.missed_count, 0);
        // Down from Friday 17:00 to Wednesday 12:00: Fri, Mon, Tue missed.
        let last = t("2024-12-20T22:00:00Z");
        let now = t("2024-12-25T17:00:00Z");
        let p = s.plan(last, now, minute);
        assert!(p.run.is_empty());
        assert_eq!(
            (p.missed, p.missed_count),
            (Some(t("2024-12-24T23:00:00Z")), 3)
        );
        let mut once = ScheduleConfig::default_eod();
        once.catch_up = "once".into();
        let p = Schedule::from_config(&once)
            .unwrap()
            .plan(last, now, minute);
        assert_eq!(p.run, [t("2024-12-24T23:00:00Z")]);
        assert_eq!(
            (p.missed, p.missed_count),
            (Some(t("2024-12-23T23:00:00Z")), 2)
        );
    }

    #[test]
    fn test_simulate_orders_runs_and_names_the_first_step() {
        let mut r = ScheduleConfig::default_eod();
        r.name = "hourly".into();
        r.pipeline = None;
        r.job = Some("reports".into());
        r.cron = "0 * * * *".into();
        r.calendar = "always".into();
        let runs = simulate(
            &[eod(), Schedule::from_config(&r).unwrap()],
            t("2024-12-20T21:30:00Z"),
            t("2024-12-20T23:30:00Z"),
        );
        let got: Vec<(&str, &str, &str)> = runs
            .iter()
            .map(|r| (r.schedule.as_str(), r.job.as_str(), r.at.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("hourly", "reports", "2024-12-20T22:00:00Z"),
                ("eod", "daily_price_update", "2024-12-20T23:00:00Z"),
                ("hourly", "reports", "2024-12-20T23:00:00Z"),
            ]
        );
    }
}
