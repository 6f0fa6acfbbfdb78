//! The factored second moment of Adafactor: the `scale_by_factored_rms` transformation
//! (optax's name) and the fused kernel that it and the `adafactor` optimizer
//! (`optimizers/adafactor.rs`) run.
//!
//! Written by hand behind [`Transformation`](crate::Transformation) rather than declared
//! with `#[optimizer]`: the factored second moment keeps a row and a column statistic per
//! leaf, over the two largest axes of *that* leaf (chosen at run time from its shape, for
//! any rank), and each element reads the row and column entries that its multi-axis index
//! selects. The element-wise DSL has no way to express that per-leaf choice of axes nor
//! that index structure. The per-leaf block statistics of `adafactor` (the clip's rms of
//! the update, the parameter rms) are computed in the same kernel, so `adafactor` still
//! runs as one transformation with no updates buffer.
//!
//! - `layout.rs`: which axes are factored, and the leaf seen as `[A, n_a, B, n_b, C]`;
//! - `stats.rs`: pass 1, the statistics, their factors and the clip's `Σ u²`;
//! - `state.rs`: [`FactoredRmsState`] and its scratch;
//! - `fused.rs`: the kernel of a step over one leaf (pass 1, then pass 2, the update),
//!   configured by a `Plan`;
//! - `run.rs`: a step over a tree, its leaves recorded and run on every core;
//! - `scale_by_factored_rms.rs`: [`ScaleByFactoredRms`] and the decay schedule.
//!
//! # Passes over a leaf
//!
//! A leaf of shape `[.., n_a, .., n_b, ..]`, with `a < b` its two factored axes, is seen as
//! `[A, n_a, B, n_b, C]`; its row and column statistics are the leaf reduced over `a` or
//! over `b` (which is which depends on which axis is the larger). The leaf is walked in
//! contiguous runs of `n_b * C` elements, one per `(x, i, y)`. The entries of the
//! statistic over `b` that a run contributes to (`C` of them) depend on that run alone;
//! the statistic over `a` needs every run. A step makes two streaming passes over a
//! leaf from memory:
//!
//! 1. statistics. Factored leaf without clipping: each run is read once, into the sums
//!    over `a` and over `b`. Factored leaf with clipping: each run is read once for its
//!    sums over `b`, which give its new entries `vb` of that statistic, then read again
//!    while it is still in cache, into the sums over `a` and into `w = Σ_i g² / vb` (one
//!    entry per entry of the statistic over `a`, scratch sized by `init`). Since the mean
//!    `M` of `v_row` over d1 is constant over both factored axes, the clip's
//!    `Σ u² = Σ g² · f_a² · f_b²` is then `Σ_{x,y,z} M Σ_j w / va`, known from the
//!    statistics alone once pass 1 ends (`factored_sum_u2`). An unfactored leaf with
//!    clipping updates its second moment here and sums `u²`. With
//!    `multiply_by_parameter_scale` the params are read once for their sum of squares.
//!    A leaf of two chunks or more adds its sums over `a` (and `w`) in at most 8 blocks
//!    of rows, each into a part of its own, then the parts in order
//!    (`Layout::a_blocks`): the same blocks whatever the thread count, so a parallel
//!    step streams each block on a thread and gets the sequential step's bits.
//! 2. the update: read gradient, param and momentum, write param (or update) and momentum.
//!
//! So every element of a leaf-sized buffer (gradient, params, momentum, the update) is
//! read at most twice from memory and written at most once per step. The in-cache
//! re-read of pass 1 assumes a run of `n_b * C` elements fits in the core's L2 (8 KB for
//! the 2048 f32 columns of a 4096×2048 leaf); a longer run is still correct but its
//! re-read comes from memory. The statistics (`v_row`, `v_col`, `w`, and the row and
//! column scratch, which hold the sums and then the factors) are one entry per row or
//! column, not per element (the scratch over `a`: one per block of rows), and are read a
//! few times each. No scratch is leaf-sized: that is the memory factoring exists to save.

mod fused;
mod layout;
mod run;
mod scale_by_factored_rms;
mod state;
mod stats;

pub use scale_by_factored_rms::{scale_by_factored_rms, ScaleByFactoredRms};
pub use state::FactoredRmsState;

pub(crate) use fused::Plan;
pub(crate) use run::{step, update, Extras};
pub(crate) use scale_by_factored_rms::{check_factored_args, decay_rate_pow, local_step};

// `adafactor` is registered by its documented trace; this primitive, which has none, by
// this table.
crate::family! {
    "scale_by_factored_rms" => ScaleByFactoredRms,
}
