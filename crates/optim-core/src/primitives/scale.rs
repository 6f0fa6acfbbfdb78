//! The per-element scalings that optax's aliases end with: `scale`,
//! `scale_by_learning_rate`, `add_decayed_weights` and `ema`.

use crate::{optimizer, LearningRate, Mask, ScalarOrSchedule};

/// Multiplies updates by a constant (optax's `scale`).
#[optimizer(unscaled)]
pub fn scale(
    /// The factor.
    #[check(step_size.is_finite())]
    step_size: f64,
) {
    each(|g| step_size * g)
}

/// Multiplies updates by the learning rate, negated by default so the result descends
/// (optax's `scale_by_learning_rate`).
#[optimizer(unscaled)]
pub fn scale_by_learning_rate(
    /// The learning rate, constant or scheduled.
    #[check(learning_rate.is_finite())]
    learning_rate: LearningRate,
    /// Whether to multiply by `-learning_rate` rather than `learning_rate`.
    #[default(true)]
    flip_sign: bool,
) {
    let s = if flip_sign {
        -learning_rate
    } else {
        learning_rate
    };
    each(|g| s * g)
}

/// Adds `weight_decay * p` to the updates of the leaves `mask` selects (optax's
/// `add_decayed_weights`).
#[optimizer(unscaled)]
pub fn add_decayed_weights(
    /// Strength of the decay, constant or scheduled (a learning rate applied after this
    /// scales it too).
    #[default(0.0)]
    #[check(weight_decay.is_finite())]
    weight_decay: ScalarOrSchedule,
    /// The leaves to decay.
    mask: Mask,
) {
    each(|g, p| select(mask, g + weight_decay * p, g))
}

/// An exponential moving average of the updates, optionally debiased (optax's `ema`).
#[optimizer(unscaled)]
pub fn ema(
    /// Decay rate of the average.
    #[check((0.0..1.0).contains(&decay))]
    decay: f64,
    /// Whether to divide by `1 - decay^t`.
    #[default(true)]
    debias: bool,
    /// The running average.
    #[state(dtype = accumulator_dtype)]
    ema: State,
) {
    let correction = if debias {
        bias_correction(jax!(decay), t)
    } else {
        1.0
    };
    each(|g| {
        ema = (1.0 - decay) * g + decay * ema;
        ema / correction
    })
}
