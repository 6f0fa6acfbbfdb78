//! `scale_by_polyak`: the Polyak step size. It needs the squared norm of the whole update
//! tree and the objective value: a `tree_sum` before any leaf is written, and `value`, the
//! extra argument (`Transformation::update_with` / `step_with` with `Extra::value(f)`).
//! Without it, the update fails with `Error::MissingExtra` and nothing is written.

use crate::optimizer;

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
    #[check(f_min.is_finite())]
    f_min: f64,
    /// Upper bound on the step size.
    #[default(1.0)]
    #[check(max_learning_rate >= 0.0)]
    max_learning_rate: f64,
    /// Added to the squared norm in the denominator.
    #[default(0.0)]
    #[check(eps >= 0.0)]
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
