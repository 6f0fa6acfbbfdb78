//! Declaring an optimizer from its update equations, in a user crate that depends only
//! on `optim`: AdEMAMix (Pagliardini et al., 2024, *The AdEMAMix Optimizer: Better,
//! Faster, Older*), which mixes a fast and a slow exponential moving average of the
//! gradient.
//!
//! optim also has AdEMAMix built in ([`optim::ademamix`], a fused composition of the
//! primitives `scale_by_ademamix`, `add_decayed_weights` and `scale_by_learning_rate`,
//! as optax.contrib composes it). The declaration here writes the same equations in one
//! body, with optax's arguments, defaults and order of operations, so it computes
//! exactly what the built-in computes.
//!
//! Run it with `cargo run --release --example custom_optimizer`; its tests (`cargo test
//! --example custom_optimizer`, also part of `cargo test`) check the generated kernel
//! against a plain hand-written loop of the same equations, and against
//! `optim::ademamix` bit for bit.

use optim::{optimizer, python_e2, LearningRate, Mask, ScalarOrSchedule, Transformation};

/// The AdEMAMix optimizer.
///
/// Adam's bias-corrected fast first moment plus `alpha` times a slow one (decay `b3`,
/// not bias-corrected), over the root of Adam's bias-corrected second moment, plus the
/// weight decay on the leaves `mask` selects, scaled by the learning rate.
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
    /// Decay of the slow first moment, constant or scheduled.
    #[default(0.9999)]
    b3: ScalarOrSchedule,
    /// Weight of the slow moment, constant or scheduled.
    #[default(5.0)]
    alpha: ScalarOrSchedule,
    /// Added to the denominator outside the square root.
    #[default(1e-8)]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    eps_root: f64,
    /// Decoupled weight decay.
    #[default(0.0)]
    weight_decay: f64,
    /// The leaves to decay.
    mask: Mask,
    /// Fast first moment, storable in a narrower dtype (`mu_dtype`).
    #[state(dtype = mu_dtype)]
    m1: State,
    /// Slow first moment.
    #[state]
    m2: State,
    /// Second moment.
    #[state]
    nu: State,
) {
    // optax computes `1 - b` in Python (f64) before the element type sees it, and divides
    // each moment by its bias correction `1 - b^t`; `moment(x, m, 1 - b, b)` is
    // `(1 - b) * x + b * m`.
    let (one_minus_b1, one_minus_b2) = (1.0 - b1, 1.0 - b2);
    let (bc1, bc2) = (bias_correction(b1, t), bias_correction(b2, t));
    let one_minus_b3 = 1.0 - b3;
    each(|g, p| {
        m1 = moment(g, m1, one_minus_b1, b1);
        m2 = moment(g, m2, one_minus_b3, b3);
        nu = moment(g * g, nu, one_minus_b2, b2);
        let u = (m1 / bc1 + alpha * m2) / ((nu / bc2 + eps_root).sqrt() + eps);
        select(mask, u + weight_decay * p, u)
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
    use optim::{Float, Tensor, TensorMap};

    /// optax's equations as a plain loop over slices, written independently.
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
                m1[i] = (1.0 - b1) * g[i] + b1 * m1[i];
                m2[i] = (1.0 - b3) * g[i] + b3 * m2[i];
                nu[i] = (1.0 - b2) * (g[i] * g[i]) + b2 * nu[i];
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

    fn tree<F: Float>() -> TensorMap<F> {
        let leaf = |shape: &[usize], x: &[f64]| {
            Tensor::new(
                shape.to_vec(),
                x.iter().map(|&v| F::of(v)).collect::<Vec<F>>(),
            )
            .unwrap()
        };
        let mut m = TensorMap::new();
        m.insert("b".into(), leaf(&[3], &[0.5, -1.0, 2.0]));
        m.insert("w".into(), leaf(&[2, 2], &[1.0, -3.0, 0.25, 1e-3]));
        m
    }

    /// Params after each of 30 steps on ½ Σ (i + 1)·(x − 0.3)², as raw bits.
    fn trajectory<F: Float, T: Transformation<F>>(opt: &T) -> Vec<Vec<u64>> {
        let mut x = tree::<F>();
        let mut state = opt.init(&x).unwrap();
        let mut out = Vec::new();
        for _ in 0..30 {
            let g: TensorMap<F> = x
                .iter()
                .map(|(k, t)| {
                    let d = t.data().iter().enumerate();
                    let d = d.map(|(i, &v)| F::of(i as f64 + 1.0) * (v - F::of(0.3)));
                    (
                        k.clone(),
                        Tensor::new(t.shape().to_vec(), d.collect::<Vec<F>>()).unwrap(),
                    )
                })
                .collect();
            opt.step(&mut x, &g, &mut state).unwrap();
            out.push(
                x.values()
                    .flat_map(|t| t.data().iter().map(|v| v.f64().to_bits()))
                    .collect(),
            );
        }
        out
    }

    fn same_as_builtin<F: Float>() {
        let ours = ademamix(0.02);
        let builtin = optim::ademamix(0.02);
        assert_eq!(trajectory::<F, _>(&ours), trajectory::<F, _>(&builtin));
        let mask = [("b", false), ("w", true)];
        let ours = ademamix(0.02)
            .b1(0.8)
            .b2(0.99)
            .b3(0.995)
            .alpha(2.0)
            .eps(1e-6)
            .eps_root(1e-9)
            .weight_decay(0.05)
            .mask(mask);
        let builtin = optim::ademamix(0.02)
            .b1(0.8)
            .b2(0.99)
            .b3(0.995)
            .alpha(2.0)
            .eps(1e-6)
            .eps_root(1e-9)
            .weight_decay(0.05)
            .mask(mask);
        assert_eq!(trajectory::<F, _>(&ours), trajectory::<F, _>(&builtin));
    }

    #[test]
    fn declaration_equals_the_builtin_ademamix_bit_for_bit() {
        same_as_builtin::<f32>();
        same_as_builtin::<f64>();
    }

    #[test]
    fn defaults_are_optax_and_settable() {
        let (o, b) = (ademamix(0.1), optim::ademamix(0.1));
        assert_eq!(
            (o.b1, o.b2, o.eps, o.eps_root),
            (b.b1, b.b2, b.eps, b.eps_root)
        );
        assert_eq!((o.b1, o.b2, o.eps), (0.9, 0.999, 1e-8));
        assert_eq!((o.b3.at(0), o.alpha.at(0)), (0.9999, 5.0));
        assert_eq!(ademamix(0.1).alpha(8.0).alpha.at(0), 8.0);
        let o = ademamix(0.1).mu_dtype(optim::Dtype::BF16);
        let s = o.init(&vec![1.0f32; 3]).unwrap();
        assert_eq!(s.m1[0].dtype(), Some(optim::Dtype::BF16));
    }
}
