//! The ADOPT optimizer (optax.contrib): [`scale_by_adopt`] and the
//! learning rate, fused.

use crate::{optimizer, scale_by_adopt, scale_by_learning_rate, ScalarOrSchedule};

/// ADOPT (Adaptive Optimization with Provable Theoretical guarantees).
///
/// ADOPT is a modified Adam that may improve Adam's robustness to the choice of `b2`.
/// It normalizes the gradient by the second moment of the *previous* step (so the
/// normalization does not depend on the gradient it scales) and only then accumulates
/// it in the first moment; this avoids the instability of Adam when some gradient
/// elements are near zero at initialization. With clipping (the default), the
/// normalized gradient is clipped to `±clip_value_fn(count)` (optax's default
/// `count^0.25`), which improves stability, especially in early training. The first
/// update is zero: the first step only initializes the second moment.
///
/// References: Taniguchi et al, 2024, *ADOPT: Modified Adam Can Converge with Any β2
/// with the Optimal Rate*.
#[optimizer(
    fuse(scale_by_adopt, scale_by_learning_rate),
    doc_trace(
        solver = adopt(0.02),
        printed = "1.40E+01 1.40E+01 1.39E+01 1.39E+01 1.38E+01",
    ),
)]
pub fn adopt(
    learning_rate: _,
    b1: _,
    b2: _,
    eps: _,
    mu_dtype: _,
    nesterov: _,
    use_clipping: _,
    // Typed rather than `_`, so that its documented default reads `None`.
    clip_value_fn: Option<ScalarOrSchedule>,
) {
}
