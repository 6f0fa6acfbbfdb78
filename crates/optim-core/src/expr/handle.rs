//! [`Handle`]: the one concrete tree type a type-erased transformation runs on.
//!
//! A call on a [`Boxed`](super::Boxed) transformation with trees of some type `P` puts
//! them (one or two: params and gradients, or updates and params) into a set on the stack,
//! and hands the erased transformation a handle to each. A handle implements [`Tree`] by
//! asking the set, which knows `P`; zipping two handles of one set zips the two trees.
//! So an erased member works inside any combinator, over any view the combinator passes
//! (a selection of leaves, an updates buffer), without allocating.

use crate::tree::{Visit, VisitMut, Zip, ZipMut};
use crate::{Error, Float, Path, Tree};
use std::cell::RefCell;

/// One tree of a call.
pub(crate) enum Slot<'a, P> {
    Shared(&'a P),
    Mut(&'a mut P),
}

impl<P> Slot<'_, P> {
    fn get(&self) -> &P {
        match self {
            Slot::Shared(p) => p,
            Slot::Mut(p) => p,
        }
    }
    fn get_mut(&mut self) -> Result<&mut P, Error> {
        match self {
            Slot::Mut(p) => Ok(p),
            Slot::Shared(_) => Err(refused("this tree is read-only here")),
        }
    }
}

/// The trees of one call: one or two.
pub(crate) struct Trees<'a, P> {
    pub(crate) first: Slot<'a, P>,
    pub(crate) second: Option<Slot<'a, P>>,
}

fn refused(detail: &str) -> Error {
    Error::State {
        path: "<root>".into(),
        buffer: "boxed".into(),
        detail: detail.into(),
    }
}

impl<P> Trees<'_, P> {
    fn slot(&self, i: u8) -> Result<&P, Error> {
        match (i, &self.second) {
            (0, _) => Ok(self.first.get()),
            (1, Some(s)) => Ok(s.get()),
            _ => Err(refused("no such tree in this call")),
        }
    }
    fn slot_mut(&mut self, i: u8) -> Result<&mut P, Error> {
        match (i, &mut self.second) {
            (0, _) => self.first.get_mut(),
            (1, Some(s)) => s.get_mut(),
            _ => Err(refused("no such tree in this call")),
        }
    }
    /// Tree `i` writable and tree `j` read-only, `i != j`.
    fn pair(&mut self, i: u8, j: u8) -> Result<(&mut P, &P), Error> {
        match (i, j, &mut self.second) {
            (0, 1, Some(s)) => Ok((self.first.get_mut()?, s.get())),
            (1, 0, Some(s)) => Ok((s.get_mut()?, self.first.get())),
            _ => Err(refused("a tree cannot be zipped with itself while written")),
        }
    }
}

/// The object-safe face of [`Trees`].
pub(crate) trait TreeSet<F> {
    fn visit(&self, i: u8, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error>;
    fn visit_mut(&mut self, i: u8, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error>;
    fn zip(&self, i: u8, j: u8, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error>;
    fn zip_mut(
        &mut self,
        i: u8,
        j: u8,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error>;
}

impl<F: Float, P: Tree<F>> TreeSet<F> for Trees<'_, P> {
    fn visit(&self, i: u8, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        self.slot(i)?.visit(path, f)
    }
    fn visit_mut(&mut self, i: u8, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        self.slot_mut(i)?.visit_mut(path, f)
    }
    fn zip(&self, i: u8, j: u8, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        self.slot(i)?.zip(self.slot(j)?, path, f)
    }
    fn zip_mut(
        &mut self,
        i: u8,
        j: u8,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        let (a, b) = self.pair(i, j)?;
        a.zip_mut(b, path, f)
    }
}

/// A tree of a call on a [`Boxed`](super::Boxed) transformation, as the erased
/// transformation sees it.
pub struct Handle<'h, F> {
    set: &'h RefCell<dyn TreeSet<F> + 'h>,
    i: u8,
}

impl<'h, F> Handle<'h, F> {
    pub(crate) fn new(set: &'h RefCell<dyn TreeSet<F> + 'h>, i: u8) -> Self {
        Handle { set, i }
    }
    fn same_set(&self, other: &Self) -> Result<(), Error> {
        if std::ptr::addr_eq(self.set as *const _, other.set as *const _) {
            Ok(())
        } else {
            Err(refused("trees of different calls cannot be zipped"))
        }
    }
}

fn busy() -> Error {
    refused("the trees of this call are in use")
}

impl<F: Float> Tree<F> for Handle<'_, F> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        self.set
            .try_borrow()
            .map_err(|_| busy())?
            .visit(self.i, path, f)
    }
    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        self.set
            .try_borrow_mut()
            .map_err(|_| busy())?
            .visit_mut(self.i, path, f)
    }
    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        self.same_set(other)?;
        self.set
            .try_borrow()
            .map_err(|_| busy())?
            .zip(self.i, other.i, path, f)
    }
    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        self.same_set(other)?;
        self.set
            .try_borrow_mut()
            .map_err(|_| busy())?
            .zip_mut(self.i, other.i, path, f)
    }
}
