//! The multi-layer perceptron classifier and its activation.

use super::{check_data, param, Objective};
use crate::{Error, Graph, Result, Var};
use optim_core::{Float, Tensor, TensorMap};
use std::collections::BTreeMap;

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
