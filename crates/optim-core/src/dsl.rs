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

/// optax's `update_moment`: the exponential moving average `(1 - decay) * x + decay * m`,
/// with `1 - decay` given (the Adam family computes it once per step in f64, as optax
/// computes it in Python).
#[inline(always)]
pub fn moment<F: Float>(x: F, m: F, one_minus_decay: F, decay: F) -> F {
    one_minus_decay * x + decay * m
}

/// Adam's bias-corrected first moment `mu / (1 - b1^t)`, or with `nesterov` its look-ahead
/// `b1 * mu / (1 - b1^(t + 1)) + (1 - b1) * g / (1 - b1^t)`, given the reciprocals of the
/// bias corrections (`inv_bc1 = 1 / (1 - b1^t)`, `inv_bc1_next = 1 / (1 - b1^(t + 1))`):
/// a multiplication per element where optax divides, which is within an ulp of optax's
/// order and keeps the divider, the slowest unit of the element loop, free.
#[inline(always)]
pub fn debiased<F: Float>(
    mu: F,
    g: F,
    b1: F,
    one_minus_b1: F,
    inv_bc1: F,
    inv_bc1_next: F,
    nesterov: bool,
) -> F {
    if nesterov {
        b1 * (mu * inv_bc1_next) + one_minus_b1 * (g * inv_bc1)
    } else {
        mu * inv_bc1
    }
}

/// A hyperparameter as per-step code sees it through `jax!(name)`: its value and whether
/// jax holds it as a float32 array, so that the per-step functions optax computes in the
/// hyperparameter's own dtype ([`bias_correction`], [`bias_corrections`]) do too.
///
/// A configuration's arguments are float64 (optax's Python floats, which jax computes
/// with in the params' dtype or wider). One is float32 when `inject_hyperparams` holds a
/// schedule whose value jax keeps as a float32 array: `linear_schedule` on the int32 step
/// count gives float32 even for float64 params, and optax's `inject_hyperparams` keeps a
/// strongly typed value's dtype, so adam's `1 - b1^t` is then a float32 computation.
/// A plain `f64` converts to a float64 `Jax`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jax {
    /// The value (exactly representable in float32 when `single`).
    pub value: f64,
    /// Whether jax holds the value as a float32 array.
    pub single: bool,
}

impl From<f64> for Jax {
    fn from(value: f64) -> Self {
        Jax {
            value,
            single: false,
        }
    }
}

impl Jax {
    /// [`bias_correction`] of this decay (a method, for declarations whose argument of
    /// that name shadows the function).
    #[inline]
    pub fn bias_correction(self, t: f64) -> f64 {
        // jax's float32 power of an int32 count is the correctly rounded power.
        self.round(1.0 - self.round(self.value.powf(t)))
    }

    /// `x`, the exact result of an operation on this value, rounded as jax rounds the
    /// result in this value's dtype (for `+`, `-`, `*`, `/` and `sqrt` of float32
    /// operands, rounding the float64 result gives the float32 operation's result).
    #[inline]
    fn round(self, x: f64) -> f64 {
        if self.single {
            x as f32 as f64
        } else {
            x
        }
    }
}

/// The Adam family's per-step scalars: `(1 - b1, 1 - b2, 1 / (1 - b1^t),
/// 1 / (1 - b1^(t + 1)), 1 / (1 - b2^t))`. `1 - b` and `1 - b^t` are computed in each
/// decay's dtype (see [`Jax`]; f64 for a plain `f64`), as optax's `update_moment` and
/// `bias_correction` compute them; the element code multiplies by the reciprocals (see
/// [`debiased`]).
#[inline]
pub fn bias_corrections(
    b1: impl Into<Jax>,
    b2: impl Into<Jax>,
    t: f64,
) -> (f64, f64, f64, f64, f64) {
    let (b1, b2) = (b1.into(), b2.into());
    (
        b1.round(1.0 - b1.value),
        b2.round(1.0 - b2.value),
        1.0 / bias_correction(b1, t),
        1.0 / bias_correction(b1, t + 1.0),
        1.0 / bias_correction(b2, t),
    )
}

/// optax's `bias_correction` divisor `1 - decay^t` for one moment, in the decay's dtype
/// (see [`Jax`]; f64 for a plain `f64`), for the primitives that divide by it as optax
/// does (Adan's three moments, AdEMAMix's, ACProp's delayed one, RMSProp's and the EMA's);
/// [`bias_corrections`] gives the Adam family's reciprocals instead.
#[inline]
pub fn bias_correction(decay: impl Into<Jax>, t: f64) -> f64 {
    decay.into().bias_correction(t)
}

/// RMSProp's scaling of a second moment `v`: `1 / sqrt(v + eps)` (optax's default,
/// `eps_in_sqrt`) or `1 / (sqrt(v) + eps)` (PyTorch's).
#[inline(always)]
pub fn rms_scaling<F: Float>(v: F, eps: F, eps_in_sqrt: bool) -> F {
    if eps_in_sqrt {
        (v + eps).sqrt().recip()
    } else {
        F::one() / (v.sqrt() + eps)
    }
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

/// The Polyak step size `min(gap / (sq_norm + eps), max_lr)` with `gap = value - f_min`
/// (clipped at 0 for `"sps+"`), or 0 when `sq_norm + eps` is at most the float64
/// machine epsilon (optax compares with `jnp.finfo(float).eps`).
pub fn polyak_step(value: f64, f_min: f64, plus: bool, sq_norm: f64, eps: f64, max_lr: f64) -> f64 {
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

/// MoMo's lower bound of the loss for this step: with `adapt`, when the model's
/// `cap = (1 + lr·wd)(f̄ − γ) + ⟨m, x⟩` falls below `scale · lb`, it is reset to
/// `max(cap / (2·scale), lower_bound)` (`scale` is `1 + lr·wd`, times `1 − b1^t` for
/// MoMo-Adam); otherwise it stays `lb`. A per-step (f64) helper.
pub fn momo_lower_bound(adapt: bool, cap: f64, scale: f64, lb: f64, lower_bound: f64) -> f64 {
    if adapt && cap < scale * lb {
        maximum(cap / (2.0 * scale), lower_bound)
    } else {
        lb
    }
}

/// MoMo's adaptive step size `max(gap, 0) / sq_norm`, or 0 when `sq_norm` is at most the
/// float64 machine epsilon (optax compares with `jnp.finfo(float).eps`). A per-step (f64)
/// helper.
pub fn momo_step(gap: f64, sq_norm: f64) -> f64 {
    if sq_norm <= f64::EPSILON {
        0.0
    } else {
        maximum(gap, 0.0) / sq_norm
    }
}

/// MoMo-Adam's preconditioner `eps + sqrt(v / bc2)`, from the new second moment `v` and
/// its bias correction `bc2 = 1 − b2^t`.
#[inline(always)]
pub fn momo_precond<F: Float>(v: F, eps: F, bc2: F) -> F {
    eps + (v / bc2).sqrt()
}

/// Schedule-free's averaging weight `c = weight / total`, guarded as optax guards it:
/// NaN when either is NaN, otherwise `jnp.nan_to_num(weight / total, nan=0,
/// posinf=inf)` (so `0 / 0` is 0, and `-inf` becomes the most negative finite float).
pub fn averaging_weight(weight: f64, total: f64) -> f64 {
    if weight.is_nan() || total.is_nan() {
        return f64::NAN;
    }
    let c = weight / total;
    if c.is_nan() {
        0.0
    } else if c == f64::NEG_INFINITY {
        f64::MIN
    } else {
        c
    }
}

/// The learning rate of the schedule-free aliases at `count`: `peak` itself, or with a
/// warmup optax's `warmup_constant_schedule(0, peak, warmup_steps)` there (a float32
/// formula in both of jax's modes, see [`crate::schedule`]).
pub fn warmup_constant(peak: f64, warmup_steps: Option<u64>, count: f64) -> f64 {
    match warmup_steps {
        None => peak,
        Some(w) => {
            let s = crate::schedule::warmup_constant_schedule(0.0, peak, w);
            crate::Schedule::at_count(&s, count as u64, crate::schedule::JaxMode::X64).value
        }
    }
}

/// `x` to the power `n` (a step count, a whole number in f64) by binary exponentiation,
/// multiplying in the order jax's `integer_pow` does. optax's RAdam raises `b2` to the
/// step count this way; a correctly rounded `powf` can differ in the last bit, which the
/// cancellation in `rho` magnifies a millionfold.
pub fn integer_pow(x: f64, n: f64) -> f64 {
    let mut n = n as u64;
    let mut base = x;
    let mut acc: Option<f64> = None;
    while n > 0 {
        if n & 1 == 1 {
            acc = Some(acc.map_or(base, |a| a * base));
        }
        n >>= 1;
        if n > 0 {
            base = base * base;
        }
    }
    acc.unwrap_or(1.0)
}

/// A standard normal draw for element `index` of leaf `leaf` at step `step` (our own
/// counter-based generator, see [`crate::noise::normal`]).
#[inline]
pub fn normal(seed: u64, step: u64, leaf: usize, index: usize) -> f64 {
    crate::noise::normal(seed, step, leaf, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_pow_multiplies_in_jax_order() {
        // jax's integer_pow(0.999, 6) = (b²)·(b²)²; a correctly rounded pow differs by an ulp.
        assert_eq!(integer_pow(0.999, 6.0), 0.9940149800149941);
        assert_eq!(0.999f64.powf(6.0), 0.994014980014994);
        assert_eq!(integer_pow(0.5, 0.0), 1.0);
        for n in 1..40u32 {
            let want = 0.75f64.powi(n as i32); // exact: a power of two over a power of two
            assert_eq!(integer_pow(0.75, n as f64), want, "n={n}");
        }
    }
}
