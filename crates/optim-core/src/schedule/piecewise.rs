//! optax's `piecewise_constant_schedule` and `piecewise_interpolate_schedule`, and the
//! interpolation formula the one-cycle schedules share.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::fmt;

use serde::Deserialize;

use super::jnp::{indicator, Real};
use super::{rejected, JaxMode, JaxScalar, Schedule};
use crate::Error;

/// optax's `piecewise_interpolate_schedule` formula over sorted, distinct boundaries,
/// with the values in `V` and the fraction `pct` (and, for `'cosine'`,
/// `cos(pi * pct) + 1`) in `P`.
///
/// On an int32 count `pct = (count - bound) / interval_size` is a float32 division, so
/// `P = f32`, while the values are of the default float type (`V = f64` with
/// `jax_enable_x64`, strongly typed).
pub(super) fn interpolate_at<V: Real, P: Real>(
    interpolate_type: InterpolateType,
    init_value: f64,
    boundaries_and_scales: impl IntoIterator<Item = (u64, f64)>,
    step: u64,
) -> V {
    // optax stacks bounds = [0, b1, ...] and values = cumprod([init, s1, ...]), then sums
    // indicator_i * interpolate(values[i], values[i + 1], pct_i) over every interval.
    let count = i128::from(step);
    let mut total = V::zero();
    let mut lo = 0i128;
    let mut lo_value = V::of(init_value);
    for (boundary, scale) in boundaries_and_scales {
        let hi = i128::from(boundary);
        let hi_value = lo_value * V::of(scale);
        let interval_size = (hi - lo).max(1);
        let inside = lo <= count && count < hi;
        let pct = P::of_int(count - lo) / P::of_int(interval_size);
        let interpolated = match interpolate_type {
            InterpolateType::Linear => (hi_value - lo_value) * V::of(pct.widen()) + lo_value,
            InterpolateType::Cosine => {
                let cos_plus_one = (P::of(PI) * pct).cos() + P::one();
                hi_value + (lo_value - hi_value) / V::of(2.0) * V::of(cos_plus_one.widen())
            }
        };
        total = total + indicator::<V>(inside) * interpolated;
        lo = hi;
        lo_value = hi_value;
    }
    total + indicator::<V>(lo <= count) * lo_value
}

/// [`interpolate_at`] on an int32 count: strongly typed values of the default float
/// type, with a float32 `pct`.
pub(super) fn interpolate_count(
    interpolate_type: InterpolateType,
    init_value: f64,
    boundaries_and_scales: impl IntoIterator<Item = (u64, f64)>,
    step: u64,
    mode: JaxMode,
) -> JaxScalar {
    match mode {
        JaxMode::X64 => {
            interpolate_at::<f64, f32>(interpolate_type, init_value, boundaries_and_scales, step)
                .scalar(false)
        }
        JaxMode::X32 => {
            interpolate_at::<f32, f32>(interpolate_type, init_value, boundaries_and_scales, step)
                .scalar(false)
        }
    }
}

/// Checks optax's "non-negative scale factors" condition (NaN fails it, as in Python)
/// for schedule function `schedule`: each `(boundary, scale, arg)` names the argument
/// the scale comes from.
pub(super) fn check_scales<'a>(
    schedule: &str,
    scales: impl IntoIterator<Item = (u64, f64, &'a str)>,
) -> Result<(), Error> {
    match scales
        .into_iter()
        .find(|(_, scale, _)| scale.is_nan() || *scale < 0.0)
    {
        Some((boundary, scale, arg)) => Err(rejected(
            schedule,
            arg,
            format!("the scale at step {boundary} is {scale}; scales must be non-negative"),
        )),
        None => Ok(()),
    }
}

/// The scales of a `boundaries_and_scales` argument, for [`check_scales`].
fn scales_of(
    boundaries_and_scales: &BTreeMap<u64, f64>,
) -> impl Iterator<Item = (u64, f64, &'static str)> + '_ {
    boundaries_and_scales
        .iter()
        .map(|(&boundary, &scale)| (boundary, scale, "boundaries_and_scales"))
}

/// Scaled jumps at given steps (optax's `piecewise_constant_schedule`).
///
/// The value at a step is `init_value` times the product of the scales of all
/// boundaries at or before that step.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseConstant {
    /// The value before the first boundary.
    pub init_value: f64,
    /// The scale multiplied in at each boundary step; scales must be non-negative.
    pub boundaries_and_scales: BTreeMap<u64, f64>,
}

impl PiecewiseConstant {
    /// optax's formula; on an int32 count it runs in the default float type (weakly
    /// typed), since the indicator is `jnp.maximum(0.0, jnp.sign(threshold - count))`.
    fn formula<T: Real>(&self, step: u64) -> T {
        let mut v = T::of(self.init_value);
        for (&threshold, &scale) in &self.boundaries_and_scales {
            // optax: indicator = max(0, sign(threshold - count)), which is 1 before the boundary.
            let before = indicator::<T>(threshold > step);
            v = v * before + (T::one() - before) * T::of(scale) * v;
        }
        v
    }
}

impl Schedule for PiecewiseConstant {
    fn at(&self, step: u64) -> f64 {
        self.formula(step)
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        match mode {
            JaxMode::X64 => self.formula::<f64>(step).scalar(true),
            JaxMode::X32 => self.formula::<f32>(step).scalar(true),
        }
    }
}

/// Builds a piecewise constant schedule (optax's `piecewise_constant_schedule`).
///
/// `boundaries_and_scales` is read like a Python dict: on a repeated step the later scale
/// wins. Returns an error if a scale is negative (or NaN), as optax raises one.
pub fn piecewise_constant_schedule(
    init_value: f64,
    boundaries_and_scales: impl IntoIterator<Item = (u64, f64)>,
) -> Result<PiecewiseConstant, Error> {
    let boundaries_and_scales: BTreeMap<u64, f64> = boundaries_and_scales.into_iter().collect();
    check_scales(
        "piecewise_constant_schedule",
        scales_of(&boundaries_and_scales),
    )?;
    Ok(PiecewiseConstant {
        init_value,
        boundaries_and_scales,
    })
}

/// How [`PiecewiseInterpolate`] moves between two boundary values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterpolateType {
    /// Straight-line interpolation (optax's `'linear'`).
    Linear,
    /// Half-cosine interpolation (optax's `'cosine'`).
    Cosine,
}

impl InterpolateType {
    /// The name optax uses for this interpolation.
    pub fn name(self) -> &'static str {
        match self {
            InterpolateType::Linear => "linear",
            InterpolateType::Cosine => "cosine",
        }
    }
}

impl fmt::Display for InterpolateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Interpolation between accumulated boundary values (optax's `piecewise_interpolate_schedule`).
///
/// The value at boundary `b_i` is `init_value` times the product of the scales up to
/// `b_i`; between boundaries the value is interpolated (linearly or along a half
/// cosine), and after the last boundary it stays at the last value.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseInterpolate {
    /// Linear or cosine interpolation.
    pub interpolate_type: InterpolateType,
    /// The value at step 0.
    pub init_value: f64,
    /// The scale multiplied in at each boundary step; scales must be non-negative.
    pub boundaries_and_scales: BTreeMap<u64, f64>,
}

impl Schedule for PiecewiseInterpolate {
    fn at(&self, step: u64) -> f64 {
        interpolate_at::<f64, f64>(
            self.interpolate_type,
            self.init_value,
            self.boundaries_and_scales.iter().map(|(&b, &s)| (b, s)),
            step,
        )
    }

    fn at_count(&self, step: u64, mode: JaxMode) -> JaxScalar {
        interpolate_count(
            self.interpolate_type,
            self.init_value,
            self.boundaries_and_scales.iter().map(|(&b, &s)| (b, s)),
            step,
            mode,
        )
    }
}

/// Builds a piecewise interpolated schedule (optax's `piecewise_interpolate_schedule`).
///
/// `boundaries_and_scales` is read like a Python dict: on a repeated step the later scale
/// wins. Returns an error if a scale is negative (or NaN), as optax raises one.
pub fn piecewise_interpolate_schedule(
    interpolate_type: InterpolateType,
    init_value: f64,
    boundaries_and_scales: impl IntoIterator<Item = (u64, f64)>,
) -> Result<PiecewiseInterpolate, Error> {
    let boundaries_and_scales: BTreeMap<u64, f64> = boundaries_and_scales.into_iter().collect();
    check_scales(
        "piecewise_interpolate_schedule",
        scales_of(&boundaries_and_scales),
    )?;
    Ok(PiecewiseInterpolate {
        interpolate_type,
        init_value,
        boundaries_and_scales,
    })
}
