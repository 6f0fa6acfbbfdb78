//! Which axes of a leaf form Muon's matrix (optax's `MuonDimensionNumbers`), and the
//! permutation of a leaf to `(batch, reduction, output)` and back.

use crate::{Error, Float, LeafMeta};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::sync::Arc;

/// The axes of a leaf that form the matrix `x W = y` (optax's `MuonDimensionNumbers`):
/// the reduction axes become its rows, the output axes its columns, and every other axis
/// is a batch axis (each index of it one matrix). Negative axes count from the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MuonDimensionNumbers {
    /// The reduction (input) axes.
    pub reduction_axis: Vec<i64>,
    /// The output axes.
    pub output_axis: Vec<i64>,
}

impl Default for MuonDimensionNumbers {
    /// optax's default: axis 0 reduces, axis 1 is the output.
    fn default() -> Self {
        MuonDimensionNumbers {
            reduction_axis: vec![0],
            output_axis: vec![1],
        }
    }
}

impl MuonDimensionNumbers {
    /// Reduction axes `reduction` and output axes `output`.
    pub fn new(reduction: impl Into<Vec<i64>>, output: impl Into<Vec<i64>>) -> Self {
        MuonDimensionNumbers {
            reduction_axis: reduction.into(),
            output_axis: output.into(),
        }
    }
}

/// A function from a leaf's path and shape to its dimension numbers, `None` for a leaf
/// that is not one of Muon's matrices.
pub type DimsFn = Arc<dyn Fn(&str, &[usize]) -> Option<MuonDimensionNumbers> + Send + Sync>;

/// Which leaves are Muon's matrices and how (optax's `muon_weight_dimension_numbers`).
#[derive(Clone, Default)]
pub enum MuonDims {
    /// optax's default (`None`): every 2-d leaf, axis 0 reducing.
    #[default]
    Matrices,
    /// A choice per leaf, by its path and shape.
    ByLeaf(DimsFn),
}

impl Debug for MuonDims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MuonDims::Matrices => f.write_str("Matrices"),
            MuonDims::ByLeaf(_) => f.write_str("ByLeaf(..)"),
        }
    }
}

impl MuonDims {
    /// Dimension numbers from a function of the leaf's path and shape.
    pub fn by_leaf(
        f: impl Fn(&str, &[usize]) -> Option<MuonDimensionNumbers> + Send + Sync + 'static,
    ) -> Self {
        MuonDims::ByLeaf(Arc::new(f))
    }

    /// The dimension numbers of the leaf at `path` with `shape`, if it is a matrix.
    pub fn of(&self, path: &str, shape: &[usize]) -> Option<MuonDimensionNumbers> {
        match self {
            MuonDims::Matrices => (shape.len() == 2).then(MuonDimensionNumbers::default),
            MuonDims::ByLeaf(f) => f(path, shape),
        }
    }

    /// `(fan_in, fan_out)` of a leaf: the products of its reduction and output axes.
    pub(crate) fn fans(&self, m: &LeafMeta) -> Result<(usize, usize), Error> {
        let plan = LeafPlan::new(self, m)?;
        Ok((plan.rows, plan.cols))
    }
}

/// How one leaf is walked as `batch` matrices of `rows × cols`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LeafPlan {
    pub(crate) batch: usize,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// The leaf's axes in `(batch, reduction, output)` order.
    perm: Vec<usize>,
    shape: Vec<usize>,
}

fn not_a_matrix(m: &LeafMeta, detail: String) -> Error {
    Error::Hyper {
        transform: "muon".into(),
        arg: "muon_weight_dimension_numbers".into(),
        detail: format!("leaf `{}` of shape {:?}: {detail}", m.path, m.shape),
    }
}

impl LeafPlan {
    pub(crate) fn new(dims: &MuonDims, m: &LeafMeta) -> Result<Self, Error> {
        let rank = m.shape.len();
        let Some(d) = dims.of(&m.path, &m.shape) else {
            return Err(not_a_matrix(
                m,
                "is not a matrix (give it dimension numbers, or leave it to the Adam part)".into(),
            ));
        };
        if rank < 2 {
            return Err(not_a_matrix(
                m,
                format!("rank {rank}: Muon needs rank >= 2"),
            ));
        }
        let norm = |axes: &[i64]| -> Result<Vec<usize>, Error> {
            axes.iter()
                .map(|&a| {
                    let r = rank as i64;
                    if (-r..r).contains(&a) {
                        Ok(a.rem_euclid(r) as usize)
                    } else {
                        Err(not_a_matrix(m, format!("axis {a} is out of range")))
                    }
                })
                .collect()
        };
        let (red, out) = (norm(&d.reduction_axis)?, norm(&d.output_axis)?);
        if red.iter().any(|a| out.contains(a)) {
            return Err(not_a_matrix(
                m,
                format!("reduction axes {red:?} and output axes {out:?} are not disjoint"),
            ));
        }
        let batch_axes: Vec<usize> = (0..rank)
            .filter(|a| !red.contains(a) && !out.contains(a))
            .collect();
        let prod = |axes: &[usize]| axes.iter().map(|&a| m.shape[a]).product::<usize>();
        let perm: Vec<usize> = batch_axes.iter().chain(&red).chain(&out).copied().collect();
        let plan = LeafPlan {
            batch: prod(&batch_axes),
            rows: prod(&red),
            cols: prod(&out),
            perm,
            shape: m.shape.clone(),
        };
        plan.check_rank(&m.path)?;
        Ok(plan)
    }

    pub(crate) fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the leaf's axes are already in `(batch, reduction, output)` order.
    pub(crate) fn is_identity(&self) -> bool {
        self.perm.iter().enumerate().all(|(i, &a)| i == a)
    }

    /// Calls `f(k, j)` for each position `k` of the permuted layout with `j` the
    /// position of the same element in the leaf; no allocation (the odometer is on the
    /// stack for up to 8 axes, the most a leaf of Muon's may have here).
    fn walk(&self, mut f: impl FnMut(usize, usize)) {
        let rank = self.shape.len();
        let mut strides = [0usize; 8];
        let mut acc = 1;
        for a in (0..rank).rev() {
            strides[a] = acc;
            acc *= self.shape[a];
        }
        let dims: [usize; 8] =
            std::array::from_fn(|d| self.perm.get(d).map_or(1, |&a| self.shape[a]));
        let step: [usize; 8] = std::array::from_fn(|d| self.perm.get(d).map_or(0, |&a| strides[a]));
        let mut idx = [0usize; 8];
        let mut j = 0;
        for k in 0..self.len() {
            f(k, j);
            for d in (0..rank).rev() {
                idx[d] += 1;
                j += step[d];
                if idx[d] < dims[d] {
                    break;
                }
                j -= step[d] * dims[d];
                idx[d] = 0;
            }
        }
    }

    /// `dst` (permuted) from `src` (leaf order).
    pub(crate) fn permute<F: Float>(&self, src: &[F], dst: &mut [F]) {
        self.walk(|k, j| dst[k] = src[j]);
    }

    /// `dst` (leaf order) from `src` (permuted).
    pub(crate) fn unpermute<F: Float>(&self, src: &[F], dst: &mut [F]) {
        self.walk(|k, j| dst[j] = src[k]);
    }

    /// Checks the rank limit of [`walk`](Self::walk).
    fn check_rank(&self, path: &str) -> Result<(), Error> {
        if self.shape.len() > 8 && !self.is_identity() {
            return Err(Error::Hyper {
                transform: "muon".into(),
                arg: "muon_weight_dimension_numbers".into(),
                detail: format!("leaf `{path}`: a permuted leaf may have at most 8 axes"),
            });
        }
        Ok(())
    }
}
