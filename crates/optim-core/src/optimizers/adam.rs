//! The Adam family: Adam and AdamW, their Nesterov variants NAdam and NAdamW, AdaMax and
//! AdaMaxW, AMSGrad, AdaBelief, RAdam and Yogi, each a fused composition of its primitive
//! ([`primitives::moments`](crate::primitives::moments)), the decoupled weight decay where it has
//! one, and the learning rate, as in optax's `alias.py`.

use crate::{
    add_decayed_weights, optimizer, scale_by_adam, scale_by_adamax, scale_by_amsgrad,
    scale_by_belief, scale_by_learning_rate, scale_by_radam, scale_by_yogi,
};

/// The Adam optimizer.
///
/// Adam is an SGD variant with gradient scaling adaptation: each parameter's step is scaled
/// by estimates of the first and second moments of its gradients, kept as exponential
/// moving averages with bias correction. With `nesterov`, it uses Nesterov momentum
/// (equivalent to [`nadam`]).
///
/// `mu_dtype` and `nu_dtype` set how the two moments are stored (the arithmetic stays in
/// the params' dtype). optax has `mu_dtype` only; with both at bfloat16 an f32 step moves
/// 20 bytes per element instead of 28.
///
/// References: Kingma et al, 2014, *Adam: A Method for Stochastic Optimization*;
/// Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(
    fuse(scale_by_adam, scale_by_learning_rate),
    doc_trace(
        solver = adam(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adam(
    learning_rate: _,
    b1: _,
    b2: _,
    eps: _,
    eps_root: _,
    mu_dtype: _,
    nu_dtype: _,
    nesterov: _,
) {
}

/// The NAdam optimizer.
///
/// NAdam is [`adam`] with Nesterov momentum: the bias-corrected first moment is replaced
/// by a look-ahead mixing the next step's momentum with the current gradient. It is
/// [`adam`] with `nesterov` on by default, as in optax.
///
/// References: Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(
    partial(adam, nesterov = true),
    doc_trace(
        solver = nadam(0.003),
        printed = "1.39E+01 1.39E+01 1.39E+01 1.38E+01 1.38E+01",
    ),
)]
pub fn nadam() {}

/// Adam with decoupled weight decay (AdamW).
///
/// The weight decay `weight_decay * p` is added to Adam's direction before the learning
/// rate scales it, on the leaves `mask` selects. With `nesterov`, it uses Nesterov
/// momentum (equivalent to [`nadamw`]).
///
/// References: Loshchilov et al, 2019, *Decoupled Weight Decay Regularization*;
/// Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(
    fuse(scale_by_adam, add_decayed_weights, scale_by_learning_rate),
    doc_trace(
        solver = adamw(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adamw(
    learning_rate: _,
    b1: _,
    b2: _,
    eps: _,
    eps_root: _,
    mu_dtype: _,
    nu_dtype: _,
    #[default(1e-4)] weight_decay: _,
    mask: _,
    nesterov: _,
) {
}

/// The NAdamW optimizer: NAdam with decoupled weight decay.
///
/// NAdamW is [`adamw`] with Nesterov momentum: the bias-corrected first moment is
/// replaced by a look-ahead mixing the next step's momentum with the current gradient.
/// It is [`adamw`] with `nesterov` on by default, as in optax.
///
/// References: Loshchilov et al, 2019, *Decoupled Weight Decay Regularization*;
/// Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(
    partial(adamw, nesterov = true),
    doc_trace(
        solver = nadamw(0.003),
        printed = "1.39E+01 1.39E+01 1.39E+01 1.38E+01 1.38E+01",
    ),
)]
pub fn nadamw() {}

/// A variant of the Adam optimizer that uses the infinity norm (AdaMax).
///
/// AdaMax generalizes Adam's L2 norm of past gradients to an Lp norm and takes the limit
/// as p goes to infinity: the second moment becomes an exponentially weighted maximum of
/// gradient magnitudes, which needs no bias correction.
///
/// References: Kingma et al, 2014, *Adam: A Method for Stochastic Optimization*.
#[optimizer(
    fuse(scale_by_adamax, scale_by_learning_rate),
    doc_trace(
        solver = adamax(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adamax(learning_rate: _, b1: _, b2: _, eps: _) {}

/// AdaMax with decoupled weight decay (AdaMaxW).
///
/// The weight decay `weight_decay * p` is added to AdaMax's direction before the learning
/// rate scales it, on the leaves `mask` selects: it regularizes towards small weights,
/// which L2 regularization of the loss fails to do for adaptive methods.
///
/// References: Loshchilov et al, 2019, *Decoupled Weight Decay Regularization*.
#[optimizer(
    fuse(scale_by_adamax, add_decayed_weights, scale_by_learning_rate),
    doc_trace(
        solver = adamaxw(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adamaxw(learning_rate: _, b1: _, b2: _, eps: _, #[default(1e-4)] weight_decay: _, mask: _) {}

/// The AMSGrad optimizer.
///
/// Adam can fail to converge to the optimum in some cases. AMSGrad guarantees
/// convergence by dividing by the running maximum of the (bias-corrected) second moment,
/// a long-term memory of past gradients, instead of the second moment itself.
///
/// References: Reddi et al, 2018, *On the Convergence of Adam and Beyond*.
#[optimizer(
    fuse(scale_by_amsgrad, scale_by_learning_rate),
    doc_trace(
        solver = amsgrad(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn amsgrad(
    learning_rate: _,
    b1: _,
    b2: _,
    eps: _,
    eps_root: _,
    mu_dtype: _,
    bias_correction_mu: _,
    bias_correction_nu: _,
) {
}

/// The AdaBelief optimizer.
///
/// AdaBelief is Adam with the second moment replaced by the variance of the gradient
/// around its prediction (the first moment): it takes large steps when the observed
/// gradient matches the "belief" and small ones when it deviates, for fast convergence,
/// generalization and stability.
///
/// References: Zhuang et al, 2020, *AdaBelief Optimizer: Adapting Stepsizes by the
/// Belief in Observed Gradients*.
#[optimizer(
    fuse(scale_by_belief, scale_by_learning_rate),
    doc_trace(
        solver = adabelief(0.003),
        printed = "1.40E+01 1.39E+01 1.39E+01 1.38E+01 1.38E+01",
    ),
)]
pub fn adabelief(learning_rate: _, b1: _, b2: _, eps: _, eps_root: _, nesterov: _) {}

/// The Rectified Adam optimizer (RAdam).
///
/// Adam's adaptive learning rate has an undesirably large variance in the first steps,
/// when its statistics rest on few gradients. RAdam rectifies it analytically: while the
/// variance is intractable (`rho < threshold`) it takes plain momentum steps, and then
/// scales Adam's step by the rectification factor `r`.
///
/// References: Liu et al, 2020, *On the Variance of the Adaptive Learning Rate and
/// Beyond*.
#[optimizer(
    fuse(scale_by_radam, scale_by_learning_rate),
    doc_trace(
        solver = radam(0.003),
        printed = "1.38E+01 1.37E+01 1.35E+01 1.33E+01 1.32E+01",
    ),
)]
pub fn radam(learning_rate: _, b1: _, b2: _, eps: _, eps_root: _, threshold: _, nesterov: _) {}

/// The Yogi optimizer.
///
/// Yogi is a modification of Adam that controls the growth of the effective learning
/// rate: the second moment moves towards the squared gradient by an additive step of
/// fixed size rather than multiplicatively, which addresses convergence and
/// generalization issues of exponential moving average methods such as Adam and RMSProp.
/// optax's `yogi` fixes `eps_root` and `initial_accumulator_value` at their defaults;
/// here they can be set, as in optax's `scale_by_yogi`.
///
/// References: Zaheer et al, 2018, *Adaptive Methods for Nonconvex Optimization*.
#[optimizer(
    fuse(scale_by_yogi, scale_by_learning_rate),
    doc_trace(
        solver = yogi(0.002),
        printed = "1.40E+01 1.40E+01 1.39E+01 1.39E+01 1.39E+01",
    ),
)]
pub fn yogi(learning_rate: _, b1: _, b2: _, eps: _, eps_root: _, initial_accumulator_value: _) {}
