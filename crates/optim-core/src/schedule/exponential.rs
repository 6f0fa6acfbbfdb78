//! optax's `exponential_decay` and `warmup_exponential_decay_schedule` (a linear warmup
//! joined to it).

use super::jnp::{nan_max, nan_min, Real};
use super::join::{join_at, join_count};
use super::{JaxMode, JaxScalar, Linear, Schedule};

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
