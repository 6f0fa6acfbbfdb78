//! The sgd family: plain and momentum SGD, noisy SGD, optimistic gradient descent and
//! Rprop, each a fused composition of the primitives in
//! [`primitives::descent`](crate::primitives::descent), as in optax's `alias.py`.

use crate::{
    add_noise, optimizer, scale, scale_by_learning_rate, scale_by_optimistic_gradient,
    scale_by_rprop, trace,
};

/// A canonical Stochastic Gradient Descent optimizer.
///
/// Stochastic gradient descent, optionally with momentum (a trace of past gradients,
/// `m = g + momentum * m`) and Nesterov acceleration (`g + momentum * m`), as is standard
/// practice when training deep neural networks. Without `momentum` it keeps no state.
///
/// References: Sutskever et al, 2013, *On the importance of initialization and momentum
/// in deep learning*.
#[optimizer(
    fuse(
        when(momentum.is_some(), trace(decay = momentum.unwrap_or(0.0))),
        scale_by_learning_rate,
    ),
    doc_trace(
        solver = sgd(0.003),
        printed = "1.38E+01 1.37E+01 1.35E+01 1.33E+01 1.32E+01",
    ),
)]
pub fn sgd(
    learning_rate: _,
    /// Decay rate of the momentum trace; `None` disables momentum (and its memory).
    momentum: Option<f64>,
    nesterov: _,
    accumulator_dtype: _,
) {
}

/// A variant of SGD with added noise.
///
/// Noisy SGD adds Gaussian noise of variance `eta / t^gamma` (with `t` the 1-based step
/// count, i.e. `eta / (1 + t)^gamma` in optax's 0-based count) to the gradient before the
/// learning rate scales it; adding noise to the gradients can improve both the training
/// error and the generalization error in very deep networks. The draws are our own
/// counter-based generator ([`crate::noise::normal`]): reproducible for a given `seed`,
/// independent of traversal order, but not jax's random numbers. With `eta = 0` this is
/// exactly [`sgd`].
///
/// References: Neelakantan et al, 2015, *Adding Gradient Noise Improves Learning for Very
/// Deep Networks*.
#[optimizer(
    fuse(add_noise, scale_by_learning_rate),
    doc_trace(
        solver = noisy_sgd(0.003),
        // The noise comes from another generator than jax's: only the digits match.
        optax = digits,
        printed = "1.38E+01 1.37E+01 1.35E+01 1.33E+01 1.32E+01",
    ),
)]
pub fn noisy_sgd(learning_rate: _, #[default(0.01)] eta: _, #[default(0.55)] gamma: _, seed: _) {}

/// An Optimistic Gradient Descent optimizer.
///
/// Optimistic gradient descent approximates extra-gradient methods, which need several
/// gradient calls per update, with the previous gradient: the direction is
/// `(alpha + beta) * g - beta * g_prev`. It has strong formal guarantees for last-iterate
/// convergence in min-max games, for which standard gradient descent can oscillate or even
/// diverge. As in optax 0.2.8 the previous gradient starts at zero, so the first update is
/// `-lr * (alpha + beta) * g`; `initial_fix` uses the current gradient as the previous one
/// on the first step instead (newer optax), giving `-lr * alpha * g`.
///
/// References: Mokhtari et al, 2019, *A Unified Analysis of Extra-gradient and Optimistic
/// Gradient Methods for Saddle Point Problems: Proximal Point Approach*.
#[optimizer(
    fuse(scale_by_optimistic_gradient, scale_by_learning_rate),
    doc_trace(
        solver = optimistic_gradient_descent(0.003),
        printed = "1.37E+01 1.35E+01 1.33E+01 1.32E+01 1.30E+01",
    ),
    alias(name = "optimistic_gradient_descent_initial_fix", initial_fix = true),
)]
pub fn optimistic_gradient_descent(learning_rate: _, alpha: _, beta: _, initial_fix: _) {}

/// The Rprop optimizer.
///
/// Rprop (resilient backpropagation) responds only to the sign of the gradient: each
/// parameter has its own step size, multiplied by `eta_plus` while the gradient keeps its
/// sign and by `eta_minus` when it flips (clipped to `[min_step_size, max_step_size]`). As
/// in optax, the step taken is the one decided at the previous step (none on the first
/// step), and no step is taken right after a sign flip. `learning_rate` is the initial step
/// size, not a multiplier.
///
/// References: Riedmiller and Braun, 1993, *A direct adaptive method for faster
/// backpropagation learning: the RPROP algorithm*; Igel and Hüsken, 2003, *Empirical
/// evaluation of the improved Rprop learning algorithms*.
#[optimizer(
    fuse(scale_by_rprop, scale(step_size = -1.0)),
    doc_trace(
        solver = rprop(0.003),
        printed = "1.40E+01 1.40E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn rprop(learning_rate: _, eta_minus: _, eta_plus: _, min_step_size: _, max_step_size: _) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Buf, Tensor, TensorMap, Transformation};

    fn tree(b: &[f64], w: &[f64]) -> TensorMap<f64> {
        let mut m = TensorMap::new();
        m.insert("b".into(), Tensor::new([b.len()], b.to_vec()).unwrap());
        m.insert("w".into(), Tensor::new([w.len()], w.to_vec()).unwrap());
        m
    }

    fn params() -> TensorMap<f64> {
        tree(&[0.5, -1.0, 2.0], &[1.0, 2.0, -3.0, 0.25])
    }

    /// Gradients of ½‖x − 0.3‖² (so they change from step to step).
    fn grads(p: &TensorMap<f64>) -> TensorMap<f64> {
        p.iter()
            .map(|(k, t)| {
                let d: Vec<f64> = t.data().iter().map(|x| x - 0.3).collect();
                (k.clone(), Tensor::new([d.len()], d).unwrap())
            })
            .collect()
    }

    fn flat(m: &TensorMap<f64>) -> Vec<f64> {
        m.values().flat_map(|t| t.data().to_vec()).collect()
    }

    /// Runs `steps` fused steps of `opt` from `params()`; returns the params after each.
    fn run<T: Transformation<f64>>(opt: &T, steps: usize) -> Vec<Vec<f64>> {
        let mut p = params();
        let mut st = opt.init(&p).unwrap();
        (0..steps)
            .map(|_| {
                let g = grads(&p);
                opt.step(&mut p, &g, &mut st).unwrap();
                flat(&p)
            })
            .collect()
    }

    /// The first update of `opt` from `params()`.
    fn first_update<T: Transformation<f64>>(opt: &T) -> Vec<f64> {
        let p = params();
        let mut st = opt.init(&p).unwrap();
        let mut u = grads(&p);
        opt.update(&mut u, &mut st, Some(&p)).unwrap();
        flat(&u)
    }

    #[test]
    fn sgd_without_momentum_allocates_no_trace() {
        let st = Transformation::<f64>::init(&sgd(0.1), &params()).unwrap();
        assert_eq!(st.trace.len(), 2);
        assert!(st.trace.iter().all(|b| matches!(b, Buf::Absent(_))));
        let st = Transformation::<f64>::init(&sgd(0.1).momentum(0.9), &params()).unwrap();
        assert!(st
            .trace
            .iter()
            .all(|b| matches!(b, Buf::Native(v) if !v.is_empty())));
    }

    #[test]
    fn sgd_is_gradient_descent_and_momentum_follows_the_trace() {
        let g0 = flat(&grads(&params()));
        let u = first_update(&sgd(0.1));
        for (u, g) in u.iter().zip(&g0) {
            assert_eq!(*u, -0.1 * g);
        }
        // Two steps of heavy-ball and Nesterov momentum, by hand.
        let (lr, mu) = (0.1, 0.9);
        let p0 = flat(&params());
        let heavy = run(&sgd(lr).momentum(mu), 2);
        let nest = run(&sgd(lr).momentum(mu).nesterov(true), 2);
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
        let u = first_update(&trace(0.9));
        assert_eq!(u, flat(&grads(&params())));
        let u = first_update(&trace(0.9).nesterov(true));
        let g = flat(&grads(&params()));
        for (u, g) in u.iter().zip(&g) {
            assert_eq!(*u, g + 0.9 * g);
        }
    }

    #[test]
    fn noisy_sgd_without_noise_is_sgd_bit_for_bit() {
        let plain = run(&sgd(0.05), 10);
        let noisy = run(&noisy_sgd(0.05).eta(0.0).seed(7u64), 10);
        assert_eq!(plain, noisy);
    }

    #[test]
    fn noisy_sgd_is_reproducible_per_seed_and_differs_across_seeds() {
        let a = run(&noisy_sgd(0.05).seed(3u64), 5);
        let b = run(&noisy_sgd(0.05).seed(3u64), 5);
        let c = run(&noisy_sgd(0.05).seed(4u64), 5);
        let plain = run(&sgd(0.05), 5);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, plain);
        // update and step agree (same draws at the same step, leaf and index).
        let opt = noisy_sgd(0.05).seed(3u64);
        let mut p = params();
        let mut st = opt.init(&p).unwrap();
        for want in &a {
            let mut u = grads(&p);
            opt.update(&mut u, &mut st, Some(&p)).unwrap();
            crate::apply_updates(&mut p, &u).unwrap();
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
        let g = flat(&grads(&params()));
        let base = optimistic_gradient_descent(lr).alpha(alpha).beta(beta);
        let plain = first_update(&base);
        let fixed = first_update(&base.clone().initial_fix(true));
        for i in 0..g.len() {
            // optax 0.2.8: the previous gradient starts at zero.
            assert_eq!(plain[i], -lr * ((alpha + beta) * g[i] - beta * 0.0));
            // newer optax: the first step is -lr·α·g₀.
            assert!((fixed[i] - (-lr * alpha * g[i])).abs() < 1e-16, "{i}");
        }
        // From the second step on, both use the stored previous gradient.
        let a = run(&base, 3);
        let b = run(&base.clone().initial_fix(true), 3);
        assert_ne!(a[0], b[0]);
        let p0 = flat(&params());
        for i in 0..p0.len() {
            let (g0, g1) = (p0[i] - 0.3, b[0][i] - 0.3);
            let want = b[0][i] - lr * ((alpha + beta) * g1 - beta * g0);
            assert!((b[1][i] - want).abs() < 1e-15);
        }
    }

    #[test]
    fn initial_fix_name_fixes_the_flag() {
        struct FirstUpdate;
        impl crate::registry::Visitor<f64> for FirstUpdate {
            type Out = Vec<f64>;
            fn visit<T: Transformation<f64> + crate::Hyperparams>(self, t: T) -> Vec<f64> {
                first_update(&t)
            }
        }
        let args = || vec![("learning_rate".to_string(), crate::Value::Num(0.05))];
        let fixed = crate::registry::by_name(
            "optimistic_gradient_descent_initial_fix",
            args(),
            FirstUpdate,
        )
        .unwrap();
        let plain =
            crate::registry::by_name("optimistic_gradient_descent", args(), FirstUpdate).unwrap();
        let g = flat(&grads(&params()));
        for i in 0..g.len() {
            assert!((fixed[i] - (-0.05 * g[i])).abs() < 1e-16);
            assert_eq!(plain[i], -0.05 * (2.0 * g[i] - 0.0));
        }
        let mut clash = args();
        clash.push(("initial_fix".into(), crate::Value::Bool(false)));
        assert!(crate::registry::by_name(
            "optimistic_gradient_descent_initial_fix",
            clash,
            FirstUpdate
        )
        .is_err());
    }

    #[test]
    fn rprop_steps_by_sign_with_adaptive_sizes() {
        let lr = 0.02;
        let out = run(&rprop(lr), 3);
        let p0 = flat(&params());
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
}
