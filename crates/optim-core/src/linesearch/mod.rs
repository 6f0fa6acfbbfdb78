//! The line searches of optax (`scale_by_zoom_linesearch`, `scale_by_backtracking_linesearch`)
//! and what they share: the objective they evaluate ([`Objective`], optax's `value_fn`)
//! and the tree-level vector operations of L-BFGS and of the searches.
//!
//! Written by hand rather than with `#[optimizer]`: a line search is a loop of whole-tree
//! steps (a trial point `x + s·u`, the objective and its gradient there, the slope
//! `⟨∇f, u⟩`, then a scalar decision on the next step size), and the two-loop recursion
//! of L-BFGS is a sequence of dot products and axpys over the whole tree, one per memory
//! slot. Neither is a per-element map, which is what the element DSL fuses. The vectors
//! are kept as one buffer per leaf in traversal order (`Vec<Vec<F>>`), allocated at
//! `init` in the state, so a step allocates nothing; the scalars are computed in the
//! params' element type, as optax computes them.

pub(crate) mod backtracking;
pub(crate) mod zoom;

pub use backtracking::{
    scale_by_backtracking_linesearch, BacktrackingLinesearchInfo, ScaleByBacktrackingLinesearch,
    ScaleByBacktrackingLinesearchState,
};
pub use zoom::{
    scale_by_zoom_linesearch, ScaleByZoomLinesearch, ScaleByZoomLinesearchState, ZoomLinesearchInfo,
};

use crate::kernel::try_zeros;
use crate::{Error, Float, LeafMeta, Path, Tree};
use std::sync::{Arc, Mutex};

/// `update_with`, `validate`, `step_with_buffer` and `step_with` of a line search
/// (`scale_by_zoom_linesearch`, `scale_by_backtracking_linesearch`): check every input
/// before writing, load the params and the direction into the scratch, search, scale the
/// direction by the step size found, write it out and commit the search's state. Used
/// inside the `impl Transformation<F>` block of a type with `check_inputs`, `search` and
/// `commit`.
macro_rules! search_methods {
    () => {
        fn update_with<P: Tree<F>>(
            &self,
            updates: &mut P,
            state: &mut Self::State,
            params: Option<&P>,
            extra: &Extra,
        ) -> Result<(), Error> {
            let inputs = self.check_inputs(state, &*updates, params, extra)?;
            let Some(params) = params else {
                unreachable!("validate requires the params")
            };
            state.scratch.ensure(&state.leaves)?;
            let s = &mut state.scratch;
            super::load(params, &mut s.x)?;
            super::load(&*updates, &mut s.u)?;
            let found = self.search(s, &inputs, state.learning_rate, None)?;
            super::scale(&mut s.u, found.stepsize);
            super::store(updates, &s.u)?;
            Self::commit(state, found);
            Ok(())
        }

        crate::kernel::fused_step_with_buffer!();

        // The search evaluates the user's objective, which may fail.
        fn calls_user_code(&self) -> bool {
            true
        }

        fn validate<P: Tree<F>>(
            &self,
            updates: &P,
            state: &Self::State,
            params: Option<&P>,
            extra: &Extra,
        ) -> Result<(), Error> {
            self.check_inputs(state, updates, params, extra).map(|_| ())
        }

        fn step_with<P: Tree<F>>(
            &self,
            params: &mut P,
            grads: &P,
            state: &mut Self::State,
            extra: &Extra,
        ) -> Result<(), Error> {
            let inputs = self.check_inputs(state, grads, Some(&*params), extra)?;
            state.scratch.ensure(&state.leaves)?;
            let s = &mut state.scratch;
            super::load(&*params, &mut s.x)?;
            super::load(grads, &mut s.u)?;
            let found = self.search(s, &inputs, state.learning_rate, None)?;
            super::scale(&mut s.u, found.stepsize);
            super::add_into(params, &s.u)?;
            Self::commit(state, found);
            Ok(())
        }
    };
}
pub(crate) use search_methods;

type FlatFn<F> = dyn Fn(&[Vec<F>], &mut [Vec<F>]) -> Result<f64, Error> + Send + Sync;

/// The objective a line search evaluates (optax's `value_fn`): at trial params, its
/// value and its gradient.
///
/// The params are seen as one buffer per leaf in the tree's traversal order, so one
/// objective serves a line search wherever it sits (alone, in a chain, behind a
/// combinator's view of the tree). [`Objective::flat`] takes such a function directly
/// (it writes the gradient into buffers it is given, and may allocate nothing);
/// [`Objective::of_tree`] adapts a function of a tree. Pass it with
/// [`Extra::with_objective`](crate::Extra::with_objective).
#[derive(Clone)]
pub struct Objective<F> {
    f: Arc<FlatFn<F>>,
}

impl<F> std::fmt::Debug for Objective<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Objective(..)")
    }
}

impl<F: Float> Objective<F> {
    /// An objective of the leaves: `f(x, grad)` returns the value at `x` (one slice per
    /// leaf, in traversal order) and writes the gradient into `grad` (buffers of the same
    /// sizes).
    pub fn flat(
        f: impl Fn(&[Vec<F>], &mut [Vec<F>]) -> Result<f64, Error> + Send + Sync + 'static,
    ) -> Self {
        Objective { f: Arc::new(f) }
    }

    /// An objective of a tree: `f(x)` returns the value and the gradient at the tree
    /// `x`. `template` gives the structure (a copy is kept, and each evaluation writes
    /// the trial params into it); the gradient `f` returns must have the template's
    /// leaves, else the evaluation fails naming the leaf.
    pub fn of_tree<P: Tree<F> + Clone + Send + 'static>(
        template: &P,
        f: impl Fn(&P) -> Result<(f64, P), Error> + Send + Sync + 'static,
    ) -> Self {
        let at = Mutex::new(template.clone());
        Objective::flat(move |x, grad| {
            let mut tree = at.lock().unwrap_or_else(|e| e.into_inner());
            let mut i = 0;
            tree.visit_mut(&Path::ROOT, &mut |path, d, _| {
                match x.get(i) {
                    Some(src) if src.len() == d.len() => d.copy_from_slice(src),
                    _ => return Err(mismatch(path, "value_fn params")),
                }
                i += 1;
                Ok(())
            })?;
            let (value, g) = f(&tree)?;
            let mut i = 0;
            g.visit(&Path::ROOT, &mut |path, d, _| {
                match grad.get_mut(i) {
                    Some(dst) if dst.len() == d.len() => dst.copy_from_slice(d),
                    _ => return Err(mismatch(path, "value_fn gradient")),
                }
                i += 1;
                Ok(())
            })?;
            if i != grad.len() {
                return Err(mismatch(&Path::ROOT, "value_fn gradient"));
            }
            Ok(value)
        })
    }

    /// The value at `x`, the gradient written into `grad`.
    pub fn eval(&self, x: &[Vec<F>], grad: &mut [Vec<F>]) -> Result<f64, Error> {
        (self.f)(x, grad)
    }
}

fn mismatch(path: &Path<'_>, what: &str) -> Error {
    Error::State {
        path: path.to_string(),
        buffer: what.into(),
        detail: "does not have the leaves of the params".into(),
    }
}

// ---------------------------------------------------------------------------------------
// Vectors as one buffer per leaf.

/// One zero buffer per leaf of `leaves`, or [`Error::Alloc`] naming the leaf.
pub(crate) fn zeros<F: Float>(leaves: &[LeafMeta], buffer: &str) -> Result<Vec<Vec<F>>, Error> {
    leaves
        .iter()
        .map(|m| try_zeros(m.len(), &m.path, buffer))
        .collect()
}

/// Whether `bufs` has one buffer per leaf of `leaves`, each of the leaf's size (scratch
/// that a deserialized state lacks is rebuilt by [`ensure`]).
fn fits<F>(leaves: &[LeafMeta], bufs: &[Vec<F>]) -> bool {
    bufs.len() == leaves.len() && leaves.iter().zip(bufs).all(|(m, b)| b.len() == m.len())
}

/// Makes scratch `bufs` fit `leaves`: a no-op after `init` (only a state read back from
/// serde, which does not keep scratch, allocates here, once).
pub(crate) fn ensure<F: Float>(
    leaves: &[LeafMeta],
    bufs: &mut Vec<Vec<F>>,
    buffer: &str,
) -> Result<(), Error> {
    if !fits(leaves, bufs) {
        *bufs = zeros(leaves, buffer)?;
    }
    Ok(())
}

/// Copies the leaves of `tree` into `bufs` (already checked to fit).
pub(crate) fn load<F: Float, P: Tree<F>>(tree: &P, bufs: &mut [Vec<F>]) -> Result<(), Error> {
    let mut i = 0;
    tree.visit(&Path::ROOT, &mut |path, d, _| {
        match bufs.get_mut(i) {
            Some(b) if b.len() == d.len() => b.copy_from_slice(d),
            _ => return Err(mismatch(path, "scratch")),
        }
        i += 1;
        Ok(())
    })
}

/// Writes `bufs` over the leaves of `tree`.
pub(crate) fn store<F: Float, P: Tree<F>>(tree: &mut P, bufs: &[Vec<F>]) -> Result<(), Error> {
    let mut i = 0;
    tree.visit_mut(&Path::ROOT, &mut |path, d, _| {
        match bufs.get(i) {
            Some(b) if b.len() == d.len() => d.copy_from_slice(b),
            _ => return Err(mismatch(path, "scratch")),
        }
        i += 1;
        Ok(())
    })
}

/// Adds `bufs` to the leaves of `tree` (`p += u`).
pub(crate) fn add_into<F: Float, P: Tree<F>>(tree: &mut P, bufs: &[Vec<F>]) -> Result<(), Error> {
    let mut i = 0;
    tree.visit_mut(&Path::ROOT, &mut |path, d, _| {
        match bufs.get(i) {
            Some(b) if b.len() == d.len() => {
                for (p, &u) in d.iter_mut().zip(b) {
                    *p = *p + u;
                }
            }
            _ => return Err(mismatch(path, "scratch")),
        }
        i += 1;
        Ok(())
    })
}

/// `Σ aᵢ·bᵢ` over the tree: each leaf's sum in order, then the leaves' sums added in
/// traversal order (optax's `tree.vdot`), in `F`.
pub(crate) fn dot<F: Float>(a: &[Vec<F>], b: &[Vec<F>]) -> F {
    let mut total = F::zero();
    for (a, b) in a.iter().zip(b) {
        let mut s = F::zero();
        for (&x, &y) in a.iter().zip(b) {
            s = s + x * y;
        }
        total = total + s;
    }
    total
}

/// `Σ aᵢ²` over the tree, summed as [`dot`] sums.
pub(crate) fn sq_norm<F: Float>(a: &[Vec<F>]) -> F {
    dot(a, a)
}

/// `out = x + s·u`, leaf by leaf, each element one fused multiply-add (XLA fuses
/// optax's `tree.add_scale` so on CPU).
pub(crate) fn add_scale<F: Float>(out: &mut [Vec<F>], x: &[Vec<F>], s: F, u: &[Vec<F>]) {
    for ((o, x), u) in out.iter_mut().zip(x).zip(u) {
        for ((o, &x), &u) in o.iter_mut().zip(x).zip(u) {
            *o = s.mul_add(u, x);
        }
    }
}

/// `x *= s`, leaf by leaf.
pub(crate) fn scale<F: Float>(x: &mut [Vec<F>], s: F) {
    for x in x.iter_mut() {
        for v in x.iter_mut() {
            *v = s * *v;
        }
    }
}

/// Copies `src` into `dst`, leaf by leaf (same sizes).
pub(crate) fn copy<F: Float>(dst: &mut [Vec<F>], src: &[Vec<F>]) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.copy_from_slice(s);
    }
}

/// Checks that given leaves (the extra `grad`) fit the state's leaves, naming the leaf.
pub(crate) fn check_given<F>(
    leaves: &[LeafMeta],
    given: &[Vec<F>],
    transform: &str,
    what: &str,
) -> Result<(), Error> {
    crate::state_tensors::check_leaf_bufs(leaves, given, what).map_err(|e| match e {
        Error::State { path, detail, .. } => Error::Hyper {
            transform: transform.into(),
            arg: what.into(),
            detail: format!("leaf `{path}`: {detail}"),
        },
        e => e,
    })
}

// ---------------------------------------------------------------------------------------
// What a line search reads from the extra arguments.

/// The extra arguments of a line search, checked before anything is written: the
/// objective (required), and the value and gradient at the params (each optional: when
/// either is missing, the search evaluates the objective at the params for it).
pub(crate) struct Inputs<'a, F> {
    pub(crate) objective: &'a Objective<F>,
    pub(crate) value: Option<f64>,
    pub(crate) grad: Option<&'a [Vec<F>]>,
}

impl<'a, F: Float> Inputs<'a, F> {
    /// Reads and checks the extra arguments for `transform` over a state of `leaves`.
    pub(crate) fn read(
        extra: &'a crate::Extra,
        leaves: &[LeafMeta],
        transform: &str,
    ) -> Result<Self, Error> {
        let objective = extra.objective::<F>(transform)?;
        let grad = extra.grad_leaves::<F>(transform)?;
        if let Some(g) = grad {
            check_given(leaves, g, transform, "grad")?;
        }
        Ok(Inputs {
            objective,
            value: extra.value,
            grad,
        })
    }

    /// The value at `x`, with the gradient there copied into `grad_out` (evaluating the
    /// objective when the value or the gradient was not given; `fallback` is a gradient
    /// the caller holds, lbfgs's incoming one).
    pub(crate) fn start(
        &self,
        x: &[Vec<F>],
        grad_out: &mut [Vec<F>],
        fallback: Option<&[Vec<F>]>,
    ) -> Result<F, Error> {
        match (self.value, self.grad.or(fallback)) {
            (Some(v), Some(g)) => {
                copy(grad_out, g);
                Ok(F::of(v))
            }
            (v, _) => {
                let at = self.objective.eval(x, grad_out)?;
                Ok(F::of(v.unwrap_or(at)))
            }
        }
    }
}

/// `max` as jax computes it: a NaN argument gives NaN.
pub(crate) fn jmax<F: Float>(a: F, b: F) -> F {
    if a.is_nan() || b.is_nan() {
        F::nan()
    } else if a > b {
        a
    } else {
        b
    }
}

/// `min` as jax computes it: a NaN argument gives NaN.
pub(crate) fn jmin<F: Float>(a: F, b: F) -> F {
    if a.is_nan() || b.is_nan() {
        F::nan()
    } else if a < b {
        a
    } else {
        b
    }
}

// ---------------------------------------------------------------------------------------
// Tensors of the states.

/// Visits one buffer per leaf as tensors `prefix + name/<leaf>`, each of the leaf's shape
/// preceded by `lead` (a memory's slot axis, or nothing).
pub(crate) fn visit_stacked<F: Float>(
    prefix: &str,
    name: &str,
    lead: &[usize],
    leaves: &[LeafMeta],
    bufs: &[Vec<F>],
    f: &mut crate::state_tensors::VisitTensor<'_, F>,
) -> Result<(), Error> {
    let slots = lead.iter().product::<usize>();
    check_stacked(leaves, bufs, slots, name)?;
    for (m, b) in leaves.iter().zip(bufs) {
        let shape: Vec<usize> = lead.iter().chain(&m.shape).copied().collect();
        f(
            &crate::state_tensors::leaf_name(prefix, name, &m.path),
            crate::state_tensors::TensorRef::Elems(&shape, b),
        )?;
    }
    Ok(())
}

/// [`visit_stacked`], mutable.
pub(crate) fn visit_stacked_mut<F: Float>(
    prefix: &str,
    name: &str,
    lead: &[usize],
    leaves: &[LeafMeta],
    bufs: &mut [Vec<F>],
    f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
) -> Result<(), Error> {
    let slots = lead.iter().product::<usize>();
    check_stacked(leaves, bufs, slots, name)?;
    for (m, b) in leaves.iter().zip(bufs) {
        let shape: Vec<usize> = lead.iter().chain(&m.shape).copied().collect();
        f(
            &crate::state_tensors::leaf_name(prefix, name, &m.path),
            crate::state_tensors::TensorMut::Elems(&shape, b),
        )?;
    }
    Ok(())
}

/// Checks that `bufs` holds `slots` copies of each leaf, naming the leaf otherwise.
pub(crate) fn check_stacked<F>(
    leaves: &[LeafMeta],
    bufs: &[Vec<F>],
    slots: usize,
    name: &str,
) -> Result<(), Error> {
    let bad = |path: &str, detail: String| Error::State {
        path: path.into(),
        buffer: name.into(),
        detail,
    };
    if bufs.len() != leaves.len() {
        let path = leaves.first().map_or("<root>", |m| m.path.as_str());
        return Err(bad(
            path,
            format!(
                "{} leaves recorded but {} entries",
                leaves.len(),
                bufs.len()
            ),
        ));
    }
    for (m, b) in leaves.iter().zip(bufs) {
        if Some(b.len()) != m.len().checked_mul(slots) {
            return Err(bad(
                &m.path,
                format!("{} elements, expected {slots} × {}", b.len(), m.len()),
            ));
        }
    }
    Ok(())
}

/// One buffer per leaf, of the leaf's shape: [`visit_stacked`] without a slot axis.
pub(crate) fn visit_leaf_bufs<F: Float>(
    prefix: &str,
    name: &str,
    leaves: &[LeafMeta],
    bufs: &[Vec<F>],
    f: &mut crate::state_tensors::VisitTensor<'_, F>,
) -> Result<(), Error> {
    visit_stacked(prefix, name, &[], leaves, bufs, f)
}

/// [`visit_leaf_bufs`], mutable.
pub(crate) fn visit_leaf_bufs_mut<F: Float>(
    prefix: &str,
    name: &str,
    leaves: &[LeafMeta],
    bufs: &mut [Vec<F>],
    f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
) -> Result<(), Error> {
    visit_stacked_mut(prefix, name, &[], leaves, bufs, f)
}
