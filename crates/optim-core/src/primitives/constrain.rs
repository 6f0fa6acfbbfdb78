//! Per-element constraints on the updates: `set_to_zero` (what `freeze` applies to the
//! frozen leaves), `zero_nans` and `keep_params_nonnegative` (optax's
//! `transforms/_constraining.py` and `_freezing.py`).

use crate::optimizer;

/// Replaces every update by zero (optax's `set_to_zero`): the leaves it applies to do
/// not move. `freeze(mask)` is `masked(set_to_zero(), mask)`.
#[optimizer(unscaled)]
pub fn set_to_zero() {
    each(|_g| 0.0)
}

/// Replaces NaN updates by zero (optax's `zero_nans`). The state records, per leaf,
/// whether the last update held a NaN (1) or not (0), as optax's `found_nan`; the
/// transformation itself does not read it.
#[optimizer(unscaled)]
pub fn zero_nans(
    /// Whether the leaf's last update held a NaN: 1 if so, else 0.
    #[state(leaf)]
    found_nan: State,
) {
    let nans = leaf_sum(|g| select(g.is_nan(), 1.0, 0.0));
    found_nan = if nans > 0.0 { 1.0 } else { 0.0 };
    each(|g| select(g.is_nan(), 0.0, g))
}

/// Keeps the params non-negative (optax's `keep_params_nonnegative`): where `p + u`
/// would be negative the update becomes `-p`, which moves the param to zero. It reads the
/// params, so it belongs last in a chain; a negative param is moved to zero too.
#[optimizer(unscaled)]
pub fn keep_params_nonnegative() {
    each(|g, p| select(p + g < 0.0, -p, g))
}
