//! Learning-rate schedules: pure functions of the step count, as in optax.
//!
//! A schedule is evaluated at the 0-based step: the first update uses `at(0)`.

use std::fmt::Debug;
use std::sync::Arc;

mod optax;
pub use optax::*;

/// A learning-rate (or any hyperparameter) schedule: a pure function of the step.
pub trait Schedule: Debug + Send + Sync {
    /// The value at 0-based step `step`.
    fn at(&self, step: u64) -> f64;
}

/// A hyperparameter that is either a constant or a schedule (optax's `ScalarOrSchedule`).
#[derive(Clone, Debug)]
pub enum LearningRate {
    Constant(f64),
    Schedule(Arc<dyn Schedule>),
}

impl LearningRate {
    /// The value at 0-based step `step`.
    #[inline]
    pub fn at(&self, step: u64) -> f64 {
        match self {
            LearningRate::Constant(v) => *v,
            LearningRate::Schedule(s) => s.at(step),
        }
    }
}

impl LearningRate {
    /// The value an optimizer uses at 0-based step `step`, as optax computes it: optax
    /// evaluates a schedule on its int32 step counter, which makes the result float32
    /// even when the params are float64 (the reference traces show it). A constant
    /// keeps its full precision.
    #[inline]
    pub fn optax_value(&self, step: u64) -> f64 {
        match self {
            LearningRate::Constant(v) => *v,
            LearningRate::Schedule(s) => s.at(step) as f32 as f64,
        }
    }
}

impl From<f64> for LearningRate {
    fn from(v: f64) -> Self {
        LearningRate::Constant(v)
    }
}

impl From<f32> for LearningRate {
    fn from(v: f32) -> Self {
        LearningRate::Constant(v as f64)
    }
}

impl From<Arc<dyn Schedule>> for LearningRate {
    fn from(s: Arc<dyn Schedule>) -> Self {
        LearningRate::Schedule(s)
    }
}

impl<S: Schedule + 'static> From<S> for LearningRate {
    fn from(s: S) -> Self {
        LearningRate::Schedule(Arc::new(s))
    }
}

/// optax's name for [`LearningRate`].
pub type ScalarOrSchedule = LearningRate;
