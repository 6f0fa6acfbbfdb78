//! COCOB (`src/optimizers/cocob.rs`): against the chain of its primitives, and its first
//! step by hand.

use optim_core::{
    add_decayed_weights, chain, cocob, scale_by_cocob, scale_by_learning_rate, Float,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_chain<F: Float>() {
    let q = quadratic::<F>();
    let mask = [("b", true), ("w", false)];
    let fused = cocob()
        .learning_rate(0.5)
        .alpha(20.0)
        .weight_decay(0.05)
        .mask(mask);
    let chained = chain!(
        add_decayed_weights().weight_decay(0.05).mask(mask),
        scale_by_learning_rate(0.5).flip_sign(false),
        scale_by_cocob().alpha(20.0)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
}

#[test]
fn cocob_is_the_chain_of_its_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn the_first_step_bets_on_the_negative_gradient() {
    // L = max(eps, |g|), G = |g|, R = 0, C = -g: the update is -g / max(|g| + L, alpha L).
    let q = quadratic::<f64>();
    let g = flat(&q.grads(&q.params()));
    let got = q.first_update(&cocob());
    for (a, &g) in got.iter().zip(&g) {
        let l = g.abs().max(1e-8);
        let want = -g / (l * (g.abs() + l).max(100.0 * l)) * l;
        // The update is (x0 + bet) − x, whose rounding is that of the params (|x| ≤ 3).
        assert!((a - want).abs() <= 1e-15, "{a} vs {want}");
    }
}
