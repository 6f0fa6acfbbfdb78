//! MADGRAD (`src/optimizers/madgrad.rs`): against the chain of its primitives, its first
//! step by hand, where the initial params come from, and the defaults.

use optim_core::{
    add_decayed_weights, chain, madgrad, scale_by_madgrad, Error, Float, Transformation,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_chain<F: Float>() {
    let (lr, q) = (0.02, quadratic::<F>());
    let fused = madgrad(lr).momentum(0.5).weight_decay(0.05);
    let chained = chain!(
        add_decayed_weights().weight_decay(0.05),
        scale_by_madgrad(lr).momentum(0.5)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
}

#[test]
fn madgrad_is_the_chain_of_its_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn the_first_step_moves_towards_the_dual_averaging_point() {
    // lamb = lr + eps (as a float32 product with sqrt(1), as optax computes it); s = lamb
    // g; G = lamb g²; z = x0 - s / (cbrt(G) + eps); x1 = (1 - m) z + m x0.
    let (lr, eps, m) = (0.02, 1e-6, 0.9);
    let q = quadratic::<f64>();
    let (x0, g) = (flat(&q.params()), flat(&q.grads(&q.params())));
    let lamb = ((lr + eps) as f32) as f64;
    let want: Vec<f64> = x0
        .iter()
        .zip(&g)
        .map(|(&x, &g)| {
            let z = x - (lamb * g) / ((lamb * (g * g)).cbrt() + eps);
            ((1.0 - m) * z + m * x) - x
        })
        .collect();
    let got = q.first_update(&madgrad(lr));
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-15 * b.abs().max(1e-3), "{a} vs {b}");
    }
}

#[test]
fn the_initial_params_are_those_given_to_init_and_are_kept() {
    let q = quadratic::<f64>();
    let opt = madgrad(0.02);
    let p0 = q.params();
    let mut st = opt.init(&p0).unwrap();
    let x0: Vec<f64> = st.x0.iter().flat_map(|b| b.to_vec()).collect();
    assert_eq!(x0, flat(&p0));
    // Stepping from other params does not replace x0: the dual-averaging point stays
    // anchored at the params of `init`.
    let mut p = q.params();
    for t in p.values_mut() {
        for x in t.data_mut() {
            *x += 0.5;
        }
    }
    for _ in 0..3 {
        let g = q.grads(&p);
        opt.step(&mut p, &g, &mut st).unwrap();
    }
    let x0: Vec<f64> = st.x0.iter().flat_map(|b| b.to_vec()).collect();
    assert_eq!(x0, flat(&p0));
    // MADGRAD reads the params: an update without them is an error that changes nothing.
    let before = st.clone();
    let mut u = q.grads(&p);
    let err = opt.update(&mut u, &mut st, None).unwrap_err();
    assert!(matches!(err, Error::NeedsParams { .. }), "{err}");
    assert_eq!(flat(&u), flat(&q.grads(&p)));
    assert_eq!(st.count, before.count);
}

#[test]
fn defaults_match_optax() {
    let m = madgrad(0.1);
    assert_eq!((m.momentum, m.eps), (0.9, 1e-6));
    assert_eq!(m.weight_decay.at(0), 0.0);
}
