//! Streaming feature pipelines: the same feature sets as
//! [`tessera_indicators::features::FeatureSet`], computed bar by bar with the streaming
//! indicators, so a live service does O(1) work per new bar instead of recomputing history.
//!
//! Semantics match the batch pipeline exactly (a test checks bit equality): indicators run
//! over each symbol's own bars as they arrive; a row is emitted once every symbol has a bar
//! at a timestamp (the batch pipeline's inner join), and `lag`, `ratio`, `diff` and `rank`
//! then work on those common rows. Timestamps some symbol never reaches are dropped, as the
//! batch join drops them.

use std::collections::{BTreeMap, VecDeque};

use tessera_core::UnixNanos;
use tessera_indicators::Ohlcv;
use tessera_indicators::features::FeatureSet;
use tessera_indicators::registry::{BarIndicator, IndicatorSpec, split_spec_list};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Node {
    /// Index into the per-symbol indicator slots (each slot knows its output column).
    Ind(usize),
    /// Inner node, lag, lag-buffer id.
    Lag(Box<Node>, usize, usize),
    Ratio(Box<Node>, Box<Node>),
    Diff(Box<Node>, Box<Node>),
    Rank(Box<Node>),
}

fn bad(expr: &str, reason: &str) -> Error {
    Error::invalid(format!("feature {expr}"), reason.to_owned())
}

fn split_last_comma(inner: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    let mut last = None;
    for (i, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => last = Some(i),
            _ => {}
        }
    }
    last.map(|i| (&inner[..i], &inner[i + 1..]))
}

struct Builder {
    specs: Vec<(IndicatorSpec, usize)>,
    lags: usize,
}

impl Builder {
    fn expr(&mut self, text: &str, top: bool) -> Result<Vec<Node>> {
        let text = text.trim();
        if let Some(open) = text.find('(') {
            let func = text[..open].trim().to_ascii_lowercase();
            let inner = &text[open + 1..text.len().saturating_sub(1)];
            let one = |b: &mut Self, s: &str| -> Result<Box<Node>> {
                let mut v = b.expr(s, false)?;
                if v.len() != 1 {
                    return Err(bad(s, "needs a single output"));
                }
                Ok(Box::new(v.remove(0)))
            };
            return Ok(vec![match func.as_str() {
                "lag" => {
                    let (a, k) =
                        split_last_comma(inner).ok_or_else(|| bad(text, "usage: lag(EXPR,K)"))?;
                    let k: usize = k
                        .trim()
                        .parse()
                        .map_err(|_| bad(text, "lag must be a whole number"))?;
                    let inner = one(self, a)?;
                    self.lags += 1;
                    Node::Lag(inner, k, self.lags - 1)
                }
                "ratio" | "diff" => {
                    let args = split_spec_list(inner);
                    if args.len() != 2 {
                        return Err(bad(text, "usage: ratio(A,B) / diff(A,B)"));
                    }
                    let (a, b) = (one(self, &args[0])?, one(self, &args[1])?);
                    if func == "ratio" {
                        Node::Ratio(a, b)
                    } else {
                        Node::Diff(a, b)
                    }
                }
                "rank" => Node::Rank(one(self, inner)?),
                _ => return Err(bad(text, "unknown function")),
            }]);
        }
        let (spec_text, output) = match text.rsplit_once('.') {
            Some((s, o)) if o.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) => {
                (s, Some(o))
            }
            _ => (text, None),
        };
        let spec_text = match spec_text.split_once(':') {
            Some((n, rest)) if n.trim().eq_ignore_ascii_case("ret") => format!("logret:{rest}"),
            None if spec_text.trim().eq_ignore_ascii_case("ret") => "logret".to_owned(),
            _ => spec_text.to_owned(),
        };
        let spec = IndicatorSpec::parse(&spec_text)?;
        let outputs = spec.info().outputs;
        let slot = |b: &mut Self, o: usize| {
            b.specs.push((spec.clone(), o));
            Node::Ind(b.specs.len() - 1)
        };
        Ok(match output {
            Some(o) => {
                let i = outputs
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(o))
                    .ok_or_else(|| bad(text, "unknown output"))?;
                vec![slot(self, i)]
            }
            None if outputs.len() == 1 => vec![slot(self, 0)],
            None if top => (0..outputs.len()).map(|i| slot(self, i)).collect(),
            None => return Err(bad(text, "pick one output with `.name`")),
        })
    }
}

/// A feature set fed bar by bar for a fixed list of symbols.
#[derive(Debug)]
pub struct StreamingFeatures {
    names: Vec<String>,
    nodes: Vec<Node>,
    specs: Vec<(IndicatorSpec, usize)>,
    symbols: Vec<String>,
    /// Per symbol: one streaming indicator per slot.
    indicators: Vec<Vec<Box<dyn BarIndicator>>>,
    /// Per symbol: slot values by timestamp, waiting for the other symbols.
    pending: Vec<BTreeMap<UnixNanos, Vec<f64>>>,
    /// Per symbol: last timestamp fed.
    last: Vec<Option<UnixNanos>>,
    /// Per lag node: the inner values of the last rows (newest last), per symbol.
    lag_buffers: Vec<VecDeque<Vec<f64>>>,
}

impl StreamingFeatures {
    /// Compiles `feature_set` (a comma list as [`FeatureSet::parse`] takes) for `symbols`.
    ///
    /// # Errors
    /// [`Error::Indicators`] / [`Error::Invalid`] for expressions that do not parse.
    pub fn new(feature_set: &str, symbols: &[String]) -> Result<Self> {
        let names = FeatureSet::parse(feature_set)?.names();
        let mut b = Builder {
            specs: Vec::new(),
            lags: 0,
        };
        let mut nodes = Vec::new();
        for e in split_spec_list(feature_set) {
            nodes.extend(b.expr(&e, true)?);
        }
        if nodes.len() != names.len() {
            return Err(Error::invalid(
                "feature set",
                "streaming and batch pipelines disagree on the feature count",
            ));
        }
        let indicators = symbols
            .iter()
            .map(|_| {
                b.specs
                    .iter()
                    .map(|(s, _)| s.streaming())
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self {
            names,
            nodes,
            specs: b.specs,
            symbols: symbols.to_vec(),
            indicators,
            pending: vec![BTreeMap::new(); symbols.len()],
            last: vec![None; symbols.len()],
            lag_buffers: vec![VecDeque::new(); b.lags],
        })
    }

    /// Feature names, as the batch pipeline names them.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The symbols, in row order.
    #[must_use]
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Last timestamp fed for `symbol`.
    #[must_use]
    pub fn last_timestamp(&self, symbol: usize) -> Option<UnixNanos> {
        self.last[symbol]
    }

    /// Feeds one closed bar of `symbol` (index into [`StreamingFeatures::symbols`]) stamped at
    /// its close `ts`; returns every common row completed by it: `(ts, features per symbol)`.
    /// Bars at or before the symbol's last timestamp are ignored (replays are harmless).
    pub fn push(
        &mut self,
        symbol: usize,
        ts: UnixNanos,
        bar: Ohlcv,
    ) -> Vec<(UnixNanos, Vec<Vec<f64>>)> {
        if self.last[symbol].is_some_and(|l| ts <= l) {
            return Vec::new();
        }
        self.last[symbol] = Some(ts);
        let mut row = [f64::NAN; 8];
        let mut slots = Vec::with_capacity(self.specs.len());
        for (ind, (_, out)) in self.indicators[symbol].iter_mut().zip(&self.specs) {
            row.fill(f64::NAN);
            slots.push(if ind.update_bar(bar, &mut row) {
                row[*out]
            } else {
                f64::NAN
            });
        }
        self.pending[symbol].insert(ts, slots);
        let mut done = Vec::new();
        // A timestamp is complete when every symbol has it; earlier incomplete ones never will be.
        while let Some(&t) = self.pending[symbol]
            .keys()
            .find(|t| self.pending.iter().all(|p| p.contains_key(t)))
        {
            let values: Vec<Vec<f64>> = self
                .pending
                .iter_mut()
                .map(|p| {
                    let v = p.remove(&t).unwrap_or_default();
                    p.retain(|k, _| *k > t);
                    v
                })
                .collect();
            done.push((t, self.row(&values)));
        }
        done
    }

    fn row(&mut self, slots: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let n = self.symbols.len();
        let nodes = self.nodes.clone();
        let cols: Vec<Vec<f64>> = nodes.iter().map(|nd| self.eval(nd, slots)).collect();
        (0..n)
            .map(|s| cols.iter().map(|c| c[s]).collect())
            .collect()
    }

    fn eval(&mut self, node: &Node, slots: &[Vec<f64>]) -> Vec<f64> {
        match node {
            Node::Ind(i) => slots.iter().map(|v| v[*i]).collect(),
            Node::Lag(inner, k, id) => {
                let v = self.eval(inner, slots);
                let buf = &mut self.lag_buffers[*id];
                buf.push_back(v);
                while buf.len() > k + 1 {
                    buf.pop_front();
                }
                if buf.len() == k + 1 {
                    buf[0].clone()
                } else {
                    vec![f64::NAN; slots.len()]
                }
            }
            Node::Ratio(a, b) | Node::Diff(a, b) => {
                let ratio = matches!(node, Node::Ratio(..));
                let (x, y) = (self.eval(a, slots), self.eval(b, slots));
                x.iter()
                    .zip(&y)
                    .map(|(x, y)| if ratio { x / y } else { x - y })
                    .collect()
            }
            Node::Rank(e) => {
                let v = self.eval(e, slots);
                let mut row: Vec<(f64, usize)> = v
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| !x.is_nan())
                    .map(|(s, x)| (*x, s))
                    .collect();
                row.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut out = vec![f64::NAN; v.len()];
                let n = row.len();
                let mut i = 0;
                while i < n {
                    let mut j = i;
                    while j + 1 < n && row[j + 1].0 == row[i].0 {
                        j += 1;
                    }
                    let avg = (i + j) as f64 / 2.0;
                    let scaled = if n > 1 { avg / (n - 1) as f64 } else { 0.5 };
                    for &(_, s) in &row[i..=j] {
                        out[s] = scaled;
                    }
                    i = j + 1;
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stubs::panel;

    /// Streaming rows equal the batch feature matrix bit for bit, including lag, ratio, rank
    /// and a symbol missing some timestamps (the inner join).
    #[test]
    fn test_streaming_equals_batch() {
        let mut p = panel(300, 3, 5);
        // Drop a few bars of symbol 1 so the grid is a strict subset.
        for v in [40usize, 41, 120] {
            p[1].timestamps.remove(v);
            p[1].open.remove(v);
            p[1].high.remove(v);
            p[1].low.remove(v);
            p[1].close.remove(v);
            p[1].volume.remove(v);
        }
        let spec = "rsi:14,macd:12,26,9,lag(ret:1,3),ratio(sma:10,sma:30),diff(ema:5,ema:20),rank(ret:5),atr:14,bbands:20,2,2.upperband";
        let batch = FeatureSet::parse(spec).unwrap().compute(&p, None).unwrap();
        let symbols: Vec<String> = p.iter().map(|s| s.symbol.clone()).collect();
        let mut sf = StreamingFeatures::new(spec, &symbols).unwrap();
        assert_eq!(sf.names(), batch.names.as_slice());
        let mut rows = Vec::new();
        // Interleave symbols by time, as a live feed would.
        let mut idx = vec![0usize; p.len()];
        loop {
            let next = (0..p.len())
                .filter(|&s| idx[s] < p[s].timestamps.len())
                .min_by_key(|&s| p[s].timestamps[idx[s]]);
            let Some(s) = next else { break };
            let i = idx[s];
            let b = &p[s];
            rows.extend(sf.push(
                s,
                b.timestamps[i],
                Ohlcv {
                    open: b.open[i],
                    high: b.high[i],
                    low: b.low[i],
                    close: b.close[i],
                    volume: b.volume[i],
                },
            ));
            idx[s] += 1;
        }
        assert_eq!(rows.len(), batch.timestamps.len());
        for (t, (ts, vals)) in rows.iter().enumerate() {
            assert_eq!(*ts, batch.timestamps[t]);
            for (s, v) in vals.iter().enumerate() {
                let b = batch.row(t, s);
                for (k, (x, y)) in v.iter().zip(b).enumerate() {
                    assert!(
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                        "t={t} s={s} {}: {x} vs {y}",
                        batch.names[k]
                    );
                }
            }
        }
    }
}
