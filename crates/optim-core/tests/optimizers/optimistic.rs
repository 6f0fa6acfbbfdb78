//! Optimistic Adam (`src/optimizers/optimistic.rs`): the v2 interface against the chain
//! of its primitives, the original interface as v2 with a unit learning rate, the first
//! step of optax 0.2.8's optimistic gradient, and the defaults.

use optim_core::{
    adam, chain, optimistic_adam, optimistic_adam_v2, registry, scale_by_adam,
    scale_by_learning_rate, scale_by_optimistic_gradient, Error, Float, Hyperparams,
    OptimisticAdam, Value,
};

use crate::common::Quadratic;

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn interfaces<F: Float>() {
    let q = quadratic::<F>();
    let lr = 0.02;
    let v2 = optimistic_adam_v2(lr).alpha(0.5).beta(0.7).b1(0.8);
    let chained = chain!(
        scale_by_adam().b1(0.8).nesterov(true),
        scale_by_optimistic_gradient()
            .alpha(0.5)
            .beta(0.7)
            .initial_fix(true),
        scale_by_learning_rate(lr)
    );
    assert_eq!(q.run(&v2, 12), q.run(&chained, 12));
    // The original interface: alpha is the learning rate, beta the optimism (by default
    // the learning rate), and the last stage only flips the sign.
    assert_eq!(
        q.run(&optimistic_adam(lr), 12),
        q.run(&optimistic_adam_v2(1.0).alpha(lr).beta(lr), 12)
    );
    assert_eq!(
        q.run(&optimistic_adam(lr).optimism(0.3).nesterov(false), 12),
        q.run(
            &optimistic_adam_v2(1.0).alpha(lr).beta(0.3).nesterov(false),
            12
        )
    );
}

#[test]
fn v2_is_its_chain_and_v1_is_v2_with_a_unit_learning_rate() {
    interfaces::<f32>();
    interfaces::<f64>();
}

#[test]
fn the_first_step_is_alpha_times_adams_step() {
    // optax 0.2.8 takes the current direction as the previous one on the first step, so
    // (alpha + beta) * r - beta * r = alpha * r: without Nesterov, Adam's step times alpha.
    let q = quadratic::<f64>();
    let opt = optimistic_adam_v2(0.02)
        .alpha(0.5)
        .beta(0.7)
        .nesterov(false);
    let want: Vec<f64> = q
        .first_update(&adam(0.02))
        .iter()
        .map(|u| 0.5 * u)
        .collect();
    let got = q.first_update(&opt);
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-15 * b.abs(), "{a} vs {b}");
    }
}

#[test]
fn defaults_match_optax_and_the_learning_rate_is_required() {
    let o = optimistic_adam(0.1);
    assert_eq!((o.learning_rate, o.optimism, o.nesterov), (0.1, None, true));
    assert_eq!((o.b1, o.b2, o.eps, o.eps_root), (0.9, 0.999, 1e-8, 0.0));
    let v = optimistic_adam_v2(0.1);
    assert_eq!((v.alpha, v.beta, v.nesterov), (1.0, 1.0, true));
    assert!(registry::names().contains(&"optimistic_adam"));
    let err = <OptimisticAdam as Hyperparams>::from_args("optimistic_adam", Vec::new());
    assert!(
        matches!(&err, Err(Error::Hyper { arg, .. }) if arg == "learning_rate"),
        "{err:?}"
    );
    let ok = <OptimisticAdam as Hyperparams>::from_args(
        "optimistic_adam",
        vec![("learning_rate".into(), Value::Num(0.5))],
    );
    assert_eq!(ok.unwrap().learning_rate, 0.5);
    // As optax's interface, this one takes no schedule: the error names the argument.
    let schedule = Value::Rate(optim_core::schedule::linear_schedule(0.1, 0.0, 10, 0).into());
    let err = <OptimisticAdam as Hyperparams>::from_args(
        "optimistic_adam",
        vec![("learning_rate".into(), schedule)],
    );
    assert!(
        matches!(&err, Err(Error::Hyper { arg, .. }) if arg == "learning_rate"),
        "{err:?}"
    );
}
