//! Losses over class scores: the log-softmax along an axis and the mean softmax
//! cross-entropy against integer labels.

use super::pool::take_buf;
use super::shape::split;
use super::tape::{Graph, Op, Var};
use crate::error::{Error, Result};
use optim_core::Float;

impl<F: Float> Graph<F> {
    /// `x - logsumexp(x)` along `axis`, computed stably.
    pub fn log_softmax(&mut self, x: Var, axis: usize) -> Result<Var> {
        let shape = self.check_axis("log_softmax", x, axis)?;
        let (outer, len, inner) = split(&shape, axis);
        let mut out = take_buf(&mut self.pool, outer * len * inner, F::zero());
        let xn = &self.nodes[x.idx];
        for o in 0..outer {
            for i in 0..inner {
                let at = |l: usize| (o * len + l) * inner + i;
                let m = (0..len).fold(F::neg_infinity(), |m, l| m.max(xn.data[at(l)]));
                let m = if m.is_finite() { m } else { F::zero() };
                let s = (0..len).fold(F::zero(), |s, l| s + (xn.data[at(l)] - m).exp());
                let lse = m + s.ln();
                for l in 0..len {
                    out[at(l)] = xn.data[at(l)] - lse;
                }
            }
        }
        let rg = xn.requires_grad;
        Ok(self.push(
            shape,
            out,
            Op::LogSoftmax {
                x: x.idx,
                len,
                inner,
            },
            rg,
        ))
    }

    /// The mean softmax cross-entropy of `[n, c]` logits against integer class labels,
    /// as a 0-d value. Errors when the labels' count differs from `n` or a label is `>= c`.
    pub fn cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Result<Var> {
        let xn = self.node(logits)?;
        if xn.shape.len() != 2 {
            return Err(Error::Invalid {
                op: "cross_entropy",
                shape: xn.shape.clone(),
                detail: "logits must be 2-d [batch, classes]".into(),
            });
        }
        let (n, c) = (xn.shape[0], xn.shape[1]);
        if labels.len() != n {
            return Err(Error::Shape {
                op: "cross_entropy",
                lhs: xn.shape.clone(),
                rhs: vec![labels.len()],
                detail: "one label is needed per row of logits".into(),
            });
        }
        if n == 0 {
            return Err(Error::Invalid {
                op: "cross_entropy",
                shape: xn.shape.clone(),
                detail: "the mean over an empty batch is undefined".into(),
            });
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= c) {
            return Err(Error::Invalid {
                op: "cross_entropy",
                shape: xn.shape.clone(),
                detail: format!("label {bad} is out of range for {c} classes"),
            });
        }
        let xn = &self.nodes[logits.idx];
        let mut probs = take_buf(&mut self.pool, n * c, F::zero());
        let mut total = F::zero();
        for (r, &label) in labels.iter().enumerate() {
            let row = &xn.data[r * c..(r + 1) * c];
            let m = row.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
            let m = if m.is_finite() { m } else { F::zero() };
            let s = row.iter().fold(F::zero(), |s, &v| s + (v - m).exp());
            let lse = m + s.ln();
            total = total + lse - row[label];
            for (p, &v) in probs[r * c..(r + 1) * c].iter_mut().zip(row) {
                *p = (v - lse).exp();
            }
        }
        let rg = xn.requires_grad;
        let mut out = take_buf(&mut self.pool, 1, F::zero());
        out[0] = total / F::of(n as f64);
        Ok(self.push(
            vec![],
            out,
            Op::CrossEntropy {
                x: logits.idx,
                probs,
                labels: labels.to_vec(),
            },
            rg,
        ))
    }
}
