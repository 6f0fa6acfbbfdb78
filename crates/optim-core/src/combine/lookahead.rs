//! `lookahead`: a fast optimizer whose params are pulled toward slow params every
//! `sync_period` steps (optax's `lookahead`).
//!
//! optax keeps the two copies in a `LookaheadParams(fast, slow)` tree; here the params
//! are the fast ones (what the gradients are taken at) and the state holds the slow ones
//! ([`LookaheadState::slow`], for evaluation), so any tree works. The numbers are optax's:
//! with `d = fast + u - slow` (`u` the fast optimizer's update), a sync step moves the
//! slow params by `slow_step_size * d` and the fast ones by `u - (1 - slow_step_size) * d`,
//! which lands them on the new slow params.

use super::overlay;
use crate::{
    check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Path, Transformation, Tree,
};
use serde::{Deserialize, Serialize};

/// `fast_optimizer` with lookahead (optax's `lookahead`).
#[derive(Clone, Debug)]
pub struct Lookahead<T> {
    /// The optimizer of the fast params.
    pub fast_optimizer: T,
    /// Steps between synchronizations, at least 1.
    pub sync_period: u64,
    /// How far a synchronization moves the slow params toward the fast ones.
    pub slow_step_size: f64,
    /// Whether a synchronization also resets the fast optimizer's state to its initial
    /// state (which copies the initial state: that step allocates).
    pub reset_state: bool,
}

/// Lookahead over `fast_optimizer` (optax's `lookahead`; `reset_state` defaults to false).
pub fn lookahead<T>(fast_optimizer: T, sync_period: u64, slow_step_size: f64) -> Lookahead<T> {
    Lookahead {
        fast_optimizer,
        sync_period,
        slow_step_size,
        reset_state: false,
    }
}

impl<T> Lookahead<T> {
    /// Sets `reset_state`.
    #[must_use]
    pub fn reset_state(mut self, reset_state: bool) -> Self {
        self.reset_state = reset_state;
        self
    }
}

/// The state of [`Lookahead`] (optax's `LookaheadState`, plus the slow params).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, F: Serialize",
    deserialize = "S: Deserialize<'de>, F: Deserialize<'de>"
))]
pub struct LookaheadState<S, F> {
    /// The fast optimizer's state.
    pub fast_state: S,
    /// Steps since the last synchronization.
    pub steps_since_sync: u64,
    /// The slow params, one buffer per leaf (optax's `params.slow`).
    pub slow: Vec<Vec<F>>,
    /// The leaves of the params.
    pub leaves: Vec<LeafMeta>,
    /// The fast optimizer's initial state, kept for `reset_state`.
    pub initial: Option<S>,
    #[serde(skip)]
    scratch: Vec<Vec<F>>,
}

impl<T> Lookahead<T> {
    fn check(&self) -> Result<(), Error> {
        if self.sync_period == 0 {
            return Err(Error::Hyper {
                transform: "lookahead".into(),
                arg: "sync_period".into(),
                detail: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

impl<F: Float, T: Transformation<F>> Transformation<F> for Lookahead<T> {
    type State = LookaheadState<T::State, F>;

    fn name(&self) -> &'static str {
        "lookahead"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check()?;
        let fast_state = self.fast_optimizer.init(params)?;
        let mut slow = overlay::scratch_for(params)?;
        overlay::copy_into(params, &mut slow)?;
        Ok(LookaheadState {
            initial: self.reset_state.then(|| fast_state.clone()),
            fast_state,
            steps_since_sync: 0,
            scratch: overlay::scratch_for(params)?,
            slow,
            leaves: leaf_metas(params)?,
        })
    }

    /// Lookahead's updates need the fast params and change the slow ones, so `update`
    /// works as `step` does but writes the fast params' updates into `updates`.
    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        let Some(params) = params else {
            return Err(Error::NeedsParams {
                transform: "lookahead".into(),
            });
        };
        self.validate(&*updates, state, Some(params), extra)?;
        self.fast_optimizer
            .update_with(updates, &mut state.fast_state, Some(params), extra)?;
        let sync = state.steps_since_sync + 1 == self.sync_period;
        if sync {
            let alpha = F::of(self.slow_step_size);
            let keep = F::of(1.0 - self.slow_step_size);
            let mut i = 0;
            let slow = &mut state.slow;
            updates.zip_mut(params, &Path::ROOT, &mut |_, (u, _), (f, _)| {
                for ((u, &f), s) in u.iter_mut().zip(f).zip(slow[i].iter_mut()) {
                    let d = f + *u - *s;
                    *s = *s + alpha * d;
                    *u = *u - keep * d;
                }
                i += 1;
                Ok(())
            })?;
            if let Some(initial) = &state.initial {
                state.fast_state = initial.clone();
            }
        }
        state.steps_since_sync = if sync { 0 } else { state.steps_since_sync + 1 };
        Ok(())
    }

    fn calls_user_code(&self) -> bool {
        self.fast_optimizer.calls_user_code()
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        let Some(params) = params else {
            return Err(Error::NeedsParams {
                transform: "lookahead".into(),
            });
        };
        self.check()?;
        check_update_trees(&state.leaves, updates, Some(params))?;
        if state.slow.len() != state.leaves.len()
            || state
                .slow
                .iter()
                .zip(&state.leaves)
                .any(|(s, m)| s.len() != m.len())
        {
            return Err(Error::State {
                path: state
                    .leaves
                    .first()
                    .map_or("<root>".into(), |m| m.path.clone()),
                buffer: "slow".into(),
                detail: "the slow params do not fit the leaves".into(),
            });
        }
        self.fast_optimizer
            .validate(updates, &state.fast_state, Some(params), extra)
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        if overlay::copy_into(grads, &mut state.scratch).is_err() {
            // A deserialized state has no buffer yet.
            state.scratch = overlay::scratch_for(grads)?;
            overlay::copy_into(grads, &mut state.scratch)?;
        }
        let mut scratch = std::mem::take(&mut state.scratch);
        let result = {
            let mut u = overlay::Overlay::over(grads, &mut scratch);
            let p = overlay::Overlay::of(&*params);
            self.update_with(&mut u, state, Some(&p), extra)
        };
        if result.is_ok() {
            let mut i = 0;
            params.visit_mut(&Path::ROOT, &mut |_, p, _| {
                for (p, &u) in p.iter_mut().zip(&scratch[i]) {
                    *p = *p + u;
                }
                i += 1;
                Ok(())
            })?;
        }
        state.scratch = scratch;
        result
    }
}
