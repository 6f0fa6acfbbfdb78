//! Per-unit statistics of a leaf: `centralize` (the mean over all axes but the first) and
//! `adaptive_grad_clip` (norms over the leading axes, optax's `unitwise_norm`).
//!
//! Written by hand: a unit is a slice of the leaf along some axes, so the statistics are
//! indexed by a position within the leaf, which the element DSL's whole-leaf `leaf_sum`
//! does not express. A row-major leaf of shape `[d0, d1, ...]` is walked as `outer`
//! blocks of `inner` contiguous elements; `centralize` reduces within a block (one mean
//! per block), `adaptive_grad_clip` across blocks (one norm per position in a block,
//! kept in a scratch buffer of the state, so a step allocates nothing).

use crate::kernel::{for_each_step_leaf, for_each_update_leaf, hand_hyperparams, LeafIo};
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use serde::{Deserialize, Serialize};

/// The state of a transformation that keeps none of its own: the leaves it was built for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeavesState {
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
}

/// Subtracts from each update its mean over all axes but the first (optax's
/// `centralize`): a leaf of shape `[d0, ...]` loses the mean of each of its `d0` rows.
/// Scalars and vectors pass unchanged.
///
/// References: Yong et al, 2020, *Gradient Centralization: A New Optimization Technique
/// for Deep Neural Networks*.
#[derive(Clone, Debug, Default)]
pub struct Centralize;

/// Shorthand for [`Centralize`].
pub fn centralize() -> Centralize {
    Centralize
}

hand_hyperparams!(Centralize, "centralize", required: [], blank: Centralize, {});

/// Subtracts each row's mean from the leaf of shape `shape` that `io` holds.
fn centralize_leaf<F: Float>(shape: &[usize], io: &mut impl LeafIo<F>) {
    let n: usize = shape.iter().product();
    if shape.len() <= 1 || n == 0 {
        io.apply(0, n, |_, g, _| g);
        return;
    }
    let inner = n / shape[0];
    for row in 0..shape[0] {
        let start = row * inner;
        let sum: f64 = io.grads()[start..start + inner]
            .iter()
            .map(|g| g.f64())
            .sum();
        let mean = F::of(sum / inner as f64);
        io.apply(start, inner, |_, g, _| g - mean);
    }
}

impl<F: Float> Transformation<F> for Centralize {
    type State = LeavesState;

    fn name(&self) -> &'static str {
        "centralize"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<LeavesState, Error> {
        Ok(LeavesState {
            leaves: leaf_metas(params)?,
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut LeavesState,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        let leaves = &state.leaves;
        for_each_update_leaf(updates, params, |i, io| {
            centralize_leaf(&leaves[i].shape, io)
        })
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &LeavesState,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut LeavesState,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        let leaves = &state.leaves;
        for_each_step_leaf(params, grads, |i, io| centralize_leaf(&leaves[i].shape, io))
    }
}

/// Clips each unit of the updates to at most `clipping` times the norm of the same unit
/// of the params (optax's `adaptive_grad_clip`, AGC): with `‖·‖` the norm of a unit,
/// `u = g` where `‖g‖ < clipping * max(‖p‖, eps)`, else `g * clipping * max(‖p‖, eps) /
/// max(‖g‖, 1e-6)`.
///
/// Units follow optax's `unitwise_norm` by rank: a scalar or vector (also after dropping
/// axes of length 1) is one unit; rank 2 and 3 reduce axis 0, rank 4 axes 0 to 2, rank 5
/// axes 0 to 3. Other ranks are an error naming the leaf. optax's `axis` argument (other
/// reduction axes) is not offered.
///
/// References: Brock et al, 2021, *High-Performance Large-Scale Image Recognition
/// Without Normalization*.
#[derive(Clone, Debug)]
pub struct AdaptiveGradClip {
    /// The largest ratio of a unit's update norm to its param norm.
    pub clipping: f64,
    /// The smallest param norm, so zero-initialized params still move.
    pub eps: f64,
}

impl AdaptiveGradClip {
    /// `adaptive_grad_clip(clipping)` with optax's default `eps = 1e-3`.
    pub fn new(clipping: f64) -> Self {
        AdaptiveGradClip {
            clipping,
            eps: 1e-3,
        }
    }
    /// Sets `eps`.
    #[must_use]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

/// Shorthand for [`AdaptiveGradClip::new`].
pub fn adaptive_grad_clip(clipping: f64) -> AdaptiveGradClip {
    AdaptiveGradClip::new(clipping)
}

hand_hyperparams!(AdaptiveGradClip, "adaptive_grad_clip", required: ["clipping"],
    blank: AdaptiveGradClip::new(0.0), { clipping, eps });

/// The state of [`AdaptiveGradClip`]: the leaves, and the per-unit sums of a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveGradClipState {
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// Scratch: per-unit sums of squared updates and params (not saved; rebuilt).
    #[serde(skip)]
    scratch: (Vec<f64>, Vec<f64>),
}

/// `(outer, inner)`: a leaf of `shape` as `outer` blocks of `inner` elements, where a unit
/// is one position within a block; `None` for a rank optax has no default units for.
fn units(shape: &[usize]) -> Option<(usize, usize)> {
    let n: usize = shape.iter().product();
    let squeezed = shape.iter().filter(|&&d| d != 1).count();
    let inner = match shape.len() {
        _ if squeezed <= 1 => 1,
        2 | 3 => n.checked_div(shape[0]).unwrap_or(0),
        4 => shape[3],
        5 => shape[4],
        _ => return None,
    };
    Some((n.checked_div(inner).unwrap_or(0), inner))
}

fn check_units(leaves: &[LeafMeta]) -> Result<usize, Error> {
    let mut widest = 0;
    for m in leaves {
        let (_, inner) = units(&m.shape).ok_or_else(|| Error::Hyper {
            transform: "adaptive_grad_clip".into(),
            arg: "axis".into(),
            detail: format!(
                "leaf `{}`: shape {:?} has no default units (ranks 0 to 5 do)",
                m.path, m.shape
            ),
        })?;
        widest = widest.max(inner);
    }
    Ok(widest)
}

impl AdaptiveGradClip {
    fn leaf<F: Float>(
        &self,
        shape: &[usize],
        sums: &mut (Vec<f64>, Vec<f64>),
        io: &mut impl LeafIo<F>,
    ) {
        let Some((outer, inner)) = units(shape) else {
            return;
        };
        let (gs, ps) = (&mut sums.0[..inner], &mut sums.1[..inner]);
        gs.fill(0.0);
        ps.fill(0.0);
        let (g, p) = (io.grads(), io.params().unwrap_or(&[]));
        for o in 0..outer {
            let block = o * inner..(o + 1) * inner;
            for (s, x) in gs.iter_mut().zip(&g[block.clone()]) {
                *s += x.f64() * x.f64();
            }
            for (s, x) in ps.iter_mut().zip(&p[block]) {
                *s += x.f64() * x.f64();
            }
        }
        // Each unit's factor goes into `gs`: 1 keeps the update unchanged.
        for (g_sq, p_sq) in gs.iter_mut().zip(ps.iter()) {
            let g_norm = g_sq.sqrt();
            let max_norm = self.clipping * p_sq.sqrt().max(self.eps);
            *g_sq = if g_norm < max_norm {
                1.0
            } else {
                max_norm / g_norm.max(1e-6)
            };
        }
        for o in 0..outer {
            io.apply(o * inner, inner, |k, g, _| {
                let f = gs[k];
                if f == 1.0 {
                    g
                } else {
                    g * F::of(f)
                }
            });
        }
    }

    /// Checks the arguments: a NaN or negative `clipping` or `eps` makes every unit's
    /// bound NaN or negative.
    fn check(&self) -> Result<(), Error> {
        for (arg, v) in [("clipping", self.clipping), ("eps", self.eps)] {
            if v.is_nan() || v < 0.0 {
                return Err(Error::Hyper {
                    transform: "adaptive_grad_clip".into(),
                    arg: arg.into(),
                    detail: format!("must be at least 0, got {v}"),
                });
            }
        }
        Ok(())
    }

    fn prepare(&self, state: &mut AdaptiveGradClipState) -> Result<(), Error> {
        self.check()?;
        let widest = check_units(&state.leaves)?;
        if state.scratch.0.len() < widest || state.scratch.1.len() < widest {
            // A deserialized state has no scratch yet.
            state.scratch = (vec![0.0; widest], vec![0.0; widest]);
        }
        Ok(())
    }
}

impl<F: Float> Transformation<F> for AdaptiveGradClip {
    type State = AdaptiveGradClipState;

    fn name(&self) -> &'static str {
        "adaptive_grad_clip"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check()?;
        let leaves = leaf_metas(params)?;
        let widest = check_units(&leaves)?;
        Ok(AdaptiveGradClipState {
            leaves,
            scratch: (vec![0.0; widest], vec![0.0; widest]),
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        let Some(params) = params else {
            return Err(Error::NeedsParams {
                transform: "adaptive_grad_clip".into(),
            });
        };
        check_update_trees(&state.leaves, updates, Some(params))?;
        self.prepare(state)?;
        let AdaptiveGradClipState { leaves, scratch } = state;
        for_each_update_leaf(updates, Some(params), |i, io| {
            self.leaf(&leaves[i].shape, scratch, io)
        })
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        if params.is_none() {
            return Err(Error::NeedsParams {
                transform: "adaptive_grad_clip".into(),
            });
        }
        self.check()?;
        check_update_trees(&state.leaves, updates, params)?;
        check_units(&state.leaves).map(|_| ())
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        self.prepare(state)?;
        let AdaptiveGradClipState { leaves, scratch } = state;
        for_each_step_leaf(params, grads, |i, io| {
            self.leaf(&leaves[i].shape, scratch, io)
        })
    }
}

// Neither has a documented trace; they register by this table.
crate::family! {
    "centralize" => Centralize,
    "adaptive_grad_clip" => AdaptiveGradClip,
}

/// The leaves follow from the params, so this state has no tensors.
impl<F: Float> crate::StateTensors<F> for LeavesState {
    fn visit_tensors(
        &self,
        _: &str,
        _: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        _: &str,
        _: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        Ok(())
    }
}

/// The leaves follow from the params and the sums are scratch: no tensors.
impl<F: Float> crate::StateTensors<F> for AdaptiveGradClipState {
    fn visit_tensors(
        &self,
        _: &str,
        _: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        _: &str,
        _: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        Ok(())
    }
}
