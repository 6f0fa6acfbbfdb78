//! D-Adaptation: AdamW whose base learning rate is an estimate `d` of the distance to
//! the solution, grown from below as training goes (optax.contrib's `dadapt_adamw` and
//! `prodigy`). optax writes each as one transformation; here each is a primitive
//! (`scale_by_dadapt_adamw`, `scale_by_prodigy`) that [`dadapt_adamw`](fn@crate::dadapt_adamw)
//! and [`prodigy`](fn@crate::prodigy) are made of.
//!
//! Like optax's, their update already holds the learning rate and the sign, and the
//! weight decay, which is scaled by the step's `d·lr`: it is the step itself.
//!
//! The estimate needs two sums over the whole tree, taken in one `tree_sum` before any
//! element is written: the weighted inner product of the gradient with the distance
//! travelled (the numerator) and the l1 norm of the new running sum of gradients (the
//! denominator), which the pass forms from the old sum and this step's gradient while
//! the element pass stores it.

use crate::{optimizer, LearningRate};

/// D-Adaptation's AdamW step (optax.contrib's `dadapt_adamw`, as a primitive): AdamW
/// with the learning rate `d·lr·sqrt(1 − b2^t) / (1 − b1^t)`, where the distance
/// estimate `d` starts at `estim_lr0` and grows to
/// `max(d, numerator / ((1 − sqrt(b2))·‖s‖₁))`, with `s` an exponential average of the
/// scaled gradients and the numerator an average of their inner products with
/// `s / (sqrt(v) + eps)`.
///
/// References: Defazio et al, 2023, *Learning-Rate-Free Learning by D-Adaptation*.
#[optimizer(unscaled)]
pub fn scale_by_dadapt_adamw(
    /// Learning rate scheduling parameter; the recommended schedule is linear from 1.0
    /// to 0, with a 0-20% warmup.
    #[default(1.0)]
    #[check(learning_rate.is_finite())]
    learning_rate: LearningRate,
    /// The decay rates `(b1, b2)` of the underlying AdamW's moments.
    #[default((0.9, 0.999))]
    #[check((0.0..1.0).contains(&betas.0) && (0.0..1.0).contains(&betas.1))]
    betas: (f64, f64),
    /// The underlying AdamW's `eps`.
    #[default(1e-8)]
    #[check(eps > 0.0 && eps.is_finite())]
    eps: f64,
    /// The initial (under-)estimate of the learning rate `d`.
    #[default(1e-6)]
    #[check(estim_lr0 > 0.0 && estim_lr0.is_finite())]
    estim_lr0: f64,
    /// AdamW-style weight decay (scaled by the step's learning rate).
    #[default(0.0)]
    #[check(weight_decay.is_finite())]
    weight_decay: f64,
    /// The first moment of the scaled gradients.
    #[state]
    exp_avg: State,
    /// The second moment of the gradients.
    #[state]
    exp_avg_sq: State,
    /// The exponential average of the scaled gradients (`s`).
    #[state]
    grad_sum: State,
    /// The distance estimate `d`.
    #[state(tree, init = estim_lr0)]
    estim_lr: State,
    /// The weighted numerator of the estimate.
    #[state(tree)]
    numerator_weighted: State,
) {
    let (beta1, beta2) = betas;
    let sb2 = beta2.sqrt();
    let bc = (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
    let dlr = estim_lr * learning_rate * bc;
    let one_minus_sb2 = 1.0 - sb2;
    let s_coef = one_minus_sb2 * dlr;
    let (numerator_acum, grad_sum_l1) = tree_sum(|g| {
        let s_weighted = grad_sum / (exp_avg_sq.sqrt() + eps);
        (g * s_weighted, (sb2 * grad_sum + s_coef * g).abs())
    });
    numerator_weighted = sb2 * numerator_weighted + one_minus_sb2 * dlr * numerator_acum;
    let d_estimate = numerator_weighted / (one_minus_sb2 * grad_sum_l1);
    estim_lr = maximum(estim_lr, d_estimate);
    let m_coef = (1.0 - beta1) * dlr;
    let one_minus_b2 = 1.0 - beta2;
    let decay = -weight_decay * dlr;
    each(|g, p| {
        exp_avg = beta1 * exp_avg + m_coef * g;
        exp_avg_sq = beta2 * exp_avg_sq + one_minus_b2 * g * g;
        grad_sum = sb2 * grad_sum + s_coef * g;
        decay * p - exp_avg / (exp_avg_sq.sqrt() + eps)
    })
}

/// Prodigy's step (optax.contrib's `prodigy`, as a primitive): D-Adaptation's AdamW with
/// the moments taken of `d·g`, an estimate `d` that weights recent gradients more
/// (`beta3`), and the step `d·lr·sqrt(1 − b2^t) / (1 − b1^t)`. The estimate is
/// `max(d, estim_lr_coef · numerator / ‖s‖₁)`, with `s = beta3·s + d·lr_t·d·g / d0` (or
/// without the step's learning rate, `safeguard_warmup`) and the numerator a
/// `beta3`-average of `(d / d0)·lr_t·⟨g, x_0 − x⟩`.
///
/// References: Mishchenko et al, 2023, *Prodigy: An Expeditiously Adaptive Parameter-Free
/// Learner*.
#[optimizer(unscaled)]
pub fn scale_by_prodigy(
    /// Learning rate scheduling parameter; the recommended schedule is linear from 1.0
    /// to 0, with a 0-20% warmup.
    #[default(1.0)]
    #[check(learning_rate.is_finite())]
    learning_rate: LearningRate,
    /// The decay rates `(b1, b2)` of the underlying AdamW's moments.
    #[default((0.9, 0.999))]
    #[check((0.0..1.0).contains(&betas.0) && (0.0..1.0).contains(&betas.1))]
    betas: (f64, f64),
    /// The decay of the estimate's averages; `None` takes `sqrt(b2)`.
    #[check(beta3.is_none_or(|b| (0.0..=1.0).contains(&b)))]
    beta3: Option<f64>,
    /// The underlying AdamW's `eps` (scaled by `d`).
    #[default(1e-8)]
    #[check(eps > 0.0 && eps.is_finite())]
    eps: f64,
    /// The initial (under-)estimate of the learning rate `d` (`d0`).
    #[default(1e-6)]
    #[check(estim_lr0 > 0.0 && estim_lr0.is_finite())]
    estim_lr0: f64,
    /// The estimates of `d` are multiplied by this.
    #[default(1.0)]
    #[check(estim_lr_coef.is_finite())]
    estim_lr_coef: f64,
    /// AdamW-style weight decay (scaled by the step's learning rate).
    #[default(0.0)]
    #[check(weight_decay.is_finite())]
    weight_decay: f64,
    /// Leaves the step's learning rate out of the estimate's running sum, which avoids
    /// trouble during a warmup.
    #[default(false)]
    safeguard_warmup: bool,
    /// The first moment of `d·g`.
    #[state]
    exp_avg: State,
    /// The second moment of `d·g`.
    #[state]
    exp_avg_sq: State,
    /// The running sum of the scaled gradients (`s`).
    #[state]
    grad_sum: State,
    /// The initial params (`x_0`).
    #[state(init = params)]
    params0: State,
    /// The distance estimate `d`.
    #[state(tree, init = estim_lr0)]
    estim_lr: State,
    /// The weighted numerator of the estimate.
    #[state(tree)]
    numerator_weighted: State,
) {
    let (beta1, beta2) = betas;
    let b3 = beta3.unwrap_or(beta2.sqrt());
    let bc = (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
    let d = estim_lr;
    let dlr = d * learning_rate * bc;
    let s_scale = if safeguard_warmup { d } else { dlr };
    let (numerator_acum, denominator) = tree_sum(|g, p| {
        let s = b3 * grad_sum + s_scale * (d * g) / estim_lr0;
        (g * (params0 - p), s.abs())
    });
    numerator_weighted = b3 * numerator_weighted + (d / estim_lr0) * dlr * numerator_acum;
    let lr_estimate = estim_lr_coef * numerator_weighted / denominator;
    estim_lr = maximum(estim_lr, lr_estimate);
    // The denominator's `eps` is scaled by the new estimate, as in optax.
    let d_eps = estim_lr * eps;
    let one_minus_b1 = 1.0 - beta1;
    let one_minus_b2 = 1.0 - beta2;
    let decay = -weight_decay * dlr;
    each(|g, p| {
        let dg = d * g;
        exp_avg = beta1 * exp_avg + one_minus_b1 * dg;
        exp_avg_sq = beta2 * exp_avg_sq + one_minus_b2 * dg * dg;
        grad_sum = b3 * grad_sum + s_scale * dg / estim_lr0;
        decay * p - dlr * exp_avg / (exp_avg_sq.sqrt() + d_eps)
    })
}
