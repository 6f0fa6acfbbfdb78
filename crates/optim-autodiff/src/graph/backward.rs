//! The reverse pass: [`Graph::backward`] walks the tape from the loss back to the
//! parameters, accumulating every node's gradient in a pooled buffer, and returns the
//! parameters' gradients by path; [`value_and_grad`] wraps a forward and a backward pass.

use super::elementwise::sigmoid;
use super::matmul::{gemm, MatArg};
use super::pool::take_buf;
use super::shape::for_each_broadcast;
use super::tape::{BinOp, Gradients, Graph, Node, Op, UnOp, Var};
use crate::error::{Error, Result};
use optim_core::{Float, Tensor, TensorMap};
use std::collections::BTreeMap;

/// The gradient buffer of node `i`, created (zeroed) on first use; `None` when the node
/// does not need a gradient.
fn grad_of<'g, F: Float>(
    grads: &'g mut [Option<Vec<F>>],
    nodes: &[Node<F>],
    pool: &mut Vec<Vec<F>>,
    i: usize,
) -> Option<&'g mut Vec<F>> {
    if !nodes[i].requires_grad {
        return None;
    }
    let slot = &mut grads[i];
    if slot.is_none() {
        *slot = Some(take_buf(pool, nodes[i].data.len(), F::zero()));
    }
    slot.as_mut()
}

impl<F: Float> Graph<F> {
    /// Differentiates `loss` (a value with one element) with respect to every registered
    /// parameter and returns the gradients keyed by path. Errors with
    /// [`Error::NoGradient`] when the loss does not depend on some parameter.
    pub fn backward(&mut self, loss: Var) -> Result<TensorMap<F>> {
        let g = self.backward_partial(loss)?;
        if !g.unreached.is_empty() {
            return Err(Error::NoGradient(g.unreached));
        }
        Ok(g.grads)
    }

    /// Like [`backward`](Graph::backward), but lists the parameters the loss does not
    /// depend on instead of failing; they get no entry (rather than zeros).
    pub fn backward_partial(&mut self, loss: Var) -> Result<Gradients<F>> {
        let ln = self.node(loss)?;
        if ln.data.len() != 1 {
            return Err(Error::NotScalar(ln.shape.clone()));
        }
        let Graph {
            nodes,
            params,
            pool,
            ..
        } = self;
        let nodes: &[Node<F>] = nodes;
        let mut grads: Vec<Option<Vec<F>>> = vec![None; loss.idx + 1];
        if nodes[loss.idx].requires_grad {
            grads[loss.idx] = Some(take_buf(pool, 1, F::one()));
        }
        let mut param_grads: BTreeMap<usize, Vec<F>> = BTreeMap::new();
        for i in (0..=loss.idx).rev() {
            let Some(g) = grads[i].take() else { continue };
            let node = &nodes[i];
            match &node.op {
                Op::Param => {
                    param_grads.insert(i, g);
                    continue;
                }
                Op::Const => {}
                Op::Binary(op, a, b) => {
                    let (a, b, op) = (*a, *b, *op);
                    let (xa, xb) = (&nodes[a].data, &nodes[b].data);
                    let (sa, sb) = (&nodes[a].shape, &nodes[b].shape);
                    let out = &node.shape;
                    // One loop per op, so that each is compiled on its own.
                    macro_rules! acc {
                        ($gx:ident[$i:ident] += |$k:ident, $ia:ident, $ib:ident| $d:expr) => {
                            for_each_broadcast(out, sa, sb, |$k, $ia, $ib| {
                                $gx[$i] = $gx[$i] + $d;
                            })
                        };
                    }
                    if sa == out && sb == out {
                        // Same shapes: chunks on the current pool, each element its own.
                        macro_rules! same {
                            ($gx:ident += |$gk:ident, $x:ident, $y:ident| $d:expr) => {
                                super::par::zip4($gx, &g, xa, xb, |gx, g, xa, xb| {
                                    for (((gx, &$gk), &$x), &$y) in
                                        gx.iter_mut().zip(g).zip(xa).zip(xb)
                                    {
                                        *gx = *gx + $d;
                                    }
                                })
                            };
                        }
                        if let Some(ga) = grad_of(&mut grads, nodes, pool, a) {
                            match op {
                                BinOp::Add | BinOp::Sub => same!(ga += |gk, _x, _y| gk),
                                BinOp::Mul => same!(ga += |gk, _x, y| gk * y),
                                BinOp::Div => same!(ga += |gk, _x, y| gk / y),
                            }
                        }
                        if let Some(gb) = grad_of(&mut grads, nodes, pool, b) {
                            match op {
                                BinOp::Add => same!(gb += |gk, _x, _y| gk),
                                BinOp::Sub => same!(gb += |gk, _x, _y| -gk),
                                BinOp::Mul => same!(gb += |gk, x, _y| gk * x),
                                BinOp::Div => same!(gb += |gk, x, y| -gk * x / (y * y)),
                            }
                        }
                        pool.push(g);
                        continue;
                    }
                    if let Some(ga) = grad_of(&mut grads, nodes, pool, a) {
                        match op {
                            BinOp::Add | BinOp::Sub => acc!(ga[ia] += |k, ia, _ib| g[k]),
                            BinOp::Mul => acc!(ga[ia] += |k, ia, ib| g[k] * xb[ib]),
                            BinOp::Div => acc!(ga[ia] += |k, ia, ib| g[k] / xb[ib]),
                        }
                    }
                    if let Some(gb) = grad_of(&mut grads, nodes, pool, b) {
                        match op {
                            BinOp::Add => acc!(gb[ib] += |k, _ia, ib| g[k]),
                            BinOp::Sub => acc!(gb[ib] += |k, _ia, ib| -g[k]),
                            BinOp::Mul => acc!(gb[ib] += |k, ia, ib| g[k] * xa[ia]),
                            BinOp::Div => {
                                acc!(gb[ib] += |k, ia, ib| -g[k] * xa[ia] / (xb[ib] * xb[ib]))
                            }
                        }
                    }
                }
                Op::Unary(op, x) => {
                    let (op, x) = (*op, *x);
                    let xd = &nodes[x].data;
                    let y = &node.data;
                    if let Some(gx) = grad_of(&mut grads, nodes, pool, x) {
                        // One loop per op: `d` is the derivative at input `v`, output `yv`.
                        macro_rules! chain {
                            (|$v:ident, $yv:ident| $d:expr) => {
                                super::par::zip4(gx, &g, xd, y, |gx, g, xd, y| {
                                    for (((gx, &gk), &$v), &$yv) in
                                        gx.iter_mut().zip(g).zip(xd).zip(y)
                                    {
                                        *gx = *gx + gk * $d;
                                    }
                                })
                            };
                        }
                        let (zero, one) = (F::zero(), F::one());
                        match op {
                            UnOp::Neg => chain!(|_v, _y| -one),
                            UnOp::Powi(0) => {}
                            UnOp::Powi(n) => chain!(|v, _y| F::of(n as f64) * v.powi(n - 1)),
                            UnOp::Powf(p) => chain!(|v, _y| p * v.powf(p - one)),
                            UnOp::Sqrt => chain!(|_v, yv| F::of(0.5) / yv),
                            UnOp::Exp => chain!(|_v, yv| yv),
                            UnOp::Log => chain!(|v, _y| one / v),
                            UnOp::Abs => chain!(|v, _y| if v > zero {
                                one
                            } else if v < zero {
                                -one
                            } else {
                                zero
                            }),
                            UnOp::Tanh => chain!(|_v, yv| one - yv * yv),
                            UnOp::Sigmoid => chain!(|_v, yv| yv * (one - yv)),
                            UnOp::Relu => chain!(|v, _y| if v > zero { one } else { zero }),
                            UnOp::Softplus => chain!(|v, _y| sigmoid(v)),
                        }
                    }
                }
                Op::Sum {
                    x,
                    len,
                    inner,
                    scale,
                } => {
                    let (len, inner, scale) = (*len, *inner, *scale);
                    if let Some(gx) = grad_of(&mut grads, nodes, pool, *x) {
                        let outer = gx.len().checked_div(len * inner).unwrap_or(0);
                        for o in 0..outer {
                            let gs = &g[o * inner..(o + 1) * inner];
                            for l in 0..len {
                                let at = (o * len + l) * inner;
                                for (d, &gv) in gx[at..at + inner].iter_mut().zip(gs) {
                                    *d = *d + gv * scale;
                                }
                            }
                        }
                    }
                }
                Op::Max { x, len, inner, arg } => {
                    let (len, inner) = (*len, *inner);
                    if let Some(gx) = grad_of(&mut grads, nodes, pool, *x) {
                        for (j, (&gv, &l)) in g.iter().zip(arg).enumerate() {
                            let (o, i) = (j / inner, j % inner);
                            let at = (o * len + l) * inner + i;
                            gx[at] = gx[at] + gv;
                        }
                    }
                }
                Op::Reshape(x) => {
                    if let Some(gx) = grad_of(&mut grads, nodes, pool, *x) {
                        for (d, &gv) in gx.iter_mut().zip(&g) {
                            *d = *d + gv;
                        }
                    }
                }
                Op::Transpose(x) => {
                    let (r, c) = (nodes[*x].shape[0], nodes[*x].shape[1]);
                    if let Some(gx) = grad_of(&mut grads, nodes, pool, *x) {
                        for i in 0..r {
                            for j in 0..c {
                                gx[i * c + j] = gx[i * c + j] + g[j * r + i];
                            }
                        }
                    }
                }
                Op::Gather {
                    x,
                    len,
                    inner,
                    indices,
                } => {
                    let (len, inner, k) = (*len, *inner, indices.len());
                    if let Some(gx) = grad_of(&mut grads, nodes, pool, *x) {
                        let outer = gx.len().checked_div(len * inner).unwrap_or(0);
                        for o in 0..outer {
                            for (j, &l) in indices.iter().enumerate() {
                                let src = &g[(o * k + j) * inner..(o * k + j + 1) * inner];
                                let at = (o * len + l) * inner;
                                for (d, &gv) in gx[at..at + inner].iter_mut().zip(src) {
                                    *d = *d + gv;
                                }
                            }
                        }
                    }
                }
                Op::MatMul(a, b) => {
                    let (a, b) = (*a, *b);
                    let (m, k) = (nodes[a].shape[0], nodes[a].shape[1]);
                    let n = nodes[b].shape[1];
                    let gm = MatArg {
                        data: &g,
                        rows: m,
                        cols: n,
                        transpose: false,
                    };
                    if let Some(ga) = grad_of(&mut grads, nodes, pool, a) {
                        // dA = G B^T
                        let bt = MatArg {
                            data: &nodes[b].data,
                            rows: k,
                            cols: n,
                            transpose: true,
                        };
                        gemm(ga, m, k, gm, bt, true);
                    }
                    if let Some(gb) = grad_of(&mut grads, nodes, pool, b) {
                        // dB = A^T G
                        let at = MatArg {
                            data: &nodes[a].data,
                            rows: m,
                            cols: k,
                            transpose: true,
                        };
                        gemm(gb, k, n, at, gm, true);
                    }
                }
                Op::LogSoftmax { x, len, inner } => {
                    let (len, inner) = (*len, *inner);
                    let y = &node.data;
                    if let Some(gx) = grad_of(&mut grads, nodes, pool, *x) {
                        let outer = gx.len().checked_div(len * inner).unwrap_or(0);
                        for o in 0..outer {
                            for i in 0..inner {
                                let at = |l: usize| (o * len + l) * inner + i;
                                let s = (0..len).fold(F::zero(), |s, l| s + g[at(l)]);
                                for l in 0..len {
                                    gx[at(l)] = gx[at(l)] + g[at(l)] - y[at(l)].exp() * s;
                                }
                            }
                        }
                    }
                }
                Op::CrossEntropy { x, probs, labels } => {
                    let n = labels.len();
                    let c = probs.len().checked_div(n).unwrap_or(0);
                    let scale = g[0] / F::of(n as f64);
                    if let Some(gx) = grad_of(&mut grads, nodes, pool, *x) {
                        for (r, &label) in labels.iter().enumerate() {
                            for j in 0..c {
                                let onehot = if j == label { F::one() } else { F::zero() };
                                let at = r * c + j;
                                gx[at] = gx[at] + scale * (probs[at] - onehot);
                            }
                        }
                    }
                }
            }
            pool.push(g);
        }
        pool.extend(grads.into_iter().flatten());
        let mut out = TensorMap::new();
        let mut unreached = Vec::new();
        for (path, &i) in params.iter() {
            match param_grads.remove(&i) {
                Some(g) => {
                    out.insert(path.clone(), Tensor::new(nodes[i].shape.clone(), g)?);
                }
                None => unreached.push(path.clone()),
            }
        }
        Ok(Gradients {
            grads: out,
            unreached,
        })
    }
}

/// Evaluates `f` on a fresh graph holding `params` and returns the loss and its gradients.
///
/// `f` receives the graph and the parameters' variables by path and returns the loss (a
/// value with one element). Errors when some parameter does not reach the loss.
pub fn value_and_grad<F: Float>(
    params: &TensorMap<F>,
    f: impl FnOnce(&mut Graph<F>, &BTreeMap<String, Var>) -> Result<Var>,
) -> Result<(F, TensorMap<F>)> {
    let mut g = Graph::new();
    let vars = g.params(params)?;
    let loss = f(&mut g, &vars)?;
    let value = g.item(loss)?;
    let grads = g.backward(loss)?;
    Ok((value, grads))
}
