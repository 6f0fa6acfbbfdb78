//! optax's polynomial family: `linear_schedule`, `polynomial_schedule` and
//! `warmup_constant_schedule` (a linear warmup), all one formula.

use super::jnp::Real;
use super::{JaxMode, JaxScalar, Schedule};

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
