//! candle tensors seen as an optim [`Tree`]: one leaf per var, named by the var's name,
//! read through the storage's read lock and written in place through candle's
//! `inplace_op1` / `inplace_op2`, which hand a custom op the `&mut` CPU storage.

use candle_core::{CpuStorage, DType, Layout, Storage, Tensor};
use optim_core::tree::{Visit, VisitMut, Zip, ZipMut};
use optim_core::{Error, Float, Path, Tree};
use std::cell::RefCell;

/// The element types optim computes in, as candle stores them.
pub trait Elem: Float + candle_core::WithDType {
    /// candle's dtype of this element type.
    const CANDLE: DType;
    /// The elements of a CPU storage of this dtype.
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    /// The elements of a CPU storage of this dtype, mutable.
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
}

impl Elem for f32 {
    const CANDLE: DType = DType::F32;
    fn slice(s: &CpuStorage) -> Option<&[f32]> {
        match s {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }
    }
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [f32]> {
        match s {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }
    }
}

impl Elem for f64 {
    const CANDLE: DType = DType::F64;
    fn slice(s: &CpuStorage) -> Option<&[f64]> {
        match s {
            CpuStorage::F64(v) => Some(v),
            _ => None,
        }
    }
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [f64]> {
        match s {
            CpuStorage::F64(v) => Some(v),
            _ => None,
        }
    }
}

/// Named candle tensors as an optim tree, in the order given. Built for the vars (the
/// params) and for their gradients alike, so that a step can zip the two.
///
/// Every tensor must be a contiguous CPU tensor of dtype `F`; [`check`] says which is
/// not, and the tree methods return an error naming the leaf (never a panic) if one is
/// not after all.
pub struct CandleTree<'a, F> {
    pub(crate) names: &'a [String],
    pub(crate) tensors: &'a [Tensor],
    pub(crate) _elem: std::marker::PhantomData<F>,
}

impl<'a, F: Elem> CandleTree<'a, F> {
    /// The tree of `tensors`, named by `names` (the same length).
    pub fn new(names: &'a [String], tensors: &'a [Tensor]) -> Self {
        CandleTree {
            names,
            tensors,
            _elem: std::marker::PhantomData,
        }
    }
}

/// Why the tensor `t` cannot be a leaf of dtype `F`, if it cannot.
pub fn check<F: Elem>(t: &Tensor) -> Option<String> {
    if !t.device().is_cpu() {
        return Some(format!(
            "is on {:?}: optim-candle updates CPU tensors only",
            t.device().location()
        ));
    }
    if t.dtype() != F::CANDLE {
        return Some(format!(
            "has dtype {:?}, this optimizer computes in {:?}",
            t.dtype(),
            F::CANDLE
        ));
    }
    if t.layout().contiguous_offsets().is_none() {
        return Some("is not contiguous".into());
    }
    None
}

fn bad_leaf(path: &Path<'_>, detail: &str) -> Error {
    Error::State {
        path: path.to_string(),
        buffer: "candle tensor".into(),
        detail: detail.into(),
    }
}

/// The elements of a contiguous CPU storage under `layout`.
fn elems<'s, F: Elem>(s: &'s CpuStorage, layout: &Layout) -> Option<&'s [F]> {
    let (a, b) = layout.contiguous_offsets()?;
    F::slice(s)?.get(a..b)
}

fn elems_mut<'s, F: Elem>(s: &'s mut CpuStorage, layout: &Layout) -> Option<&'s mut [F]> {
    let (a, b) = layout.contiguous_offsets()?;
    F::slice_mut(s)?.get_mut(a..b)
}

/// Calls `f` with the elements of `t`, read-locked.
fn read<F: Elem, R>(
    path: &Path<'_>,
    t: &Tensor,
    f: impl FnOnce(&[F]) -> Result<R, Error>,
) -> Result<R, Error> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => match elems::<F>(s, layout) {
            Some(d) => f(d),
            None => Err(bad_leaf(
                path,
                "is not a contiguous tensor of the optimizer's dtype",
            )),
        },
        _ => Err(bad_leaf(path, "is not on the CPU")),
    }
}

/// An in-place op that runs a callback on the destination's elements (and the source's).
struct Op<C> {
    call: RefCell<C>,
    err: RefCell<Option<Error>>,
}

impl<C> Op<C> {
    fn new(call: C) -> Self {
        Op {
            call: RefCell::new(call),
            err: RefCell::new(None),
        }
    }
    /// The callback's error, or candle's.
    fn finish(self, path: &Path<'_>, r: candle_core::Result<()>) -> Result<(), Error> {
        match (self.err.into_inner(), r) {
            (Some(e), _) => Err(e),
            (None, Ok(())) => Ok(()),
            (None, Err(e)) => Err(bad_leaf(path, &e.to_string())),
        }
    }
    fn fail(&self, e: Error) -> candle_core::Error {
        *self.err.borrow_mut() = Some(e);
        candle_core::Error::Msg("optim-candle: the update failed".into())
    }
}

struct Op1<F, C>(Op<C>, std::marker::PhantomData<F>);

impl<F: Elem, C: FnMut(&mut [F]) -> Result<(), Error>> candle_core::InplaceOp1 for Op1<F, C> {
    fn name(&self) -> &'static str {
        "optim-write"
    }
    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> candle_core::Result<()> {
        let Some(d) = elems_mut::<F>(s, l) else {
            return Err(candle_core::Error::Msg(
                "not a contiguous tensor of the optimizer's dtype".into(),
            ));
        };
        let r = (self.0.call.borrow_mut())(d);
        r.map_err(|e| self.0.fail(e))
    }
}

struct Op2<F, C>(Op<C>, std::marker::PhantomData<F>);

impl<F: Elem, C: FnMut(&mut [F], &[F]) -> Result<(), Error>> candle_core::InplaceOp2 for Op2<F, C> {
    fn name(&self) -> &'static str {
        "optim-step"
    }
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let (Some(p), Some(g)) = (elems_mut::<F>(s1, l1), elems::<F>(s2, l2)) else {
            return Err(candle_core::Error::Msg(
                "not a contiguous tensor of the optimizer's dtype".into(),
            ));
        };
        let r = (self.0.call.borrow_mut())(p, g);
        r.map_err(|e| self.0.fail(e))
    }
}

impl<F: Elem> Tree<F> for CandleTree<'_, F> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        for (name, t) in self.names.iter().zip(self.tensors) {
            let path = path.field(name);
            read::<F, _>(&path, t, |d| f(&path, d, t.dims()))?;
        }
        Ok(())
    }

    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        for (name, t) in self.names.iter().zip(self.tensors) {
            let path = path.field(name);
            let dims = t.dims();
            let op = Op1(
                Op::new(|d: &mut [F]| f(&path, d, dims)),
                std::marker::PhantomData,
            );
            let r = t.inplace_op1(&op);
            op.0.finish(&path, r)?;
        }
        Ok(())
    }

    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        same_names(self, other, path)?;
        for ((name, a), b) in self.names.iter().zip(self.tensors).zip(other.tensors) {
            let path = path.field(name);
            read::<F, _>(&path, a, |da| {
                read::<F, _>(&path, b, |db| f(&path, (da, a.dims()), (db, b.dims())))
            })?;
        }
        Ok(())
    }

    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        same_names(self, other, path)?;
        for ((name, a), b) in self.names.iter().zip(self.tensors).zip(other.tensors) {
            let path = path.field(name);
            let (da, db) = (a.dims(), b.dims());
            let op = Op2(
                Op::new(|p: &mut [F], g: &[F]| f(&path, (p, da), (g, db))),
                std::marker::PhantomData,
            );
            let r = a.inplace_op2(b, &op);
            op.0.finish(&path, r)?;
        }
        Ok(())
    }
}

fn same_names<F>(
    a: &CandleTree<'_, F>,
    b: &CandleTree<'_, F>,
    path: &Path<'_>,
) -> Result<(), Error> {
    if a.names == b.names && a.tensors.len() == b.tensors.len() && a.names.len() == a.tensors.len()
    {
        return Ok(());
    }
    let missing = a
        .names
        .iter()
        .find(|n| !b.names.contains(n))
        .or_else(|| b.names.iter().find(|n| !a.names.contains(n)))
        .cloned()
        .unwrap_or_default();
    Err(Error::MissingLeaf {
        path: path.field(&missing).to_string(),
        missing_in: "other tree".into(),
    })
}
