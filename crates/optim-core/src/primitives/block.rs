//! The per-leaf block scalings: `clip_by_block_rms`, `scale_by_param_block_rms` and
//! `scale_by_param_block_norm` (optax's names), primitives of `adafactor`.
//!
//! Each multiplies every update of a leaf by one factor computed from the whole leaf
//! (the rms of its updates, the rms or norm of its params): a `leaf_sum`, a per-leaf
//! factor that reads the leaf's element count `n`, then the element pass. `adafactor`
//! computes the same factors inside its hand-written fused kernel
//! (`primitives/factored/`).

use crate::optimizer;

/// Clips each leaf's updates to a maximum rms (optax's `clip_by_block_rms`): a leaf's
/// updates are divided by `max(1, rms(u) / threshold)`, with `rms(u) = sqrt(Σ u² / n)`.
#[optimizer(unscaled)]
pub fn clip_by_block_rms(
    /// The maximum rms of each leaf's updates.
    #[check(threshold > 0.0)]
    threshold: f64,
) {
    let u_sq = leaf_sum(|g| g * g);
    let div = maximum(1.0, (u_sq / n).sqrt() / threshold);
    each(|g| g / div)
}

/// Scales each leaf's updates by the rms of its params, at least `min_scale` (optax's
/// `scale_by_param_block_rms`): `u * max(min_scale, sqrt(Σ p² / n))`.
#[optimizer(unscaled)]
pub fn scale_by_param_block_rms(
    /// The smallest factor.
    #[default(1e-3)]
    #[check(min_scale >= 0.0)]
    min_scale: f64,
) {
    let p_sq = leaf_sum(|_g, p| p * p);
    let factor = maximum(min_scale, (p_sq / n).sqrt());
    each(|g| g * factor)
}

/// Scales each leaf's updates by the L2 norm of its params, at least `min_scale` (optax's
/// `scale_by_param_block_norm`): `u * max(min_scale, ‖p‖)`.
#[optimizer(unscaled)]
pub fn scale_by_param_block_norm(
    /// The smallest factor.
    #[default(1e-3)]
    #[check(min_scale >= 0.0)]
    min_scale: f64,
) {
    let p_sq = leaf_sum(|_g, p| p * p);
    let factor = maximum(min_scale, p_sq.sqrt());
    each(|g| g * factor)
}
