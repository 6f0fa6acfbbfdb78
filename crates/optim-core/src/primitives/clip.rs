//! Clipping: `clip` (per element) and `clip_by_global_norm` (by the norm of the whole
//! update tree, a `tree_sum`).

use crate::optimizer;

/// Clips every update to `[-max_delta, max_delta]` (optax's `clip`).
#[optimizer(unscaled)]
pub fn clip(
    /// The largest magnitude an update element keeps.
    #[check(max_delta >= 0.0)]
    max_delta: f64,
) {
    each(|g| minimum(maximum(g, -max_delta), max_delta))
}

/// Rescales the whole update tree so its global norm is at most `max_norm` (optax's
/// `clip_by_global_norm`): updates pass unchanged when their norm is below `max_norm`,
/// and become `u / ‖u‖ * max_norm` otherwise.
///
/// References: Pascanu et al, 2012, *On the difficulty of training Recurrent Neural
/// Networks*.
#[optimizer(unscaled)]
pub fn clip_by_global_norm(
    /// The largest global norm the updates keep.
    #[check(max_norm > 0.0)]
    max_norm: f64,
) {
    let sq_norm = tree_sum(|g| g * g);
    let norm = sq_norm.sqrt();
    let keep = norm < max_norm;
    each(|g| select(keep, g, (g / norm) * max_norm))
}
