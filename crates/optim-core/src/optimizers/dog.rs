//! The distance-over-gradients optimizers of optax.contrib's `_dog.py`, DoG and DoWG:
//! the optional weight decay, the step size of
//! [`primitives::distance`](crate::primitives::distance), and the learning rate, fused
//! (optax's `chain`, in its order: the step size sees the decayed updates).

use crate::{
    add_decayed_weights, optimizer, scale_by_dog, scale_by_dowg, scale_by_learning_rate, InitStep,
};

/// Distance over Gradients (DoG) optimizer.
///
/// DoG moves the params `x_t` with the gradients `g_t` by
/// `r_t = ‖x_t − x_0‖`, `r̄_t = max(r̄_{t−1}, r_t)` (starting from `r_0`, see
/// `init_step`), `G_t = Σ_{k≤t} ‖g_k‖²`, `η_t = r̄_t / sqrt(G_t + eps)` and
/// `x_{t+1} = x_t − lr · η_t g_t`. With `weight_decay`, `weight_decay · x` is added to
/// the gradients of the leaves `mask` selects first. It needs no tuning of the step
/// size; the authors recommend averaging the model.
///
/// References: Ivgi et al, 2023, *DoG is SGD's Best Friend: A Parameter-Free Dynamic
/// Step Size Schedule*.
#[optimizer(
    fuse(
        when(weight_decay.is_some(), add_decayed_weights(weight_decay = weight_decay.unwrap_or(0.0))),
        scale_by_dog,
        scale_by_learning_rate,
    ),
    doc_trace(
        solver = dog(),
        printed = "1.40E+01 1.40E+01 1.40E+01 1.40E+01 1.40E+01",
    ),
)]
pub fn dog(
    /// The learning rate (scales DoG's step), constant or scheduled.
    #[default(1.0)]
    learning_rate: _,
    init_step: _,
    eps: _,
    /// Strength of the weight decay; `None` applies none.
    weight_decay: Option<f64>,
    mask: _,
) {
}

/// Distance over Weighted Gradients (DoWG) optimizer.
///
/// DoWG keeps an estimate `r̄²_t = max(r̄²_{t−1}, ‖x_t − x_0‖²)` of the squared distance
/// to the solution and the weighted sum `v_t = v_{t−1} + r̄²_t ‖g_t‖²`, and moves the
/// params by `x_{t+1} = x_t − lr · r̄²_t / (sqrt(v_t) + eps) · g_t`. With
/// `weight_decay`, `weight_decay · x` is added to the gradients of the leaves `mask`
/// selects first.
///
/// References: Khaled et al, 2023, *DoWG Unleashed: An Efficient Universal
/// Parameter-Free Gradient Descent Method*.
#[optimizer(
    fuse(
        when(weight_decay.is_some(), add_decayed_weights(weight_decay = weight_decay.unwrap_or(0.0))),
        scale_by_dowg,
        scale_by_learning_rate,
    ),
    doc_trace(
        solver = dowg(),
        printed = "1.39E+01 1.39E+01 1.38E+01 1.36E+01 1.33E+01",
    ),
)]
pub fn dowg(
    /// The learning rate (scales DoWG's step), constant or scheduled.
    #[default(1.0)]
    learning_rate: _,
    init_estim_sq_dist: _,
    eps: _,
    /// Strength of the weight decay; `None` applies none.
    weight_decay: Option<f64>,
    mask: _,
) {
}
