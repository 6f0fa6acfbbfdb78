//! `conditionally_transform` and `conditionally_mask`: the wrapped transformation runs
//! only at the steps a predicate of the step count selects (optax's names). At the other
//! steps its state does not change, and the updates pass through unchanged
//! (`conditionally_transform`) or become zero (`conditionally_mask`).

use crate::{
    check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree, TreeExt,
};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::sync::Arc;

/// `inner` at the steps `should_transform_fn(step)` selects (0-based step count).
#[derive(Clone)]
pub struct Conditionally<T> {
    /// The wrapped transformation.
    pub inner: T,
    /// Whether to run `inner` at a 0-based step.
    pub should_transform_fn: Arc<dyn Fn(u64) -> bool + Send + Sync>,
    /// Whether the other steps' updates become zero (`conditionally_mask`) rather than
    /// pass through (`conditionally_transform`).
    pub mask: bool,
}

impl<T: Debug> Debug for Conditionally<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conditionally")
            .field("inner", &self.inner)
            .field("mask", &self.mask)
            .finish_non_exhaustive()
    }
}

/// `inner` at the selected steps; the others' updates pass through (optax's
/// `conditionally_transform`).
pub fn conditionally_transform<T>(
    inner: T,
    should_transform_fn: impl Fn(u64) -> bool + Send + Sync + 'static,
) -> Conditionally<T> {
    Conditionally {
        inner,
        should_transform_fn: Arc::new(should_transform_fn),
        mask: false,
    }
}

/// `inner` at the selected steps; the others' updates are zero (optax's
/// `conditionally_mask`).
pub fn conditionally_mask<T>(
    inner: T,
    should_transform_fn: impl Fn(u64) -> bool + Send + Sync + 'static,
) -> Conditionally<T> {
    Conditionally {
        inner,
        should_transform_fn: Arc::new(should_transform_fn),
        mask: true,
    }
}

/// The state of [`Conditionally`] (optax's `ConditionallyTransformState`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionallyState<S> {
    /// Steps done.
    pub step: u64,
    /// The wrapped transformation's state.
    pub inner_state: S,
    /// The leaves of the params.
    pub leaves: Vec<LeafMeta>,
}

impl<F: Float, T: Transformation<F>> Transformation<F> for Conditionally<T> {
    type State = ConditionallyState<T::State>;

    fn name(&self) -> &'static str {
        if self.mask {
            "conditionally_mask"
        } else {
            "conditionally_transform"
        }
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        Ok(ConditionallyState {
            step: 0,
            inner_state: self.inner.init(params)?,
            leaves: leaf_metas(params)?,
        })
    }

    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        Ok(ConditionallyState {
            step: 0,
            inner_state: self.inner.init_inner(params)?,
            leaves: leaf_metas(params)?,
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        if (self.should_transform_fn)(state.step) {
            self.inner
                .update_with(updates, &mut state.inner_state, params, extra)?;
        } else if self.mask {
            updates.fill_zero();
        }
        state.step += 1;
        Ok(())
    }

    fn calls_user_code(&self) -> bool {
        self.inner.calls_user_code()
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        if (self.should_transform_fn)(state.step) {
            self.inner
                .validate(updates, &state.inner_state, params, extra)?;
        }
        Ok(())
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        if (self.should_transform_fn)(state.step) {
            self.inner
                .step_with(params, grads, &mut state.inner_state, extra)?;
        } else if !self.mask {
            crate::apply_updates(params, grads)?;
        }
        state.step += 1;
        Ok(())
    }

    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, buffer, Some(&*params))?;
        if (self.should_transform_fn)(state.step) {
            self.inner
                .step_with_buffer(params, buffer, &mut state.inner_state, extra)?;
        } else if !self.mask {
            crate::apply_updates(params, buffer)?;
        }
        state.step += 1;
        Ok(())
    }
}
