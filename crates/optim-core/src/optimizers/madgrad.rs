//! The MADGRAD optimizer (optax.contrib): the weight decay, then
//! [`scale_by_madgrad`], fused.

use crate::{add_decayed_weights, optimizer, scale_by_madgrad};

/// The MADGRAD optimizer.
///
/// MADGRAD (Momentumized, Adaptive, Dual averaged GRADient) is a general purpose
/// optimizer that matches the performance of SGD with momentum on vision tasks and of
/// Adam on NLP tasks. It is a dual-averaging method: it keeps sums of the gradients and
/// of their squares since the start, weighted by `(learning_rate + eps) * sqrt(t)`, and
/// moves the params with momentum towards the point
/// `x0 - s / (cbrt(grad_sum_sq) + eps)`, with `x0` the initial params. The weight decay
/// `weight_decay * p` (L2) is added to every gradient first.
///
/// References: Defazio et al, 2021, *Adaptivity without Compromise: A Momentumized,
/// Adaptive, Dual Averaged Gradient Method for Stochastic Optimization*.
#[optimizer(
    fuse(add_decayed_weights, scale_by_madgrad),
    doc_trace(
        solver = madgrad(0.02),
        printed = "1.39E+01 1.36E+01 1.33E+01 1.29E+01 1.24E+01",
    ),
)]
pub fn madgrad(
    learning_rate: _,
    momentum: _,
    /// Strength of the weight decay regularization (L2).
    weight_decay: _,
    eps: _,
) {
}
