//! Named test objectives, with values and gradients from the engine.
//!
//! Every objective takes its parameters as a [`TensorMap`]: the classic test functions use
//! one leaf `"x"`; the regressions use `"w"` (and `"b"` for the logistic intercept); the
//! MLP classifier uses `"layer{i}.w"` and `"layer{i}.b"`.
//! [`Objective::value_and_grad`] returns gradients in the same tree, ready for an
//! optimizer's `step`.
//!
//! The problems, by family (one source file each, next to the `mod.rs` that holds the
//! [`Objective`] trait and the helpers the families share):
//!
//! - quadratics (`quadratic.rs`): [`SumOfSquares`], [`WeightedQuadratic`];
//! - non-convex test functions (`nonconvex.rs`): [`Rosenbrock`], [`Beale`],
//!   [`Himmelblau`];
//! - regressions on given data (`regression.rs`): [`LeastSquares`],
//!   [`LogisticRegression`];
//! - a neural network (`mlp.rs`): [`MlpClassifier`], with its [`Activation`].

mod mlp;
mod nonconvex;
mod quadratic;
mod regression;

pub use mlp::{Activation, MlpClassifier};
pub use nonconvex::{Beale, Himmelblau, Rosenbrock};
pub use quadratic::{SumOfSquares, WeightedQuadratic};
pub use regression::{LeastSquares, LogisticRegression};

use crate::{value_and_grad, Error, Graph, Result, Var};
use optim_core::{Float, Tensor, TensorMap};
use std::collections::BTreeMap;

/// A differentiable test problem.
pub trait Objective<F: Float> {
    /// A short name (`"rosenbrock"`).
    fn name(&self) -> &'static str;

    /// The customary starting point.
    fn init(&self) -> TensorMap<F>;

    /// Records the objective on `g` for the parameters `params` (as returned by
    /// [`Graph::params`]) and returns the scalar loss.
    fn build(&self, g: &mut Graph<F>, params: &BTreeMap<String, Var>) -> Result<Var>;

    /// A known minimizer, where one exists and is known.
    fn minimum(&self) -> Option<TensorMap<F>> {
        None
    }

    /// The value of the objective at `params`.
    fn value(&self, params: &TensorMap<F>) -> Result<F> {
        let mut g = Graph::new();
        let vars = g.params(params)?;
        let loss = self.build(&mut g, &vars)?;
        g.item(loss)
    }

    /// The value and the gradient (keyed like `params`) at `params`.
    fn value_and_grad(&self, params: &TensorMap<F>) -> Result<(F, TensorMap<F>)> {
        value_and_grad(params, |g, v| self.build(g, v))
    }

    /// [`value_and_grad`](Self::value_and_grad) on a graph the caller keeps, which is
    /// [reset](Graph::reset) first: a training loop that calls this every step reuses the
    /// graph's buffers instead of allocating new ones (hand the gradients back with
    /// [`Graph::recycle`] after the optimizer step to reuse theirs too).
    fn value_and_grad_in(
        &self,
        g: &mut Graph<F>,
        params: &TensorMap<F>,
    ) -> Result<(F, TensorMap<F>)> {
        g.reset();
        let vars = g.params(params)?;
        let loss = self.build(g, &vars)?;
        let value = g.item(loss)?;
        Ok((value, g.backward(loss)?))
    }

    /// The value at the known minimizer, where one is known.
    fn min_value(&self) -> Option<F> {
        self.minimum().and_then(|m| self.value(&m).ok())
    }
}

pub(super) fn single(x: Vec<f64>) -> TensorMap<f64> {
    let mut m = TensorMap::new();
    m.insert("x".into(), Tensor::vector(x));
    m
}

pub(super) fn cast_map<F: Float>(m: TensorMap<f64>) -> TensorMap<F> {
    m.into_iter()
        .map(|(k, t)| {
            let shape = t.shape().to_vec();
            let data: Vec<F> = t.data().iter().map(|&v| F::of(v)).collect();
            (k, Tensor::new(shape, data).expect("same shape and length"))
        })
        .collect()
}

pub(super) fn param(params: &BTreeMap<String, Var>, name: &str) -> Result<Var> {
    params.get(name).copied().ok_or_else(|| Error::Invalid {
        op: "objective",
        shape: vec![],
        detail: format!("the parameters have no leaf `{name}`"),
    })
}

pub(super) fn check_len<F: Float>(
    g: &Graph<F>,
    x: Var,
    name: &'static str,
    len: usize,
) -> Result<()> {
    let shape = g.shape(x)?;
    if shape != [len] {
        return Err(Error::Shape {
            op: name,
            lhs: shape.to_vec(),
            rhs: vec![len],
            detail: "the parameter `x` has the wrong shape".into(),
        });
    }
    Ok(())
}

/// Checks that `x` is `[n, d]` and `y` has `n` entries, returning `(n, d)`.
pub(super) fn check_data<F: Float>(
    op: &'static str,
    x: &Tensor<F>,
    n_y: usize,
) -> Result<(usize, usize)> {
    if x.shape().len() != 2 || x.shape()[0] != n_y || n_y == 0 {
        return Err(Error::Shape {
            op,
            lhs: x.shape().to_vec(),
            rhs: vec![n_y],
            detail: "features must be [n, d] with n > 0 and one target per row".into(),
        });
    }
    Ok((x.shape()[0], x.shape()[1]))
}
