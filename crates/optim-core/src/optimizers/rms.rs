//! The rms family: optimizers that rescale the gradient by a running magnitude of past
//! gradients (RMSProp, Adagrad, Adadelta), with the primitives optax composes them from
//! (`scale_by_rms`, `scale_by_stddev`, `scale_by_rss`, `scale_by_adadelta`).

use crate::{optimizer, LearningRate, Mask};

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
    unscaled,
    doc_trace(
        solver = rmsprop(0.003),
        printed = "1.39E+01 1.38E+01 1.37E+01 1.37E+01 1.36E+01",
    ),
)]
pub fn rmsprop(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Decay rate of the moving averages of the gradients' magnitude.
    #[default(0.9)]
    decay: f64,
    /// A small constant avoiding division by zero.
    #[default(1e-8)]
    eps: f64,
    /// Initial value of the second moment (PyTorch uses 0, TF1 uses 1).
    #[default(0.0)]
    initial_scale: f64,
    /// Whether `eps` is added inside the square root of the denominator.
    #[default(true)]
    eps_in_sqrt: bool,
    /// Whether to rescale by the variance (centered) instead of the second moment.
    #[default(false)]
    centered: bool,
    /// Decay rate of the momentum trace; `None` disables momentum (and its memory).
    momentum: Option<f64>,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// Whether to debias the moving averages.
    #[default(false)]
    bias_correction: bool,
    /// First moment (only when `centered`).
    #[state(enabled = centered)]
    mu: State,
    /// Second moment.
    #[state(init = initial_scale)]
    nu: State,
    /// The momentum trace of the scaled updates (only with `momentum`).
    #[state(enabled = momentum.is_some())]
    trace: State,
) {
    let bc = 1.0 - decay.powf(t);
    let has_momentum = momentum.is_some();
    let m = momentum.unwrap_or(0.0);
    let step_size = -learning_rate;
    each(|g| {
        if centered {
            mu = (1.0 - decay) * g + decay * mu;
        }
        nu = (1.0 - decay) * (g * g) + decay * nu;
        let (mu_hat, nu_hat) = if bias_correction {
            (mu / bc, nu / bc)
        } else {
            (mu, nu)
        };
        let v = if centered {
            nu_hat - mu_hat * mu_hat
        } else {
            nu_hat
        };
        let scaling = if eps_in_sqrt {
            (v + eps).sqrt().recip()
        } else {
            1.0 / (v.sqrt() + eps)
        };
        let u = step_size * (scaling * g);
        if has_momentum {
            trace = u + m * trace;
            if nesterov {
                u + m * trace
            } else {
                trace
            }
        } else {
            u
        }
    })
}

/// Rescales updates by the root of the exponential moving average of their squares
/// (optax's `scale_by_rms`): the core of [`rmsprop`].
///
/// References: Hinton, 2012, *Overview of mini-batch gradient descent*.
#[optimizer(unscaled)]
pub fn scale_by_rms(
    /// Decay rate of the moving average of squared gradients.
    #[default(0.9)]
    decay: f64,
    /// A small constant avoiding division by zero.
    #[default(1e-8)]
    eps: f64,
    /// Initial value of the second moment.
    #[default(0.0)]
    initial_scale: f64,
    /// Whether `eps` is added inside the square root of the denominator.
    #[default(true)]
    eps_in_sqrt: bool,
    /// Whether to debias the moving average.
    #[default(false)]
    bias_correction: bool,
    /// Second moment.
    #[state(init = initial_scale)]
    nu: State,
) {
    let bc = 1.0 - decay.powf(t);
    each(|g| {
        nu = (1.0 - decay) * (g * g) + decay * nu;
        let nu_hat = if bias_correction { nu / bc } else { nu };
        let scaling = if eps_in_sqrt {
            (nu_hat + eps).sqrt().recip()
        } else {
            1.0 / (nu_hat.sqrt() + eps)
        };
        scaling * g
    })
}

/// Rescales updates by the root of the centered exponential moving average of their
/// squares, an estimate of their standard deviation (optax's `scale_by_stddev`): the core
/// of the centered [`rmsprop`].
///
/// References: Graves, 2013, *Generating Sequences With Recurrent Neural Networks*.
#[optimizer(unscaled)]
pub fn scale_by_stddev(
    /// Decay rate of the moving averages.
    #[default(0.9)]
    decay: f64,
    /// A small constant avoiding division by zero.
    #[default(1e-8)]
    eps: f64,
    /// Initial value of the second moment.
    #[default(0.0)]
    initial_scale: f64,
    /// Whether `eps` is added inside the square root of the denominator.
    #[default(true)]
    eps_in_sqrt: bool,
    /// Whether to debias the moving averages.
    #[default(false)]
    bias_correction: bool,
    /// First moment.
    #[state]
    mu: State,
    /// Second moment.
    #[state(init = initial_scale)]
    nu: State,
) {
    let bc = 1.0 - decay.powf(t);
    each(|g| {
        mu = (1.0 - decay) * g + decay * mu;
        nu = (1.0 - decay) * (g * g) + decay * nu;
        let (mu_hat, nu_hat) = if bias_correction {
            (mu / bc, nu / bc)
        } else {
            (mu, nu)
        };
        let v = nu_hat - mu_hat * mu_hat;
        let scaling = if eps_in_sqrt {
            (v + eps).sqrt().recip()
        } else {
            1.0 / (v.sqrt() + eps)
        };
        scaling * g
    })
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
    primitive = scale_by_rss,
    doc_trace(
        solver = adagrad(1.0),
        printed = "5.01E+00 2.40E+00 1.25E+00 6.86E-01 3.85E-01",
    ),
)]
pub fn adagrad(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Initial value of the accumulator.
    #[default(0.1)]
    initial_accumulator_value: f64,
    /// A small constant added inside the square root to avoid dividing by zero.
    #[default(1e-7)]
    eps: f64,
    /// Sum of the squared gradients.
    #[state(init = initial_accumulator_value)]
    sum_of_squares: State,
) {
    each(|g| {
        sum_of_squares = g * g + sum_of_squares;
        select(
            sum_of_squares > 0.0,
            (sum_of_squares + eps).sqrt().recip(),
            0.0,
        ) * g
    })
}

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
    doc_trace(
        solver = adadelta().learning_rate(10.0),
        printed = "1.36E+01 1.32E+01 1.29E+01 1.25E+01 1.21E+01",
    ),
)]
pub fn adadelta(
    /// A global scaling factor, constant or scheduled; `None` means 1.
    learning_rate: Option<LearningRate>,
    /// Decay rate of the running averages of squared gradients and updates.
    #[default(0.9)]
    rho: f64,
    /// A small constant added to the denominator for numerical stability.
    #[default(1e-6)]
    eps: f64,
    /// Rate of the weight decay added to the gradient.
    #[default(0.0)]
    weight_decay: f64,
    /// The leaves weight decay applies to.
    weight_decay_mask: Mask,
    /// Running average of the squared gradients.
    #[state]
    e_g: State,
    /// Running average of the squared updates.
    #[state]
    e_x: State,
) {
    each(|g, p| {
        let g = select(weight_decay_mask, g + weight_decay * p, g);
        e_g = (1.0 - rho) * (g * g) + rho * e_g;
        let d = ((e_x + eps).sqrt() / (e_g + eps).sqrt()) * g;
        e_x = (1.0 - rho) * (d * d) + rho * e_x;
        d
    })
}

/// Adadelta's rescaling (optax's `scale_by_adadelta`): the gradient times the ratio of
/// the root mean squares of past updates and of past gradients, without [`adadelta`]'s
/// weight decay and learning rate.
///
/// References: Zeiler, 2012, *ADADELTA: An Adaptive Learning Rate Method*.
#[optimizer(unscaled)]
pub fn scale_by_adadelta(
    /// Decay rate of the running averages of squared gradients and updates.
    #[default(0.9)]
    rho: f64,
    /// A small constant added to the denominator for numerical stability.
    #[default(1e-6)]
    eps: f64,
    /// Running average of the squared gradients.
    #[state]
    e_g: State,
    /// Running average of the squared updates.
    #[state]
    e_x: State,
) {
    each(|g| {
        e_g = (1.0 - rho) * (g * g) + rho * e_g;
        let d = ((e_x + eps).sqrt() / (e_g + eps).sqrt()) * g;
        e_x = (1.0 - rho) * (d * d) + rho * e_x;
        d
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::piecewise_constant_schedule;
    use crate::{
        add_decayed_weights, scale_by_learning_rate, trace, Buf, Tensor, TensorMap, Transformation,
    };

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
