//! Delayed second moments (optax.contrib's ACProp and ADOPT): the current gradient is
//! normalized by the second moment as it stood *before* this step, so the step size does
//! not depend on the gradient it scales. [`acprop`](fn@crate::acprop) and
//! [`adopt`](fn@crate::adopt) compose them with the learning rate (ACProp also with the
//! weight decay).
//!
//! Each body reads the buffers before assigning them, which is how the element DSL
//! says "the previous step's value".

use crate::{optimizer, ScalarOrSchedule};

/// Rescales updates by ACProp's moments (optax.contrib's `scale_by_acprop`, the
/// asynchronous version of AdaBelief): the gradient over the root of the bias-corrected
/// second central moment of the *previous* step (1 on the first step), while the moments
/// take in the current gradient. The prediction error is taken against the previous
/// first moment.
///
/// References: Zhuang et al, 2021, *Momentum Centering and Asynchronous Update for
/// Adaptive Gradient Methods*.
#[optimizer(unscaled)]
pub fn scale_by_acprop(
    /// Exponential decay rate to track the first moment of past gradients.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate to track the second central moment of past gradients.
    #[default(0.999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// Term added to the denominator to improve numerical stability.
    #[default(1e-16)]
    #[check(eps >= 0.0 && (eps > 0.0 || eps_root > 0.0))]
    eps: f64,
    /// Term added to the second moment of the prediction error to improve numerical
    /// stability; must be non-zero to backpropagate through the update.
    #[default(1e-16)]
    #[check(eps_root >= 0.0)]
    eps_root: f64,
    /// First moment.
    #[state]
    mu: State,
    /// Second central moment (the prediction error's), `eps_root` included.
    #[state]
    nu: State,
) {
    let one_minus_b1 = 1.0 - b1;
    let one_minus_b2 = 1.0 - b2;
    let initial = t == 1.0;
    // optax corrects the stored moment with the previous count, or with 1 on the first
    // step (where the corrected value is then replaced by 1).
    let bc2_prev = bias_correction(jax!(b2), if initial { 1.0 } else { t - 1.0 });
    each(|g| {
        let nu_hat = select(initial, 1.0, nu / bc2_prev);
        let err = g - mu;
        mu = moment(g, mu, one_minus_b1, b1);
        nu = moment(err * err, nu, one_minus_b2, b2) + eps_root;
        g / (nu_hat.sqrt() + eps)
    })
}

/// Rescales updates by ADOPT's moments (optax.contrib's `scale_by_adopt`): the gradient
/// over the root of the previous step's second moment (at least `eps`), clipped to
/// `±clip_value`, accumulated in the first moment; the update is the first moment (or
/// with `nesterov` one more step of it). On the first step the second moment becomes
/// `g²` and the first moment stays zero, so the first update is zero.
///
/// References: Taniguchi et al, 2024, *ADOPT: Modified Adam Can Converge with Any β2
/// with the Optimal Rate*.
#[optimizer(unscaled)]
pub fn scale_by_adopt(
    /// Exponential decay rate to track the first moment of past gradients.
    #[default(0.9)]
    #[check((0.0..1.0).contains(&b1))]
    b1: f64,
    /// Exponential decay rate to track the second moment of past gradients.
    #[default(0.9999)]
    #[check((0.0..1.0).contains(&b2))]
    b2: f64,
    /// The smallest denominator: the root of the second moment is at least `eps`.
    #[default(1e-6)]
    #[check(eps > 0.0)]
    eps: f64,
    /// Whether to use Nesterov momentum.
    #[default(false)]
    nesterov: bool,
    /// Whether to clip the normalized gradient (to `±clip_value_fn(count)`) to improve
    /// stability; recommended, especially when training from scratch.
    #[default(true)]
    use_clipping: bool,
    /// The clipping value as a function of the 0-based step count, given as a schedule
    /// (any [`Schedule`](crate::schedule::Schedule)); `None` is optax's default
    /// `count^0.25`.
    clip_value_fn: Option<ScalarOrSchedule>,
    /// First moment.
    #[state(dtype = mu_dtype)]
    mu: State,
    /// Second moment.
    #[state]
    nu: State,
) {
    // optax replaces the decays on the first step: `b1` by 1 (the first moment stays
    // zero) and `b2` by 0 (the second moment becomes g²).
    let started = t > 1.0;
    let decay1 = if started { b1 } else { 1.0 };
    let decay2 = if started { b2 } else { 0.0 };
    let clip_value = clip_value_fn.unwrap_or((t - 1.0).powf(0.25));
    each(|g| {
        let normalized = g / maximum(nu.sqrt(), eps);
        let mu_update = if use_clipping {
            clip(normalized, -clip_value, clip_value)
        } else {
            normalized
        };
        // The decays are arrays in optax (`jnp.where`), so `1 - decay` is taken in the
        // element type.
        nu = moment(g * g, nu, 1.0 - decay2, decay2);
        mu = moment(mu_update, mu, 1.0 - decay1, decay1);
        if nesterov {
            moment(mu_update, mu, 1.0 - decay1, decay1)
        } else {
            mu
        }
    })
}
