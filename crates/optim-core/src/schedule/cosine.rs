//! optax's cosine family: `cosine_decay_schedule`, `warmup_cosine_decay_schedule` (a
//! linear warmup joined to it) and `sgdr_schedule` (warmup-cosine cycles joined).

use std::f64::consts::PI;

use super::jnp::{in_default_float, nan_min, Real};
use super::join::{join_at, join_count};
use super::{part_rejected, rejected, JaxMode, JaxScalar, Linear, Schedule};
use crate::Error;

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
) -> Result<CosineDecay, Error> {
    if decay_steps == 0 {
        return Err(rejected(
            "cosine_decay_schedule",
            "decay_steps",
            "must be positive, got 0",
        ));
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
) -> Result<WarmupCosineDecay, Error> {
    if decay_steps <= warmup_steps {
        return Err(rejected(
            "warmup_cosine_decay_schedule",
            "decay_steps",
            format!(
                "must exceed warmup_steps ({warmup_steps}), got {decay_steps}: \
                 the cosine decay after the warmup needs a positive length"
            ),
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
pub fn sgdr_schedule(cosine_kwargs: Vec<WarmupCosineDecay>) -> Result<Sgdr, Error> {
    const F: &str = "sgdr_schedule";
    if cosine_kwargs.is_empty() {
        return Err(rejected(F, "cosine_kwargs", "needs at least one cycle"));
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
        .map_err(|e| part_rejected(F, format!("cosine_kwargs[{i}]"), e))?;
    }
    Ok(Sgdr { cosine_kwargs })
}
