//! The trust-ratio family: LAMB, LARS and Fromage, each scaling a leaf's update by a ratio
//! of norms with [`scale_by_trust_ratio`], fused with the
//! stages around it as in optax's `alias.py`.

use crate::{
    add_decayed_weights, optimizer, scale_by_adam, scale_by_learning_rate, scale_by_trust_ratio,
    trace, LearningRate, Mask,
};

/// The LAMB optimizer.
///
/// LAMB is a layer-wise adaptive large-batch optimizer: Adam's direction, plus decoupled
/// weight decay on the leaves `mask` selects, rescaled per leaf by the trust ratio
/// `‖p‖ / ‖u‖` (1 when either norm is zero) before the learning rate applies. The weight
/// decay is added before the trust ratio is taken.
///
/// References: You et al, 2019, *Large Batch Optimization for Deep Learning: Training
/// BERT in 76 minutes*.
#[optimizer(
    fuse(
        scale_by_adam,
        add_decayed_weights,
        scale_by_trust_ratio(eps = 0.0),
        scale_by_learning_rate,
    ),
    doc_trace(
        solver = lamb(0.003),
        printed = "1.39E+01 1.38E+01 1.38E+01 1.37E+01 1.36E+01",
    ),
)]
pub fn lamb(
    learning_rate: _,
    b1: _,
    b2: _,
    #[default(1e-6)] eps: _,
    eps_root: _,
    weight_decay: _,
    mask: _,
) {
}

/// The LARS optimizer.
///
/// LARS is layer-wise adaptive SGD with momentum: the gradient plus weight decay (on the
/// leaves `weight_decay_mask` selects) is rescaled per leaf by the trust ratio
/// `trust_coefficient * ‖p‖ / (‖u‖ + eps)` (on the leaves `trust_ratio_mask` selects; 1
/// when either norm is zero), scaled by the learning rate, and accumulated in a momentum
/// trace. Both masks default to all leaves.
///
/// References: You et al, 2017, *Large Batch Training of Convolutional Networks*.
#[optimizer(
    fuse(
        add_decayed_weights(mask = weight_decay_mask),
        masked(scale_by_trust_ratio, trust_ratio_mask),
        scale_by_learning_rate,
        trace(decay = momentum),
    ),
    doc_trace(
        solver = lars(0.003),
        printed = "1.40E+01 1.40E+01 1.40E+01 1.40E+01 1.40E+01",
    ),
)]
pub fn lars(
    learning_rate: _,
    weight_decay: _,
    /// The leaves weight decay applies to.
    weight_decay_mask: _,
    /// Multiplies the trust ratio.
    #[default(0.001)]
    trust_coefficient: _,
    /// Added to the update norm in the trust ratio's denominator.
    eps: _,
    /// The leaves the trust ratio applies to.
    trust_ratio_mask: Mask,
    /// Decay rate of the momentum trace.
    #[default(0.9)]
    momentum: _,
    nesterov: _,
) {
}

/// The Fromage optimizer (Frobenius matched gradient descent).
///
/// Each leaf's gradient is rescaled by the trust ratio `‖p‖ / ‖g‖` (norms below
/// `min_norm` count as `min_norm`), scaled by `learning_rate / √(1 + learning_rate²)`,
/// and the params shrink by the factor `1 / √(1 + learning_rate²)`, which keeps their
/// norm from growing.
///
/// References: Bernstein et al, 2020, *On the distance between two neural networks and
/// the stability of learning*.
#[optimizer(
    fuse(
        scale_by_trust_ratio,
        scale_by_learning_rate(learning_rate = learning_rate * mult),
        add_decayed_weights(weight_decay = mult - 1.0),
    ),
    doc_trace(
        solver = fromage(0.003),
        printed = "1.39E+01 1.38E+01 1.37E+01 1.37E+01 1.36E+01",
    ),
)]
pub fn fromage(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Norms below this value count as this value in the trust ratio.
    #[default(1e-6)]
    min_norm: _,
) {
    let mult = 1.0 / (1.0 + learning_rate * learning_rate).sqrt();
}
