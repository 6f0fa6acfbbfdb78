//! Named test objectives, with values and gradients from the engine.
//!
//! Every objective takes its parameters as a [`TensorMap`]: the classic test functions use
//! one leaf `"x"`; the regressions use `"w"` (and `"b"` for the logistic intercept); the
//! MLP classifier uses `"layer{i}.w"` and `"layer{i}.b"`.
//! [`Objective::value_and_grad`] returns gradients in the same tree, ready for an
//! optimizer's `step`.

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

fn single(x: Vec<f64>) -> TensorMap<f64> {
    let mut m = TensorMap::new();
    m.insert("x".into(), Tensor::vector(x));
    m
}

fn cast_map<F: Float>(m: TensorMap<f64>) -> TensorMap<F> {
    m.into_iter()
        .map(|(k, t)| {
            let shape = t.shape().to_vec();
            let data: Vec<F> = t.data().iter().map(|&v| F::of(v)).collect();
            (k, Tensor::new(shape, data).expect("same shape and length"))
        })
        .collect()
}

fn param(params: &BTreeMap<String, Var>, name: &str) -> Result<Var> {
    params.get(name).copied().ok_or_else(|| Error::Invalid {
        op: "objective",
        shape: vec![],
        detail: format!("the parameters have no leaf `{name}`"),
    })
}

fn check_len<F: Float>(g: &Graph<F>, x: Var, name: &'static str, len: usize) -> Result<()> {
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

/// Checks that `x` is `[n, d]` and `y` has `n` entries, returning `(n, d)`.
fn check_data<F: Float>(op: &'static str, x: &Tensor<F>, n_y: usize) -> Result<(usize, usize)> {
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

/// The activation between the layers of an [`MlpClassifier`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`; weights start with He scaling, `N(0, 2 / fan_in)`.
    #[default]
    Relu,
    /// `tanh(x)`; weights start with LeCun scaling, `N(0, 1 / fan_in)`.
    Tanh,
}

/// A multi-layer perceptron classifier: the mean softmax cross-entropy of
/// `dense(act(... act(dense(X))))` against integer labels.
///
/// `sizes` lists every layer's width, from the number of features to the number of
/// classes (`[4, 16, 3]`: 4 features, one hidden layer of 16, 3 classes). Layer `i` has the
/// parameters `"layer{i}.w"` of shape `[sizes[i], sizes[i + 1]]` (so a layer computes
/// `x w + b` on row-major batches) and `"layer{i}.b"` of shape `[sizes[i + 1]]`. The hidden
/// layers use an [`Activation`]; the last layer gives the logits. The loss has no known
/// minimum (it approaches 0 only on separable data), so [`Objective::minimum`] is `None`.
#[derive(Clone, Debug)]
pub struct MlpClassifier<F> {
    x: Tensor<F>,
    labels: Vec<usize>,
    sizes: Vec<usize>,
    activation: Activation,
    seed: u64,
}

impl<F: Float> MlpClassifier<F> {
    /// The classifier for features `x` of shape `[n, d]`, one label in `0..classes` per row,
    /// and layer widths `sizes = [d, hidden..., classes]`. Errors name the offending field:
    /// a `sizes` that does not start at `d`, a zero width, fewer than two sizes, a label
    /// count that differs from `n`, or a label out of range.
    pub fn new(x: Tensor<F>, labels: &[usize], sizes: &[usize]) -> Result<Self> {
        let (_, d) = check_data("mlp_classifier", &x, labels.len())?;
        let invalid = |detail: String| Error::Invalid {
            op: "mlp_classifier",
            shape: sizes.to_vec(),
            detail,
        };
        if sizes.len() < 2 {
            return Err(invalid(
                "`sizes` needs at least the input and the output width".into(),
            ));
        }
        if sizes[0] != d {
            return Err(Error::Shape {
                op: "mlp_classifier",
                lhs: x.shape().to_vec(),
                rhs: sizes.to_vec(),
                detail: format!("`sizes[0]` ({}) must equal the {d} features", sizes[0]),
            });
        }
        if let Some(i) = sizes.iter().position(|&s| s == 0) {
            return Err(invalid(format!("`sizes[{i}]` is 0")));
        }
        let classes = sizes[sizes.len() - 1];
        if let Some(i) = labels.iter().position(|&l| l >= classes) {
            return Err(invalid(format!(
                "`labels[{i}]` = {} is out of range for {classes} classes (the last size)",
                labels[i]
            )));
        }
        Ok(MlpClassifier {
            x,
            labels: labels.to_vec(),
            sizes: sizes.to_vec(),
            activation: Activation::Relu,
            seed: 0,
        })
    }

    /// Uses `activation` between the layers (ReLU by default).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Seeds the random initial weights of [`Objective::init`] (0 by default).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The layer widths, from features to classes.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// The number of layers (weight matrices).
    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The training features, `[n, d]`.
    pub fn features(&self) -> &Tensor<F> {
        &self.x
    }

    /// The training labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    fn layer_params(
        &self,
        g: &Graph<F>,
        p: &BTreeMap<String, Var>,
        layer: usize,
    ) -> Result<(Var, Var)> {
        let (fan_in, fan_out) = (self.sizes[layer], self.sizes[layer + 1]);
        let mut out = [None; 2];
        for (slot, (leaf, want)) in out
            .iter_mut()
            .zip([("w", vec![fan_in, fan_out]), ("b", vec![fan_out])])
        {
            let path = format!("layer{layer}.{leaf}");
            let v = param(p, &path)?;
            let got = g.shape(v)?;
            if got != want.as_slice() {
                return Err(Error::Shape {
                    op: "mlp_classifier",
                    lhs: got.to_vec(),
                    rhs: want,
                    detail: format!("the parameter `{path}` has the wrong shape"),
                });
            }
            *slot = Some(v);
        }
        match out {
            [Some(w), Some(b)] => Ok((w, b)),
            _ => unreachable!("both slots are filled above"),
        }
    }

    /// Records the network on `x` (a value of shape `[batch, d]` on `g`) and returns the
    /// logits, `[batch, classes]`. Errors name a missing or misshapen parameter.
    pub fn logits(&self, g: &mut Graph<F>, params: &BTreeMap<String, Var>, x: Var) -> Result<Var> {
        let mut h = x;
        for layer in 0..self.layers() {
            let (w, b) = self.layer_params(g, params, layer)?;
            let z = g.matmul(h, w)?;
            h = g.add(z, b)?;
            if layer + 1 < self.layers() {
                h = match self.activation {
                    Activation::Relu => g.relu(h)?,
                    Activation::Tanh => g.tanh(h)?,
                };
            }
        }
        Ok(h)
    }

    /// Records the mean cross-entropy on other data with the same features (a mini-batch,
    /// a held-out set). Errors when `x` is not `[labels.len(), d]` or a label is out of
    /// range.
    pub fn loss_on(
        &self,
        g: &mut Graph<F>,
        params: &BTreeMap<String, Var>,
        x: &Tensor<F>,
        labels: &[usize],
    ) -> Result<Var> {
        let (_, d) = check_data("mlp_classifier", x, labels.len())?;
        if d != self.sizes[0] {
            return Err(Error::Shape {
                op: "mlp_classifier",
                lhs: x.shape().to_vec(),
                rhs: self.sizes.clone(),
                detail: format!("the data has {d} features, `sizes[0]` is {}", self.sizes[0]),
            });
        }
        let xv = g.constant(x);
        let logits = self.logits(g, params, xv)?;
        g.cross_entropy(logits, labels)
    }

    /// The predicted class (the largest logit; the first on ties) of every row of `x`.
    pub fn predict(&self, params: &TensorMap<F>, x: &Tensor<F>) -> Result<Vec<usize>> {
        let mut g = Graph::new();
        let vars = g.params(params)?;
        if x.shape().len() != 2 || x.shape()[1] != self.sizes[0] {
            return Err(Error::Shape {
                op: "mlp_classifier",
                lhs: x.shape().to_vec(),
                rhs: self.sizes.clone(),
                detail: "the data must be [n, sizes[0]]".into(),
            });
        }
        let xv = g.constant(x);
        let logits = self.logits(&mut g, &vars, xv)?;
        let c = self.classes();
        Ok(g.data(logits)?
            .chunks(c)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, F::neg_infinity()), |(bi, bv), (i, &v)| {
                        if v > bv {
                            (i, v)
                        } else {
                            (bi, bv)
                        }
                    })
                    .0
            })
            .collect())
    }

    /// The fraction of rows of `x` whose predicted class is the label.
    pub fn accuracy(&self, params: &TensorMap<F>, x: &Tensor<F>, labels: &[usize]) -> Result<f64> {
        let pred = self.predict(params, x)?;
        if pred.len() != labels.len() || labels.is_empty() {
            return Err(Error::Shape {
                op: "mlp_classifier",
                lhs: x.shape().to_vec(),
                rhs: vec![labels.len()],
                detail: "accuracy needs one label per row, and at least one row".into(),
            });
        }
        let hits = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(hits as f64 / labels.len() as f64)
    }
}

impl<F: Float> Objective<F> for MlpClassifier<F> {
    fn name(&self) -> &'static str {
        "mlp_classifier"
    }
    /// Weights drawn from `N(0, s / fan_in)` (`s` = 2 for ReLU, 1 for tanh) with the
    /// counter-based generator of `optim_core::noise`, seeded by [`MlpClassifier::with_seed`];
    /// biases zero.
    fn init(&self) -> TensorMap<F> {
        let gain = match self.activation {
            Activation::Relu => 2.0,
            Activation::Tanh => 1.0,
        };
        let mut m = TensorMap::new();
        for (layer, pair) in self.sizes.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let std = (gain / fan_in as f64).sqrt();
            let w: Vec<F> = (0..fan_in * fan_out)
                .map(|i| F::of(std * optim_core::noise::normal(self.seed, 0, layer, i)))
                .collect();
            let w = Tensor::new([fan_in, fan_out], w).expect("length matches the shape");
            m.insert(format!("layer{layer}.w"), w);
            m.insert(format!("layer{layer}.b"), Tensor::zeros([fan_out]));
        }
        m
    }
    fn build(&self, g: &mut Graph<F>, p: &BTreeMap<String, Var>) -> Result<Var> {
        self.loss_on(g, p, &self.x, &self.labels)
    }
}
