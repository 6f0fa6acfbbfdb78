//! The learning-rate schedules of optax (`optax.schedules`), with optax's names,
//! argument order, defaults and arithmetic.
//!
//! Every schedule is a plain struct with public fields that implements [`Schedule`];
//! the snake_case functions (`linear_schedule`, `cosine_decay_schedule`, ...) build
//! them the way optax's functions of the same names do, and [`ScheduleSpec`] is the
//! serde form used by configuration files (`{"schedule": "<optax name>", ...kwargs}`).
//!
//! The arithmetic follows optax's formulas in the same order, each written once and
//! generic over the float type. [`Schedule::at`] runs them in f64, so values agree with
//! optax (with `jax_enable_x64`, on a Python-int step) to a few ulps.
//! [`Schedule::at_count`] runs every intermediate in the dtype jax gives it when an
//! optimizer calls the schedule on its int32 step counter (see "Dtypes on an int32
//! count" below), and reproduces optax 0.2.8 bit for bit. Step counts, boundaries and
//! durations are `u64`. Where optax only logs a message for an odd argument
//! (a `transition_steps` of zero, a zero `decay_rate`, ...) the schedule behaves as
//! optax's does; where optax raises an error, the constructor returns `Err`.
//! Evaluating a schedule never panics: a struct filled in by hand with arguments
//! that a constructor would reject yields whatever the formula gives (often NaN).
//!
//! ```
//! use optim_core::schedule::{warmup_cosine_decay_schedule, Schedule};
//!
//! let s = warmup_cosine_decay_schedule(0.0, 1.0, 5, 20, 0.05, 1.0).expect("valid arguments");
//! assert_eq!(s.at(0), 0.0);
//! assert!((s.at(5) - 1.0).abs() < 1e-15);
//! assert!((s.at(20) - 0.05).abs() < 1e-15);
//! ```
//!
//! # Dtypes on an int32 count
//!
//! jax's promotion rules, for an int32 array `count`: `count - int` is int32;
//! `count / int` (true division) converts both sides to float32 and divides in float32,
//! in both modes; `count` meeting a Python float gives the mode's default float (float64
//! with `jax_enable_x64`, float32 without), weakly typed; a Python float meeting a
//! strongly typed float32 array is rounded to float32. optax's schedules therefore give,
//! on an int32 count ("weak" = weakly typed):
//!
//! | schedule | with `jax_enable_x64` | without |
//! |---|---|---|
//! | `constant_schedule` | the Python float (weak float64) | weak float32 |
//! | `linear_schedule`, `polynomial_schedule`, `warmup_constant_schedule` | float32 throughout; `init - end` is taken in f64 and rounded | the same |
//! | `exponential_decay` | float32 throughout (`decay_rate ** p` is a float32 `pow`) | the same |
//! | `cosine_decay_schedule` | weak float64 throughout | weak float32 throughout |
//! | `piecewise_constant_schedule` | weak float64 | weak float32 |
//! | `piecewise_interpolate_schedule`, `*_onecycle_schedule` | float64 values, but the fraction `pct` and, for `'cosine'`, `cos(pi * pct) + 1` are float32 | float32 throughout |
//! | `join_schedules` and the warmup/SGDR schedules built on it | `jnp.where` promotes: a float32 part rounds a weak float64 part to float32 | the same |
//!
//! A schedule whose `transition_steps` is zero (or `decay_rate` zero) returns the
//! Python float `init_value`. The values are the eager ones (each jax operation run on
//! its own), as the reference traces were computed: under `jax.jit` XLA rewrites
//! `x / c` as `x * (1 / c)` and fuses multiply-adds, which changes last bits.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::fmt;
use std::sync::Arc;

use num_traits::Float;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{JaxDtype, JaxMode, JaxScalar, Schedule};

// ---------------------------------------------------------------------------
// Numeric helpers that mirror jax.numpy's semantics.
// ---------------------------------------------------------------------------

/// The float type a piece of optax's arithmetic runs in: `f64` for [`Schedule::at`],
/// and the dtype jax gives it on an int32 count for [`Schedule::at_count`]. Every
/// formula below is written once, generic over it.
trait Real: Float {
    /// The jax dtype of this type.
    const DTYPE: JaxDtype;
    /// A Python float (or a value optax computed in Python) as jax converts it to this
    /// type: rounded to nearest, ties to even.
    fn of(x: f64) -> Self;
    /// An integer (a step count) converted to this type, as jax converts an int32.
    fn of_int(n: i128) -> Self;
    /// The value as an f64 (exact).
    fn widen(self) -> f64;
    /// This value as a jax scalar.
    fn scalar(self, weak: bool) -> JaxScalar {
        JaxScalar::new(self.widen(), Self::DTYPE, weak)
    }
}

impl Real for f32 {
    const DTYPE: JaxDtype = JaxDtype::Float32;
    fn of(x: f64) -> Self {
        x as f32
    }
    fn of_int(n: i128) -> Self {
        n as f32
    }
    fn widen(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    const DTYPE: JaxDtype = JaxDtype::Float64;
    fn of(x: f64) -> Self {
        x
    }
    fn of_int(n: i128) -> Self {
        n as f64
    }
    fn widen(self) -> f64 {
        self
    }
}

/// Runs `$f::<T>` with `T` the default float type of jax mode `$mode` and makes the
/// result a jax scalar (weakly typed if `$weak`): for the parts of optax's arithmetic
/// whose dtype jax takes from a Python float.
macro_rules! in_default_float {
    ($mode:expr, $weak:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $mode {
            JaxMode::X64 => $f::<f64>($($arg),*).scalar($weak),
            JaxMode::X32 => $f::<f32>($($arg),*).scalar($weak),
        }
    };
}

/// `jnp.maximum`: propagates NaN (unlike `f64::max`).
fn nan_max<T: Real>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else {
        a.max(b)
    }
}

/// `jnp.minimum`: propagates NaN (unlike `f64::min`).
fn nan_min<T: Real>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else {
        a.min(b)
    }
}

/// A `bool` as jax promotes it in arithmetic.
fn indicator<T: Real>(b: bool) -> T {
    if b {
        T::one()
    } else {
        T::zero()
    }
}

/// optax's `polynomial_schedule` formula (also `linear_schedule` when `power` is `None`,
/// where optax's `frac ** 1` is exactly `frac`), for a positive `transition_steps`.
///
/// On an int32 count it runs in float32 (`T = f32`): `count / transition_steps` is a
/// float32 division, and optax computes `init_value - end_value` in Python (f64).
fn polynomial_formula<T: Real>(
    init_value: f64,
    end_value: f64,
    power: Option<f64>,
    transition_steps: u64,
    transition_begin: u64,
    step: u64,
) -> T {
    let count =
        (i128::from(step) - i128::from(transition_begin)).clamp(0, i128::from(transition_steps));
    let frac = T::one() - T::of_int(count) / T::of_int(i128::from(transition_steps));
    let frac_pow = match power {
        Some(p) => frac.powf(T::of(p)),
        None => frac,
    };
    T::of(init_value - end_value) * frac_pow + T::of(end_value)
}

/// [`polynomial_formula`] in f64, or `init_value` if `transition_steps` is zero.
fn polynomial_at(
    init_value: f64,
    end_value: f64,
    power: Option<f64>,
    transition_steps: u64,
    transition_begin: u64,
    step: u64,
) -> f64 {
    if transition_steps == 0 {
        return init_value;
    }
    polynomial_formula(
        init_value,
        end_value,
        power,
        transition_steps,
        transition_begin,
        step,
    )
}

/// [`polynomial_formula`] on an int32 count: float32, or the Python float `init_value`
/// if `transition_steps` is zero (optax then returns `lambda count: init_value`).
fn polynomial_count(
    init_value: f64,
    end_value: f64,
    power: Option<f64>,
    transition_steps: u64,
    transition_begin: u64,
    step: u64,
    mode: JaxMode,
) -> JaxScalar {
    if transition_steps == 0 {
        return JaxScalar::python_float(init_value, mode);
    }
    polynomial_formula::<f32>(
        init_value,
        end_value,
        power,
        transition_steps,
        transition_begin,
        step,
    )
    .scalar(false)
}

/// optax's `cosine_decay_schedule` formula, with `decay_steps` already a float.
///
/// On an int32 count it runs in the default float type (weakly typed): optax turns
/// `decay_steps` into a Python float, and `1 - alpha` is computed in Python.
fn cosine_decay_at<T: Real>(
    init_value: f64,
    decay_steps: f64,
    alpha: f64,
    exponent: f64,
    step: u64,
) -> T {
    let decay_steps = T::of(decay_steps);
    let count = nan_min(T::of_int(i128::from(step)), decay_steps);
    let cosine_decay = T::of(0.5) * (T::one() + (T::of(PI) * count / decay_steps).cos());
    let decayed = T::of(1.0 - alpha) * cosine_decay.powf(T::of(exponent)) + T::of(alpha);
    T::of(init_value) * decayed
}

/// optax's `join_schedules`: `first` before the first boundary passed, then the schedule
/// of the last boundary passed, evaluated at the steps since that boundary.
///
/// As in optax, a later boundary that has been passed wins even if the boundaries are
/// not sorted, and `step < boundary` selects the earlier value.
fn join_at<'a>(
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
fn join_count<'a>(
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

/// optax's `piecewise_interpolate_schedule` formula over sorted, distinct boundaries,
/// with the values in `V` and the fraction `pct` (and, for `'cosine'`,
/// `cos(pi * pct) + 1`) in `P`.
///
/// On an int32 count `pct = (count - bound) / interval_size` is a float32 division, so
/// `P = f32`, while the values are of the default float type (`V = f64` with
/// `jax_enable_x64`, strongly typed).
fn interpolate_at<V: Real, P: Real>(
    interpolate_type: InterpolateType,
    init_value: f64,
    boundaries_and_scales: impl IntoIterator<Item = (u64, f64)>,
    step: u64,
) -> V {
    // optax stacks bounds = [0, b1, ...] and values = cumprod([init, s1, ...]), then sums
    // indicator_i * interpolate(values[i], values[i + 1], pct_i) over every interval.
    let count = i128::from(step);
    let mut total = V::zero();
    let mut lo = 0i128;
    let mut lo_value = V::of(init_value);
    for (boundary, scale) in boundaries_and_scales {
        let hi = i128::from(boundary);
        let hi_value = lo_value * V::of(scale);
        let interval_size = (hi - lo).max(1);
        let inside = lo <= count && count < hi;
        let pct = P::of_int(count - lo) / P::of_int(interval_size);
        let interpolated = match interpolate_type {
            InterpolateType::Linear => (hi_value - lo_value) * V::of(pct.widen()) + lo_value,
            InterpolateType::Cosine => {
                let cos_plus_one = (P::of(PI) * pct).cos() + P::one();
                hi_value + (lo_value - hi_value) / V::of(2.0) * V::of(cos_plus_one.widen())
            }
        };
        total = total + indicator::<V>(inside) * interpolated;
        lo = hi;
        lo_value = hi_value;
    }
    total + indicator::<V>(lo <= count) * lo_value
}

/// [`interpolate_at`] on an int32 count: strongly typed values of the default float
/// type, with a float32 `pct`.
fn interpolate_count(
    interpolate_type: InterpolateType,
    init_value: f64,
    boundaries_and_scales: impl IntoIterator<Item = (u64, f64)>,
    step: u64,
    mode: JaxMode,
) -> JaxScalar {
    match mode {
        JaxMode::X64 => {
            interpolate_at::<f64, f32>(interpolate_type, init_value, boundaries_and_scales, step)
                .scalar(false)
        }
        JaxMode::X32 => {
            interpolate_at::<f32, f32>(interpolate_type, init_value, boundaries_and_scales, step)
                .scalar(false)
        }
    }
}

/// Checks optax's "non-negative scale factors" condition (NaN fails it, as in Python).
fn check_scales(function: &str, boundaries_and_scales: &BTreeMap<u64, f64>) -> Result<(), String> {
    match boundaries_and_scales
        .iter()
        .find(|(_, scale)| scale.is_nan() || **scale < 0.0)
    {
        Some((boundary, scale)) => Err(format!(
            "{function}: expects non-negative scale factors, got {scale} at step {boundary}"
        )),
        None => Ok(()),
    }
}

/// Python's `int(pct * transition_steps)` for a onecycle boundary, as it is evaluated.
fn onecycle_boundary_at(pct: f64, transition_steps: u64) -> u64 {
    // `as` saturates (NaN gives 0); the constructors reject those cases beforehand.
    (pct * transition_steps as f64).trunc() as u64
}

/// Python's `int(pct * transition_steps)` for a onecycle boundary, checked.
fn onecycle_boundary(
    function: &str,
    name: &str,
    pct: f64,
    transition_steps: u64,
) -> Result<u64, String> {
    let boundary = (pct * transition_steps as f64).trunc();
    if !(0.0..i64::MAX as f64).contains(&boundary) {
        return Err(format!(
            "{function}: {name} * transition_steps must be a finite, non-negative step, got {pct} * {transition_steps}"
        ));
    }
    Ok(onecycle_boundary_at(pct, transition_steps))
}

/// Checks that a divisor optax divides by as a Python float is not zero.
fn check_divisor(function: &str, name: &str, value: f64) -> Result<(), String> {
    if value == 0.0 {
        Err(format!(
            "{function}: {name} must not be zero (float division by zero)"
        ))
    } else {
        Ok(())
    }
}

/// A Python dict literal with up to `N` entries, as `sorted(d.items())`: on a repeated
/// key the later value wins, and the result is sorted by key.
fn small_sorted_dict<const N: usize>(mut entries: [(u64, f64); N]) -> ([(u64, f64); N], usize) {
    // A stable sort keeps equal keys in insertion order, so the last of a run is the latest.
    entries.sort_by_key(|entry| entry.0);
    let mut out = [(0u64, 0.0f64); N];
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

// ---------------------------------------------------------------------------
// The schedules.
// ---------------------------------------------------------------------------

/// A constant value at every step (optax's `constant_schedule`).
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    /// The value held throughout.
    pub value: f64,
}

impl Schedule for Constant {
    fn at(&self, _step: u64) -> f64 {
        self.value
    }

    fn at_count(&self, _step: u64, mode: JaxMode) -> JaxScalar {
        JaxScalar::python_float(self.value, mode)
    }
}

/// Builds a constant schedule (optax's `constant_schedule`).
pub fn constant_schedule(value: f64) -> Constant {
    Constant { value }
}

/// A linear transition from `init_value` to `end_value` (optax's `linear_schedule`).
///
/// The value is `init_value` until `transition_begin`, moves linearly to `end_value`
/// over `transition_steps` steps, and stays at `end_value` afterwards. A
/// `transition_steps` of zero holds `init_value` forever, as in optax.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// The value before and at the start of the transition.
    pub init_value: f64,
    /// The value at and after the end of the transition.
    pub end_value: f64,
    /// The length of the transition, in steps.
    pub transition_steps: u64,
    /// The step at which the transition starts.
    pub transition_begin: u64,
}

impl Schedule for Linear {
    fn at(&self, step: u64) -> f64 {
        polynomial_at(
            self.init_value,
            self.end_value,
            None,
            self.transition_steps,
            self.transition_begin,
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        polynomial_count(
            self.init_value,
            self.end_value,
            None,
            self.transition_steps,
            self.transition_begin,
            step,
            mode,
        )
    }
}

/// Builds a linear schedule (optax's `linear_schedule`).
pub fn linear_schedule(
    init_value: f64,
    end_value: f64,
    transition_steps: u64,
    transition_begin: u64,
) -> Linear {
    Linear {
        init_value,
        end_value,
        transition_steps,
        transition_begin,
    }
}

/// A polynomial transition from `init_value` to `end_value` (optax's `polynomial_schedule`).
///
/// During the transition the value is `(init - end) * (1 - t / transition_steps)^power + end`,
/// where `t` counts the steps since `transition_begin`. A `transition_steps` of zero
/// holds `init_value` forever, as in optax.
#[derive(Clone, Debug, PartialEq)]
pub struct Polynomial {
    /// The value before and at the start of the transition.
    pub init_value: f64,
    /// The value at and after the end of the transition.
    pub end_value: f64,
    /// The power of the polynomial.
    pub power: f64,
    /// The length of the transition, in steps.
    pub transition_steps: u64,
    /// The step at which the transition starts.
    pub transition_begin: u64,
}

impl Schedule for Polynomial {
    fn at(&self, step: u64) -> f64 {
        polynomial_at(
            self.init_value,
            self.end_value,
            Some(self.power),
            self.transition_steps,
            self.transition_begin,
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        polynomial_count(
            self.init_value,
            self.end_value,
            Some(self.power),
            self.transition_steps,
            self.transition_begin,
            step,
            mode,
        )
    }
}

/// Builds a polynomial schedule (optax's `polynomial_schedule`).
pub fn polynomial_schedule(
    init_value: f64,
    end_value: f64,
    power: f64,
    transition_steps: u64,
    transition_begin: u64,
) -> Polynomial {
    Polynomial {
        init_value,
        end_value,
        power,
        transition_steps,
        transition_begin,
    }
}

/// Continuous or staircase exponential decay (optax's `exponential_decay`).
///
/// From `transition_begin` on, the value is `init_value * decay_rate^p` with
/// `p = (step - transition_begin) / transition_steps` (floored if `staircase`), clipped
/// from below by `end_value` when `decay_rate < 1` and from above otherwise. A
/// `transition_steps` of zero or a `decay_rate` of zero holds `init_value` forever, as
/// in optax.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialDecay {
    /// The value before the decay starts.
    pub init_value: f64,
    /// The number of steps over which the value is multiplied by `decay_rate` once.
    pub transition_steps: u64,
    /// The factor applied every `transition_steps` steps.
    pub decay_rate: f64,
    /// The step at which the decay starts.
    pub transition_begin: u64,
    /// Whether the exponent is floored, which decays in discrete jumps.
    pub staircase: bool,
    /// The bound at which the decay stops, if any.
    pub end_value: Option<f64>,
}

impl ExponentialDecay {
    /// Whether optax returns the constant `init_value` (it returns `lambda count:
    /// init_value` for a zero `transition_steps` or `decay_rate`).
    fn is_constant(&self) -> bool {
        self.transition_steps == 0 || self.decay_rate == 0.0
    }

    /// optax's formula, for a positive `transition_steps` and a non-zero `decay_rate`.
    ///
    /// On an int32 count it runs in float32 (`T = f32`): `p` is a float32 division and
    /// `decay_rate ** p` a float32 power.
    fn formula<T: Real>(&self, step: u64) -> T {
        let decreased_count = i128::from(step) - i128::from(self.transition_begin);
        let mut p = T::of_int(decreased_count) / T::of_int(i128::from(self.transition_steps));
        if self.staircase {
            p = p.floor();
        }
        let init_value = T::of(self.init_value);
        let decayed = if decreased_count <= 0 {
            init_value
        } else {
            init_value * T::of(self.decay_rate).powf(p)
        };
        match self.end_value {
            Some(end) if self.decay_rate < 1.0 => nan_max(decayed, T::of(end)),
            Some(end) => nan_min(decayed, T::of(end)),
            None => decayed,
        }
    }
}

impl Schedule for ExponentialDecay {
    fn at(&self, step: u64) -> f64 {
        if self.is_constant() {
            return self.init_value;
        }
        self.formula(step)
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        if self.is_constant() {
            return JaxScalar::python_float(self.init_value, mode);
        }
        self.formula::<f32>(step).scalar(false)
    }
}

/// Builds an exponential decay schedule (optax's `exponential_decay`).
pub fn exponential_decay(
    init_value: f64,
    transition_steps: u64,
    decay_rate: f64,
    transition_begin: u64,
    staircase: bool,
    end_value: Option<f64>,
) -> ExponentialDecay {
    ExponentialDecay {
        init_value,
        transition_steps,
        decay_rate,
        transition_begin,
        staircase,
        end_value,
    }
}

/// Cosine decay from `init_value` to `alpha * init_value` (optax's `cosine_decay_schedule`).
///
/// The value is `init_value * ((1 - alpha) * (0.5 * (1 + cos(pi * t / decay_steps)))^exponent + alpha)`
/// with `t = min(step, decay_steps)`.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineDecay {
    /// The value at step 0.
    pub init_value: f64,
    /// The length of the decay, in steps; must be positive.
    pub decay_steps: u64,
    /// The final value as a fraction of `init_value`.
    pub alpha: f64,
    /// The power applied to the cosine factor.
    pub exponent: f64,
}

impl Schedule for CosineDecay {
    fn at(&self, step: u64) -> f64 {
        cosine_decay_at(
            self.init_value,
            self.decay_steps as f64,
            self.alpha,
            self.exponent,
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        in_default_float!(
            mode,
            true,
            cosine_decay_at(
                self.init_value,
                self.decay_steps as f64,
                self.alpha,
                self.exponent,
                step,
            )
        )
    }
}

/// Builds a cosine decay schedule (optax's `cosine_decay_schedule`; optax's defaults are
/// `alpha = 0.0` and `exponent = 1.0`).
///
/// Returns an error if `decay_steps` is zero, as optax raises one.
pub fn cosine_decay_schedule(
    init_value: f64,
    decay_steps: u64,
    alpha: f64,
    exponent: f64,
) -> Result<CosineDecay, String> {
    if decay_steps == 0 {
        return Err(
            "cosine_decay_schedule: requires positive decay_steps, got decay_steps=0".to_string(),
        );
    }
    Ok(CosineDecay {
        init_value,
        decay_steps,
        alpha,
        exponent,
    })
}

/// Linear warmup followed by cosine decay (optax's `warmup_cosine_decay_schedule`).
///
/// optax joins `linear_schedule(init_value, peak_value, warmup_steps)` with
/// `cosine_decay_schedule(peak_value, decay_steps - warmup_steps, end_value / peak_value, exponent)`
/// at `warmup_steps`; `decay_steps` includes the warmup.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmupCosineDecay {
    /// The value at step 0.
    pub init_value: f64,
    /// The value at the end of the warmup.
    pub peak_value: f64,
    /// The length of the linear warmup, in steps.
    pub warmup_steps: u64,
    /// The total length of the schedule, warmup included; must exceed `warmup_steps`.
    pub decay_steps: u64,
    /// The value at the end of the decay.
    pub end_value: f64,
    /// The power applied to the cosine factor.
    pub exponent: f64,
}

impl WarmupCosineDecay {
    /// The two schedules optax joins at `warmup_steps`.
    fn parts(&self) -> (Linear, CosineTail) {
        let warmup = Linear {
            init_value: self.init_value,
            end_value: self.peak_value,
            transition_steps: self.warmup_steps,
            transition_begin: 0,
        };
        let decay = CosineTail {
            init_value: self.peak_value,
            decay_steps: (i128::from(self.decay_steps) - i128::from(self.warmup_steps)) as f64,
            alpha: if self.peak_value == 0.0 {
                0.0
            } else {
                self.end_value / self.peak_value
            },
            exponent: self.exponent,
        };
        (warmup, decay)
    }
}

impl Schedule for WarmupCosineDecay {
    fn at(&self, step: u64) -> f64 {
        let (warmup, decay) = self.parts();
        join_at(
            step,
            &warmup,
            [(self.warmup_steps, &decay as &dyn Schedule)],
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        let (warmup, decay) = self.parts();
        join_count(
            step,
            mode,
            &warmup,
            [(self.warmup_steps, &decay as &dyn Schedule)],
        )
    }
}

/// The cosine part of [`WarmupCosineDecay`], whose length may be non-positive in a struct
/// filled in by hand.
#[derive(Debug)]
struct CosineTail {
    init_value: f64,
    decay_steps: f64,
    alpha: f64,
    exponent: f64,
}

impl Schedule for CosineTail {
    fn at(&self, step: u64) -> f64 {
        cosine_decay_at(
            self.init_value,
            self.decay_steps,
            self.alpha,
            self.exponent,
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        in_default_float!(
            mode,
            true,
            cosine_decay_at(
                self.init_value,
                self.decay_steps,
                self.alpha,
                self.exponent,
                step,
            )
        )
    }
}

/// Builds a linear warmup followed by cosine decay (optax's `warmup_cosine_decay_schedule`;
/// optax's defaults are `end_value = 0.0` and `exponent = 1.0`).
///
/// Returns an error unless `decay_steps > warmup_steps`, as optax's cosine decay raises one.
pub fn warmup_cosine_decay_schedule(
    init_value: f64,
    peak_value: f64,
    warmup_steps: u64,
    decay_steps: u64,
    end_value: f64,
    exponent: f64,
) -> Result<WarmupCosineDecay, String> {
    if decay_steps <= warmup_steps {
        return Err(format!(
            "warmup_cosine_decay_schedule: decay_steps ({decay_steps}) must exceed warmup_steps ({warmup_steps}), \
             since the cosine decay requires positive decay_steps"
        ));
    }
    Ok(WarmupCosineDecay {
        init_value,
        peak_value,
        warmup_steps,
        decay_steps,
        end_value,
        exponent,
    })
}

/// Linear warmup followed by exponential decay (optax's `warmup_exponential_decay_schedule`).
///
/// optax joins `linear_schedule(init_value, peak_value, warmup_steps)` with
/// `exponential_decay(peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value)`
/// at `warmup_steps`.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmupExponentialDecay {
    /// The value at step 0.
    pub init_value: f64,
    /// The value at the end of the warmup.
    pub peak_value: f64,
    /// The length of the linear warmup, in steps.
    pub warmup_steps: u64,
    /// The number of steps over which the value is multiplied by `decay_rate` once.
    pub transition_steps: u64,
    /// The factor applied every `transition_steps` steps.
    pub decay_rate: f64,
    /// The number of steps after the warmup before the decay starts.
    pub transition_begin: u64,
    /// Whether the exponent is floored, which decays in discrete jumps.
    pub staircase: bool,
    /// The bound at which the decay stops, if any.
    pub end_value: Option<f64>,
}

impl WarmupExponentialDecay {
    /// The two schedules optax joins at `warmup_steps`.
    fn parts(&self) -> (Linear, ExponentialDecay) {
        let warmup = Linear {
            init_value: self.init_value,
            end_value: self.peak_value,
            transition_steps: self.warmup_steps,
            transition_begin: 0,
        };
        let decay = ExponentialDecay {
            init_value: self.peak_value,
            transition_steps: self.transition_steps,
            decay_rate: self.decay_rate,
            transition_begin: self.transition_begin,
            staircase: self.staircase,
            end_value: self.end_value,
        };
        (warmup, decay)
    }
}

impl Schedule for WarmupExponentialDecay {
    fn at(&self, step: u64) -> f64 {
        let (warmup, decay) = self.parts();
        join_at(
            step,
            &warmup,
            [(self.warmup_steps, &decay as &dyn Schedule)],
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        let (warmup, decay) = self.parts();
        join_count(
            step,
            mode,
            &warmup,
            [(self.warmup_steps, &decay as &dyn Schedule)],
        )
    }
}

/// Builds a linear warmup followed by exponential decay (optax's
/// `warmup_exponential_decay_schedule`; optax's defaults are `transition_begin = 0`,
/// `staircase = false` and `end_value = None`).
#[allow(clippy::too_many_arguments)]
pub fn warmup_exponential_decay_schedule(
    init_value: f64,
    peak_value: f64,
    warmup_steps: u64,
    transition_steps: u64,
    decay_rate: f64,
    transition_begin: u64,
    staircase: bool,
    end_value: Option<f64>,
) -> WarmupExponentialDecay {
    WarmupExponentialDecay {
        init_value,
        peak_value,
        warmup_steps,
        transition_steps,
        decay_rate,
        transition_begin,
        staircase,
        end_value,
    }
}

/// Scaled jumps at given steps (optax's `piecewise_constant_schedule`).
///
/// The value at a step is `init_value` times the product of the scales of all
/// boundaries at or before that step.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseConstant {
    /// The value before the first boundary.
    pub init_value: f64,
    /// The scale multiplied in at each boundary step; scales must be non-negative.
    pub boundaries_and_scales: BTreeMap<u64, f64>,
}

impl PiecewiseConstant {
    /// optax's formula; on an int32 count it runs in the default float type (weakly
    /// typed), since the indicator is `jnp.maximum(0.0, jnp.sign(threshold - count))`.
    fn formula<T: Real>(&self, step: u64) -> T {
        let mut v = T::of(self.init_value);
        for (&threshold, &scale) in &self.boundaries_and_scales {
            // optax: indicator = max(0, sign(threshold - count)), which is 1 before the boundary.
            let before = indicator::<T>(threshold > step);
            v = v * before + (T::one() - before) * T::of(scale) * v;
        }
        v
    }
}

impl Schedule for PiecewiseConstant {
    fn at(&self, step: u64) -> f64 {
        self.formula(step)
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        match mode {
            JaxMode::X64 => self.formula::<f64>(step).scalar(true),
            JaxMode::X32 => self.formula::<f32>(step).scalar(true),
        }
    }
}

/// Builds a piecewise constant schedule (optax's `piecewise_constant_schedule`).
///
/// `boundaries_and_scales` is read like a Python dict: on a repeated step the later scale
/// wins. Returns an error if a scale is negative (or NaN), as optax raises one.
pub fn piecewise_constant_schedule(
    init_value: f64,
    boundaries_and_scales: impl IntoIterator<Item = (u64, f64)>,
) -> Result<PiecewiseConstant, String> {
    let boundaries_and_scales: BTreeMap<u64, f64> = boundaries_and_scales.into_iter().collect();
    check_scales("piecewise_constant_schedule", &boundaries_and_scales)?;
    Ok(PiecewiseConstant {
        init_value,
        boundaries_and_scales,
    })
}

/// How [`PiecewiseInterpolate`] moves between two boundary values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterpolateType {
    /// Straight-line interpolation (optax's `'linear'`).
    Linear,
    /// Half-cosine interpolation (optax's `'cosine'`).
    Cosine,
}

impl InterpolateType {
    /// The name optax uses for this interpolation.
    pub fn name(self) -> &'static str {
        match self {
            InterpolateType::Linear => "linear",
            InterpolateType::Cosine => "cosine",
        }
    }
}

impl fmt::Display for InterpolateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Interpolation between accumulated boundary values (optax's `piecewise_interpolate_schedule`).
///
/// The value at boundary `b_i` is `init_value` times the product of the scales up to
/// `b_i`; between boundaries the value is interpolated (linearly or along a half
/// cosine), and after the last boundary it stays at the last value.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseInterpolate {
    /// Linear or cosine interpolation.
    pub interpolate_type: InterpolateType,
    /// The value at step 0.
    pub init_value: f64,
    /// The scale multiplied in at each boundary step; scales must be non-negative.
    pub boundaries_and_scales: BTreeMap<u64, f64>,
}

impl Schedule for PiecewiseInterpolate {
    fn at(&self, step: u64) -> f64 {
        interpolate_at::<f64, f64>(
            self.interpolate_type,
            self.init_value,
            self.boundaries_and_scales.iter().map(|(&b, &s)| (b, s)),
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        interpolate_count(
            self.interpolate_type,
            self.init_value,
            self.boundaries_and_scales.iter().map(|(&b, &s)| (b, s)),
            step,
            mode,
        )
    }
}

/// Builds a piecewise interpolated schedule (optax's `piecewise_interpolate_schedule`).
///
/// `boundaries_and_scales` is read like a Python dict: on a repeated step the later scale
/// wins. Returns an error if a scale is negative (or NaN), as optax raises one.
pub fn piecewise_interpolate_schedule(
    interpolate_type: InterpolateType,
    init_value: f64,
    boundaries_and_scales: impl IntoIterator<Item = (u64, f64)>,
) -> Result<PiecewiseInterpolate, String> {
    let boundaries_and_scales: BTreeMap<u64, f64> = boundaries_and_scales.into_iter().collect();
    check_scales("piecewise_interpolate_schedule", &boundaries_and_scales)?;
    Ok(PiecewiseInterpolate {
        interpolate_type,
        init_value,
        boundaries_and_scales,
    })
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
    fn boundaries(&self) -> ([(u64, f64); 3], usize) {
        let t = self.transition_steps;
        small_sorted_dict([
            (onecycle_boundary_at(self.pct_start, t), self.div_factor),
            (
                onecycle_boundary_at(self.pct_final, t),
                1.0 / self.div_factor,
            ),
            (t, 1.0 / self.final_div_factor),
        ])
    }
}

impl Schedule for LinearOnecycle {
    fn at(&self, step: u64) -> f64 {
        let (entries, len) = self.boundaries();
        interpolate_at::<f64, f64>(
            InterpolateType::Linear,
            self.peak_value / self.div_factor,
            entries[..len].iter().copied(),
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        let (entries, len) = self.boundaries();
        interpolate_count(
            InterpolateType::Linear,
            self.peak_value / self.div_factor,
            entries[..len].iter().copied(),
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
) -> Result<LinearOnecycle, String> {
    const F: &str = "linear_onecycle_schedule";
    if transition_steps == 0 {
        return Err(format!("{F}: requires positive transition_steps, got 0"));
    }
    check_divisor(F, "div_factor", div_factor)?;
    check_divisor(F, "final_div_factor", final_div_factor)?;
    onecycle_boundary(F, "pct_start", pct_start, transition_steps)?;
    onecycle_boundary(F, "pct_final", pct_final, transition_steps)?;
    let schedule = LinearOnecycle {
        transition_steps,
        peak_value,
        pct_start,
        pct_final,
        div_factor,
        final_div_factor,
    };
    let (entries, len) = schedule.boundaries();
    check_scales(F, &entries[..len].iter().copied().collect())?;
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
    fn boundaries(&self) -> ([(u64, f64); 2], usize) {
        let t = self.transition_steps;
        small_sorted_dict([
            (onecycle_boundary_at(self.pct_start, t), self.div_factor),
            (t, 1.0 / (self.div_factor * self.final_div_factor)),
        ])
    }
}

impl Schedule for CosineOnecycle {
    fn at(&self, step: u64) -> f64 {
        let (entries, len) = self.boundaries();
        interpolate_at::<f64, f64>(
            InterpolateType::Cosine,
            self.peak_value / self.div_factor,
            entries[..len].iter().copied(),
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        let (entries, len) = self.boundaries();
        interpolate_count(
            InterpolateType::Cosine,
            self.peak_value / self.div_factor,
            entries[..len].iter().copied(),
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
) -> Result<CosineOnecycle, String> {
    const F: &str = "cosine_onecycle_schedule";
    if transition_steps == 0 {
        return Err(format!("{F}: requires positive transition_steps, got 0"));
    }
    check_divisor(F, "div_factor", div_factor)?;
    check_divisor(
        F,
        "div_factor * final_div_factor",
        div_factor * final_div_factor,
    )?;
    onecycle_boundary(F, "pct_start", pct_start, transition_steps)?;
    let schedule = CosineOnecycle {
        transition_steps,
        peak_value,
        pct_start,
        div_factor,
        final_div_factor,
    };
    let (entries, len) = schedule.boundaries();
    check_scales(F, &entries[..len].iter().copied().collect())?;
    Ok(schedule)
}

/// Linear warmup, then a constant value (optax's `warmup_constant_schedule`).
///
/// This is `linear_schedule(init_value, peak_value, warmup_steps, 0)`.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmupConstant {
    /// The value at step 0.
    pub init_value: f64,
    /// The value from the end of the warmup on.
    pub peak_value: f64,
    /// The length of the linear warmup, in steps.
    pub warmup_steps: u64,
}

impl Schedule for WarmupConstant {
    fn at(&self, step: u64) -> f64 {
        polynomial_at(
            self.init_value,
            self.peak_value,
            None,
            self.warmup_steps,
            0,
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        polynomial_count(
            self.init_value,
            self.peak_value,
            None,
            self.warmup_steps,
            0,
            step,
            mode,
        )
    }
}

/// Builds a linear warmup followed by a constant value (optax's `warmup_constant_schedule`).
pub fn warmup_constant_schedule(
    init_value: f64,
    peak_value: f64,
    warmup_steps: u64,
) -> WarmupConstant {
    WarmupConstant {
        init_value,
        peak_value,
        warmup_steps,
    }
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
) -> Result<JoinSchedules, String> {
    if schedules.is_empty() {
        return Err("join_schedules: needs at least one schedule".to_string());
    }
    Ok(JoinSchedules {
        schedules,
        boundaries,
    })
}

/// Stochastic gradient descent with warm restarts (optax's `sgdr_schedule`).
///
/// The warmup-cosine cycles run one after another, each for its `decay_steps`; after
/// the last cycle ends, the last one keeps being evaluated (at its end value).
#[derive(Clone, Debug, PartialEq)]
pub struct Sgdr {
    /// The cycles, in order.
    pub cosine_kwargs: Vec<WarmupCosineDecay>,
}

impl Sgdr {
    /// The steps at which each cycle after the first takes over: optax's running sums of
    /// `decay_steps`, without the last one (the zip with the later cycles drops it).
    fn boundaries(&self) -> impl Iterator<Item = u64> + '_ {
        self.cosine_kwargs.iter().scan(0u64, |end, cycle| {
            *end = end.saturating_add(cycle.decay_steps);
            Some(*end)
        })
    }
}

impl Schedule for Sgdr {
    fn at(&self, step: u64) -> f64 {
        let Some((first, rest)) = self.cosine_kwargs.split_first() else {
            return f64::NAN;
        };
        let rest = self
            .boundaries()
            .zip(rest.iter().map(|c| c as &dyn Schedule));
        join_at(step, first, rest)
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        let Some((first, rest)) = self.cosine_kwargs.split_first() else {
            return JaxScalar::python_float(f64::NAN, mode);
        };
        let rest = self
            .boundaries()
            .zip(rest.iter().map(|c| c as &dyn Schedule));
        join_count(step, mode, first, rest)
    }
}

/// Builds an SGDR schedule from warmup-cosine cycles (optax's `sgdr_schedule`).
///
/// Build the cycles with [`warmup_cosine_decay_schedule`]. Returns an error if there is
/// no cycle, or if a cycle does not satisfy `decay_steps > warmup_steps`.
pub fn sgdr_schedule(cosine_kwargs: Vec<WarmupCosineDecay>) -> Result<Sgdr, String> {
    if cosine_kwargs.is_empty() {
        return Err("sgdr_schedule: needs at least one cycle in cosine_kwargs".to_string());
    }
    for (i, c) in cosine_kwargs.iter().enumerate() {
        warmup_cosine_decay_schedule(
            c.init_value,
            c.peak_value,
            c.warmup_steps,
            c.decay_steps,
            c.end_value,
            c.exponent,
        )
        .map_err(|e| format!("sgdr_schedule: cosine_kwargs[{i}]: {e}"))?;
    }
    Ok(Sgdr { cosine_kwargs })
}

// ---------------------------------------------------------------------------
// The serde form.
// ---------------------------------------------------------------------------

/// The `boundaries_and_scales` argument as written in JSON: an object whose keys are step
/// numbers written as strings, in the order written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoundariesAndScales(pub Vec<(u64, f64)>);

impl<'de> Deserialize<'de> for BoundariesAndScales {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;

        impl<'de> Visitor<'de> for MapVisitor {
            type Value = BoundariesAndScales;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from step numbers (as strings) to scales")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, scale)) = map.next_entry::<String, f64>()? {
                    let step = key.parse::<u64>().map_err(|_| {
                        de::Error::custom(format!(
                            "boundaries_and_scales: key `{key}` is not a non-negative integer step"
                        ))
                    })?;
                    entries.push((step, scale));
                }
                Ok(BoundariesAndScales(entries))
            }
        }

        deserializer.deserialize_map(MapVisitor)
    }
}

/// One cycle of `sgdr_schedule`: the keyword arguments of `warmup_cosine_decay_schedule`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupCosineDecayKwargs {
    /// The value at the start of the cycle.
    pub init_value: f64,
    /// The value at the end of the warmup.
    pub peak_value: f64,
    /// The length of the linear warmup, in steps.
    pub warmup_steps: u64,
    /// The length of the cycle, warmup included.
    pub decay_steps: u64,
    /// The value at the end of the cycle (default 0.0).
    #[serde(default = "zero")]
    pub end_value: f64,
    /// The power applied to the cosine factor (default 1.0).
    #[serde(default = "one")]
    pub exponent: f64,
}

impl WarmupCosineDecayKwargs {
    /// Builds the cycle with [`warmup_cosine_decay_schedule`].
    pub fn build(&self) -> Result<WarmupCosineDecay, String> {
        warmup_cosine_decay_schedule(
            self.init_value,
            self.peak_value,
            self.warmup_steps,
            self.decay_steps,
            self.end_value,
            self.exponent,
        )
    }
}

fn zero() -> f64 {
    0.0
}
fn one() -> f64 {
    1.0
}
fn pct_start_default() -> f64 {
    0.3
}
fn pct_final_default() -> f64 {
    0.85
}
fn div_factor_default() -> f64 {
    25.0
}
fn final_div_factor_default() -> f64 {
    1e4
}

/// optax only logs a message for a negative `transition_steps` or `transition_begin`:
/// a non-positive `transition_steps` gives a constant schedule, and a negative
/// `transition_begin` falls back to 0. Both are what 0 does here.
fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A schedule as written in a configuration file: `{"schedule": "<optax function name>",
/// <its keyword arguments>}`, with optax's argument names and defaults.
///
/// Unknown schedule names and unknown arguments are rejected. `transition_steps` and
/// `transition_begin` may be negative, which optax accepts with a log message and treats
/// as 0. `join_schedules` takes nested specs, which optax's cannot express in JSON.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "schedule", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// `constant_schedule(value)`.
    #[serde(rename = "constant_schedule")]
    Constant {
        /// The value held throughout.
        value: f64,
    },
    /// `linear_schedule(init_value, end_value, transition_steps, transition_begin=0)`.
    #[serde(rename = "linear_schedule")]
    Linear {
        /// The value before the transition.
        init_value: f64,
        /// The value after the transition.
        end_value: f64,
        /// The length of the transition.
        transition_steps: i64,
        /// The step at which the transition starts (default 0).
        #[serde(default)]
        transition_begin: i64,
    },
    /// `polynomial_schedule(init_value, end_value, power, transition_steps, transition_begin=0)`.
    #[serde(rename = "polynomial_schedule")]
    Polynomial {
        /// The value before the transition.
        init_value: f64,
        /// The value after the transition.
        end_value: f64,
        /// The power of the polynomial.
        power: f64,
        /// The length of the transition.
        transition_steps: i64,
        /// The step at which the transition starts (default 0).
        #[serde(default)]
        transition_begin: i64,
    },
    /// `exponential_decay(init_value, transition_steps, decay_rate, transition_begin=0,
    /// staircase=False, end_value=None)`.
    #[serde(rename = "exponential_decay")]
    ExponentialDecay {
        /// The value before the decay.
        init_value: f64,
        /// The steps per factor of `decay_rate`.
        transition_steps: i64,
        /// The decay factor.
        decay_rate: f64,
        /// The step at which the decay starts (default 0).
        #[serde(default)]
        transition_begin: i64,
        /// Whether to decay in discrete jumps (default false).
        #[serde(default)]
        staircase: bool,
        /// The bound at which the decay stops (default none).
        #[serde(default)]
        end_value: Option<f64>,
    },
    /// `cosine_decay_schedule(init_value, decay_steps, alpha=0.0, exponent=1.0)`.
    #[serde(rename = "cosine_decay_schedule")]
    CosineDecay {
        /// The value at step 0.
        init_value: f64,
        /// The length of the decay.
        decay_steps: u64,
        /// The final value as a fraction of `init_value` (default 0.0).
        #[serde(default = "zero")]
        alpha: f64,
        /// The power applied to the cosine factor (default 1.0).
        #[serde(default = "one")]
        exponent: f64,
    },
    /// `warmup_cosine_decay_schedule(init_value, peak_value, warmup_steps, decay_steps,
    /// end_value=0.0, exponent=1.0)`.
    #[serde(rename = "warmup_cosine_decay_schedule")]
    WarmupCosineDecay {
        /// The value at step 0.
        init_value: f64,
        /// The value at the end of the warmup.
        peak_value: f64,
        /// The length of the warmup.
        warmup_steps: u64,
        /// The total length, warmup included.
        decay_steps: u64,
        /// The final value (default 0.0).
        #[serde(default = "zero")]
        end_value: f64,
        /// The power applied to the cosine factor (default 1.0).
        #[serde(default = "one")]
        exponent: f64,
    },
    /// `warmup_exponential_decay_schedule(init_value, peak_value, warmup_steps,
    /// transition_steps, decay_rate, transition_begin=0, staircase=False, end_value=None)`.
    #[serde(rename = "warmup_exponential_decay_schedule")]
    WarmupExponentialDecay {
        /// The value at step 0.
        init_value: f64,
        /// The value at the end of the warmup.
        peak_value: f64,
        /// The length of the warmup.
        warmup_steps: u64,
        /// The steps per factor of `decay_rate`.
        transition_steps: i64,
        /// The decay factor.
        decay_rate: f64,
        /// The steps after the warmup before the decay starts (default 0).
        #[serde(default)]
        transition_begin: i64,
        /// Whether to decay in discrete jumps (default false).
        #[serde(default)]
        staircase: bool,
        /// The bound at which the decay stops (default none).
        #[serde(default)]
        end_value: Option<f64>,
    },
    /// `piecewise_constant_schedule(init_value, boundaries_and_scales=None)`.
    #[serde(rename = "piecewise_constant_schedule")]
    PiecewiseConstant {
        /// The value before the first boundary.
        init_value: f64,
        /// The scale multiplied in at each step (default none).
        #[serde(default)]
        boundaries_and_scales: Option<BoundariesAndScales>,
    },
    /// `piecewise_interpolate_schedule(interpolate_type, init_value, boundaries_and_scales=None)`.
    #[serde(rename = "piecewise_interpolate_schedule")]
    PiecewiseInterpolate {
        /// `"linear"` or `"cosine"`.
        interpolate_type: InterpolateType,
        /// The value at step 0.
        init_value: f64,
        /// The scale multiplied in at each step (default none).
        #[serde(default)]
        boundaries_and_scales: Option<BoundariesAndScales>,
    },
    /// `linear_onecycle_schedule(transition_steps, peak_value, pct_start=0.3, pct_final=0.85,
    /// div_factor=25.0, final_div_factor=1e4)`.
    #[serde(rename = "linear_onecycle_schedule")]
    LinearOnecycle {
        /// The length of the cycle.
        transition_steps: i64,
        /// The peak value.
        peak_value: f64,
        /// The fraction of the cycle spent rising (default 0.3).
        #[serde(default = "pct_start_default")]
        pct_start: f64,
        /// The fraction of the cycle spent rising and falling (default 0.85).
        #[serde(default = "pct_final_default")]
        pct_final: f64,
        /// The initial value is `peak_value / div_factor` (default 25.0).
        #[serde(default = "div_factor_default")]
        div_factor: f64,
        /// The final value is the initial one over this (default 1e4).
        #[serde(default = "final_div_factor_default")]
        final_div_factor: f64,
    },
    /// `cosine_onecycle_schedule(transition_steps, peak_value, pct_start=0.3, div_factor=25.0,
    /// final_div_factor=1e4)`.
    #[serde(rename = "cosine_onecycle_schedule")]
    CosineOnecycle {
        /// The length of the cycle.
        transition_steps: i64,
        /// The peak value.
        peak_value: f64,
        /// The fraction of the cycle spent rising (default 0.3).
        #[serde(default = "pct_start_default")]
        pct_start: f64,
        /// The initial value is `peak_value / div_factor` (default 25.0).
        #[serde(default = "div_factor_default")]
        div_factor: f64,
        /// The final value is the initial one over this (default 1e4).
        #[serde(default = "final_div_factor_default")]
        final_div_factor: f64,
    },
    /// `warmup_constant_schedule(init_value, peak_value, warmup_steps)`.
    #[serde(rename = "warmup_constant_schedule")]
    WarmupConstant {
        /// The value at step 0.
        init_value: f64,
        /// The value after the warmup.
        peak_value: f64,
        /// The length of the warmup.
        warmup_steps: u64,
    },
    /// `sgdr_schedule(cosine_kwargs)`, each element the keyword arguments of
    /// `warmup_cosine_decay_schedule`.
    #[serde(rename = "sgdr_schedule")]
    Sgdr {
        /// The cycles, in order.
        cosine_kwargs: Vec<WarmupCosineDecayKwargs>,
    },
    /// `join_schedules(schedules, boundaries)`, with the schedules given as nested specs.
    #[serde(rename = "join_schedules")]
    Join {
        /// The schedules, in order.
        schedules: Vec<ScheduleSpec>,
        /// The steps at which each schedule after the first takes over.
        boundaries: Vec<u64>,
    },
}

impl ScheduleSpec {
    /// The optax function name of this schedule, as written in the `"schedule"` field.
    pub fn name(&self) -> &'static str {
        match self {
            ScheduleSpec::Constant { .. } => "constant_schedule",
            ScheduleSpec::Linear { .. } => "linear_schedule",
            ScheduleSpec::Polynomial { .. } => "polynomial_schedule",
            ScheduleSpec::ExponentialDecay { .. } => "exponential_decay",
            ScheduleSpec::CosineDecay { .. } => "cosine_decay_schedule",
            ScheduleSpec::WarmupCosineDecay { .. } => "warmup_cosine_decay_schedule",
            ScheduleSpec::WarmupExponentialDecay { .. } => "warmup_exponential_decay_schedule",
            ScheduleSpec::PiecewiseConstant { .. } => "piecewise_constant_schedule",
            ScheduleSpec::PiecewiseInterpolate { .. } => "piecewise_interpolate_schedule",
            ScheduleSpec::LinearOnecycle { .. } => "linear_onecycle_schedule",
            ScheduleSpec::CosineOnecycle { .. } => "cosine_onecycle_schedule",
            ScheduleSpec::WarmupConstant { .. } => "warmup_constant_schedule",
            ScheduleSpec::Sgdr { .. } => "sgdr_schedule",
            ScheduleSpec::Join { .. } => "join_schedules",
        }
    }

    /// Builds the schedule, with the checks of the optax function of the same name.
    pub fn build(&self) -> Result<Arc<dyn Schedule>, String> {
        Ok(match self {
            ScheduleSpec::Constant { value } => Arc::new(constant_schedule(*value)),
            ScheduleSpec::Linear {
                init_value,
                end_value,
                transition_steps,
                transition_begin,
            } => Arc::new(linear_schedule(
                *init_value,
                *end_value,
                non_negative(*transition_steps),
                non_negative(*transition_begin),
            )),
            ScheduleSpec::Polynomial {
                init_value,
                end_value,
                power,
                transition_steps,
                transition_begin,
            } => Arc::new(polynomial_schedule(
                *init_value,
                *end_value,
                *power,
                non_negative(*transition_steps),
                non_negative(*transition_begin),
            )),
            ScheduleSpec::ExponentialDecay {
                init_value,
                transition_steps,
                decay_rate,
                transition_begin,
                staircase,
                end_value,
            } => Arc::new(exponential_decay(
                *init_value,
                non_negative(*transition_steps),
                *decay_rate,
                non_negative(*transition_begin),
                *staircase,
                *end_value,
            )),
            ScheduleSpec::CosineDecay {
                init_value,
                decay_steps,
                alpha,
                exponent,
            } => Arc::new(cosine_decay_schedule(
                *init_value,
                *decay_steps,
                *alpha,
                *exponent,
            )?),
            ScheduleSpec::WarmupCosineDecay {
                init_value,
                peak_value,
                warmup_steps,
                decay_steps,
                end_value,
                exponent,
            } => Arc::new(warmup_cosine_decay_schedule(
                *init_value,
                *peak_value,
                *warmup_steps,
                *decay_steps,
                *end_value,
                *exponent,
            )?),
            ScheduleSpec::WarmupExponentialDecay {
                init_value,
                peak_value,
                warmup_steps,
                transition_steps,
                decay_rate,
                transition_begin,
                staircase,
                end_value,
            } => Arc::new(warmup_exponential_decay_schedule(
                *init_value,
                *peak_value,
                *warmup_steps,
                non_negative(*transition_steps),
                *decay_rate,
                non_negative(*transition_begin),
                *staircase,
                *end_value,
            )),
            ScheduleSpec::PiecewiseConstant {
                init_value,
                boundaries_and_scales,
            } => Arc::new(piecewise_constant_schedule(
                *init_value,
                boundaries_and_scales
                    .iter()
                    .flat_map(|b| b.0.iter().copied()),
            )?),
            ScheduleSpec::PiecewiseInterpolate {
                interpolate_type,
                init_value,
                boundaries_and_scales,
            } => Arc::new(piecewise_interpolate_schedule(
                *interpolate_type,
                *init_value,
                boundaries_and_scales
                    .iter()
                    .flat_map(|b| b.0.iter().copied()),
            )?),
            ScheduleSpec::LinearOnecycle {
                transition_steps,
                peak_value,
                pct_start,
                pct_final,
                div_factor,
                final_div_factor,
            } => Arc::new(linear_onecycle_schedule(
                non_negative(*transition_steps),
                *peak_value,
                *pct_start,
                *pct_final,
                *div_factor,
                *final_div_factor,
            )?),
            ScheduleSpec::CosineOnecycle {
                transition_steps,
                peak_value,
                pct_start,
                div_factor,
                final_div_factor,
            } => Arc::new(cosine_onecycle_schedule(
                non_negative(*transition_steps),
                *peak_value,
                *pct_start,
                *div_factor,
                *final_div_factor,
            )?),
            ScheduleSpec::WarmupConstant {
                init_value,
                peak_value,
                warmup_steps,
            } => Arc::new(warmup_constant_schedule(
                *init_value,
                *peak_value,
                *warmup_steps,
            )),
            ScheduleSpec::Sgdr { cosine_kwargs } => {
                let cycles = cosine_kwargs
                    .iter()
                    .enumerate()
                    .map(|(i, kwargs)| {
                        kwargs
                            .build()
                            .map_err(|e| format!("sgdr_schedule: cosine_kwargs[{i}]: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(sgdr_schedule(cycles)?)
            }
            ScheduleSpec::Join {
                schedules,
                boundaries,
            } => {
                let built = schedules
                    .iter()
                    .enumerate()
                    .map(|(i, spec)| {
                        spec.build()
                            .map_err(|e| format!("join_schedules: schedules[{i}]: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(join_schedules(built, boundaries.clone())?)
            }
        })
    }
}
