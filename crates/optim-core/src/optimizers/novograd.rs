//! NovoGrad: [`scale_by_novograd`] and the learning rate, fused.

use crate::{optimizer, scale_by_learning_rate, scale_by_novograd};

/// The NovoGrad optimizer.
///
/// NovoGrad keeps a per-leaf second moment: an exponential moving average of the squared
/// norm of each leaf's gradient (on the first step, the squared norm itself). The
/// gradient, normalized by it, plus weight decay, accumulates in a momentum (on the first
/// step, the normalized gradient itself).
///
/// References: Ginsburg et al, 2019, *Stochastic Gradient Methods with Layer-wise
/// Adaptive Moments for Training of Deep Networks*.
#[optimizer(
    fuse(scale_by_novograd, scale_by_learning_rate),
    doc_trace(
        solver = novograd(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.38E+01 1.37E+01",
    ),
)]
pub fn novograd(
    learning_rate: _,
    b1: _,
    b2: _,
    /// Added to the denominator outside the square root.
    #[default(1e-6)]
    eps: _,
    eps_root: _,
    weight_decay: _,
) {
}
