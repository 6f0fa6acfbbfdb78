//! The one error type of optim-core. Every variant that concerns a leaf names it by path.

/// What went wrong. Errors are returned before any params or state are written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A leaf exists in one tree but not in the other.
    #[error("leaf `{path}` is missing from the {missing_in}")]
    MissingLeaf { path: String, missing_in: String },
    /// A tree holds a leaf that the other (or the optimizer state) does not.
    #[error("leaf `{path}` of the {extra_in} is not in the optimizer state")]
    ExtraLeaf { path: String, extra_in: String },
    /// Two trees hold the same leaf with different shapes.
    #[error("leaf `{path}`: shape {got:?} in the {what}, expected {expected:?}")]
    Shape {
        path: String,
        what: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// A tree has a different number of leaves than the optimizer state was built for.
    #[error("the {what} have {got} leaves but the optimizer state was built for {expected}")]
    LeafCount {
        what: String,
        expected: usize,
        got: usize,
    },
    /// A shape whose element count does not fit in `usize`.
    #[error("leaf `{path}`: shape {shape:?} has more elements than an address space holds")]
    ShapeOverflow { path: String, shape: Vec<usize> },
    /// A leaf's data does not match its own shape.
    #[error("leaf `{path}`: shape {shape:?} needs {expected} elements, got {got}")]
    DataLen {
        path: String,
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    /// The optimizer state is inconsistent (for example deserialized from another optimizer).
    #[error("leaf `{path}`: optimizer state `{buffer}` is corrupt: {detail}")]
    State {
        path: String,
        buffer: String,
        detail: String,
    },
    /// `update` was called without params for a transformation that reads them.
    #[error("`{transform}` needs the params: call `update` with `Some(params)`")]
    NeedsParams { transform: String },
    /// An extra argument (such as the objective `value`) that the transformation needs is missing.
    #[error("`{transform}` needs the extra argument `{arg}`")]
    MissingExtra { transform: String, arg: String },
    /// A hyperparameter has a value the optimizer cannot use.
    #[error("`{transform}`: argument `{arg}`: {detail}")]
    Hyper {
        transform: String,
        arg: String,
        detail: String,
    },
    /// A schedule constructor (or [`ScheduleSpec::build`](crate::schedule::ScheduleSpec::build))
    /// rejects an argument, where optax's function of the same name raises an error.
    #[error("`{schedule}`: argument `{arg}`: {detail}")]
    Schedule {
        /// optax's name of the schedule function, e.g. `cosine_decay_schedule`.
        schedule: String,
        /// The argument rejected.
        arg: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A part of a composite schedule (a cycle of `sgdr_schedule`, a schedule of
    /// `join_schedules`) is rejected; `source` says why.
    #[error("`{schedule}`: argument `{arg}`: {source}")]
    SchedulePart {
        /// optax's name of the composite schedule function, e.g. `sgdr_schedule`.
        schedule: String,
        /// The part, as an argument with its index, e.g. `cosine_kwargs[1]`.
        arg: String,
        /// The part's own error.
        source: Box<Error>,
    },
    /// A loosely typed value ([`Value`](crate::Value), as read from JSON) is not of the
    /// type expected. [`config::convert`](crate::config::convert) turns it into an
    /// [`Error::Hyper`] naming the argument.
    #[error("expected {expected}, got {got}")]
    BadValue {
        /// What the type accepts, e.g. `a number`.
        expected: String,
        /// The value given, described, e.g. `the string "high"`.
        got: String,
    },
    /// A mask or label names a leaf that the params do not have.
    #[error("mask names leaf `{path}`, which the params do not have")]
    UnknownMaskLeaf { path: String },
    /// A state buffer of a leaf could not be allocated (its size overflows, or the
    /// allocator refused it): `init` fails instead of aborting the process.
    #[error("leaf `{path}`: cannot allocate the optimizer state `{buffer}` ({elements} elements)")]
    Alloc {
        path: String,
        buffer: String,
        elements: usize,
    },
    /// A [`SavedState`](crate::SavedState) does not fit the optimizer, configuration or
    /// dtype it is loaded with (`field` says which part: `format_version`, `optimizer`,
    /// `dtype`, `hyperparameters`, or a tensor's name).
    #[error("saved state: `{field}`: {detail}")]
    SavedState { field: String, detail: String },
    /// A checkpoint file cannot be written or read as a whole.
    #[error("checkpoint `{file}`: {detail}")]
    CheckpointFile { file: String, detail: String },
    /// A tensor of a checkpoint does not fit the params or state it is loaded into (or
    /// is missing from the file, or is in the file but in neither).
    #[error("checkpoint `{file}`: tensor `{tensor}`: {detail}")]
    Checkpoint {
        file: String,
        tensor: String,
        detail: String,
    },
}
