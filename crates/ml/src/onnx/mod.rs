//! ONNX inference in pure Rust for models trained in Python.
//!
//! A small interpreter over the ONNX graph: it decodes the protobuf (`proto`), checks every
//! operator is one it implements, and evaluates nodes in order on row batches. Implemented:
//! the ONNX-ML operators `LinearRegressor`, `LinearClassifier`, `TreeEnsembleRegressor`,
//! `TreeEnsembleClassifier` (see [`trees`]), and the standard operators small exported
//! networks use (`MatMul`, `Gemm`, `Add`, `Sub`, `Mul`, `Div`, `Relu`, `Sigmoid`, `Tanh`,
//! `Softmax`, `Identity`, `Cast`, `Reshape`, `Flatten`). An unknown operator is refused when
//! the file is loaded, not at prediction time. Float tensors are rounded to `f32` after every
//! operation, as onnxruntime computes them, so outputs agree with Python within 1e-5.
//!
//! Why not `tract-onnx`: tract does not implement the tree-ensemble operators, which are most
//! of what trading models export, so they had to be written here anyway; the remaining
//! operators of small linear/MLP graphs are a few dozen lines, against a large dependency
//! tree to build on every machine. A graph needing more (convolutions, attention) is refused
//! with the operator's name; adding tract behind this API is the path for such models.

pub mod proto;
mod tensor;
mod trees;

use std::collections::BTreeMap;

use prost::Message;

use crate::dataset::Matrix;
use crate::error::{Error, Result};
use crate::models::{Prediction, Task};
use proto::{AttributeProto, ModelProto, NodeProto};
use tensor::{FLOAT, INT64, Tensor};
use trees::{PostTransform, TreeEnsemble};

/// Attribute lookup of one node.
pub(crate) struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }
    fn missing(&self, name: &str) -> Error {
        Error::Onnx(format!(
            "{} node `{}` lacks attribute {name}",
            self.node.op_type, self.node.name
        ))
    }
    pub(crate) fn ints(&self, name: &str) -> Result<Vec<i64>> {
        self.get(name)
            .map(|a| a.ints.clone())
            .ok_or_else(|| self.missing(name))
    }
    pub(crate) fn ints_opt(&self, name: &str) -> Vec<i64> {
        self.get(name).map(|a| a.ints.clone()).unwrap_or_default()
    }
    pub(crate) fn int_or(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }
    pub(crate) fn float_or(&self, name: &str, default: f64) -> f64 {
        self.get(name).map_or(default, |a| f64::from(a.f))
    }
    pub(crate) fn floats_or_tensor_opt(&self, name: &str) -> Vec<f64> {
        if let Some(a) = self.get(name) {
            return a.floats.iter().map(|v| f64::from(*v)).collect();
        }
        self.get(&format!("{name}_as_tensor"))
            .and_then(|a| a.t.as_ref())
            .and_then(|t| Tensor::from_proto(t).ok())
            .map(|t| t.data)
            .unwrap_or_default()
    }
    pub(crate) fn floats_or_tensor(&self, name: &str) -> Result<Vec<f64>> {
        if self.get(name).is_none() && self.get(&format!("{name}_as_tensor")).is_none() {
            return Err(self.missing(name));
        }
        Ok(self.floats_or_tensor_opt(name))
    }
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>> {
        self.get(name)
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .ok_or_else(|| self.missing(name))
    }
    pub(crate) fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name).map_or_else(
            || default.to_owned(),
            |a| String::from_utf8_lossy(&a.s).into_owned(),
        )
    }
}

/// A compiled operator.
#[derive(Debug, Clone)]
enum Op {
    Trees {
        ens: Box<TreeEnsemble>,
        classifier: bool,
    },
    LinearRegressor {
        coef: Vec<f64>,
        intercepts: Vec<f64>,
        targets: usize,
        post: PostTransform,
    },
    LinearClassifier {
        coef: Vec<f64>,
        intercepts: Vec<f64>,
        classes: Vec<f64>,
        post: PostTransform,
    },
    MatMul,
    Gemm {
        alpha: f64,
        beta: f64,
        trans_a: bool,
        trans_b: bool,
    },
    Binary(fn(f64, f64) -> f64),
    Unary(fn(f64) -> f64),
    Softmax,
    Identity,
    Cast(i32),
    Reshape,
    Flatten,
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// An ONNX model ready to predict.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    steps: Vec<Step>,
    initializers: BTreeMap<String, Tensor>,
    input: String,
    outputs: Vec<String>,
    /// Regression or classification (from the graph: a classifier operator makes it one).
    pub task: Task,
    /// Class labels for classifiers.
    pub classes: Vec<f64>,
}

fn compile(node: &NodeProto) -> Result<Op> {
    let a = Attrs { node };
    let post = || PostTransform::parse(&a.string_or("post_transform", "NONE"));
    Ok(match node.op_type.as_str() {
        "TreeEnsembleRegressor" => Op::Trees {
            ens: Box::new(TreeEnsemble::parse(&a, false)?),
            classifier: false,
        },
        "TreeEnsembleClassifier" => Op::Trees {
            ens: Box::new(TreeEnsemble::parse(&a, true)?),
            classifier: true,
        },
        "LinearRegressor" => Op::LinearRegressor {
            coef: a.floats_or_tensor("coefficients")?,
            intercepts: a.floats_or_tensor_opt("intercepts"),
            targets: a.int_or("targets", 1).max(1) as usize,
            post: post()?,
        },
        "LinearClassifier" => {
            let ints = a.ints_opt("classlabels_ints");
            let classes: Vec<f64> = if ints.is_empty() {
                let n = a
                    .strings("classlabels_strings")
                    .map(|s| s.len())
                    .unwrap_or(0);
                (0..n).map(|i| i as f64).collect()
            } else {
                ints.iter().map(|v| *v as f64).collect()
            };
            Op::LinearClassifier {
                coef: a.floats_or_tensor("coefficients")?,
                intercepts: a.floats_or_tensor_opt("intercepts"),
                classes,
                post: post()?,
            }
        }
        "MatMul" => Op::MatMul,
        "Gemm" => Op::Gemm {
            alpha: a.float_or("alpha", 1.0),
            beta: a.float_or("beta", 1.0),
            trans_a: a.int_or("transA", 0) != 0,
            trans_b: a.int_or("transB", 0) != 0,
        },
        "Add" => Op::Binary(|x, y| x + y),
        "Sub" => Op::Binary(|x, y| x - y),
        "Mul" => Op::Binary(|x, y| x * y),
        "Div" => Op::Binary(|x, y| x / y),
        "Relu" => Op::Unary(|x| x.max(0.0)),
        "Sigmoid" => Op::Unary(trees::sigmoid),
        "Tanh" => Op::Unary(f64::tanh),
        "Softmax" => Op::Softmax,
        "Identity" => Op::Identity,
        "Cast" => Op::Cast(a.int_or("to", i64::from(FLOAT)) as i32),
        "Reshape" => Op::Reshape,
        "Flatten" => Op::Flatten,
        other => {
            return Err(Error::Onnx(format!(
                "operator {other} (node `{}`) is not supported by tessera's ONNX runtime",
                node.name
            )));
        }
    })
}

fn broadcast(a: &Tensor, b: &Tensor, f: fn(f64, f64) -> f64) -> Result<Tensor> {
    let (big, small, swap) = if a.data.len() >= b.data.len() {
        (a, b, false)
    } else {
        (b, a, true)
    };
    if small.data.is_empty() || big.data.len() % small.data.len() != 0 {
        return Err(Error::Onnx(format!(
            "cannot broadcast shapes {:?} and {:?}",
            a.shape, b.shape
        )));
    }
    // Trailing-dimension broadcasting (the only kind exported linear/MLP graphs use).
    let m = small.data.len();
    let data = big
        .data
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = small.data[i % m];
            if swap { f(s, *v) } else { f(*v, s) }
        })
        .collect();
    let dtype = if a.dtype == FLOAT || b.dtype == FLOAT {
        FLOAT
    } else {
        a.dtype
    };
    Ok(Tensor::new(dtype, big.shape.clone(), data))
}

fn matmul(
    a: &[f64],
    (n, k): (usize, usize),
    b: &[f64],
    (k2, m): (usize, usize),
) -> Result<Vec<f64>> {
    if k != k2 {
        return Err(Error::Onnx(format!("MatMul of {n}×{k} by {k2}×{m}")));
    }
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        for p in 0..k {
            let av = a[i * k + p];
            for j in 0..m {
                out[i * m + j] += av * b[p * m + j];
            }
        }
    }
    Ok(out)
}

fn transpose(d: &[f64], (r, c): (usize, usize)) -> Vec<f64> {
    let mut t = vec![0.0; d.len()];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = d[i * c + j];
        }
    }
    t
}

fn argmax(s: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in s.iter().enumerate() {
        if *v > s[best] {
            best = i;
        }
    }
    best
}

fn linear_scores(
    x: &Tensor,
    coef: &[f64],
    intercepts: &[f64],
    outputs: usize,
) -> Result<(usize, Vec<f64>)> {
    let (n, k) = x.as_matrix();
    if coef.len() != outputs * k {
        return Err(Error::Onnx(format!(
            "{} coefficients for {outputs} outputs × {k} features",
            coef.len()
        )));
    }
    let mut s = vec![0.0; n * outputs];
    for i in 0..n {
        for o in 0..outputs {
            s[i * outputs + o] = intercepts.get(o).copied().unwrap_or(0.0)
                + (0..k)
                    .map(|j| coef[o * k + j] * x.data[i * k + j])
                    .sum::<f64>();
        }
    }
    Ok((n, s))
}

impl Step {
    fn run(&self, env: &BTreeMap<String, Tensor>) -> Result<Vec<Tensor>> {
        let arg = |i: usize| -> Result<&Tensor> {
            let name = self
                .inputs
                .get(i)
                .ok_or_else(|| Error::Onnx(format!("{:?} misses input {i}", self.op)))?;
            env.get(name)
                .ok_or_else(|| Error::Onnx(format!("value `{name}` is not computed")))
        };
        Ok(match &self.op {
            Op::Trees { ens, classifier } => {
                let x = arg(0)?;
                let (n, k) = x.as_matrix();
                if *classifier {
                    let (mut labels, mut probs) = (Vec::with_capacity(n), Vec::new());
                    for i in 0..n {
                        let (l, p) = ens.classify(&x.data[i * k..(i + 1) * k]);
                        labels.push(l);
                        probs.extend(p);
                    }
                    vec![
                        Tensor::new(INT64, vec![n], labels),
                        Tensor::new(FLOAT, vec![n, ens.outputs], probs),
                    ]
                } else {
                    let data: Vec<f64> = (0..n)
                        .flat_map(|i| ens.regress(&x.data[i * k..(i + 1) * k]))
                        .collect();
                    vec![Tensor::new(FLOAT, vec![n, ens.outputs.max(1)], data)]
                }
            }
            Op::LinearRegressor {
                coef,
                intercepts,
                targets,
                post,
            } => {
                let (n, mut s) = linear_scores(arg(0)?, coef, intercepts, *targets)?;
                s.chunks_mut(*targets).for_each(|c| post.apply(c));
                vec![Tensor::new(FLOAT, vec![n, *targets], s)]
            }
            Op::LinearClassifier {
                coef,
                intercepts,
                classes,
                post,
            } => {
                let x = arg(0)?;
                let outputs = coef.len() / x.as_matrix().1.max(1);
                let (n, s) = linear_scores(x, coef, intercepts, outputs)?;
                let nc = classes.len().max(outputs);
                let (mut labels, mut probs) = (Vec::with_capacity(n), Vec::with_capacity(n * nc));
                for row in s.chunks(outputs) {
                    if outputs == 1 && classes.len() == 2 {
                        // Binary with one score row: onnxruntime outputs [1 − p, p] (LOGISTIC) or [−s, s].
                        let v = row[0];
                        labels.push(if v > 0.0 { classes[1] } else { classes[0] });
                        match post {
                            PostTransform::Logistic => {
                                probs.extend([1.0 - trees::sigmoid(v), trees::sigmoid(v)])
                            }
                            _ => probs.extend([-v, v]),
                        }
                    } else {
                        let mut r = row.to_vec();
                        labels.push(
                            classes
                                .get(argmax(&r))
                                .copied()
                                .unwrap_or(argmax(&r) as f64),
                        );
                        post.apply(&mut r);
                        probs.extend(r);
                    }
                }
                vec![
                    Tensor::new(INT64, vec![n], labels),
                    Tensor::new(FLOAT, vec![n, nc], probs),
                ]
            }
            Op::MatMul => {
                let (a, b) = (arg(0)?, arg(1)?);
                let (am, bm) = (a.as_matrix(), b.as_matrix());
                let d = matmul(&a.data, am, &b.data, bm)?;
                vec![Tensor::new(a.dtype, vec![am.0, bm.1], d)]
            }
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            } => {
                let (a, b) = (arg(0)?, arg(1)?);
                let (mut am, mut bm) = (a.as_matrix(), b.as_matrix());
                let ad = if *trans_a {
                    am = (am.1, am.0);
                    transpose(&a.data, (am.1, am.0))
                } else {
                    a.data.clone()
                };
                let bd = if *trans_b {
                    bm = (bm.1, bm.0);
                    transpose(&b.data, (bm.1, bm.0))
                } else {
                    b.data.clone()
                };
                let mut d = matmul(&ad, am, &bd, bm)?;
                d.iter_mut().for_each(|v| *v *= alpha);
                let mut t = Tensor::new(a.dtype, vec![am.0, bm.1], d);
                if let Ok(c) = arg(2) {
                    let scaled = Tensor {
                        dtype: c.dtype,
                        shape: c.shape.clone(),
                        data: c.data.iter().map(|v| v * beta).collect(),
                    };
                    t = broadcast(&t, &scaled, |x, y| x + y)?;
                }
                vec![t]
            }
            Op::Binary(f) => vec![broadcast(arg(0)?, arg(1)?, *f)?],
            Op::Unary(f) => {
                let a = arg(0)?;
                vec![Tensor::new(
                    a.dtype,
                    a.shape.clone(),
                    a.data.iter().map(|v| f(*v)).collect(),
                )]
            }
            Op::Softmax => {
                let a = arg(0)?;
                let (_, c) = a.as_matrix();
                let mut d = a.data.clone();
                d.chunks_mut(c.max(1))
                    .for_each(|r| PostTransform::Softmax.apply(r));
                vec![Tensor::new(a.dtype, a.shape.clone(), d)]
            }
            Op::Identity => vec![arg(0)?.clone()],
            Op::Cast(to) => {
                let a = arg(0)?;
                let d = if *to == INT64 || *to == tensor::INT32 {
                    a.data.iter().map(|v| v.trunc()).collect()
                } else {
                    a.data.clone()
                };
                vec![Tensor::new(*to, a.shape.clone(), d)]
            }
            Op::Reshape => {
                let (a, s) = (arg(0)?, arg(1)?);
                let total = a.data.len();
                let mut known = 1usize;
                let mut dims: Vec<i64> = s.data.iter().map(|v| *v as i64).collect();
                for (i, d) in dims.iter_mut().enumerate() {
                    if *d == 0 {
                        *d = a.shape.get(i).copied().unwrap_or(1) as i64;
                    }
                    if *d > 0 {
                        known *= *d as usize;
                    }
                }
                let shape = dims
                    .iter()
                    .map(|d| {
                        if *d < 0 {
                            total / known.max(1)
                        } else {
                            *d as usize
                        }
                    })
                    .collect();
                vec![Tensor {
                    dtype: a.dtype,
                    shape,
                    data: a.data.clone(),
                }]
            }
            Op::Flatten => {
                let a = arg(0)?;
                let (r, c) = (
                    a.shape.first().copied().unwrap_or(1),
                    a.data.len() / a.shape.first().copied().unwrap_or(1).max(1),
                );
                vec![Tensor {
                    dtype: a.dtype,
                    shape: vec![r, c],
                    data: a.data.clone(),
                }]
            }
        })
    }
}

impl OnnxModel {
    /// Loads a model from ONNX bytes.
    ///
    /// # Errors
    /// [`Error::Onnx`] for bytes that are not an ONNX model, a graph without input or output,
    /// or an unsupported operator (named).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let model = ModelProto::decode(bytes)
            .map_err(|e| Error::Onnx(format!("not an ONNX model: {e}")))?;
        let graph = model
            .graph
            .ok_or_else(|| Error::Onnx("the model has no graph".to_owned()))?;
        let initializers: BTreeMap<String, Tensor> = graph
            .initializer
            .iter()
            .map(|t| Ok((t.name.clone(), Tensor::from_proto(t)?)))
            .collect::<Result<_>>()?;
        let input = graph
            .input
            .iter()
            .map(|i| i.name.clone())
            .find(|n| !initializers.contains_key(n))
            .ok_or_else(|| Error::Onnx("the graph has no input".to_owned()))?;
        if graph.output.is_empty() {
            return Err(Error::Onnx("the graph has no output".to_owned()));
        }
        let mut steps = Vec::new();
        let mut classes = Vec::new();
        let mut task = Task::Regression;
        for node in &graph.node {
            let op = compile(node)?;
            match &op {
                Op::Trees {
                    ens,
                    classifier: true,
                } => {
                    task = Task::Classification;
                    classes.clone_from(&ens.classes);
                }
                Op::LinearClassifier { classes: c, .. } => {
                    task = Task::Classification;
                    classes.clone_from(c);
                }
                _ => {}
            }
            steps.push(Step {
                op,
                inputs: node.input.clone(),
                outputs: node.output.clone(),
            });
        }
        Ok(Self {
            steps,
            initializers,
            input,
            outputs: graph.output.iter().map(|o| o.name.clone()).collect(),
            task,
            classes,
        })
    }

    /// Predicts every row of `x` (one prediction per row).
    ///
    /// # Errors
    /// [`Error::Onnx`] when the graph cannot be evaluated on `x` (wrong feature count, shapes).
    pub fn predict(&self, x: &Matrix) -> Result<Vec<Prediction>> {
        let mut env = self.initializers.clone();
        env.insert(
            self.input.clone(),
            Tensor::new(FLOAT, vec![x.rows, x.cols], x.data.clone()),
        );
        for step in &self.steps {
            let outs = step.run(&env)?;
            for (name, t) in step.outputs.iter().zip(outs) {
                env.insert(name.clone(), t);
            }
        }
        let get = |n: &String| {
            env.get(n)
                .ok_or_else(|| Error::Onnx(format!("output `{n}` was not computed")))
        };
        match self.task {
            Task::Classification => {
                // Outputs: label, then probabilities (skl2onnx/onnxmltools with zipmap disabled).
                let probs = self
                    .outputs
                    .iter()
                    .filter_map(|n| env.get(n))
                    .find(|t| t.dtype == FLOAT && t.shape.len() == 2)
                    .ok_or_else(|| {
                        Error::Onnx(
                            "no probability tensor among the outputs (export with zipmap=False)"
                                .to_owned(),
                        )
                    })?;
                let (n, c) = probs.as_matrix();
                Ok((0..n)
                    .map(|i| {
                        let p = probs.data[i * c..(i + 1) * c].to_vec();
                        let best = argmax(&p);
                        Prediction {
                            value: self.classes.get(best).copied().unwrap_or(best as f64),
                            probs: p,
                        }
                    })
                    .collect())
            }
            _ => {
                let out = get(&self.outputs[0])?;
                let (n, c) = out.as_matrix();
                Ok((0..n)
                    .map(|i| Prediction {
                        value: out.data[i * c],
                        probs: Vec::new(),
                    })
                    .collect())
            }
        }
    }
}
