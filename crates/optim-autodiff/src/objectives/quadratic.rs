//! Quadratics: the sum of squares and the weighted quadratic, both with a known minimum.

use super::{cast_map, check_len, param, single, Objective};
use crate::{Error, Graph, Result, Var};
use optim_core::{Float, Tensor, TensorMap};
use std::collections::BTreeMap;

/// `Σ xᵢ²` over a vector of `dim` elements; minimum 0 at the origin.
#[derive(Clone, Debug)]
pub struct SumOfSquares {
    /// The number of elements of `x`.
    pub dim: usize,
}

impl<F: Float> Objective<F> for SumOfSquares {
    fn name(&self) -> &'static str {
        "sum_of_squares"
    }
    fn init(&self) -> TensorMap<F> {
        cast_map(single((1..=self.dim).map(|i| i as f64).collect()))
    }
    fn build(&self, g: &mut Graph<F>, p: &BTreeMap<String, Var>) -> Result<Var> {
        let x = param(p, "x")?;
        check_len(g, x, "sum_of_squares", self.dim)?;
        let sq = g.mul(x, x)?;
        g.sum(sq)
    }
    fn minimum(&self) -> Option<TensorMap<F>> {
        Some(cast_map(single(vec![0.0; self.dim])))
    }
}

/// The weighted quadratic `½ Σ wᵢ (xᵢ − cᵢ)²`; with positive weights its minimum is 0 at
/// `c`.
#[derive(Clone, Debug)]
pub struct WeightedQuadratic<F> {
    w: Vec<F>,
    c: Vec<F>,
}

impl<F: Float> WeightedQuadratic<F> {
    /// The quadratic with weights `w` and centre `c`; errors when their lengths differ.
    pub fn new(w: Vec<F>, c: Vec<F>) -> Result<Self> {
        if w.len() != c.len() {
            return Err(Error::Shape {
                op: "weighted_quadratic",
                lhs: vec![w.len()],
                rhs: vec![c.len()],
                detail: "weights and centre must have the same length".into(),
            });
        }
        Ok(WeightedQuadratic { w, c })
    }
}

impl<F: Float> Objective<F> for WeightedQuadratic<F> {
    fn name(&self) -> &'static str {
        "weighted_quadratic"
    }
    fn init(&self) -> TensorMap<F> {
        let mut m = TensorMap::new();
        m.insert("x".into(), Tensor::zeros([self.w.len()]));
        m
    }
    fn build(&self, g: &mut Graph<F>, p: &BTreeMap<String, Var>) -> Result<Var> {
        let x = param(p, "x")?;
        check_len(g, x, "weighted_quadratic", self.w.len())?;
        let c = g.constant(&Tensor::vector(self.c.clone()));
        let w = g.constant(&Tensor::vector(self.w.clone()));
        let d = g.sub(x, c)?;
        let d2 = g.mul(d, d)?;
        let wd = g.mul(w, d2)?;
        let s = g.sum(wd)?;
        g.mul_scalar(s, F::of(0.5))
    }
    fn minimum(&self) -> Option<TensorMap<F>> {
        if self.w.iter().all(|&w| w > F::zero()) {
            let mut m = TensorMap::new();
            m.insert("x".into(), Tensor::vector(self.c.clone()));
            Some(m)
        } else {
            None
        }
    }
}
