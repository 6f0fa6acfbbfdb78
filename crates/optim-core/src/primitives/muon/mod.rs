//! Muon's primitives (optax.contrib's `_muon.py`): [`ScaleByMuon`] (momentum, then the
//! Newton-Schulz orthogonalization of each matrix) and [`ScaleByShape`] (the per-leaf
//! scale from the matrix's fan-in and fan-out).
//!
//! Written by hand: the orthogonalization is a per-leaf matrix step (a leaf's every
//! output element depends on all of its momentum, through matrix products), which the
//! element DSL, whose per-leaf code sees only scalar sums, does not express. The
//! momentum is the shared rule of [`crate::dsl`] (`moment`, `debiased`, as Adam's), the
//! products are faer's matmul (`newton_schulz.rs`), and every buffer (the leaf's momentum
//! estimate, its matrix as `(batch, reduction, output)`, the iteration's matrices) lives
//! in the state from `init`, so a step allocates nothing.
//!
//! Neither is registered by name: optax applies them to every leaf and raises on one that
//! is not a matrix, so by name they would fail on any tree with a vector; the registered
//! `muon` composes them on the matrices only.

mod layout;
pub mod newton_schulz;

pub use layout::{MuonDimensionNumbers, MuonDims};
pub use newton_schulz::{orthogonalize, NsCoeffs, NsScratch, Preconditioning};

use crate::kernel::{corrupt, for_each_step_leaf, for_each_update_leaf, LeafIo};
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use layout::LeafPlan;
use serde::{Deserialize, Serialize};

/// Muon's scaling (optax.contrib's `scale_by_muon`): a momentum `mu = beta·mu + (1 −
/// beta)·g`, its bias-corrected estimate (with `nesterov`, `beta·mu/(1 − betaᵗ⁺¹) + (1 −
/// beta)·g/(1 − betaᵗ)`, else `mu/(1 − betaᵗ)`), orthogonalized per matrix by
/// [`orthogonalize`]; with `adaptive`, scaled by `Σ estimate ⊙ orthogonalized` (the dual
/// norm). Every leaf must be a matrix under `weight_dimension_numbers`.
///
/// References: Jordan, 2024, *modded-nanogpt: Speedrunning the NanoGPT baseline*;
/// Bernstein et al, 2024, *Old Optimizer, New Norm: An Anthology*.
#[derive(Clone, Debug)]
pub struct ScaleByMuon {
    /// The Newton-Schulz coefficients.
    pub ns_coeffs: NsCoeffs,
    /// The number of Newton-Schulz iterations (ignored for one triple per iteration).
    pub ns_steps: usize,
    /// Decay of the momentum.
    pub beta: f64,
    /// Added to the norm before dividing by it.
    pub eps: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Scale by the dual norm of the estimate.
    pub adaptive: bool,
    /// How the matrix is scaled before the iterations.
    pub preconditioning: Preconditioning,
    /// Which axes of a leaf form the matrix.
    pub weight_dimension_numbers: MuonDims,
}

impl Default for ScaleByMuon {
    fn default() -> Self {
        ScaleByMuon {
            ns_coeffs: NsCoeffs::default(),
            ns_steps: 5,
            beta: 0.95,
            eps: 1e-8,
            nesterov: true,
            adaptive: false,
            preconditioning: Preconditioning::Frobenius,
            weight_dimension_numbers: MuonDims::default(),
        }
    }
}

/// Shorthand for [`ScaleByMuon::default`], optax's defaults.
pub fn scale_by_muon() -> ScaleByMuon {
    ScaleByMuon::default()
}

/// The state of [`ScaleByMuon`]: the step count, the momentum per leaf, and scratch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleByMuonState<F> {
    /// Steps taken.
    pub count: u64,
    /// The momentum, one buffer per leaf in leaf order.
    pub mu: Vec<Vec<F>>,
    /// The leaves this state was built for.
    pub leaves: Vec<LeafMeta>,
    plans: Vec<LeafPlan>,
    coeffs: Vec<[f64; 3]>,
    #[serde(skip)]
    scratch: Scratch<F>,
}

/// The buffers of a step: the estimate in leaf order, the same permuted to
/// `(batch, reduction, output)` when the axes are not already in that order, and the
/// iteration's matrices. Rebuilt after deserializing.
#[derive(Clone, Debug, Default, PartialEq)]
struct Scratch<F> {
    linear: Vec<F>,
    permuted: Vec<F>,
    ns: NsScratch<F>,
}

impl<F> PartialEq for NsScratch<F> {
    fn eq(&self, _: &Self) -> bool {
        // Scratch holds no state: any two are equal.
        true
    }
}

impl<F: Float> Scratch<F> {
    fn for_plans(plans: &[LeafPlan]) -> Self {
        let linear = plans.iter().map(|p| p.len()).max().unwrap_or(0);
        let permuted = plans
            .iter()
            .filter(|p| !p.is_identity())
            .map(|p| p.len())
            .max()
            .unwrap_or(0);
        let (r, c) = plans.iter().fold((0, 0), |(r, c), p| {
            let (m, n) = (p.rows.min(p.cols), p.rows.max(p.cols));
            (r.max(m), c.max(n))
        });
        Scratch {
            linear: vec![F::zero(); linear],
            permuted: vec![F::zero(); permuted],
            ns: NsScratch::new(r, c),
        }
    }

    fn fits(&self, plans: &[LeafPlan]) -> bool {
        plans.iter().all(|p| {
            self.linear.len() >= p.len()
                && (p.is_identity() || self.permuted.len() >= p.len())
                && self.ns.fits(p.rows, p.cols)
        })
    }
}

impl ScaleByMuon {
    fn check(&self) -> Result<(), Error> {
        // beta = 1 would divide the momentum by a zero bias correction.
        if !(0.0..1.0).contains(&self.beta) {
            return Err(Error::Hyper {
                transform: "scale_by_muon".into(),
                arg: "beta".into(),
                detail: format!("{} is not in [0, 1)", self.beta),
            });
        }
        // eps = 0 would divide a zero matrix by its zero norm.
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(Error::Hyper {
                transform: "scale_by_muon".into(),
                arg: "eps".into(),
                detail: format!("{} is not a finite number > 0", self.eps),
            });
        }
        self.ns_coeffs.check(self.ns_steps)
    }

    /// The state for `leaves`, each of which must be a matrix.
    pub(crate) fn init_leaves<F: Float>(
        &self,
        leaves: Vec<LeafMeta>,
    ) -> Result<ScaleByMuonState<F>, Error> {
        self.check()?;
        let coeffs = self.ns_coeffs.resolve(self.ns_steps)?;
        let plans = leaves
            .iter()
            .map(|m| LeafPlan::new(&self.weight_dimension_numbers, m))
            .collect::<Result<Vec<_>, _>>()?;
        let (m, n) = plans.iter().fold((0, 0), |(m, n), p| {
            (m.max(p.rows.min(p.cols)), n.max(p.rows.max(p.cols)))
        });
        if m > 0 {
            newton_schulz::warm_up::<F>(m, n);
        }
        Ok(ScaleByMuonState {
            count: 0,
            mu: leaves.iter().map(|m| vec![F::zero(); m.len()]).collect(),
            scratch: Scratch::for_plans(&plans),
            leaves,
            plans,
            coeffs,
        })
    }

    /// Checks the state before anything is written, and rebuilds missing scratch.
    fn prepare<F: Float>(&self, state: &mut ScaleByMuonState<F>) -> Result<(), Error> {
        self.check_state(state)?;
        if !state.scratch.fits(&state.plans) {
            state.scratch = Scratch::for_plans(&state.plans);
        }
        Ok(())
    }

    /// Checks the arguments and every buffer of the state, writing nothing.
    fn check_state<F: Float>(&self, state: &ScaleByMuonState<F>) -> Result<(), Error> {
        self.check()?;
        if state.mu.len() != state.leaves.len() || state.plans.len() != state.leaves.len() {
            return Err(corrupt(
                "<root>",
                "mu",
                format!(
                    "{} buffers for {} leaves",
                    state.mu.len(),
                    state.leaves.len()
                ),
            ));
        }
        for ((m, mu), plan) in state.leaves.iter().zip(&state.mu).zip(&state.plans) {
            if mu.len() != m.len() || plan.len() != m.len() {
                return Err(corrupt(
                    &m.path,
                    "mu",
                    format!("{} elements for a leaf of {}", mu.len(), m.len()),
                ));
            }
        }
        Ok(())
    }

    /// One leaf: momentum, estimate, orthogonalization, delivered through `io`.
    fn leaf<F: Float>(
        &self,
        plan: &LeafPlan,
        mu: &mut [F],
        coeffs: &[[f64; 3]],
        t: f64,
        scratch: &mut Scratch<F>,
        io: &mut impl LeafIo<F>,
    ) {
        let n = mu.len();
        let (omb, _, inv_bc, inv_bc_next, _) = crate::dsl::bias_corrections(self.beta, 0.0, t);
        let (b, omb, inv_bc, inv_bc_next) = (
            F::of(self.beta),
            F::of(omb),
            F::of(inv_bc),
            F::of(inv_bc_next),
        );
        let linear = &mut scratch.linear[..n];
        for ((e, m), &g) in linear.iter_mut().zip(mu.iter_mut()).zip(io.grads()) {
            *m = crate::dsl::moment(g, *m, omb, b);
            *e = crate::dsl::debiased(*m, g, b, omb, inv_bc, inv_bc_next, self.nesterov);
        }
        let work: &mut [F] = if plan.is_identity() {
            linear
        } else {
            plan.permute(linear, &mut scratch.permuted[..n]);
            &mut scratch.permuted[..n]
        };
        let size = plan.rows * plan.cols;
        let mut dot = 0.0;
        for mat in work.chunks_exact_mut(size.max(1)).take(plan.batch) {
            dot += orthogonalize(
                mat,
                plan.rows,
                plan.cols,
                coeffs,
                self.preconditioning,
                self.eps,
                &mut scratch.ns,
            );
        }
        if !plan.is_identity() {
            plan.unpermute(&scratch.permuted[..n], &mut scratch.linear[..n]);
        }
        let scale = F::of(dot);
        let out = &scratch.linear[..n];
        if self.adaptive {
            io.apply(0, n, |k, _, _| scale * out[k]);
        } else {
            io.apply(0, n, |k, _, _| out[k]);
        }
    }
}

impl<F: Float> Transformation<F> for ScaleByMuon {
    type State = ScaleByMuonState<F>;

    fn name(&self) -> &'static str {
        "scale_by_muon"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_leaves(leaf_metas(params)?)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        self.prepare(state)?;
        let t = (state.count + 1) as f64;
        let ScaleByMuonState {
            mu,
            plans,
            coeffs,
            scratch,
            ..
        } = state;
        for_each_update_leaf(updates, params, |i, io| {
            self.leaf(&plans[i], &mut mu[i], coeffs, t, scratch, io)
        })?;
        state.count += 1;
        Ok(())
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        self.check_state(state)
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        self.prepare(state)?;
        let t = (state.count + 1) as f64;
        let ScaleByMuonState {
            mu,
            plans,
            coeffs,
            scratch,
            ..
        } = state;
        for_each_step_leaf(params, grads, |i, io| {
            self.leaf(&plans[i], &mut mu[i], coeffs, t, scratch, io)
        })?;
        state.count += 1;
        Ok(())
    }
}

/// Muon's per-leaf scale from the matrix's shape (optax.contrib's `scale_by_shape`): with
/// `fan_in` and `fan_out` the products of the reduction and output axes,
/// `sqrt(max(1, fan_out / fan_in))` (the width scaling of Jordan's Muon), or with
/// `consistent_rms` `sqrt(max(fan_in, fan_out)) · consistent_rms` (Liu et al, 2025,
/// *Muon is Scalable for LLM Training*).
#[derive(Clone, Debug, Default)]
pub struct ScaleByShape {
    /// Which axes of a leaf form the matrix.
    pub weight_dimension_numbers: MuonDims,
    /// The RMS to scale to, or `None` for the width scaling.
    pub consistent_rms: Option<f64>,
}

/// The state of [`ScaleByShape`]: the leaves and each one's scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleByShapeState {
    /// The leaves this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// The scale of each leaf.
    pub scales: Vec<f64>,
}

impl ScaleByShape {
    fn scales(&self, leaves: &[LeafMeta]) -> Result<Vec<f64>, Error> {
        leaves
            .iter()
            .map(|m| {
                let (fan_in, fan_out) = self.weight_dimension_numbers.fans(m)?;
                let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
                if m.is_empty() {
                    // A leaf without elements has no update to scale; 1 keeps the state
                    // finite (optax's `fan_out / 0` would be infinite), so it saves as JSON.
                    return Ok(1.0);
                }
                Ok(match self.consistent_rms {
                    Some(rms) => fan_in.max(fan_out).sqrt() * rms,
                    None => (fan_out / fan_in).max(1.0).sqrt(),
                })
            })
            .collect()
    }

    fn check(&self, state: &ScaleByShapeState) -> Result<(), Error> {
        if state.scales.len() != state.leaves.len() {
            return Err(corrupt(
                "<root>",
                "scales",
                format!("{} for {} leaves", state.scales.len(), state.leaves.len()),
            ));
        }
        Ok(())
    }
}

impl<F: Float> Transformation<F> for ScaleByShape {
    type State = ScaleByShapeState;

    fn name(&self) -> &'static str {
        "scale_by_shape"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        let leaves = leaf_metas(params)?;
        Ok(ScaleByShapeState {
            scales: self.scales(&leaves)?,
            leaves,
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        self.check(state)?;
        let scales = &state.scales;
        for_each_update_leaf(updates, params, |i, io| {
            let (s, n) = (F::of(scales[i]), io.grads().len());
            io.apply(0, n, |_, g, _| s * g)
        })
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        self.check(state)
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        self.check(state)?;
        let scales = &state.scales;
        for_each_step_leaf(params, grads, |i, io| {
            let (s, n) = (F::of(scales[i]), io.grads().len());
            io.apply(0, n, |_, g, _| s * g)
        })
    }
}

/// The named tensors of a Muon state: `count` and the momentum as `mu/<leaf>` (the
/// leaf's shape). The plans and coefficients follow from the config and the leaves.
impl<F: Float> crate::StateTensors<F> for ScaleByMuonState<F> {
    fn visit_tensors(
        &self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::{leaf_name, TensorRef};
        f(&format!("{prefix}count"), TensorRef::Count(self.count))?;
        crate::state_tensors::check_leaf_bufs(&self.leaves, &self.mu, "mu")?;
        for (m, mu) in self.leaves.iter().zip(&self.mu) {
            f(
                &leaf_name(prefix, "mu", &m.path),
                TensorRef::Elems(&m.shape, mu),
            )?;
        }
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::{leaf_name, TensorMut};
        f(&format!("{prefix}count"), TensorMut::Count(&mut self.count))?;
        crate::state_tensors::check_leaf_bufs(&self.leaves, &self.mu, "mu")?;
        for (m, mu) in self.leaves.iter().zip(&mut self.mu) {
            f(
                &leaf_name(prefix, "mu", &m.path),
                TensorMut::Elems(&m.shape, mu),
            )?;
        }
        Ok(())
    }
}

/// A shape scaling keeps no tensors: its scales follow from the leaves' shapes.
impl<F: Float> crate::StateTensors<F> for ScaleByShapeState {
    fn visit_tensors(
        &self,
        _prefix: &str,
        _f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn visit_tensors_mut(
        &mut self,
        _prefix: &str,
        _f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        Ok(())
    }
}
