//! optax's `constant_schedule`.

use super::{JaxMode, JaxScalar, Schedule};

/// A constant value at every step (optax's `constant_schedule`).
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    /// The value held throughout.
    pub value: f64,
}

impl Schedule for Constant {
    fn at(&self, _step: u64) -> f64 {
        self.value
    }

    fn at_count(&self, _step: u64, mode: JaxMode) -> JaxScalar {
        JaxScalar::python_float(self.value, mode)
    }
}

/// Builds a constant schedule (optax's `constant_schedule`).
pub fn constant_schedule(value: f64) -> Constant {
    Constant { value }
}
