//! `perpetual-cmp DATA.f64 ROWS COLS THREADS BUDGET…`: fits perpetual's booster on the data
//! `tools/ml/bench_train.py` writes (row-major f64: features then target per row, first 80 %
//! train), once per budget, and prints one JSON object per fit.
use std::time::Instant;

use perpetual::objective::Objective;
use perpetual::{Matrix, PerpetualBooster};

fn r2(y: &[f64], p: &[f64]) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let ss_res: f64 = y.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum();
    let ss_tot: f64 = y.iter().map(|a| (a - mean) * (a - mean)).sum();
    1.0 - ss_res / ss_tot
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (rows, cols, threads): (usize, usize, usize) =
        (a[2].parse().unwrap(), a[3].parse().unwrap(), a[4].parse().unwrap());
    let bytes = std::fs::read(&a[1]).unwrap();
    let v: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let n_train = rows * 4 / 5;
    // perpetual's Matrix is column-major.
    let column_major = |from: usize, to: usize| -> Vec<f64> {
        let mut out = Vec::with_capacity((to - from) * cols);
        for c in 0..cols {
            out.extend((from..to).map(|r| v[r * (cols + 1) + c]));
        }
        out
    };
    let y: Vec<f64> = (0..rows).map(|r| v[r * (cols + 1) + cols]).collect();
    let (xtr, xte) = (column_major(0, n_train), column_major(n_train, rows));
    let (mtr, mte) = (
        Matrix::new(&xtr, n_train, cols),
        Matrix::new(&xte, rows - n_train, cols),
    );
    for b in &a[5..] {
        let budget: f32 = b.parse().unwrap();
        let mut m = PerpetualBooster::default()
            .set_objective(Objective::SquaredLoss)
            .set_budget(budget)
            .set_num_threads(Some(threads));
        let t = Instant::now();
        m.fit(&mtr, &y[..n_train], None, None).unwrap();
        let fit_s = t.elapsed().as_secs_f64();
        let p = m.predict(&mte, false);
        let trees = m.get_prediction_trees().len();
        // One row at a time, as the prediction service scores a new bar.
        let row: Vec<f64> = (0..cols).map(|c| xte[c * (rows - n_train)]).collect();
        let one = Matrix::new(&row, 1, cols);
        let t = Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(m.predict(&one, false));
        }
        let one_row_us = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{{\"budget\":{budget},\"threads\":{threads},\"fit_s\":{fit_s},\"test_r2\":{},\"trees\":{trees},\"predict_one_row_us\":{one_row_us}}}",
            r2(&y[n_train..], &p)
        );
    }
}
