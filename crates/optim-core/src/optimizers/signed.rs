//! Sign descent: SignSGD and Signum, fused compositions of
//! [`scale_by_sign`] (after an [`ema`] for Signum) and
//! the learning rate, as in optax's `alias.py`.

use crate::{ema, optimizer, scale_by_learning_rate, scale_by_sign};

/// A variant of SGD using only the signs of the gradient components (SignSGD).
///
/// SignSGD uses the signs of the gradient components in the update, not their values:
/// the update is `-learning_rate * sign(g)`. SGD variants that use only the signs of
/// the gradient have historically been used since Rprop, with modern forms including
/// RMSProp, Adam and Lion. Taking only the signs allows significant gradient
/// compression, substantially reducing the bottleneck of communicating gradients when
/// learning is distributed across many workers.
///
/// References: Bernstein et al, 2018, *signSGD: Compressed Optimisation for Non-Convex
/// Problems*; Balles et al, 2020, *The Geometry of Sign Gradient Descent*.
#[optimizer(
    fuse(scale_by_sign, scale_by_learning_rate),
    doc_trace(
        solver = sign_sgd(0.01),
        printed = "1.39E+01 1.38E+01 1.36E+01 1.35E+01 1.34E+01",
    ),
)]
pub fn sign_sgd(learning_rate: _) {}

/// A variant of SGD using the signs of an EMA of the gradient (Signum).
///
/// The update is `-learning_rate * sign(m)`, with `m = beta * m + (1 - beta) * g` an
/// exponential moving average of the gradients. The average is not debiased, since only
/// its sign is taken.
///
/// References: Bernstein et al, 2018, *signSGD: Compressed Optimisation for Non-Convex
/// Problems*; Zhao et al, 2024, *Deconstructing What Makes a Good Optimizer for Language
/// Models*.
#[optimizer(
    fuse(
        ema(decay = beta, debias = false),
        scale_by_sign,
        scale_by_learning_rate,
    ),
    doc_trace(
        solver = signum(0.01),
        printed = "1.39E+01 1.38E+01 1.36E+01 1.35E+01 1.34E+01",
    ),
)]
pub fn signum(
    learning_rate: _,
    /// Exponential moving average decay rate.
    #[default(0.9)]
    beta: _,
    accumulator_dtype: _,
) {
}
