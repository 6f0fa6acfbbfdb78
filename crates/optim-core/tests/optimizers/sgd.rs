//! The sgd family (`src/optimizers/sgd.rs`): SGD with and without momentum against its
//! equations, the `trace` primitive, noisy SGD and `add_noise`, optimistic gradient
//! descent with and without `initial_fix` (also by name), and Rprop.

use optim_core::{
    add_noise, noisy_sgd, optimistic_gradient_descent, rprop, scale_by_rprop, sgd, trace, Buf,
    Transformation,
};

use crate::common::{flat, Quadratic};

/// ½‖x − 0.3‖², from seven params.
const Q: Quadratic<f64> = Quadratic::new(&[0.5, -1.0, 2.0], &[1.0, 2.0, -3.0, 0.25], [1.0, 1.0]);

#[test]
fn sgd_without_momentum_allocates_no_trace() {
    let st = Transformation::<f64>::init(&sgd(0.1), &Q.params()).unwrap();
    assert_eq!(st.trace.len(), 2);
    assert!(st.trace.iter().all(|b| matches!(b, Buf::Absent(_))));
    let st = Transformation::<f64>::init(&sgd(0.1).momentum(0.9), &Q.params()).unwrap();
    assert!(st
        .trace
        .iter()
        .all(|b| matches!(b, Buf::Native(v) if !v.is_empty())));
}

#[test]
fn sgd_is_gradient_descent_and_momentum_follows_the_trace() {
    let g0 = flat(&Q.grads(&Q.params()));
    let u = Q.first_update(&sgd(0.1));
    for (u, g) in u.iter().zip(&g0) {
        assert_eq!(*u, -0.1 * g);
    }
    // Two steps of heavy-ball and Nesterov momentum, by hand.
    let (lr, mu) = (0.1, 0.9);
    let p0 = flat(&Q.params());
    let heavy = Q.run(&sgd(lr).momentum(mu), 2);
    let nest = Q.run(&sgd(lr).momentum(mu).nesterov(true), 2);
    for i in 0..p0.len() {
        let g0 = p0[i] - 0.3;
        let m1 = g0;
        let p1 = p0[i] - lr * m1;
        let g1 = p1 - 0.3;
        let m2 = g1 + mu * m1;
        assert!((heavy[0][i] - p1).abs() < 1e-15);
        assert!((heavy[1][i] - (p1 - lr * m2)).abs() < 1e-15);
        let q1 = p0[i] - lr * (g0 + mu * g0);
        let h1 = q1 - 0.3;
        let n2 = h1 + mu * g0;
        assert!((nest[0][i] - q1).abs() < 1e-15);
        assert!((nest[1][i] - (q1 - lr * (h1 + mu * n2))).abs() < 1e-15);
    }
}

#[test]
fn trace_primitive_is_sgd_momentum_without_learning_rate() {
    let u = Q.first_update(&trace(0.9));
    assert_eq!(u, flat(&Q.grads(&Q.params())));
    let u = Q.first_update(&trace(0.9).nesterov(true));
    let g = flat(&Q.grads(&Q.params()));
    for (u, g) in u.iter().zip(&g) {
        assert_eq!(*u, g + 0.9 * g);
    }
}

#[test]
fn noisy_sgd_without_noise_is_sgd_bit_for_bit() {
    let plain = Q.run(&sgd(0.05), 10);
    let noisy = Q.run(&noisy_sgd(0.05).eta(0.0).seed(7u64), 10);
    assert_eq!(plain, noisy);
}

#[test]
fn noisy_sgd_is_reproducible_per_seed_and_differs_across_seeds() {
    let a = Q.run(&noisy_sgd(0.05).seed(3u64), 5);
    let b = Q.run(&noisy_sgd(0.05).seed(3u64), 5);
    let c = Q.run(&noisy_sgd(0.05).seed(4u64), 5);
    let plain = Q.run(&sgd(0.05), 5);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, plain);
    // update and step agree (same draws at the same step, leaf and index).
    let opt = noisy_sgd(0.05).seed(3u64);
    let mut p = Q.params();
    let mut st = opt.init(&p).unwrap();
    for want in &a {
        let mut u = Q.grads(&p);
        opt.update(&mut u, &mut st, Some(&p)).unwrap();
        optim_core::apply_updates(&mut p, &u).unwrap();
        assert_eq!(&flat(&p), want);
    }
}

#[test]
fn add_noise_has_the_annealed_variance() {
    let n = 20_000;
    let zeros: Vec<f64> = vec![0.0; n];
    let opt = add_noise(4.0, 0.55).seed(11u64);
    let mut st = Transformation::<f64>::init(&opt, &zeros).unwrap();
    for t in 1..=3u32 {
        let mut u = zeros.clone();
        opt.update(&mut u, &mut st, None).unwrap();
        let var = u.iter().map(|x| x * x).sum::<f64>() / n as f64;
        let want = 4.0 / (t as f64).powf(0.55);
        assert!((var / want - 1.0).abs() < 0.05, "t={t}: {var} vs {want}");
    }
}

#[test]
fn optimistic_first_step_with_and_without_initial_fix() {
    let (lr, alpha, beta) = (0.05, 0.7, 0.4);
    let g = flat(&Q.grads(&Q.params()));
    let base = optimistic_gradient_descent(lr).alpha(alpha).beta(beta);
    let plain = Q.first_update(&base);
    let fixed = Q.first_update(&base.clone().initial_fix(true));
    for i in 0..g.len() {
        // optax 0.2.8: the previous gradient starts at zero.
        assert_eq!(plain[i], -lr * ((alpha + beta) * g[i] - beta * 0.0));
        // newer optax: the first step is -lr·α·g₀.
        assert!((fixed[i] - (-lr * alpha * g[i])).abs() < 1e-16, "{i}");
    }
    // From the second step on, both use the stored previous gradient.
    let a = Q.run(&base, 3);
    let b = Q.run(&base.clone().initial_fix(true), 3);
    assert_ne!(a[0], b[0]);
    let p0 = flat(&Q.params());
    for i in 0..p0.len() {
        let (g0, g1) = (p0[i] - 0.3, b[0][i] - 0.3);
        let want = b[0][i] - lr * ((alpha + beta) * g1 - beta * g0);
        assert!((b[1][i] - want).abs() < 1e-15);
    }
}

#[test]
fn initial_fix_name_fixes_the_flag() {
    struct FirstUpdate;
    impl optim_core::registry::Visitor<f64> for FirstUpdate {
        type Out = Vec<f64>;
        fn visit<T: Transformation<f64> + optim_core::Hyperparams>(self, t: T) -> Vec<f64> {
            Q.first_update(&t)
        }
    }
    let args = || vec![("learning_rate".to_string(), optim_core::Value::Num(0.05))];
    let fixed = optim_core::registry::by_name(
        "optimistic_gradient_descent_initial_fix",
        args(),
        FirstUpdate,
    )
    .unwrap();
    let plain =
        optim_core::registry::by_name("optimistic_gradient_descent", args(), FirstUpdate).unwrap();
    let g = flat(&Q.grads(&Q.params()));
    for i in 0..g.len() {
        assert!((fixed[i] - (-0.05 * g[i])).abs() < 1e-16);
        assert_eq!(plain[i], -0.05 * (2.0 * g[i] - 0.0));
    }
    let mut clash = args();
    clash.push(("initial_fix".into(), optim_core::Value::Bool(false)));
    assert!(optim_core::registry::by_name(
        "optimistic_gradient_descent_initial_fix",
        clash,
        FirstUpdate
    )
    .is_err());
}

#[test]
fn rprop_steps_by_sign_with_adaptive_sizes() {
    let lr = 0.02;
    let out = Q.run(&rprop(lr), 3);
    let p0 = flat(&Q.params());
    // optax's scale_by_rprop emits the step decided at the previous step: none at first.
    assert_eq!(out[0], p0);
    for i in 0..p0.len() {
        let s = (p0[i] - 0.3).signum();
        assert!((out[1][i] - (p0[i] - lr * s)).abs() < 1e-15);
        // Same sign again: the size grows by eta_plus.
        assert!((out[2][i] - (out[1][i] - lr * 1.2 * s)).abs() < 1e-15);
    }
    // Sizes are clipped to [min, max]; a sign flip shrinks the size and skips the
    // next update.
    let opt = scale_by_rprop(1.0)
        .eta_minus(0.3)
        .max_step_size(1.3)
        .min_step_size(0.6);
    let mut st = Transformation::<f64>::init(&opt, &vec![0.0]).unwrap();
    let mut outs = vec![];
    for g in [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0] {
        let mut u = vec![g];
        opt.update(&mut u, &mut st, None).unwrap();
        outs.push(u[0]);
    }
    // sizes: 1, 1.2, 1.44 -> 1.3 (max), 1.3, flip: 0.39 -> 0.6 (min), 0.6, 0.72.
    let want = [0.0, 1.0, 1.2, 1.3, 0.0, 0.0, -0.6];
    for (o, w) in outs.iter().zip(want) {
        assert!((o - w).abs() < 1e-15, "{outs:?}");
    }
    assert!(matches!(&st.step_sizes[0], Buf::Native(v) if (v[0] - 0.72).abs() < 1e-15));
}
