//! The schedule-free optimizers (`src/optimizers/schedule_free.rs`): each alias against
//! the chain of its base and `scale_by_schedule_free`, the generic `schedule_free`
//! wrapper, and `schedule_free_eval_params`.

use optim_core::{
    add_decayed_weights, chain, scale_by_learning_rate, scale_by_rms, scale_by_schedule_free,
    schedule_free, schedule_free_adamw, schedule_free_eval_params, schedule_free_sgd, sgd, Error,
    Float, Tensor, Transformation,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_chain<F: Float>() {
    let q = quadratic::<F>();
    let lr = 0.05;
    let fused = schedule_free_sgd()
        .learning_rate(lr)
        .b1(0.8)
        .weight_decay(0.01);
    let chained = chain!(
        add_decayed_weights().weight_decay(0.01),
        scale_by_learning_rate(lr),
        scale_by_schedule_free(lr).b1(0.8)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
    let fused = schedule_free_adamw().learning_rate(lr).weight_decay(0.01);
    let chained = chain!(
        scale_by_rms()
            .decay(0.999)
            .eps_in_sqrt(false)
            .bias_correction(true),
        add_decayed_weights().weight_decay(0.01),
        scale_by_learning_rate(lr),
        scale_by_schedule_free(lr)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
    // optax's wrapper over any base: the same as the alias.
    let wrapped = schedule_free(sgd(lr), lr);
    assert_eq!(
        q.run(&wrapped, 12),
        q.run(&schedule_free_sgd().learning_rate(lr), 12)
    );
}

#[test]
fn the_aliases_are_the_chains_of_their_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn eval_params_interpolate_back_to_the_average() {
    let q = quadratic::<f64>();
    let (lr, b1) = (0.05, 0.9);
    let opt = schedule_free_sgd().learning_rate(lr);
    let mut p = q.params();
    let mut st = opt.init(&p).unwrap();
    // Before any step z = y: the evaluation point is the params.
    assert_eq!(flat(&schedule_free_eval_params(&st, &p).unwrap()), flat(&p));
    // By hand: the first step has c = 1, so x = z = y − lr g, and y stays on it.
    let g = q.grads(&p);
    let want: Vec<f64> = flat(&p)
        .iter()
        .zip(flat(&g))
        .map(|(y, g)| y - lr * g)
        .collect();
    opt.step(&mut p, &g, &mut st).unwrap();
    let x = flat(&schedule_free_eval_params(&st, &p).unwrap());
    for (a, b) in x.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-15, "{a} vs {b}");
    }
    let z: Vec<f64> = st.z.iter().flat_map(|b| b.to_vec()).collect();
    for ((y, z), x) in flat(&p).iter().zip(&z).zip(&x) {
        assert!((y - (b1 * x + (1.0 - b1) * z)).abs() <= 1e-15);
    }
    // The wrapper's chain state gives the same point.
    let wrapped = schedule_free(sgd(lr), lr);
    let mut p2 = q.params();
    let mut st2 = wrapped.init(&p2).unwrap();
    wrapped
        .step(&mut p2, &q.grads(&q.params()), &mut st2)
        .unwrap();
    assert_eq!(flat(&schedule_free_eval_params(&st2, &p2).unwrap()), x);
}

#[test]
fn eval_params_of_other_params_is_an_error_naming_the_leaf() {
    let q = quadratic::<f64>();
    let opt = schedule_free_adamw();
    let p = q.params();
    let st = opt.init(&p).unwrap();
    let mut other = p.clone();
    other.insert("w".into(), Tensor::new([2], vec![0.0, 1.0]).unwrap());
    let err = schedule_free_eval_params(&st, &other).unwrap_err();
    assert!(
        matches!(err, Error::State { ref path, .. } if path == "w"),
        "{err}"
    );
}
