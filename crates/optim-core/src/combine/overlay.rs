//! [`Overlay`]: a tree with the structure (paths, shapes, leaf order) of a base tree and,
//! optionally, the data of per-leaf buffers instead of the base's. It is how a
//! combinator hands its scratch (an updates buffer kept in its state) to the
//! transformations it runs: they see a tree of one type, whether its leaves are the
//! caller's or the scratch.

use crate::tree::{Visit, VisitMut, Zip, ZipMut};
use crate::{Error, Float, Path, Tree};

enum Base<'a, P> {
    Shared(&'a P),
    Mut(&'a mut P),
}

enum Data<'a, F> {
    /// The base's own leaves.
    Base,
    Shared(&'a [Vec<F>]),
    Mut(&'a mut [Vec<F>]),
}

/// A base tree's structure over the base's data or over per-leaf buffers (one per leaf,
/// in traversal order, each of the leaf's length).
pub struct Overlay<'a, P, F> {
    base: Base<'a, P>,
    data: Data<'a, F>,
}

impl<'a, P, F> Overlay<'a, P, F> {
    /// The base tree itself, read-only.
    pub fn of(base: &'a P) -> Self {
        Overlay {
            base: Base::Shared(base),
            data: Data::Base,
        }
    }
    /// The base tree itself, writable.
    pub fn of_mut(base: &'a mut P) -> Self {
        Overlay {
            base: Base::Mut(base),
            data: Data::Base,
        }
    }
    /// The base's structure over `bufs`, writable.
    pub fn over(base: &'a P, bufs: &'a mut [Vec<F>]) -> Self {
        Overlay {
            base: Base::Shared(base),
            data: Data::Mut(bufs),
        }
    }
    /// The base's structure over `bufs`, read-only.
    pub fn over_shared(base: &'a P, bufs: &'a [Vec<F>]) -> Self {
        Overlay {
            base: Base::Shared(base),
            data: Data::Shared(bufs),
        }
    }
    fn base(&self) -> &P {
        match &self.base {
            Base::Shared(p) => p,
            Base::Mut(p) => p,
        }
    }
}

fn read_only() -> Error {
    Error::State {
        path: "<root>".into(),
        buffer: "overlay".into(),
        detail: "this view of the tree is read-only".into(),
    }
}

/// Leaf `i` of a buffer list, or an error naming the leaf when the list is short.
fn leaf<'b, F>(bufs: &'b [Vec<F>], i: usize, path: &Path<'_>) -> Result<&'b [F], Error> {
    bufs.get(i).map(Vec::as_slice).ok_or_else(|| Error::State {
        path: path.to_string(),
        buffer: "scratch".into(),
        detail: format!("{} buffers for more leaves", bufs.len()),
    })
}

fn data<'b, F>(
    d: &'b Data<'_, F>,
    base: &'b [F],
    i: usize,
    path: &Path<'_>,
) -> Result<&'b [F], Error> {
    match d {
        Data::Base => Ok(base),
        Data::Shared(b) => leaf(b, i, path),
        Data::Mut(b) => leaf(b, i, path),
    }
}

impl<F: Float, P: Tree<F>> Tree<F> for Overlay<'_, P, F> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        let mut i = 0;
        let d = &self.data;
        self.base().visit(path, &mut |p, x, s| {
            let x = data(d, x, i, p)?;
            i += 1;
            f(p, x, s)
        })
    }

    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        match (&mut self.base, &mut self.data) {
            (base, Data::Mut(bufs)) => {
                let base: &P = match base {
                    Base::Shared(p) => p,
                    Base::Mut(p) => p,
                };
                let mut i = 0;
                base.visit(path, &mut |p, _, s| {
                    let n = bufs.len();
                    let x = bufs.get_mut(i).ok_or_else(|| Error::State {
                        path: p.to_string(),
                        buffer: "scratch".into(),
                        detail: format!("{n} buffers for more leaves"),
                    })?;
                    i += 1;
                    f(p, x, s)
                })
            }
            (Base::Mut(t), Data::Base) => t.visit_mut(path, f),
            _ => Err(read_only()),
        }
    }

    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        let mut i = 0;
        let (da, db) = (&self.data, &other.data);
        self.base()
            .zip(other.base(), path, &mut |p, (a, sa), (b, sb)| {
                let a = data(da, a, i, p)?;
                let b = data(db, b, i, p)?;
                i += 1;
                f(p, (a, sa), (b, sb))
            })
    }

    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        let db = &other.data;
        let ob = other.base();
        let mut i = 0;
        match (&mut self.base, &mut self.data) {
            (base, Data::Mut(bufs)) => {
                let base: &P = match base {
                    Base::Shared(p) => p,
                    Base::Mut(p) => p,
                };
                base.zip(ob, path, &mut |p, (_, sa), (b, sb)| {
                    let b = data(db, b, i, p)?;
                    let n = bufs.len();
                    let a = bufs.get_mut(i).ok_or_else(|| Error::State {
                        path: p.to_string(),
                        buffer: "scratch".into(),
                        detail: format!("{n} buffers for more leaves"),
                    })?;
                    i += 1;
                    f(p, (a, sa), (b, sb))
                })
            }
            (Base::Mut(t), Data::Base) => t.zip_mut(ob, path, &mut |p, (a, sa), (b, sb)| {
                let b = data(db, b, i, p)?;
                i += 1;
                f(p, (a, sa), (b, sb))
            }),
            _ => Err(read_only()),
        }
    }
}

/// One buffer per leaf of `tree`, each of the leaf's length (zeros).
pub fn scratch_for<F: Float, P: Tree<F>>(tree: &P) -> Result<Vec<Vec<F>>, Error> {
    let mut v = Vec::new();
    tree.visit(&Path::ROOT, &mut |_, d, _| {
        v.push(vec![F::zero(); d.len()]);
        Ok(())
    })?;
    Ok(v)
}

/// Copies every leaf of `tree` into `bufs` (sized by [`scratch_for`] for a tree of the
/// same structure): no allocation.
pub fn copy_into<F: Float, P: Tree<F>>(tree: &P, bufs: &mut [Vec<F>]) -> Result<(), Error> {
    let mut i = 0;
    tree.visit(&Path::ROOT, &mut |p, d, _| {
        match bufs.get_mut(i) {
            Some(b) if b.len() == d.len() => b.copy_from_slice(d),
            _ => {
                return Err(Error::State {
                    path: p.to_string(),
                    buffer: "scratch".into(),
                    detail: "the scratch was sized for other leaves".into(),
                })
            }
        }
        i += 1;
        Ok(())
    })
}
