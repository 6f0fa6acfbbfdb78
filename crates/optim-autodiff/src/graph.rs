//! The tape: values, operations, and the reverse pass.

use crate::error::{Error, Result};
use optim_core::{Float, Tensor, TensorMap};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_GRAPH_ID: AtomicU64 = AtomicU64::new(1);

fn fresh_id() -> u64 {
    NEXT_GRAPH_ID.fetch_add(1, Ordering::Relaxed)
}

/// A handle to a value recorded on a [`Graph`].
///
/// A `Var` is only valid with the graph that made it, and only until that graph is
/// [reset](Graph::reset); using it elsewhere returns [`Error::ForeignVar`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    graph: u64,
    idx: usize,
}

impl Var {
    /// The position of this variable on its tape.
    pub fn index(self) -> usize {
        self.idx
    }
}

/// Elementwise binary operations (with numpy broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "div",
        }
    }
}

/// Elementwise unary operations.
#[derive(Clone, Copy, Debug, PartialEq)]
enum UnOp<F> {
    Neg,
    Powi(i32),
    Powf(F),
    Sqrt,
    Exp,
    Log,
    Abs,
    Tanh,
    Sigmoid,
    Relu,
    Softplus,
}

/// How a node was computed from earlier nodes.
#[derive(Clone, Debug)]
enum Op<F> {
    Const,
    Param,
    Binary(BinOp, usize, usize),
    Unary(UnOp<F>, usize),
    /// `scale * sum` over the middle axis of `[outer, len, inner]`.
    Sum {
        x: usize,
        len: usize,
        inner: usize,
        scale: F,
    },
    /// Max over the middle axis of `[outer, len, inner]`; `arg` holds the winning positions.
    Max {
        x: usize,
        len: usize,
        inner: usize,
        arg: Vec<usize>,
    },
    Reshape(usize),
    Transpose(usize),
    /// `take` along the middle axis of `[outer, len, inner]`.
    Gather {
        x: usize,
        len: usize,
        inner: usize,
        indices: Vec<usize>,
    },
    MatMul(usize, usize),
    LogSoftmax {
        x: usize,
        len: usize,
        inner: usize,
    },
    /// Mean softmax cross-entropy of `[n, c]` logits; keeps the softmax probabilities.
    CrossEntropy {
        x: usize,
        probs: Vec<F>,
        labels: Vec<usize>,
    },
}

#[derive(Clone, Debug)]
struct Node<F> {
    shape: Vec<usize>,
    data: Vec<F>,
    op: Op<F>,
    requires_grad: bool,
}

/// The gradients of one backward pass that tolerates unconnected parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients<F> {
    /// The gradient of every parameter the loss depends on, keyed by the parameter's path.
    pub grads: TensorMap<F>,
    /// The paths of the parameters the loss does not depend on; they have no entry in
    /// `grads`.
    pub unreached: Vec<String>,
}

/// A tape of tensor operations, differentiated in reverse mode.
///
/// Values are dense row-major n-d arrays of `F` (`f32` or `f64`). Parameters are leaves
/// registered under a path (`"layer1.w"`); [`backward`](Graph::backward) returns their
/// gradients as a [`TensorMap`], the tree type the optimizers of `optim` take. Every
/// operation checks its operands when it is recorded and returns an [`Error`] naming the
/// shapes involved; the backward pass itself cannot fail on shapes.
///
/// Buffers are recycled: [`reset`](Graph::reset) keeps every value and gradient buffer for
/// the next graph built on the same `Graph`, so a training loop that rebuilds the same
/// computation each step stops allocating tensor storage after the first step.
#[derive(Debug)]
pub struct Graph<F> {
    id: u64,
    nodes: Vec<Node<F>>,
    params: BTreeMap<String, usize>,
    pool: Vec<Vec<F>>,
}

impl<F: Float> Default for Graph<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits `shape` around `axis` into `(outer, len, inner)`.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// The numpy broadcast of two shapes, or `None` when they are incompatible.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
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
fn for_each_broadcast(
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

/// Reinterprets a slice of `F` as a slice of `T` when they are the same type.
fn cast<F: 'static, T: 'static>(x: &[F]) -> Option<&[T]> {
    if std::any::TypeId::of::<F>() == std::any::TypeId::of::<T>() {
        // SAFETY: `F` and `T` are the same type, so the layout and validity are identical.
        Some(unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<T>(), x.len()) })
    } else {
        None
    }
}

/// The mutable form of [`cast`].
fn cast_mut<F: 'static, T: 'static>(x: &mut [F]) -> Option<&mut [T]> {
    if std::any::TypeId::of::<F>() == std::any::TypeId::of::<T>() {
        // SAFETY: `F` and `T` are the same type, so the layout and validity are identical.
        Some(unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<T>(), x.len()) })
    } else {
        None
    }
}

/// How a matrix operand of [`gemm`] is read.
#[derive(Clone, Copy)]
struct MatArg<'a, F> {
    data: &'a [F],
    rows: usize,
    cols: usize,
    transpose: bool,
}

fn gemm_typed<T: faer::traits::ComplexField + Copy>(
    out: &mut [T],
    m: usize,
    n: usize,
    a: MatArg<'_, T>,
    b: MatArg<'_, T>,
    accumulate: bool,
    one: T,
) {
    use faer::{Accum, MatMut, MatRef, Par};
    let mut dst = MatMut::from_row_major_slice_mut(out, m, n);
    let ra = MatRef::from_row_major_slice(a.data, a.rows, a.cols);
    let ra = if a.transpose { ra.transpose() } else { ra };
    let rb = MatRef::from_row_major_slice(b.data, b.rows, b.cols);
    let rb = if b.transpose { rb.transpose() } else { rb };
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    faer::linalg::matmul::matmul(dst.as_mut(), beta, ra, rb, one, Par::Seq);
    clear_upper_vector_state();
}

/// Executes `vzeroupper` where the CPU has AVX.
///
/// faer's x86 matmul kernels (private-gemm-x86, AVX-512 on machines that have it) can
/// return with the upper halves of the vector registers dirty. Until something clears
/// them, every legacy-SSE instruction that follows (all of this crate's scalar float
/// code, compiled for baseline x86-64) pays a state-transition penalty: measured here as
/// `cross_entropy` on `[1279, 6]` logits taking 3-11 ms after a matmul instead of 0.13 ms.
#[inline]
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        unsafe fn zeroupper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX, checked just above.
            unsafe { zeroupper() }
        }
    }
}

/// `out (+)= op(a) * op(b)` for row-major `out` of shape `[m, n]`, through faer.
fn gemm<F: Float>(
    out: &mut [F],
    m: usize,
    n: usize,
    a: MatArg<'_, F>,
    b: MatArg<'_, F>,
    acc: bool,
) {
    let k = if a.transpose { a.rows } else { a.cols };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            out.fill(F::zero());
        }
        return;
    }
    if let (Some(a), Some(b), Some(o)) = (recast::<F, f64>(a), recast::<F, f64>(b), cast_mut(out)) {
        gemm_typed::<f64>(o, m, n, a, b, acc, 1.0);
    } else if let (Some(a), Some(b), Some(o)) =
        (recast::<F, f32>(a), recast::<F, f32>(b), cast_mut(out))
    {
        gemm_typed::<f32>(o, m, n, a, b, acc, 1.0);
    }
}

/// [`cast`] for a matrix operand.
fn recast<F: 'static, T: 'static>(x: MatArg<'_, F>) -> Option<MatArg<'_, T>> {
    Some(MatArg {
        data: cast(x.data)?,
        rows: x.rows,
        cols: x.cols,
        transpose: x.transpose,
    })
}

fn sigmoid<F: Float>(x: F) -> F {
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

/// Takes a buffer of length `n` filled with `fill` from `pool`, or allocates one. The
/// pooled buffer taken is the smallest that fits, so that small values do not use up
/// the buffers that large ones need.
fn take_buf<F: Float>(pool: &mut Vec<Vec<F>>, n: usize, fill: F) -> Vec<F> {
    let mut v = take_raw(pool, n);
    v.resize(n, fill);
    v
}

/// Takes an empty pooled buffer with capacity for `n` elements (best fit), or allocates.
fn take_raw<F>(pool: &mut Vec<Vec<F>>, n: usize) -> Vec<F> {
    let pos = pool
        .iter()
        .enumerate()
        .filter(|(_, b)| b.capacity() >= n)
        .min_by_key(|(_, b)| b.capacity())
        .map(|(i, _)| i);
    let mut v = match pos {
        Some(p) => pool.swap_remove(p),
        None => Vec::with_capacity(n),
    };
    v.clear();
    v
}

/// A pooled copy of `data`.
fn copy_buf<F: Float>(pool: &mut Vec<Vec<F>>, data: &[F]) -> Vec<F> {
    let mut v = take_raw(pool, data.len());
    v.extend_from_slice(data);
    v
}

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
    /// An empty graph.
    pub fn new() -> Self {
        Graph {
            id: fresh_id(),
            nodes: Vec::new(),
            params: BTreeMap::new(),
            pool: Vec::new(),
        }
    }

    /// Forgets every recorded value and parameter but keeps their buffers for reuse.
    /// Variables made before the reset become invalid.
    pub fn reset(&mut self) {
        self.id = fresh_id();
        self.params.clear();
        for node in self.nodes.drain(..) {
            self.pool.push(node.data);
        }
    }

    /// Takes back the buffers of a gradient tree that [`backward`](Graph::backward)
    /// returned, for the next graph to reuse: a training loop that hands its gradients
    /// back after the optimizer step allocates no tensor storage in steady state.
    pub fn recycle(&mut self, grads: TensorMap<F>) {
        self.pool.extend(grads.into_values().map(|t| t.into_data()));
    }

    /// The number of values recorded on the tape.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tape is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The paths of the registered parameters, in sorted order.
    pub fn param_paths(&self) -> Vec<String> {
        self.params.keys().cloned().collect()
    }

    fn node(&self, v: Var) -> Result<&Node<F>> {
        if v.graph != self.id {
            return Err(Error::ForeignVar { index: v.idx });
        }
        self.nodes
            .get(v.idx)
            .ok_or(Error::ForeignVar { index: v.idx })
    }

    fn push(&mut self, shape: Vec<usize>, data: Vec<F>, op: Op<F>, requires_grad: bool) -> Var {
        self.nodes.push(Node {
            shape,
            data,
            op,
            requires_grad,
        });
        Var {
            graph: self.id,
            idx: self.nodes.len() - 1,
        }
    }

    fn leaf(&mut self, shape: &[usize], data: &[F], op: Op<F>, rg: bool) -> Var {
        let buf = copy_buf(&mut self.pool, data);
        self.push(shape.to_vec(), buf, op, rg)
    }

    /// Registers a parameter under `path` with the value `value`; its gradient is reported
    /// under the same path. Errors if the path is already registered.
    pub fn param(&mut self, path: impl Into<String>, value: &Tensor<F>) -> Result<Var> {
        let path = path.into();
        if self.params.contains_key(&path) {
            return Err(Error::DuplicateParam(path));
        }
        let v = self.leaf(value.shape(), value.data(), Op::Param, true);
        self.params.insert(path, v.idx);
        Ok(v)
    }

    /// Registers every leaf of a parameter tree, returning the variables by path.
    pub fn params(&mut self, tree: &TensorMap<F>) -> Result<BTreeMap<String, Var>> {
        tree.iter()
            .map(|(k, t)| Ok((k.clone(), self.param(k.clone(), t)?)))
            .collect()
    }

    /// Records a constant (no gradient flows into it).
    pub fn constant(&mut self, value: &Tensor<F>) -> Var {
        self.leaf(value.shape(), value.data(), Op::Const, false)
    }

    /// Records a constant from a shape and row-major data; errors when they disagree.
    pub fn constant_from(&mut self, shape: &[usize], data: &[F]) -> Result<Var> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Core(optim_core::Error::DataLen {
                path: "<constant>".into(),
                shape: shape.to_vec(),
                expected: n,
                got: data.len(),
            }));
        }
        Ok(self.leaf(shape, data, Op::Const, false))
    }

    /// Records a 0-d constant.
    pub fn scalar(&mut self, x: F) -> Var {
        self.leaf(&[], &[x], Op::Const, false)
    }

    /// The shape of a value.
    pub fn shape(&self, v: Var) -> Result<&[usize]> {
        Ok(&self.node(v)?.shape)
    }

    /// The row-major data of a value.
    pub fn data(&self, v: Var) -> Result<&[F]> {
        Ok(&self.node(v)?.data)
    }

    /// A copy of a value as a tensor.
    pub fn value(&self, v: Var) -> Result<Tensor<F>> {
        let n = self.node(v)?;
        Ok(Tensor::new(n.shape.clone(), n.data.clone())?)
    }

    /// The single element of a value with one element (a loss).
    pub fn item(&self, v: Var) -> Result<F> {
        let n = self.node(v)?;
        if n.data.len() != 1 {
            return Err(Error::NotScalar(n.shape.clone()));
        }
        Ok(n.data[0])
    }

    // ---------------------------------------------------------------- elementwise

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
        // One loop per op, so that each is compiled (and vectorized) on its own.
        macro_rules! map {
            (|$v:ident| $e:expr) => {
                for (o, &$v) in out.iter_mut().zip(xd) {
                    *o = $e;
                }
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

    // ---------------------------------------------------------------- reductions

    fn check_axis(&self, op: &'static str, x: Var, axis: usize) -> Result<Vec<usize>> {
        let shape = self.node(x)?.shape.clone();
        if axis >= shape.len() {
            return Err(Error::Axis { op, axis, shape });
        }
        Ok(shape)
    }

    fn reduce_shape(shape: &[usize], axis: Option<usize>, keep_dims: bool) -> Vec<usize> {
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

    // ---------------------------------------------------------------- shapes

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

    /// The matrix product of two 2-d values, `[m, k] x [k, n] -> [m, n]`, through faer.
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        let (na, nb) = (self.node(a)?, self.node(b)?);
        let bad = |detail: &str| Error::Shape {
            op: "matmul",
            lhs: na.shape.clone(),
            rhs: nb.shape.clone(),
            detail: detail.into(),
        };
        if na.shape.len() != 2 || nb.shape.len() != 2 {
            return Err(bad("matmul needs two 2-d tensors"));
        }
        if na.shape[1] != nb.shape[0] {
            return Err(bad("the inner dimensions differ"));
        }
        let (m, k, n) = (na.shape[0], na.shape[1], nb.shape[1]);
        let rg = na.requires_grad || nb.requires_grad;
        let mut out = take_buf(&mut self.pool, m * n, F::zero());
        let (na, nb) = (&self.nodes[a.idx], &self.nodes[b.idx]);
        gemm(
            &mut out,
            m,
            n,
            MatArg {
                data: &na.data,
                rows: m,
                cols: k,
                transpose: false,
            },
            MatArg {
                data: &nb.data,
                rows: k,
                cols: n,
                transpose: false,
            },
            false,
        );
        Ok(self.push(vec![m, n], out, Op::MatMul(a.idx, b.idx), rg))
    }

    // ---------------------------------------------------------------- losses

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

    // ---------------------------------------------------------------- backward

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
                                for (((gx, &gk), &$v), &$yv) in
                                    gx.iter_mut().zip(g.iter()).zip(xd).zip(y)
                                {
                                    *gx = *gx + gk * $d;
                                }
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
