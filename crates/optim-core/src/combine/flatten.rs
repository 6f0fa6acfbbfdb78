//! `flatten`: the inner transformation sees the whole tree as one vector (optax's
//! `flatten`), which makes many small leaves one long loop.

use crate::{
    check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Path, Transformation, Tree,
};
use serde::{Deserialize, Serialize};

/// Runs `inner` on the concatenation of all leaves, in traversal order (optax's
/// `flatten`): its state is that of one 1-d leaf of all the elements. Per-leaf
/// statistics of `inner` (a trust ratio, a block rms) are then statistics of the whole
/// tree, as in optax.
#[derive(Clone, Debug)]
pub struct Flatten<T> {
    pub inner: T,
}

/// `inner` on the flattened tree.
pub fn flatten<T>(inner: T) -> Flatten<T> {
    Flatten { inner }
}

/// The state of [`Flatten`]: the leaves, the inner state over one vector, and the
/// vectors a step copies the trees into (not saved; rebuilt).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(serialize = "S: Serialize", deserialize = "S: Deserialize<'de>"))]
pub struct FlattenState<S, F> {
    /// The leaves of the params.
    pub leaves: Vec<LeafMeta>,
    /// The inner transformation's state over the flattened params.
    pub inner: S,
    #[serde(skip)]
    scratch: (Vec<F>, Vec<F>),
}

/// Copies every leaf of `tree`, in order, into `flat` (of the total length).
fn gather<F: Float, P: Tree<F>>(tree: &P, flat: &mut [F]) -> Result<(), Error> {
    let mut at = 0;
    tree.visit(&Path::ROOT, &mut |_, d, _| {
        flat[at..at + d.len()].copy_from_slice(d);
        at += d.len();
        Ok(())
    })
}

/// Copies `flat` back into the leaves of `tree`.
fn scatter<F: Float, P: Tree<F>>(tree: &mut P, flat: &[F]) -> Result<(), Error> {
    let mut at = 0;
    tree.visit_mut(&Path::ROOT, &mut |_, d, _| {
        d.copy_from_slice(&flat[at..at + d.len()]);
        at += d.len();
        Ok(())
    })
}

fn total(leaves: &[LeafMeta]) -> usize {
    leaves.iter().map(LeafMeta::len).sum()
}

impl<T> Flatten<T> {
    fn init_as<F: Float, P: Tree<F>>(
        &self,
        params: &P,
        inner: bool,
    ) -> Result<FlattenState<T::State, F>, Error>
    where
        T: Transformation<F>,
    {
        let leaves = leaf_metas(params)?;
        let mut flat = vec![F::zero(); total(&leaves)];
        gather(params, &mut flat)?;
        let state = if inner {
            self.inner.init_inner(&flat)?
        } else {
            self.inner.init(&flat)?
        };
        let n = flat.len();
        Ok(FlattenState {
            leaves,
            inner: state,
            scratch: (flat, vec![F::zero(); n]),
        })
    }
}

fn ready<S, F: Float>(state: &mut FlattenState<S, F>) {
    let n = total(&state.leaves);
    if state.scratch.0.len() != n || state.scratch.1.len() != n {
        // A deserialized state has no vectors yet.
        state.scratch = (vec![F::zero(); n], vec![F::zero(); n]);
    }
}

impl<F: Float, T: Transformation<F>> Transformation<F> for Flatten<T> {
    type State = FlattenState<T::State, F>;

    fn name(&self) -> &'static str {
        "flatten"
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
        ready(state);
        let FlattenState {
            inner,
            scratch: (p, u),
            ..
        } = state;
        gather(updates, u)?;
        match params {
            Some(params) => {
                gather(params, p)?;
                self.inner.update_with(u, inner, Some(&*p), extra)?;
            }
            None => self.inner.update_with(u, inner, None, extra)?,
        }
        scatter(updates, u)
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
        // The wrapped transformation sees one vector of every element; a deserialized
        // state has none yet, so validating it once allocates them.
        let n = total(&state.leaves);
        let fresh;
        let (p, u) = if state.scratch.0.len() == n && state.scratch.1.len() == n {
            (&state.scratch.0, &state.scratch.1)
        } else {
            fresh = (vec![F::zero(); n], vec![F::zero(); n]);
            (&fresh.0, &fresh.1)
        };
        self.inner
            .validate(u, &state.inner, params.map(|_| p), extra)
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        ready(state);
        let FlattenState {
            inner,
            scratch: (p, g),
            ..
        } = state;
        gather(grads, g)?;
        gather(&*params, p)?;
        self.inner.step_with_buffer(p, g, inner, extra)?;
        scatter(params, p)
    }
}
