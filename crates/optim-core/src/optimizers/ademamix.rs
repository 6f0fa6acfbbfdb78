//! The AdEMAMix family (optax.contrib): AdEMAMix and Simplified AdEMAMix, each a fused
//! composition of its primitive ([`primitives::ema_mixtures`](crate::primitives::ema_mixtures)),
//! the decoupled weight decay and the learning rate.

use crate::{
    add_decayed_weights, optimizer, scale_by_ademamix, scale_by_learning_rate,
    scale_by_simplified_ademamix,
};

/// AdEMAMix (Adaptive EMA Mixture).
///
/// AdEMAMix is AdamW with a mixture of two momentum terms, to better take advantage of
/// historical gradients: Adam's bias-corrected fast EMA (decay `b1`) plus `alpha` times
/// a slow EMA (decay `b3`, not bias-corrected, so that it fills slowly), over the root
/// of Adam's bias-corrected second moment, plus the weight decay `weight_decay * p` (on
/// the leaves `mask` selects), scaled by the learning rate. `b3` and `alpha` may be
/// schedules.
///
/// AdEMAMix leverages very old gradients, so it suits runs with many iterations: the
/// paper (Appendix C.1.5) shows that smaller values of `b3` (e.g. 0.999) can be better
/// for short runs. Retaining gradient information over many thousands of steps can be
/// a problem where fast adaptation to a sudden distribution shift is needed, or where
/// the distribution is non-stationary. The weight decay is multiplied by the learning
/// rate, as in PyTorch, unlike Loshchilov et al, 2019, where only the schedule
/// multiplier scales it.
///
/// References: Pagliardini et al, 2024, *The AdEMAMix Optimizer: Better, Faster, Older*.
#[optimizer(
    fuse(scale_by_ademamix, add_decayed_weights, scale_by_learning_rate),
    doc_trace(
        solver = ademamix(0.02),
        printed = "1.38E+01 1.35E+01 1.33E+01 1.31E+01 1.28E+01",
    ),
)]
pub fn ademamix(
    learning_rate: _,
    b1: _,
    b2: _,
    b3: _,
    #[default(5.0)] alpha: _,
    eps: _,
    eps_root: _,
    mu_dtype: _,
    weight_decay: _,
    mask: _,
) {
}

/// Simplified AdEMAMix.
///
/// Simplified AdEMAMix is a simplified version of [`ademamix`] that needs a single
/// momentum buffer and no schedule for the mixing coefficient: the momentum is
/// accumulated as `m = g + b1 * m`, and the step is `m + alpha * g` over the root of
/// Adam's bias-corrected second moment, plus the weight decay `weight_decay * p` (on the
/// leaves `mask` selects), scaled by the learning rate. With `alpha = 0` it recovers
/// Adam, under appropriate transformations of the learning rate and `b1`. The weight
/// decay is multiplied by the learning rate, as in PyTorch.
///
/// References: Morwani et al, 2025, *Connections between Schedule-Free Optimizers,
/// AdEMAMix, and Accelerated SGD Variants*.
#[optimizer(
    fuse(
        scale_by_simplified_ademamix,
        add_decayed_weights,
        scale_by_learning_rate,
    ),
    doc_trace(
        solver = simplified_ademamix(0.02),
        printed = "1.38E+01 1.33E+01 1.26E+01 1.17E+01 1.07E+01",
    ),
)]
pub fn simplified_ademamix(
    learning_rate: _,
    b1: _,
    b2: _,
    alpha: _,
    eps: _,
    eps_root: _,
    weight_decay: _,
    mask: _,
) {
}
