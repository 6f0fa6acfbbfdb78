//! The ACProp optimizer (optax.contrib): [`scale_by_acprop`], the
//! decoupled weight decay and the learning rate, fused.

use crate::{add_decayed_weights, optimizer, scale_by_acprop, scale_by_learning_rate};

/// The ACProp optimizer.
///
/// ACProp is an adaptive optimizer that combines centering of the second moment (as
/// AdaBelief) with an asynchronous update: for the update at step `t`, the denominator
/// uses information up to step `t - 1`, while the numerator is the gradient at step `t`.
/// The step is `g` over the root of the previous bias-corrected second central moment
/// `s` (1 on the first step), where `s` averages `(g - m)²` (`m` the previous first
/// moment) plus `eps_root`; the weight decay `weight_decay * p` is added (on the leaves
/// `mask` selects) before the learning rate scales it. This follows the original
/// PyTorch implementation. The weight decay is multiplied by the learning rate, as in
/// PyTorch, unlike Loshchilov et al, 2019, where only the schedule multiplier scales it.
///
/// References: Zhuang et al, 2021, *Momentum Centering and Asynchronous Update for
/// Adaptive Gradient Methods*.
#[optimizer(
    fuse(scale_by_acprop, add_decayed_weights, scale_by_learning_rate),
    doc_trace(
        solver = acprop(0.02),
        printed = "1.29E+01 1.27E+01 1.25E+01 1.22E+01 1.20E+01",
    ),
)]
pub fn acprop(learning_rate: _, b1: _, b2: _, eps: _, eps_root: _, weight_decay: _, mask: _) {}
