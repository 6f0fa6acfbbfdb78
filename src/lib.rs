#![doc = include_str!("../README.md")]

pub use optim_core::*;

/// Reverse-mode automatic differentiation: gradients for objectives and small models,
/// returned as the trees the optimizers take.
pub use optim_autodiff as autodiff;
