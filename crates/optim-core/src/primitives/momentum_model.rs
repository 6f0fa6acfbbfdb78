//! MoMo's Polyak-type step sizes (optax.contrib's `momo` and `momo_adam`): momentum (or
//! Adam's moments) with the step `min(learning_rate, <model gap> / <norm>)`, where the
//! model of the loss is built from averages of the objective value, of `⟨g, x⟩` and of
//! the momentum. optax writes each as one transformation; here each is a primitive
//! (`scale_by_momo`, `scale_by_momo_adam`) that [`momo`](fn@crate::momo) and
//! [`momo_adam`](fn@crate::momo_adam) are made of.
//!
//! They read the objective value, an extra argument (`Extra::value`); a step without it
//! is an [`Error::MissingExtra`](crate::Error::MissingExtra). Like optax's, their update
//! holds the step size, the sign and the weight decay: it is the step itself. The three
//! sums over the whole tree (`⟨g, x⟩`, the momentum's squared norm and `⟨m, x⟩`, with the
//! new momentum formed from the old one and this step's gradient) come from one
//! `tree_sum` before any element is written.

use crate::{optimizer, LearningRate};

/// MoMo's step (optax.contrib's `momo`, as a primitive): with the averages (weight
/// `beta`, none on the first step) `f̄` of the objective value, `γ` of `⟨g, x⟩` and `m`
/// of the gradients, the step size is `τ = min(lr, max(0, (1 + lr·wd)(f̄ − lb − γ) +
/// ⟨m, x⟩) / ‖m‖²)` (0 when `‖m‖²` is at most the float64 epsilon), and the update
/// `−lr·wd / (1 + lr·wd) · x − τ·m`. With `adapt_lower_bound`, the lower bound `lb` of
/// the loss is estimated on the fly.
///
/// References: Schaipp et al., 2023, *MoMo: Momentum Models for Adaptive Learning Rates*.
#[optimizer(unscaled)]
pub fn scale_by_momo(
    /// User-specified learning rate (the largest step size); recommended rather large.
    #[default(1.0)]
    #[check(learning_rate.is_finite())]
    learning_rate: LearningRate,
    /// Momentum coefficient (of the averages).
    #[default(0.9)]
    #[check((0.0..1.0).contains(&beta))]
    beta: f64,
    /// A lower bound of the loss; zero is a good choice for many tasks.
    #[default(0.0)]
    #[check(lower_bound.is_finite())]
    lower_bound: f64,
    /// Weight decay.
    #[default(0.0)]
    #[check(weight_decay.is_finite())]
    weight_decay: f64,
    /// Estimates the lower bound on the fly, when no good guess is available.
    #[default(false)]
    adapt_lower_bound: bool,
    /// The momentum of the gradients (`m`).
    #[state]
    exp_avg: State,
    /// The average of the objective values (`f̄`).
    #[state(tree)]
    barf: State,
    /// The average of `⟨g, x⟩` (`γ`).
    #[state(tree)]
    gamma: State,
    /// The lower bound of the loss (`lb`).
    #[state(tree, init = lower_bound)]
    lb: State,
) {
    // The first step initializes the averages with the first gradient and loss.
    let bt = if t == 1.0 { 0.0 } else { beta };
    let one_minus_bt = 1.0 - bt;
    barf = bt * barf + one_minus_bt * value;
    let (g_dot_x, exp_avg_norm, iprod) = tree_sum(|g, p| {
        let m = bt * exp_avg + one_minus_bt * g;
        (g * p, m * m, m * p)
    });
    gamma = bt * gamma + one_minus_bt * g_dot_x;
    let alpha = learning_rate;
    let wd1 = 1.0 + alpha * weight_decay;
    let this_lb = momo_lower_bound(
        adapt_lower_bound,
        wd1 * (barf - gamma) + iprod,
        wd1,
        lb,
        lower_bound,
    );
    let tau = minimum(
        alpha,
        momo_step(wd1 * (barf - this_lb - gamma) + iprod, exp_avg_norm),
    );
    lb = if adapt_lower_bound {
        maximum(
            (barf + iprod - gamma) - 0.5 * tau * exp_avg_norm,
            lower_bound,
        )
    } else {
        lb
    };
    let shrink = -(alpha * weight_decay) / wd1;
    each(|g, p| {
        exp_avg = bt * exp_avg + one_minus_bt * g;
        shrink * p - tau * exp_avg
    })
}

/// MoMo-Adam's step (optax.contrib's `momo_adam`, as a primitive): Adam's moments `m`
/// and `v` (no bias correction of `m` in the moments; `1 − b1^t` enters the step), the
/// preconditioner `D = eps + sqrt(v / (1 − b2^t))`, and the step size
/// `τ = min(lr / (1 − b1^t), max(0, (1 + lr·wd)(f̄ − (1 − b1^t)·lb − γ) + ⟨m, x⟩) /
/// ⟨m, m / D⟩)`; the update is `−lr·wd / (1 + lr·wd) · x − τ·m / D`.
///
/// References: Schaipp et al., 2023, *MoMo: Momentum Models for Adaptive Learning Rates*.
#[optimizer(unscaled)]
pub fn scale_by_momo_adam(
    /// User-specified learning rate (the largest step size).
    #[default(1e-2)]
    #[check(learning_rate.is_finite())]
    learning_rate: LearningRate,
    /// Decay rate of the first moment (and of the averages).
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Decay rate of the second moment.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Added to the preconditioner, as Adam's `eps`.
    #[default(1e-8)]
    #[check(eps > 0.0 && eps.is_finite())]
    eps: f64,
    /// A lower bound of the loss; zero is a good choice for many tasks.
    #[default(0.0)]
    #[check(lower_bound.is_finite())]
    lower_bound: f64,
    /// Weight decay, as AdamW applies it.
    #[default(0.0)]
    #[check(weight_decay.is_finite())]
    weight_decay: f64,
    /// Estimates the lower bound on the fly, when no good guess is available.
    #[default(false)]
    adapt_lower_bound: bool,
    /// The first moment (`m`).
    #[state]
    exp_avg: State,
    /// The second moment (`v`).
    #[state]
    exp_avg_sq: State,
    /// The average of the objective values (`f̄`).
    #[state(tree)]
    barf: State,
    /// The average of `⟨g, x⟩` (`γ`).
    #[state(tree)]
    gamma: State,
    /// The lower bound of the loss (`lb`).
    #[state(tree, init = lower_bound)]
    lb: State,
) {
    let one_minus_b1 = 1.0 - b1;
    let one_minus_b2 = 1.0 - b2;
    barf = b1 * barf + one_minus_b1 * value;
    let bc1 = bias_correction(jax!(b1), t);
    let bc2 = bias_correction(jax!(b2), t);
    let (g_dot_x, exp_avg_norm, iprod) = tree_sum(|g, p| {
        let m = b1 * exp_avg + one_minus_b1 * g;
        let v = b2 * exp_avg_sq + one_minus_b2 * g * g;
        (g * p, m * (m / momo_precond(v, eps, bc2)), m * p)
    });
    gamma = b1 * gamma + one_minus_b1 * g_dot_x;
    let alpha = learning_rate;
    let wd1 = 1.0 + alpha * weight_decay;
    let this_lb = momo_lower_bound(
        adapt_lower_bound,
        wd1 * (barf - gamma) + iprod,
        wd1 * bc1,
        lb,
        lower_bound,
    );
    let tau = minimum(
        alpha / bc1,
        momo_step(wd1 * (barf - bc1 * this_lb - gamma) + iprod, exp_avg_norm),
    );
    lb = if adapt_lower_bound {
        maximum(
            ((barf + iprod - gamma) - 0.5 * tau * exp_avg_norm) / bc1,
            lower_bound,
        )
    } else {
        lb
    };
    let shrink = -(alpha * weight_decay) / wd1;
    each(|g, p| {
        exp_avg = b1 * exp_avg + one_minus_b1 * g;
        exp_avg_sq = b2 * exp_avg_sq + one_minus_b2 * g * g;
        shrink * p - tau * exp_avg / momo_precond(exp_avg_sq, eps, bc2)
    })
}
