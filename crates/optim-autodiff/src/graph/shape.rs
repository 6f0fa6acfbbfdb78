//! Shape arithmetic shared by the ops: splitting a shape around an axis, numpy
//! broadcasting (the broadcast shape, and the index walk over two broadcast operands), and
//! the axis check and result shape of the reductions.

use super::tape::{Graph, Var};
use crate::error::{Error, Result};
use optim_core::Float;

/// Splits `shape` around `axis` into `(outer, len, inner)`.
pub(super) fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// The numpy broadcast of two shapes, or `None` when they are incompatible.
pub(super) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// The strides of `shape` when read as a broadcast to `out` (0 along broadcast axes).
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let r = out.len();
    let mut strides = vec![0; r];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let oi = i + r - shape.len();
        strides[oi] = if shape[i] == 1 && out[oi] != 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
}

/// Whether `shape` (leading 1s aside) equals the trailing axes of `out`, so that its
/// data repeats every `shape.iter().product()` elements of `out`.
fn is_trailing(shape: &[usize], out: &[usize]) -> bool {
    let first = shape.iter().position(|&d| d != 1).unwrap_or(shape.len());
    let core = &shape[first..];
    core.len() <= out.len() && out[out.len() - core.len()..] == *core
}

/// Calls `f(i, ia, ib)` for every flat index `i` of `out` with the matching flat indices of
/// the two broadcast operands.
pub(super) fn for_each_broadcast(
    out: &[usize],
    a: &[usize],
    b: &[usize],
    mut f: impl FnMut(usize, usize, usize),
) {
    let n: usize = out.iter().product();
    if n == 0 {
        return;
    }
    let na: usize = a.iter().product();
    let nb: usize = b.iter().product();
    if na == n && nb == n {
        (0..n).for_each(|i| f(i, i, i));
        return;
    }
    if na == n && nb == 1 {
        (0..n).for_each(|i| f(i, i, 0));
        return;
    }
    if na == 1 && nb == n {
        (0..n).for_each(|i| f(i, 0, i));
        return;
    }
    // One operand repeats along the leading axes (a bias row added to every row of a
    // batch): plain nested loops instead of the general index walk.
    if na == n && nb > 0 && is_trailing(b, out) {
        for base in (0..n).step_by(nb) {
            (0..nb).for_each(|j| f(base + j, base + j, j));
        }
        return;
    }
    if nb == n && na > 0 && is_trailing(a, out) {
        for base in (0..n).step_by(na) {
            (0..na).for_each(|j| f(base + j, j, base + j));
        }
        return;
    }
    let sa = broadcast_strides(a, out);
    let sb = broadcast_strides(b, out);
    let r = out.len();
    let mut idx = vec![0usize; r];
    let (mut ia, mut ib) = (0usize, 0usize);
    for i in 0..n {
        f(i, ia, ib);
        let mut d = r;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            ia += sa[d];
            ib += sb[d];
            if idx[d] < out[d] {
                break;
            }
            ia -= sa[d] * out[d];
            ib -= sb[d] * out[d];
            idx[d] = 0;
        }
    }
}

impl<F: Float> Graph<F> {
    pub(super) fn check_axis(&self, op: &'static str, x: Var, axis: usize) -> Result<Vec<usize>> {
        let shape = self.node(x)?.shape.clone();
        if axis >= shape.len() {
            return Err(Error::Axis { op, axis, shape });
        }
        Ok(shape)
    }

    pub(super) fn reduce_shape(
        shape: &[usize],
        axis: Option<usize>,
        keep_dims: bool,
    ) -> Vec<usize> {
        match axis {
            None if keep_dims => vec![1; shape.len()],
            None => vec![],
            Some(a) => {
                let mut s = shape.to_vec();
                if keep_dims {
                    s[a] = 1;
                } else {
                    s.remove(a);
                }
                s
            }
        }
    }
}
