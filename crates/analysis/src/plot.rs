//! Equity and drawdown chart as a self-contained SVG.
//!
//! Hand-written SVG keeps heavy plotting crates out of the build: two panels
//! sharing the time axis, equity on top and drawdown (%) below, both
//! decimated to at most `max_points` so a million-bar run stays a small file.

use std::fmt::Write as _;

use tessera_core::UnixNanos;

use crate::drawdown::drawdown_curve;
use crate::error::{Error, Result};

/// Chart size and title.
#[derive(Clone, Debug)]
pub struct PlotOptions {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels (both panels).
    pub height: u32,
    /// Title above the equity panel.
    pub title: String,
    /// Most points drawn per line.
    pub max_points: usize,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            width: 1000,
            height: 560,
            title: "Equity".into(),
            max_points: 2000,
        }
    }
}

/// Render the equity and drawdown chart.
///
/// # Errors
/// [`Error::Input`] for empty or mismatched series.
pub fn equity_svg(timestamps: &[UnixNanos], equity: &[f64], opts: &PlotOptions) -> Result<String> {
    let n = equity.len();
    if n == 0 || timestamps.len() != n {
        return Err(Error::Input(format!(
            "cannot plot {} timestamps against {} equity points",
            timestamps.len(),
            n
        )));
    }
    let dd: Vec<f64> = drawdown_curve(equity).iter().map(|d| -d * 100.0).collect();
    let (w, h) = (f64::from(opts.width), f64::from(opts.height));
    let (left, right, top) = (70.0, 20.0, 40.0);
    let eq_h = (h - top - 60.0) * 0.68;
    let dd_top = top + eq_h + 30.0;
    let dd_h = h - dd_top - 30.0;
    let step = n.div_ceil(opts.max_points.max(2)).max(1);
    let idx: Vec<usize> = (0..n).step_by(step).chain(std::iter::once(n - 1)).collect();
    let x = |i: usize| {
        left + (w - left - right)
            * if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.5
            }
    };

    let (emin, emax) = range(equity);
    let (dmin, _) = range(&dd);
    let dmin = dmin.min(-1e-9);
    let ye = |v: f64| top + eq_h * (1.0 - (v - emin) / (emax - emin).max(f64::MIN_POSITIVE));
    let yd = |v: f64| dd_top + dd_h * (v / dmin);

    let mut s = String::new();
    // Writing into a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="24" font-size="16">{}</text>
"##,
        escape(&opts.title)
    );
    let mut eq_path = String::new();
    let mut dd_path = format!("M{:.1},{:.1}", x(0), yd(0.0));
    for (k, &i) in idx.iter().enumerate() {
        let _ = write!(
            eq_path,
            "{}{:.1},{:.1}",
            if k == 0 { "M" } else { "L" },
            x(i),
            ye(equity[i])
        );
        let _ = write!(dd_path, "L{:.1},{:.1}", x(i), yd(dd[i]));
    }
    let _ = write!(dd_path, "L{:.1},{:.1}Z", x(n - 1), yd(0.0));
    let _ = writeln!(
        s,
        r##"<path d="{eq_path}" fill="none" stroke="#1f77b4" stroke-width="1.2"/>"##
    );
    let _ = writeln!(
        s,
        r##"<path d="{dd_path}" fill="#d62728" fill-opacity="0.35" stroke="#d62728" stroke-width="0.8"/>"##
    );
    for (label, y) in [(emax, ye(emax)), (emin, ye(emin))] {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{label:.2}</text>"##,
            left - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{dmin:.1}%</text>"##,
        left - 6.0,
        dd_top + dd_h + 4.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}">Drawdown (%)</text>"##,
        left,
        dd_top - 6.0
    );
    for (i, anchor) in [(0, "start"), (n - 1, "end")] {
        let date = timestamps[i].to_rfc3339();
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"##,
            x(i),
            h - 8.0,
            &date[..10.min(date.len())]
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{left}" y="{top}" width="{:.1}" height="{eq_h:.1}" fill="none" stroke="#999"/>
<rect x="{left}" y="{dd_top:.1}" width="{:.1}" height="{dd_h:.1}" fill="none" stroke="#999"/>
</svg>"##,
        w - left - right,
        w - left - right
    );
    Ok(s)
}

fn range(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_equity_svg_is_wellformed() {
        let ts: Vec<UnixNanos> = (0..5000).map(|i| UnixNanos(i * 60_000_000_000)).collect();
        let eq: Vec<f64> = (0..5000)
            .map(|i| 100.0 + (f64::from(i) / 100.0).sin() * 10.0)
            .collect();
        let svg = equity_svg(
            &ts,
            &eq,
            &PlotOptions {
                title: "a<b".into(),
                ..PlotOptions::default()
            },
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a&lt;b"));
        assert!(svg.len() < 200_000);
        assert!(equity_svg(&ts[..1], &eq, &PlotOptions::default()).is_err());
    }
}
