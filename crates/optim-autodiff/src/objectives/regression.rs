//! Regressions on given data: least squares (with its normal-equations minimum) and
//! L2-regularized logistic regression.

use super::{cast_map, check_data, param, Objective};
use crate::{Error, Graph, Result, Var};
use optim_core::{Float, Tensor, TensorMap};
use std::collections::BTreeMap;

/// Least squares `1/(2n) ‖X w − y‖²` on given data; its minimum solves the normal
/// equations (when `XᵀX` is invertible).
#[derive(Clone, Debug)]
pub struct LeastSquares<F> {
    x: Tensor<F>,
    y: Tensor<F>,
}

impl<F: Float> LeastSquares<F> {
    /// The problem for features `x` of shape `[n, d]` and targets `y` of length `n`.
    pub fn new(x: Tensor<F>, y: Vec<F>) -> Result<Self> {
        check_data("least_squares", &x, y.len())?;
        let n = y.len();
        Ok(LeastSquares {
            x,
            y: Tensor::new([n, 1], y)?,
        })
    }
}

/// Solves `a z = b` for a dense `d x d` system by Gaussian elimination with partial
/// pivoting, in f64; `None` when the system is (numerically) singular.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for col in 0..d {
        let piv =
            (col..d).max_by(|&i, &j| a[i * d + col].abs().total_cmp(&a[j * d + col].abs()))?;
        if a[piv * d + col].abs() <= 1e-12 * scale {
            return None;
        }
        for k in 0..d {
            a.swap(col * d + k, piv * d + k);
        }
        b.swap(col, piv);
        for r in col + 1..d {
            let f = a[r * d + col] / a[col * d + col];
            for k in col..d {
                a[r * d + k] -= f * a[col * d + k];
            }
            b[r] -= f * b[col];
        }
    }
    let mut z = vec![0.0; d];
    for r in (0..d).rev() {
        let s: f64 = (r + 1..d).map(|k| a[r * d + k] * z[k]).sum();
        z[r] = (b[r] - s) / a[r * d + r];
    }
    Some(z)
}

impl<F: Float> Objective<F> for LeastSquares<F> {
    fn name(&self) -> &'static str {
        "least_squares"
    }
    fn init(&self) -> TensorMap<F> {
        let mut m = TensorMap::new();
        m.insert("w".into(), Tensor::zeros([self.x.shape()[1]]));
        m
    }
    fn build(&self, g: &mut Graph<F>, p: &BTreeMap<String, Var>) -> Result<Var> {
        let (n, d) = (self.x.shape()[0], self.x.shape()[1]);
        let w = param(p, "w")?;
        let w = g.reshape(w, &[d, 1])?;
        let x = g.constant(&self.x);
        let y = g.constant(&self.y);
        let pred = g.matmul(x, w)?;
        let r = g.sub(pred, y)?;
        let r2 = g.mul(r, r)?;
        let s = g.sum(r2)?;
        g.mul_scalar(s, F::of(0.5 / n as f64))
    }
    fn minimum(&self) -> Option<TensorMap<F>> {
        let (n, d) = (self.x.shape()[0], self.x.shape()[1]);
        let x: Vec<f64> = self.x.data().iter().map(|v| v.f64()).collect();
        let y: Vec<f64> = self.y.data().iter().map(|v| v.f64()).collect();
        let mut xtx = vec![0.0; d * d];
        let mut xty = vec![0.0; d];
        for r in 0..n {
            for i in 0..d {
                xty[i] += x[r * d + i] * y[r];
                for j in 0..d {
                    xtx[i * d + j] += x[r * d + i] * x[r * d + j];
                }
            }
        }
        let w = solve(xtx, xty, d)?;
        let mut m = TensorMap::new();
        m.insert("w".into(), Tensor::vector(w));
        Some(cast_map(m))
    }
}

/// Logistic regression: the mean binary cross-entropy `mean(softplus(z) − y z)` with
/// `z = X w + b`, plus `½ l2 ‖w‖²`. Labels are 0 or 1. Its minimizer has no closed form.
#[derive(Clone, Debug)]
pub struct LogisticRegression<F> {
    x: Tensor<F>,
    y: Tensor<F>,
    l2: F,
}

impl<F: Float> LogisticRegression<F> {
    /// The problem for features `x` of shape `[n, d]`, labels in `{0, 1}` and an L2
    /// penalty `l2 >= 0`; errors on mismatched shapes or other labels.
    pub fn new(x: Tensor<F>, labels: &[usize], l2: F) -> Result<Self> {
        let (n, _) = check_data("logistic_regression", &x, labels.len())?;
        if let Some(&bad) = labels.iter().find(|&&l| l > 1) {
            return Err(Error::Invalid {
                op: "logistic_regression",
                shape: x.shape().to_vec(),
                detail: format!("label {bad} is not 0 or 1"),
            });
        }
        let y: Vec<F> = labels.iter().map(|&l| F::of(l as f64)).collect();
        Ok(LogisticRegression {
            x,
            y: Tensor::new([n, 1], y)?,
            l2,
        })
    }
}

impl<F: Float> Objective<F> for LogisticRegression<F> {
    fn name(&self) -> &'static str {
        "logistic_regression"
    }
    fn init(&self) -> TensorMap<F> {
        let mut m = TensorMap::new();
        m.insert("w".into(), Tensor::zeros([self.x.shape()[1]]));
        m.insert("b".into(), Tensor::zeros([]));
        m
    }
    fn build(&self, g: &mut Graph<F>, p: &BTreeMap<String, Var>) -> Result<Var> {
        let d = self.x.shape()[1];
        let (w, b) = (param(p, "w")?, param(p, "b")?);
        let w2 = g.reshape(w, &[d, 1])?;
        let x = g.constant(&self.x);
        let y = g.constant(&self.y);
        let z = g.matmul(x, w2)?;
        let z = g.add(z, b)?;
        let sp = g.softplus(z)?;
        let yz = g.mul(y, z)?;
        let l = g.sub(sp, yz)?;
        let loss = g.mean(l)?;
        if self.l2 == F::zero() {
            return Ok(loss);
        }
        let ww = g.mul(w, w)?;
        let reg = g.sum(ww)?;
        let reg = g.mul_scalar(reg, self.l2 * F::of(0.5))?;
        g.add(loss, reg)
    }
}
