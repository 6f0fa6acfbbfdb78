//! Adan (`src/optimizers/adan.rs`): against the chain of its primitives, its first step by
//! hand, and the defaults (the alias's `eps_root` is not the primitive's).

use optim_core::{adan, add_decayed_weights, chain, scale_by_adan, scale_by_learning_rate, Float};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_chain<F: Float>() {
    let (lr, q) = (0.02, quadratic::<F>());
    let mask = [("b", false), ("w", true)];
    let fused = adan(lr)
        .b1(0.9)
        .b2(0.9)
        .b3(0.95)
        .weight_decay(0.05)
        .mask(mask);
    let chained = chain!(
        scale_by_adan().b1(0.9).b2(0.9).b3(0.95).eps_root(1e-8),
        add_decayed_weights().weight_decay(0.05).mask(mask),
        scale_by_learning_rate(lr)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
}

#[test]
fn adan_is_the_chain_of_its_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn the_first_step_normalizes_the_gradient() {
    // On the first step the gradient difference is zero and each bias-corrected moment is
    // the gradient (or its square) itself: the step is g / (sqrt(g² + eps_root) + eps).
    let (lr, q) = (0.02, quadratic::<f64>());
    let g = flat(&q.grads(&q.params()));
    let want: Vec<f64> = g
        .iter()
        .map(|&g| -lr * (g / ((g * g + 1e-8).sqrt() + 1e-8)))
        .collect();
    let got = q.first_update(&adan(lr));
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-15 * b.abs(), "{a} vs {b}");
    }
}

#[test]
fn defaults_match_optax() {
    let a = adan(0.1);
    assert_eq!(
        (a.b1, a.b2, a.b3, a.eps, a.eps_root),
        (0.98, 0.92, 0.99, 1e-8, 1e-8)
    );
    assert_eq!(a.weight_decay.at(0), 0.0);
    // optax's scale_by_adan defaults eps_root to 0, its alias to 1e-8.
    assert_eq!(scale_by_adan().eps_root, 0.0);
}
