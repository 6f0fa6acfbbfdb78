//! `apply_every`: gradients accumulated over `k` steps and emitted on the last of them
//! (optax's `apply_every`). Unlike `MultiSteps` (in `combine/`), the transformations
//! before it in a chain still update their state at every step.

use crate::optimizer;

/// Accumulates the updates and emits their sum every `k` steps, zeros in between
/// (optax's `apply_every`): on step `t` (1-based) the accumulator restarts when
/// `(t - 1) mod k = 0` and is emitted when `(t - 1) mod k = k - 1`.
#[optimizer(unscaled)]
pub fn apply_every(
    /// The number of steps whose updates are summed into one.
    #[default(1u64)]
    #[check(k >= 1)]
    k: u64,
    /// The sum of the updates since the last emission.
    #[state]
    grad_acc: State,
) {
    let c = ((t - 1.0) as u64) % k;
    let acc = c != 0;
    let emit = c == k - 1;
    each(|g| {
        grad_acc = select(acc, grad_acc + g, g);
        select(emit, grad_acc, 0.0)
    })
}
