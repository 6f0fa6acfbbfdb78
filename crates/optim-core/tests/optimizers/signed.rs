//! SignSGD and Signum (`src/optimizers/signed.rs`): each against the chain of its
//! primitives, the sign's values, Signum's low-precision average and the defaults.

use optim_core::{
    chain, ema, scale_by_learning_rate, scale_by_sign, sign_sgd, signum, Buf, Dtype, Float,
    Transformation,
};

use crate::common::{flat, Quadratic};

/// Two leaves of different curvatures; the element at 0.3 has a zero first gradient.
fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

#[test]
fn sign_sgd_steps_by_the_learning_rate_against_the_sign() {
    let lr = 0.01;
    let q = quadratic::<f64>();
    let g = flat(&q.grads(&q.params()));
    let want: Vec<f64> = g
        .iter()
        .map(|&g| {
            if g > 0.0 {
                -lr
            } else if g < 0.0 {
                lr
            } else {
                0.0
            }
        })
        .collect();
    assert_eq!(q.first_update(&sign_sgd(lr)), want);
    assert_eq!(want[2], 0.0, "a zero gradient takes no step");
}

fn fused_equals_chain<F: Float>() {
    let (lr, q) = (0.02, quadratic::<F>());
    assert_eq!(
        q.run(&sign_sgd(lr), 10),
        q.run(&chain!(scale_by_sign(), scale_by_learning_rate(lr)), 10)
    );
    assert_eq!(
        q.run(&signum(lr).beta(0.5), 10),
        q.run(
            &chain!(
                ema(0.5).debias(false),
                scale_by_sign(),
                scale_by_learning_rate(lr)
            ),
            10
        )
    );
}

#[test]
fn each_is_the_chain_of_its_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn signum_stores_its_average_in_the_accumulator_dtype() {
    let q = quadratic::<f32>();
    let (low, native) = (signum(0.01).accumulator_dtype(Dtype::BF16), signum(0.01));
    let p = q.params();
    let (mut pl, mut pn) = (p.clone(), p.clone());
    let (mut sl, mut sn) = (low.init(&p).unwrap(), native.init(&p).unwrap());
    assert!(sl.ema.iter().all(|b| matches!(b, Buf::BF16(_))));
    assert!(sn.ema.iter().all(|b| matches!(b, Buf::Native(_))));
    // From the same state (zero), one step stores the same average, rounded to bf16.
    let g = q.grads(&p);
    low.step(&mut pl, &g, &mut sl).unwrap();
    native.step(&mut pn, &g, &mut sn).unwrap();
    let stored: Vec<f32> = sl.ema.iter().flat_map(|b| b.to_vec()).collect();
    let rounded: Vec<f32> = sn
        .ema
        .iter()
        .flat_map(|b| b.to_vec())
        .map(|x| half::bf16::from_f32(x).to_f32())
        .collect();
    assert_eq!(stored, rounded);
    assert_eq!(
        flat(&pl),
        flat(&pn),
        "the step itself uses the unrounded average"
    );
}

#[test]
fn defaults_match_optax() {
    let s = signum(0.1);
    assert_eq!(s.beta, 0.9);
    assert!(s.accumulator_dtype.is_none());
    assert_eq!(sign_sgd(0.1).learning_rate.at(3), 0.1);
}
