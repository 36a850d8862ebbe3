//! `tessera indicators list` and `tessera indicators compute`.
//!
//! `compute` reads bars from a CSV file (`timestamp,open,high,low,close,volume`) or from the
//! database, runs [`tessera_indicators::compute_specs`] and writes CSV: `timestamp` (RFC 3339
//! UTC), then one column per indicator output, warm-up cells empty. The clap definitions live
//! here rather than in `cli.rs` so this command group stays one file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tessera_core::{TimeRange, UnixNanos};
use tessera_indicators::registry::{
    INDICATORS, OhlcvColumns, OutputColumn, compute_specs, parse_specs,
};
use tessera_model::{Interval, Symbol, Venue};

use super::Ctx;
use crate::output::{print_json, print_table};

/// `tessera indicators …`
#[derive(Debug, Subcommand)]
pub(crate) enum IndicatorsCommand {
    /// List every indicator: name, parameters with TA-Lib defaults, outputs.
    List,
    /// Compute indicators over bars and write CSV.
    Compute(ComputeArgs),
}

/// `tessera indicators compute` flags.
#[derive(Debug, Args)]
pub(crate) struct ComputeArgs {
    /// Indicator specs such as sma:20 macd:12,26,9 bbands:20,2,2 obv (see `indicators list`).
    #[arg(required = true, value_name = "SPEC")]
    pub(crate) specs: Vec<String>,
    /// CSV file with the header timestamp,open,high,low,close,volume.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["symbol", "venue", "interval", "from", "to"])]
    pub(crate) csv: Option<PathBuf>,
    /// Stored instrument's symbol.
    #[arg(long, required_unless_present = "csv")]
    pub(crate) symbol: Option<String>,
    /// Its venue (needed when the symbol is listed on several).
    #[arg(long)]
    pub(crate) venue: Option<String>,
    /// Bar interval of the stored bars (default 1d).
    #[arg(long)]
    pub(crate) interval: Option<String>,
    /// First bar time (inclusive).
    #[arg(long, value_name = "T")]
    pub(crate) from: Option<String>,
    /// Last bar time (exclusive).
    #[arg(long, value_name = "T")]
    pub(crate) to: Option<String>,
    /// Write the CSV here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// Bars as columns of `f64`, with their timestamps.
#[derive(Debug, Default)]
struct Columns {
    ts: Vec<UnixNanos>,
    cols: [Vec<f64>; 5],
}

pub(crate) async fn run(ctx: &Ctx, c: IndicatorsCommand) -> Result<()> {
    match c {
        IndicatorsCommand::List => list(ctx),
        IndicatorsCommand::Compute(a) => compute(ctx, a).await,
    }
}

fn list(ctx: &Ctx) -> Result<()> {
    if ctx.global.json {
        let items: Vec<Value> = INDICATORS
            .iter()
            .map(|i| {
                json!({
                    "name": i.name,
                    "description": i.description,
                    "parameters": i.params.iter().map(|p| json!({"name": p.name, "default": p.default})).collect::<Vec<_>>(),
                    "inputs": i.inputs,
                    "outputs": i.outputs,
                    "talib": i.talib,
                })
            })
            .collect();
        return print_json(&items);
    }
    let rows: Vec<Vec<String>> = INDICATORS
        .iter()
        .map(|i| {
            let params: Vec<String> = i
                .params
                .iter()
                .map(|p| format!("{}={}", p.name, p.default))
                .collect();
            vec![
                i.name.to_owned(),
                params.join(","),
                i.outputs.join(","),
                i.description.to_owned(),
            ]
        })
        .collect();
    print_table(&["NAME", "PARAMETERS", "OUTPUTS", "DESCRIPTION"], &rows);
    Ok(())
}

async fn compute(ctx: &Ctx, a: ComputeArgs) -> Result<()> {
    // Parse the specs before touching any data, so a typo fails fast with the list of names.
    let specs = parse_specs(&a.specs)?;
    let bars = match &a.csv {
        Some(path) => {
            read_csv(path).with_context(|| format!("cannot read bars from {}", path.display()))?
        }
        None => read_store(ctx, &a).await?,
    };
    let [o, h, l, c, v] = &bars.cols;
    let columns = compute_specs(&specs, &OhlcvColumns::new(o, h, l, c, v)?)?;
    match &a.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            write_csv(&mut w, &bars.ts, &columns)?;
            w.flush()?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            write_csv(&mut w, &bars.ts, &columns)?;
            w.flush()?;
        }
    }
    Ok(())
}

fn write_csv(w: &mut impl Write, ts: &[UnixNanos], columns: &[OutputColumn]) -> Result<()> {
    write!(w, "timestamp")?;
    for c in columns {
        write!(w, ",{}", c.name)?;
    }
    writeln!(w)?;
    for (i, t) in ts.iter().enumerate() {
        write!(w, "{}", t.to_rfc3339())?;
        for c in columns {
            let v = c.values[i];
            if v.is_nan() {
                write!(w, ",")?;
            } else {
                write!(w, ",{v}")?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}

/// Reads `timestamp,open,high,low,close,volume` (the first column may also be named `date`,
/// `time` or `open_time`); timestamps in any form `UnixNanos::parse` accepts, ascending.
fn read_csv(path: &Path) -> Result<Columns> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines().enumerate();
    let header = lines
        .next()
        .map(|(_, h)| h.trim().trim_start_matches('\u{feff}'))
        .unwrap_or("");
    let names: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if names.len() < 6
        || names[1..6] != ["open", "high", "low", "close", "volume"]
        || !matches!(
            names[0].as_str(),
            "timestamp" | "date" | "time" | "open_time"
        )
    {
        bail!("line 1: expected the header timestamp,open,high,low,close,volume, found {header:?}");
    }
    let mut out = Columns::default();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let mut cells = line.split(',');
        let ts = cells.next().unwrap_or("").trim();
        let t = UnixNanos::parse(ts).with_context(|| format!("line {}: timestamp", i + 1))?;
        if out.ts.last().is_some_and(|last| *last >= t) {
            bail!(
                "line {}: timestamp {ts} is not after the previous row",
                i + 1
            );
        }
        out.ts.push(t);
        for (k, col) in out.cols.iter_mut().enumerate() {
            let cell = cells
                .next()
                .with_context(|| format!("line {}: missing column {}", i + 1, names[k + 1]))?;
            let v: f64 = cell.trim().parse().with_context(|| {
                format!(
                    "line {}: {} = {cell:?} is not a number",
                    i + 1,
                    names[k + 1]
                )
            })?;
            col.push(v);
        }
    }
    Ok(out)
}

/// Reads stored bars of `--symbol` in `[--from, --to)`, stamped with their open time.
async fn read_store(ctx: &Ctx, a: &ComputeArgs) -> Result<Columns> {
    let Some(symbol) = &a.symbol else {
        bail!("give the data: --csv FILE, or --symbol S --venue V --interval I")
    };
    let interval = Interval::parse(a.interval.as_deref().unwrap_or("1d")).context("--interval")?;
    let from = a
        .from
        .as_deref()
        .map(UnixNanos::parse)
        .transpose()
        .context("--from")?;
    let to =
        a.to.as_deref()
            .map(UnixNanos::parse)
            .transpose()
            .context("--to")?;
    let range = TimeRange::from_bounds(from, to)?;
    let store = ctx.store().await?;
    let inst = store
        .find_instrument(
            Symbol::new(symbol)?,
            a.venue.as_deref().map(Venue::new).transpose()?,
        )
        .await?;
    let bars = store.bars_range(&inst.id, interval, range).await?;
    if bars.is_empty() {
        bail!(
            "no {interval} bars stored for {} in that range; collect or import them first",
            inst.id
        );
    }
    let mut out = Columns::default();
    for b in &bars {
        out.ts.push(b.open_time);
        let [o, h, l, c, v] = &mut out.cols;
        o.push(b.open.to_f64());
        h.push(b.high.to_f64());
        l.push(b.low.to_f64());
        c.push(b.close.to_f64());
        v.push(b.volume.to_f64());
    }
    Ok(out)
}
