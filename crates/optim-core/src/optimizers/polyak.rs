//! Polyak step-size SGD and its transformation `scale_by_polyak`.
//!
//! The step size needs the squared norm of the whole update tree and the objective
//! value: a `tree_sum` before any leaf is written, and `value`, the extra argument
//! (`Transformation::update_with` / `step_with` with `Extra::value(f)`). Without it, the
//! update fails with `Error::MissingExtra` and nothing is written.

use crate::dsl::{maximum, minimum};
use crate::{optimizer, ScalarOrSchedule};

/// The Polyak step size `min(gap / (sq_norm + eps), max_lr)` with `gap = value - f_min`
/// (clipped at 0 for `"sps+"`), or 0 when `sq_norm + eps` is at most the float64
/// machine epsilon (optax compares with `jnp.finfo(float).eps`).
fn polyak_step(value: f64, f_min: f64, plus: bool, sq_norm: f64, eps: f64, max_lr: f64) -> f64 {
    let gap = if plus {
        maximum(value - f_min, 0.0)
    } else {
        value - f_min
    };
    if sq_norm + eps <= f64::EPSILON {
        0.0
    } else {
        minimum(gap / (sq_norm + eps), max_lr)
    }
}

/// SGD with a Polyak step size.
///
/// The step size is `min((f(x) - f_min) / (‖s·g‖² + eps), max_learning_rate)`, with `s`
/// the `scaling`, applied to the scaled gradient `-s·g`; it is 0 when `‖s·g‖² + eps` is
/// at most the float64 machine epsilon. With `variant = "sps+"`, a negative gap
/// `f(x) - f_min` counts as 0. The objective value is an extra argument: call
/// `step_with(.., &Extra::value(f))`.
///
/// References: Loizou et al, 2021, *Stochastic Polyak Step-size for SGD: An Adaptive
/// Learning Rate for Fast Convergence*; Berrada et al, 2020, *Training neural networks
/// for and by interpolation*.
#[optimizer(
    unscaled,
    doc_trace(
        solver = polyak_sgd(),
        value,
        format = str,
        printed = "3.5 0.875 0.21875 0.0546875 0.013671875",
    ),
)]
pub fn polyak_sgd(
    /// Upper bound on the step size.
    #[default(1.0)]
    max_learning_rate: f64,
    /// Scales the gradient before the step size is computed (constant or scheduled).
    #[default(1.0)]
    scaling: ScalarOrSchedule,
    /// A lower bound on the objective (its minimum, if known).
    #[default(0.0)]
    f_min: f64,
    /// Added to the squared norm in the denominator.
    #[default(0.0)]
    eps: f64,
    /// `"sps"`, or `"sps+"` to clip a negative gap at 0.
    #[default("sps")]
    #[one_of("sps", "sps+")]
    variant: String,
) {
    let sq_norm = tree_sum(|g| {
        let u = -scaling * g;
        u * u
    });
    let step = polyak_step(
        value,
        f_min,
        variant == "sps+",
        sq_norm,
        eps,
        max_learning_rate,
    );
    each(|g| (-scaling * g) * step)
}

/// Scales the updates by the Polyak step size
/// `min((f(x) - f_min) / (‖u‖² + eps), max_learning_rate)` (0 when `‖u‖² + eps` is at
/// most the float64 machine epsilon), optax's `scale_by_polyak`. Needs the objective
/// value as an extra argument.
///
/// References: Loizou et al, 2021, *Stochastic Polyak Step-size for SGD*.
#[optimizer(unscaled)]
pub fn scale_by_polyak(
    /// A lower bound on the objective (its minimum, if known).
    #[default(0.0)]
    f_min: f64,
    /// Upper bound on the step size.
    #[default(1.0)]
    max_learning_rate: f64,
    /// Added to the squared norm in the denominator.
    #[default(0.0)]
    eps: f64,
    /// `"sps"`, or `"sps+"` to clip a negative gap at 0.
    #[default("sps")]
    #[one_of("sps", "sps+")]
    variant: String,
) {
    let sq_norm = tree_sum(|g| g * g);
    let step = polyak_step(
        value,
        f_min,
        variant == "sps+",
        sq_norm,
        eps,
        max_learning_rate,
    );
    each(|g| g * step)
}
