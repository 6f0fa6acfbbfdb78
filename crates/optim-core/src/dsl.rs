//! Functions available inside `#[optimizer]` element code (`use optim::dsl::*` is implied).

use crate::Float;

/// The sign of `x` as jax's `jnp.sign`: -1, 0 or 1 (NaN stays NaN).
#[inline(always)]
pub fn sign<F: Float>(x: F) -> F {
    if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else {
        x
    }
}

/// `cond ? a : b`, as jax's `jnp.where`.
#[inline(always)]
pub fn select<F: Float>(cond: bool, a: F, b: F) -> F {
    if cond {
        a
    } else {
        b
    }
}

/// The larger of two values, propagating NaN (as `jnp.maximum`).
#[inline(always)]
pub fn maximum<F: Float>(a: F, b: F) -> F {
    if a.is_nan() || b.is_nan() {
        F::nan()
    } else if a > b {
        a
    } else {
        b
    }
}

/// The smaller of two values, propagating NaN (as `jnp.minimum`).
#[inline(always)]
pub fn minimum<F: Float>(a: F, b: F) -> F {
    if a.is_nan() || b.is_nan() {
        F::nan()
    } else if a < b {
        a
    } else {
        b
    }
}

/// `x` clipped to `[lo, hi]` (as `jnp.clip`).
#[inline(always)]
pub fn clip<F: Float>(x: F, lo: F, hi: F) -> F {
    minimum(maximum(x, lo), hi)
}

/// optax's `safe_norm` from a sum of squares: the norm, or `min_norm` when the norm is
/// at most `min_norm`. A per-leaf (f64) helper.
#[inline]
pub fn safe_norm(sum_of_squares: f64, min_norm: f64) -> f64 {
    let norm = sum_of_squares.sqrt();
    if norm <= min_norm {
        min_norm
    } else {
        norm
    }
}

/// optax's trust ratio `coefficient * param_norm / (update_norm + eps)`, which is 1 when
/// either norm is zero (the leaf would otherwise never move). A per-leaf (f64) helper.
#[inline]
pub fn trust_ratio(param_norm: f64, update_norm: f64, coefficient: f64, eps: f64) -> f64 {
    if param_norm == 0.0 || update_norm == 0.0 {
        1.0
    } else {
        coefficient * param_norm / (update_norm + eps)
    }
}
