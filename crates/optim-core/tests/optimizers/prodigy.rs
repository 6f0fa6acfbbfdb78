//! D-Adaptation's AdamW and Prodigy (`src/optimizers/prodigy.rs`): each alias against its
//! primitive, the distance estimate (which never decreases and is stored with the
//! state), and that both read the params.

use optim_core::{
    dadapt_adamw, prodigy, scale_by_dadapt_adamw, scale_by_prodigy, Error, Float, Transformation,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_primitive<F: Float>() {
    let q = quadratic::<F>();
    let fused = dadapt_adamw()
        .learning_rate(0.5)
        .weight_decay(0.01)
        .estim_lr0(1e-3);
    let single = scale_by_dadapt_adamw()
        .learning_rate(0.5)
        .weight_decay(0.01)
        .estim_lr0(1e-3);
    assert_eq!(q.run(&fused, 12), q.run(&single, 12));
    let fused = prodigy()
        .betas((0.8, 0.99))
        .beta3(0.9)
        .safeguard_warmup(true);
    let single = scale_by_prodigy()
        .betas((0.8, 0.99))
        .beta3(0.9)
        .safeguard_warmup(true);
    assert_eq!(q.run(&fused, 12), q.run(&single, 12));
}

#[test]
fn dadapt_adamw_and_prodigy_are_their_primitives_bit_for_bit() {
    fused_equals_primitive::<f32>();
    fused_equals_primitive::<f64>();
}

#[test]
fn the_distance_estimate_only_grows() {
    let q = quadratic::<f64>();
    let opt = prodigy();
    let mut p = q.params();
    let mut st = opt.init(&p).unwrap();
    assert_eq!(st.estim_lr, 1e-6);
    let mut last = st.estim_lr;
    for _ in 0..20 {
        let g = q.grads(&p);
        opt.step(&mut p, &g, &mut st).unwrap();
        assert!(st.estim_lr >= last, "{} < {last}", st.estim_lr);
        last = st.estim_lr;
    }
    assert!(last > 1e-6, "the estimate grew");
    let opt = dadapt_adamw();
    let mut p = q.params();
    let mut st = opt.init(&p).unwrap();
    let mut last = st.estim_lr;
    for _ in 0..20 {
        let g = q.grads(&p);
        opt.step(&mut p, &g, &mut st).unwrap();
        assert!(st.estim_lr >= last);
        last = st.estim_lr;
    }
    // The estimate is saved with the state.
    let json = serde_json::to_string(&st).unwrap();
    assert!(
        json.contains("\"estim_lr\"") && json.contains("\"numerator_weighted\""),
        "{json}"
    );
}

#[test]
fn prodigy_needs_the_params() {
    let q = quadratic::<f64>();
    let opt = prodigy();
    let p = q.params();
    let mut st = opt.init(&p).unwrap();
    let mut u = q.grads(&p);
    let err = opt.update(&mut u, &mut st, None).unwrap_err();
    assert!(matches!(err, Error::NeedsParams { .. }), "{err}");
    assert_eq!(flat(&u), flat(&q.grads(&p)));
    assert_eq!(st.count, 0);
}
