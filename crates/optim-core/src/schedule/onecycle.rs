//! optax's `linear_onecycle_schedule` and `cosine_onecycle_schedule`: piecewise
//! interpolations between boundaries computed from fractions of the cycle.

use super::piecewise::{check_scales, interpolate_at, interpolate_count};
use super::{rejected, InterpolateType, JaxMode, JaxScalar, Schedule};
use crate::Error;

/// Python's `int(pct * transition_steps)` for a onecycle boundary, as it is evaluated.
fn onecycle_boundary_at(pct: f64, transition_steps: u64) -> u64 {
    // `as` saturates (NaN gives 0); the constructors reject those cases beforehand.
    (pct * transition_steps as f64).trunc() as u64
}

/// Python's `int(pct * transition_steps)` for a onecycle boundary, checked: `arg` names
/// the fraction `pct` among the arguments of schedule function `schedule`.
fn check_onecycle_boundary(
    schedule: &str,
    arg: &str,
    pct: f64,
    transition_steps: u64,
) -> Result<(), Error> {
    let boundary = (pct * transition_steps as f64).trunc();
    if !(0.0..i64::MAX as f64).contains(&boundary) {
        return Err(rejected(
            schedule,
            arg,
            format!(
                "{arg} * transition_steps must be a finite, non-negative step, got {pct} * {transition_steps}"
            ),
        ));
    }
    Ok(())
}

/// Checks that `divisor` (the argument `arg`, or a product of it), which optax divides by
/// as a Python float, is not zero.
fn check_divisor(schedule: &str, arg: &str, divisor: &str, value: f64) -> Result<(), Error> {
    if value == 0.0 {
        Err(rejected(
            schedule,
            arg,
            format!("{divisor} must not be zero (float division by zero)"),
        ))
    } else {
        Ok(())
    }
}

/// Checks optax's `transition_steps > 0`.
fn check_transition_steps(schedule: &str, transition_steps: u64) -> Result<(), Error> {
    if transition_steps == 0 {
        return Err(rejected(
            schedule,
            "transition_steps",
            "must be positive, got 0",
        ));
    }
    Ok(())
}

/// One entry of a one-cycle schedule's `boundaries_and_scales`: the boundary step and
/// the scale, with the argument the scale is computed from (for the error of a negative
/// scale).
type Entry = (u64, (f64, &'static str));

/// The boundaries and scales of `entries`, as optax's interpolation reads them.
fn scales(entries: &[Entry]) -> impl Iterator<Item = (u64, f64)> + '_ {
    entries
        .iter()
        .map(|&(boundary, (scale, _))| (boundary, scale))
}

/// The boundaries, scales and arguments of `entries`, as [`check_scales`] reads them.
fn scales_with_args(entries: &[Entry]) -> impl Iterator<Item = (u64, f64, &'static str)> + '_ {
    entries
        .iter()
        .map(|&(boundary, (scale, arg))| (boundary, scale, arg))
}

/// A Python dict literal with up to `N` entries, as `sorted(d.items())`: on a repeated
/// key the later value wins, and the result is sorted by key.
fn small_sorted_dict<V: Copy + Default, const N: usize>(
    mut entries: [(u64, V); N],
) -> ([(u64, V); N], usize) {
    // A stable sort keeps equal keys in insertion order, so the last of a run is the latest.
    entries.sort_by_key(|entry| entry.0);
    let mut out = [(0u64, V::default()); N];
    let mut len = 0;
    for entry in entries {
        if len > 0 && out[len - 1].0 == entry.0 {
            out[len - 1].1 = entry.1;
        } else {
            out[len] = entry;
            len += 1;
        }
    }
    (out, len)
}

/// The three-phase linear one-cycle schedule (optax's `linear_onecycle_schedule`).
///
/// optax builds `piecewise_interpolate_schedule('linear', peak_value / div_factor, {
/// int(pct_start * T): div_factor, int(pct_final * T): 1 / div_factor, T: 1 / final_div_factor})`
/// with `T = transition_steps`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearOnecycle {
    /// The length of the cycle, in steps.
    pub transition_steps: u64,
    /// The value at the end of the rising phase.
    pub peak_value: f64,
    /// The fraction of the cycle spent rising.
    pub pct_start: f64,
    /// The fraction of the cycle spent rising and falling back to the initial value.
    pub pct_final: f64,
    /// The initial value is `peak_value / div_factor`.
    pub div_factor: f64,
    /// The final value is the initial value divided by `final_div_factor`.
    pub final_div_factor: f64,
}

impl LinearOnecycle {
    /// optax's `boundaries_and_scales` dict, sorted: the first `len` entries.
    fn boundaries(&self) -> ([Entry; 3], usize) {
        let t = self.transition_steps;
        small_sorted_dict([
            (
                onecycle_boundary_at(self.pct_start, t),
                (self.div_factor, "div_factor"),
            ),
            (
                onecycle_boundary_at(self.pct_final, t),
                (1.0 / self.div_factor, "div_factor"),
            ),
            (t, (1.0 / self.final_div_factor, "final_div_factor")),
        ])
    }
}

impl Schedule for LinearOnecycle {
    fn at(&self, step: u64) -> f64 {
        let (entries, len) = self.boundaries();
        interpolate_at::<f64, f64>(
            InterpolateType::Linear,
            self.peak_value / self.div_factor,
            scales(&entries[..len]),
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        let (entries, len) = self.boundaries();
        interpolate_count(
            InterpolateType::Linear,
            self.peak_value / self.div_factor,
            scales(&entries[..len]),
            step,
            mode,
        )
    }
}

/// Builds a linear one-cycle schedule (optax's `linear_onecycle_schedule`; optax's
/// defaults are `pct_start = 0.3`, `pct_final = 0.85`, `div_factor = 25.0` and
/// `final_div_factor = 1e4`).
///
/// Returns an error where optax raises one: a zero `transition_steps`, a zero divisor, or
/// a negative scale; and also when `pct * transition_steps` is negative or not finite.
pub fn linear_onecycle_schedule(
    transition_steps: u64,
    peak_value: f64,
    pct_start: f64,
    pct_final: f64,
    div_factor: f64,
    final_div_factor: f64,
) -> Result<LinearOnecycle, Error> {
    const F: &str = "linear_onecycle_schedule";
    check_transition_steps(F, transition_steps)?;
    check_divisor(F, "div_factor", "div_factor", div_factor)?;
    check_divisor(F, "final_div_factor", "final_div_factor", final_div_factor)?;
    check_onecycle_boundary(F, "pct_start", pct_start, transition_steps)?;
    check_onecycle_boundary(F, "pct_final", pct_final, transition_steps)?;
    let schedule = LinearOnecycle {
        transition_steps,
        peak_value,
        pct_start,
        pct_final,
        div_factor,
        final_div_factor,
    };
    let (entries, len) = schedule.boundaries();
    check_scales(F, scales_with_args(&entries[..len]))?;
    Ok(schedule)
}

/// The two-phase cosine one-cycle schedule (optax's `cosine_onecycle_schedule`).
///
/// optax builds `piecewise_interpolate_schedule('cosine', peak_value / div_factor, {
/// int(pct_start * T): div_factor, T: 1 / (div_factor * final_div_factor)})` with
/// `T = transition_steps`.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineOnecycle {
    /// The length of the cycle, in steps.
    pub transition_steps: u64,
    /// The value at the end of the rising phase.
    pub peak_value: f64,
    /// The fraction of the cycle spent rising.
    pub pct_start: f64,
    /// The initial value is `peak_value / div_factor`.
    pub div_factor: f64,
    /// The final value is the initial value divided by `final_div_factor`.
    pub final_div_factor: f64,
}

impl CosineOnecycle {
    /// optax's `boundaries_and_scales` dict, sorted: the first `len` entries.
    fn boundaries(&self) -> ([Entry; 2], usize) {
        let t = self.transition_steps;
        // The last scale is negative (or NaN) when one factor is and the other is not:
        // name div_factor if it is the one, and final_div_factor otherwise.
        let last_arg = if self.div_factor < 0.0 || self.div_factor.is_nan() {
            "div_factor"
        } else {
            "final_div_factor"
        };
        small_sorted_dict([
            (
                onecycle_boundary_at(self.pct_start, t),
                (self.div_factor, "div_factor"),
            ),
            (
                t,
                (1.0 / (self.div_factor * self.final_div_factor), last_arg),
            ),
        ])
    }
}

impl Schedule for CosineOnecycle {
    fn at(&self, step: u64) -> f64 {
        let (entries, len) = self.boundaries();
        interpolate_at::<f64, f64>(
            InterpolateType::Cosine,
            self.peak_value / self.div_factor,
            scales(&entries[..len]),
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        let (entries, len) = self.boundaries();
        interpolate_count(
            InterpolateType::Cosine,
            self.peak_value / self.div_factor,
            scales(&entries[..len]),
            step,
            mode,
        )
    }
}

/// Builds a cosine one-cycle schedule (optax's `cosine_onecycle_schedule`; optax's
/// defaults are `pct_start = 0.3`, `div_factor = 25.0` and `final_div_factor = 1e4`).
///
/// Returns an error where optax raises one: a zero `transition_steps`, a zero divisor, or
/// a negative scale; and also when `pct_start * transition_steps` is negative or not finite.
pub fn cosine_onecycle_schedule(
    transition_steps: u64,
    peak_value: f64,
    pct_start: f64,
    div_factor: f64,
    final_div_factor: f64,
) -> Result<CosineOnecycle, Error> {
    const F: &str = "cosine_onecycle_schedule";
    check_transition_steps(F, transition_steps)?;
    check_divisor(F, "div_factor", "div_factor", div_factor)?;
    // div_factor is not zero, so a zero product means final_div_factor is (or underflows).
    check_divisor(
        F,
        "final_div_factor",
        "div_factor * final_div_factor",
        div_factor * final_div_factor,
    )?;
    check_onecycle_boundary(F, "pct_start", pct_start, transition_steps)?;
    let schedule = CosineOnecycle {
        transition_steps,
        peak_value,
        pct_start,
        div_factor,
        final_div_factor,
    };
    let (entries, len) = schedule.boundaries();
    check_scales(F, scales_with_args(&entries[..len]))?;
    Ok(schedule)
}
