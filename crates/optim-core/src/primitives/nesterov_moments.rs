//! Adan's Nesterov momentum estimation, `scale_by_adan`: moments of the gradient, of the
//! difference between consecutive gradients and of a look-ahead gradient, without a
//! gradient at the extrapolation point. [`adan`](fn@crate::adan) composes it with the
//! weight decay and the learning rate.
//!
//! As in the Adam family, `1 - b` is a per-step scalar computed in f64 (optax computes
//! it in Python before the element type sees it), and each bias correction divides its
//! moment, as optax's `bias_correction` does.

use crate::optimizer;

/// Rescales updates by Adan's moments (optax's `scale_by_adan`): the bias-corrected
/// first moment plus `1 - b2` times the bias-corrected moment of gradient differences,
/// over the root of the bias-corrected moment of the look-ahead gradient
/// `g + (1 - b2) * (g - g_prev)`. On the first step the gradient difference is zero.
///
/// References: Xie et al, 2022, *Adan: Adaptive Nesterov Momentum Algorithm for Faster
/// Optimizing Deep Models* (Algorithm 1).
#[optimizer(unscaled)]
pub fn scale_by_adan(
    /// Decay rate for the EWMA of gradients.
    #[default(0.98)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Decay rate for the EWMA of differences of gradients.
    #[default(0.92)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Decay rate for the EWMA of the algorithm's squared term.
    #[default(0.99)]
    #[check((0.0..1.0).contains(&b3))]
    b3: f64,
    /// Term added to the denominator to improve numerical stability.
    #[default(1e-8)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Term added to the denominator inside the square root to improve numerical
    /// stability when backpropagating gradients through the rescaling.
    #[default(0.0)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// EWMA of gradients.
    #[state]
    m: State,
    /// EWMA of differences of consecutive gradients.
    #[state]
    v: State,
    /// EWMA of the squared look-ahead gradient (optax's `n`).
    #[state]
    nu: State,
    /// The previous gradient (optax's `g`).
    #[state]
    prev_grad: State,
) {
    let first = t == 1.0;
    let one_minus_b1 = 1.0 - b1;
    let one_minus_b2 = 1.0 - b2;
    let one_minus_b3 = 1.0 - b3;
    let bc1 = bias_correction(jax!(b1), t);
    let bc2 = bias_correction(jax!(b2), t);
    let bc3 = bias_correction(jax!(b3), t);
    each(|g| {
        let diff = select(first, 0.0, g - prev_grad);
        prev_grad = g;
        m = moment(g, m, one_minus_b1, b1);
        v = moment(diff, v, one_minus_b2, b2);
        let look_ahead = g + one_minus_b2 * diff;
        nu = moment(look_ahead * look_ahead, nu, one_minus_b3, b3);
        let u = m / bc1 + one_minus_b2 * (v / bc2);
        u / ((nu / bc3 + eps_root).sqrt() + eps)
    })
}
