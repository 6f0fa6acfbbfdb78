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
