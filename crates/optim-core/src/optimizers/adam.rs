//! The Adam family: Adam and AdamW, their Nesterov variants NAdam and NAdamW, AdaMax and
//! AdaMaxW, AMSGrad, AdaBelief, RAdam and Yogi, each a fused composition of its primitive
//! ([`primitives::moments`](crate::primitives::moments)), the decoupled weight decay where it has
//! one, and the learning rate, as in optax's `alias.py`.

use crate::{
    add_decayed_weights, optimizer, scale_by_adam, scale_by_adamax, scale_by_amsgrad,
    scale_by_belief, scale_by_learning_rate, scale_by_radam, scale_by_yogi,
};

/// The Adam optimizer.
///
/// Adam is an SGD variant with gradient scaling adaptation: each parameter's step is scaled
/// by estimates of the first and second moments of its gradients, kept as exponential
/// moving averages with bias correction. With `nesterov`, it uses Nesterov momentum
/// (equivalent to [`nadam`]).
///
/// References: Kingma et al, 2014, *Adam: A Method for Stochastic Optimization*;
/// Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(
    fuse(scale_by_adam, scale_by_learning_rate),
    doc_trace(
        solver = adam(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adam(learning_rate: _, b1: _, b2: _, eps: _, eps_root: _, mu_dtype: _, nesterov: _) {}

/// The NAdam optimizer.
///
/// NAdam is [`adam`] with Nesterov momentum: the bias-corrected first moment is replaced
/// by a look-ahead mixing the next step's momentum with the current gradient. It is
/// [`adam`] with `nesterov` on by default, as in optax.
///
/// References: Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(
    partial(adam, nesterov = true),
    doc_trace(
        solver = nadam(0.003),
        printed = "1.39E+01 1.39E+01 1.39E+01 1.38E+01 1.38E+01",
    ),
)]
pub fn nadam() {}

/// Adam with decoupled weight decay (AdamW).
///
/// The weight decay `weight_decay * p` is added to Adam's direction before the learning
/// rate scales it, on the leaves `mask` selects. With `nesterov`, it uses Nesterov
/// momentum (equivalent to [`nadamw`]).
///
/// References: Loshchilov et al, 2019, *Decoupled Weight Decay Regularization*;
/// Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(
    fuse(scale_by_adam, add_decayed_weights, scale_by_learning_rate),
    doc_trace(
        solver = adamw(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adamw(
    learning_rate: _,
    b1: _,
    b2: _,
    eps: _,
    eps_root: _,
    mu_dtype: _,
    #[default(1e-4)] weight_decay: _,
    mask: _,
    nesterov: _,
) {
}

/// The NAdamW optimizer: NAdam with decoupled weight decay.
///
/// NAdamW is [`adamw`] with Nesterov momentum: the bias-corrected first moment is
/// replaced by a look-ahead mixing the next step's momentum with the current gradient.
/// It is [`adamw`] with `nesterov` on by default, as in optax.
///
/// References: Loshchilov et al, 2019, *Decoupled Weight Decay Regularization*;
/// Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(
    partial(adamw, nesterov = true),
    doc_trace(
        solver = nadamw(0.003),
        printed = "1.39E+01 1.39E+01 1.39E+01 1.38E+01 1.38E+01",
    ),
)]
pub fn nadamw() {}

/// A variant of the Adam optimizer that uses the infinity norm (AdaMax).
///
/// AdaMax generalizes Adam's L2 norm of past gradients to an Lp norm and takes the limit
/// as p goes to infinity: the second moment becomes an exponentially weighted maximum of
/// gradient magnitudes, which needs no bias correction.
///
/// References: Kingma et al, 2014, *Adam: A Method for Stochastic Optimization*.
#[optimizer(
    fuse(scale_by_adamax, scale_by_learning_rate),
    doc_trace(
        solver = adamax(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adamax(learning_rate: _, b1: _, b2: _, eps: _) {}

/// AdaMax with decoupled weight decay (AdaMaxW).
///
/// The weight decay `weight_decay * p` is added to AdaMax's direction before the learning
/// rate scales it, on the leaves `mask` selects: it regularizes towards small weights,
/// which L2 regularization of the loss fails to do for adaptive methods.
///
/// References: Loshchilov et al, 2019, *Decoupled Weight Decay Regularization*.
#[optimizer(
    fuse(scale_by_adamax, add_decayed_weights, scale_by_learning_rate),
    doc_trace(
        solver = adamaxw(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adamaxw(learning_rate: _, b1: _, b2: _, eps: _, #[default(1e-4)] weight_decay: _, mask: _) {}

/// The AMSGrad optimizer.
///
/// Adam can fail to converge to the optimum in some cases. AMSGrad guarantees
/// convergence by dividing by the running maximum of the (bias-corrected) second moment,
/// a long-term memory of past gradients, instead of the second moment itself.
///
/// References: Reddi et al, 2018, *On the Convergence of Adam and Beyond*.
#[optimizer(
    fuse(scale_by_amsgrad, scale_by_learning_rate),
    doc_trace(
        solver = amsgrad(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn amsgrad(
    learning_rate: _,
    b1: _,
    b2: _,
    eps: _,
    eps_root: _,
    mu_dtype: _,
    bias_correction_mu: _,
    bias_correction_nu: _,
) {
}

/// The AdaBelief optimizer.
///
/// AdaBelief is Adam with the second moment replaced by the variance of the gradient
/// around its prediction (the first moment): it takes large steps when the observed
/// gradient matches the "belief" and small ones when it deviates, for fast convergence,
/// generalization and stability.
///
/// References: Zhuang et al, 2020, *AdaBelief Optimizer: Adapting Stepsizes by the
/// Belief in Observed Gradients*.
#[optimizer(
    fuse(scale_by_belief, scale_by_learning_rate),
    doc_trace(
        solver = adabelief(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.38E+01 1.38E+01",
    ),
)]
pub fn adabelief(learning_rate: _, b1: _, b2: _, eps: _, eps_root: _, nesterov: _) {}

/// The Rectified Adam optimizer (RAdam).
///
/// Adam's adaptive learning rate has an undesirably large variance in the first steps,
/// when its statistics rest on few gradients. RAdam rectifies it analytically: while the
/// variance is intractable (`rho < threshold`) it takes plain momentum steps, and then
/// scales Adam's step by the rectification factor `r`.
///
/// References: Liu et al, 2020, *On the Variance of the Adaptive Learning Rate and
/// Beyond*.
#[optimizer(
    fuse(scale_by_radam, scale_by_learning_rate),
    doc_trace(
        solver = radam(0.003),
        printed = "1.38E+01 1.37E+01 1.35E+01 1.33E+01 1.32E+01",
    ),
)]
pub fn radam(learning_rate: _, b1: _, b2: _, eps: _, eps_root: _, threshold: _, nesterov: _) {}

/// The Yogi optimizer.
///
/// Yogi is a modification of Adam that controls the growth of the effective learning
/// rate: the second moment moves towards the squared gradient by an additive step of
/// fixed size rather than multiplicatively, which addresses convergence and
/// generalization issues of exponential moving average methods such as Adam and RMSProp.
/// optax's `yogi` fixes `eps_root` and `initial_accumulator_value` at their defaults;
/// here they can be set, as in optax's `scale_by_yogi`.
///
/// References: Zaheer et al, 2018, *Adaptive Methods for Nonconvex Optimization*.
#[optimizer(
    fuse(scale_by_yogi, scale_by_learning_rate),
    doc_trace(
        solver = yogi(0.002),
        printed = "1.40E+01 1.40E+01 1.39E+01 1.39E+01 1.39E+01",
    ),
)]
pub fn yogi(learning_rate: _, b1: _, b2: _, eps: _, eps_root: _, initial_accumulator_value: _) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        apply_updates, registry, Buf, Float, Hyperparams, Tensor, TensorMap, Transformation, Value,
    };

    fn tree<F: Float>(b: &[f64], w: &[f64]) -> TensorMap<F> {
        let leaf = |x: &[f64]| {
            Tensor::new([x.len()], x.iter().map(|&v| F::of(v)).collect::<Vec<F>>()).unwrap()
        };
        let mut m = TensorMap::new();
        m.insert("b".into(), leaf(b));
        m.insert("w".into(), leaf(w));
        m
    }

    fn params<F: Float>() -> TensorMap<F> {
        tree(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25, 1e-3, -0.7])
    }

    /// Gradients of ½ Σ c·(x − 0.3)², with a different curvature `c` per leaf.
    fn grads<F: Float>(p: &TensorMap<F>) -> TensorMap<F> {
        p.iter()
            .map(|(k, t)| {
                let c = F::of(if k == "b" { 0.5 } else { 2.0 });
                let d: Vec<F> = t.data().iter().map(|&x| c * (x - F::of(0.3))).collect();
                (k.clone(), Tensor::new([d.len()], d).unwrap())
            })
            .collect()
    }

    fn flat<F: Float>(m: &TensorMap<F>) -> Vec<F> {
        m.values().flat_map(|t| t.data().to_vec()).collect()
    }

    /// The params after each of `steps` fused steps of `opt`.
    fn run<F: Float, T: Transformation<F>>(opt: &T, steps: usize) -> Vec<Vec<F>> {
        let mut p = params::<F>();
        let mut st = opt.init(&p).unwrap();
        (0..steps)
            .map(|_| {
                let g = grads(&p);
                opt.step(&mut p, &g, &mut st).unwrap();
                flat(&p)
            })
            .collect()
    }

    /// Along `alias`'s trajectory, `alias`'s update is `-lr` times `primitive`'s, bit for bit.
    fn assert_primitive<F: Float, A: Transformation<F>, P: Transformation<F>>(
        alias: &A,
        primitive: &P,
        lr: f64,
        steps: usize,
    ) {
        let mut p = params::<F>();
        let (mut sa, mut sp) = (alias.init(&p).unwrap(), primitive.init(&p).unwrap());
        for step in 1..=steps {
            let g = grads(&p);
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
            run::<f64, _>(&nadam(0.05), 12),
            run::<f64, _>(&adam(0.05).nesterov(true), 12)
        );
        assert_eq!(
            run::<f32, _>(&nadam(0.05), 12),
            run::<f32, _>(&adam(0.05).nesterov(true), 12)
        );
        assert_eq!(
            run::<f64, _>(&nadam(0.05).nesterov(false).eps_root(1e-9), 12),
            run::<f64, _>(&adam(0.05).eps_root(1e-9), 12)
        );
        let mask = [("b", false), ("w", true)];
        assert_eq!(
            run::<f64, _>(&nadamw(0.05).weight_decay(0.3).mask(mask), 12),
            run::<f64, _>(&adamw(0.05).weight_decay(0.3).mask(mask).nesterov(true), 12)
        );
        assert_eq!(
            run::<f32, _>(&nadamw(0.05), 12),
            run::<f32, _>(&adamw(0.05).nesterov(true), 12)
        );
        // Nesterov changes the trajectory.
        assert_ne!(
            run::<f64, _>(&nadam(0.05), 3),
            run::<f64, _>(&adam(0.05), 3)
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
        use crate::schedule::{constant_schedule, piecewise_constant_schedule};
        let mask = [("b", false), ("w", true)];
        assert_eq!(
            run::<f64, _>(
                &adamw(0.05).weight_decay(constant_schedule(0.25)).mask(mask),
                6
            ),
            run::<f64, _>(&adamw(0.05).weight_decay(0.25).mask(mask), 6)
        );
        // A decay that quadruples at step 3 (0-based) leaves the first three steps alone.
        let late = piecewise_constant_schedule(2.0, [(3, 4.0)]).unwrap();
        let a = run::<f64, _>(&adamaxw(0.05).weight_decay(late), 5);
        let b = run::<f64, _>(&adamaxw(0.05).weight_decay(2.0), 5);
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
        let mut p = params::<f64>();
        let mut st = opt.init(&p).unwrap();
        let mut mu = vec![0.0; flat(&p).len()];
        for t in 1..=6 {
            let g = flat(&grads(&p));
            let mut u = grads(&p);
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
            Transformation::<f32>::init(&amsgrad(0.1).mu_dtype(crate::Dtype::BF16), &p).unwrap();
        assert!(matches!(st.mu[0], Buf::BF16(_)) && matches!(st.nu_max[0], Buf::Native(_)));
        let st =
            Transformation::<f32>::init(&nadamw(0.1).mu_dtype(crate::Dtype::BF16), &p).unwrap();
        assert!(matches!(st.mu[0], Buf::BF16(_)) && matches!(st.nu[0], Buf::Native(_)));
    }
}
