//! Muon (optax.contrib's `muon`): as optax builds it, a [`partition`] of the leaves
//! into Muon's matrices, which get `scale_by_muon → scale_by_shape → add_decayed_weights
//! → scale_by_learning_rate`, and the rest, which get [`adamw`] with the `adam_*`
//! arguments. The leaf selection is a labelling function of each leaf's path and shape
//! ([`MuonDims`]), the one [`partition`] takes.

use crate::combine::{Chain, Partition};
use crate::kernel::hand_hyperparams;
use crate::primitives::muon::{MuonDims, NsCoeffs, Preconditioning, ScaleByMuon, ScaleByShape};
use crate::{
    adamw, add_decayed_weights, partition, scale_by_learning_rate, Adamw, AddDecayedWeights, Dtype,
    Error, Extra, Float, Hyperparams, Labels, LearningRate, Mask, ScaleByLearningRate,
    Transformation, Tree, Value,
};
use serde::{Deserialize, Serialize};

/// Muon: MomentUm Orthogonalized by Newton-Schulz.
///
/// Muon is a variant of Shampoo that orthogonalizes the momentum of each weight matrix
/// with a Newton-Schulz iteration: steepest descent under the spectral norm, for the
/// matrices of a network. Leaves that are not matrices go to AdamW.
///
/// # Update
///
/// On each matrix (by default every 2-d leaf; [`muon_weight_dimension_numbers`](Self::muon_weight_dimension_numbers)
/// chooses by path and shape, and lets a leaf of any rank be a batch of matrices):
///
/// ```text
/// mu = beta·mu + (1 − beta)·g
/// m̂  = beta·mu/(1 − betaᵗ⁺¹) + (1 − beta)·g/(1 − betaᵗ)      (nesterov; else mu/(1 − betaᵗ))
/// O  = NS(m̂)              ns_steps iterations X ← a·X + (b·A + c·A²)·X, A = X·Xᵀ,
///                          from X = m̂/(‖m̂‖_F + eps), tall matrices transposed
/// O  = (Σ m̂ ⊙ O)·O        (adaptive only)
/// u  = −learning_rate·(sqrt(max(1, fan_out/fan_in))·O + weight_decay·p)
/// ```
///
/// (`sqrt(max(fan_in, fan_out))·consistent_rms` replaces the width scale when
/// `consistent_rms` is set.) Every other leaf: [`adamw`] with `adam_learning_rate`
/// (default `learning_rate`), `adam_b1`, `adam_b2`, `eps`, `adam_eps_root`,
/// `adam_weight_decay`, `mu_dtype` and `nesterov`.
///
/// # Arguments
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `learning_rate` | `LearningRate` | required | a global scaling factor, constant or scheduled |
/// | `ns_coeffs` | [`NsCoeffs`] | `(3.4445, -4.7750, 2.0315)` | Newton-Schulz coefficients; by name a preset, `"standard"` or `"dion"` |
/// | `ns_steps` | `usize` | `5` | Newton-Schulz iterations (ignored for one triple per iteration) |
/// | `beta` | `f64` | `0.95` | decay of the momentum |
/// | `eps` | `f64` | `1e-8` | added to the norm before dividing (and Adam's `eps`) |
/// | `weight_decay` | `ScalarOrSchedule` | `0.0` | decoupled weight decay of the matrices |
/// | `weight_decay_mask` | `Mask` | all | the matrices to decay |
/// | `mu_dtype` | `Option<Dtype>` | `None` | storage dtype of the Adam part's first moment (Muon's momentum stays in the params' dtype) |
/// | `nesterov` | `bool` | `true` | Nesterov momentum (both parts) |
/// | `adaptive` | `bool` | `false` | scale by the dual norm `Σ m̂ ⊙ O` |
/// | `preconditioning` | `String` | `"frobenius"` | `"frobenius"`, `"aol"` or `"schatten"` (optax's `"spectral"` is not offered) |
/// | `adam_b1` | `f64` | `0.9` | Adam's first-moment decay |
/// | `adam_b2` | `f64` | `0.999` | Adam's second-moment decay |
/// | `adam_eps_root` | `f64` | `0.0` | Adam's epsilon inside the square root |
/// | `adam_weight_decay` | `f64` | `0.0` | Adam's decoupled weight decay |
/// | `adam_learning_rate` | `Option<LearningRate>` | `None` | Adam's learning rate; `None` uses `learning_rate` |
/// | `muon_weight_dimension_numbers` | [`MuonDims`] | 2-d leaves | which leaves are matrices (not settable by name) |
/// | `consistent_rms` | `Option<f64>` | `None` | the RMS to scale matrices' updates to |
///
/// References: Jordan, 2024, *modded-nanogpt: Speedrunning the NanoGPT baseline*;
/// Bernstein et al, 2024, *Old Optimizer, New Norm: An Anthology*; Liu et al, 2025,
/// *Muon is Scalable for LLM Training*; Boissin et al, 2025, *Turbo-Muon*; Grishina et
/// al, 2025, *Accelerating Newton-Schulz Iteration for Orthogonalization via
/// Chebyshev-type Polynomials*; Ahn et al, 2025, *Dion*.
#[crate::doc_trace(
    solver = muon(0.02),
    printed = "1.36E+01 1.34E+01 1.31E+01 1.29E+01 1.27E+01"
)]
#[derive(Clone, Debug)]
pub struct Muon {
    config: MuonConfig,
    inner: Partition<MuonPart>,
}

/// The arguments of [`Muon`], by optax's names.
#[derive(Clone, Debug)]
pub struct MuonConfig {
    pub learning_rate: LearningRate,
    pub ns_coeffs: NsCoeffs,
    pub ns_steps: usize,
    pub beta: f64,
    pub eps: f64,
    pub weight_decay: LearningRate,
    pub weight_decay_mask: Mask,
    pub mu_dtype: Option<Dtype>,
    pub nesterov: bool,
    pub adaptive: bool,
    pub preconditioning: String,
    pub adam_b1: f64,
    pub adam_b2: f64,
    pub adam_eps_root: f64,
    pub adam_weight_decay: f64,
    pub adam_learning_rate: Option<LearningRate>,
    pub muon_weight_dimension_numbers: MuonDims,
    pub consistent_rms: Option<f64>,
}

impl MuonConfig {
    fn new(learning_rate: LearningRate) -> Self {
        MuonConfig {
            learning_rate,
            ns_coeffs: NsCoeffs::default(),
            ns_steps: 5,
            beta: 0.95,
            eps: 1e-8,
            weight_decay: 0.0.into(),
            weight_decay_mask: Mask::All,
            mu_dtype: None,
            nesterov: true,
            adaptive: false,
            preconditioning: "frobenius".into(),
            adam_b1: 0.9,
            adam_b2: 0.999,
            adam_eps_root: 0.0,
            adam_weight_decay: 0.0,
            adam_learning_rate: None,
            muon_weight_dimension_numbers: MuonDims::Matrices,
            consistent_rms: None,
        }
    }

    /// The partition optax's `muon` returns.
    fn build(&self) -> Partition<MuonPart> {
        let dims = self.muon_weight_dimension_numbers.clone();
        let matrices = chain_of_muon(self);
        let adam = adamw(
            self.adam_learning_rate
                .clone()
                .unwrap_or_else(|| self.learning_rate.clone()),
        )
        .b1(self.adam_b1)
        .b2(self.adam_b2)
        .eps(self.eps)
        .eps_root(self.adam_eps_root)
        .weight_decay(self.adam_weight_decay)
        .mu_dtype(self.mu_dtype)
        .nesterov(self.nesterov);
        partition(
            [
                ("adam", MuonPart::Adam(adam)),
                ("muon", MuonPart::Muon(Box::new(matrices))),
            ],
            Labels::by_leaf(move |path, shape| {
                if dims.of(path, shape).is_some() {
                    "muon".into()
                } else {
                    "adam".into()
                }
            }),
        )
    }

    /// The checks optax makes when it builds the optimizer, made at `init` and every step.
    fn check(&self) -> Result<(), Error> {
        Preconditioning::parse(&self.preconditioning)?;
        // The matrices' momentum divides by 1 − betaᵗ, and their estimate by its norm
        // plus eps: beta = 1 or eps = 0 (on a zero matrix) would give NaN.
        let hyper = |arg: &str, detail: String| Error::Hyper {
            transform: "muon".into(),
            arg: arg.into(),
            detail,
        };
        if !(0.0..1.0).contains(&self.beta) {
            return Err(hyper("beta", format!("{} is not in [0, 1)", self.beta)));
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(hyper(
                "eps",
                format!("{} is not a finite number > 0", self.eps),
            ));
        }
        if let Some(rms) = self.consistent_rms {
            if !rms.is_finite() {
                return Err(hyper("consistent_rms", format!("{rms} is not finite")));
            }
        }
        self.ns_coeffs.check(self.ns_steps)
    }
}

/// The chain of the matrices.
type MatrixChain =
    Chain<ScaleByMuon, Chain<ScaleByShape, Chain<AddDecayedWeights, ScaleByLearningRate>>>;

fn chain_of_muon(c: &MuonConfig) -> MatrixChain {
    let scale = ScaleByMuon {
        ns_coeffs: c.ns_coeffs.clone(),
        ns_steps: c.ns_steps,
        beta: c.beta,
        eps: c.eps,
        nesterov: c.nesterov,
        adaptive: c.adaptive,
        // Checked by `MuonConfig::check` before any use.
        preconditioning: Preconditioning::parse(&c.preconditioning)
            .unwrap_or(Preconditioning::Frobenius),
        weight_dimension_numbers: c.muon_weight_dimension_numbers.clone(),
    };
    let shape = ScaleByShape {
        weight_dimension_numbers: c.muon_weight_dimension_numbers.clone(),
        consistent_rms: c.consistent_rms,
    };
    // optax's mask is a tree over all the params, and the matrices' chain sees only the
    // matrices: the mask is checked against the whole tree at `init` (`Muon::init`), and
    // each matrix looks up its own flag.
    let mask = match &c.weight_decay_mask {
        Mask::Leaves(m) => {
            let full = Mask::Leaves(m.clone());
            Mask::by_path(move |p| full.lookup(p).unwrap_or(false))
        }
        other => other.clone(),
    };
    crate::chain!(
        scale,
        shape,
        add_decayed_weights()
            .weight_decay(c.weight_decay.clone())
            .mask(mask),
        scale_by_learning_rate(c.learning_rate.clone()),
    )
}

/// A member of Muon's partition: the matrices' chain or the Adam fallback.
#[derive(Clone, Debug)]
pub enum MuonPart {
    /// `scale_by_muon → scale_by_shape → add_decayed_weights → scale_by_learning_rate`.
    Muon(Box<MatrixChain>),
    /// `adamw` with the `adam_*` arguments.
    Adam(Adamw),
}

/// The state of a [`MuonPart`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MuonPartState<M, A> {
    /// The matrices' chain state.
    Muon(M),
    /// The Adam fallback's state.
    Adam(A),
}

fn wrong_part() -> Error {
    Error::State {
        path: "<root>".into(),
        buffer: "muon".into(),
        detail: "the state of one part of muon's partition was given to the other".into(),
    }
}

macro_rules! dispatch {
    ($self:ident, $state:ident, |$t:ident, $s:ident| $body:expr) => {
        match ($self, $state) {
            (MuonPart::Muon($t), MuonPartState::Muon($s)) => $body,
            (MuonPart::Adam($t), MuonPartState::Adam($s)) => $body,
            _ => Err(wrong_part()),
        }
    };
}

impl<F: Float> Transformation<F> for MuonPart {
    type State = MuonPartState<
        <MatrixChain as Transformation<F>>::State,
        <Adamw as Transformation<F>>::State,
    >;

    fn name(&self) -> &'static str {
        match self {
            MuonPart::Muon(_) => "chain",
            MuonPart::Adam(_) => "adamw",
        }
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        Ok(match self {
            MuonPart::Muon(t) => MuonPartState::Muon(t.init(params)?),
            MuonPart::Adam(t) => MuonPartState::Adam(t.init(params)?),
        })
    }

    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        Ok(match self {
            MuonPart::Muon(t) => MuonPartState::Muon(t.init_inner(params)?),
            MuonPart::Adam(t) => MuonPartState::Adam(t.init_inner(params)?),
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        dispatch!(self, state, |t, s| t.update_with(updates, s, params, extra))
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        dispatch!(self, state, |t, s| t.step_with(params, grads, s, extra))
    }

    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        dispatch!(self, state, |t, s| t
            .step_with_buffer(params, buffer, s, extra))
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        dispatch!(self, state, |t, s| t.validate(updates, s, params, extra))
    }
}

impl Muon {
    /// A configuration with optax's defaults.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Muon::from_config(MuonConfig::new(learning_rate.into()))
    }

    /// Muon from its arguments.
    pub fn from_config(config: MuonConfig) -> Self {
        Muon {
            inner: config.build(),
            config,
        }
    }

    /// The arguments.
    pub fn config(&self) -> &MuonConfig {
        &self.config
    }

    /// The partition this optimizer runs (optax's `muon` return value).
    pub fn partition(&self) -> &Partition<MuonPart> {
        &self.inner
    }

    /// The checks of `init`: the arguments, and the weight decay mask over every leaf.
    fn check_init<F: Float, P: Tree<F>>(&self, params: &P) -> Result<(), Error> {
        self.config.check()?;
        let paths: Vec<String> = crate::leaf_metas(params)?
            .into_iter()
            .map(|m| m.path)
            .collect();
        self.config
            .weight_decay_mask
            .resolve(&paths)
            .map_err(|e| Error::Hyper {
                transform: "muon".into(),
                arg: "weight_decay_mask".into(),
                detail: e.to_string(),
            })?;
        Ok(())
    }

    fn with(mut self, f: impl FnOnce(&mut MuonConfig)) -> Self {
        f(&mut self.config);
        self.inner = self.config.build();
        self
    }

    /// Sets `muon_weight_dimension_numbers`: which leaves are Muon's matrices, and how.
    #[must_use]
    pub fn muon_weight_dimension_numbers(self, dims: MuonDims) -> Self {
        self.with(|c| c.muon_weight_dimension_numbers = dims)
    }

    /// Sets `ns_coeffs`.
    #[must_use]
    pub fn ns_coeffs(self, ns_coeffs: NsCoeffs) -> Self {
        self.with(|c| c.ns_coeffs = ns_coeffs)
    }

    /// Sets `weight_decay_mask`.
    #[must_use]
    pub fn weight_decay_mask(self, mask: impl Into<Mask>) -> Self {
        self.with(|c| c.weight_decay_mask = mask.into())
    }
}

macro_rules! setters {
    ($($name:ident: $ty:ty),* $(,)?) => {
        impl Muon {
            $(
                #[doc = concat!("Sets `", stringify!($name), "`.")]
                #[must_use]
                pub fn $name(self, $name: impl Into<$ty>) -> Self {
                    self.with(|c| c.$name = $name.into())
                }
            )*
        }
    };
}

setters!(
    learning_rate: LearningRate,
    ns_steps: usize,
    beta: f64,
    eps: f64,
    weight_decay: LearningRate,
    mu_dtype: Option<Dtype>,
    nesterov: bool,
    adaptive: bool,
    preconditioning: String,
    adam_b1: f64,
    adam_b2: f64,
    adam_eps_root: f64,
    adam_weight_decay: f64,
    adam_learning_rate: Option<LearningRate>,
    consistent_rms: Option<f64>,
);

/// Shorthand for [`Muon::new`]; see [`Muon`] for the update and defaults.
pub fn muon(learning_rate: impl Into<LearningRate>) -> Muon {
    Muon::new(learning_rate)
}

hand_hyperparams!(MuonConfig, "muon", required: ["learning_rate"],
    blank: MuonConfig::new(0.0.into()),
    { learning_rate, ns_coeffs, ns_steps, beta, eps, weight_decay, weight_decay_mask,
      mu_dtype, nesterov, adaptive, preconditioning, adam_b1, adam_b2, adam_eps_root,
      adam_weight_decay, adam_learning_rate, consistent_rms });

impl Hyperparams for Muon {
    const NAMES: &'static [&'static str] = MuonConfig::NAMES;
    const REQUIRED: &'static [&'static str] = MuonConfig::REQUIRED;
    fn blank() -> Self {
        Muon::from_config(MuonConfig::blank())
    }
    fn set(&mut self, name: &str, value: Value) -> Result<(), Error> {
        self.config.set(name, value)?;
        self.inner = self.config.build();
        Ok(())
    }
    fn get(&self, name: &str) -> Option<Value> {
        self.config.get(name)
    }
}

impl<F: Float> Transformation<F> for Muon {
    type State = <Partition<MuonPart> as Transformation<F>>::State;

    fn name(&self) -> &'static str {
        "muon"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check_init(params)?;
        self.inner.init(params)
    }

    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check_init(params)?;
        self.inner.init_inner(params)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.config.check()?;
        self.inner.update_with(updates, state, params, extra)
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.config.check()?;
        self.inner.step_with(params, grads, state, extra)
    }

    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.config.check()?;
        self.inner.step_with_buffer(params, buffer, state, extra)
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.config.check()?;
        self.inner.validate(updates, state, params, extra)
    }
}

// The optimizer registers by its documented trace.

/// The state of [`Muon`]: its partition's, a group per label (`"adam"`, `"muon"`).
pub type MuonState<F> = <Muon as Transformation<F>>::State;

/// The named tensors of a part: those of the chain or the Adam fallback it holds.
impl<F: Float, M: crate::StateTensors<F>, A: crate::StateTensors<F>> crate::StateTensors<F>
    for MuonPartState<M, A>
{
    fn visit_tensors(
        &self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        match self {
            MuonPartState::Muon(s) => s.visit_tensors(prefix, f),
            MuonPartState::Adam(s) => s.visit_tensors(prefix, f),
        }
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        match self {
            MuonPartState::Muon(s) => s.visit_tensors_mut(prefix, f),
            MuonPartState::Adam(s) => s.visit_tensors_mut(prefix, f),
        }
    }
}
