//! The trust-ratio family: LAMB, LARS and Fromage, and their shared primitive
//! `scale_by_trust_ratio`.
//!
//! Each scales a leaf's update by a ratio of norms (`‖params‖ / ‖update‖`), so each needs
//! a per-leaf reduction before its element pass: a `leaf_sum` in the declaration. The
//! reduction reads the state but does not write it; the element pass then updates the
//! state and writes the update. Each element is read twice and written once per step.

use crate::{optimizer, LearningRate, Mask, ScalarOrSchedule};

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
    doc_trace(
        solver = lamb(0.003),
        printed = "1.39E+01 1.38E+01 1.38E+01 1.37E+01 1.36E+01",
    ),
)]
pub fn lamb(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    b1: f64,
    /// Exponential decay rate of the second moment.
    #[default(0.999)]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-6)]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    eps_root: f64,
    /// Strength of the weight decay, constant or scheduled.
    #[default(0.0)]
    weight_decay: ScalarOrSchedule,
    /// The leaves weight decay applies to.
    mask: Mask,
    /// First moment.
    #[state]
    mu: State,
    /// Second moment.
    #[state]
    nu: State,
) {
    let one_minus_b1 = 1.0 - b1;
    let one_minus_b2 = 1.0 - b2;
    let bc1 = 1.0 - b1.powf(t);
    let bc2 = 1.0 - b2.powf(t);
    // Adam's moments, and its direction with the decayed weights: both passes use them.
    let moments = |g, mu, nu| (one_minus_b1 * g + b1 * mu, one_minus_b2 * (g * g) + b2 * nu);
    let direction = |p, mu, nu, decay: bool| {
        let u = (mu / bc1) / ((nu / bc2 + eps_root).sqrt() + eps);
        select(decay, u + weight_decay * p, u)
    };
    let (u_sq, p_sq) = leaf_sum(|g, p| {
        let (m, v) = moments(g, mu, nu);
        let u = direction(p, m, v, mask);
        (u * u, p * p)
    });
    let ratio = trust_ratio(p_sq.sqrt(), u_sq.sqrt(), 1.0, 0.0);
    each(|g, p| {
        (mu, nu) = moments(g, mu, nu);
        direction(p, mu, nu, mask) * ratio
    })
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
    unscaled,
    doc_trace(
        solver = lars(0.003),
        printed = "1.40E+01 1.40E+01 1.40E+01 1.40E+01 1.40E+01",
    ),
)]
pub fn lars(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Strength of the weight decay, constant or scheduled.
    #[default(0.0)]
    weight_decay: ScalarOrSchedule,
    /// The leaves weight decay applies to.
    weight_decay_mask: Mask,
    /// Multiplies the trust ratio.
    #[default(0.001)]
    trust_coefficient: f64,
    /// Added to the update norm in the trust ratio's denominator.
    #[default(0.0)]
    eps: f64,
    /// The leaves the trust ratio applies to.
    trust_ratio_mask: Mask,
    /// Decay rate of the momentum trace.
    #[default(0.9)]
    momentum: f64,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// Momentum trace (of learning-rate-scaled updates).
    #[state]
    trace: State,
) {
    let decayed = |g, p, decay: bool| select(decay, g + weight_decay * p, g);
    let (u_sq, p_sq) = leaf_sum(|g, p| {
        let u = decayed(g, p, weight_decay_mask);
        (u * u, p * p)
    });
    let ratio = if trust_ratio_mask {
        trust_ratio(p_sq.sqrt(), u_sq.sqrt(), trust_coefficient, eps)
    } else {
        1.0
    };
    each(|g, p| {
        let u = -learning_rate * (decayed(g, p, weight_decay_mask) * ratio);
        trace = u + momentum * trace;
        select(nesterov, u + momentum * trace, trace)
    })
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
    unscaled,
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
    min_norm: f64,
) {
    let mult = 1.0 / (1.0 + learning_rate * learning_rate).sqrt();
    let step = -(learning_rate * mult);
    let shrink = mult - 1.0;
    let (g_sq, p_sq) = leaf_sum(|g, p| (g * g, p * p));
    let ratio = trust_ratio(
        safe_norm(p_sq, min_norm),
        safe_norm(g_sq, min_norm),
        1.0,
        0.0,
    );
    each(|g, p| (g * ratio) * step + shrink * p)
}

/// Scales each leaf's update by its trust ratio `trust_coefficient * ‖p‖ / (‖u‖ + eps)`
/// (norms below `min_norm` count as `min_norm`; the ratio is 1 when either norm is zero),
/// optax's `scale_by_trust_ratio`.
///
/// References: You et al, 2019, *Large Batch Optimization for Deep Learning*.
#[optimizer(unscaled)]
pub fn scale_by_trust_ratio(
    /// Norms below this value count as this value.
    #[default(0.0)]
    min_norm: f64,
    /// Multiplies the trust ratio.
    #[default(1.0)]
    trust_coefficient: f64,
    /// Added to the update norm in the denominator.
    #[default(0.0)]
    eps: f64,
) {
    let (u_sq, p_sq) = leaf_sum(|g, p| (g * g, p * p));
    let ratio = trust_ratio(
        safe_norm(p_sq, min_norm),
        safe_norm(u_sq, min_norm),
        trust_coefficient,
        eps,
    );
    each(|g| g * ratio)
}
