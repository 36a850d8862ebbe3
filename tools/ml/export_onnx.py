#!/usr/bin/env python3
"""Train small models in Python and export them to ONNX, with expected predictions, as fixtures
for tessera-ml's ONNX runtime (crates/ml/tests/fixtures/onnx/).

Recipe (deterministic; needs scikit-learn, skl2onnx, lightgbm, onnxmltools, onnxruntime):

    pip install scikit-learn skl2onnx lightgbm onnxmltools onnxruntime
    python3 tools/ml/export_onnx.py crates/ml/tests/fixtures/onnx

Every model is trained on 6 features of synthetic data (seeded). For each model NAME the folder
gets NAME.onnx and NAME.expected.csv: the input rows (f0..f5, as float32 values) and the
outputs computed by onnxruntime (`prediction`, and `prob_<class>` for classifiers). The Rust
tests must reproduce them within 1e-5.
"""
import os
import sys

import numpy as np
import onnxruntime as ort
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPRegressor
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
import lightgbm as lgb
import onnxmltools
from onnxmltools.convert.common.data_types import FloatTensorType as MlFloatTensorType

K = 6
TARGET_OPSET = {"": 15, "ai.onnx.ml": 3}


def data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, K)).astype(np.float32)
    y = 0.8 * x[:, 0] - 0.5 * x[:, 1] + np.sin(x[:, 2]) + 0.3 * x[:, 3] * x[:, 4] + 0.1 * rng.normal(size=n)
    return x, y


def save(out, name, onx, x, classes=None):
    path = os.path.join(out, f"{name}.onnx")
    with open(path, "wb") as f:
        f.write(onx.SerializeToString())
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    res = sess.run(None, {sess.get_inputs()[0].name: x})
    header = [f"f{i}" for i in range(K)] + ["prediction"]
    if classes is not None:
        header += [f"prob_{c}" for c in classes]
        label, probs = res[0], res[1]
        cols = [label.reshape(-1, 1).astype(np.float64), np.asarray(probs, dtype=np.float64)]
    else:
        cols = [np.asarray(res[0], dtype=np.float64).reshape(len(x), -1)[:, :1]]
    table = np.hstack([x.astype(np.float64)] + cols)
    with open(os.path.join(out, f"{name}.expected.csv"), "w") as f:
        f.write(",".join(header) + "\n")
        for row in table:
            f.write(",".join(repr(float(v)) for v in row) + "\n")
    print(name, path, [o.op_type for o in onx.graph.node])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "crates/ml/tests/fixtures/onnx"
    os.makedirs(out, exist_ok=True)
    x, y = data(400, 1)
    xt, _ = data(50, 2)
    yc = (y > 0).astype(np.int64)
    y3 = np.digitize(y, [-0.5, 0.5]).astype(np.int64)  # classes 0, 1, 2
    ft = [("input", FloatTensorType([None, K]))]
    ftm = [("input", MlFloatTensorType([None, K]))]

    m = LinearRegression().fit(x, y)
    save(out, "linear", to_onnx(m, initial_types=ft, target_opset=TARGET_OPSET), xt)

    m = LogisticRegression().fit(x, yc)
    onx = to_onnx(m, initial_types=ft, target_opset=TARGET_OPSET, options={id(m): {"zipmap": False}})
    save(out, "logistic", onx, xt, classes=[0, 1])

    m = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    save(out, "sk_gbr", to_onnx(m, initial_types=ft, target_opset=TARGET_OPSET), xt)

    m = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(x, y3)
    onx = to_onnx(m, initial_types=ft, target_opset=TARGET_OPSET, options={id(m): {"zipmap": False}})
    save(out, "sk_rf_classifier", onx, xt, classes=[0, 1, 2])

    m = lgb.LGBMRegressor(n_estimators=30, num_leaves=15, random_state=0, verbose=-1).fit(x, y)
    onx = onnxmltools.convert_lightgbm(m, initial_types=ftm, target_opset=15, zipmap=False)
    save(out, "lgbm_regressor", onx, xt)

    m = lgb.LGBMClassifier(n_estimators=30, num_leaves=15, random_state=0, verbose=-1).fit(x, yc)
    onx = onnxmltools.convert_lightgbm(m, initial_types=ftm, target_opset=15, zipmap=False)
    save(out, "lgbm_binary", onx, xt, classes=[0, 1])

    m = lgb.LGBMClassifier(n_estimators=20, num_leaves=15, random_state=0, verbose=-1).fit(x, y3)
    onx = onnxmltools.convert_lightgbm(m, initial_types=ftm, target_opset=15, zipmap=False)
    save(out, "lgbm_multiclass", onx, xt, classes=[0, 1, 2])

    m = MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=500, random_state=0).fit(x, y)
    save(out, "mlp", to_onnx(m, initial_types=ft, target_opset=TARGET_OPSET), xt)


if __name__ == "__main__":
    main()
