//! MADGRAD's momentumized dual averaging, `scale_by_madgrad` (optax.contrib): weighted
//! sums of the gradients and of their squares since the start, a dual-averaging point
//! `z` away from the initial params, and a momentum step of the params towards it.
//! [`madgrad`](fn@crate::madgrad) composes it after the weight decay.
//!
//! Unlike the other primitives, its update already holds the learning rate (the sums are
//! weighted by it) and the sign: it is `x_new - p`, the step to the new params. As in
//! optax, the state keeps a copy of the params given to `init`, `x0`.

use crate::{optimizer, LearningRate};

/// Rescales updates by MADGRAD (optax.contrib's `scale_by_madgrad`): with
/// `lamb = (learning_rate + eps) * sqrt(t)`, it accumulates `s += lamb * g` and
/// `grad_sum_sq += lamb * g²`, takes the dual-averaging point
/// `z = x0 - s / (cbrt(grad_sum_sq) + eps)` and moves the params to
/// `(1 - momentum) * z + momentum * p`. The learning rate `+ eps` matches the official
/// PyTorch implementation's stabilization.
///
/// References: Defazio et al, 2021, *Adaptivity without Compromise: A Momentumized,
/// Adaptive, Dual Averaged Gradient Method for Stochastic Optimization*.
#[optimizer(unscaled)]
pub fn scale_by_madgrad(
    /// A global scaling factor, either fixed or evolving along iterations with a
    /// scheduler.
    #[check(learning_rate.is_finite())]
    learning_rate: LearningRate,
    /// Momentum parameter.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&momentum))]
    momentum: f64,
    /// Term added to the denominator (and to the learning rate) to improve numerical
    /// stability.
    #[default(1e-6)]
    #[check(eps >= 0.0)]
    eps: f64,
    /// Weighted sum of squared gradients (`G_k`).
    #[state]
    grad_sum_sq: State,
    /// Weighted sum of gradients (`s_k`).
    #[state]
    s: State,
    /// The initial params (`x_0`), copied at `init`.
    #[state(init = params)]
    x0: State,
) {
    // optax's `jnp.sqrt(count + 1)` of its int32 counter is float32 in both jax modes, and
    // the Python float `learning_rate + eps` meets it as float32: the weight `lamb` is a
    // float32 product even for float64 params.
    let lamb = ((learning_rate + eps) as f32 * (t as f32).sqrt()) as f64;
    let one_minus_momentum = 1.0 - momentum;
    each(|g, p| {
        grad_sum_sq = grad_sum_sq + lamb * (g * g);
        s = s + lamb * g;
        let sigma = grad_sum_sq.cbrt() + eps;
        let z = x0 - s / sigma;
        let x_new = one_minus_momentum * z + momentum * p;
        x_new - p
    })
}
