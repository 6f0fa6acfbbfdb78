//! NovoGrad and its learning-rate-free transformation `scale_by_novograd`.
//!
//! NovoGrad's second moment is one scalar per leaf, the running average of the leaf's
//! squared gradient norm: a `leaf_sum` followed by a per-leaf state update.

use crate::{optimizer, LearningRate};

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
    primitive = scale_by_novograd(eps = 1e-8),
    doc_trace(
        solver = novograd(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.38E+01 1.37E+01",
    ),
)]
pub fn novograd(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Decay rate of the first moment.
    #[default(0.9)]
    b1: f64,
    /// Exponential decay rate of the per-leaf second moment.
    #[default(0.25)]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-6)]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    eps_root: f64,
    /// Strength of the weight decay.
    #[default(0.0)]
    weight_decay: f64,
    /// First moment.
    #[state]
    mu: State,
    /// Second moment: one scalar per leaf.
    #[state(leaf)]
    nu: State,
) {
    let first = t == 1.0;
    let g_sq = leaf_sum(|g| g * g);
    nu = if first {
        g_sq
    } else {
        (1.0 - b2) * g_sq + b2 * nu
    };
    let denom = (nu + eps_root).sqrt() + eps;
    each(|g, p| {
        let a = g / denom + weight_decay * p;
        mu = select(first, a, b1 * mu + a);
        mu
    })
}
