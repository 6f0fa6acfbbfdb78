//! `scale_by_trust_ratio`: each leaf's update rescaled by the ratio of norms
//! `‖params‖ / ‖update‖`, the core of LAMB, LARS and Fromage
//! ([`optimizers::trust`](crate::optimizers::trust)).
//!
//! The ratio needs a per-leaf reduction before the element pass: a `leaf_sum`. In a fused
//! composition it runs the stages before it read-only, so each element is read twice and
//! written once per step.

use crate::optimizer;

/// Scales each leaf's update by its trust ratio `trust_coefficient * ‖p‖ / (‖u‖ + eps)`
/// (norms below `min_norm` count as `min_norm`; the ratio is 1 when either norm is zero),
/// optax's `scale_by_trust_ratio`.
///
/// References: You et al, 2019, *Large Batch Optimization for Deep Learning*.
#[optimizer(unscaled)]
pub fn scale_by_trust_ratio(
    /// Norms below this value count as this value.
    #[default(0.0)]
    #[check(min_norm >= 0.0)]
    min_norm: f64,
    /// Multiplies the trust ratio.
    #[default(1.0)]
    #[check(trust_coefficient.is_finite())]
    trust_coefficient: f64,
    /// Added to the update norm in the denominator.
    #[default(0.0)]
    #[check(eps >= 0.0)]
    eps: f64,
) {
    let (u_sq, p_sq) = leaf_sum(|g, p| (g * g, p * p));
    let ratio = trust_ratio(
        safe_norm(p_sq, min_norm),
        safe_norm(u_sq, min_norm),
        trust_coefficient,
        eps,
    );
    each(|g| g * ratio)
}
