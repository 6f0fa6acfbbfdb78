//! Mechanic (`src/optimizers/mechanic.rs`): its first step by hand (the base's update
//! times `s_init`), by name over adam, over any base, and its errors.

use optim_core::registry::{self, Visitor};
use optim_core::{
    adam, mechanize, sgd, Error, Float, Hyperparams, TensorMap, Transformation, Value,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

#[test]
fn the_first_step_is_the_base_update_times_s_init() {
    // On the first step Δ = 0, so h = 0, every m is eps, every s is s_init / num_betas,
    // and the update is Σs · u = s_init · u (up to the rounding of s_init·eps / eps).
    let q = quadratic::<f64>();
    let base = q.first_update(&adam(0.02));
    let got = q.first_update(&mechanize(adam(0.02)));
    for (a, b) in got.iter().zip(&base) {
        let want = 1e-6 * b;
        // The update is (x0 + S·u) − x, whose rounding is that of the params (|x| ≤ 3).
        assert!((a - want).abs() <= 1e-15, "{a} vs {want}");
    }
}

/// Runs the optimizer the registry built on the quadratic.
struct Run;
impl Visitor<f64> for Run {
    type Out = Vec<Vec<f64>>;
    fn visit<T: Transformation<f64> + Hyperparams>(self, t: T) -> Self::Out {
        quadratic::<f64>().run(&t, 10)
    }
}

#[test]
fn by_name_the_base_is_adam_with_its_arguments_beside_mechanize() {
    let args = vec![
        ("learning_rate".into(), Value::Num(0.02)),
        ("num_betas".into(), Value::Num(3.0)),
    ];
    let got = registry::by_name::<f64, _>("mechanize", args, Run).unwrap();
    let want = quadratic::<f64>().run(&mechanize(adam(0.02)).num_betas(3), 10);
    assert_eq!(got, want);
    // adam's learning rate is required, and a base cannot be given as a value.
    let err = registry::by_name::<f64, _>("mechanize", vec![], Run).unwrap_err();
    assert!(err.to_string().contains("learning_rate"), "{err}");
    let err = registry::by_name::<f64, _>(
        "mechanize",
        vec![
            ("learning_rate".into(), Value::Num(0.02)),
            ("base_optimizer".into(), Value::Str("sgd".into())),
        ],
        Run,
    )
    .unwrap_err();
    assert!(err.to_string().contains("base_optimizer"), "{err}");
}

#[test]
fn any_base_optimizer_and_the_errors_change_nothing() {
    let q = quadratic::<f64>();
    let opt = mechanize(sgd(0.1)).weight_decay(0.0);
    let trace = q.run(&opt, 20);
    assert!(trace.iter().flatten().all(|x| x.is_finite()));
    let mut p: TensorMap<f64> = q.params();
    let mut st = opt.init(&p).unwrap();
    let g = q.grads(&p);
    opt.step(&mut p, &g, &mut st).unwrap();
    let before = st.clone();
    let mut u = q.grads(&p);
    let err = opt.update(&mut u, &mut st, None).unwrap_err();
    assert!(matches!(err, Error::NeedsParams { .. }), "{err}");
    assert_eq!(st, before);
    assert_eq!(flat(&u), flat(&q.grads(&p)));
    let err = mechanize(sgd(0.1)).num_betas(0).init(&p).unwrap_err();
    assert!(err.to_string().contains("num_betas"), "{err}");
}
