//! The rms family (`src/optimizers/rms.rs`): RMSProp's state, first step by hand,
//! momentum order and centered variant against their chains of primitives, Adagrad by its
//! equations, and Adadelta without a learning rate and with masked weight decay.

use optim_core::schedule::piecewise_constant_schedule;
use optim_core::{
    adadelta, adagrad, add_decayed_weights, rmsprop, scale_by_adadelta, scale_by_learning_rate,
    scale_by_rms, scale_by_rss, scale_by_stddev, trace, Buf, LearningRate, Mask, Transformation,
};

use crate::common::{flat, Quadratic};

/// ½‖x − 0.3‖², from seven params, the last of which starts with a zero gradient.
const Q: Quadratic<f64> = Quadratic::new(&[0.5, -1.0, 2.0], &[1.0, 2.0, -3.0, 0.3], [1.0, 1.0]);

fn close(a: &[Vec<f64>], b: &[Vec<f64>], tol: f64) {
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!((x - y).abs() <= tol * x.abs().max(1.0), "{x} vs {y}");
    }
}

#[test]
fn rmsprop_allocates_only_what_its_options_need() {
    let st = Transformation::<f64>::init(&rmsprop(0.1).initial_scale(1.0), &Q.params()).unwrap();
    assert!(st.mu.iter().all(|b| matches!(b, Buf::Absent(_))));
    assert!(st.trace.iter().all(|b| matches!(b, Buf::Absent(_))));
    assert!(st
        .nu
        .iter()
        .all(|b| matches!(b, Buf::Native(v) if v.iter().all(|&x| x == 1.0))));
    let opt = rmsprop(0.1).centered(true).momentum(0.9);
    let st = Transformation::<f64>::init(&opt, &Q.params()).unwrap();
    assert!(st.mu.iter().all(|b| matches!(b, Buf::Native(_))));
    assert!(st.trace.iter().all(|b| matches!(b, Buf::Native(_))));
}

#[test]
fn rmsprop_first_step_by_hand() {
    let p0 = flat(&Q.params());
    let out = Q.run(&rmsprop(0.02), 1);
    let pyt = Q.run(&rmsprop(0.02).eps_in_sqrt(false).bias_correction(true), 1);
    for i in 0..p0.len() {
        let g = p0[i] - 0.3;
        let nu = 0.1 * (g * g);
        let want = p0[i] - 0.02 * ((nu + 1e-8).sqrt().recip() * g);
        assert_eq!(out[0][i], want);
        // Debiased, eps outside the root: sign descent of size lr (up to eps).
        let want = p0[i] - 0.02 * (1.0 / ((nu / 0.1).sqrt() + 1e-8) * g);
        assert!((pyt[0][i] - want).abs() < 1e-15);
    }
}

#[test]
fn rmsprop_momentum_traces_the_learning_rate_scaled_update() {
    // With a changing learning rate the order matters: optax traces -lr_t * d_t.
    let lr = || piecewise_constant_schedule(0.1, [(2, 0.1)]).unwrap();
    for nesterov in [false, true] {
        let fused = rmsprop(lr()).momentum(0.9).nesterov(nesterov);
        let optax_order = optim_core::chain!(
            scale_by_rms(),
            scale_by_learning_rate(lr()),
            trace(0.9).nesterov(nesterov)
        );
        let other_order = optim_core::chain!(
            scale_by_rms(),
            trace(0.9).nesterov(nesterov),
            scale_by_learning_rate(lr())
        );
        assert_eq!(Q.run(&fused, 6), Q.run(&optax_order, 6));
        assert_ne!(Q.run(&fused, 6)[3], Q.run(&other_order, 6)[3]);
    }
}

#[test]
fn centered_rmsprop_is_scale_by_stddev() {
    for (eps_in_sqrt, bias_correction) in [(true, false), (false, true)] {
        let fused = rmsprop(0.02)
            .centered(true)
            .initial_scale(1.0)
            .eps_in_sqrt(eps_in_sqrt)
            .bias_correction(bias_correction);
        let composed = optim_core::chain!(
            scale_by_stddev()
                .initial_scale(1.0)
                .eps_in_sqrt(eps_in_sqrt)
                .bias_correction(bias_correction),
            scale_by_learning_rate(0.02)
        );
        assert_eq!(Q.run(&fused, 8), Q.run(&composed, 8));
        let uncentered = rmsprop(0.02)
            .initial_scale(1.0)
            .eps_in_sqrt(eps_in_sqrt)
            .bias_correction(bias_correction);
        assert_ne!(Q.run(&fused, 8), Q.run(&uncentered, 8));
        let composed = optim_core::chain!(
            scale_by_rms()
                .initial_scale(1.0)
                .eps_in_sqrt(eps_in_sqrt)
                .bias_correction(bias_correction),
            scale_by_learning_rate(0.02)
        );
        assert_eq!(Q.run(&uncentered, 8), Q.run(&composed, 8));
    }
}

#[test]
fn adagrad_divides_by_the_root_of_the_sum_of_squares() {
    let p0 = flat(&Q.params());
    let out = Q.run(&adagrad(0.1), 2);
    for i in 0..p0.len() {
        let g0 = p0[i] - 0.3;
        let s1 = g0 * g0 + 0.1;
        let p1 = p0[i] - 0.1 * ((s1 + 1e-7).sqrt().recip() * g0);
        let g1 = p1 - 0.3;
        let s2 = g1 * g1 + s1;
        let p2 = p1 - 0.1 * ((s2 + 1e-7).sqrt().recip() * g1);
        assert_eq!(out[0][i], p1);
        assert_eq!(out[1][i], p2);
    }
    // A zero accumulator scales by zero, not by 1/sqrt(eps) (nor NaN).
    let opt = scale_by_rss().initial_accumulator_value(0.0).eps(0.0);
    let mut st = Transformation::<f64>::init(&opt, &vec![0.0, 0.0]).unwrap();
    let mut u = vec![0.0, 2.0];
    opt.update(&mut u, &mut st, None).unwrap();
    assert_eq!(u, vec![0.0, 1.0]);
}

#[test]
fn adadelta_without_learning_rate_descends_with_lr_one() {
    let none = Q.run(&adadelta(), 10);
    let one = Q.run(&adadelta().learning_rate(LearningRate::from(1.0)), 10);
    assert_eq!(none, one);
    let p0 = flat(&Q.params());
    assert!(none[0]
        .iter()
        .zip(&p0)
        .all(|(p, q)| (p - 0.3).abs() <= (q - 0.3).abs()));
    let composed = optim_core::chain!(scale_by_adadelta(), scale_by_learning_rate(1.0));
    assert_eq!(none, Q.run(&composed, 10));
}

#[test]
fn adadelta_decays_weights_before_rescaling_on_masked_leaves() {
    let mask = || Mask::from([("b", false), ("w", true)]);
    let fused = adadelta()
        .learning_rate(LearningRate::from(0.5))
        .rho(0.8)
        .eps(1e-4)
        .weight_decay(0.1)
        .weight_decay_mask(mask());
    let composed = optim_core::chain!(
        add_decayed_weights().weight_decay(0.1).mask(mask()),
        scale_by_adadelta().rho(0.8).eps(1e-4),
        scale_by_learning_rate(0.5)
    );
    let a = Q.run(&fused, 10);
    close(&a, &Q.run(&composed, 10), 1e-15);
    let unmasked = adadelta()
        .learning_rate(LearningRate::from(0.5))
        .rho(0.8)
        .eps(1e-4)
        .weight_decay(0.1);
    let b = Q.run(&unmasked, 10);
    // Leaf `b` (first 3 elements) is not decayed under the mask; `w` is.
    assert_ne!(a[9][..3], b[9][..3]);
    assert_eq!(a[9][3..], b[9][3..]);
}
