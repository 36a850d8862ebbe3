//! The ONNX-ML tree ensemble operators (`TreeEnsembleRegressor`, `TreeEnsembleClassifier`),
//! which scikit-learn, LightGBM and XGBoost exports use, evaluated as onnxruntime does
//! (including its binary-classifier conventions).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::onnx::Attrs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

#[derive(Debug, Clone)]
struct TNode {
    mode: Mode,
    feature: usize,
    value: f64,
    yes: usize,
    no: usize,
    missing_true: bool,
    /// `(output index, weight)` for leaves.
    weights: Vec<(usize, f64)>,
}

/// How per-class or per-target scores are finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

impl PostTransform {
    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "" | "NONE" => Self::None,
            "LOGISTIC" => Self::Logistic,
            "SOFTMAX" => Self::Softmax,
            "SOFTMAX_ZERO" => Self::SoftmaxZero,
            other => {
                return Err(Error::Onnx(format!(
                    "post_transform {other} is not supported"
                )));
            }
        })
    }

    pub(crate) fn apply(self, s: &mut [f64]) {
        match self {
            Self::None => {}
            Self::Logistic => s.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Self::Softmax | Self::SoftmaxZero => {
                let zero = self == Self::SoftmaxZero;
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for v in s.iter_mut() {
                    if !(zero && *v == 0.0) {
                        *v = (*v - m).exp();
                        sum += *v;
                    }
                }
                s.iter_mut().for_each(|v| *v /= sum);
            }
        }
    }
}

pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// A parsed tree ensemble.
#[derive(Debug, Clone)]
pub(crate) struct TreeEnsemble {
    /// Root node index of each tree.
    roots: Vec<usize>,
    nodes: Vec<TNode>,
    /// Number of outputs (targets or classes).
    pub(crate) outputs: usize,
    base: Vec<f64>,
    aggregate: Aggregate,
    pub(crate) post: PostTransform,
    /// Classifier: class labels (as numbers; string labels become their index).
    pub(crate) classes: Vec<f64>,
    /// Classifier: only one class id carries weights (ONNX's binary convention).
    binary: bool,
    all_positive: bool,
}

impl TreeEnsemble {
    pub(crate) fn parse(a: &Attrs<'_>, classifier: bool) -> Result<Self> {
        let prefix = if classifier { "class" } else { "target" };
        let tree_ids = a.ints("nodes_treeids")?;
        let node_ids = a.ints("nodes_nodeids")?;
        let feats = a.ints("nodes_featureids")?;
        let values = a.floats_or_tensor("nodes_values")?;
        let modes = a.strings("nodes_modes")?;
        let yes = a.ints("nodes_truenodeids")?;
        let no = a.ints("nodes_falsenodeids")?;
        let missing = a.ints_opt("nodes_missing_value_tracks_true");
        let n = tree_ids.len();
        for (what, len) in [
            ("nodes_nodeids", node_ids.len()),
            ("nodes_featureids", feats.len()),
            ("nodes_values", values.len()),
            ("nodes_modes", modes.len()),
            ("nodes_truenodeids", yes.len()),
            ("nodes_falsenodeids", no.len()),
        ] {
            if len != n {
                return Err(Error::Onnx(format!(
                    "{what} has {len} entries, nodes_treeids {n}"
                )));
            }
        }
        let index: BTreeMap<(i64, i64), usize> =
            (0..n).map(|i| ((tree_ids[i], node_ids[i]), i)).collect();
        let find = |t: i64, id: i64| {
            index
                .get(&(t, id))
                .copied()
                .ok_or_else(|| Error::Onnx(format!("tree {t} has no node {id}")))
        };
        let mut nodes = Vec::with_capacity(n);
        let mut roots: BTreeMap<i64, usize> = BTreeMap::new();
        for i in 0..n {
            let mode = match modes[i].as_str() {
                "BRANCH_LEQ" => Mode::Leq,
                "BRANCH_LT" => Mode::Lt,
                "BRANCH_GTE" => Mode::Gte,
                "BRANCH_GT" => Mode::Gt,
                "BRANCH_EQ" => Mode::Eq,
                "BRANCH_NEQ" => Mode::Neq,
                "LEAF" => Mode::Leaf,
                other => return Err(Error::Onnx(format!("node mode {other} is not supported"))),
            };
            let (y, nn) = if mode == Mode::Leaf {
                (0, 0)
            } else {
                (find(tree_ids[i], yes[i])?, find(tree_ids[i], no[i])?)
            };
            nodes.push(TNode {
                mode,
                feature: feats[i].max(0) as usize,
                value: values[i],
                yes: y,
                no: nn,
                missing_true: missing.get(i).is_some_and(|m| *m != 0),
                weights: Vec::new(),
            });
            let root = roots.entry(tree_ids[i]).or_insert(i);
            if node_ids[i] < node_ids[*root] {
                *root = i;
            }
        }
        // A tree's root is the node no other node points to; exporters number it 0.
        let wt_tree = a.ints(&format!("{prefix}_treeids"))?;
        let wt_node = a.ints(&format!("{prefix}_nodeids"))?;
        let wt_id = a.ints(&format!("{prefix}_ids"))?;
        let wt_w = a.floats_or_tensor(&format!("{prefix}_weights"))?;
        let mut outputs = 0usize;
        let mut ids_seen = std::collections::BTreeSet::new();
        for i in 0..wt_tree.len() {
            let node = find(wt_tree[i], wt_node[i])?;
            let out = wt_id[i].max(0) as usize;
            ids_seen.insert(out);
            outputs = outputs.max(out + 1);
            nodes[node].weights.push((out, wt_w[i]));
        }
        let classes: Vec<f64> = if classifier {
            let ints = a.ints_opt("classlabels_int64s");
            if ints.is_empty() {
                let n = a
                    .strings("classlabels_strings")
                    .map(|s| s.len())
                    .unwrap_or(0);
                (0..n).map(|i| i as f64).collect()
            } else {
                ints.iter().map(|v| *v as f64).collect()
            }
        } else {
            Vec::new()
        };
        if classifier {
            outputs = classes.len();
        } else {
            outputs = outputs.max(a.int_or("n_targets", 1) as usize);
        }
        let aggregate = match a.string_or("aggregate_function", "SUM").as_str() {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => {
                return Err(Error::Onnx(format!(
                    "aggregate_function {other} is not supported"
                )));
            }
        };
        Ok(Self {
            roots: roots.into_values().collect(),
            nodes,
            outputs,
            base: a.floats_or_tensor_opt("base_values"),
            aggregate,
            post: PostTransform::parse(&a.string_or("post_transform", "NONE"))?,
            binary: classifier && outputs == 2 && ids_seen.len() == 1,
            all_positive: wt_w.iter().all(|w| *w >= 0.0),
            classes,
        })
    }

    fn leaf(&self, root: usize, x: &[f64]) -> &TNode {
        let mut i = root;
        loop {
            let nd = &self.nodes[i];
            if nd.mode == Mode::Leaf {
                return nd;
            }
            let v = x.get(nd.feature).copied().unwrap_or(f64::NAN);
            let go = if v.is_nan() {
                nd.missing_true
            } else {
                match nd.mode {
                    Mode::Leq => v <= nd.value,
                    Mode::Lt => v < nd.value,
                    Mode::Gte => v >= nd.value,
                    Mode::Gt => v > nd.value,
                    Mode::Eq => v == nd.value,
                    Mode::Neq => v != nd.value,
                    Mode::Leaf => unreachable!("handled above"),
                }
            };
            i = if go { nd.yes } else { nd.no };
        }
    }

    /// Raw aggregated scores per output (before base values and the post transform), with
    /// whether each output received any weight.
    fn scores(&self, x: &[f64]) -> (Vec<f64>, Vec<bool>) {
        let mut s = vec![
            match self.aggregate {
                Aggregate::Min => f64::INFINITY,
                Aggregate::Max => f64::NEG_INFINITY,
                _ => 0.0,
            };
            self.outputs.max(1)
        ];
        let mut has = vec![false; s.len()];
        for &r in &self.roots {
            for &(o, w) in &self.leaf(r, x).weights {
                if o >= s.len() {
                    continue;
                }
                has[o] = true;
                s[o] = match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => s[o] + w,
                    Aggregate::Min => s[o].min(w),
                    Aggregate::Max => s[o].max(w),
                };
            }
        }
        if self.aggregate == Aggregate::Average {
            let n = self.roots.len().max(1) as f64;
            s.iter_mut().for_each(|v| *v /= n);
        }
        for (o, h) in has.iter().enumerate() {
            if !h && matches!(self.aggregate, Aggregate::Min | Aggregate::Max) {
                s[o] = 0.0;
            }
        }
        (s, has)
    }

    /// Regressor output for one row.
    pub(crate) fn regress(&self, x: &[f64]) -> Vec<f64> {
        let (mut s, _) = self.scores(x);
        for (v, b) in s.iter_mut().zip(&self.base) {
            *v += b;
        }
        self.post.apply(&mut s);
        s
    }

    /// Classifier output for one row: (label, per-class scores after the post transform).
    pub(crate) fn classify(&self, x: &[f64]) -> (f64, Vec<f64>) {
        let (mut s, _) = self.scores(x);
        if self.binary {
            // onnxruntime: one weighted class id and two labels is a single score for class 1.
            let id = self
                .nodes
                .iter()
                .flat_map(|n| n.weights.iter().map(|w| w.0))
                .next()
                .unwrap_or(0);
            let mut v = s[id] + self.base.get(id).copied().unwrap_or(0.0);
            if self.base.len() == 2 && id == 0 {
                v = self.base[1] + s[0];
            }
            if self.all_positive {
                let label = if v > 0.5 {
                    self.classes[1]
                } else {
                    self.classes[0]
                };
                return (label, vec![1.0 - v, v]);
            }
            let label = if v > 0.0 {
                self.classes[1]
            } else {
                self.classes[0]
            };
            return match self.post {
                PostTransform::Logistic => (label, vec![sigmoid(-v), sigmoid(v)]),
                _ => (label, vec![-v, v]),
            };
        }
        for (v, b) in s.iter_mut().zip(&self.base) {
            *v += b;
        }
        let mut best = 0;
        for (i, v) in s.iter().enumerate() {
            if *v > s[best] {
                best = i;
            }
        }
        self.post.apply(&mut s);
        (self.classes.get(best).copied().unwrap_or(best as f64), s)
    }
}
