//! Ops that move elements without arithmetic: reshape, transpose, gather and slice.

use super::pool::{copy_buf, take_buf};
use super::shape::split;
use super::tape::{Graph, Op, Var};
use crate::error::{Error, Result};
use optim_core::Float;

impl<F: Float> Graph<F> {
    /// The same data under a new shape with the same number of elements.
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        let xn = self.node(x)?;
        let n: usize = shape.iter().product();
        if n != xn.data.len() {
            return Err(Error::Shape {
                op: "reshape",
                lhs: xn.shape.clone(),
                rhs: shape.to_vec(),
                detail: format!("{} elements cannot take shape with {n}", xn.data.len()),
            });
        }
        let rg = xn.requires_grad;
        let out = copy_buf(&mut self.pool, &self.nodes[x.idx].data);
        Ok(self.push(shape.to_vec(), out, Op::Reshape(x.idx), rg))
    }

    /// The transpose of a 2-d value.
    pub fn transpose(&mut self, x: Var) -> Result<Var> {
        let xn = self.node(x)?;
        if xn.shape.len() != 2 {
            return Err(Error::Invalid {
                op: "transpose",
                shape: xn.shape.clone(),
                detail: "transpose needs a 2-d tensor".into(),
            });
        }
        let (r, c) = (xn.shape[0], xn.shape[1]);
        let rg = xn.requires_grad;
        let mut out = take_buf(&mut self.pool, r * c, F::zero());
        let xd = &self.nodes[x.idx].data;
        for i in 0..r {
            for j in 0..c {
                out[j * r + i] = xd[i * c + j];
            }
        }
        Ok(self.push(vec![c, r], out, Op::Transpose(x.idx), rg))
    }

    /// The elements at `indices` along `axis` (numpy's `take`); indices may repeat.
    pub fn gather(&mut self, x: Var, axis: usize, indices: &[usize]) -> Result<Var> {
        let shape = self.check_axis("gather", x, axis)?;
        let (outer, len, inner) = split(&shape, axis);
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            return Err(Error::Invalid {
                op: "gather",
                shape,
                detail: format!("index {bad} is out of range for axis {axis} of length {len}"),
            });
        }
        let k = indices.len();
        let mut out = take_buf(&mut self.pool, outer * k * inner, F::zero());
        let xn = &self.nodes[x.idx];
        for o in 0..outer {
            for (j, &l) in indices.iter().enumerate() {
                let src = &xn.data[(o * len + l) * inner..(o * len + l + 1) * inner];
                out[(o * k + j) * inner..(o * k + j + 1) * inner].copy_from_slice(src);
            }
        }
        let rg = xn.requires_grad;
        let mut oshape = shape;
        oshape[axis] = k;
        Ok(self.push(
            oshape,
            out,
            Op::Gather {
                x: x.idx,
                len,
                inner,
                indices: indices.to_vec(),
            },
            rg,
        ))
    }

    /// The elements `start..end` along `axis`.
    pub fn slice(&mut self, x: Var, axis: usize, start: usize, end: usize) -> Result<Var> {
        let shape = self.check_axis("slice", x, axis)?;
        if start > end || end > shape[axis] {
            return Err(Error::Invalid {
                op: "slice",
                shape: shape.clone(),
                detail: format!(
                    "range {start}..{end} does not fit axis {axis} of length {}",
                    shape[axis]
                ),
            });
        }
        let idx: Vec<usize> = (start..end).collect();
        self.gather(x, axis, &idx)
    }
}
