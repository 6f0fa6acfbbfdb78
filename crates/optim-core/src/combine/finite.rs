//! `apply_if_finite`: a step whose gradients hold a NaN or an infinity is skipped, until
//! too many in a row (optax's `apply_if_finite`). A skipped step changes neither the
//! params nor the wrapped optimizer's state: a NaN never reaches it.

use crate::{
    check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Path, Transformation, Tree,
    TreeExt,
};
use serde::{Deserialize, Serialize};

/// Runs `inner` only on finite gradients (optax's `apply_if_finite`); after more than
/// `max_consecutive_errors` non-finite steps in a row it gives up and runs `inner` anyway.
#[derive(Clone, Debug)]
pub struct ApplyIfFinite<T> {
    /// The wrapped transformation.
    pub inner: T,
    /// The number of non-finite steps in a row that are skipped.
    pub max_consecutive_errors: u64,
}

/// `inner`, skipping steps with NaN or infinite gradients.
pub fn apply_if_finite<T>(inner: T, max_consecutive_errors: u64) -> ApplyIfFinite<T> {
    ApplyIfFinite {
        inner,
        max_consecutive_errors,
    }
}

/// The state of [`ApplyIfFinite`] (optax's `ApplyIfFiniteState`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyIfFiniteState<S> {
    /// Non-finite steps in a row (0 after a finite one).
    pub notfinite_count: u64,
    /// Whether the last step's gradients were finite.
    pub last_finite: bool,
    /// Non-finite steps since `init`.
    pub total_notfinite: u64,
    /// The wrapped transformation's state.
    pub inner_state: S,
    /// The leaves of the params.
    pub leaves: Vec<LeafMeta>,
}

fn all_finite<F: Float, P: Tree<F>>(tree: &P) -> Result<bool, Error> {
    let mut finite = true;
    tree.visit(&Path::ROOT, &mut |_, d, _| {
        finite &= d.iter().all(|x| x.is_finite());
        Ok(())
    })?;
    Ok(finite)
}

impl<T> ApplyIfFinite<T> {
    /// Whether to run the inner transformation, and the counters after this step.
    fn decide<S>(&self, state: &ApplyIfFiniteState<S>, finite: bool) -> (bool, u64) {
        let count = if finite { 0 } else { state.notfinite_count + 1 };
        (finite || count > self.max_consecutive_errors, count)
    }

    fn record<S>(state: &mut ApplyIfFiniteState<S>, finite: bool, count: u64) {
        state.notfinite_count = count;
        state.last_finite = finite;
        if !finite {
            state.total_notfinite += 1;
        }
    }

    fn init_as<F: Float, P: Tree<F>>(
        &self,
        params: &P,
        inner: bool,
    ) -> Result<ApplyIfFiniteState<T::State>, Error>
    where
        T: Transformation<F>,
    {
        Ok(ApplyIfFiniteState {
            notfinite_count: 0,
            last_finite: true,
            total_notfinite: 0,
            inner_state: if inner {
                self.inner.init_inner(params)?
            } else {
                self.inner.init(params)?
            },
            leaves: leaf_metas(params)?,
        })
    }
}

impl<F: Float, T: Transformation<F>> Transformation<F> for ApplyIfFinite<T> {
    type State = ApplyIfFiniteState<T::State>;

    fn name(&self) -> &'static str {
        "apply_if_finite"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_as(params, false)
    }

    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_as(params, true)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        let finite = all_finite(&*updates)?;
        let (run, count) = self.decide(state, finite);
        if run {
            self.inner
                .update_with(updates, &mut state.inner_state, params, extra)?;
        } else {
            updates.fill_zero();
        }
        Self::record(state, finite, count);
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
        // Whether the inner transformation runs depends on the values it is given, which
        // an earlier member of a chain may still change, so it is always validated.
        check_update_trees(&state.leaves, updates, params)?;
        self.inner
            .validate(updates, &state.inner_state, params, extra)
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        let finite = all_finite(grads)?;
        let (run, count) = self.decide(state, finite);
        if run {
            self.inner
                .step_with(params, grads, &mut state.inner_state, extra)?;
        }
        Self::record(state, finite, count);
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
        let finite = all_finite(&*buffer)?;
        let (run, count) = self.decide(state, finite);
        if run {
            self.inner
                .step_with_buffer(params, buffer, &mut state.inner_state, extra)?;
        }
        Self::record(state, finite, count);
        Ok(())
    }
}
