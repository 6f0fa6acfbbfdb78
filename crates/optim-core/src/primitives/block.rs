//! The per-leaf block scalings: `clip_by_block_rms`, `scale_by_param_block_rms` and
//! `scale_by_param_block_norm` (optax's names), primitives of `adafactor`.
//!
//! Each multiplies every update of a leaf by one factor computed from the whole leaf
//! (the rms of its updates, the rms or norm of its params): a per-leaf reduction and
//! then an element-wise scale, two passes over the leaf. They are written by hand behind
//! [`Transformation`] until the element DSL can read a leaf's element count; `adafactor`
//! does not call them but computes the same factors inside its fused kernel
//! (`primitives/factored/`).

use crate::kernel::{for_each_step_leaf, for_each_update_leaf, hand_hyperparams, sum_sq, LeafIo};
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use serde::{Deserialize, Serialize};

/// The state of the stateless per-leaf transformations ([`ClipByBlockRms`],
/// [`ScaleByParamBlockRms`], [`ScaleByParamBlockNorm`]): the leaves they were built for,
/// which every update is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockState {
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
}

/// What a block transformation multiplies each leaf's updates by.
trait BlockScale {
    const NAME: &'static str;
    const NEEDS_PARAMS: bool;
    /// The factor for a leaf, from its incoming updates and params.
    fn factor<F: Float>(&self, u: &[F], p: Option<&[F]>) -> F;
    fn check_args(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn block_update<F: Float, B: BlockScale, IO: LeafIo<F>>(b: &B, io: &mut IO) {
    let s = b.factor(io.grads(), io.params());
    let n = io.grads().len();
    io.apply(0, n, |_, u, _| u * s);
}

macro_rules! block_transformation {
    ($ty:ty) => {
        impl<F: Float> Transformation<F> for $ty {
            type State = BlockState;

            fn name(&self) -> &'static str {
                <$ty as BlockScale>::NAME
            }

            fn init<P: Tree<F>>(&self, params: &P) -> Result<BlockState, Error> {
                self.check_args()?;
                Ok(BlockState {
                    leaves: leaf_metas(params)?,
                })
            }

            fn update_with<P: Tree<F>>(
                &self,
                updates: &mut P,
                state: &mut BlockState,
                params: Option<&P>,
                _extra: &Extra,
            ) -> Result<(), Error> {
                self.check_args()?;
                check_update_trees(&state.leaves, updates, params)?;
                if params.is_none() && <$ty as BlockScale>::NEEDS_PARAMS {
                    return Err(Error::NeedsParams {
                        transform: <$ty as BlockScale>::NAME.into(),
                    });
                }
                for_each_update_leaf(updates, params, |_, io| block_update(self, io))
            }

            fn step_with<P: Tree<F> + Clone>(
                &self,
                params: &mut P,
                grads: &P,
                state: &mut BlockState,
                _extra: &Extra,
            ) -> Result<(), Error> {
                self.check_args()?;
                check_update_trees(&state.leaves, grads, Some(&*params))?;
                for_each_step_leaf(params, grads, |_, io| block_update(self, io))
            }
        }
    };
}

/// Clips each leaf's updates to a maximum rms (optax's `clip_by_block_rms`): a leaf's
/// updates are divided by `max(1, sqrt(Σ u² / n) / threshold)`.
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `threshold` | `f64` | required | the maximum rms of each leaf's updates |
#[derive(Clone, Debug)]
pub struct ClipByBlockRms {
    /// The maximum rms of each leaf's updates.
    pub threshold: f64,
}

/// Shorthand for [`ClipByBlockRms`] with `threshold`.
pub fn clip_by_block_rms(threshold: f64) -> ClipByBlockRms {
    ClipByBlockRms { threshold }
}

impl BlockScale for ClipByBlockRms {
    const NAME: &'static str = "clip_by_block_rms";
    const NEEDS_PARAMS: bool = false;
    fn factor<F: Float>(&self, u: &[F], _: Option<&[F]>) -> F {
        let rms = (sum_sq(u) / F::of(u.len() as f64)).sqrt();
        F::one() / F::one().max(rms / F::of(self.threshold))
    }
    fn check_args(&self) -> Result<(), Error> {
        if self.threshold > 0.0 {
            Ok(())
        } else {
            Err(Error::Hyper {
                transform: Self::NAME.into(),
                arg: "threshold".into(),
                detail: format!("must be positive, got {}", self.threshold),
            })
        }
    }
}
block_transformation!(ClipByBlockRms);
hand_hyperparams!(ClipByBlockRms, "clip_by_block_rms", required: ["threshold"],
    blank: ClipByBlockRms { threshold: 0.0 }, { threshold });

/// Scales each leaf's updates by the rms of its params, at least `min_scale` (optax's
/// `scale_by_param_block_rms`): `u * (rms <= min_scale ? min_scale : rms)`.
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `min_scale` | `f64` | `1e-3` | the smallest factor |
#[derive(Clone, Debug)]
pub struct ScaleByParamBlockRms {
    /// The smallest factor.
    pub min_scale: f64,
}

impl Default for ScaleByParamBlockRms {
    fn default() -> Self {
        ScaleByParamBlockRms { min_scale: 1e-3 }
    }
}

/// Shorthand for [`ScaleByParamBlockRms::default`].
pub fn scale_by_param_block_rms() -> ScaleByParamBlockRms {
    ScaleByParamBlockRms::default()
}

impl ScaleByParamBlockRms {
    /// Sets `min_scale`.
    #[must_use]
    pub fn min_scale(mut self, min_scale: f64) -> Self {
        self.min_scale = min_scale;
        self
    }
}

impl BlockScale for ScaleByParamBlockRms {
    const NAME: &'static str = "scale_by_param_block_rms";
    const NEEDS_PARAMS: bool = true;
    fn factor<F: Float>(&self, _: &[F], p: Option<&[F]>) -> F {
        let p = p.unwrap_or(&[]);
        let rms = (sum_sq(p) / F::of(p.len() as f64)).sqrt();
        let min = F::of(self.min_scale);
        if rms <= min {
            min
        } else {
            rms
        }
    }
}
block_transformation!(ScaleByParamBlockRms);
hand_hyperparams!(ScaleByParamBlockRms, "scale_by_param_block_rms", required: [],
    blank: ScaleByParamBlockRms::default(), { min_scale });

/// Scales each leaf's updates by the L2 norm of its params, at least `min_scale`
/// (optax's `scale_by_param_block_norm`): `u * max(‖p‖, min_scale)`.
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `min_scale` | `f64` | `1e-3` | the smallest factor |
#[derive(Clone, Debug)]
pub struct ScaleByParamBlockNorm {
    /// The smallest factor.
    pub min_scale: f64,
}

impl Default for ScaleByParamBlockNorm {
    fn default() -> Self {
        ScaleByParamBlockNorm { min_scale: 1e-3 }
    }
}

/// Shorthand for [`ScaleByParamBlockNorm::default`].
pub fn scale_by_param_block_norm() -> ScaleByParamBlockNorm {
    ScaleByParamBlockNorm::default()
}

impl ScaleByParamBlockNorm {
    /// Sets `min_scale`.
    #[must_use]
    pub fn min_scale(mut self, min_scale: f64) -> Self {
        self.min_scale = min_scale;
        self
    }
}

impl BlockScale for ScaleByParamBlockNorm {
    const NAME: &'static str = "scale_by_param_block_norm";
    const NEEDS_PARAMS: bool = true;
    fn factor<F: Float>(&self, _: &[F], p: Option<&[F]>) -> F {
        let norm = sum_sq(p.unwrap_or(&[])).sqrt();
        let min = F::of(self.min_scale);
        if norm <= min {
            min
        } else {
            norm
        }
    }
}
block_transformation!(ScaleByParamBlockNorm);
hand_hyperparams!(ScaleByParamBlockNorm, "scale_by_param_block_norm", required: [],
    blank: ScaleByParamBlockNorm::default(), { min_scale });

// These primitives have no documented trace; they are registered by this table.
crate::family! {
    "clip_by_block_rms" => ClipByBlockRms,
    "scale_by_param_block_rms" => ScaleByParamBlockRms,
    "scale_by_param_block_norm" => ScaleByParamBlockNorm,
}
