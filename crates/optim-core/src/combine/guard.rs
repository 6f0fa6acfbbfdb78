//! What a composition that calls user code keeps, to put back when that code fails.
//!
//! A line search evaluates the user's objective (optax's `value_fn`), which may return
//! an error after `validate` passed. The search writes nothing then, but in a
//! composition the members before it (and the combinator's own counters) have already
//! written. So a combinator whose members call user code
//! ([`Transformation::calls_user_code`](crate::Transformation::calls_user_code)) copies
//! its state and the tree a call writes before the call, and restores both if the call
//! fails. The copy allocates, once per call, and only in such compositions: every other
//! composition is atomic by validating first, and a bare line search or `lbfgs` by
//! searching before it writes.

use super::overlay;
use crate::{Error, Float, Tree};

/// Runs `f` on `state` and `tree` (the updates of `update_with`, the params of a step);
/// when `on`, a failing `f` leaves both as they were.
pub(crate) fn guarded<F: Float, S: Clone, P: Tree<F>>(
    on: bool,
    state: &mut S,
    tree: &mut P,
    f: impl FnOnce(&mut S, &mut P) -> Result<(), Error>,
) -> Result<(), Error> {
    if !on {
        return f(state, tree);
    }
    let saved_state = state.clone();
    let mut saved_tree = overlay::scratch_for(&*tree)?;
    overlay::copy_into(&*tree, &mut saved_tree)?;
    let result = f(state, tree);
    if result.is_err() {
        *state = saved_state;
        // The same tree as copied: putting it back cannot fail.
        let _ = crate::linesearch::store(tree, &saved_tree);
    }
    result
}
