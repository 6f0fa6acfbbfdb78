//! Classic non-convex test functions on `x`: Rosenbrock (n-d), Beale and Himmelblau (2-d).

use super::{cast_map, check_len, param, single, Objective};
use crate::{Error, Graph, Result, Var};
use optim_core::{Float, TensorMap};
use std::collections::BTreeMap;

/// The n-d Rosenbrock function `Σ 100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)²`; minimum 0 at all ones.
#[derive(Clone, Debug)]
pub struct Rosenbrock {
    /// The number of elements of `x` (at least 2).
    pub dim: usize,
}

impl<F: Float> Objective<F> for Rosenbrock {
    fn name(&self) -> &'static str {
        "rosenbrock"
    }
    fn init(&self) -> TensorMap<F> {
        cast_map(single(
            (0..self.dim)
                .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
                .collect(),
        ))
    }
    fn build(&self, g: &mut Graph<F>, p: &BTreeMap<String, Var>) -> Result<Var> {
        let x = param(p, "x")?;
        check_len(g, x, "rosenbrock", self.dim)?;
        if self.dim < 2 {
            return Err(Error::Invalid {
                op: "rosenbrock",
                shape: vec![self.dim],
                detail: "Rosenbrock needs at least 2 dimensions".into(),
            });
        }
        let a = g.slice(x, 0, 0, self.dim - 1)?;
        let b = g.slice(x, 0, 1, self.dim)?;
        let a2 = g.mul(a, a)?;
        let d = g.sub(b, a2)?;
        let d2 = g.mul(d, d)?;
        let t1 = g.mul_scalar(d2, F::of(100.0))?;
        let one = g.scalar(F::one());
        let e = g.sub(one, a)?;
        let t2 = g.mul(e, e)?;
        let s = g.add(t1, t2)?;
        g.sum(s)
    }
    fn minimum(&self) -> Option<TensorMap<F>> {
        Some(cast_map(single(vec![1.0; self.dim])))
    }
}

/// Splits a 2-vector parameter into its two elements (each of shape `[1]`).
fn xy<F: Float>(
    g: &mut Graph<F>,
    p: &BTreeMap<String, Var>,
    name: &'static str,
) -> Result<(Var, Var)> {
    let x = param(p, "x")?;
    check_len(g, x, name, 2)?;
    Ok((g.slice(x, 0, 0, 1)?, g.slice(x, 0, 1, 2)?))
}

/// Beale's function on `x = [x, y]`; minimum 0 at `(3, 0.5)`.
#[derive(Clone, Debug, Default)]
pub struct Beale;

impl<F: Float> Objective<F> for Beale {
    fn name(&self) -> &'static str {
        "beale"
    }
    fn init(&self) -> TensorMap<F> {
        cast_map(single(vec![1.0, 1.0]))
    }
    fn build(&self, g: &mut Graph<F>, p: &BTreeMap<String, Var>) -> Result<Var> {
        let (x, y) = xy(g, p, "beale")?;
        let mut total = g.scalar(F::zero());
        for (i, c) in [(1, 1.5), (2, 2.25), (3, 2.625)] {
            let yi = g.powi(y, i)?;
            let xyi = g.mul(x, yi)?;
            let t = g.sub(xyi, x)?;
            let t = g.add_scalar(t, F::of(c))?;
            let t2 = g.mul(t, t)?;
            total = g.add(total, t2)?;
        }
        g.sum(total)
    }
    fn minimum(&self) -> Option<TensorMap<F>> {
        Some(cast_map(single(vec![3.0, 0.5])))
    }
}

/// Himmelblau's function `(x² + y − 11)² + (x + y² − 7)²`; four minima of value 0, of which
/// [`Objective::minimum`] returns `(3, 2)` and [`Himmelblau::MINIMA`] lists all.
#[derive(Clone, Debug, Default)]
pub struct Himmelblau;

impl Himmelblau {
    /// The four minimizers (the three irrational ones to 6 decimals).
    pub const MINIMA: [[f64; 2]; 4] = [
        [3.0, 2.0],
        [-2.805118, 3.131312],
        [-3.779310, -3.283186],
        [3.584428, -1.848126],
    ];
}

impl<F: Float> Objective<F> for Himmelblau {
    fn name(&self) -> &'static str {
        "himmelblau"
    }
    fn init(&self) -> TensorMap<F> {
        cast_map(single(vec![0.0, 0.0]))
    }
    fn build(&self, g: &mut Graph<F>, p: &BTreeMap<String, Var>) -> Result<Var> {
        let (x, y) = xy(g, p, "himmelblau")?;
        let x2 = g.mul(x, x)?;
        let y2 = g.mul(y, y)?;
        let a = g.add(x2, y)?;
        let a = g.add_scalar(a, F::of(-11.0))?;
        let b = g.add(x, y2)?;
        let b = g.add_scalar(b, F::of(-7.0))?;
        let a2 = g.mul(a, a)?;
        let b2 = g.mul(b, b)?;
        let s = g.add(a2, b2)?;
        g.sum(s)
    }
    fn minimum(&self) -> Option<TensorMap<F>> {
        Some(cast_map(single(vec![3.0, 2.0])))
    }
}
