//! The Adam family.

use crate::{optimizer, LearningRate, Mask};

/// The Adam optimizer.
///
/// Adam is an SGD variant with gradient scaling adaptation: each parameter's step is scaled
/// by estimates of the first and second moments of its gradients, kept as exponential
/// moving averages with bias correction. With `nesterov`, it uses Nesterov momentum
/// (equivalent to [`nadam`]).
///
/// References: Kingma et al, 2014, *Adam: A Method for Stochastic Optimization*;
/// Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(primitive = scale_by_adam)]
pub fn adam(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    b1: f64,
    /// Exponential decay rate of the second moment.
    #[default(0.999)]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-8)]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    eps_root: f64,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// First moment.
    #[state(dtype = mu_dtype)]
    mu: State,
    /// Second moment.
    #[state]
    nu: State,
) {
    let bc1 = 1.0 - b1.powf(t);
    let bc1_next = 1.0 - b1.powf(t + 1.0);
    let bc2 = 1.0 - b2.powf(t);
    each(|g| {
        mu = (1.0 - b1) * g + b1 * mu;
        nu = (1.0 - b2) * (g * g) + b2 * nu;
        let m_hat = if nesterov {
            b1 * mu / bc1_next + (1.0 - b1) * g / bc1
        } else {
            mu / bc1
        };
        m_hat / ((nu / bc2 + eps_root).sqrt() + eps)
    })
}

/// Adam with decoupled weight decay (AdamW).
///
/// The weight decay `weight_decay * p` is added to Adam's direction before the learning
/// rate scales it, on the leaves `mask` selects.
///
/// References: Loshchilov et al, 2019, *Decoupled Weight Decay Regularization*.
#[optimizer]
pub fn adamw(
    /// A global scaling factor, constant or scheduled.
    learning_rate: LearningRate,
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    b1: f64,
    /// Exponential decay rate of the second moment.
    #[default(0.999)]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-8)]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    eps_root: f64,
    /// Strength of the weight decay.
    #[default(1e-4)]
    weight_decay: f64,
    /// The leaves weight decay applies to.
    mask: Mask,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// First moment.
    #[state(dtype = mu_dtype)]
    mu: State,
    /// Second moment.
    #[state]
    nu: State,
) {
    let bc1 = 1.0 - b1.powf(t);
    let bc1_next = 1.0 - b1.powf(t + 1.0);
    let bc2 = 1.0 - b2.powf(t);
    each(|g, p| {
        mu = (1.0 - b1) * g + b1 * mu;
        nu = (1.0 - b2) * (g * g) + b2 * nu;
        let m_hat = if nesterov {
            b1 * mu / bc1_next + (1.0 - b1) * g / bc1
        } else {
            mu / bc1
        };
        let d = m_hat / ((nu / bc2 + eps_root).sqrt() + eps);
        if mask {
            d + weight_decay * p
        } else {
            d
        }
    })
}

crate::family! {
    "adam" => Adam,
    "adamw" => Adamw,
}
