//! The arithmetic of jax.numpy that the schedule formulas rely on: the float type a
//! formula runs in ([`Real`]: f64 for [`Schedule::at`], the dtype jax gives it on an int32
//! count for [`Schedule::at_count`]), and `jnp.maximum`/`jnp.minimum`, which propagate NaN.

use num_traits::Float;

#[cfg(doc)]
use super::Schedule;
use super::{JaxDtype, JaxScalar};

/// The float type a piece of optax's arithmetic runs in: `f64` for [`Schedule::at`],
/// and the dtype jax gives it on an int32 count for [`Schedule::at_count`]. Every
/// formula below is written once, generic over it.
pub(super) trait Real: Float {
    /// The jax dtype of this type.
    const DTYPE: JaxDtype;
    /// A Python float (or a value optax computed in Python) as jax converts it to this
    /// type: rounded to nearest, ties to even.
    fn of(x: f64) -> Self;
    /// An integer (a step count) converted to this type, as jax converts an int32.
    fn of_int(n: i128) -> Self;
    /// The value as an f64 (exact).
    fn widen(self) -> f64;
    /// This value as a jax scalar.
    fn scalar(self, weak: bool) -> JaxScalar {
        JaxScalar::new(self.widen(), Self::DTYPE, weak)
    }
}

impl Real for f32 {
    const DTYPE: JaxDtype = JaxDtype::Float32;
    fn of(x: f64) -> Self {
        x as f32
    }
    fn of_int(n: i128) -> Self {
        n as f32
    }
    fn widen(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    const DTYPE: JaxDtype = JaxDtype::Float64;
    fn of(x: f64) -> Self {
        x
    }
    fn of_int(n: i128) -> Self {
        n as f64
    }
    fn widen(self) -> f64 {
        self
    }
}

/// Runs `$f::<T>` with `T` the default float type of jax mode `$mode` and makes the
/// result a jax scalar (weakly typed if `$weak`): for the parts of optax's arithmetic
/// whose dtype jax takes from a Python float.
macro_rules! in_default_float {
    ($mode:expr, $weak:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $mode {
            $crate::schedule::JaxMode::X64 => $f::<f64>($($arg),*).scalar($weak),
            $crate::schedule::JaxMode::X32 => $f::<f32>($($arg),*).scalar($weak),
        }
    };
}
pub(super) use in_default_float;

/// `jnp.maximum`: propagates NaN (unlike `f64::max`).
pub(super) fn nan_max<T: Real>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else {
        a.max(b)
    }
}

/// `jnp.minimum`: propagates NaN (unlike `f64::min`).
pub(super) fn nan_min<T: Real>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else {
        a.min(b)
    }
}

/// A `bool` as jax promotes it in arithmetic.
pub(super) fn indicator<T: Real>(b: bool) -> T {
    if b {
        T::one()
    } else {
        T::zero()
    }
}
