//! The COCOB optimizer of optax.contrib: the weight decay, the learning rate (without a
//! sign flip) and the coin betting of
//! [`primitives::coin_betting`](crate::primitives::coin_betting), fused.

use crate::{add_decayed_weights, optimizer, scale_by_cocob, scale_by_learning_rate};

/// Continuous Coin Betting (COCOB) optimizer.
///
/// COCOB is a learning-rate free method: each coordinate bets on the sign of the next
/// negative gradient with a fraction of the wealth (the reward `R` plus the largest
/// gradient magnitude `L`) won so far, and moves to
/// `x_0 + C / (L · max(G + L, alpha·L)) · (L + R)`, with `C` the sum of negative
/// gradients and `G` the sum of their magnitudes. The gradients are first weight-decayed
/// (on the leaves `mask` selects) and multiplied by `learning_rate` (no sign flip).
///
/// References: Orabona and Tommasi, 2017, *Training Deep Networks without Learning Rates
/// Through Coin Betting*.
#[optimizer(
    fuse(
        add_decayed_weights,
        scale_by_learning_rate(flip_sign = false),
        scale_by_cocob,
    ),
    doc_trace(
        solver = cocob(),
        printed = "1.39E+01 1.38E+01 1.36E+01 1.35E+01 1.34E+01",
    ),
)]
pub fn cocob(
    /// Multiplies the (weight-decayed) gradients, constant or scheduled.
    #[default(1.0)]
    learning_rate: _,
    alpha: _,
    eps: _,
    weight_decay: _,
    mask: _,
) {
}
