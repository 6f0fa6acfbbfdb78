//! The Lion optimizer: [`scale_by_lion`], the decoupled weight decay
//! and the learning rate, fused.

use crate::{add_decayed_weights, optimizer, scale_by_learning_rate, scale_by_lion};

/// The Lion optimizer.
///
/// Lion was discovered by symbolic program search. Unlike most adaptive optimizers such
/// as AdamW, it only tracks momentum, which makes it more memory-efficient. Its update is
/// the sign of an interpolation between the momentum and the current gradient, so it has
/// a larger norm than the updates of SGD or AdamW: a suitable learning rate is typically
/// 3-10x smaller than AdamW's, and the weight decay 3-10x larger, for a similar
/// `learning_rate * weight_decay`.
///
/// References: Chen et al, 2023, *Symbolic Discovery of Optimization Algorithms*.
#[optimizer(
    fuse(scale_by_lion, add_decayed_weights, scale_by_learning_rate),
    doc_trace(
        solver = lion(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn lion(
    learning_rate: _,
    b1: _,
    b2: _,
    mu_dtype: _,
    #[default(1e-3)] weight_decay: _,
    mask: _,
) {
}
