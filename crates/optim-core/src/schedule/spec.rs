//! [`ScheduleSpec`], the serde form of a schedule in configuration files:
//! `{"schedule": "<optax name>", ...kwargs}`.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::part_rejected;
use super::{
    constant_schedule, cosine_decay_schedule, cosine_onecycle_schedule, exponential_decay,
    join_schedules, linear_onecycle_schedule, linear_schedule, piecewise_constant_schedule,
    piecewise_interpolate_schedule, polynomial_schedule, sgdr_schedule, warmup_constant_schedule,
    warmup_cosine_decay_schedule, warmup_exponential_decay_schedule, InterpolateType, Schedule,
    WarmupCosineDecay,
};
use crate::Error;

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
    pub fn build(&self) -> Result<WarmupCosineDecay, Error> {
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

    /// Builds the schedule, with the checks of the optax function of the same name; the
    /// error names the function and the argument (for a nested schedule, the argument
    /// holding it and the nested schedule's own error).
    pub fn build(&self) -> Result<Arc<dyn Schedule>, Error> {
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
                        kwargs.build().map_err(|e| {
                            part_rejected("sgdr_schedule", format!("cosine_kwargs[{i}]"), e)
                        })
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
                        spec.build().map_err(|e| {
                            part_rejected("join_schedules", format!("schedules[{i}]"), e)
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(join_schedules(built, boundaries.clone())?)
            }
        })
    }
}
