//! Shared helpers of the integration tests: a seeded generator and a finite-difference
//! gradient checker.

#![allow(dead_code)]

use optim_autodiff::{Graph, Result, Var};
use optim_core::Tensor;

/// SplitMix64: a tiny seeded generator, so test inputs are reproducible from a seed.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// A tensor of the given shape with uniform elements in `[lo, hi)`.
    pub fn tensor(&mut self, shape: &[usize], lo: f64, hi: f64) -> Tensor<f64> {
        let n: usize = shape.iter().product();
        let data: Vec<f64> = (0..n).map(|_| self.uniform(lo, hi)).collect();
        Tensor::new(shape.to_vec(), data).unwrap()
    }

    /// A uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A function recording an op under test on a graph, from the input variables.
pub type Build<'a> = dyn Fn(&mut Graph<f64>, &[Var]) -> Result<Var> + 'a;

/// Evaluates `sum(w * build(inputs))` for a fixed random weight tensor `w` (seeded by
/// `wseed`), returning the graph, the loss and the input variables.
fn weighted(inputs: &[Tensor<f64>], wseed: u64, build: &Build<'_>) -> (Graph<f64>, Var) {
    let mut g = Graph::new();
    let vars: Vec<Var> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.param(format!("in{i}"), t).unwrap())
        .collect();
    let out = build(&mut g, &vars).unwrap();
    let shape = g.shape(out).unwrap().to_vec();
    let w = Rng::new(wseed).tensor(&shape, -1.0, 1.0);
    let w = g.constant(&w);
    let prod = g.mul(out, w).unwrap();
    let loss = g.sum(prod).unwrap();
    (g, loss)
}

/// Checks the engine's gradient of `sum(w * build(inputs))` against central finite
/// differences for every element of every input, and returns the largest error seen.
pub fn check_grad(
    inputs: &[Tensor<f64>],
    wseed: u64,
    build: &Build<'_>,
) -> std::result::Result<f64, String> {
    let (mut g, loss) = weighted(inputs, wseed, build);
    let grads = g.backward_partial(loss).map_err(|e| e.to_string())?;
    let eps = 1e-6;
    let mut worst: f64 = 0.0;
    for (i, t) in inputs.iter().enumerate() {
        let key = format!("in{i}");
        let ad = match grads.grads.get(&key) {
            Some(a) => a.data().to_vec(),
            None => vec![0.0; t.len()],
        };
        if ad.len() != t.len() {
            return Err(format!(
                "{key}: gradient has {} elements, input {}",
                ad.len(),
                t.len()
            ));
        }
        for (j, &adj) in ad.iter().enumerate() {
            let eval = |delta: f64| {
                let mut moved: Vec<Tensor<f64>> = inputs.to_vec();
                moved[i].data_mut()[j] += delta;
                let (g, loss) = weighted(&moved, wseed, build);
                g.item(loss).unwrap()
            };
            let fd = (eval(eps) - eval(-eps)) / (2.0 * eps);
            let err = (adj - fd).abs() / (1.0 + fd.abs());
            worst = worst.max(err);
            if err > 1e-5 || !err.is_finite() {
                return Err(format!(
                    "{key}[{j}] (shape {:?}): autodiff {} vs finite difference {fd}",
                    t.shape(),
                    adj
                ));
            }
        }
    }
    Ok(worst)
}
