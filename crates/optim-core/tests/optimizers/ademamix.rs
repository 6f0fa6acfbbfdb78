//! AdEMAMix and Simplified AdEMAMix (`src/optimizers/ademamix.rs`): each against the chain
//! of its primitives, schedules read at the 0-based step, where `mu_dtype` applies, and
//! the defaults.

use optim_core::schedule::linear_schedule;
use optim_core::{
    adam, add_decayed_weights, ademamix, chain, scale_by_ademamix, scale_by_learning_rate,
    scale_by_simplified_ademamix, simplified_ademamix, Buf, Dtype, Float, Transformation,
};

use crate::common::Quadratic;

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_chain<F: Float>() {
    let (lr, q) = (0.02, quadratic::<F>());
    let mask = [("b", false), ("w", true)];
    let fused = ademamix(lr).b3(0.999).weight_decay(0.05).mask(mask);
    let chained = chain!(
        scale_by_ademamix().b3(0.999).alpha(5.0),
        add_decayed_weights().weight_decay(0.05).mask(mask),
        scale_by_learning_rate(lr)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
    let fused = simplified_ademamix(lr)
        .alpha(1.0)
        .b1(0.9)
        .weight_decay(0.05);
    let chained = chain!(
        scale_by_simplified_ademamix().alpha(1.0).b1(0.9),
        add_decayed_weights().weight_decay(0.05),
        scale_by_learning_rate(lr)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
}

#[test]
fn each_is_the_chain_of_its_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn alpha_is_scheduled_at_the_zero_based_step() {
    // alpha(0) = 0: the first step is that of alpha = 0, which is Adam's (the slow EMA has
    // weight zero); later steps mix.
    let q = quadratic::<f64>();
    let ramp = linear_schedule(0.0, 5.0, 4, 0);
    let ramped = ademamix(0.02).alpha(ramp);
    assert_eq!(
        q.first_update(&ramped),
        q.first_update(&ademamix(0.02).alpha(0.0))
    );
    for (a, b) in q
        .first_update(&ramped)
        .iter()
        .zip(&q.first_update(&adam(0.02)))
    {
        assert!((a - b).abs() <= 1e-15 * b.abs(), "{a} vs {b}");
    }
    let fixed = ademamix(0.02).alpha(5.0);
    assert_ne!(q.run(&ramped, 3), q.run(&fixed, 3));
    // A constant schedule is the constant.
    let constant = ademamix(0.02).alpha(linear_schedule(5.0, 5.0, 4, 0));
    assert_eq!(q.run(&constant, 6), q.run(&fixed, 6));
}

#[test]
fn mu_dtype_is_the_storage_of_the_fast_ema() {
    let q = quadratic::<f32>();
    let opt = ademamix(0.02).mu_dtype(Dtype::BF16);
    let st = opt.init(&q.params()).unwrap();
    assert!(st.m1.iter().all(|b| matches!(b, Buf::BF16(_))));
    assert!(st.m2.iter().all(|b| matches!(b, Buf::Native(_))));
    assert!(st.nu.iter().all(|b| matches!(b, Buf::Native(_))));
}

#[test]
fn defaults_match_optax() {
    let a = ademamix(0.1);
    assert_eq!((a.b1, a.b2, a.eps, a.eps_root), (0.9, 0.999, 1e-8, 0.0));
    assert_eq!(
        (a.b3.at(0), a.alpha.at(0), a.weight_decay.at(0)),
        (0.9999, 5.0, 0.0)
    );
    // optax's scale_by_ademamix mixes with alpha = 6 by default, its alias with 5.
    assert_eq!(scale_by_ademamix().alpha.at(0), 6.0);
    let s = simplified_ademamix(0.1);
    assert_eq!((s.b1, s.b2, s.eps, s.eps_root), (0.99, 0.95, 1e-8, 0.0));
    assert_eq!(s.alpha.at(0), 0.0);
}
