//! Elementwise ops: the binary arithmetic (with numpy broadcasting) and the unary
//! functions.

use super::pool::take_buf;
use super::shape::{broadcast_shape, for_each_broadcast};
use super::tape::{BinOp, Graph, Op, UnOp, Var};
use crate::error::{Error, Result};
use optim_core::Float;

pub(super) fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}

fn softplus<F: Float>(x: F) -> F {
    x.max(F::zero()) + (-x.abs()).exp().ln_1p()
}

impl<F: Float> Graph<F> {
    fn binary(&mut self, op: BinOp, a: Var, b: Var) -> Result<Var> {
        let (na, nb) = (self.node(a)?, self.node(b)?);
        let shape = broadcast_shape(&na.shape, &nb.shape).ok_or_else(|| Error::Shape {
            op: op.name(),
            lhs: na.shape.clone(),
            rhs: nb.shape.clone(),
            detail: "they do not broadcast".into(),
        })?;
        let rg = na.requires_grad || nb.requires_grad;
        let n: usize = shape.iter().product();
        let mut out = take_buf(&mut self.pool, n, F::zero());
        let (na, nb) = (&self.nodes[a.idx], &self.nodes[b.idx]);
        let (da, db) = (&na.data, &nb.data);
        if na.shape == nb.shape {
            // Same shapes: chunks on the current pool (most of an MLP's elementwise work).
            macro_rules! same {
                (|$x:ident, $y:ident| $e:expr) => {
                    super::par::zip3(&mut out, da, db, |o, a, b| {
                        for ((o, &$x), &$y) in o.iter_mut().zip(a).zip(b) {
                            *o = $e;
                        }
                    })
                };
            }
            match op {
                BinOp::Add => same!(|x, y| x + y),
                BinOp::Sub => same!(|x, y| x - y),
                BinOp::Mul => same!(|x, y| x * y),
                BinOp::Div => same!(|x, y| x / y),
            }
            return Ok(self.push(shape, out, Op::Binary(op, a.idx, b.idx), rg));
        }
        match op {
            BinOp::Add => for_each_broadcast(&shape, &na.shape, &nb.shape, |i, ia, ib| {
                out[i] = da[ia] + db[ib]
            }),
            BinOp::Sub => for_each_broadcast(&shape, &na.shape, &nb.shape, |i, ia, ib| {
                out[i] = da[ia] - db[ib]
            }),
            BinOp::Mul => for_each_broadcast(&shape, &na.shape, &nb.shape, |i, ia, ib| {
                out[i] = da[ia] * db[ib]
            }),
            BinOp::Div => for_each_broadcast(&shape, &na.shape, &nb.shape, |i, ia, ib| {
                out[i] = da[ia] / db[ib]
            }),
        }
        Ok(self.push(shape, out, Op::Binary(op, a.idx, b.idx), rg))
    }

    /// `a + b`, elementwise with numpy broadcasting.
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinOp::Add, a, b)
    }

    /// `a - b`, elementwise with numpy broadcasting.
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinOp::Sub, a, b)
    }

    /// `a * b`, elementwise with numpy broadcasting.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinOp::Mul, a, b)
    }

    /// `a / b`, elementwise with numpy broadcasting.
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinOp::Div, a, b)
    }

    /// `x + c` for a constant scalar `c`.
    pub fn add_scalar(&mut self, x: Var, c: F) -> Result<Var> {
        let c = self.scalar(c);
        self.add(x, c)
    }

    /// `x * c` for a constant scalar `c`.
    pub fn mul_scalar(&mut self, x: Var, c: F) -> Result<Var> {
        let c = self.scalar(c);
        self.mul(x, c)
    }

    fn unary(&mut self, op: UnOp<F>, x: Var) -> Result<Var> {
        let nx = self.node(x)?;
        let (shape, rg, n) = (nx.shape.clone(), nx.requires_grad, nx.data.len());
        let mut out = take_buf(&mut self.pool, n, F::zero());
        let xd = &self.nodes[x.idx].data;
        // One loop per op, so that each is compiled (and vectorized) on its own; chunks
        // on the current pool for a large tensor.
        macro_rules! map {
            (|$v:ident| $e:expr) => {
                super::par::zip2(&mut out, xd, |o, x| {
                    for (o, &$v) in o.iter_mut().zip(x) {
                        *o = $e;
                    }
                })
            };
        }
        match op {
            UnOp::Neg => map!(|v| -v),
            UnOp::Powi(n) => map!(|v| v.powi(n)),
            UnOp::Powf(p) => map!(|v| v.powf(p)),
            UnOp::Sqrt => map!(|v| v.sqrt()),
            UnOp::Exp => map!(|v| v.exp()),
            UnOp::Log => map!(|v| v.ln()),
            UnOp::Abs => map!(|v| v.abs()),
            UnOp::Tanh => map!(|v| v.tanh()),
            UnOp::Sigmoid => map!(|v| sigmoid(v)),
            UnOp::Relu => map!(|v| if v > F::zero() { v } else { F::zero() }),
            UnOp::Softplus => map!(|v| softplus(v)),
        }
        Ok(self.push(shape, out, Op::Unary(op, x.idx), rg))
    }

    /// `-x`.
    pub fn neg(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Neg, x)
    }

    /// `x^n` for an integer power.
    pub fn powi(&mut self, x: Var, n: i32) -> Result<Var> {
        self.unary(UnOp::Powi(n), x)
    }

    /// `x^p` for a real power (NaN for negative `x` and non-integer `p`, as in IEEE).
    pub fn powf(&mut self, x: Var, p: F) -> Result<Var> {
        self.unary(UnOp::Powf(p), x)
    }

    /// The square root.
    pub fn sqrt(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Sqrt, x)
    }

    /// The exponential.
    pub fn exp(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Exp, x)
    }

    /// The natural logarithm.
    pub fn log(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Log, x)
    }

    /// The absolute value; its derivative at 0 is taken as 0.
    pub fn abs(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Abs, x)
    }

    /// The hyperbolic tangent.
    pub fn tanh(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Tanh, x)
    }

    /// The logistic sigmoid `1 / (1 + e^-x)`, computed stably.
    pub fn sigmoid(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Sigmoid, x)
    }

    /// `max(x, 0)`; its derivative at 0 is taken as 0.
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Relu, x)
    }

    /// `ln(1 + e^x)`, computed stably.
    pub fn softplus(&mut self, x: Var) -> Result<Var> {
        self.unary(UnOp::Softplus, x)
    }
}
