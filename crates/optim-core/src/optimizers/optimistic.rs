//! Optimistic Adam, in optax's two interfaces: Adam's direction
//! ([`scale_by_adam`]) fed to the optimistic gradient
//! ([`scale_by_optimistic_gradient`]) and the
//! learning rate, as in optax's `alias.py`.
//!
//! Both use optax 0.2.8's optimistic gradient, whose previous direction on the first step
//! is the current one (`initial_fix`), unlike this crate's
//! [`optimistic_gradient_descent`](crate::optimistic_gradient_descent), which keeps the
//! seed's zero start by default.

use crate::{optimizer, scale_by_adam, scale_by_learning_rate, scale_by_optimistic_gradient};

/// The Optimistic Adam optimizer (optax's original interface).
///
/// This is an optimistic version of Adam. It addresses the limit cycling behavior of
/// training Generative Adversarial Networks and other saddle-point min-max problems.
/// With `r` Adam's direction (the bias-corrected first moment over the root of the
/// bias-corrected second moment, with Nesterov momentum by default), the update is
/// `-learning_rate * r - optimism * (r - r_prev)`, where `r_prev` is the previous step's
/// direction (the current one on the first step). The learning rate is a constant here
/// (optax's interface rejects schedules; [`optimistic_adam_v2`] takes one), and
/// `optimism` defaults to it, as in the paper. optax deprecates this interface in
/// favour of [`optimistic_adam_v2`].
///
/// References: Daskalakis et al, 2017, *Training GANs with Optimism*.
#[optimizer(
    fuse(
        scale_by_adam,
        scale_by_optimistic_gradient(alpha = step_size, beta = optimism_rate, initial_fix = true),
        scale_by_learning_rate(learning_rate = 1.0),
    ),
    doc_trace(
        solver = optimistic_adam(0.02),
        printed = "1.36E+01 1.35E+01 1.32E+01 1.30E+01 1.28E+01",
    ),
)]
pub fn optimistic_adam(
    /// The step size, a constant.
    #[check(learning_rate.is_finite())]
    learning_rate: f64,
    /// The amount of optimism to apply; `None` is the learning rate, as in the paper.
    optimism: Option<f64>,
    b1: _,
    b2: _,
    eps: _,
    eps_root: _,
    mu_dtype: _,
    #[default(true)] nesterov: _,
) {
    // As optax's alias: the optimistic gradient's `alpha` is the learning rate and its
    // `beta` the optimism, which defaults to the learning rate; the final stage only
    // flips the sign. (Per-step names, so that `learning_rate` stays required.)
    let step_size = learning_rate;
    let optimism_rate = optimism.unwrap_or(learning_rate);
}

/// The Optimistic Adam optimizer (optax's reworked interface).
///
/// This is an optimistic version of Adam. It addresses the limit cycling behavior of
/// training Generative Adversarial Networks and other saddle-point min-max problems.
/// With `r` Adam's direction (the bias-corrected first moment over the root of the
/// bias-corrected second moment, with Nesterov momentum by default), the update is
/// `-learning_rate * ((alpha + beta) * r - beta * r_prev)`, where `r_prev` is the
/// previous step's direction (the current one on the first step). The "v2" refers to
/// the interface, not the algorithm: it replaces [`optimistic_adam`]'s, and the learning
/// rate may be a schedule.
///
/// References: Daskalakis et al, 2017, *Training GANs with Optimism*.
#[optimizer(
    fuse(
        scale_by_adam,
        scale_by_optimistic_gradient(initial_fix = true),
        scale_by_learning_rate,
    ),
    doc_trace(
        solver = optimistic_adam_v2(0.02),
        printed = "1.36E+01 1.35E+01 1.32E+01 1.30E+01 1.28E+01",
    ),
)]
pub fn optimistic_adam_v2(
    learning_rate: _,
    alpha: _,
    beta: _,
    b1: _,
    b2: _,
    eps: _,
    eps_root: _,
    mu_dtype: _,
    #[default(true)] nesterov: _,
) {
}
