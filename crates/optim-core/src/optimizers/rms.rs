//! The rms family: optimizers that rescale the gradient by a running magnitude of past
//! gradients (RMSProp, Adagrad, Adadelta), each a fused composition of the primitives in
//! [`primitives::magnitude`](crate::primitives::magnitude), as in optax's `alias.py`.

use crate::{
    add_decayed_weights, optimizer, scale_by_adadelta, scale_by_learning_rate, scale_by_rms,
    scale_by_rss, scale_by_stddev, trace, LearningRate,
};

/// A flexible RMSProp optimizer.
///
/// RMSProp is an SGD variant with learning rate adaptation: each parameter's step is
/// scaled by an exponential moving average of the magnitude of its past gradients. This
/// alias switches between the variants found in the literature: `centered` divides by an
/// estimate of the variance instead of the second moment, `eps_in_sqrt = false` adds `eps`
/// outside the square root (as PyTorch does), `bias_correction` debiases the moving
/// averages, and `momentum` adds a trace of the (learning-rate scaled) updates, optionally
/// with Nesterov acceleration. optax's default (`eps_in_sqrt = true`) uses
/// `sqrt(nu + eps)` in the denominator, where PyTorch uses `sqrt(nu) + eps`.
///
/// References: Hinton, 2012, *Overview of mini-batch gradient descent*; Graves, 2013,
/// *Generating Sequences With Recurrent Neural Networks*; Ziyin, 2021, *LaProp:
/// Separating Momentum and Adaptivity in Adam*.
#[optimizer(
    fuse(
        when(centered, scale_by_stddev, scale_by_rms),
        scale_by_learning_rate,
        when(momentum.is_some(), trace(decay = momentum.unwrap_or(0.0))),
    ),
    doc_trace(
        solver = rmsprop(0.003),
        printed = "1.39E+01 1.38E+01 1.37E+01 1.37E+01 1.36E+01",
    ),
)]
pub fn rmsprop(
    learning_rate: _,
    decay: _,
    eps: _,
    initial_scale: _,
    eps_in_sqrt: _,
    /// Whether to rescale by the variance (centered) instead of the second moment.
    #[default(false)]
    centered: bool,
    /// Decay rate of the momentum trace; `None` disables momentum (and its memory).
    momentum: Option<f64>,
    nesterov: _,
    bias_correction: _,
) {
}

/// The Adagrad optimizer.
///
/// Adagrad anneals the learning rate of each parameter individually: the gradient is
/// divided by the root of the sum of all its squares to date. Its main limit is that
/// monotonic accumulation: since all terms are positive, the sum keeps growing during
/// training and the effective learning rate eventually becomes vanishingly small.
///
/// References: Duchi et al, 2011, *Adaptive Subgradient Methods for Online Learning and
/// Stochastic Optimization*.
#[optimizer(
    fuse(scale_by_rss, scale_by_learning_rate),
    doc_trace(
        solver = adagrad(1.0),
        printed = "5.01E+00 2.40E+00 1.25E+00 6.86E-01 3.85E-01",
    ),
)]
pub fn adagrad(learning_rate: _, initial_accumulator_value: _, eps: _) {}

/// The Adadelta optimizer.
///
/// Adadelta adapts learning rates from a moving window of gradient updates: the gradient
/// is scaled by the ratio of the root mean squares of past updates and of past gradients,
/// so it needs no learning rate; a modification of Adagrad. The optional weight decay
/// `weight_decay * p` is added to the gradient before the rescaling, on the leaves
/// `weight_decay_mask` selects. Without a learning rate the step is the unscaled descent
/// direction (lr = 1), where optax 0.2.8 would skip its sign flip and ascend.
///
/// References: Zeiler, 2012, *ADADELTA: An Adaptive Learning Rate Method*.
#[optimizer(
    fuse(
        add_decayed_weights(mask = weight_decay_mask),
        scale_by_adadelta,
        scale_by_learning_rate(learning_rate = learning_rate.unwrap_or(1.0)),
    ),
    doc_trace(
        solver = adadelta().learning_rate(10.0),
        printed = "1.36E+01 1.32E+01 1.29E+01 1.25E+01 1.21E+01",
    ),
)]
pub fn adadelta(
    /// A global scaling factor, constant or scheduled; `None` means 1.
    learning_rate: Option<LearningRate>,
    rho: _,
    eps: _,
    /// Rate of the weight decay added to the gradient.
    weight_decay: _,
    /// The leaves weight decay applies to.
    weight_decay_mask: _,
) {
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::piecewise_constant_schedule;
    use crate::{Buf, Mask, Tensor, TensorMap, Transformation};

    fn params() -> TensorMap<f64> {
        let mut m = TensorMap::new();
        m.insert("b".into(), Tensor::new([3], vec![0.5, -1.0, 2.0]).unwrap());
        m.insert(
            "w".into(),
            Tensor::new([4], vec![1.0, 2.0, -3.0, 0.3]).unwrap(),
        );
        m
    }

    /// Gradients of ½‖x − 0.3‖² (zero for the last element of `w` at the start).
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

    fn close(a: &[Vec<f64>], b: &[Vec<f64>], tol: f64) {
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!((x - y).abs() <= tol * x.abs().max(1.0), "{x} vs {y}");
        }
    }

    #[test]
    fn rmsprop_allocates_only_what_its_options_need() {
        let st = Transformation::<f64>::init(&rmsprop(0.1).initial_scale(1.0), &params()).unwrap();
        assert!(st.mu.iter().all(|b| matches!(b, Buf::Absent(_))));
        assert!(st.trace.iter().all(|b| matches!(b, Buf::Absent(_))));
        assert!(st
            .nu
            .iter()
            .all(|b| matches!(b, Buf::Native(v) if v.iter().all(|&x| x == 1.0))));
        let opt = rmsprop(0.1).centered(true).momentum(0.9);
        let st = Transformation::<f64>::init(&opt, &params()).unwrap();
        assert!(st.mu.iter().all(|b| matches!(b, Buf::Native(_))));
        assert!(st.trace.iter().all(|b| matches!(b, Buf::Native(_))));
    }

    #[test]
    fn rmsprop_first_step_by_hand() {
        let p0 = flat(&params());
        let out = run(&rmsprop(0.02), 1);
        let pyt = run(&rmsprop(0.02).eps_in_sqrt(false).bias_correction(true), 1);
        for i in 0..p0.len() {
            let g = p0[i] - 0.3;
            let nu = 0.1 * (g * g);
            let want = p0[i] - 0.02 * ((nu + 1e-8).sqrt().recip() * g);
            assert_eq!(out[0][i], want);
            // Debiased, eps outside the root: sign descent of size lr (up to eps).
            let want = p0[i] - 0.02 * (1.0 / ((nu / 0.1).sqrt() + 1e-8) * g);
            assert!((pyt[0][i] - want).abs() < 1e-15);
        }
    }

    #[test]
    fn rmsprop_momentum_traces_the_learning_rate_scaled_update() {
        // With a changing learning rate the order matters: optax traces -lr_t * d_t.
        let lr = || piecewise_constant_schedule(0.1, [(2, 0.1)]).unwrap();
        for nesterov in [false, true] {
            let fused = rmsprop(lr()).momentum(0.9).nesterov(nesterov);
            let optax_order = crate::chain!(
                scale_by_rms(),
                scale_by_learning_rate(lr()),
                trace(0.9).nesterov(nesterov)
            );
            let other_order = crate::chain!(
                scale_by_rms(),
                trace(0.9).nesterov(nesterov),
                scale_by_learning_rate(lr())
            );
            assert_eq!(run(&fused, 6), run(&optax_order, 6));
            assert_ne!(run(&fused, 6)[3], run(&other_order, 6)[3]);
        }
    }

    #[test]
    fn centered_rmsprop_is_scale_by_stddev() {
        for (eps_in_sqrt, bias_correction) in [(true, false), (false, true)] {
            let fused = rmsprop(0.02)
                .centered(true)
                .initial_scale(1.0)
                .eps_in_sqrt(eps_in_sqrt)
                .bias_correction(bias_correction);
            let composed = crate::chain!(
                scale_by_stddev()
                    .initial_scale(1.0)
                    .eps_in_sqrt(eps_in_sqrt)
                    .bias_correction(bias_correction),
                scale_by_learning_rate(0.02)
            );
            assert_eq!(run(&fused, 8), run(&composed, 8));
            let uncentered = rmsprop(0.02)
                .initial_scale(1.0)
                .eps_in_sqrt(eps_in_sqrt)
                .bias_correction(bias_correction);
            assert_ne!(run(&fused, 8), run(&uncentered, 8));
            let composed = crate::chain!(
                scale_by_rms()
                    .initial_scale(1.0)
                    .eps_in_sqrt(eps_in_sqrt)
                    .bias_correction(bias_correction),
                scale_by_learning_rate(0.02)
            );
            assert_eq!(run(&uncentered, 8), run(&composed, 8));
        }
    }

    #[test]
    fn adagrad_divides_by_the_root_of_the_sum_of_squares() {
        let p0 = flat(&params());
        let out = run(&adagrad(0.1), 2);
        for i in 0..p0.len() {
            let g0 = p0[i] - 0.3;
            let s1 = g0 * g0 + 0.1;
            let p1 = p0[i] - 0.1 * ((s1 + 1e-7).sqrt().recip() * g0);
            let g1 = p1 - 0.3;
            let s2 = g1 * g1 + s1;
            let p2 = p1 - 0.1 * ((s2 + 1e-7).sqrt().recip() * g1);
            assert_eq!(out[0][i], p1);
            assert_eq!(out[1][i], p2);
        }
        // A zero accumulator scales by zero, not by 1/sqrt(eps) (nor NaN).
        let opt = scale_by_rss().initial_accumulator_value(0.0).eps(0.0);
        let mut st = Transformation::<f64>::init(&opt, &vec![0.0, 0.0]).unwrap();
        let mut u = vec![0.0, 2.0];
        opt.update(&mut u, &mut st, None).unwrap();
        assert_eq!(u, vec![0.0, 1.0]);
    }

    #[test]
    fn adadelta_without_learning_rate_descends_with_lr_one() {
        let none = run(&adadelta(), 10);
        let one = run(&adadelta().learning_rate(LearningRate::from(1.0)), 10);
        assert_eq!(none, one);
        let p0 = flat(&params());
        assert!(none[0]
            .iter()
            .zip(&p0)
            .all(|(p, q)| (p - 0.3).abs() <= (q - 0.3).abs()));
        let composed = crate::chain!(scale_by_adadelta(), scale_by_learning_rate(1.0));
        assert_eq!(none, run(&composed, 10));
    }

    #[test]
    fn adadelta_decays_weights_before_rescaling_on_masked_leaves() {
        let mask = || Mask::from([("b", false), ("w", true)]);
        let fused = adadelta()
            .learning_rate(LearningRate::from(0.5))
            .rho(0.8)
            .eps(1e-4)
            .weight_decay(0.1)
            .weight_decay_mask(mask());
        let composed = crate::chain!(
            add_decayed_weights().weight_decay(0.1).mask(mask()),
            scale_by_adadelta().rho(0.8).eps(1e-4),
            scale_by_learning_rate(0.5)
        );
        let a = run(&fused, 10);
        close(&a, &run(&composed, 10), 1e-15);
        let unmasked = adadelta()
            .learning_rate(LearningRate::from(0.5))
            .rho(0.8)
            .eps(1e-4)
            .weight_decay(0.1);
        let b = run(&unmasked, 10);
        // Leaf `b` (first 3 elements) is not decayed under the mask; `w` is.
        assert_ne!(a[9][..3], b[9][..3]);
        assert_eq!(a[9][3..], b[9][3..]);
    }
}
