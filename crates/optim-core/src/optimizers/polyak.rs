//! SGD with a Polyak step size: the scaled gradient
//! ([`scale_by_learning_rate`] by `scaling`) rescaled by
//! [`scale_by_polyak`], fused. It reads the objective value, an
//! extra argument.

use crate::{optimizer, scale_by_learning_rate, scale_by_polyak};

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
    fuse(scale_by_learning_rate(learning_rate = scaling), scale_by_polyak),
    doc_trace(
        solver = polyak_sgd(),
        value,
        format = str,
        printed = "3.5 0.875 0.21875 0.0546875 0.013671875",
    ),
)]
pub fn polyak_sgd(
    max_learning_rate: _,
    /// Scales the gradient before the step size is computed (constant or scheduled).
    #[default(1.0)]
    scaling: _,
    f_min: _,
    eps: _,
    variant: _,
) {
}
