//! DoG and DoWG (`src/optimizers/dog.rs`): against the chain of their primitives (with a
//! masked weight decay before the whole-tree sums), DoG's first step by hand for each
//! initial step, and `init_step` by name.

use optim_core::registry::{self, Visitor};
use optim_core::{
    add_decayed_weights, chain, dog, dowg, scale_by_dog, scale_by_dowg, scale_by_learning_rate,
    Float, Hyperparams, InitStep, Transformation, Value,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_chain<F: Float>() {
    let q = quadratic::<F>();
    let mask = [("b", false), ("w", true)];
    let fused = dog()
        .learning_rate(0.5)
        .init_step(InitStep::Distance(1e-3))
        .weight_decay(0.05)
        .mask(mask);
    let chained = chain!(
        add_decayed_weights().weight_decay(0.05).mask(mask),
        scale_by_dog().init_step(InitStep::Distance(1e-3)),
        scale_by_learning_rate(0.5)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
    let fused = dowg()
        .init_estim_sq_dist(1e-3)
        .weight_decay(0.05)
        .mask(mask);
    let chained = chain!(
        add_decayed_weights().weight_decay(0.05).mask(mask),
        scale_by_dowg().init_estim_sq_dist(1e-3),
        scale_by_learning_rate(1.0)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
}

#[test]
fn dog_and_dowg_are_the_chains_of_their_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn the_first_step_follows_the_initial_step() {
    // r_0 = alpha (1 + |x0|) for the heuristic, the given distance, or the learning rate
    // itself for the first step; eta = r_0 / sqrt(|g|² + eps).
    let q = quadratic::<f64>();
    let (x0, g) = (flat(&q.params()), flat(&q.grads(&q.params())));
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let eps = 1e-8;
    let den = (norm(&g) * norm(&g) + eps).sqrt();
    for (init, eta) in [
        (InitStep::Heuristic(1e-6), 1e-6 * (1.0 + norm(&x0)) / den),
        (InitStep::Distance(0.25), 0.25 / den),
        (InitStep::LearningRate(0.125), 0.125),
    ] {
        let got = q.first_update(&dog().init_step(init));
        for (a, b) in got.iter().zip(&g) {
            let want = -eta * b;
            assert!(
                (a - want).abs() <= 1e-15 * want.abs().max(1e-12),
                "{init:?}: {a} vs {want}"
            );
        }
    }
}

struct InitStepOf;
impl<F: Float> Visitor<F> for InitStepOf {
    type Out = Option<Value>;
    fn visit<T: Transformation<F> + Hyperparams>(self, t: T) -> Self::Out {
        t.get("init_step")
    }
}

#[test]
fn init_step_by_name_is_optax_tuple() {
    let pair = |tag: &str, x: f64| Value::List(vec![Value::Str(tag.into()), Value::Num(x)]);
    let got = registry::by_name::<f64, _>(
        "dog",
        vec![("init_step".into(), pair("distance", 0.5))],
        InitStepOf,
    )
    .unwrap();
    assert_eq!(
        format!("{got:?}"),
        format!("{:?}", Some(pair("distance", 0.5)))
    );
    // The default reads back as optax's ("heuristic", 1e-6).
    let got = registry::by_name::<f64, _>("dog", vec![], InitStepOf).unwrap();
    assert_eq!(
        format!("{got:?}"),
        format!("{:?}", Some(pair("heuristic", 1e-6)))
    );
    // An unknown tag is an error naming the argument.
    let err = registry::by_name::<f64, _>(
        "dog",
        vec![("init_step".into(), pair("bogus", 1.0))],
        InitStepOf,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("init_step") && err.to_string().contains("bogus"),
        "{err}"
    );
}
