//! The state of the factored second moment, [`FactoredRmsState`], and its scratch: the
//! row and column sums and factors and the clip's weights of each leaf, sized by `init`
//! so that leaves run on any thread and a step allocates nothing.

use super::layout::Layout;
use crate::exec::Exec;
use crate::kernel::{corrupt, try_zeros};
use crate::state_tensors::{
    visit_elems, visit_elems_mut, StateTensors, TensorMut, TensorRef, VisitTensor, VisitTensorMut,
};
use crate::{Error, Float, LeafMeta};
use serde::{Deserialize, Serialize};

/// The state of [`ScaleByFactoredRms`](crate::ScaleByFactoredRms) (optax's
/// `FactoredState`), also the second-moment part of
/// [`AdafactorState`](crate::AdafactorState).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct FactoredRmsState<F> {
    /// Number of updates done so far.
    pub count: u64,
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// Per leaf: the row statistic of a factored leaf (the leaf's shape without its
    /// largest axis), empty otherwise.
    pub v_row: Vec<Vec<F>>,
    /// Per leaf: the column statistic of a factored leaf (the shape without its second
    /// largest axis), empty otherwise.
    pub v_col: Vec<Vec<F>>,
    /// Per leaf: the full second moment of a leaf that is not factored, empty otherwise.
    pub v: Vec<Vec<F>>,
    #[serde(skip)]
    pub(super) scratch: Scratch<F>,
}

/// Working memory, not part of the saved state (a deserialized state rebuilds it on its
/// first step): per leaf, the row and column sums and factors and the clip's weights `w`
/// (sized by `init`, so leaves can run on different threads and a step allocates
/// nothing), and the record of a step's leaves and tasks ([`Exec`]).
#[derive(Clone, Debug, Default)]
pub(super) struct Scratch<F> {
    /// Per leaf: the sums, then factors, of the statistic over a.
    pub(super) a: Vec<Vec<F>>,
    /// Per leaf: the sums, then factors, of the statistic over b.
    pub(super) b: Vec<Vec<F>>,
    /// Per leaf, per entry of the statistic over a: `Σ g² / vb` over a, for the clip.
    pub(super) w: Vec<Vec<F>>,
    pub(super) exec: FactoredExec<F>,
}

/// The step's record: per leaf, the momentum, `v_row`, `v_col`, `v` and the scratch `a`,
/// `b` and `w` (see `run.rs`).
pub(super) type FactoredExec<F> = Exec<F, 7, 0, 0>;

impl<F> PartialEq for Scratch<F> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The lengths of a leaf's scratch `a`, `b` and `w`. A factored leaf: a part of `len_a`
/// per block of rows (`Layout::a_blocks`) in `a` and `w`, and `len_b`. An unfactored leaf
/// of two chunks or more: one partial sum of the clip's `Σ u²` per chunk in `a`.
pub(super) fn scratch_lens(
    shape: &[usize],
    factored: bool,
    min_dim: usize,
) -> (usize, usize, usize) {
    match Layout::of(shape, factored, min_dim) {
        Some(l) => (
            l.a_blocks() * l.len_a(),
            l.len_b(),
            l.a_blocks() * l.len_a(),
        ),
        None => (sum_blocks(shape.iter().product()), 0, 0),
    }
}

/// The number of chunks whose partial sums an unfactored leaf of `n` elements adds its
/// clip's `Σ u²` from (none under two chunks: one sum, in the plain order).
fn sum_blocks(n: usize) -> usize {
    if n < 2 * crate::exec::CHUNK {
        0
    } else {
        n.div_ceil(crate::exec::CHUNK)
    }
}

impl<F: Float> Scratch<F> {
    /// Sizes the scratch for `metas` (nothing to do when it already fits).
    fn fit(&mut self, metas: &[LeafMeta], factored: bool, min_dim: usize) -> Result<(), Error> {
        let fits = self.a.len() == metas.len()
            && metas.iter().enumerate().all(|(i, m)| {
                let (la, lb, lw) = scratch_lens(&m.shape, factored, min_dim);
                self.a[i].len() == la && self.b[i].len() == lb && self.w[i].len() == lw
            });
        if !fits {
            let (mut a, mut b, mut w) = (Vec::new(), Vec::new(), Vec::new());
            for m in metas {
                let (la, lb, lw) = scratch_lens(&m.shape, factored, min_dim);
                a.push(try_zeros(la, &m.path, "scratch")?);
                b.push(try_zeros(lb, &m.path, "scratch")?);
                w.push(try_zeros(lw, &m.path, "scratch")?);
            }
            (self.a, self.b, self.w) = (a, b, w);
        }
        self.exec.prepare(metas);
        Ok(())
    }
}

impl<F: Float> FactoredRmsState<F> {
    /// The zero state for `metas`, or [`Error::Alloc`] naming the first leaf whose
    /// statistics cannot be allocated.
    pub(crate) fn new(metas: Vec<LeafMeta>, factored: bool, min_dim: usize) -> Result<Self, Error> {
        let (mut v_row, mut v_col, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for m in &metas {
            let (row, col, full) = match Layout::of(&m.shape, factored, min_dim) {
                Some(l) => (l.row_len(), l.col_len(), 0),
                None => (0, 0, m.len()),
            };
            v_row.push(try_zeros(row, &m.path, "v_row")?);
            v_col.push(try_zeros(col, &m.path, "v_col")?);
            v.push(try_zeros(full, &m.path, "v")?);
        }
        let mut scratch = Scratch::default();
        scratch.fit(&metas, factored, min_dim)?;
        Ok(FactoredRmsState {
            count: 0,
            leaves: metas,
            v_row,
            v_col,
            v,
            scratch,
        })
    }

    /// Checks every buffer against the leaves and the configuration; sizes the scratch
    /// of a deserialized state. Writes nothing the step reads.
    pub(crate) fn check(&mut self, factored: bool, min_dim: usize) -> Result<(), Error> {
        self.validate(factored, min_dim)?;
        self.scratch.fit(&self.leaves, factored, min_dim)
    }

    /// Checks every buffer against the leaves and the configuration, writing nothing.
    pub(crate) fn validate(&self, factored: bool, min_dim: usize) -> Result<(), Error> {
        let n = self.leaves.len();
        for (what, len) in [
            ("v_row", self.v_row.len()),
            ("v_col", self.v_col.len()),
            ("v", self.v.len()),
        ] {
            if len != n {
                let path = self
                    .leaves
                    .first()
                    .map_or("<root>".into(), |m| m.path.clone());
                return Err(corrupt(
                    &path,
                    what,
                    format!("{n} leaves recorded but {len} buffers"),
                ));
            }
        }
        for (i, m) in self.leaves.iter().enumerate() {
            let (row, col, v) = match Layout::of(&m.shape, factored, min_dim) {
                Some(l) => (l.row_len(), l.col_len(), 0),
                None => (0, 0, m.len()),
            };
            for (what, want, got) in [
                ("v_row", row, self.v_row[i].len()),
                ("v_col", col, self.v_col[i].len()),
                ("v", v, self.v[i].len()),
            ] {
                if want != got {
                    return Err(corrupt(
                        &m.path,
                        what,
                        format!(
                            "{got} elements, expected {want} for shape {:?} (was the state \
                             built with other `factored` / `min_dim_size_to_factor`?)",
                            m.shape
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `count` and, per leaf, the statistics it keeps: `v_row/<leaf>` and `v_col/<leaf>` for a
/// factored leaf, `v/<leaf>` otherwise (each 1-d); the scratch is not a tensor.
impl<F: Float> StateTensors<F> for FactoredRmsState<F> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        f(&format!("{prefix}count"), TensorRef::Count(self.count))?;
        visit_elems(prefix, "v_row", &self.leaves, &self.v_row, f)?;
        visit_elems(prefix, "v_col", &self.leaves, &self.v_col, f)?;
        visit_elems(prefix, "v", &self.leaves, &self.v, f)
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        f(&format!("{prefix}count"), TensorMut::Count(&mut self.count))?;
        visit_elems_mut(prefix, "v_row", &self.leaves, &mut self.v_row, f)?;
        visit_elems_mut(prefix, "v_col", &self.leaves, &mut self.v_col, f)?;
        visit_elems_mut(prefix, "v", &self.leaves, &mut self.v, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_too_large_to_allocate_is_an_error_naming_its_leaf() {
        let n = usize::MAX / 2;
        let e = try_zeros::<f32>(n, "layer.w", "v_row").unwrap_err();
        assert!(
            matches!(&e, Error::Alloc { path, buffer, elements }
                if path == "layer.w" && buffer == "v_row" && *elements == n),
            "{e}"
        );
        assert!(e.to_string().contains("layer.w"), "{e}");
    }
}
