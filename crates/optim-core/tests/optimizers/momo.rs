//! MoMo and MoMo-Adam (`src/optimizers/momo.rs`): each alias against its primitive, the
//! first step by hand, and the objective value they need.

use optim_core::{
    momo, momo_adam, scale_by_momo, scale_by_momo_adam, Error, Float, Transformation,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_primitive<F: Float>() {
    let q = quadratic::<F>();
    let fused = momo()
        .beta(0.8)
        .lower_bound(-0.5)
        .adapt_lower_bound(true)
        .weight_decay(0.01);
    let single = scale_by_momo()
        .beta(0.8)
        .lower_bound(-0.5)
        .adapt_lower_bound(true)
        .weight_decay(0.01);
    assert_eq!(q.run_valued(&fused, 12), q.run_valued(&single, 12));
    let fused = momo_adam().learning_rate(0.05).adapt_lower_bound(true);
    let single = scale_by_momo_adam()
        .learning_rate(0.05)
        .adapt_lower_bound(true);
    assert_eq!(q.run_valued(&fused, 12), q.run_valued(&single, 12));
}

#[test]
fn momo_and_momo_adam_are_their_primitives_bit_for_bit() {
    fused_equals_primitive::<f32>();
    fused_equals_primitive::<f64>();
}

#[test]
fn the_first_step_is_a_polyak_step_along_the_gradient() {
    // On the first step the averages are the first values: m = g, f̄ = f, γ = <g, x>, so
    // τ = min(lr, max(0, f − lb) / |g|²) and the update is −τ g.
    let q = quadratic::<f64>();
    let p = q.params();
    let g = flat(&q.grads(&p));
    let f = q.loss(&p);
    let sq: f64 = g.iter().map(|x| x * x).sum();
    let tau = (1.0f64).min(f / sq);
    let opt = momo();
    let mut st = opt.init(&p).unwrap();
    let mut u = q.grads(&p);
    opt.update_with(&mut u, &mut st, Some(&p), &optim_core::Extra::value(f))
        .unwrap();
    for (a, b) in flat(&u).iter().zip(&g) {
        let want = -tau * b;
        assert!(
            (a - want).abs() <= 1e-14 * want.abs().max(1e-12),
            "{a} vs {want}"
        );
    }
}

#[test]
fn a_step_without_the_objective_value_is_an_error_that_changes_nothing() {
    let q = quadratic::<f64>();
    for name in ["momo", "momo_adam"] {
        let mut p = q.params();
        let g = q.grads(&p);
        let err = match name {
            "momo" => {
                let opt = momo();
                let mut st = opt.init(&p).unwrap();
                let before = st.clone();
                let e = opt.step(&mut p, &g, &mut st).unwrap_err();
                assert_eq!(st.count, before.count);
                assert_eq!((st.barf, st.gamma), (before.barf, before.gamma));
                e
            }
            _ => {
                let opt = momo_adam();
                let mut st = opt.init(&p).unwrap();
                let e = opt.step(&mut p, &g, &mut st).unwrap_err();
                assert_eq!(st.count, 0);
                e
            }
        };
        assert!(
            matches!(err, Error::MissingExtra { ref arg, .. } if arg == "value"),
            "{err}"
        );
        assert_eq!(flat(&p), flat(&q.params()), "{name} moved the params");
    }
}
