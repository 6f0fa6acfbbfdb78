//! The Adam family (`src/optimizers/adam.rs`): NAdam(W) as Adam(W) with Nesterov, the
//! defaults and names, scheduled weight decay, each alias against its primitive in f32 and
//! f64, and RAdam, AMSGrad, AdaMax(W), Yogi and AdaBelief by their equations and state.

use optim_core::{
    adabelief, adam, adamax, adamaxw, adamw, amsgrad, apply_updates, nadam, nadamw, radam,
    registry, scale_by_adam, scale_by_adamax, scale_by_amsgrad, scale_by_belief, scale_by_radam,
    scale_by_yogi, yogi, Adabelief, Adamaxw, Buf, Float, Hyperparams, Nadam, Radam, Transformation,
    Value, Yogi,
};

use crate::common::{flat, Quadratic};

/// Two leaves of different curvatures, with a zero first gradient (0.3) and a tiny
/// parameter (1e-3).
fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(
        &[0.5, -1.0, 2.0, 0.3],
        &[1.0, 2.0, -3.0, 0.25, 1e-3, -0.7],
        [0.5, 2.0],
    )
}

/// Along `alias`'s trajectory, `alias`'s update is `-lr` times `primitive`'s, bit for bit.
fn assert_primitive<F: Float, A: Transformation<F>, P: Transformation<F>>(
    alias: &A,
    primitive: &P,
    lr: f64,
    steps: usize,
) {
    let loss = quadratic::<F>();
    let mut p = loss.params();
    let (mut sa, mut sp) = (alias.init(&p).unwrap(), primitive.init(&p).unwrap());
    for step in 1..=steps {
        let g = loss.grads(&p);
        let (mut ua, mut up) = (g.clone(), g);
        alias.update(&mut ua, &mut sa, Some(&p)).unwrap();
        primitive.update(&mut up, &mut sp, Some(&p)).unwrap();
        let scaled: Vec<F> = flat(&up).iter().map(|&d| F::of(-lr) * d).collect();
        assert_eq!(flat(&ua), scaled, "{} at step {step}", primitive.name());
        apply_updates(&mut p, &ua).unwrap();
    }
}

#[test]
fn nadam_and_nadamw_are_adam_and_adamw_with_nesterov_bit_for_bit() {
    assert_eq!(
        quadratic::<f64>().run(&nadam(0.05), 12),
        quadratic::<f64>().run(&adam(0.05).nesterov(true), 12)
    );
    assert_eq!(
        quadratic::<f32>().run(&nadam(0.05), 12),
        quadratic::<f32>().run(&adam(0.05).nesterov(true), 12)
    );
    assert_eq!(
        quadratic::<f64>().run(&nadam(0.05).nesterov(false).eps_root(1e-9), 12),
        quadratic::<f64>().run(&adam(0.05).eps_root(1e-9), 12)
    );
    let mask = [("b", false), ("w", true)];
    assert_eq!(
        quadratic::<f64>().run(&nadamw(0.05).weight_decay(0.3).mask(mask), 12),
        quadratic::<f64>().run(&adamw(0.05).weight_decay(0.3).mask(mask).nesterov(true), 12)
    );
    assert_eq!(
        quadratic::<f32>().run(&nadamw(0.05), 12),
        quadratic::<f32>().run(&adamw(0.05).nesterov(true), 12)
    );
    // Nesterov changes the trajectory.
    assert_ne!(
        quadratic::<f64>().run(&nadam(0.05), 3),
        quadratic::<f64>().run(&adam(0.05), 3)
    );
}

#[test]
fn nadam_defaults_match_optax_by_name_too() {
    assert!(nadam(0.1).nesterov && nadamw(0.1).nesterov);
    assert!(!adam(0.1).nesterov && !adamw(0.1).nesterov);
    let args = |extra: Vec<(String, Value)>| {
        let mut v = vec![("learning_rate".to_string(), Value::Num(0.1))];
        v.extend(extra);
        v
    };
    assert!(Nadam::from_args("nadam", args(vec![])).unwrap().nesterov);
    let off = Nadam::from_args("nadam", args(vec![("nesterov".into(), Value::Bool(false))]));
    assert!(!off.unwrap().nesterov);
    let y = Yogi::from_args("yogi", args(vec![])).unwrap();
    assert_eq!(
        (y.b1, y.b2, y.eps, y.initial_accumulator_value),
        (0.9, 0.999, 1e-3, 1e-6)
    );
    let a = Adabelief::from_args("adabelief", args(vec![])).unwrap();
    assert_eq!((a.eps, a.eps_root), (1e-16, 1e-16));
    assert_eq!(Radam::new(0.1).threshold, 5.0);
    assert_eq!(Adamaxw::new(0.1).weight_decay.at(0), 1e-4);
    for name in [
        "adam",
        "adamw",
        "nadam",
        "nadamw",
        "adamax",
        "adamaxw",
        "amsgrad",
        "adabelief",
        "radam",
        "yogi",
    ] {
        assert!(
            registry::names().contains(&name),
            "{name} is not registered"
        );
    }
}

#[test]
fn weight_decay_may_be_scheduled_as_in_optax() {
    use optim_core::schedule::{constant_schedule, piecewise_constant_schedule};
    let mask = [("b", false), ("w", true)];
    assert_eq!(
        quadratic::<f64>().run(
            &adamw(0.05).weight_decay(constant_schedule(0.25)).mask(mask),
            6
        ),
        quadratic::<f64>().run(&adamw(0.05).weight_decay(0.25).mask(mask), 6)
    );
    // A decay that quadruples at step 3 (0-based) leaves the first three steps alone.
    let late = piecewise_constant_schedule(2.0, [(3, 4.0)]).unwrap();
    let a = quadratic::<f64>().run(&adamaxw(0.05).weight_decay(late), 5);
    let b = quadratic::<f64>().run(&adamaxw(0.05).weight_decay(2.0), 5);
    assert_eq!(a[..3], b[..3]);
    assert_ne!(a[3], b[3]);
}

#[test]
fn primitives_are_their_aliases_without_the_learning_rate() {
    fn all<F: Float>() {
        assert_primitive::<F, _, _>(
            &adam(0.03).nesterov(true),
            &scale_by_adam().nesterov(true),
            0.03,
            8,
        );
        assert_primitive::<F, _, _>(&adamax(0.03), &scale_by_adamax(), 0.03, 8);
        assert_primitive::<F, _, _>(&amsgrad(0.03), &scale_by_amsgrad(), 0.03, 8);
        assert_primitive::<F, _, _>(
            &amsgrad(0.03)
                .bias_correction_mu(false)
                .bias_correction_nu(false),
            &scale_by_amsgrad()
                .bias_correction_mu(false)
                .bias_correction_nu(false),
            0.03,
            8,
        );
        assert_primitive::<F, _, _>(&adabelief(0.03), &scale_by_belief(), 0.03, 8);
        assert_primitive::<F, _, _>(
            &adabelief(0.03).nesterov(true),
            &scale_by_belief().nesterov(true),
            0.03,
            8,
        );
        assert_primitive::<F, _, _>(&radam(0.03), &scale_by_radam(), 0.03, 10);
        assert_primitive::<F, _, _>(&yogi(0.03), &scale_by_yogi(), 0.03, 8);
    }
    all::<f32>();
    all::<f64>();
}

#[test]
fn radam_takes_momentum_steps_until_rho_reaches_the_threshold() {
    // With b2 = 0.999, rho is about t - 1 over the first steps: below 5 for t <= 5.
    let lr = 0.01;
    let opt = radam(lr);
    let loss = quadratic::<f64>();
    let mut p = loss.params();
    let mut st = opt.init(&p).unwrap();
    let mut mu = vec![0.0; flat(&p).len()];
    for t in 1..=6 {
        let g = flat(&loss.grads(&p));
        let mut u = loss.grads(&p);
        opt.update(&mut u, &mut st, Some(&p)).unwrap();
        for (m, g) in mu.iter_mut().zip(&g) {
            *m = 0.1 * g + 0.9 * *m;
        }
        let momentum: Vec<f64> = mu
            .iter()
            .map(|m| -lr * (m / (1.0 - 0.9f64.powi(t))))
            .collect();
        for (u, want) in flat(&u).iter().zip(&momentum) {
            if t <= 5 {
                assert!(
                    (u - want).abs() <= 1e-15 * want.abs(),
                    "t={t}: {u} vs {want}"
                );
            } else {
                // Rectified: the tiny factor r (about 0.026 at t = 6) shrinks Adam's step.
                assert!(u.abs() < 0.05 * lr, "t={t}: {u}");
            }
        }
        apply_updates(&mut p, &u).unwrap();
    }
}

#[test]
fn amsgrad_divides_by_the_largest_second_moment_seen() {
    let opt = amsgrad(0.1);
    let p = vec![0.0f64; 2];
    let mut st = opt.init(&p).unwrap();
    for g in [[4.0, 1.0], [0.0, 0.0], [0.0, 0.0]] {
        let mut u = g.to_vec();
        opt.update(&mut u, &mut st, Some(&p)).unwrap();
    }
    let Buf::Native(nu_max) = &st.nu_max[0] else {
        panic!("nu_max not native")
    };
    let Buf::Native(nu) = &st.nu[0] else {
        panic!("nu not native")
    };
    // nu_max keeps the first step's bias-corrected moment, g², while nu decays.
    assert!(
        (nu_max[0] - 16.0).abs() < 1e-9 && (nu_max[1] - 1.0).abs() < 1e-9,
        "{nu_max:?}"
    );
    assert!(nu[0] < 0.02 && nu[1] < 0.002, "{nu:?}");
}

#[test]
fn adamax_first_step_is_the_normalized_gradient() {
    let lr = 0.1;
    let g = [3.0f64, -0.5, 0.0];
    let mut u = g.to_vec();
    let p = vec![1.0f64; 3];
    let mut st = adamax(lr).init(&p).unwrap();
    adamax(lr).update(&mut u, &mut st, Some(&p)).unwrap();
    for (u, g) in u.iter().zip(&g) {
        let want = -lr * g / (g.abs() + 1e-8);
        assert!((u - want).abs() <= 1e-15, "{u} vs {want}");
    }
    // adamaxw adds the decay only where the mask says so.
    let opt = adamaxw(lr).weight_decay(0.5);
    let mut st = opt.init(&p).unwrap();
    let mut w = g.to_vec();
    opt.update(&mut w, &mut st, Some(&p)).unwrap();
    for (w, u) in w.iter().zip(&u) {
        assert!((w - (u - lr * 0.5)).abs() <= 1e-15, "{w} vs {u}");
    }
}

#[test]
fn yogi_starts_from_the_initial_accumulator_and_moves_additively() {
    let opt = yogi(0.01).initial_accumulator_value(0.25);
    let p = vec![0.0f64; 2];
    let mut st = opt.init(&p).unwrap();
    assert!(st
        .mu
        .iter()
        .chain(&st.nu)
        .all(|b| matches!(b, Buf::Native(v) if v == &[0.25, 0.25])));
    let mut u = vec![1.0, 0.1];
    opt.update(&mut u, &mut st, Some(&p)).unwrap();
    let Buf::Native(nu) = &st.nu[0] else {
        panic!("nu not native")
    };
    // nu < g²: grows by (1 - b2)·g²; nu > g²: shrinks by (1 - b2)·g².
    let c2 = 1.0 - 0.999;
    assert_eq!(nu[0], 0.25 + c2);
    assert_eq!(nu[1], 0.25 - c2 * (0.1 * 0.1));
}

#[test]
fn adabelief_and_amsgrad_keep_mu_dtype_where_optax_has_it() {
    let p = vec![0.0f32; 3];
    let st =
        Transformation::<f32>::init(&amsgrad(0.1).mu_dtype(optim_core::Dtype::BF16), &p).unwrap();
    assert!(matches!(st.mu[0], Buf::BF16(_)) && matches!(st.nu_max[0], Buf::Native(_)));
    let st =
        Transformation::<f32>::init(&nadamw(0.1).mu_dtype(optim_core::Dtype::BF16), &p).unwrap();
    assert!(matches!(st.mu[0], Buf::BF16(_)) && matches!(st.nu[0], Buf::Native(_)));
}

/// `nu_dtype` (not in optax) stores the second moment in bfloat16 and nothing else: the
/// step equals Adam's equations in f32, each new `nu` used unrounded and stored rounded
/// to bfloat16 (read back exactly next step), as `mu_dtype` does for the first moment.
#[test]
fn nu_dtype_stores_the_second_moment_only() {
    use half::bf16;
    let bf = optim_core::Dtype::BF16;
    for opt in [
        adam(0.1).nu_dtype(bf),
        adam(0.1).nesterov(true).nu_dtype(bf),
    ] {
        let mut p = vec![0.5f32, -1.25, 3.0];
        let mut st = Transformation::<f32>::init(&opt, &p).unwrap();
        assert!(matches!(st.nu[0], Buf::BF16(_)) && matches!(st.mu[0], Buf::Native(_)));
        let (mut q, mut mu, mut nu) = (p.clone(), [0.0f32; 3], [0.0f32; 3]);
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f32);
        for t in 1..=5 {
            let g: Vec<f32> = q.iter().map(|x| 2.0 * x - 0.3).collect();
            opt.step(&mut p, &g, &mut st).unwrap();
            let (bc1, bc1n, bc2) = (
                (1.0 / (1.0 - b1.powf(t as f64))) as f32,
                (1.0 / (1.0 - b1.powf(t as f64 + 1.0))) as f32,
                (1.0 / (1.0 - b2.powf(t as f64))) as f32,
            );
            for i in 0..3 {
                mu[i] = (1.0 - b1) as f32 * g[i] + b1 as f32 * mu[i];
                let v = (1.0 - b2) as f32 * (g[i] * g[i]) + b2 as f32 * nu[i];
                // Stored rounded; this step uses the f32 value (as optax's `mu_dtype`).
                nu[i] = bf16::from_f32(v).to_f32();
                let m_hat = if opt.nesterov {
                    b1 as f32 * (mu[i] * bc1n) + (1.0 - b1) as f32 * (g[i] * bc1)
                } else {
                    mu[i] * bc1
                };
                q[i] += -0.1f32 * (m_hat / ((v * bc2 + 0.0).sqrt() + eps));
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&p), bits(&q), "nesterov {} step {t}", opt.nesterov);
            let Buf::BF16(stored) = &st.nu[0] else {
                panic!("nu not bf16")
            };
            assert_eq!(
                stored.iter().map(|x| x.to_f32()).collect::<Vec<_>>(),
                nu.to_vec()
            );
        }
    }
}
