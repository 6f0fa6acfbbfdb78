//! Named access to the tensors of an optimizer state: what checkpoints save and load.
//!
//! A state is seen as a flat list of named tensors. Each per-leaf buffer is named by its
//! buffer and the leaf's path (`mu/encoder.w`), a step count by `count`, a resolved mask
//! flag by the mask's name and the leaf (`mask/encoder.w`), and a per-leaf scalar state
//! like a buffer with the shape `[]`. Combinators put a prefix before their members'
//! names: a chain numbers its members (`0/count`, `1/mu/encoder.w`), flattening nested
//! chains, and `masked` keeps its flags under `masked/` and its inner state under
//! `inner/`. The module docs of each combinator's state say its names
//! (`crate::combine::tensors` for most).
//!
//! The states that `#[optimizer]` generates implement [`StateTensors`], and so do the
//! hand-written ones and the combinators' states. A new combinator implements it by
//! delegating to its members with a prefix of its own, and by visiting any state it
//! keeps itself (see `combine/mod.rs` for the chain). Scratch memory that is not part of
//! the saved state (a chain's updates buffer) is not visited.

use crate::{Buf, Error, Float, LeafMeta};

/// One tensor of a state, to read.
#[derive(Clone, Copy, Debug)]
pub enum TensorRef<'a, F> {
    /// A step count, saved as a `u64` scalar.
    Count(u64),
    /// A buffer in its storage dtype, with the shape it is saved with.
    Buf(&'a [usize], &'a Buf<F>),
    /// Data in the params' element type, with the shape it is saved with.
    Elems(&'a [usize], &'a [F]),
    /// A flag of a leaf (a resolved mask), saved as a `bool` scalar. Flags follow from
    /// the configuration and the params, so loading checks them and never sets them.
    Flag(bool),
    /// A boolean the state changes as it steps (whether the last step was finite), saved
    /// as a `bool` scalar and restored.
    Bool(bool),
    /// A number the state keeps in `f64` whatever the params' type (an injected
    /// hyperparameter, a squared norm), saved as an `f64` scalar.
    Scalar(f64),
}

/// One tensor of a state, to set back.
#[derive(Debug)]
pub enum TensorMut<'a, F> {
    /// A step count.
    Count(&'a mut u64),
    /// A buffer in its storage dtype, with the shape it is saved with. Its dtype is the
    /// one the state was built with; a loaded tensor of another dtype is an error.
    Buf(&'a [usize], &'a mut Buf<F>),
    /// Data in the params' element type.
    Elems(&'a [usize], &'a mut [F]),
    /// A flag, to check against the saved one.
    Flag(bool),
    /// A boolean of the state.
    Bool(&'a mut bool),
    /// A number kept in `f64`.
    Scalar(&'a mut f64),
}

/// The callback of [`StateTensors::visit_tensors`]: the tensor's full name and the tensor.
pub type VisitTensor<'v, F> = dyn FnMut(&str, TensorRef<'_, F>) -> Result<(), Error> + 'v;
/// The callback of [`StateTensors::visit_tensors_mut`].
pub type VisitTensorMut<'v, F> = dyn FnMut(&str, TensorMut<'_, F>) -> Result<(), Error> + 'v;

/// An optimizer state seen as named tensors (see the module docs for the names).
///
/// Both methods visit the same tensors with the same names in the same order, so that a
/// checkpoint can check everything with [`visit_tensors`](Self::visit_tensors) before it
/// writes anything with [`visit_tensors_mut`](Self::visit_tensors_mut). A state whose
/// buffers disagree with its leaves is reported as [`Error::State`], never a panic.
pub trait StateTensors<F: Float> {
    /// Calls `f` with every tensor, each named `prefix` + its name.
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error>;

    /// Calls `f` with every tensor, mutable, each named `prefix` + its name.
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error>;

    /// Visits this state as the members of a chain starting at position `index`, and
    /// returns how many members it took: one, unless it is itself a chain, whose
    /// members join the outer chain's numbering.
    #[doc(hidden)]
    fn visit_members(
        &self,
        prefix: &str,
        index: usize,
        f: &mut VisitTensor<'_, F>,
    ) -> Result<usize, Error> {
        self.visit_tensors(&format!("{prefix}{index}/"), f)?;
        Ok(1)
    }

    /// [`visit_members`](Self::visit_members), mutable.
    #[doc(hidden)]
    fn visit_members_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<usize, Error> {
        self.visit_tensors_mut(&format!("{prefix}{index}/"), f)?;
        Ok(1)
    }
}

/// The name of a leaf's tensor: `prefix` + `buffer/leaf`.
pub fn leaf_name(prefix: &str, buffer: &str, leaf: &str) -> String {
    format!("{prefix}{buffer}/{leaf}")
}

/// The stateless transformations' state (`identity`).
impl<F: Float> StateTensors<F> for () {
    fn visit_tensors(&self, _: &str, _: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        Ok(())
    }
    fn visit_tensors_mut(&mut self, _: &str, _: &mut VisitTensorMut<'_, F>) -> Result<(), Error> {
        Ok(())
    }
}

fn corrupt(leaves: &[LeafMeta], i: Option<usize>, buffer: &str, detail: String) -> Error {
    let path = match i {
        Some(i) => leaves.get(i).map(|m| m.path.clone()),
        None => leaves.first().map(|m| m.path.clone()),
    };
    Error::State {
        path: path.unwrap_or_else(|| "<root>".into()),
        buffer: buffer.into(),
        detail,
    }
}

fn check_len(leaves: &[LeafMeta], buffer: &str, len: usize) -> Result<(), Error> {
    if len == leaves.len() {
        Ok(())
    } else {
        Err(corrupt(
            leaves,
            None,
            buffer,
            format!("{} leaves recorded but {len} entries", leaves.len()),
        ))
    }
}

/// The tensors of a state as `#[optimizer]` generates it: the count, then per leaf each
/// element buffer (a disabled one is not a tensor), each resolved mask and each per-leaf
/// scalar. Generated code calls it with its fields.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn visit_generated<F: Float>(
    prefix: &str,
    count: u64,
    leaves: &[LeafMeta],
    bufs: &[(&str, &[Buf<F>])],
    masks: &[(&str, &[bool])],
    scalars: &[(&str, &[F])],
    f: &mut VisitTensor<'_, F>,
) -> Result<(), Error> {
    check_generated(
        leaves,
        bufs.iter().map(|(n, b)| (*n, b.len())),
        masks.iter().map(|(n, b)| (*n, b.len())),
        scalars.iter().map(|(n, b)| (*n, b.len())),
    )?;
    f(&format!("{prefix}count"), TensorRef::Count(count))?;
    for (i, m) in leaves.iter().enumerate() {
        for (name, b) in bufs {
            let b = &b[i];
            if b.len() != m.len() {
                return Err(corrupt(
                    leaves,
                    Some(i),
                    name,
                    format!("{} elements, the leaf has {}", b.len(), m.len()),
                ));
            }
            if !matches!(b, Buf::Absent(_)) {
                f(
                    &leaf_name(prefix, name, &m.path),
                    TensorRef::Buf(&m.shape, b),
                )?;
            }
        }
        for (name, flags) in masks {
            f(&leaf_name(prefix, name, &m.path), TensorRef::Flag(flags[i]))?;
        }
        for (name, s) in scalars {
            f(
                &leaf_name(prefix, name, &m.path),
                TensorRef::Elems(&[], std::slice::from_ref(&s[i])),
            )?;
        }
    }
    Ok(())
}

/// [`visit_generated`], mutable.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn visit_generated_mut<F: Float>(
    prefix: &str,
    count: &mut u64,
    leaves: &[LeafMeta],
    bufs: &mut [(&str, &mut [Buf<F>])],
    masks: &[(&str, &[bool])],
    scalars: &mut [(&str, &mut [F])],
    f: &mut VisitTensorMut<'_, F>,
) -> Result<(), Error> {
    check_generated(
        leaves,
        bufs.iter().map(|(n, b)| (*n, b.len())),
        masks.iter().map(|(n, b)| (*n, b.len())),
        scalars.iter().map(|(n, b)| (*n, b.len())),
    )?;
    f(&format!("{prefix}count"), TensorMut::Count(count))?;
    for (i, m) in leaves.iter().enumerate() {
        for (name, b) in bufs.iter_mut() {
            let b = &mut b[i];
            if b.len() != m.len() {
                return Err(corrupt(
                    leaves,
                    Some(i),
                    name,
                    format!("{} elements, the leaf has {}", b.len(), m.len()),
                ));
            }
            if !matches!(b, Buf::Absent(_)) {
                f(
                    &leaf_name(prefix, name, &m.path),
                    TensorMut::Buf(&m.shape, b),
                )?;
            }
        }
        for (name, flags) in masks {
            f(&leaf_name(prefix, name, &m.path), TensorMut::Flag(flags[i]))?;
        }
        for (name, s) in scalars.iter_mut() {
            f(
                &leaf_name(prefix, name, &m.path),
                TensorMut::Elems(&[], std::slice::from_mut(&mut s[i])),
            )?;
        }
    }
    Ok(())
}

fn check_generated<'n>(
    leaves: &[LeafMeta],
    bufs: impl Iterator<Item = (&'n str, usize)>,
    masks: impl Iterator<Item = (&'n str, usize)>,
    scalars: impl Iterator<Item = (&'n str, usize)>,
) -> Result<(), Error> {
    for (name, len) in bufs.chain(masks).chain(scalars) {
        check_len(leaves, name, len)?;
    }
    Ok(())
}

/// Visits per-leaf data kept in the params' element type by a hand-written state
/// (`Vec<Vec<F>>`, one entry per leaf, whose shapes `shape_of` gives); an empty entry is
/// a statistic the leaf does not keep and is not a tensor.
#[doc(hidden)]
pub fn visit_elems<F: Float>(
    prefix: &str,
    name: &str,
    leaves: &[LeafMeta],
    data: &[Vec<F>],
    f: &mut VisitTensor<'_, F>,
) -> Result<(), Error> {
    check_len(leaves, name, data.len())?;
    for (m, d) in leaves.iter().zip(data) {
        if !d.is_empty() {
            let shape = [d.len()];
            f(
                &leaf_name(prefix, name, &m.path),
                TensorRef::Elems(&shape, d),
            )?;
        }
    }
    Ok(())
}

/// [`visit_elems`], mutable.
#[doc(hidden)]
pub fn visit_elems_mut<F: Float>(
    prefix: &str,
    name: &str,
    leaves: &[LeafMeta],
    data: &mut [Vec<F>],
    f: &mut VisitTensorMut<'_, F>,
) -> Result<(), Error> {
    check_len(leaves, name, data.len())?;
    for (m, d) in leaves.iter().zip(data) {
        if !d.is_empty() {
            let shape = [d.len()];
            f(
                &leaf_name(prefix, name, &m.path),
                TensorMut::Elems(&shape, d),
            )?;
        }
    }
    Ok(())
}

/// Visits per-leaf buffers of a hand-written state (`Vec<Buf<F>>`, one per leaf, of the
/// leaf's shape); a disabled buffer is not a tensor.
#[doc(hidden)]
pub fn visit_bufs<F: Float>(
    prefix: &str,
    name: &str,
    leaves: &[LeafMeta],
    bufs: &[Buf<F>],
    f: &mut VisitTensor<'_, F>,
) -> Result<(), Error> {
    visit_generated(
        prefix,
        0,
        leaves,
        &[(name, bufs)],
        &[],
        &[],
        &mut |n, t| match t {
            TensorRef::Count(_) => Ok(()),
            t => f(n, t),
        },
    )
}

/// [`visit_bufs`], mutable.
#[doc(hidden)]
pub fn visit_bufs_mut<F: Float>(
    prefix: &str,
    name: &str,
    leaves: &[LeafMeta],
    bufs: &mut [Buf<F>],
    f: &mut VisitTensorMut<'_, F>,
) -> Result<(), Error> {
    let mut count = 0;
    visit_generated_mut(
        prefix,
        &mut count,
        leaves,
        &mut [(name, bufs)],
        &[],
        &mut [],
        &mut |n, t| match t {
            TensorMut::Count(_) => Ok(()),
            t => f(n, t),
        },
    )
}

/// Visits resolved flags of a hand-written state, one per leaf.
#[doc(hidden)]
pub fn visit_flags(
    prefix: &str,
    name: &str,
    leaves: &[LeafMeta],
    flags: &[bool],
    f: &mut dyn FnMut(&str, bool) -> Result<(), Error>,
) -> Result<(), Error> {
    check_len(leaves, name, flags.len())?;
    for (m, &b) in leaves.iter().zip(flags) {
        f(&leaf_name(prefix, name, &m.path), b)?;
    }
    Ok(())
}

/// Checks that a state holds one buffer per recorded leaf, each of the leaf's size, so
/// its tensors can be named: the error names the leaf and `buffer`.
pub(crate) fn check_leaf_bufs<F>(
    leaves: &[LeafMeta],
    bufs: &[Vec<F>],
    buffer: &str,
) -> Result<(), Error> {
    let bad = |path: &str, detail: String| Error::State {
        path: path.into(),
        buffer: buffer.into(),
        detail,
    };
    if bufs.len() != leaves.len() {
        let path = leaves.first().map_or("<root>", |m| m.path.as_str());
        return Err(bad(
            path,
            format!(
                "{} leaves recorded but {} entries",
                leaves.len(),
                bufs.len()
            ),
        ));
    }
    for (m, b) in leaves.iter().zip(bufs) {
        if b.len() != m.len() {
            return Err(bad(
                &m.path,
                format!("{} elements, the leaf has {}", b.len(), m.len()),
            ));
        }
    }
    Ok(())
}
