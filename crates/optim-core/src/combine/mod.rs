//! Combinators at run time, over any transformations: `chain`/`chain!`, `identity`,
//! `masked` and `freeze` ([`masked.rs`](masked)), and the [`Overlay`] view they run their
//! members on; optax's wrappers, one family per file: `partition`/`multi_transform`
//! (`partition.rs`), `named_chain` and `chain_of` (`named.rs`), `flatten`,
//! `inject_hyperparams` (`inject.rs`), `MultiSteps` with `skip_not_finite` and
//! `skip_large_updates` (`multi_steps.rs`), `apply_if_finite` (`finite.rs`),
//! `conditionally_transform`/`conditionally_mask` (`conditional.rs`), `lookahead`.
//!
//! A chain runs its members one after the other over an updates buffer that lives in
//! its state (so a step allocates nothing); a fused composition
//! (`#[optimizer(fuse(...))]`) of declared primitives runs as one pass.

mod conditional;
mod finite;
mod flatten;
pub(crate) mod guard;
mod inject;
mod lookahead;
mod masked;
mod multi_steps;
mod named;
pub(crate) mod overlay;
mod partition;
mod tensors;

pub use conditional::{
    conditionally_mask, conditionally_transform, Conditionally, ConditionallyState,
};
pub use finite::{apply_if_finite, ApplyIfFinite, ApplyIfFiniteState};
pub use flatten::{flatten, Flatten, FlattenState};
pub use inject::{inject_hyperparams, InjectHyperparams, InjectHyperparamsState};
pub use lookahead::{lookahead, Lookahead, LookaheadState};
pub use masked::{freeze, masked, Masked, MaskedState, Selected};
pub use multi_steps::{
    multi_steps, skip_large_updates, skip_not_finite, MultiSteps, MultiStepsState, SkipState,
    SkipUpdate,
};
pub use named::{chain_of, named_chain, NamedChain, NamedChainState};
pub use overlay::Overlay;
pub use partition::{
    multi_transform, partition, Group, LabelFn, Labels, Partition, PartitionState,
};

use crate::state_tensors::{StateTensors, VisitTensor, VisitTensorMut};
use crate::{apply_updates, Error, Extra, Float, Transformation, Tree};
use serde::{Deserialize, Serialize};

/// The identity transformation: updates pass through unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

/// The identity transformation (optax's `identity`).
pub fn identity() -> Identity {
    Identity
}

impl<F: Float> Transformation<F> for Identity {
    type State = ();
    fn name(&self) -> &'static str {
        "identity"
    }
    fn init<P: Tree<F>>(&self, _: &P) -> Result<(), Error> {
        Ok(())
    }
    fn update_with<P: Tree<F>>(
        &self,
        _: &mut P,
        _: &mut (),
        _: Option<&P>,
        _: &Extra,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        _: &(),
        params: Option<&P>,
        _: &Extra,
    ) -> Result<(), Error> {
        // A step adds the updates to the params, which checks their shapes first.
        match params {
            Some(p) => crate::check_same_shapes(p, updates, "updates"),
            None => Ok(()),
        }
    }
    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        _: &mut (),
        _: &Extra,
    ) -> Result<(), Error> {
        apply_updates(params, grads)
    }
}

/// Two transformations applied in sequence (optax's `chain`); nest for more, or use
/// the [`chain!`](crate::chain!) macro.
#[derive(Clone, Debug)]
pub struct Chain<A, B>(pub A, pub B);

/// `a` then `b`.
pub fn chain<A, B>(a: A, b: B) -> Chain<A, B> {
    Chain(a, b)
}

/// Chains any number of transformations: `chain!(clip, scale_by_adam(), scale(-0.1))`.
#[macro_export]
macro_rules! chain {
    ($a:expr $(,)?) => { $a };
    ($a:expr, $($rest:expr),+ $(,)?) => { $crate::Chain($a, $crate::chain!($($rest),+)) };
}

/// The state of [`Chain`]: its members' states and the updates buffer a step runs them
/// in (one per leaf; not saved, rebuilt when missing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "A: Serialize, B: Serialize",
    deserialize = "A: Deserialize<'de>, B: Deserialize<'de>"
))]
pub struct ChainState<A, B, F> {
    /// The first member's state.
    pub first: A,
    /// The second member's state.
    pub rest: B,
    #[serde(skip)]
    scratch: Vec<Vec<F>>,
}

impl<F: Float, A: Transformation<F>, B: Transformation<F>> Transformation<F> for Chain<A, B> {
    type State = ChainState<A::State, B::State, F>;
    fn name(&self) -> &'static str {
        "chain"
    }
    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        Ok(ChainState {
            first: self.0.init_inner(params)?,
            rest: self.1.init_inner(params)?,
            scratch: overlay::scratch_for(params)?,
        })
    }
    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        // Inside another chain the outer one's buffer is used.
        Ok(ChainState {
            first: self.0.init_inner(params)?,
            rest: self.1.init_inner(params)?,
            scratch: Vec::new(),
        })
    }
    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        // Both members are validated before the first one writes, so an error in the
        // second (its state, an extra argument it reads) leaves everything unchanged;
        // an objective failing in a later member's line search, by the guard.
        guard::guarded(self.calls_user_code(), state, updates, |state, updates| {
            self.validate(&*updates, state, params, extra)?;
            self.0
                .update_with(updates, &mut state.first, params, extra)?;
            self.1.update_with(updates, &mut state.rest, params, extra)
        })
    }
    fn calls_user_code(&self) -> bool {
        self.0.calls_user_code() || self.1.calls_user_code()
    }
    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.0.validate(updates, &state.first, params, extra)?;
        self.1.validate(updates, &state.rest, params, extra)
    }
    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        guard::guarded(self.calls_user_code(), state, params, |state, params| {
            self.validate(grads, state, Some(&*params), extra)?;
            if overlay::copy_into(grads, &mut state.scratch).is_err() {
                // A state deserialized (or built for a member) has no buffer yet.
                state.scratch = overlay::scratch_for(grads)?;
                overlay::copy_into(grads, &mut state.scratch)?;
            }
            let mut updates = Overlay::over(grads, &mut state.scratch);
            let mut params = Overlay::of_mut(params);
            self.0
                .update_with(&mut updates, &mut state.first, Some(&params), extra)?;
            self.1
                .step_with_buffer(&mut params, &mut updates, &mut state.rest, extra)
        })
    }
    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        guard::guarded(self.calls_user_code(), state, params, |state, params| {
            self.validate(&*buffer, state, Some(&*params), extra)?;
            self.0
                .update_with(buffer, &mut state.first, Some(&*params), extra)?;
            self.1
                .step_with_buffer(params, buffer, &mut state.rest, extra)
        })
    }
}

/// A chain's members are numbered from 0 (`0/count`, `1/mu/encoder.w`); a chain inside
/// a chain continues its numbering. The updates buffer is scratch, not a tensor.
impl<F: Float, A: StateTensors<F>, B: StateTensors<F>> StateTensors<F> for ChainState<A, B, F> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        self.visit_members(prefix, 0, f).map(|_| ())
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        self.visit_members_mut(prefix, 0, f).map(|_| ())
    }
    fn visit_members(
        &self,
        prefix: &str,
        index: usize,
        f: &mut VisitTensor<'_, F>,
    ) -> Result<usize, Error> {
        let n = self.first.visit_members(prefix, index, f)?;
        Ok(n + self.rest.visit_members(prefix, index + n, f)?)
    }
    fn visit_members_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<usize, Error> {
        let n = self.first.visit_members_mut(prefix, index, f)?;
        Ok(n + self.rest.visit_members_mut(prefix, index + n, f)?)
    }
}
