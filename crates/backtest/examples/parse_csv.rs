//! Parse a bar CSV with `load_csv` and nothing else, for instruction counts and peak memory.
//!
//! `cargo run --release -p tessera-backtest --example parse_csv -- FILE.csv` prints the row
//! count, the scales and the parse time on stderr.

use tessera_backtest::load_csv;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse_csv FILE.csv");
        std::process::exit(2);
    };
    let t0 = std::time::Instant::now();
    match load_csv(std::path::Path::new(&path)) {
        Ok(s) => eprintln!(
            "rows={} price_scale={} volume_scale={} parse_s={:.4}",
            s.len(),
            s.price_scale,
            s.volume_scale,
            t0.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
