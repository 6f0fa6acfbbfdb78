//! The MoMo optimizers of optax.contrib, `momo` and `momo_adam`: each is its primitive of
//! [`primitives::momentum_model`](crate::primitives::momentum_model) alone (optax writes each as one
//! transformation whose update holds the step size). Both read the objective value, an
//! extra argument: call `step_with(.., &Extra::value(f))`.

use crate::{optimizer, scale_by_momo, scale_by_momo_adam};

/// Adaptive learning rates for SGD with momentum (MoMo).
///
/// MoMo builds a model of the loss from exponential averages (weight `beta`) of the
/// objective values `f̄`, of `⟨g, x⟩` (`γ`) and of the gradients (the momentum `m`),
/// and takes the Polyak-type step `τ = min(lr, max(0, (1 + lr·wd)(f̄ − lb − γ) +
/// ⟨m, x⟩) / ‖m‖²)` along the momentum: `x ← (x − τ m) / (1 + lr·wd)`. `lower_bound` is
/// a lower bound `lb` of the loss (0 for most losses); with `adapt_lower_bound` it is
/// estimated on the fly.
///
/// References: Schaipp et al, 2023, *MoMo: Momentum Models for Adaptive Learning
/// Rates*.
#[optimizer(
    fuse(scale_by_momo),
    doc_trace(
        solver = momo(),
        value,
        printed = "3.50E+00 3.32E+00 3.14E+00 2.97E+00 2.81E+00",
    ),
)]
pub fn momo(learning_rate: _, beta: _, lower_bound: _, weight_decay: _, adapt_lower_bound: _) {}

/// Adaptive learning rates for Adam (MoMo-Adam).
///
/// MoMo's model-based step size with Adam's moments: the step along `m / D`, with the
/// preconditioner `D = eps + sqrt(v / (1 − b2^t))`, is
/// `τ = min(lr / (1 − b1^t), max(0, (1 + lr·wd)(f̄ − (1 − b1^t)·lb − γ) + ⟨m, x⟩) /
/// ⟨m, m / D⟩)`, and `x ← (x − τ m / D) / (1 + lr·wd)`.
///
/// References: Schaipp et al, 2023, *MoMo: Momentum Models for Adaptive Learning
/// Rates*.
#[optimizer(
    fuse(scale_by_momo_adam),
    doc_trace(
        solver = momo_adam(),
        value,
        printed = "1.39E+01 1.38E+01 1.36E+01 1.35E+01 1.34E+01",
    ),
)]
pub fn momo_adam(
    learning_rate: _,
    b1: _,
    b2: _,
    eps: _,
    lower_bound: _,
    weight_decay: _,
    adapt_lower_bound: _,
) {
}
