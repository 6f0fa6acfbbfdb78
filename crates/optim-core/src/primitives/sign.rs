//! Sign-based primitives: Lion's `scale_by_lion`, the sign of an interpolation between
//! the momentum and the gradient ([`lion`](fn@crate::lion) composes it with the weight decay
//! and learning rate), and `scale_by_sign`, the sign of the update itself
//! ([`sign_sgd`](crate::sign_sgd), and [`signum`](crate::signum) after an
//! [`ema`](crate::ema)).
//!
//! As in the Adam family, `1 - b` is a per-step scalar computed in f64, as optax computes
//! it in Python before the element type sees it.

use crate::optimizer;

/// The transformation behind [`lion`] without its weight decay and learning rate: its
/// update is the sign of the interpolated momentum itself (optax's `scale_by_lion`, in
/// its default `"hard"` mode).
///
/// References: Chen et al, 2023, *Symbolic Discovery of Optimization Algorithms*.
#[optimizer(unscaled)]
pub fn scale_by_lion(
    /// Rate to combine the momentum and the current gradient.
    #[default(0.9)]
    #[check((0.0..=1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate of the momentum.
    #[default(0.99)]
    #[check((0.0..=1.0).contains(&b2))]
    b2: f64,
    /// Momentum.
    #[state(dtype = mu_dtype)]
    mu: State,
) {
    let one_minus_b1 = 1.0 - b1;
    let one_minus_b2 = 1.0 - b2;
    each(|g| {
        let d = sign(one_minus_b1 * g + b1 * mu);
        mu = one_minus_b2 * g + b2 * mu;
        d
    })
}

/// The signs of the updates' elements (optax's `scale_by_sign`): -1, 0 or 1, as
/// `jnp.sign`. It keeps no state.
///
/// References: Bernstein et al, 2018, *signSGD: Compressed Optimisation for Non-Convex
/// Problems*.
#[optimizer(unscaled)]
pub fn scale_by_sign() {
    each(|g| sign(g))
}
