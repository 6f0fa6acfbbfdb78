//! The schedule-free optimizers of optax.contrib, `schedule_free_sgd` and
//! `schedule_free_adamw`: optax's base optimizer (SGD, or AdamW without momentum)
//! followed by the schedule-free averaging of
//! [`primitives::averaging`](crate::primitives::averaging), fused. The params are the
//! point where gradients are taken; [`schedule_free_eval_params`](crate::schedule_free_eval_params)
//! gives the point at which to evaluate the model.
//!
//! optax builds the warmup as `warmup_constant_schedule(0, learning_rate, warmup_steps)`
//! and gives it to both the base optimizer (at its 0-based count) and the wrapper (at its
//! 1-based step); [`warmup_constant`](crate::dsl::warmup_constant) evaluates it for each.

use crate::{
    add_decayed_weights, optimizer, scale_by_learning_rate, scale_by_rms, scale_by_schedule_free,
};

/// Schedule-free SGD.
///
/// SGD (`z ← z − lr·g`, after adding `weight_decay · y` to the gradient when given) whose
/// iterates are averaged without a schedule: the gradients are taken at
/// `y = b1·x + (1 − b1)·z`, and the average `x ← (1 − c)·x + c·z` weighs each step by
/// `c = lr_max^p / Σ lr_max^p`. Evaluate the model at `x`
/// ([`schedule_free_eval_params`](crate::schedule_free_eval_params)). `warmup_steps`
/// ramps the learning rate linearly from 0, as optax's `warmup_constant_schedule`.
///
/// References: Defazio et al, 2024, *The Road Less Scheduled*.
#[optimizer(
    fuse(
        when(weight_decay.is_some(), add_decayed_weights(weight_decay = weight_decay.unwrap_or(0.0))),
        scale_by_learning_rate(learning_rate = warmup_constant(learning_rate, warmup_steps, t - 1.0)),
        scale_by_schedule_free(learning_rate = warmup_constant(learning_rate, warmup_steps, t)),
    ),
    doc_trace(
        solver = schedule_free_sgd().learning_rate(0.05),
        printed = "1.13E+01 1.01E+01 9.03E+00 8.03E+00 7.13E+00",
    ),
)]
pub fn schedule_free_sgd(
    /// The (peak) learning rate.
    #[default(1.0)]
    learning_rate: f64,
    /// Steps of a linear warmup from 0 to `learning_rate`; `None` has none.
    warmup_steps: Option<u64>,
    b1: _,
    /// Strength of the weight decay (L2, added to the gradient); `None` applies none.
    weight_decay: Option<f64>,
    weight_lr_power: _,
    state_dtype: _,
) {
}

/// Schedule-free AdamW.
///
/// AdamW without momentum (the bias-corrected RMS of the gradients, `eps` outside the
/// root, decoupled weight decay) whose iterates are averaged without a schedule, as in
/// [`schedule_free_sgd`]: the gradients are taken at `y = b1·x + (1 − b1)·z`, and the
/// model is evaluated at `x`
/// ([`schedule_free_eval_params`](crate::schedule_free_eval_params)).
///
/// References: Defazio et al, 2024, *The Road Less Scheduled*.
#[optimizer(
    fuse(
        scale_by_rms(decay = b2, eps_in_sqrt = false, bias_correction = true),
        add_decayed_weights,
        scale_by_learning_rate(learning_rate = warmup_constant(learning_rate, warmup_steps, t - 1.0)),
        scale_by_schedule_free(learning_rate = warmup_constant(learning_rate, warmup_steps, t)),
    ),
    doc_trace(
        solver = schedule_free_adamw().learning_rate(0.02),
        printed = "1.38E+01 1.36E+01 1.35E+01 1.34E+01 1.32E+01",
    ),
)]
pub fn schedule_free_adamw(
    /// The (peak) learning rate.
    #[default(0.0025)]
    learning_rate: f64,
    /// Steps of a linear warmup from 0 to `learning_rate`; `None` has none.
    warmup_steps: Option<u64>,
    b1: _,
    /// Decay rate of the second moment.
    #[default(0.999)]
    b2: f64,
    eps: _,
    weight_decay: _,
    weight_lr_power: _,
    state_dtype: _,
) {
}
