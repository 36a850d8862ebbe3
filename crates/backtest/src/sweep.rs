//! Parameter sweeps: grid or random search, in parallel on all cores.
//!
//! Every run replays the same loaded [`BarSeries`] (shared by reference, never
//! copied); for `sma_cross` the moving averages of each distinct length are
//! computed once and shared by all runs that use them. Results are sorted by
//! the chosen metric, best first (higher is better; runs where the metric is
//! undefined come last).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tessera_analysis::Stats;
use tessera_engine::BarSeries;
use tessera_strategy::Params;

use crate::error::{Error, Result};
use crate::precompute::Precomputed;
use crate::run::{BacktestConfig, run_engine, stats_of};

/// Values to try per parameter, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// `(name, values)`; values are text as on the command line.
    pub axes: Vec<(String, Vec<String>)>,
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl Grid {
    /// Parse `K=START:END:STEP` (inclusive range) or `K=a,b,c` items.
    ///
    /// # Errors
    /// [`Error::Config`] for malformed items, a non-positive step or an empty range.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let mut axes = Vec::new();
        for item in items {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                Error::Config(format!(
                    "grid item {item:?}: expected K=START:END:STEP or K=a,b,c"
                ))
            })?;
            let values = if v.contains(':') {
                let parts: Vec<f64> = v
                    .split(':')
                    .map(|p| {
                        p.trim().parse::<f64>().map_err(|_| {
                            Error::Config(format!("grid item {item:?}: {p:?} is not a number"))
                        })
                    })
                    .collect::<Result<_>>()?;
                let [start, end, step] = parts[..] else {
                    return Err(Error::Config(format!(
                        "grid item {item:?}: expected START:END:STEP"
                    )));
                };
                if step <= 0.0 || end < start {
                    return Err(Error::Config(format!(
                        "grid item {item:?}: need a positive step and START ≤ END"
                    )));
                }
                let n = ((end - start) / step + 1e-9).floor() as usize + 1;
                (0..n).map(|i| fmt_num(start + step * i as f64)).collect()
            } else {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            };
            if values.is_empty() {
                return Err(Error::Config(format!("grid item {item:?} gives no values")));
            }
            axes.push((k.trim().to_string(), values));
        }
        Ok(Self { axes })
    }

    /// Every combination, first axis slowest, merged over `base`.
    #[must_use]
    pub fn combinations(&self, base: &Params) -> Vec<Params> {
        let mut out = vec![base.clone()];
        for (k, values) in &self.axes {
            out = out
                .iter()
                .flat_map(|p| values.iter().map(move |v| p.clone().with(k, v)))
                .collect();
        }
        out
    }
}

/// A comparison between two parameters or a parameter and a number, e.g. `fast<slow`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    left: String,
    op: String,
    right: String,
}

impl Constraint {
    /// Parse `a<b`, `a<=b`, `a>b`, `a>=b`, `a!=b`, `a==b` (either side a name or a number).
    ///
    /// # Errors
    /// [`Error::Config`] without an operator.
    pub fn parse(s: &str) -> Result<Self> {
        for op in ["<=", ">=", "!=", "==", "<", ">"] {
            if let Some((l, r)) = s.split_once(op) {
                return Ok(Self {
                    left: l.trim().into(),
                    op: op.into(),
                    right: r.trim().into(),
                });
            }
        }
        Err(Error::Config(format!(
            "constraint {s:?}: expected A<B, A<=B, A>B, A>=B, A==B or A!=B"
        )))
    }

    fn value(side: &str, p: &Params) -> Option<f64> {
        p.0.get(side)
            .map_or_else(|| side.parse().ok(), |v| v.parse().ok())
    }

    /// Whether `p` satisfies it (an unknown name or non-number fails).
    #[must_use]
    pub fn holds(&self, p: &Params) -> bool {
        let (Some(a), Some(b)) = (Self::value(&self.left, p), Self::value(&self.right, p)) else {
            return false;
        };
        match self.op.as_str() {
            "<" => a < b,
            "<=" => a <= b,
            ">" => a > b,
            ">=" => a >= b,
            "==" => a == b,
            _ => a != b,
        }
    }
}

/// What to sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// Strategy, fixed parameters and venue settings.
    pub base: BacktestConfig,
    /// Parameters to vary.
    pub grid: Grid,
    /// Combinations must satisfy all of these.
    pub constraints: Vec<Constraint>,
    /// Statistic to sort by (a [`Stats`] JSON key).
    pub metric: String,
    /// Keep the best N rows (all when `None`).
    pub top: Option<usize>,
    /// Random search: try this many combinations drawn with this seed instead of all.
    pub random: Option<(usize, u64)>,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// Parameters of the run.
    pub params: Params,
    /// Its statistics.
    pub stats: Stats,
}

/// SplitMix64: a tiny seeded generator, so random search is reproducible without a dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The combinations a sweep will run, after constraints and random sampling.
///
/// # Errors
/// [`Error::Config`] for an unknown metric or when nothing is left to run.
pub fn plan(config: &SweepConfig) -> Result<Vec<Params>> {
    if !Stats::METRICS.contains(&config.metric.as_str()) {
        return Err(Error::Config(format!(
            "unknown metric {:?}; one of {}",
            config.metric,
            Stats::METRICS.join(", ")
        )));
    }
    let mut combos: Vec<Params> = config
        .grid
        .combinations(&config.base.params)
        .into_iter()
        .filter(|p| config.constraints.iter().all(|c| c.holds(p)))
        .collect();
    if let Some((n, seed)) = config.random {
        let mut s = seed;
        let n = n.min(combos.len());
        for i in 0..n {
            let j = i + (splitmix(&mut s) % (combos.len() - i) as u64) as usize;
            combos.swap(i, j);
        }
        combos.truncate(n);
    }
    if combos.is_empty() {
        return Err(Error::Config(
            "no parameter combination satisfies the constraints".into(),
        ));
    }
    Ok(combos)
}

/// Run the sweep; `progress` is called after each run with `(done, total)`.
///
/// # Errors
/// [`Error::Config`] for bad settings; the first failing run's error.
pub fn sweep(
    series: &BarSeries,
    config: &SweepConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<SweepRow>> {
    let combos = plan(config)?;
    let total = combos.len();
    let pre = Precomputed::new(series, &config.base.strategy, &combos);
    // Shared by every run's statistics instead of rebuilt per run.
    let closes = series.closes_f64();
    let labels = series.timestamps();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut rows: Vec<SweepRow> = combos
        .par_iter()
        .with_max_len(1)
        .map(|params| {
            let strategy = pre.build(params)?;
            let warmup = strategy.warmup_bars();
            let mut report = run_engine(series, strategy, &config.base)?;
            let stats = stats_of(
                &mut report,
                &labels,
                &closes,
                warmup,
                config.base.annualisation,
            )?;
            progress(
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                total,
            );
            Ok(SweepRow {
                params: params.clone(),
                stats,
            })
        })
        .collect::<Result<_>>()?;
    sort_rows(&mut rows, &config.metric);
    if let Some(n) = config.top {
        rows.truncate(n);
    }
    Ok(rows)
}

/// Sort best first by `metric`; undefined values last; ties keep parameter order.
pub(crate) fn sort_rows(rows: &mut [SweepRow], metric: &str) {
    rows.sort_by(|a, b| {
        let (x, y) = (a.stats.metric(metric), b.stats.metric(metric));
        match (x, y) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.params.to_string().cmp(&b.params.to_string()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_grid_parse_and_combine() {
        let g = Grid::parse(["fast=5:20:5", "slow=30,40"]).unwrap();
        assert_eq!(g.axes[0].1, vec!["5", "10", "15", "20"]);
        let c = g.combinations(&Params::new().with("mode", "long_only"));
        assert_eq!(c.len(), 8);
        assert_eq!(c[1].to_string(), "fast=5,mode=long_only,slow=40");
        assert!(Grid::parse(["fast=5:1:1"]).is_err());
        assert!(Grid::parse(["fast"]).is_err());
        assert_eq!(Grid::parse(["x=0.1:0.3:0.1"]).unwrap().axes[0].1.len(), 3);
    }

    #[test]
    fn test_constraint() {
        let c = Constraint::parse("fast < slow").unwrap();
        assert!(c.holds(&Params::new().with("fast", 5).with("slow", 10)));
        assert!(!c.holds(&Params::new().with("fast", 10).with("slow", 10)));
        assert!(
            Constraint::parse("fast<=20")
                .unwrap()
                .holds(&Params::new().with("fast", 20))
        );
        assert!(!c.holds(&Params::new()));
        assert!(Constraint::parse("fast").is_err());
    }

    #[test]
    fn test_random_plan_is_seeded() {
        let base = BacktestConfig::new(
            "sma_cross",
            Params::new(),
            tessera_engine::SimConfig::new(tessera_model::Money::parse("1000 USD").unwrap()),
        );
        let mut cfg = SweepConfig {
            base,
            grid: Grid::parse(["fast=1:20:1", "slow=5:40:1"]).unwrap(),
            constraints: vec![Constraint::parse("fast<slow").unwrap()],
            metric: "sharpe_ratio".into(),
            top: None,
            random: Some((10, 42)),
        };
        let a = plan(&cfg).unwrap();
        assert_eq!(a.len(), 10);
        assert_eq!(a, plan(&cfg).unwrap());
        cfg.random = Some((10, 43));
        assert_ne!(a, plan(&cfg).unwrap());
        cfg.metric = "nope".into();
        assert!(plan(&cfg).is_err());
    }
}
