//! `masked`: a transformation applied only to the leaves a mask selects (optax's
//! `masked`), through [`Selected`], the view of a tree's selected leaves; `freeze`, the
//! masked `set_to_zero`. A masked transformation may itself be masked: the inner mask
//! then sees only the outer one's selected leaves.

use crate::state_tensors::{
    visit_flags, StateTensors, TensorMut, TensorRef, VisitTensor, VisitTensorMut,
};
use crate::tree::{Visit, VisitMut, Zip, ZipMut};
use crate::{Error, Extra, Float, LeafMeta, Mask, Path, Transformation, Tree};
use serde::{Deserialize, Serialize};

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

/// Freezes the leaves `mask` selects (optax's `freeze`, `true` = frozen): their updates
/// become zero, and the other leaves' updates pass through unchanged. It is
/// `masked(set_to_zero(), mask)`.
pub fn freeze(mask: impl Into<Mask>) -> Masked<crate::SetToZero> {
    masked(crate::set_to_zero(), mask)
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

impl<'a, P> Selected<'a, P> {
    /// The leaves of `tree` whose flag is set, read-only.
    pub(crate) fn shared(tree: &'a P, flags: &'a [bool]) -> Self {
        Selected {
            tree: Ref::Shared(tree),
            flags,
        }
    }
    /// The leaves of `tree` whose flag is set, writable.
    pub(crate) fn writable(tree: &'a mut P, flags: &'a [bool]) -> Self {
        Selected {
            tree: Ref::Mut(tree),
            flags,
        }
    }
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
        crate::check_update_trees(&state.leaves, updates, params)?;
        crate::__private::check_flags(&state.leaves, "mask", &state.flags)?;
        let view = Selected::shared(updates, &state.flags);
        let pview = params.map(|p| Selected::shared(p, &state.flags));
        self.inner
            .validate(&view, &state.inner, pview.as_ref(), extra)
    }
    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        crate::check_update_trees(&state.leaves, grads, Some(&*params))?;
        crate::__private::check_flags(&state.leaves, "mask", &state.flags)?;
        let flags = &state.flags;
        let mut pview = Selected {
            tree: Ref::Mut(params),
            flags,
        };
        let gview = Selected {
            tree: Ref::Shared(grads),
            flags,
        };
        self.inner
            .step_with(&mut pview, &gview, &mut state.inner, extra)?;
        pass_through(params, grads, flags)
    }
    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        crate::check_update_trees(&state.leaves, buffer, Some(&*params))?;
        crate::__private::check_flags(&state.leaves, "mask", &state.flags)?;
        let flags = &state.flags;
        let mut pview = Selected {
            tree: Ref::Mut(params),
            flags,
        };
        let mut bview = Selected {
            tree: Ref::Mut(buffer),
            flags,
        };
        self.inner
            .step_with_buffer(&mut pview, &mut bview, &mut state.inner, extra)?;
        pass_through(params, buffer, flags)
    }
}

impl<T> Masked<T> {
    fn init_as<F: Float, P: Tree<F>>(
        &self,
        params: &P,
        inner: bool,
    ) -> Result<MaskedState<T::State>, Error>
    where
        T: Transformation<F>,
    {
        let leaves = crate::leaf_metas(params)?;
        let paths: Vec<String> = leaves.iter().map(|m| m.path.clone()).collect();
        let flags = self.mask.resolve(&paths)?;
        let view = Selected {
            tree: Ref::Shared(params),
            flags: &flags,
        };
        let state = if inner {
            self.inner.init_inner(&view)?
        } else {
            self.inner.init(&view)?
        };
        Ok(MaskedState {
            leaves,
            flags,
            inner: state,
        })
    }
}

/// The leaves a mask leaves out keep their updates (the gradients) unchanged, as in
/// optax: a step adds them to the params.
fn pass_through<F: Float, P: Tree<F>>(
    params: &mut P,
    updates: &P,
    flags: &[bool],
) -> Result<(), Error> {
    let mut i = 0;
    params.zip_mut(updates, &Path::ROOT, &mut |_, (p, _), (u, _)| {
        if !flags.get(i).copied().unwrap_or(true) {
            for (p, u) in p.iter_mut().zip(u) {
                *p = *p + *u;
            }
        }
        i += 1;
        Ok(())
    })
}

/// The flags are named `masked/<leaf>` and the inner state's tensors `inner/...`.
impl<F: Float, S: StateTensors<F>> StateTensors<F> for MaskedState<S> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        visit_flags(prefix, "masked", &self.leaves, &self.flags, &mut |n, b| {
            f(n, TensorRef::Flag(b))
        })?;
        self.inner.visit_tensors(&format!("{prefix}inner/"), f)
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        visit_flags(prefix, "masked", &self.leaves, &self.flags, &mut |n, b| {
            f(n, TensorMut::Flag(b))
        })?;
        self.inner.visit_tensors_mut(&format!("{prefix}inner/"), f)
    }
}
