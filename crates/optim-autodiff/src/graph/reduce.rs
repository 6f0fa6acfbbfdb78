//! Reductions: sums and means (of all elements or along one axis) and maxima.

use super::pool::take_buf;
use super::shape::split;
use super::tape::{Graph, Op, Var};
use crate::error::{Error, Result};
use optim_core::Float;

impl<F: Float> Graph<F> {
    fn sum_impl(&mut self, x: Var, axis: Option<usize>, keep: bool, mean: bool) -> Result<Var> {
        let shape = match axis {
            Some(a) => self.check_axis(if mean { "mean" } else { "sum" }, x, a)?,
            None => self.node(x)?.shape.clone(),
        };
        let (outer, len, inner) = match axis {
            Some(a) => split(&shape, a),
            None => (1, shape.iter().product(), 1),
        };
        if mean && len == 0 {
            return Err(Error::Invalid {
                op: "mean",
                shape,
                detail: "the mean of no elements is undefined".into(),
            });
        }
        let scale = if mean {
            F::one() / F::of(len as f64)
        } else {
            F::one()
        };
        let mut out = take_buf(&mut self.pool, outer * inner, F::zero());
        let xn = &self.nodes[x.idx];
        for o in 0..outer {
            for l in 0..len {
                let row = &xn.data[(o * len + l) * inner..(o * len + l + 1) * inner];
                for (acc, &v) in out[o * inner..(o + 1) * inner].iter_mut().zip(row) {
                    *acc = *acc + v;
                }
            }
        }
        if mean {
            out.iter_mut().for_each(|v| *v = *v * scale);
        }
        let rg = xn.requires_grad;
        let oshape = Self::reduce_shape(&shape, axis, keep);
        Ok(self.push(
            oshape,
            out,
            Op::Sum {
                x: x.idx,
                len,
                inner,
                scale,
            },
            rg,
        ))
    }

    /// The sum of all elements, as a 0-d value.
    pub fn sum(&mut self, x: Var) -> Result<Var> {
        self.sum_impl(x, None, false, false)
    }

    /// The sum along `axis`; `keep_dims` keeps the axis with length 1.
    pub fn sum_axis(&mut self, x: Var, axis: usize, keep_dims: bool) -> Result<Var> {
        self.sum_impl(x, Some(axis), keep_dims, false)
    }

    /// The mean of all elements, as a 0-d value.
    pub fn mean(&mut self, x: Var) -> Result<Var> {
        self.sum_impl(x, None, false, true)
    }

    /// The mean along `axis`; `keep_dims` keeps the axis with length 1.
    pub fn mean_axis(&mut self, x: Var, axis: usize, keep_dims: bool) -> Result<Var> {
        self.sum_impl(x, Some(axis), keep_dims, true)
    }

    fn max_impl(&mut self, x: Var, axis: Option<usize>, keep: bool) -> Result<Var> {
        let shape = match axis {
            Some(a) => self.check_axis("max", x, a)?,
            None => self.node(x)?.shape.clone(),
        };
        let (outer, len, inner) = match axis {
            Some(a) => split(&shape, a),
            None => (1, shape.iter().product(), 1),
        };
        if len == 0 {
            return Err(Error::Invalid {
                op: "max",
                shape,
                detail: "the max of no elements is undefined".into(),
            });
        }
        let mut out = take_buf(&mut self.pool, outer * inner, F::zero());
        let mut arg = vec![0usize; outer * inner];
        let xn = &self.nodes[x.idx];
        for o in 0..outer {
            for i in 0..inner {
                let mut best = xn.data[o * len * inner + i];
                let mut bi = 0;
                for l in 1..len {
                    let v = xn.data[(o * len + l) * inner + i];
                    if v > best || (best.is_nan() && !v.is_nan()) {
                        best = v;
                        bi = l;
                    }
                }
                out[o * inner + i] = best;
                arg[o * inner + i] = bi;
            }
        }
        let rg = xn.requires_grad;
        let oshape = Self::reduce_shape(&shape, axis, keep);
        Ok(self.push(
            oshape,
            out,
            Op::Max {
                x: x.idx,
                len,
                inner,
                arg,
            },
            rg,
        ))
    }

    /// The largest element, as a 0-d value; the gradient goes to the first maximum.
    pub fn max(&mut self, x: Var) -> Result<Var> {
        self.max_impl(x, None, false)
    }

    /// The maximum along `axis`; the gradient goes to the first maximum of each slice.
    pub fn max_axis(&mut self, x: Var, axis: usize, keep_dims: bool) -> Result<Var> {
        self.max_impl(x, Some(axis), keep_dims)
    }
}
