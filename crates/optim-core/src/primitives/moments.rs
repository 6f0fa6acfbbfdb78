//! Moment estimates: Adam's moments and their variants (AdaMax, AMSGrad, AdaBelief, RAdam,
//! Yogi), and NovoGrad's per-leaf second moment. The optimizers built from them are in
//! [`optimizers::adam`](mod@crate::optimizers::adam) and
//! [`optimizers::novograd`](mod@crate::optimizers::novograd).
//!
//! NovoGrad's second moment is one scalar per leaf, the running average of the leaf's
//! squared gradient norm: a `leaf_sum` followed by a per-leaf state update.
//!
//! The declarations follow optax's order of operations so that float64 results agree with
//! it (the Adam, AdaBelief, RAdam and Yogi moments to within an ulp: they multiply by the
//! reciprocals of the bias corrections where optax divides, one division per element
//! instead of three, since the divider limits the element loop; see `dsl::debiased`). In
//! particular, `1 - b` is a per-step scalar computed in f64 (optax computes it in Python
//! before the element type sees it), and a bias correction applies to the moment itself
//! (`b1 * (mu * inv_bc1_next)`, not `(b1 * mu) * inv_bc1_next`).

use crate::optimizer;

/// Rescales updates by Adam's bias-corrected moment estimates (optax's `scale_by_adam`): the
/// first moment over the root of the second, optionally with Nesterov momentum. The math of
/// [`adam`](crate::adam), [`adamw`](crate::adamw), [`nadam`](crate::nadam), [`nadamw`](crate::nadamw)
/// and [`lamb`](crate::lamb).
///
/// The bias corrections apply to the moment itself (`b1 * (mu * inv_bc1_next)`, not
/// `(b1 * mu) * inv_bc1_next`) and `1 - b` is a per-step scalar in f64, as optax computes
/// them; the element code multiplies by the corrections' reciprocals where optax divides
/// (one division per element instead of three), so float64 results agree with optax to
/// within an ulp per operation.
///
/// References: Kingma et al, 2014, *Adam: A Method for Stochastic Optimization*;
/// Dozat, 2016, *Incorporating Nesterov Momentum into Adam*.
#[optimizer(unscaled)]
pub fn scale_by_adam(
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate of the second moment.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-8)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// First moment.
    #[state(dtype = mu_dtype)]
    mu: State,
    /// Second moment.
    #[state(dtype = nu_dtype)]
    nu: State,
) {
    let (one_minus_b1, one_minus_b2, inv_bc1, inv_bc1_next, inv_bc2) =
        bias_corrections(jax!(b1), jax!(b2), t);
    each(|g| {
        mu = moment(g, mu, one_minus_b1, b1);
        nu = moment(g * g, nu, one_minus_b2, b2);
        let m_hat = debiased(mu, g, b1, one_minus_b1, inv_bc1, inv_bc1_next, nesterov);
        m_hat / ((nu * inv_bc2 + eps_root).sqrt() + eps)
    })
}

/// Rescales updates by AdaMax's moments (optax's `scale_by_adamax`): the bias-corrected first
/// moment over an exponentially weighted infinity norm of past gradients.
///
/// References: Kingma et al, 2014, *Adam: A Method for Stochastic Optimization*.
#[optimizer(unscaled)]
pub fn scale_by_adamax(
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate of the maximum of past gradients.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Added to the gradient magnitude, to avoid dividing by zero.
    #[default(1e-8)]
    #[check(eps > 0.0)]
    eps: f64,
    /// First moment.
    #[state]
    mu: State,
    /// Exponentially weighted infinity norm.
    #[state]
    nu: State,
) {
    let one_minus_b1 = 1.0 - b1;
    let bc1 = bias_correction(jax!(b1), t);
    each(|g| {
        mu = moment(g, mu, one_minus_b1, b1);
        nu = maximum(g.abs() + eps, b2 * nu);
        mu / bc1 / nu
    })
}

/// Rescales updates by AMSGrad's moments (optax's `scale_by_amsgrad`): the first moment over
/// the root of the running maximum of the (bias-corrected) second moment.
///
/// References: Reddi et al, 2018, *On the Convergence of Adam and Beyond*.
#[optimizer(unscaled)]
pub fn scale_by_amsgrad(
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate of the second moment.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-8)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Added to the maximum of the second moment inside the square root.
    #[default(0.0)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// Whether to bias-correct the first moment (`false` matches the original paper).
    #[default(true)]
    bias_correction_mu: bool,
    /// Whether to bias-correct the second moment before taking the maximum (`false`
    /// matches the original paper).
    #[default(true)]
    bias_correction_nu: bool,
    /// First moment.
    #[state(dtype = mu_dtype)]
    mu: State,
    /// Second moment.
    #[state]
    nu: State,
    /// Running maximum of the (bias-corrected) second moment.
    #[state]
    nu_max: State,
) {
    let one_minus_b1 = 1.0 - b1;
    let one_minus_b2 = 1.0 - b2;
    let bc1 = if bias_correction_mu {
        bias_correction(jax!(b1), t)
    } else {
        1.0
    };
    let bc2 = if bias_correction_nu {
        bias_correction(jax!(b2), t)
    } else {
        1.0
    };
    each(|g| {
        mu = moment(g, mu, one_minus_b1, b1);
        nu = moment(g * g, nu, one_minus_b2, b2);
        nu_max = maximum(nu_max, nu / bc2);
        mu / bc1 / ((nu_max + eps_root).sqrt() + eps)
    })
}

/// Rescales updates by AdaBelief's moments (optax's `scale_by_belief`): the first moment over
/// the root of the second moment of the gradient's deviation from it.
///
/// References: Zhuang et al, 2020, *AdaBelief Optimizer: Adapting Stepsizes by the
/// Belief in Observed Gradients*.
#[optimizer(unscaled)]
pub fn scale_by_belief(
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate of the second central moment.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-16)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Added to the second central moment at every step; must be non-zero to
    /// backpropagate through the update.
    #[default(1e-16)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// First moment.
    #[state]
    mu: State,
    /// Second central moment (the prediction error's), `eps_root` included.
    #[state]
    nu: State,
) {
    let (one_minus_b1, one_minus_b2, inv_bc1, inv_bc1_next, inv_bc2) =
        bias_corrections(jax!(b1), jax!(b2), t);
    each(|g| {
        mu = moment(g, mu, one_minus_b1, b1);
        let err = g - mu;
        nu = moment(err * err, nu, one_minus_b2, b2);
        nu = nu + eps_root;
        let m_hat = debiased(mu, g, b1, one_minus_b1, inv_bc1, inv_bc1_next, nesterov);
        m_hat / ((nu * inv_bc2).sqrt() + eps)
    })
}

/// Rescales updates by RAdam's rectified moments (optax's `scale_by_radam`): momentum steps
/// while the variance of the adaptive rate is intractable, then Adam's step scaled by the
/// rectification factor `r`.
///
/// References: Liu et al, 2020, *On the Variance of the Adaptive Learning Rate and
/// Beyond*.
#[optimizer(unscaled)]
pub fn scale_by_radam(
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate of the second moment.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-8)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// The length of the approximated moving average from which the variance is
    /// considered tractable.
    #[default(5.0)]
    threshold: f64,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// First moment.
    #[state]
    mu: State,
    /// Second moment.
    #[state]
    nu: State,
) {
    let (one_minus_b1, one_minus_b2, inv_bc1, inv_bc1_next, inv_bc2) =
        bias_corrections(jax!(b1), jax!(b2), t);
    let rho_inf = 2.0 / (1.0 - b2) - 1.0;
    let b2t = integer_pow(b2, t);
    let rho = rho_inf - 2.0 * t * b2t / (1.0 - b2t);
    let r =
        ((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)).sqrt();
    let rectify = rho >= threshold;
    each(|g| {
        mu = moment(g, mu, one_minus_b1, b1);
        nu = moment(g * g, nu, one_minus_b2, b2);
        let m_hat = debiased(mu, g, b1, one_minus_b1, inv_bc1, inv_bc1_next, nesterov);
        if rectify {
            r * m_hat / ((nu * inv_bc2 + eps_root).sqrt() + eps)
        } else {
            m_hat
        }
    })
}

/// Rescales updates by Yogi's moments (optax's `scale_by_yogi`): the second moment moves
/// towards the squared gradient by an additive step.
///
/// References: Zaheer et al, 2018, *Adaptive Methods for Nonconvex Optimization*.
#[optimizer(unscaled)]
pub fn scale_by_yogi(
    /// Exponential decay rate of the first moment.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Rate at which the second moment moves towards the squared gradient.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-3)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// The starting value of both moments; must be positive.
    #[default(1e-6)]
    #[check(initial_accumulator_value >= 0.0)]
    initial_accumulator_value: f64,
    /// First moment.
    #[state(init = initial_accumulator_value)]
    mu: State,
    /// Second moment.
    #[state(init = initial_accumulator_value)]
    nu: State,
) {
    let (one_minus_b1, one_minus_b2, inv_bc1, _, inv_bc2) = bias_corrections(jax!(b1), jax!(b2), t);
    each(|g| {
        mu = moment(g, mu, one_minus_b1, b1);
        let g2 = g * g;
        nu = nu - one_minus_b2 * sign(nu - g2) * g2;
        mu * inv_bc1 / ((nu * inv_bc2 + eps_root).sqrt() + eps)
    })
}

/// NovoGrad's update without its learning rate (optax's `scale_by_novograd`): the gradient
/// normalized by a per-leaf second moment (an exponential moving average of the leaf's
/// squared gradient norm; on the first step the squared norm itself), plus weight decay,
/// accumulated in a momentum (on the first step, the normalized gradient itself).
///
/// References: Ginsburg et al, 2019, *Stochastic Gradient Methods with Layer-wise
/// Adaptive Moments for Training of Deep Networks*.
#[optimizer(unscaled)]
pub fn scale_by_novograd(
    /// Decay rate of the first moment.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate of the per-leaf second moment.
    #[default(0.25)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Added to the denominator outside the square root.
    #[default(1e-8)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Added to the second moment inside the square root.
    #[default(0.0)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// Strength of the weight decay.
    #[default(0.0)]
    #[check(weight_decay.is_finite())]
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
