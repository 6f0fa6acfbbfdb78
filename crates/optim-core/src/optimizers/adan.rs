//! The Adan optimizer: [`scale_by_adan`], the decoupled weight
//! decay and the learning rate, fused, as in optax's `alias.py`.

use crate::{add_decayed_weights, optimizer, scale_by_adan, scale_by_learning_rate};

/// The ADAptive Nesterov momentum algorithm (Adan).
///
/// Adan first reformulates the vanilla Nesterov acceleration to develop a new Nesterov
/// momentum estimation (NME) method, which avoids the extra overhead of computing the
/// gradient at the extrapolation point. It then adopts NME to estimate the gradient's
/// first- and second-order moments in adaptive gradient algorithms, for faster
/// convergence. It keeps three exponentially weighted averages: of the gradients (decay
/// `b1`), of the differences of consecutive gradients (`b2`), and of the squared
/// look-ahead gradient `g + (1 - b2) * (g - g_prev)` (`b3`); the step is the
/// bias-corrected first plus `1 - b2` times the bias-corrected second, over the root of
/// the bias-corrected third. As in optax, the weight decay `weight_decay * p` is added to
/// that direction before the learning rate scales it (on the leaves `mask` selects), and
/// optax's alias uses `eps_root = 1e-8`, where `scale_by_adan` defaults to 0.
///
/// References: Xie et al, 2022, *Adan: Adaptive Nesterov Momentum Algorithm for Faster
/// Optimizing Deep Models*.
#[optimizer(
    fuse(scale_by_adan, add_decayed_weights, scale_by_learning_rate),
    doc_trace(
        solver = adan(0.02),
        printed = "1.38E+01 1.35E+01 1.33E+01 1.31E+01 1.28E+01",
    ),
)]
pub fn adan(
    learning_rate: _,
    b1: _,
    b2: _,
    b3: _,
    eps: _,
    #[default(1e-8)] eps_root: _,
    weight_decay: _,
    mask: _,
) {
}
