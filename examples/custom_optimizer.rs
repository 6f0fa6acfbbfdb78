//! Declaring an optimizer that optax's core lacks, in a user crate that depends only on
//! `optim`: AdEMAMix (Pagliardini et al., 2024, *The AdEMAMix Optimizer: Better, Faster,
//! Older*), which mixes a fast and a slow exponential moving average of the gradient.
//!
//! Run it with `cargo run --release --example custom_optimizer`; its test (`cargo test
//! --example custom_optimizer`, also part of `cargo test`) checks the generated fused
//! kernel against a plain hand-written loop of the same equations.

use optim::{optimizer, python_e2, LearningRate, Transformation};

/// The AdEMAMix optimizer.
///
/// Adam's fast first moment plus `alpha` times a slow one (decay `b3`), over Adam's
/// second moment, with decoupled weight decay.
///
/// Reference: Pagliardini et al., 2024, <https://arxiv.org/abs/2409.03137>.
#[optimizer(doc_trace(
    solver = ademamix(0.003),
    printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01"
))]
pub fn ademamix(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Decay of the fast first moment.
    #[default(0.9)]
    b1: f64,
    /// Decay of the second moment.
    #[default(0.999)]
    b2: f64,
    /// Decay of the slow first moment.
    #[default(0.9999)]
    b3: f64,
    /// Weight of the slow moment.
    #[default(5.0)]
    alpha: f64,
    /// Added to the denominator.
    #[default(1e-8)]
    eps: f64,
    /// Decoupled weight decay.
    #[default(0.0)]
    weight_decay: f64,
    /// Fast first moment, storable in a narrower dtype (`m1_dtype`).
    #[state(dtype = m1_dtype)]
    m1: State,
    /// Slow first moment.
    #[state]
    m2: State,
    /// Second moment.
    #[state]
    nu: State,
) {
    let bc1 = 1.0 - b1.powf(t);
    let bc2 = 1.0 - b2.powf(t);
    each(|g, p| {
        m1 = b1 * m1 + (1.0 - b1) * g;
        m2 = b3 * m2 + (1.0 - b3) * g;
        nu = b2 * nu + (1.0 - b2) * g * g;
        (m1 / bc1 + alpha * m2) / ((nu / bc2).sqrt() + eps) + weight_decay * p
    })
}

fn main() {
    // The seed's example problem: f(x) = Σ x² from [1, 2, 3], gradient 2x.
    let f = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>();
    let opt = ademamix(0.003);
    let mut params = vec![1.0f32, 2.0, 3.0];
    let mut state = opt.init(&params).expect("init");
    println!("Objective function:  {}", f(&params));
    for _ in 0..5 {
        let grads: Vec<f32> = params.iter().map(|x| 2.0 * x).collect();
        opt.step(&mut params, &grads, &mut state).expect("step");
        println!("Objective function: {}", python_e2(f(&params) as f64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same equations as a plain loop over slices, written independently.
    fn reference(
        steps: usize,
        lr: f64,
        wd: f64,
        x0: &[f64],
        grad: impl Fn(&[f64]) -> Vec<f64>,
    ) -> Vec<f64> {
        let (b1, b2, b3, alpha, eps) = (0.9f64, 0.999f64, 0.9999f64, 5.0, 1e-8);
        let n = x0.len();
        let (mut x, mut m1, mut m2, mut nu) =
            (x0.to_vec(), vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for t in 1..=steps {
            let g = grad(&x);
            for i in 0..n {
                m1[i] = b1 * m1[i] + (1.0 - b1) * g[i];
                m2[i] = b3 * m2[i] + (1.0 - b3) * g[i];
                nu[i] = b2 * nu[i] + (1.0 - b2) * g[i] * g[i];
                let m_hat = m1[i] / (1.0 - b1.powi(t as i32));
                let v_hat = nu[i] / (1.0 - b2.powi(t as i32));
                x[i] -= lr * ((m_hat + alpha * m2[i]) / (v_hat.sqrt() + eps) + wd * x[i]);
            }
        }
        x
    }

    #[test]
    fn generated_kernel_matches_a_hand_written_loop() {
        let grad = |x: &[f64]| {
            x.iter()
                .enumerate()
                .map(|(i, v)| (i as f64 + 1.0) * v - 0.5)
                .collect::<Vec<_>>()
        };
        let x0 = [1.0, -2.0, 3.0, 0.25];
        let opt = ademamix(0.01).weight_decay(0.1);
        let mut x = x0.to_vec();
        let mut state = opt.init(&x).unwrap();
        for _ in 0..50 {
            let g = grad(&x);
            opt.step(&mut x, &g, &mut state).unwrap();
        }
        let want = reference(50, 0.01, 0.1, &x0, grad);
        for (a, b) in x.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert_eq!(state.count, 50);
    }

    #[test]
    fn defaults_are_documented_and_settable() {
        let o = ademamix(0.1);
        assert_eq!((o.b1, o.b2, o.b3, o.alpha), (0.9, 0.999, 0.9999, 5.0));
        assert_eq!(ademamix(0.1).alpha(8.0).alpha, 8.0);
        let o = ademamix(0.1).m1_dtype(optim::Dtype::BF16);
        let s = o.init(&vec![1.0f32; 3]).unwrap();
        assert_eq!(s.m1[0].dtype(), Some(optim::Dtype::BF16));
    }
}
