//! The primitives: the only files with update math. Most are an `#[optimizer(unscaled)]`
//! declaration of one optax transformation (`scale_by_adam`, `trace`,
//! `add_decayed_weights`, ...), its update the element expression itself; the optimizers
//! in [`crate::optimizers`] are fused compositions of them.
//!
//! - [`moments`]: `scale_by_adam` and its variants, `scale_by_novograd`.
//! - [`magnitude`]: rescaling by a running magnitude (`scale_by_rms`, `scale_by_stddev`,
//!   `scale_by_rss`, `scale_by_adadelta`).
//! - [`descent`]: `trace` (momentum), `add_noise`, `scale_by_optimistic_gradient`,
//!   `scale_by_rprop`.
//! - [`sign`][]: `scale_by_lion`, `scale_by_sign`.
//! - [`nesterov_moments`][]: `scale_by_adan`.
//! - [`ema_mixtures`]: `scale_by_ademamix`, `scale_by_simplified_ademamix`.
//! - [`delayed_moments`]: `scale_by_acprop`, `scale_by_adopt`.
//! - [`dual_averaging`][]: `scale_by_madgrad`.
//! - [`trust_ratio`][]: `scale_by_trust_ratio`.
//! - [`step_size`][]: `scale_by_polyak`.
//! - [`coin_betting`][]: `scale_by_cocob`.
//! - [`distance`][]: `scale_by_dog`, `scale_by_dowg`.
//! - [`d_adaptation`][]: `scale_by_dadapt_adamw`, `scale_by_prodigy`.
//! - [`averaging`][]: `scale_by_schedule_free`, the post-processing of optax's
//!   `schedule_free` wrapper.
//! - [`momentum_model`][]: `scale_by_momo`, `scale_by_momo_adam`.
//! - [`scale`](mod@scale): `scale`, `scale_by_learning_rate`, `add_decayed_weights`, `ema`.
//! - [`clip`](mod@clip): `clip`, `clip_by_global_norm`.
//! - [`constrain`][]: `set_to_zero`, `zero_nans`, `keep_params_nonnegative`.
//! - [`rescale`][]: `scale_by_schedule`, `normalize_by_update_norm`.
//! - [`accumulate`][]: `apply_every`.
//!
//! Written by hand behind [`Transformation`](crate::Transformation) instead, where the
//! element DSL cannot express the math, with the kit of `kernel.rs`; each module says
//! why, and registers its optax names with a [`family!`](crate::family) table:
//!
//! - [`factored`]: `scale_by_factored_rms`, Adafactor's factored second moment, and the
//!   fused kernel of `adafactor`.
//! - [`block`]: the per-leaf block scalings `clip_by_block_rms`,
//!   `scale_by_param_block_rms`, `scale_by_param_block_norm`.
//! - [`sm3`]: `scale_by_sm3`, SM3's cover accumulators, and the kernel of `sm3`.
//! - [`unitwise`][]: `centralize` and `adaptive_grad_clip`, statistics per slice of a leaf.
//! - [`plateau`][]: `reduce_on_plateau`, a scale driven by the objective value.
//! - [`muon`][]: `scale_by_muon` (Newton-Schulz orthogonalization per matrix, through
//!   faer) and `scale_by_shape`, Muon's primitives.

pub mod accumulate;
pub mod averaging;
pub mod block;
pub mod clip;
pub mod coin_betting;
pub mod constrain;
pub mod d_adaptation;
pub mod delayed_moments;
pub mod descent;
pub mod distance;
pub mod dual_averaging;
pub mod ema_mixtures;
pub mod factored;
pub mod magnitude;
pub mod moments;
pub mod momentum_model;
pub mod muon;
pub mod nesterov_moments;
pub mod plateau;
pub mod quasi_newton;
pub mod rescale;
pub mod scale;
pub mod sign;
pub mod sm3;
pub mod step_size;
pub mod trust_ratio;
pub mod unitwise;

pub use accumulate::*;
pub use averaging::*;
pub use block::*;
pub use clip::*;
pub use coin_betting::*;
pub use constrain::*;
pub use d_adaptation::*;
pub use delayed_moments::*;
pub use descent::*;
pub use distance::*;
pub use dual_averaging::*;
pub use ema_mixtures::*;
pub use factored::*;
pub use magnitude::*;
pub use moments::*;
pub use momentum_model::*;
pub use muon::*;
pub use nesterov_moments::*;
pub use plateau::*;
pub use quasi_newton::*;
pub use rescale::*;
pub use scale::*;
pub use sign::*;
pub use sm3::*;
pub use step_size::*;
pub use trust_ratio::*;
pub use unitwise::*;
