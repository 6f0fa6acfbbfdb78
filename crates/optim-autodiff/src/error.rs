//! The error type of optim-autodiff.

/// What went wrong while building a graph or differentiating it.
///
/// Every error is returned at graph construction (or at the start of `backward`), never
/// from deep inside the backward pass.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Two operands have shapes the operation cannot combine; both shapes are named.
    #[error("{op}: shapes {lhs:?} and {rhs:?} are incompatible: {detail}")]
    Shape {
        /// The operation that was being built.
        op: &'static str,
        /// The shape of the first operand.
        lhs: Vec<usize>,
        /// The shape of the second operand (or the requested shape).
        rhs: Vec<usize>,
        /// Why the shapes do not fit.
        detail: String,
    },
    /// An axis is out of range for a tensor's shape.
    #[error("{op}: axis {axis} is out of range for shape {shape:?}")]
    Axis {
        /// The operation that was being built.
        op: &'static str,
        /// The requested axis.
        axis: usize,
        /// The shape of the operand.
        shape: Vec<usize>,
    },
    /// An argument is invalid for the operand (an index out of range, an empty reduction, a
    /// tensor of the wrong rank).
    #[error("{op}: {detail} (operand shape {shape:?})")]
    Invalid {
        /// The operation that was being built.
        op: &'static str,
        /// The shape of the operand.
        shape: Vec<usize>,
        /// What is wrong.
        detail: String,
    },
    /// A variable was used with a graph it does not belong to, or after the graph was reset.
    #[error("variable #{index} does not belong to this graph (or the graph was reset since it was made)")]
    ForeignVar {
        /// The variable's position on its own tape.
        index: usize,
    },
    /// Two parameters were registered under the same path.
    #[error("parameter `{0}` is registered twice")]
    DuplicateParam(String),
    /// `backward` was called on a loss that is not a single element.
    #[error("backward needs a loss with one element, got shape {0:?}")]
    NotScalar(Vec<usize>),
    /// Some parameters are not connected to the loss, so no gradient reached them.
    #[error("no gradient reached parameter(s) {0:?}: the loss does not depend on them (use `backward_partial` to allow this)")]
    NoGradient(Vec<String>),
    /// An error from optim-core (for example a tensor whose data disagrees with its shape).
    #[error(transparent)]
    Core(#[from] optim_core::Error),
}

/// The result type of optim-autodiff.
pub type Result<T, E = Error> = std::result::Result<T, E>;
