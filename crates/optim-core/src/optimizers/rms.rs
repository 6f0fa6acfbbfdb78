//! The rms family: optimizers that rescale the gradient by a running magnitude of past
//! gradients (RMSProp, Adagrad, Adadelta), each a fused composition of the primitives in
//! [`primitives::magnitude`](crate::primitives::magnitude), as in optax's `alias.py`.

use crate::{
    add_decayed_weights, optimizer, scale_by_adadelta, scale_by_learning_rate, scale_by_rms,
    scale_by_rss, scale_by_stddev, trace, LearningRate,
};

/// A flexible RMSProp optimizer.
///
/// RMSProp is an SGD variant with learning rate adaptation: each parameter's step is
/// scaled by an exponential moving average of the magnitude of its past gradients. This
/// alias switches between the variants found in the literature: `centered` divides by an
/// estimate of the variance instead of the second moment, `eps_in_sqrt = false` adds `eps`
/// outside the square root (as PyTorch does), `bias_correction` debiases the moving
/// averages, and `momentum` adds a trace of the (learning-rate scaled) updates, optionally
/// with Nesterov acceleration. optax's default (`eps_in_sqrt = true`) uses
/// `sqrt(nu + eps)` in the denominator, where PyTorch uses `sqrt(nu) + eps`.
///
/// References: Hinton, 2012, *Overview of mini-batch gradient descent*; Graves, 2013,
/// *Generating Sequences With Recurrent Neural Networks*; Ziyin, 2021, *LaProp:
/// Separating Momentum and Adaptivity in Adam*.
#[optimizer(
    fuse(
        when(centered, scale_by_stddev, scale_by_rms),
        scale_by_learning_rate,
        when(momentum.is_some(), trace(decay = momentum.unwrap_or(0.0))),
    ),
    doc_trace(
        solver = rmsprop(0.003),
        printed = "1.39E+01 1.38E+01 1.37E+01 1.37E+01 1.36E+01",
    ),
)]
pub fn rmsprop(
    learning_rate: _,
    decay: _,
    eps: _,
    initial_scale: _,
    eps_in_sqrt: _,
    /// Whether to rescale by the variance (centered) instead of the second moment.
    #[default(false)]
    centered: bool,
    /// Decay rate of the momentum trace; `None` disables momentum (and its memory).
    momentum: Option<f64>,
    nesterov: _,
    bias_correction: _,
) {
}

/// The Adagrad optimizer.
///
/// Adagrad anneals the learning rate of each parameter individually: the gradient is
/// divided by the root of the sum of all its squares to date. Its main limit is that
/// monotonic accumulation: since all terms are positive, the sum keeps growing during
/// training and the effective learning rate eventually becomes vanishingly small.
///
/// References: Duchi et al, 2011, *Adaptive Subgradient Methods for Online Learning and
/// Stochastic Optimization*.
#[optimizer(
    fuse(scale_by_rss, scale_by_learning_rate),
    doc_trace(
        solver = adagrad(1.0),
        printed = "5.01E+00 2.40E+00 1.25E+00 6.86E-01 3.85E-01",
    ),
)]
pub fn adagrad(learning_rate: _, initial_accumulator_value: _, eps: _) {}

/// The Adadelta optimizer.
///
/// Adadelta adapts learning rates from a moving window of gradient updates: the gradient
/// is scaled by the ratio of the root mean squares of past updates and of past gradients,
/// so it needs no learning rate; a modification of Adagrad. The optional weight decay
/// `weight_decay * p` is added to the gradient before the rescaling, on the leaves
/// `weight_decay_mask` selects. Without a learning rate the step is the unscaled descent
/// direction (lr = 1), where optax 0.2.8 would skip its sign flip and ascend.
///
/// References: Zeiler, 2012, *ADADELTA: An Adaptive Learning Rate Method*.
#[optimizer(
    fuse(
        add_decayed_weights(mask = weight_decay_mask),
        scale_by_adadelta,
        scale_by_learning_rate(learning_rate = learning_rate.unwrap_or(1.0)),
    ),
    doc_trace(
        solver = adadelta().learning_rate(10.0),
        printed = "1.36E+01 1.32E+01 1.29E+01 1.25E+01 1.21E+01",
    ),
)]
pub fn adadelta(
    /// A global scaling factor, constant or scheduled; `None` means 1.
    learning_rate: Option<LearningRate>,
    rho: _,
    eps: _,
    /// Rate of the weight decay added to the gradient.
    weight_decay: _,
    /// The leaves weight decay applies to.
    weight_decay_mask: _,
) {
}
