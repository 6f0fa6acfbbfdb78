//! The tape: [`Var`] handles, the recorded nodes and how each was computed, the [`Graph`]
//! that owns them, and the methods that put leaves (parameters, constants) on the tape and
//! read values back. The ops live in the sibling modules, each an `impl Graph` block.

use super::pool::copy_buf;
use crate::error::{Error, Result};
use optim_core::{Float, Tensor, TensorMap};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_GRAPH_ID: AtomicU64 = AtomicU64::new(1);

pub(super) fn fresh_id() -> u64 {
    NEXT_GRAPH_ID.fetch_add(1, Ordering::Relaxed)
}

/// A handle to a value recorded on a [`Graph`].
///
/// A `Var` is only valid with the graph that made it, and only until that graph is
/// [reset](Graph::reset); using it elsewhere returns [`Error::ForeignVar`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    graph: u64,
    pub(super) idx: usize,
}

impl Var {
    /// The position of this variable on its tape.
    pub fn index(self) -> usize {
        self.idx
    }
}

/// Elementwise binary operations (with numpy broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub(super) fn name(self) -> &'static str {
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
pub(super) enum UnOp<F> {
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
pub(super) enum Op<F> {
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
pub(super) struct Node<F> {
    pub(super) shape: Vec<usize>,
    pub(super) data: Vec<F>,
    pub(super) op: Op<F>,
    pub(super) requires_grad: bool,
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
    pub(super) id: u64,
    pub(super) nodes: Vec<Node<F>>,
    pub(super) params: BTreeMap<String, usize>,
    pub(super) pool: Vec<Vec<F>>,
}

impl<F: Float> Default for Graph<F> {
    fn default() -> Self {
        Self::new()
    }
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

    pub(super) fn node(&self, v: Var) -> Result<&Node<F>> {
        if v.graph != self.id {
            return Err(Error::ForeignVar { index: v.idx });
        }
        self.nodes
            .get(v.idx)
            .ok_or(Error::ForeignVar { index: v.idx })
    }

    pub(super) fn push(
        &mut self,
        shape: Vec<usize>,
        data: Vec<F>,
        op: Op<F>,
        requires_grad: bool,
    ) -> Var {
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
}
