//! The D-Adaptation optimizers of optax.contrib, `dadapt_adamw` and `prodigy`: each is
//! its primitive of [`primitives::d_adaptation`](crate::primitives::d_adaptation) alone
//! (optax writes each as one transformation whose update holds the learning rate).

use crate::{optimizer, scale_by_dadapt_adamw, scale_by_prodigy};

/// Learning rate free AdamW by D-Adaptation.
///
/// Adapts the base learning rate of AdamW automatically, by estimating the distance `d`
/// to the solution from below: `d` grows to the ratio of a running inner product of the
/// gradients with the distance travelled and the l1 norm of a running sum of scaled
/// gradients, and the step is AdamW's with the learning rate
/// `d · lr · sqrt(1 − b2^t) / (1 − b1^t)`. `learning_rate` is a schedule factor (the
/// recommended schedule is linear from 1.0 to 0, with a 0-20% warmup).
///
/// References: Defazio et al, 2023, *Learning-Rate-Free Learning by D-Adaptation*.
#[optimizer(
    fuse(scale_by_dadapt_adamw),
    doc_trace(
        solver = dadapt_adamw(),
        printed = "1.40E+01 1.40E+01 1.40E+01 1.40E+01 1.40E+01",
    ),
)]
pub fn dadapt_adamw(learning_rate: _, betas: _, eps: _, estim_lr0: _, weight_decay: _) {}

/// Learning rate free AdamW with Prodigy.
///
/// Prodigy is D-Adaptation's AdamW with the moments taken of `d·g` and an estimate of
/// the distance `d` that weights recent gradients more (`beta3`), which makes it grow
/// faster; the step is `d · lr · sqrt(1 − b2^t) / (1 − b1^t)` times Adam's direction.
/// `learning_rate` is a schedule factor.
///
/// References: Mishchenko et al, 2023, *Prodigy: An Expeditiously Adaptive
/// Parameter-Free Learner*.
#[optimizer(
    fuse(scale_by_prodigy),
    doc_trace(
        solver = prodigy(),
        printed = "1.40E+01 1.40E+01 1.40E+01 1.40E+01 1.40E+01",
    ),
)]
pub fn prodigy(
    learning_rate: _,
    betas: _,
    beta3: _,
    eps: _,
    estim_lr0: _,
    estim_lr_coef: _,
    weight_decay: _,
    safeguard_warmup: _,
) {
}
