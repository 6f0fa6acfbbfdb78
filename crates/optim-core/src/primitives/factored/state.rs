//! The state of the factored second moment, [`FactoredRmsState`], and its scratch: the
//! row and column sums and factors, and the clip's weights, sized by `init` for the
//! largest factored leaf so that a step allocates nothing.

use super::layout::Layout;
use crate::kernel::corrupt;
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

/// Working memory for the row and column sums and factors, and for the clip's weights
/// `w`, sized by `init` for the largest factored leaf. Not part of the saved state: a
/// deserialized state sizes it on its first step.
#[derive(Clone, Debug, Default)]
pub(super) struct Scratch<F> {
    pub(super) a: Vec<F>,
    pub(super) b: Vec<F>,
    /// Per entry of the statistic over a: `Σ g² / vb` over a, for the clip.
    pub(super) w: Vec<F>,
}

impl<F> PartialEq for Scratch<F> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<F: Float> Scratch<F> {
    fn sized_for(metas: &[LeafMeta], factored: bool, min_dim: usize) -> Self {
        let mut s = Scratch {
            a: Vec::new(),
            b: Vec::new(),
            w: Vec::new(),
        };
        s.fit(metas, factored, min_dim);
        s
    }
    fn fit(&mut self, metas: &[LeafMeta], factored: bool, min_dim: usize) {
        let (mut la, mut lb) = (0, 0);
        for m in metas {
            if let Some(l) = Layout::of(&m.shape, factored, min_dim) {
                la = la.max(l.len_a());
                lb = lb.max(l.len_b());
            }
        }
        if self.a.len() < la {
            self.a.resize(la, F::zero());
        }
        if self.w.len() < la {
            self.w.resize(la, F::zero());
        }
        if self.b.len() < lb {
            self.b.resize(lb, F::zero());
        }
    }
}

impl<F: Float> FactoredRmsState<F> {
    /// The zero state for `metas`.
    pub(crate) fn new(metas: Vec<LeafMeta>, factored: bool, min_dim: usize) -> Self {
        let (mut v_row, mut v_col, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for m in &metas {
            match Layout::of(&m.shape, factored, min_dim) {
                Some(l) => {
                    v_row.push(vec![F::zero(); l.row_len()]);
                    v_col.push(vec![F::zero(); l.col_len()]);
                    v.push(Vec::new());
                }
                None => {
                    v_row.push(Vec::new());
                    v_col.push(Vec::new());
                    v.push(vec![F::zero(); m.len()]);
                }
            }
        }
        let scratch = Scratch::sized_for(&metas, factored, min_dim);
        FactoredRmsState {
            count: 0,
            leaves: metas,
            v_row,
            v_col,
            v,
            scratch,
        }
    }

    /// Checks every buffer against the leaves and the configuration; sizes the scratch
    /// of a deserialized state. Writes nothing the step reads.
    pub(crate) fn check(&mut self, factored: bool, min_dim: usize) -> Result<(), Error> {
        self.validate(factored, min_dim)?;
        self.scratch.fit(&self.leaves, factored, min_dim);
        Ok(())
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
