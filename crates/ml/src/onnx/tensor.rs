//! Tensors of the ONNX interpreter: numbers held as `f64` with the element type they stand for.

use crate::error::{Error, Result};
use crate::onnx::proto::TensorProto;

/// ONNX element type codes used here.
pub(crate) const FLOAT: i32 = 1;
pub(crate) const INT32: i32 = 6;
pub(crate) const INT64: i32 = 7;
pub(crate) const DOUBLE: i32 = 11;

/// A dense tensor. Values are kept as `f64`; a `FLOAT` tensor's values are always exactly
/// representable as `f32` (rounded after each operation), so comparisons against `f32` tree
/// thresholds decide exactly as onnxruntime does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    pub(crate) dtype: i32,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: Vec<f64>,
}

impl Tensor {
    pub(crate) fn new(dtype: i32, shape: Vec<usize>, mut data: Vec<f64>) -> Self {
        if dtype == FLOAT {
            data.iter_mut().for_each(|v| *v = f64::from(*v as f32));
        }
        Self { dtype, shape, data }
    }

    pub(crate) fn from_proto(t: &TensorProto) -> Result<Self> {
        let shape: Vec<usize> = t.dims.iter().map(|d| (*d).max(0) as usize).collect();
        let n: usize = shape.iter().product();
        let raw = &t.raw_data;
        let data: Vec<f64> = match t.data_type {
            FLOAT if !raw.is_empty() => raw
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            FLOAT => t.float_data.iter().map(|v| f64::from(*v)).collect(),
            DOUBLE if !raw.is_empty() => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DOUBLE => t.double_data.clone(),
            INT64 if !raw.is_empty() => raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
                .collect(),
            INT64 => t.int64_data.iter().map(|v| *v as f64).collect(),
            INT32 if !raw.is_empty() => raw
                .chunks_exact(4)
                .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            INT32 => t.int32_data.iter().map(|v| f64::from(*v)).collect(),
            other => {
                return Err(Error::Onnx(format!(
                    "initializer `{}` has unsupported element type {other}",
                    t.name
                )));
            }
        };
        if data.len() != n {
            return Err(Error::Onnx(format!(
                "initializer `{}` has {} values for shape {shape:?}",
                t.name,
                data.len()
            )));
        }
        Ok(Self {
            dtype: t.data_type,
            shape,
            data,
        })
    }

    /// Rows and columns of a tensor seen as a matrix (`[n]` is `n × 1`; higher ranks fold the
    /// leading dimensions into rows).
    pub(crate) fn as_matrix(&self) -> (usize, usize) {
        match self.shape.len() {
            0 => (1, 1),
            1 => (self.shape[0], 1),
            _ => {
                let c = *self.shape.last().unwrap_or(&1);
                (self.data.len() / c.max(1), c)
            }
        }
    }
}
