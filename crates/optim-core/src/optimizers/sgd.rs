//! The sgd family: plain and momentum SGD, noisy SGD, optimistic gradient descent and
//! Rprop, with the primitives optax composes them from (`trace`, `add_noise`,
//! `scale_by_optimistic_gradient`, `scale_by_rprop`).

use crate::{optimizer, LearningRate};

/// A canonical Stochastic Gradient Descent optimizer.
///
/// Stochastic gradient descent, optionally with momentum (a trace of past gradients,
/// `m = g + momentum * m`) and Nesterov acceleration (`g + momentum * m`), as is standard
/// practice when training deep neural networks. Without `momentum` it keeps no state.
///
/// References: Sutskever et al, 2013, *On the importance of initialization and momentum
/// in deep learning*.
#[optimizer]
pub fn sgd(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Decay rate of the momentum trace; `None` disables momentum (and its memory).
    momentum: Option<f64>,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// The momentum trace (absent without `momentum`).
    #[state(dtype = accumulator_dtype, enabled = momentum.is_some())]
    trace: State,
) {
    let has_momentum = momentum.is_some();
    let decay = momentum.unwrap_or(0.0);
    each(|g| {
        if has_momentum {
            trace = g + decay * trace;
            if nesterov {
                g + decay * trace
            } else {
                trace
            }
        } else {
            g
        }
    })
}

/// A trace of past updates (optax's `trace`): `m = g + decay * m`.
///
/// The update is the trace itself, or with `nesterov` the look-ahead `g + decay * m`.
/// This is the momentum of [`sgd`] and [`rmsprop`](crate::rmsprop) on its own.
///
/// References: Sutskever et al, 2013, *On the importance of initialization and momentum
/// in deep learning*.
#[optimizer(unscaled)]
pub fn trace(
    /// Decay rate of the trace.
    decay: f64,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// The trace.
    #[state(dtype = accumulator_dtype)]
    trace: State,
) {
    each(|g| {
        trace = g + decay * trace;
        if nesterov {
            g + decay * trace
        } else {
            trace
        }
    })
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
#[optimizer(primitive = add_noise)]
pub fn noisy_sgd(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Initial variance of the Gaussian noise added to the gradients.
    #[default(0.01)]
    eta: f64,
    /// Decay exponent of the noise variance over time.
    #[default(0.55)]
    gamma: f64,
    /// Seed of the noise.
    #[default(0u64)]
    seed: u64,
) {
    let sigma = (eta / t.powf(gamma)).sqrt();
    let noisy = eta != 0.0;
    let step = t as u64;
    each(|g, _p, pos| {
        if noisy {
            g + sigma * F::of(crate::noise::normal(seed, step, pos.leaf, pos.index))
        } else {
            g
        }
    })
}

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
#[optimizer(primitive = scale_by_optimistic_gradient)]
pub fn optimistic_gradient_descent(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Coefficient for generalized optimistic gradient descent.
    #[default(1.0)]
    alpha: f64,
    /// Coefficient for the negative momentum.
    #[default(1.0)]
    beta: f64,
    /// On the first step, use the current gradient as the previous one (newer optax).
    #[default(false)]
    initial_fix: bool,
    /// The previous gradient.
    #[state]
    prev_grad: State,
) {
    let alpha_beta = alpha + beta;
    let first = initial_fix && t == 1.0;
    each(|g| {
        let prev = if first { g } else { prev_grad };
        prev_grad = g;
        alpha_beta * g - beta * prev
    })
}

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
#[optimizer(unscaled)]
pub fn rprop(
    /// The initial step size.
    learning_rate: f64,
    /// Multiplicative factor decreasing the step size when the gradient changes sign.
    #[default(0.5)]
    eta_minus: f64,
    /// Multiplicative factor increasing the step size when the gradient keeps its sign.
    #[default(1.2)]
    eta_plus: f64,
    /// Minimum step size.
    #[default(1e-6)]
    min_step_size: f64,
    /// Maximum step size.
    #[default(50.0)]
    max_step_size: f64,
    /// Per-element step size.
    #[state(init = learning_rate)]
    step_sizes: State,
    /// The signed step decided at the previous step.
    #[state]
    prev_updates: State,
) {
    each(|g| {
        let s = g * prev_updates;
        step_sizes = select(
            s == 0.0,
            step_sizes,
            clip(
                step_sizes * select(s > 0.0, eta_plus, eta_minus),
                min_step_size,
                max_step_size,
            ),
        );
        let u = select(s < 0.0, 0.0, prev_updates);
        prev_updates = select(s < 0.0, 0.0, step_sizes * sign(g));
        -u
    })
}

/// Rprop's step (optax's `scale_by_rprop`): the update is the signed step itself,
/// without [`rprop`]'s final sign flip.
///
/// References: Riedmiller and Braun, 1993, *A direct adaptive method for faster
/// backpropagation learning: the RPROP algorithm*.
#[optimizer(unscaled)]
pub fn scale_by_rprop(
    /// The initial step size.
    learning_rate: f64,
    /// Multiplicative factor decreasing the step size when the gradient changes sign.
    #[default(0.5)]
    eta_minus: f64,
    /// Multiplicative factor increasing the step size when the gradient keeps its sign.
    #[default(1.2)]
    eta_plus: f64,
    /// Minimum step size.
    #[default(1e-6)]
    min_step_size: f64,
    /// Maximum step size.
    #[default(50.0)]
    max_step_size: f64,
    /// Per-element step size.
    #[state(init = learning_rate)]
    step_sizes: State,
    /// The signed step decided at the previous step.
    #[state]
    prev_updates: State,
) {
    each(|g| {
        let s = g * prev_updates;
        step_sizes = select(
            s == 0.0,
            step_sizes,
            clip(
                step_sizes * select(s > 0.0, eta_plus, eta_minus),
                min_step_size,
                max_step_size,
            ),
        );
        let u = select(s < 0.0, 0.0, prev_updates);
        prev_updates = select(s < 0.0, 0.0, step_sizes * sign(g));
        u
    })
}

crate::family! {
    "sgd" => Sgd,
    "noisy_sgd" => NoisySgd,
    "optimistic_gradient_descent" => OptimisticGradientDescent,
    "optimistic_gradient_descent_initial_fix" => OptimisticGradientDescent { "initial_fix": crate::Value::Bool(true) },
    "rprop" => Rprop,
}
