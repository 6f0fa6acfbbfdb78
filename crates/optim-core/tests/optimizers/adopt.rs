//! ADOPT (`src/optimizers/adopt.rs`): against the chain of its primitives, the zero first
//! step, the clipped second step by hand, `clip_value_fn` as a schedule, and the
//! defaults.

use optim_core::{
    adopt, apply_updates, chain, scale_by_adopt, scale_by_learning_rate, Buf, Dtype, Float,
    Transformation,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_chain<F: Float>() {
    let (lr, q) = (0.02, quadratic::<F>());
    assert_eq!(
        q.run(&adopt(lr), 12),
        q.run(&chain!(scale_by_adopt(), scale_by_learning_rate(lr)), 12)
    );
    let fused = adopt(lr).nesterov(true).use_clipping(false).b2(0.99);
    let chained = chain!(
        scale_by_adopt().nesterov(true).use_clipping(false).b2(0.99),
        scale_by_learning_rate(lr)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
}

#[test]
fn adopt_is_the_chain_of_its_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

/// The first two updates of `opt` along its own trajectory.
fn two_updates<T: Transformation<f64>>(opt: &T) -> [Vec<f64>; 2] {
    let q = quadratic::<f64>();
    let mut p = q.params();
    let mut st = opt.init(&p).unwrap();
    let mut first = q.grads(&p);
    opt.update(&mut first, &mut st, Some(&p)).unwrap();
    apply_updates(&mut p, &first).unwrap();
    let mut second = q.grads(&p);
    opt.update(&mut second, &mut st, Some(&p)).unwrap();
    [flat(&first), flat(&second)]
}

#[test]
fn the_first_step_only_sets_the_second_moment() {
    for opt in [adopt(0.02), adopt(0.02).use_clipping(false).nesterov(true)] {
        let [first, _] = two_updates(&opt);
        assert!(first.iter().all(|&u| u == 0.0), "{first:?}");
    }
}

#[test]
fn the_second_step_is_the_clipped_normalized_gradient() {
    // The params did not move, so g1 = g0 and the second moment is g0²: the normalized
    // gradient is ±1 (0 where g0 = 0), clipped at 1^0.25 = 1, times 1 - b1.
    let (lr, b1) = (0.02, 0.9);
    let q = quadratic::<f64>();
    let g = flat(&q.grads(&q.params()));
    let want: Vec<f64> = g
        .iter()
        .map(|&g| {
            let n = if g == 0.0 { 0.0 } else { g / g.abs() };
            -lr * ((1.0 - b1) * n)
        })
        .collect();
    let [_, second] = two_updates(&adopt(lr));
    assert_eq!(second, want);
    // A clip_value_fn schedule (here a constant) bounds the normalized gradient instead.
    let want: Vec<f64> = g
        .iter()
        .map(|&g| {
            let n = if g == 0.0 {
                0.0
            } else {
                (g / g.abs()).clamp(-0.25, 0.25)
            };
            -lr * ((1.0 - b1) * n)
        })
        .collect();
    let [_, second] = two_updates(&adopt(lr).clip_value_fn(0.25));
    assert_eq!(second, want);
}

#[test]
fn defaults_match_optax_and_mu_dtype_stores_the_first_moment() {
    let a = adopt(0.1);
    assert_eq!((a.b1, a.b2, a.eps), (0.9, 0.9999, 1e-6));
    assert_eq!((a.nesterov, a.use_clipping), (false, true));
    assert!(a.clip_value_fn.is_none() && a.mu_dtype.is_none());
    let st = Transformation::<f32>::init(&adopt(0.1).mu_dtype(Dtype::BF16), &vec![1.0f32; 3]);
    let st = st.unwrap();
    assert!(matches!(st.mu[0], Buf::BF16(_)) && matches!(st.nu[0], Buf::Native(_)));
}
