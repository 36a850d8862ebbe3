//! ONNX parity: models trained and exported in Python (tools/ml/export_onnx.py) give the same
//! predictions here as onnxruntime gave there, within 1e-5.

use std::path::PathBuf;

use tessera_ml::Matrix;
use tessera_ml::onnx::OnnxModel;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name)
}

/// (inputs, expected prediction, expected class probabilities) from `NAME.expected.csv`.
fn expected(name: &str) -> (Matrix, Vec<f64>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(fixture(&format!("{name}.expected.csv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let k = header.iter().filter(|h| h.starts_with('f')).count();
    let (mut x, mut pred, mut probs) = (Vec::new(), Vec::new(), Vec::new());
    for l in lines {
        let v: Vec<f64> = l.split(',').map(|c| c.parse().unwrap()).collect();
        x.extend_from_slice(&v[..k]);
        pred.push(v[k]);
        probs.push(v[k + 1..].to_vec());
    }
    let n = pred.len();
    (Matrix::new(n, k, x).unwrap(), pred, probs)
}

fn check(name: &str) {
    let bytes = std::fs::read(fixture(&format!("{name}.onnx"))).unwrap();
    let model = OnnxModel::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (x, pred, probs) = expected(name);
    let out = model.predict(&x).unwrap();
    assert_eq!(out.len(), pred.len());
    for (i, (o, (p, pr))) in out.iter().zip(pred.iter().zip(&probs)).enumerate() {
        assert!(
            (o.value - p).abs() <= 1e-5,
            "{name} row {i}: prediction {} vs python {p}",
            o.value
        );
        assert_eq!(o.probs.len(), pr.len(), "{name} row {i}: class count");
        for (a, b) in o.probs.iter().zip(pr) {
            assert!(
                (a - b).abs() <= 1e-5,
                "{name} row {i}: probabilities {:?} vs python {pr:?}",
                o.probs
            );
        }
    }
}

#[test]
fn test_onnx_linear_regression_matches_python() {
    check("linear");
}

#[test]
fn test_onnx_logistic_regression_matches_python() {
    check("logistic");
}

#[test]
fn test_onnx_sklearn_gradient_boosting_regressor_matches_python() {
    check("sk_gbr");
}

#[test]
fn test_onnx_sklearn_random_forest_classifier_matches_python() {
    check("sk_rf_classifier");
}

#[test]
fn test_onnx_lightgbm_regressor_matches_python() {
    check("lgbm_regressor");
}

#[test]
fn test_onnx_lightgbm_binary_classifier_matches_python() {
    check("lgbm_binary");
}

#[test]
fn test_onnx_lightgbm_multiclass_classifier_matches_python() {
    check("lgbm_multiclass");
}

#[test]
fn test_onnx_mlp_matches_python() {
    check("mlp");
}

#[test]
fn test_onnx_unsupported_operator_is_refused_by_name() {
    assert!(OnnxModel::from_bytes(b"not onnx at all").is_err());
}
