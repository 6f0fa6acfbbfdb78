//! Reverse-mode automatic differentiation for `optim`.
//!
//! A [`Graph`] records operations on dense n-d tensors of `f32` or `f64` as they run, then
//! [`Graph::backward`] walks the tape in reverse and returns the gradients of the
//! registered parameters as a [`TensorMap`](optim_core::TensorMap), keyed by the
//! parameters' paths: the tree type the optimizers of `optim` take, with no copying or
//! reshaping by hand.
//!
//! ```
//! use optim_autodiff::Graph;
//! use optim_core::Tensor;
//!
//! let mut g = Graph::<f64>::new();
//! let x = g.param("x", &Tensor::vector(vec![1.0, 2.0, 3.0])).unwrap();
//! let sq = g.mul(x, x).unwrap();
//! let loss = g.sum(sq).unwrap();
//! assert_eq!(g.item(loss).unwrap(), 14.0);
//! let grads = g.backward(loss).unwrap();
//! assert_eq!(grads["x"].data(), &[2.0, 4.0, 6.0]);
//! ```
//!
//! The [`objectives`] module holds named test problems (Rosenbrock, Beale, least squares,
//! ...) whose gradients come from the engine.
//!
//! In the source, the engine lives in `graph/`, one concern per file (the tape, the buffer
//! pool, shape arithmetic, one file per op family, the backward pass; `graph/mod.rs` lists
//! them), and the objectives in `objectives/`, one file per family of problems.

mod error;
mod graph;
pub mod objectives;

pub use error::{Error, Result};
pub use graph::{value_and_grad, Gradients, Graph, Var};
