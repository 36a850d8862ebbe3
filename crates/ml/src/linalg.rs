//! The little dense linear algebra the linear models need: a Cholesky solve of a symmetric
//! positive-definite system. Systems are features × features (tens), so a textbook O(k³)
//! factorisation is microseconds and not worth a linear-algebra dependency.

use crate::error::{Error, Result};

/// Solves `A x = b` for symmetric positive-definite `A` (`n × n`, row-major).
///
/// # Errors
/// [`Error::Numerical`] when `A` is not positive definite (collinear features without
/// regularisation).
pub fn cholesky_solve(a: &[f64], b: &[f64], n: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return Err(Error::Numerical {
                        place: "cholesky".to_owned(),
                        reason: format!(
                            "matrix not positive definite at pivot {i} (collinear or constant features; raise alpha)"
                        ),
                    });
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut z = vec![0.0; n];
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * z[k];
        }
        z[i] = s / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = z[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cholesky_solves_spd_system() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let x = cholesky_solve(&a, &[2.0, 1.0], 2).unwrap();
        assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12);
        assert!(cholesky_solve(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0], 2).is_err());
    }
}
