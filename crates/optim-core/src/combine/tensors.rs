//! The named tensors ([`StateTensors`]) of the combinators' states, in one place so that
//! each combinator's file keeps only its behaviour.
//!
//! The names, after the prefix of the enclosing state:
//! - `partition`: each label's state under `<label>/`, and the label's resolved flags
//!   (checked on load, never set) as `<label>/labelled/<leaf>`.
//! - `named_chain` (and `chain_of`): each member's state under its name, `<name>/`.
//! - `MultiSteps`: `mini_step`, `gradient_step`, the accumulated gradients as
//!   `acc_grads/<leaf>` in their storage dtype, what the skip test saw as
//!   `skip/should_skip`, `skip/num_not_finite` and `skip/norm_squared`, and the wrapped
//!   optimizer's state under `inner/`.
//! - `apply_if_finite`: `notfinite_count`, `last_finite`, `total_notfinite`, and the
//!   wrapped state under `inner/`.
//! - `lookahead`: `steps_since_sync`, the slow params as `slow/<leaf>` (the leaf's shape),
//!   and the fast optimizer's state under `fast/`. The fast optimizer's initial state is
//!   not saved: `init` rebuilds it from the same params.
//! - `flatten`: the inner state (over one flat leaf) under `inner/`.
//! - `conditionally_transform` and `conditionally_mask`: `step`, and the inner state
//!   under `inner/`.
//!
//! A wrapper visits the wrapped state first, so that a checkpoint's `step` (the first
//! count it meets) is the wrapped optimizer's step count (for `MultiSteps`, its gradient
//! steps).
//!
//! `inject_hyperparams` keeps its tensors beside its private fields (`inject.rs`), and
//! `masked` beside its own (`masked.rs`). Scratch buffers are never tensors.

use super::{
    ApplyIfFiniteState, ConditionallyState, FlattenState, Group, LookaheadState, MultiStepsState,
    NamedChainState, PartitionState,
};
use crate::state_tensors::{
    check_leaf_bufs, leaf_name, visit_bufs, visit_bufs_mut, visit_flags, StateTensors, TensorMut,
    TensorRef, VisitTensor, VisitTensorMut,
};
use crate::{Error, Float};

impl<F: Float, S: StateTensors<F>> StateTensors<F> for PartitionState<S> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        for Group {
            label,
            flags,
            state,
        } in &self.groups
        {
            let p = format!("{prefix}{label}/");
            visit_flags(&p, "labelled", &self.leaves, flags, &mut |n, b| {
                f(n, TensorRef::Flag(b))
            })?;
            state.visit_tensors(&p, f)?;
        }
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        for Group {
            label,
            flags,
            state,
        } in &mut self.groups
        {
            let p = format!("{prefix}{label}/");
            visit_flags(&p, "labelled", &self.leaves, flags, &mut |n, b| {
                f(n, TensorMut::Flag(b))
            })?;
            state.visit_tensors_mut(&p, f)?;
        }
        Ok(())
    }
}

impl<F: Float, S: StateTensors<F>> StateTensors<F> for NamedChainState<S, F> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        for (name, s) in &self.states {
            s.visit_tensors(&format!("{prefix}{name}/"), f)?;
        }
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        for (name, s) in &mut self.states {
            s.visit_tensors_mut(&format!("{prefix}{name}/"), f)?;
        }
        Ok(())
    }
}

impl<F: Float, S: StateTensors<F>> StateTensors<F> for MultiStepsState<S, F> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        let name = |n: &str| format!("{prefix}{n}");
        self.inner_opt_state.visit_tensors(&name("inner/"), f)?;
        f(&name("mini_step"), TensorRef::Count(self.mini_step))?;
        f(&name("gradient_step"), TensorRef::Count(self.gradient_step))?;
        visit_bufs(prefix, "acc_grads", &self.leaves, &self.acc_grads, f)?;
        let skip = &self.skip_state;
        f(&name("skip/should_skip"), TensorRef::Bool(skip.should_skip))?;
        f(
            &name("skip/num_not_finite"),
            TensorRef::Count(skip.num_not_finite),
        )?;
        f(
            &name("skip/norm_squared"),
            TensorRef::Scalar(skip.norm_squared),
        )?;
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        let name = |n: &str| format!("{prefix}{n}");
        self.inner_opt_state.visit_tensors_mut(&name("inner/"), f)?;
        f(&name("mini_step"), TensorMut::Count(&mut self.mini_step))?;
        f(
            &name("gradient_step"),
            TensorMut::Count(&mut self.gradient_step),
        )?;
        visit_bufs_mut(prefix, "acc_grads", &self.leaves, &mut self.acc_grads, f)?;
        let skip = &mut self.skip_state;
        f(
            &name("skip/should_skip"),
            TensorMut::Bool(&mut skip.should_skip),
        )?;
        f(
            &name("skip/num_not_finite"),
            TensorMut::Count(&mut skip.num_not_finite),
        )?;
        f(
            &name("skip/norm_squared"),
            TensorMut::Scalar(&mut skip.norm_squared),
        )?;
        Ok(())
    }
}

impl<F: Float, S: StateTensors<F>> StateTensors<F> for ApplyIfFiniteState<S> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        let name = |n: &str| format!("{prefix}{n}");
        self.inner_state.visit_tensors(&name("inner/"), f)?;
        f(
            &name("notfinite_count"),
            TensorRef::Count(self.notfinite_count),
        )?;
        f(&name("last_finite"), TensorRef::Bool(self.last_finite))?;
        f(
            &name("total_notfinite"),
            TensorRef::Count(self.total_notfinite),
        )?;
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        let name = |n: &str| format!("{prefix}{n}");
        self.inner_state.visit_tensors_mut(&name("inner/"), f)?;
        f(
            &name("notfinite_count"),
            TensorMut::Count(&mut self.notfinite_count),
        )?;
        f(&name("last_finite"), TensorMut::Bool(&mut self.last_finite))?;
        f(
            &name("total_notfinite"),
            TensorMut::Count(&mut self.total_notfinite),
        )?;
        Ok(())
    }
}

/// Checks that the slow params have one buffer per leaf, of the leaf's length.
impl<F: Float, S: StateTensors<F>> StateTensors<F> for LookaheadState<S, F> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        check_leaf_bufs(&self.leaves, &self.slow, "slow")?;
        self.fast_state
            .visit_tensors(&format!("{prefix}fast/"), f)?;
        f(
            &format!("{prefix}steps_since_sync"),
            TensorRef::Count(self.steps_since_sync),
        )?;
        for (m, s) in self.leaves.iter().zip(&self.slow) {
            f(
                &leaf_name(prefix, "slow", &m.path),
                TensorRef::Elems(&m.shape, s),
            )?;
        }
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        check_leaf_bufs(&self.leaves, &self.slow, "slow")?;
        self.fast_state
            .visit_tensors_mut(&format!("{prefix}fast/"), f)?;
        f(
            &format!("{prefix}steps_since_sync"),
            TensorMut::Count(&mut self.steps_since_sync),
        )?;
        for (m, s) in self.leaves.iter().zip(&mut self.slow) {
            f(
                &leaf_name(prefix, "slow", &m.path),
                TensorMut::Elems(&m.shape, s),
            )?;
        }
        Ok(())
    }
}

impl<F: Float, S: StateTensors<F>> StateTensors<F> for FlattenState<S, F> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        self.inner.visit_tensors(&format!("{prefix}inner/"), f)
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        self.inner.visit_tensors_mut(&format!("{prefix}inner/"), f)
    }
}

impl<F: Float, S: StateTensors<F>> StateTensors<F> for ConditionallyState<S> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        f(&format!("{prefix}step"), TensorRef::Count(self.step))?;
        self.inner_state
            .visit_tensors(&format!("{prefix}inner/"), f)
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        f(&format!("{prefix}step"), TensorMut::Count(&mut self.step))?;
        self.inner_state
            .visit_tensors_mut(&format!("{prefix}inner/"), f)
    }
}
