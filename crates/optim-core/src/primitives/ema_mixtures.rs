//! Mixtures of exponential moving averages (optax.contrib's AdEMAMix family):
//! `scale_by_ademamix`, Adam's moments plus a slow EMA of the gradient, and
//! `scale_by_simplified_ademamix`, a single accumulated momentum mixed with the current
//! gradient. [`ademamix`](fn@crate::ademamix) and
//! [`simplified_ademamix`](crate::simplified_ademamix) compose them with the weight decay
//! and the learning rate.
//!
//! The declarations follow optax's order of operations, so that float64 results agree
//! with it to the last bits: `1 - b` is a per-step scalar in f64, and the bias
//! corrections divide the moments. `b3` and `alpha` may be schedules, evaluated at the
//! 0-based step as optax evaluates them on its step counter.

use crate::{optimizer, ScalarOrSchedule};

/// Rescales updates by AdEMAMix's moments (optax.contrib's `scale_by_ademamix`): the
/// bias-corrected fast EMA plus `alpha` times the slow EMA (not bias-corrected, so that
/// it fills slowly), over the root of Adam's bias-corrected second moment.
///
/// optax initializes all three buffers in `mu_dtype` but stores the updated ones in the
/// promoted dtype; here `mu_dtype` is the storage dtype of the fast EMA `m1` (as
/// `mu_dtype` is Adam's first moment's), and `m2` and `nu` are stored in the params'
/// dtype.
///
/// References: Pagliardini et al, 2024, *The AdEMAMix Optimizer: Better, Faster, Older*.
#[optimizer(unscaled)]
pub fn scale_by_ademamix(
    /// Exponential decay rate to track the fast EMA.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate to track the second moment of past gradients.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Exponential decay rate to track the slow EMA, constant or scheduled.
    #[default(0.9999)]
    #[check((0.0..1.0).contains(&b3))]
    b3: ScalarOrSchedule,
    /// Mixing coefficient in the linear combination of the fast and slow EMAs, constant
    /// or scheduled.
    #[default(6.0)]
    #[check(alpha.is_finite())]
    alpha: ScalarOrSchedule,
    /// Added to the denominator outside the square root (as in the Adam paper) to avoid
    /// dividing by zero when rescaling.
    #[default(1e-8)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Added to the second moment inside the square root (as in RMSProp), to avoid
    /// dividing by zero when rescaling; needed when computing (meta-)gradients through
    /// the update.
    #[default(0.0)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// Fast EMA of the gradient.
    #[state(dtype = mu_dtype)]
    m1: State,
    /// Slow EMA of the gradient.
    #[state]
    m2: State,
    /// Second moment.
    #[state]
    nu: State,
) {
    // optax divides each moment by its bias correction; so do we (Adam's
    // `bias_corrections` gives reciprocals, to multiply by).
    let (one_minus_b1, one_minus_b2) = (1.0 - b1, 1.0 - b2);
    let (bc1, bc2) = (bias_correction(jax!(b1), t), bias_correction(jax!(b2), t));
    let one_minus_b3 = 1.0 - b3;
    each(|g| {
        m1 = moment(g, m1, one_minus_b1, b1);
        m2 = moment(g, m2, one_minus_b3, b3);
        nu = moment(g * g, nu, one_minus_b2, b2);
        (m1 / bc1 + alpha * m2) / ((nu / bc2 + eps_root).sqrt() + eps)
    })
}

/// Rescales updates by Simplified AdEMAMix's moments (optax.contrib's
/// `scale_by_simplified_ademamix`): an accumulated momentum `m = g + b1 * m` plus `alpha`
/// times the current gradient, over the root of Adam's bias-corrected second moment,
/// itself kept as `nu = g^2 + b2 * (nu - g^2)` (optax's `lerp`).
///
/// References: Morwani et al, 2025, *Connections between Schedule-Free Optimizers,
/// AdEMAMix, and Accelerated SGD Variants*.
#[optimizer(unscaled)]
pub fn scale_by_simplified_ademamix(
    /// Exponential decay rate to track the EMA.
    #[default(0.99)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate to track the second moment of past gradients.
    #[default(0.95)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Mixing coefficient for the current gradient and the EMA, constant or scheduled.
    #[default(0.0)]
    #[check(alpha.is_finite())]
    alpha: ScalarOrSchedule,
    /// Added to the denominator outside the square root (as in the Adam paper) to avoid
    /// dividing by zero when rescaling.
    #[default(1e-8)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Added to the second moment inside the square root (as in RMSProp), to avoid
    /// dividing by zero when rescaling; needed when computing (meta-)gradients through
    /// the update.
    #[default(0.0)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// The accumulated momentum (optax's `m`).
    #[state]
    m: State,
    /// Second moment (optax's `n`).
    #[state]
    nu: State,
) {
    let bc2 = bias_correction(jax!(b2), t);
    each(|g| {
        m = g + b1 * m;
        let g2 = g * g;
        nu = g2 + b2 * (nu - g2);
        (m + alpha * g) / ((nu / bc2 + eps_root).sqrt() + eps)
    })
}
