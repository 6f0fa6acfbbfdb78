//! Learning-rate schedules: pure functions of the step count, as in optax.
//!
//! A schedule is evaluated at the 0-based step: the first update uses `at(0)`.
//!
//! [`Schedule::at`] is the exact value of optax's formula in f64 (what optax computes
//! for a Python-int or int64 step with `jax_enable_x64`). An optax optimizer, though,
//! evaluates its schedule on an int32 step counter, and jax's type promotion then runs
//! parts of the formula in float32: [`Schedule::at_count`] reproduces that bit for bit,
//! with the value's jax dtype, and [`LearningRate::optax_value`] is what an optimizer
//! uses.
//!
//! This module holds the learning-rate schedules of optax (`optax.schedules`), with
//! optax's names, argument order, defaults and arithmetic.
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
//! optax's does; where optax raises an error, the constructor returns an
//! [`Error::Schedule`] that names the function and the argument.
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

use std::fmt::Debug;
use std::sync::Arc;

use crate::Error;

// One file per family of optax schedules, each holding the structs, their `Schedule`
// impls and optax's constructor functions; `jnp` holds the jax.numpy arithmetic they
// share and `spec` the serde form.
mod constant;
mod cosine;
mod exponential;
mod jnp;
mod join;
mod onecycle;
mod piecewise;
mod polynomial;
mod spec;

pub use constant::{constant_schedule, Constant};
pub use cosine::{
    cosine_decay_schedule, sgdr_schedule, warmup_cosine_decay_schedule, CosineDecay, Sgdr,
    WarmupCosineDecay,
};
pub use exponential::{
    exponential_decay, warmup_exponential_decay_schedule, ExponentialDecay, WarmupExponentialDecay,
};
pub use join::{join_schedules, JoinSchedules};
pub use onecycle::{
    cosine_onecycle_schedule, linear_onecycle_schedule, CosineOnecycle, LinearOnecycle,
};
pub use piecewise::{
    piecewise_constant_schedule, piecewise_interpolate_schedule, InterpolateType,
    PiecewiseConstant, PiecewiseInterpolate,
};
pub use polynomial::{
    linear_schedule, polynomial_schedule, warmup_constant_schedule, Linear, Polynomial,
    WarmupConstant,
};
pub use spec::{BoundariesAndScales, ScheduleSpec, WarmupCosineDecayKwargs};

/// The error for argument `arg` of the schedule function `schedule`.
fn rejected(schedule: &str, arg: &str, detail: impl Into<String>) -> Error {
    Error::Schedule {
        schedule: schedule.into(),
        arg: arg.into(),
        detail: detail.into(),
    }
}

/// The error for part `arg` (an argument with its index, `cosine_kwargs[1]`) of the
/// composite schedule function `schedule`.
fn part_rejected(schedule: &str, arg: String, source: Error) -> Error {
    Error::SchedulePart {
        schedule: schedule.into(),
        arg,
        source: Box::new(source),
    }
}

/// A learning-rate (or any hyperparameter) schedule: a pure function of the step.
pub trait Schedule: Debug + Send + Sync {
    /// The value at 0-based step `step`, in f64.
    fn at(&self, step: u64) -> f64;

    /// The value optax computes when it calls the schedule on its int32 step counter
    /// holding `step`, in jax precision mode `mode`, as a value of jax's result dtype.
    ///
    /// optax's counter saturates at `i32::MAX`; `step` is taken as given (callers clamp,
    /// as [`LearningRate::optax_value_in`] does). The default, for schedules defined
    /// outside this crate, treats the schedule like a Python function returning a Python
    /// float: `at(step)`, weakly typed, in the mode's default float type.
    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        JaxScalar::python_float(self.at(step), mode)
    }
}

/// jax's two precision modes: which float type a Python float (or an integer array
/// meeting one) becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JaxMode {
    /// `jax_enable_x64` on: the default float is float64 (the reference traces' float64
    /// cases were computed this way).
    X64,
    /// jax's default, `jax_enable_x64` off: the default float is float32 (the reference
    /// traces' float32 cases were computed this way).
    X32,
}

impl JaxMode {
    /// The default float type of the mode.
    pub fn default_float(self) -> JaxDtype {
        match self {
            JaxMode::X64 => JaxDtype::Float64,
            JaxMode::X32 => JaxDtype::Float32,
        }
    }
}

/// A jax floating-point dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JaxDtype {
    /// `float32`.
    Float32,
    /// `float64`.
    Float64,
}

impl JaxDtype {
    /// jax's name of the dtype.
    pub fn name(self) -> &'static str {
        match self {
            JaxDtype::Float32 => "float32",
            JaxDtype::Float64 => "float64",
        }
    }

    /// `x` converted to this dtype (round to nearest, ties to even), widened back.
    #[inline]
    pub fn round(self, x: f64) -> f64 {
        match self {
            JaxDtype::Float32 => x as f32 as f64,
            JaxDtype::Float64 => x,
        }
    }
}

/// A scalar as jax holds it: a value of a float dtype, possibly weakly typed.
///
/// A weakly typed value (a Python float, or arithmetic between a Python float and an
/// integer array) takes the dtype of a strongly typed float it meets: that decides the
/// dtype of optax's `jnp.where` in `join_schedules`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JaxScalar {
    /// The value; exactly representable in `dtype`.
    pub value: f64,
    /// The dtype.
    pub dtype: JaxDtype,
    /// Whether jax marks the value weakly typed.
    pub weak: bool,
}

impl JaxScalar {
    /// A value of `dtype` (rounded to it).
    pub fn new(value: f64, dtype: JaxDtype, weak: bool) -> Self {
        JaxScalar {
            value: dtype.round(value),
            dtype,
            weak,
        }
    }

    /// A Python float as jax sees it in mode `mode`: weakly typed, of the default float
    /// type.
    pub fn python_float(value: f64, mode: JaxMode) -> Self {
        JaxScalar::new(value, mode.default_float(), true)
    }

    /// The dtype and weak type of a binary jax operation on `self` and `other` (between
    /// floats): a strongly typed operand decides the dtype over a weakly typed one;
    /// otherwise the wider dtype wins.
    pub fn promote(self, other: JaxScalar) -> (JaxDtype, bool) {
        match (self.weak, other.weak) {
            (false, true) => (self.dtype, false),
            (true, false) => (other.dtype, false),
            (weak, _) => (self.dtype.max(other.dtype), weak),
        }
    }

    /// `jnp.where(pick_self, self, other)`: the picked value in the promoted dtype.
    pub fn select(self, pick_self: bool, other: JaxScalar) -> JaxScalar {
        let (dtype, weak) = self.promote(other);
        let picked = if pick_self { self } else { other };
        JaxScalar::new(picked.value, dtype, weak)
    }
}

/// A hyperparameter that is either a constant or a schedule (optax's `ScalarOrSchedule`).
#[derive(Clone, Debug)]
pub enum LearningRate {
    Constant(f64),
    Schedule(Arc<dyn Schedule>),
}

impl LearningRate {
    /// The value at 0-based step `step`.
    #[inline]
    pub fn at(&self, step: u64) -> f64 {
        match self {
            LearningRate::Constant(v) => *v,
            LearningRate::Schedule(s) => s.at(step),
        }
    }
}

impl LearningRate {
    /// The value an optimizer uses at 0-based step `step`, as optax computes it with
    /// `jax_enable_x64` (the float64 reference cases): a schedule evaluated on optax's
    /// int32 step counter (see [`Schedule::at_count`]), whose result is float32 for some
    /// schedules and float64 for others. A constant keeps its full precision.
    #[inline]
    pub fn optax_value(&self, step: u64) -> f64 {
        self.optax_value_in(step, JaxMode::X64)
    }

    /// The value an optimizer uses at 0-based step `step`, as optax computes it in jax
    /// mode `mode` ([`JaxMode::X32`] reproduces the float32 reference cases, which ran
    /// without `jax_enable_x64`). A constant keeps its full precision (an optimizer casts
    /// it to the params' dtype, as optax does). Steps beyond `i32::MAX` are evaluated at
    /// `i32::MAX`, where optax's counter saturates.
    #[inline]
    pub fn optax_value_in(&self, step: u64, mode: JaxMode) -> f64 {
        match self {
            LearningRate::Constant(v) => *v,
            LearningRate::Schedule(s) => s.at_count(step.min(i32::MAX as u64), mode).value,
        }
    }
}

impl From<f64> for LearningRate {
    fn from(v: f64) -> Self {
        LearningRate::Constant(v)
    }
}

impl From<f32> for LearningRate {
    fn from(v: f32) -> Self {
        LearningRate::Constant(v as f64)
    }
}

impl From<Arc<dyn Schedule>> for LearningRate {
    fn from(s: Arc<dyn Schedule>) -> Self {
        LearningRate::Schedule(s)
    }
}

impl<S: Schedule + 'static> From<S> for LearningRate {
    fn from(s: S) -> Self {
        LearningRate::Schedule(Arc::new(s))
    }
}

/// optax's name for [`LearningRate`].
pub type ScalarOrSchedule = LearningRate;
