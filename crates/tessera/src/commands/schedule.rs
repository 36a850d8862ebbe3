//! `tessera schedule list|simulate`: the configured schedules and the runs they would start.

use anyhow::{Context, Result, bail};
use chrono::{Duration, NaiveDate};
use clap::{Args, Subcommand};
use serde_json::json;
use tessera_core::{Clock, SystemClock, UnixNanos};
use tessera_scheduler::schedule::local_midnight;
use tessera_scheduler::{Schedule, ScheduleConfig, SimulatedRun};

use super::Ctx;
use crate::output::{print_json, print_table};

/// `tessera schedule …`
#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// List the configured schedules (the default `eod` pipeline when the config names none) with their next run.
    List,
    /// Print every run the schedules would start between two dates, without running anything.
    Simulate(SimulateArgs),
}

/// `tessera schedule simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// First day (YYYY-MM-DD, in each schedule's time zone) or an RFC 3339 instant.
    #[arg(long, value_name = "DATE")]
    pub(crate) from: String,
    /// Last day, included (YYYY-MM-DD), or an RFC 3339 instant, excluded.
    #[arg(long, value_name = "DATE")]
    pub(crate) to: String,
}

/// The schedules in effect: the configured ones, or the default EOD pipeline.
pub(crate) fn effective(ctx: &Ctx) -> Result<Vec<Schedule>> {
    let configs = if ctx.config.schedules.is_empty() {
        vec![ScheduleConfig::default_eod()]
    } else {
        ctx.config.schedules.clone()
    };
    let mut names = std::collections::BTreeSet::new();
    let registry = super::jobs::registry(ctx);
    configs
        .iter()
        .map(|c| {
            if !names.insert(c.name.clone()) {
                bail!("schedule {:?} is defined twice in [[schedules]]", c.name);
            }
            let s = Schedule::from_config(c).context("invalid [[schedules]] entry")?;
            // Per-step parameters are checked here, as `jobs run --param` checks them.
            for (step, p) in &c.params {
                registry.validate(step, p).with_context(|| {
                    format!(
                        "invalid [[schedules]] entry: schedule {:?}: [schedules.params.{step}]",
                        c.name
                    )
                })?;
            }
            Ok(s)
        })
        .collect()
}

pub(crate) async fn run(ctx: &Ctx, cmd: ScheduleCommand) -> Result<()> {
    match cmd {
        ScheduleCommand::List => list(ctx),
        ScheduleCommand::Simulate(a) => simulate(ctx, &a),
    }
}

fn list(ctx: &Ctx) -> Result<()> {
    let schedules = effective(ctx)?;
    let now = SystemClock.now();
    let items: Vec<_> = schedules
        .iter()
        .map(|s| {
            let c = s.config();
            json!({
                "name": s.name(),
                "job": s.first_job(),
                "pipeline": s.steps(),
                "cron": c.cron,
                "timezone": c.timezone,
                "calendar": s.calendar().to_string(),
                "week_start": c.week_start,
                "week_end": c.week_end,
                "catch_up": s.catch_up().to_string(),
                "next_run": s.next_after(now).map(UnixNanos::to_rfc3339),
            })
        })
        .collect();
    if ctx.global.json {
        return print_json(&items);
    }
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| {
            let c = s.config();
            vec![
                s.name().to_string(),
                s.steps().join(" → "),
                c.cron.clone(),
                c.timezone.clone(),
                s.calendar().to_string(),
                match (&c.week_start, &c.week_end) {
                    (Some(a), Some(b)) => format!("{a} – {b}"),
                    _ => "-".into(),
                },
                s.catch_up().to_string(),
                s.next_after(now).map_or("-".into(), UnixNanos::to_rfc3339),
            ]
        })
        .collect();
    print_table(
        &[
            "NAME", "JOBS", "CRON", "TIMEZONE", "CALENDAR", "WEEK", "CATCH_UP", "NEXT_RUN",
        ],
        &rows,
    );
    Ok(())
}

/// A `--from`/`--to` value: a calendar day (read in each schedule's zone) or an instant.
enum Bound {
    Day(NaiveDate),
    Instant(UnixNanos),
}

fn bound(flag: &str, s: &str) -> Result<Bound> {
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return Ok(Bound::Day(d));
    }
    UnixNanos::parse(s)
        .map(Bound::Instant)
        .with_context(|| format!("--{flag} {s:?}: expected YYYY-MM-DD or an RFC 3339 time"))
}

fn simulate(ctx: &Ctx, a: &SimulateArgs) -> Result<()> {
    let schedules = effective(ctx)?;
    let from = bound("from", &a.from)?;
    let to = bound("to", &a.to)?;
    let mut runs: Vec<SimulatedRun> = Vec::new();
    for s in &schedules {
        let tz = s.timezone();
        let start = match from {
            Bound::Day(d) => local_midnight(tz, d),
            Bound::Instant(t) => t,
        };
        let end = match to {
            Bound::Day(d) => local_midnight(tz, d + Duration::days(1)),
            Bound::Instant(t) => t,
        };
        if end < start {
            bail!("--to {} is before --from {}", a.to, a.from);
        }
        runs.extend(tessera_scheduler::simulate(
            std::slice::from_ref(s),
            start,
            end,
        ));
    }
    runs.sort_by(|x, y| {
        x.instant
            .cmp(&y.instant)
            .then_with(|| x.schedule.cmp(&y.schedule))
    });
    if ctx.global.json {
        return print_json(&runs);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| vec![r.at.clone(), r.schedule.clone(), r.job.clone()])
        .collect();
    print_table(&["AT", "SCHEDULE", "JOB"], &rows);
    eprintln!("{} run(s); nothing was run", runs.len());
    Ok(())
}
