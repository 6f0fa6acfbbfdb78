//! The tape and its operations, one concern per file:
//!
//! - `tape`: [`Var`], the nodes and their ops, [`Graph`] itself, its leaves (parameters,
//!   constants) and the accessors that read values back;
//! - `pool`: the buffer pool (best-fit reuse), [`Graph::reset`] and [`Graph::recycle`];
//! - `shape`: axis splits, numpy broadcasting, the axis checks of the reductions;
//! - `elementwise`: the broadcasting binary ops and the unary functions;
//! - `reduce`: sums, means and maxima;
//! - `layout`: reshape, transpose, gather and slice;
//! - `matmul`: [`Graph::matmul`] and the faer `gemm` (with its `vzeroupper`) that the
//!   backward pass shares;
//! - `losses`: log-softmax and softmax cross-entropy;
//! - `backward`: the reverse pass, [`Gradients`] by path, and [`value_and_grad`];
//! - `par`: elementwise work on rayon's current pool, chunked as optim's steps are.

mod backward;
mod elementwise;
mod layout;
mod losses;
mod matmul;
mod par;
mod pool;
mod reduce;
mod shape;
mod tape;

pub use backward::value_and_grad;
pub use tape::{Gradients, Graph, Var};
