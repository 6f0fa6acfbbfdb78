//! Rescalings by a step-dependent or tree-dependent factor: `scale_by_schedule` (a
//! schedule of the step count) and `normalize_by_update_norm` (the global norm of the
//! updates, a `tree_sum`).

use crate::{optimizer, LearningRate};

/// Multiplies the updates by a schedule of the step count (optax's `scale_by_schedule`):
/// the first update uses `step_size_fn(0)`.
#[optimizer(unscaled)]
pub fn scale_by_schedule(
    /// The factor at each 0-based step, a schedule (or a constant).
    #[check(step_size_fn.is_finite())]
    step_size_fn: LearningRate,
) {
    each(|g| step_size_fn * g)
}

/// Divides the updates by their global norm (optax's `normalize_by_update_norm`):
/// `u * scale_factor / (‖u‖ + eps)`.
#[optimizer(unscaled)]
pub fn normalize_by_update_norm(
    /// The factor the normalized updates are multiplied by.
    #[default(1.0)]
    #[check(scale_factor.is_finite())]
    scale_factor: f64,
    /// Added to the norm, so a zero update stays finite.
    #[default(1e-6)]
    #[check(eps >= 0.0)]
    eps: f64,
) {
    let sq_norm = tree_sum(|g| g * g);
    let g_norm = (sq_norm.sqrt() + eps) / scale_factor;
    each(|g| g / g_norm)
}
