//! `scale_by_lbfgs` (optax's): the L-BFGS direction, the gradient preconditioned by the
//! inverse-Hessian approximation of the last `memory_size` differences of params and
//! gradients (the two-loop recursion, Nocedal and Wright, Algorithm 7.4).
//!
//! Written by hand, as `linesearch`'s module docs explain: the recursion is a sequence of
//! whole-tree dot products and axpys, one pair per memory slot. The memory is stacked per
//! leaf as optax stacks it (a buffer of `memory_size × leaf size`, slot-major), allocated
//! at `init`; the newest differences are computed into scratch and written into their
//! slot only when the step commits, so a failing step (a line search whose objective
//! fails, in `lbfgs`) leaves the state as it was.

use crate::kernel::hand_hyperparams;
use crate::linesearch::{
    check_stacked, copy, dot, ensure, load, sq_norm, visit_leaf_bufs, visit_leaf_bufs_mut,
    visit_stacked, visit_stacked_mut, zeros, ScaleByBacktrackingLinesearch, ScaleByZoomLinesearch,
};
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use serde::{Deserialize, Serialize};

/// Scales the updates by the L-BFGS approximation of the inverse Hessian (optax's
/// `scale_by_lbfgs`). The memory keeps the last `memory_size` differences of params
/// `sₖ = xₖ₊₁ − xₖ` and of gradients `yₖ = gₖ₊₁ − gₖ`, with `ρₖ = 1/⟨sₖ, yₖ⟩` (0 when the
/// product is 0); the identity the recursion starts from is scaled by `⟨s, y⟩/⟨y, y⟩` of
/// the newest pair when `scale_init_precond`, and by `min(1, 1/‖g‖)` at the first step.
/// The result is the descent direction itself (not negated): chain a negative scaling
/// after it, as `lbfgs` does.
#[derive(Clone, Debug)]
pub struct ScaleByLbfgs {
    /// The number of past differences kept, at least 1.
    pub memory_size: u64,
    /// Whether the initial inverse Hessian is scaled (else it is the identity).
    pub scale_init_precond: bool,
}

impl Default for ScaleByLbfgs {
    fn default() -> Self {
        ScaleByLbfgs {
            memory_size: 10,
            scale_init_precond: true,
        }
    }
}

/// Shorthand for [`ScaleByLbfgs::default`], optax's defaults.
pub fn scale_by_lbfgs() -> ScaleByLbfgs {
    ScaleByLbfgs::default()
}

impl ScaleByLbfgs {
    /// Sets `memory_size`.
    #[must_use]
    pub fn memory_size(mut self, memory_size: u64) -> Self {
        self.memory_size = memory_size;
        self
    }
    /// Sets `scale_init_precond`.
    #[must_use]
    pub fn scale_init_precond(mut self, scale_init_precond: bool) -> Self {
        self.scale_init_precond = scale_init_precond;
        self
    }
}

hand_hyperparams!(ScaleByLbfgs, "scale_by_lbfgs", required: [], blank: ScaleByLbfgs::default(),
    { memory_size, scale_init_precond });

/// The state of [`ScaleByLbfgs`] (optax's `ScaleByLBFGSState`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct ScaleByLbfgsState<F> {
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// The number of steps taken.
    pub count: u64,
    /// The params of the last step, one buffer per leaf.
    pub params: Vec<Vec<F>>,
    /// The incoming updates (gradients) of the last step.
    pub updates: Vec<Vec<F>>,
    /// The params differences, per leaf `memory_size` slots of the leaf's size.
    pub diff_params_memory: Vec<Vec<F>>,
    /// The gradient differences, stacked as `diff_params_memory`.
    pub diff_updates_memory: Vec<Vec<F>>,
    /// `ρ` of each slot.
    pub weights_memory: Vec<F>,
    #[serde(skip)]
    pub(crate) scratch: Scratch<F>,
}

/// What a step computes before it commits (not saved).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch<F> {
    /// The params and the incoming gradients, copied from the trees.
    pub(crate) x: Vec<Vec<F>>,
    pub(crate) g: Vec<Vec<F>>,
    /// The newest differences and their weight, for the slot the step commits.
    dw: Vec<Vec<F>>,
    du: Vec<Vec<F>>,
    weight: F,
    /// The first loop's coefficients, one per slot.
    alphas: Vec<F>,
    /// The direction, when the caller has no buffer of its own for it.
    out: Vec<Vec<F>>,
}

impl<F: Float> Scratch<F> {
    pub(crate) fn ensure(&mut self, leaves: &[LeafMeta], m: usize) -> Result<(), Error> {
        for b in [
            &mut self.x,
            &mut self.g,
            &mut self.dw,
            &mut self.du,
            &mut self.out,
        ] {
            ensure(leaves, b, "lbfgs scratch")?;
        }
        if self.alphas.len() != m {
            self.alphas = vec![F::zero(); m];
        }
        Ok(())
    }
}

impl ScaleByLbfgs {
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.memory_size < 1 {
            return Err(Error::Hyper {
                transform: "scale_by_lbfgs".into(),
                arg: "memory_size".into(),
                detail: "must be >= 1".into(),
            });
        }
        Ok(())
    }

    fn slots(&self) -> usize {
        self.memory_size as usize
    }

    pub(crate) fn init_state<F: Float>(
        &self,
        leaves: Vec<LeafMeta>,
    ) -> Result<ScaleByLbfgsState<F>, Error> {
        self.check()?;
        let m = self.slots();
        let stacked = |name: &str| -> Result<Vec<Vec<F>>, Error> {
            leaves
                .iter()
                .map(|l| {
                    let n = l.len().checked_mul(m).ok_or_else(|| Error::Alloc {
                        path: l.path.clone(),
                        buffer: name.into(),
                        elements: usize::MAX,
                    })?;
                    crate::kernel::try_zeros(n, &l.path, name)
                })
                .collect()
        };
        let mut scratch = Scratch::default();
        scratch.ensure(&leaves, m)?;
        Ok(ScaleByLbfgsState {
            count: 0,
            params: zeros(&leaves, "params")?,
            updates: zeros(&leaves, "updates")?,
            diff_params_memory: stacked("diff_params_memory")?,
            diff_updates_memory: stacked("diff_updates_memory")?,
            weights_memory: vec![F::zero(); m],
            leaves,
            scratch,
        })
    }

    /// Checks that the state's buffers fit its leaves and the configuration.
    pub(crate) fn check_state<F: Float>(&self, state: &ScaleByLbfgsState<F>) -> Result<(), Error> {
        self.check()?;
        let leaves = &state.leaves;
        crate::state_tensors::check_leaf_bufs(leaves, &state.params, "params")?;
        crate::state_tensors::check_leaf_bufs(leaves, &state.updates, "updates")?;
        let m = self.slots();
        check_stacked(leaves, &state.diff_params_memory, m, "diff_params_memory")?;
        check_stacked(leaves, &state.diff_updates_memory, m, "diff_updates_memory")?;
        if state.weights_memory.len() != m {
            return Err(Error::State {
                path: "<root>".into(),
                buffer: "weights_memory".into(),
                detail: format!("{} slots, memory_size is {m}", state.weights_memory.len()),
            });
        }
        Ok(())
    }

    /// The direction at `s.x` for the gradient `s.g`, written into `out`; computes the
    /// newest differences into the scratch and writes nothing else.
    pub(crate) fn direction<F: Float>(&self, state: &mut ScaleByLbfgsState<F>, out: &mut [Vec<F>]) {
        let m = self.slots();
        let ScaleByLbfgsState {
            count,
            params,
            updates,
            diff_params_memory: dwm,
            diff_updates_memory: dum,
            weights_memory: rhos,
            scratch: s,
            ..
        } = state;
        let first = *count == 0;
        // 1. The newest differences (zero at the first step), for slot `count - 1`.
        for (((dw, du), (x, g)), (px, pg)) in
            s.dw.iter_mut()
                .zip(s.du.iter_mut())
                .zip(s.x.iter().zip(&s.g))
                .zip(params.iter().zip(updates.iter()))
        {
            for i in 0..dw.len() {
                (dw[i], du[i]) = if first {
                    (F::zero(), F::zero())
                } else {
                    (x[i] - px[i], g[i] - pg[i])
                };
            }
        }
        let vdot = dot(&s.du, &s.dw);
        s.weight = if first || vdot == F::zero() {
            F::zero()
        } else {
            F::one() / vdot
        };
        // 2. The scale of the identity.
        let gamma = if !self.scale_init_precond {
            F::one()
        } else if first {
            let norm = sq_norm(&s.g).sqrt();
            crate::linesearch::jmin(F::one(), F::one() / norm)
        } else {
            let den = sq_norm(&s.du);
            if den > F::zero() {
                vdot / den
            } else {
                F::one()
            }
        };
        // 3. The two-loop recursion over the slots from the oldest (`count mod m`) to the
        // newest (`count - 1 mod m`, the scratch's differences).
        let newest = ((*count + m as u64 - 1) % m as u64) as usize;
        let oldest = (*count % m as u64) as usize;
        let rho = |idx: usize| if idx == newest { s.weight } else { rhos[idx] };
        copy(out, &s.g);
        for k in (0..m).rev() {
            let idx = (oldest + k) % m;
            let dw = pick(dwm, &s.dw, idx, newest);
            let alpha = rho(idx) * dot_slot(&dw, out);
            let du = pick(dum, &s.du, idx, newest);
            axpy_slot(out, -alpha, &du);
            s.alphas[k] = alpha;
        }
        crate::linesearch::scale(out, gamma);
        for k in 0..m {
            let idx = (oldest + k) % m;
            let du = pick(dum, &s.du, idx, newest);
            let beta = rho(idx) * dot_slot(&du, out);
            let dw = pick(dwm, &s.dw, idx, newest);
            axpy_slot(out, s.alphas[k] - beta, &dw);
        }
    }

    /// Commits the step whose direction [`direction`](Self::direction) computed: the
    /// newest differences into their slot, the params and gradients, the count.
    pub(crate) fn commit<F: Float>(&self, state: &mut ScaleByLbfgsState<F>) {
        let m = self.slots();
        let newest = ((state.count + m as u64 - 1) % m as u64) as usize;
        let s = &mut state.scratch;
        for (leaf, (dw, du)) in s.dw.iter().zip(&s.du).enumerate() {
            let n = dw.len();
            state.diff_params_memory[leaf][newest * n..(newest + 1) * n].copy_from_slice(dw);
            state.diff_updates_memory[leaf][newest * n..(newest + 1) * n].copy_from_slice(du);
        }
        state.weights_memory[newest] = s.weight;
        std::mem::swap(&mut state.params, &mut s.x);
        std::mem::swap(&mut state.updates, &mut s.g);
        state.count = state.count.saturating_add(1);
    }
}

/// Slot `idx` of a stacked memory, leaf by leaf, or the scratch's newest differences.
fn pick<'a, F>(
    mem: &'a [Vec<F>],
    newest_bufs: &'a [Vec<F>],
    idx: usize,
    newest: usize,
) -> SlotView<'a, F> {
    SlotView {
        mem,
        new: (idx == newest).then_some(newest_bufs),
        idx,
    }
}

/// One slot of a memory, as `pick` chose it.
struct SlotView<'a, F> {
    mem: &'a [Vec<F>],
    new: Option<&'a [Vec<F>]>,
    idx: usize,
}

impl<F> SlotView<'_, F> {
    fn leaf(&self, leaf: usize, n: usize) -> &[F] {
        match self.new {
            Some(b) => &b[leaf],
            None => &self.mem[leaf][self.idx * n..(self.idx + 1) * n],
        }
    }
}

/// `⟨slot, v⟩`, summed as [`dot`] sums.
fn dot_slot<F: Float>(slot: &SlotView<'_, F>, v: &[Vec<F>]) -> F {
    let mut total = F::zero();
    for (leaf, v) in v.iter().enumerate() {
        let mut sum = F::zero();
        for (&a, &b) in slot.leaf(leaf, v.len()).iter().zip(v) {
            sum = sum + a * b;
        }
        total = total + sum;
    }
    total
}

/// `v += a · slot`, each element one fused multiply-add: XLA fuses optax's
/// `tree.add_scale` so on CPU, and the float32 trace of optax's documented example
/// depends on it from its third step.
fn axpy_slot<F: Float>(v: &mut [Vec<F>], a: F, slot: &SlotView<'_, F>) {
    for (leaf, v) in v.iter_mut().enumerate() {
        let n = v.len();
        for (x, &y) in v.iter_mut().zip(slot.leaf(leaf, n)) {
            *x = a.mul_add(y, *x);
        }
    }
}

impl<F: Float> Transformation<F> for ScaleByLbfgs {
    type State = ScaleByLbfgsState<F>;

    fn name(&self) -> &'static str {
        "scale_by_lbfgs"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_state(leaf_metas(params)?)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_state(state)?;
        check_update_trees(&state.leaves, &*updates, params)?;
        let Some(params) = params else {
            return Err(Error::MissingExtra {
                transform: "scale_by_lbfgs".into(),
                arg: "params".into(),
            });
        };
        state.scratch.ensure(&state.leaves, self.slots())?;
        load(params, &mut state.scratch.x)?;
        load(&*updates, &mut state.scratch.g)?;
        let mut out = std::mem::take(&mut state.scratch.out);
        self.direction(state, &mut out);
        let stored = crate::linesearch::store(updates, &out);
        state.scratch.out = out;
        stored?;
        self.commit(state);
        Ok(())
    }

    crate::kernel::fused_step_with_buffer!();

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_state(state)?;
        check_update_trees(&state.leaves, updates, params)?;
        if params.is_none() {
            return Err(Error::MissingExtra {
                transform: "scale_by_lbfgs".into(),
                arg: "params".into(),
            });
        }
        Ok(())
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_state(state)?;
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        state.scratch.ensure(&state.leaves, self.slots())?;
        load(&*params, &mut state.scratch.x)?;
        load(grads, &mut state.scratch.g)?;
        let mut out = std::mem::take(&mut state.scratch.out);
        self.direction(state, &mut out);
        let added = crate::linesearch::add_into(params, &out);
        state.scratch.out = out;
        added?;
        self.commit(state);
        Ok(())
    }
}

// No documented trace (optax documents `lbfgs`); registered by this table with the line
// searches, which `optimizers/lbfgs.rs` composes with it.
crate::family! {
    "scale_by_lbfgs" => ScaleByLbfgs,
    "scale_by_zoom_linesearch" => ScaleByZoomLinesearch,
    "scale_by_backtracking_linesearch" => ScaleByBacktrackingLinesearch,
}

/// The tensors: `count`, `prev_params/<leaf>` and `prev_updates/<leaf>` (optax's `params`
/// and `updates`, renamed because a checkpoint's `params/` are the params themselves),
/// the memories
/// (`diff_params_memory/<leaf>`, `diff_updates_memory/<leaf>`, shaped `[memory_size,
/// *leaf shape]` as optax stacks them) and `weights_memory`.
impl<F: Float> crate::StateTensors<F> for ScaleByLbfgsState<F> {
    fn visit_tensors(
        &self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::TensorRef::{Count, Elems};
        let m = [self.weights_memory.len()];
        f(&format!("{prefix}count"), Count(self.count))?;
        visit_leaf_bufs(prefix, "prev_params", &self.leaves, &self.params, f)?;
        visit_leaf_bufs(prefix, "prev_updates", &self.leaves, &self.updates, f)?;
        visit_stacked(
            prefix,
            "diff_params_memory",
            &m,
            &self.leaves,
            &self.diff_params_memory,
            f,
        )?;
        visit_stacked(
            prefix,
            "diff_updates_memory",
            &m,
            &self.leaves,
            &self.diff_updates_memory,
            f,
        )?;
        f(
            &format!("{prefix}weights_memory"),
            Elems(&m, &self.weights_memory),
        )
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::TensorMut::{Count, Elems};
        let m = [self.weights_memory.len()];
        f(&format!("{prefix}count"), Count(&mut self.count))?;
        visit_leaf_bufs_mut(prefix, "prev_params", &self.leaves, &mut self.params, f)?;
        visit_leaf_bufs_mut(prefix, "prev_updates", &self.leaves, &mut self.updates, f)?;
        visit_stacked_mut(
            prefix,
            "diff_params_memory",
            &m,
            &self.leaves,
            &mut self.diff_params_memory,
            f,
        )?;
        visit_stacked_mut(
            prefix,
            "diff_updates_memory",
            &m,
            &self.leaves,
            &mut self.diff_updates_memory,
            f,
        )?;
        f(
            &format!("{prefix}weights_memory"),
            Elems(&m, &mut self.weights_memory),
        )
    }
}
