#![doc = include_str!("../README.md")]

pub use optim_core::*;

/// Reverse-mode automatic differentiation: gradients for objectives and small models,
/// returned as the trees the optimizers take.
pub use optim_autodiff as autodiff;

/// Checkpoints: params and optimizer state as safetensors, every tensor named by its
/// leaf path and buffer (`mu/encoder.w`), in its own dtype.
pub use optim_checkpoint as checkpoint;

/// candle adapter (feature `candle`): any optim optimizer as a `candle_nn::Optimizer`.
#[cfg(feature = "candle")]
pub use optim_candle as candle;

/// burn adapter (feature `burn`): any optim optimizer for burn modules, by parameter path.
#[cfg(feature = "burn")]
pub use optim_burn as burn;

/// dfdx adapter (feature `dfdx`): any optim optimizer for dfdx models, by parameter path.
#[cfg(feature = "dfdx")]
pub use optim_dfdx as dfdx;
