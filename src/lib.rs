//! # optim
//!
//! Gradient-transformation optimizers with optax's API and numbers, in Rust.
//! See the README for an overview.

pub use optim_core::*;
