//! optax's `join_schedules`, and the joining that the warmup and SGDR schedules are
//! built on.

use std::sync::Arc;

use super::{rejected, JaxMode, JaxScalar, Schedule};
use crate::Error;

/// optax's `join_schedules`: `first` before the first boundary passed, then the schedule
/// of the last boundary passed, evaluated at the steps since that boundary.
///
/// As in optax, a later boundary that has been passed wins even if the boundaries are
/// not sorted, and `step < boundary` selects the earlier value.
pub(super) fn join_at<'a>(
    step: u64,
    first: &'a dyn Schedule,
    rest: impl IntoIterator<Item = (u64, &'a dyn Schedule)>,
) -> f64 {
    let mut chosen: Option<(&dyn Schedule, u64)> = None;
    for (boundary, schedule) in rest {
        if step >= boundary {
            chosen = Some((schedule, step - boundary));
        }
    }
    match chosen {
        Some((schedule, since)) => schedule.at(since),
        None => first.at(step),
    }
}

/// [`join_at`] on an int32 count: optax's `jnp.where(step < boundary, output,
/// schedule(step - boundary))` chain, whose dtype is promoted at every link (a float32
/// part rounds a weakly typed float64 part to float32).
pub(super) fn join_count<'a>(
    step: u64,
    mode: JaxMode,
    first: &'a dyn Schedule,
    rest: impl IntoIterator<Item = (u64, &'a dyn Schedule)>,
) -> JaxScalar {
    let mut output = first.at_count(step, mode);
    for (boundary, schedule) in rest {
        // optax evaluates every schedule (at a negative count before its boundary); the
        // value is then discarded, but its dtype takes part in the promotion.
        let next = schedule.at_count(step.saturating_sub(boundary), mode);
        output = output.select(step < boundary, next);
    }
    output
}

/// Schedules applied one after another (optax's `join_schedules`).
///
/// Schedule `i + 1` takes over at `boundaries[i]` and is evaluated at the number of
/// steps since that boundary. As in optax (which zips the two lists), extra boundaries
/// or extra schedules are ignored, and a later boundary that has been passed wins even
/// when the boundaries are not sorted. With no schedules at all the value is NaN.
#[derive(Clone, Debug)]
pub struct JoinSchedules {
    /// The schedules, in order.
    pub schedules: Vec<Arc<dyn Schedule>>,
    /// The steps at which each schedule after the first takes over.
    pub boundaries: Vec<u64>,
}

impl Schedule for JoinSchedules {
    fn at(&self, step: u64) -> f64 {
        let Some((first, rest)) = self.schedules.split_first() else {
            return f64::NAN;
        };
        let rest = self
            .boundaries
            .iter()
            .copied()
            .zip(rest.iter().map(|s| s.as_ref()));
        join_at(step, first.as_ref(), rest)
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        let Some((first, rest)) = self.schedules.split_first() else {
            return JaxScalar::python_float(f64::NAN, mode);
        };
        let rest = self
            .boundaries
            .iter()
            .copied()
            .zip(rest.iter().map(|s| s.as_ref()));
        join_count(step, mode, first.as_ref(), rest)
    }
}

/// Joins schedules at the given boundaries (optax's `join_schedules`).
///
/// Returns an error if `schedules` is empty (optax fails when such a schedule is called).
pub fn join_schedules(
    schedules: Vec<Arc<dyn Schedule>>,
    boundaries: Vec<u64>,
) -> Result<JoinSchedules, Error> {
    if schedules.is_empty() {
        return Err(rejected(
            "join_schedules",
            "schedules",
            "needs at least one schedule",
        ));
    }
    Ok(JoinSchedules {
        schedules,
        boundaries,
    })
}
