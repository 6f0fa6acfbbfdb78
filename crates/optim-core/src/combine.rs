//! Combinators at run time: `chain`, `identity` and `masked`, over any transformations.
//!
//! A chain runs its members one after the other over an updates buffer; a fused
//! composition (`#[optimizer(fuse(...))]`) of declared primitives runs as one pass.

use crate::tree::{Visit, VisitMut, Zip, ZipMut};
use crate::{Error, Extra, Float, LeafMeta, Mask, Path, Transformation, Tree};
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

impl<F: Float, A: Transformation<F>, B: Transformation<F>> Transformation<F> for Chain<A, B> {
    type State = (A::State, B::State);
    fn name(&self) -> &'static str {
        "chain"
    }
    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        Ok((self.0.init(params)?, self.1.init(params)?))
    }
    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        // Both members validate the same trees, so a tree error stops the first one
        // before it writes. Only a second state that is itself corrupt (a hand-made
        // state tuple) can fail after the first member has run.
        self.0.update_with(updates, &mut state.0, params, extra)?;
        self.1.update_with(updates, &mut state.1, params, extra)
    }
}

/// Applies `inner` only to the leaves `mask` selects (optax's `masked`); the other
/// leaves' updates pass through unchanged, and `inner` keeps state only for the
/// selected leaves.
#[derive(Clone, Debug)]
pub struct Masked<T> {
    pub inner: T,
    pub mask: Mask,
}

/// `inner` on the leaves `mask` selects.
pub fn masked<T>(inner: T, mask: impl Into<Mask>) -> Masked<T> {
    Masked {
        inner,
        mask: mask.into(),
    }
}

/// The state of [`Masked`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskedState<S> {
    /// Every leaf of the params, selected or not.
    pub leaves: Vec<LeafMeta>,
    /// Whether each leaf is selected.
    pub flags: Vec<bool>,
    /// The inner transformation's state, over the selected leaves.
    pub inner: S,
}

enum Ref<'a, P> {
    Shared(&'a P),
    Mut(&'a mut P),
}

/// The selected leaves of a tree, as a tree: what a masked inner transformation sees.
pub struct Selected<'a, P> {
    tree: Ref<'a, P>,
    flags: &'a [bool],
}

impl<P> Selected<'_, P> {
    fn get(&self) -> &P {
        match &self.tree {
            Ref::Shared(p) => p,
            Ref::Mut(p) => p,
        }
    }
}

/// Walks the per-leaf flags alongside a traversal: whether the next leaf is selected.
struct Gate<'a> {
    flags: std::slice::Iter<'a, bool>,
}

impl<'a> Gate<'a> {
    fn new(flags: &'a [bool]) -> Self {
        Gate {
            flags: flags.iter(),
        }
    }
    fn next(&mut self) -> bool {
        self.flags.next().copied().unwrap_or(false)
    }
}

fn read_only() -> Error {
    Error::State {
        path: "<root>".into(),
        buffer: "masked".into(),
        detail: "the params of a masked transformation are read-only".into(),
    }
}

impl<F: Float, P: Tree<F>> Tree<F> for Selected<'_, P> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        let mut gate = Gate::new(self.flags);
        self.get().visit(path, &mut |p, d, s| {
            if gate.next() {
                f(p, d, s)
            } else {
                Ok(())
            }
        })
    }
    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        let mut gate = Gate::new(self.flags);
        let Ref::Mut(t) = &mut self.tree else {
            return Err(read_only());
        };
        t.visit_mut(path, &mut |p, d, s| {
            if gate.next() {
                f(p, d, s)
            } else {
                Ok(())
            }
        })
    }
    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        let mut gate = Gate::new(self.flags);
        self.get().zip(other.get(), path, &mut |p, a, b| {
            if gate.next() {
                f(p, a, b)
            } else {
                Ok(())
            }
        })
    }
    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        let mut gate = Gate::new(self.flags);
        let other = other.get();
        let Ref::Mut(t) = &mut self.tree else {
            return Err(read_only());
        };
        t.zip_mut(other, path, &mut |p, a, b| {
            if gate.next() {
                f(p, a, b)
            } else {
                Ok(())
            }
        })
    }
}

impl<F: Float, T: Transformation<F>> Transformation<F> for Masked<T> {
    type State = MaskedState<T::State>;
    fn name(&self) -> &'static str {
        "masked"
    }
    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        let leaves = crate::leaf_metas(params)?;
        let paths: Vec<String> = leaves.iter().map(|m| m.path.clone()).collect();
        let flags = self.mask.resolve(&paths)?;
        let view = Selected {
            tree: Ref::Shared(params),
            flags: &flags,
        };
        let inner = self.inner.init(&view)?;
        Ok(MaskedState {
            leaves,
            flags,
            inner,
        })
    }
    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        crate::check_update_trees(&state.leaves, updates, params)?;
        crate::__private::check_flags(&state.leaves, "mask", &state.flags)?;
        let flags = &state.flags;
        let mut view = Selected {
            tree: Ref::Mut(updates),
            flags,
        };
        let pview = params.map(|p| Selected {
            tree: Ref::Shared(p),
            flags,
        });
        self.inner
            .update_with(&mut view, &mut state.inner, pview.as_ref(), extra)
    }
}
