//! Mechanic (optax.contrib's `mechanize`): a learned scale for any base optimizer.
//!
//! Written by hand behind [`Transformation`] rather than declared, because it is a
//! wrapper whose math needs both sides of the base: the sums that drive its scale read
//! the raw gradients (before the base sees them), and its update reads the base's output.
//! A primitive chained after the base sees only the base's output, and the element DSL
//! does not hold a vector of scalars per tree (one per beta, `num_betas` of them). The
//! pass structure is a declared one's: two read-only reductions over the raw gradients,
//! the base's update, one element pass; the state's buffers are allocated at `init`.

use crate::combine::overlay;
use crate::{
    check_update_trees, leaf_metas, Adam, Error, Extra, Float, Hyperparams, LeafMeta, Path,
    Transformation, Tree, Value,
};
use serde::{Deserialize, Serialize};

/// Mechanic: learns a global scale of the base optimizer's updates (optax.contrib's
/// `mechanize`).
///
/// Mechanic keeps the initial params `x_0` and moves the params to
/// `x_0 − S·(Δ − u)`, with `u` the base optimizer's update, `Δ = (x_0 − x) / (Σs + eps)`
/// the accumulated step and `S = Σ s` the learned scale: for each of `num_betas` decays
/// `β_i = 1 − 0.1^i` it tracks, from `h = ⟨g + λ·Σs·‖g‖/(‖x‖ + eps)·x, Δ⟩`
/// (`λ` = `weight_decay`), a running maximum `m`, a second moment `v` and a reward `r`,
/// and sets `s_i = ((s_init / num_betas)·m_i + max(r_i, 0)) / (sqrt(v_i) + eps)`.
///
/// By name (`optim replay`, the registry), the base is [`adam`](fn@crate::adam) and its arguments are
/// given beside mechanize's (`learning_rate` is required); an expression gives any base
/// (`{"fn": "mechanize", "args": {"base_optimizer": {...}}}`).
///
/// References: Cutkosky et al, 2023, *Mechanic: A Learning Rate Tuner*.
#[crate::doc_trace(
    solver = mechanize(optim_core::adam(0.02)),
    printed = "1.40E+01 1.40E+01 1.40E+01 1.40E+01 1.40E+01"
)]
#[derive(Clone, Debug)]
pub struct Mechanize<T = Adam> {
    /// The optimizer whose updates are scaled.
    pub base_optimizer: T,
    /// Weight decay, relative to the gradient norm, in the learned scale's signal.
    pub weight_decay: f64,
    /// Keeps divisions away from zero.
    pub eps: f64,
    /// The initial scale (split over the betas).
    pub s_init: f64,
    /// The number of decays `β_i = 1 − 0.1^i`, `i = 1..=num_betas`.
    pub num_betas: u64,
}

/// `base_optimizer` under Mechanic (optax.contrib's `mechanize`), with optax's defaults
/// (`weight_decay = 1e-2`, `eps = 1e-8`, `s_init = 1e-6`, `num_betas = 6`).
pub fn mechanize<T>(base_optimizer: T) -> Mechanize<T> {
    Mechanize {
        base_optimizer,
        weight_decay: 1e-2,
        eps: 1e-8,
        s_init: 1e-6,
        num_betas: 6,
    }
}

impl<T> Mechanize<T> {
    /// Sets `weight_decay`.
    #[must_use]
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Sets `eps`.
    #[must_use]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets `s_init`.
    #[must_use]
    pub fn s_init(mut self, s_init: f64) -> Self {
        self.s_init = s_init;
        self
    }
    /// Sets `num_betas`.
    #[must_use]
    pub fn num_betas(mut self, num_betas: u64) -> Self {
        self.num_betas = num_betas;
        self
    }

    fn check(&self) -> Result<(), Error> {
        let hyper = |arg: &str, detail: String| Error::Hyper {
            transform: "mechanize".into(),
            arg: arg.into(),
            detail,
        };
        if self.num_betas == 0 {
            return Err(hyper("num_betas", "must be at least 1".into()));
        }
        // The first step's h is 0, so its scale divides by sqrt(v) + eps = eps.
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(hyper(
                "eps",
                format!("{} is not a finite number > 0", self.eps),
            ));
        }
        if !self.weight_decay.is_finite() {
            return Err(hyper(
                "weight_decay",
                format!("{} is not finite", self.weight_decay),
            ));
        }
        if !(self.s_init >= 0.0 && self.s_init.is_finite()) {
            return Err(hyper(
                "s_init",
                format!("{} is not a finite number >= 0", self.s_init),
            ));
        }
        Ok(())
    }
}

/// mechanize's own arguments; every other name goes to the base optimizer.
const OWN: &[&str] = &["weight_decay", "eps", "s_init", "num_betas"];

impl<T: Hyperparams> Hyperparams for Mechanize<T> {
    const NAMES: &'static [&'static str] = OWN;
    const REQUIRED: &'static [&'static str] = T::REQUIRED;
    fn blank() -> Self {
        mechanize(T::blank())
    }
    fn set(&mut self, name: &str, value: Value) -> Result<(), Error> {
        let conv = |v| crate::config::convert::<f64>("mechanize", name, v);
        match name {
            "weight_decay" => self.weight_decay = conv(value)?,
            "eps" => self.eps = conv(value)?,
            "s_init" => self.s_init = conv(value)?,
            "num_betas" => self.num_betas = crate::config::convert("mechanize", name, value)?,
            "base_optimizer" => {
                return Err(Error::Hyper {
                    transform: "mechanize".into(),
                    arg: name.into(),
                    detail: "is a transformation: build mechanize from an expression \
                             (optim::expr::build) to choose the base"
                        .into(),
                })
            }
            _ => self.base_optimizer.set(name, value)?,
        }
        Ok(())
    }
    fn get(&self, name: &str) -> Option<Value> {
        match name {
            "weight_decay" => Some(Value::Num(self.weight_decay)),
            "eps" => Some(Value::Num(self.eps)),
            "s_init" => Some(Value::Num(self.s_init)),
            "num_betas" => Some(Value::Num(self.num_betas as f64)),
            _ => self.base_optimizer.get(name),
        }
    }
}

/// The state of [`Mechanize`] (optax's `MechanicState`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, F: Serialize",
    deserialize = "S: Deserialize<'de>, F: Deserialize<'de>"
))]
pub struct MechanizeState<S, F> {
    /// The base optimizer's state.
    pub base_optimizer_state: S,
    /// Number of updates done so far.
    pub count: u64,
    /// The rewards, one per beta.
    pub r: Vec<F>,
    /// The running maxima of `|h|`, one per beta.
    pub m: Vec<F>,
    /// The second moments of `h`, one per beta.
    pub v: Vec<F>,
    /// The scales, one per beta (their sum is the learned scale).
    pub s: Vec<F>,
    /// The initial params, one buffer per leaf (set from the params of the first step).
    pub x0: Vec<Vec<F>>,
    /// The leaves of the params.
    pub leaves: Vec<LeafMeta>,
    #[serde(skip)]
    scratch: Vec<Vec<F>>,
}

impl<S, F> MechanizeState<S, F> {
    fn fits(&self, num_betas: usize) -> bool {
        [&self.r, &self.m, &self.v, &self.s]
            .iter()
            .all(|b| b.len() == num_betas)
            && self.x0.len() == self.leaves.len()
            && self
                .x0
                .iter()
                .zip(&self.leaves)
                .all(|(x, m)| x.len() == m.len())
    }
}

impl<F: Float, T: Transformation<F>> Transformation<F> for Mechanize<T> {
    type State = MechanizeState<T::State, F>;

    fn name(&self) -> &'static str {
        "mechanize"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check()?;
        let n = self.num_betas as usize;
        let mut x0 = overlay::scratch_for(params)?;
        overlay::copy_into(params, &mut x0)?;
        Ok(MechanizeState {
            base_optimizer_state: self.base_optimizer.init(params)?,
            count: 0,
            r: vec![F::zero(); n],
            m: vec![F::zero(); n],
            v: vec![F::zero(); n],
            s: vec![F::of(self.s_init); n],
            x0,
            leaves: leaf_metas(params)?,
            scratch: overlay::scratch_for(params)?,
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        let Some(params) = params else {
            return Err(Error::NeedsParams {
                transform: "mechanize".into(),
            });
        };
        self.validate(&*updates, state, Some(params), extra)?;
        let eps = F::of(self.eps);
        // The first step takes x0 from the params it is given, as optax does.
        let first = state.count == 0;
        let s_sum = state.s.iter().fold(F::zero(), |a, &b| a + b);
        let denom = s_sum + eps;
        let x0 = &state.x0;
        let delta_prev = |i: usize, j: usize, p: F| {
            if first {
                F::zero()
            } else {
                (x0[i][j] - p) / denom
            }
        };
        // The raw gradients' and the params' norms, then h = <g + c·x, Δ>.
        let (mut g_sq, mut p_sq) = (0f64, 0f64);
        updates.zip(params, &Path::ROOT, &mut |_, (g, _), (p, _)| {
            for (&g, &p) in g.iter().zip(p) {
                g_sq += (g * g).f64();
                p_sq += (p * p).f64();
            }
            Ok(())
        })?;
        let (grad_norm, param_norm) = (F::of(g_sq.sqrt()), F::of(p_sq.sqrt()));
        let c = F::of(self.weight_decay) * s_sum * grad_norm / (param_norm + eps);
        let (mut h, mut i) = (0f64, 0);
        updates.zip(params, &Path::ROOT, &mut |_, (g, _), (p, _)| {
            for (j, (&g, &p)) in g.iter().zip(p).enumerate() {
                h += ((g + c * p) * delta_prev(i, j, p)).f64();
            }
            i += 1;
            Ok(())
        })?;
        let h = F::of(h);
        self.base_optimizer.update_with(
            updates,
            &mut state.base_optimizer_state,
            Some(params),
            extra,
        )?;
        // Nothing fails from here on: the per-beta scalars, then the element pass.
        let n = self.num_betas as usize;
        let s_init = F::of(self.s_init / n as f64);
        for k in 0..n {
            let beta = F::of(1.0 - 0.1f64.powi(k as i32 + 1));
            let (m_old, s_old) = (state.m[k], state.s[k]);
            let clipped = h.max(-m_old).min(m_old);
            state.m[k] = (beta * m_old).max(h.abs() + eps);
            state.v[k] = beta * beta * state.v[k] + h * h;
            state.r[k] = beta * state.r[k] + clipped * s_old;
            let wealth = s_init * state.m[k] + state.r[k].max(F::zero());
            state.s[k] = wealth / (state.v[k].sqrt() + eps);
        }
        let scale = state.s.iter().fold(F::zero(), |a, &b| a + b);
        let mut i = 0;
        let x0 = &mut state.x0;
        updates.zip_mut(params, &Path::ROOT, &mut |_, (u, _), (p, _)| {
            if first {
                x0[i].copy_from_slice(p);
            }
            for ((u, &p), &x) in u.iter_mut().zip(p).zip(&x0[i]) {
                let delta = (x - p) / denom - *u;
                *u = (x - scale * delta) - p;
            }
            i += 1;
            Ok(())
        })?;
        state.count += 1;
        Ok(())
    }

    fn calls_user_code(&self) -> bool {
        self.base_optimizer.calls_user_code()
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        let Some(params) = params else {
            return Err(Error::NeedsParams {
                transform: "mechanize".into(),
            });
        };
        self.check()?;
        check_update_trees(&state.leaves, updates, Some(params))?;
        if !state.fits(self.num_betas as usize) {
            return Err(Error::State {
                path: state
                    .leaves
                    .first()
                    .map_or("<root>".into(), |m| m.path.clone()),
                buffer: "mechanize".into(),
                detail: format!(
                    "r, m, v, s need {} entries and x0 one buffer per leaf",
                    self.num_betas
                ),
            });
        }
        // The base optimizer runs before mechanize writes its own state.
        self.base_optimizer
            .validate(updates, &state.base_optimizer_state, Some(params), extra)
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        if overlay::copy_into(grads, &mut state.scratch).is_err() {
            // A deserialized state has no buffer yet.
            state.scratch = overlay::scratch_for(grads)?;
            overlay::copy_into(grads, &mut state.scratch)?;
        }
        let mut scratch = std::mem::take(&mut state.scratch);
        let result = {
            let mut u = overlay::Overlay::over(grads, &mut scratch);
            let p = overlay::Overlay::of(&*params);
            self.update_with(&mut u, state, Some(&p), extra)
        };
        if result.is_ok() {
            let mut i = 0;
            params.visit_mut(&Path::ROOT, &mut |_, p, _| {
                for (p, &u) in p.iter_mut().zip(&scratch[i]) {
                    *p = *p + u;
                }
                i += 1;
                Ok(())
            })?;
        }
        state.scratch = scratch;
        result
    }
}

/// The named tensors of a mechanize state: the base optimizer's under `base/`, `count`,
/// the per-beta `r`, `m`, `v` and `s` (shape `[num_betas]`), and the initial params as
/// `x0/<leaf>`.
impl<F: Float, S: crate::StateTensors<F>> crate::StateTensors<F> for MechanizeState<S, F> {
    fn visit_tensors(
        &self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::{leaf_name, TensorRef};
        self.base_optimizer_state
            .visit_tensors(&format!("{prefix}base/"), f)?;
        f(&format!("{prefix}count"), TensorRef::Count(self.count))?;
        let betas = [self.r.len()];
        for (name, b) in [
            ("r", &self.r),
            ("m", &self.m),
            ("v", &self.v),
            ("s", &self.s),
        ] {
            f(&format!("{prefix}{name}"), TensorRef::Elems(&betas, b))?;
        }
        crate::state_tensors::check_leaf_bufs(&self.leaves, &self.x0, "x0")?;
        for (m, x) in self.leaves.iter().zip(&self.x0) {
            f(
                &leaf_name(prefix, "x0", &m.path),
                TensorRef::Elems(&m.shape, x),
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
        self.base_optimizer_state
            .visit_tensors_mut(&format!("{prefix}base/"), f)?;
        f(&format!("{prefix}count"), TensorMut::Count(&mut self.count))?;
        let betas = [self.r.len()];
        for (name, b) in [
            ("r", &mut self.r),
            ("m", &mut self.m),
            ("v", &mut self.v),
            ("s", &mut self.s),
        ] {
            f(&format!("{prefix}{name}"), TensorMut::Elems(&betas, b))?;
        }
        crate::state_tensors::check_leaf_bufs(&self.leaves, &self.x0, "x0")?;
        for (m, x) in self.leaves.iter().zip(&mut self.x0) {
            f(
                &leaf_name(prefix, "x0", &m.path),
                TensorMut::Elems(&m.shape, x),
            )?;
        }
        Ok(())
    }
}
