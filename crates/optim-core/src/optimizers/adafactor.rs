//! Adafactor (optax's `adafactor`): optax's chain of `scale_by_factored_rms`,
//! `clip_by_block_rms`, `scale_by_learning_rate`, `scale_by_param_block_rms`, `ema`,
//! `add_decayed_weights` and `scale(-1)`, run as one transformation.
//!
//! Written by hand behind [`Transformation`], like its primitive `scale_by_factored_rms`
//! (`primitives/factored/`, which says why): the per-leaf block statistics (the clip's
//! rms of the update, the parameter rms) are computed in the same fused kernel, so
//! `adafactor` runs with no updates buffer. This file holds the configuration, its
//! documentation and state; the math is the kernel's.

use crate::kernel::{corrupt, hand_hyperparams, jax_mode};
use crate::primitives::factored::{
    check_factored_args, decay_rate_pow, local_step, step, update, Extras, Plan,
};
use crate::state_tensors::{
    visit_bufs, visit_bufs_mut, visit_flags, StateTensors, TensorMut, TensorRef, VisitTensor,
    VisitTensorMut,
};
use crate::{
    check_update_trees, leaf_metas, Buf, Dtype, Error, Extra, FactoredRmsState, Float,
    LearningRate, Mask, ScalarOrSchedule, Transformation, Tree,
};
use serde::{Deserialize, Serialize};

/// The Adafactor optimizer.
///
/// Adafactor is an adaptive learning rate optimizer that focuses on fast training of
/// large scale neural networks. It saves memory by using a factored estimate of the
/// second order moments used to scale gradients: for a leaf whose two largest axes both
/// have at least `min_dim_size_to_factor` elements, it keeps one statistic per row and
/// one per column instead of one per element.
///
/// # Update
///
/// optax's chain `scale_by_factored_rms`, `clip_by_block_rms(clipping_threshold)`,
/// `scale_by_learning_rate`, `scale_by_param_block_rms`, `ema(momentum)`,
/// `add_decayed_weights(weight_decay_rate, weight_decay_mask)`, `scale(-1)`, each part
/// present when its argument enables it, run as one transformation. Per leaf, with `u`
/// the update of [`ScaleByFactoredRms`](crate::ScaleByFactoredRms) and `n` the leaf's size:
///
/// ```text
/// u = u / max(1, sqrt(Σ u² / n) / clipping_threshold)        if clipping_threshold
/// u = learning_rate * u                                      if learning_rate
/// u = max(sqrt(Σ p² / n), 1e-3) * u   (1e-3 when rms <= 1e-3)   if multiply_by_parameter_scale
/// m = (1 - momentum) * u + momentum * m;  u = m              if momentum
/// u = u + weight_decay_rate * p                              if weight_decay_rate (masked leaves)
/// update = -u
/// ```
///
/// # Arguments
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `learning_rate` | `Option<LearningRate>` | `None` | a global scaling factor, constant or scheduled; `None` leaves the step unscaled |
/// | `min_dim_size_to_factor` | `usize` | `128` | factor the statistics only if two axes have at least this size |
/// | `decay_rate` | `f64` | `0.8` | exponent of the second-moment decay schedule |
/// | `decay_offset` | `i64` | `0` | the step the decay schedule starts from, for fine-tuning |
/// | `multiply_by_parameter_scale` | `bool` | `true` | scale the step by the rms of each leaf's params |
/// | `clipping_threshold` | `Option<f64>` | `Some(1.0)` | clip each leaf's update to this rms; `None` disables |
/// | `momentum` | `Option<f64>` | `None` | decay of an exponential moving average of the updates |
/// | `dtype_momentum` | `Dtype` | `float32` | storage dtype of the momentum |
/// | `weight_decay_rate` | `Option<ScalarOrSchedule>` | `None` | rate of the weight decay added to the update |
/// | `eps` | `f64` | `1e-30` | added to the squared gradient |
/// | `factored` | `bool` | `true` | whether to use factored second-moment estimates |
/// | `weight_decay_mask` | `Mask` | all leaves | the leaves weight decay applies to |
///
/// # `decay_offset`
///
/// optax 0.2.8 computes the decay on the step `t - decay_offset`, which is negative
/// before the offset, and raises it to a fractional power: NaN from the first step, for
/// good. Here, as in optax's fix (PR #1791), the local step is clamped at zero, so the
/// steps before the offset use the schedule's first value (decay 0: the second moment is
/// the current squared gradient) and the schedule starts counting at the offset.
///
/// # State
///
/// [`AdafactorState`]: the factored statistics ([`FactoredRmsState`]), the momentum
/// (stored as `dtype_momentum`) and the resolved weight-decay mask. As in optax, a float64
/// model keeps a float32 momentum by default, and its decayed value `momentum * m` is
/// computed in float32, as jax does; bfloat16 and float16 momentum keep the arithmetic in
/// the params' type and only round what they store (the crate's rule for low-precision
/// state).
///
/// References: Shazeer et al, 2018, *Adafactor: Adaptive Learning Rates with Sublinear
/// Memory Cost*.
#[crate::doc_trace(
    solver = adafactor().learning_rate(0.003),
    printed = "1.39E+01 1.38E+01 1.38E+01 1.37E+01 1.36E+01"
)]
#[derive(Clone, Debug)]
pub struct Adafactor {
    /// A global scaling factor, constant or scheduled; `None` leaves the step unscaled.
    pub learning_rate: Option<LearningRate>,
    /// Factor the statistics only if two axes have at least this size.
    pub min_dim_size_to_factor: usize,
    /// Exponent of the second-moment decay schedule.
    pub decay_rate: f64,
    /// The step the decay schedule starts from, for fine-tuning.
    pub decay_offset: i64,
    /// Whether to scale the step by the rms of each leaf's params.
    pub multiply_by_parameter_scale: bool,
    /// Clip each leaf's update to this rms; `None` disables clipping.
    pub clipping_threshold: Option<f64>,
    /// Decay of an exponential moving average of the updates; `None` disables it.
    pub momentum: Option<f64>,
    /// Storage dtype of the momentum.
    pub dtype_momentum: Dtype,
    /// Rate of the weight decay added to the update, constant or scheduled.
    pub weight_decay_rate: Option<ScalarOrSchedule>,
    /// Added to the squared gradient.
    pub eps: f64,
    /// Whether to use factored second-moment estimates.
    pub factored: bool,
    /// The leaves weight decay applies to.
    pub weight_decay_mask: Mask,
}

impl Default for Adafactor {
    fn default() -> Self {
        Adafactor {
            learning_rate: None,
            min_dim_size_to_factor: 128,
            decay_rate: 0.8,
            decay_offset: 0,
            multiply_by_parameter_scale: true,
            clipping_threshold: Some(1.0),
            momentum: None,
            dtype_momentum: Dtype::F32,
            weight_decay_rate: None,
            eps: 1e-30,
            factored: true,
            weight_decay_mask: Mask::All,
        }
    }
}

/// Shorthand for [`Adafactor::default`]; see [`Adafactor`] for the update and defaults.
pub fn adafactor() -> Adafactor {
    Adafactor::default()
}

impl Adafactor {
    /// Sets `learning_rate`.
    #[must_use]
    pub fn learning_rate(mut self, learning_rate: impl Into<LearningRate>) -> Self {
        self.learning_rate = Some(learning_rate.into());
        self
    }
    /// Sets `min_dim_size_to_factor`.
    #[must_use]
    pub fn min_dim_size_to_factor(mut self, min_dim_size_to_factor: usize) -> Self {
        self.min_dim_size_to_factor = min_dim_size_to_factor;
        self
    }
    /// Sets `decay_rate`.
    #[must_use]
    pub fn decay_rate(mut self, decay_rate: f64) -> Self {
        self.decay_rate = decay_rate;
        self
    }
    /// Sets `decay_offset`.
    #[must_use]
    pub fn decay_offset(mut self, decay_offset: i64) -> Self {
        self.decay_offset = decay_offset;
        self
    }
    /// Sets `multiply_by_parameter_scale`.
    #[must_use]
    pub fn multiply_by_parameter_scale(mut self, multiply_by_parameter_scale: bool) -> Self {
        self.multiply_by_parameter_scale = multiply_by_parameter_scale;
        self
    }
    /// Sets `clipping_threshold` (`None` disables clipping).
    #[must_use]
    pub fn clipping_threshold(mut self, clipping_threshold: impl Into<Option<f64>>) -> Self {
        self.clipping_threshold = clipping_threshold.into();
        self
    }
    /// Sets `momentum` (`None` disables it).
    #[must_use]
    pub fn momentum(mut self, momentum: impl Into<Option<f64>>) -> Self {
        self.momentum = momentum.into();
        self
    }
    /// Sets `dtype_momentum`.
    #[must_use]
    pub fn dtype_momentum(mut self, dtype_momentum: Dtype) -> Self {
        self.dtype_momentum = dtype_momentum;
        self
    }
    /// Sets `weight_decay_rate`.
    #[must_use]
    pub fn weight_decay_rate(mut self, weight_decay_rate: impl Into<ScalarOrSchedule>) -> Self {
        self.weight_decay_rate = Some(weight_decay_rate.into());
        self
    }
    /// Sets `eps`.
    #[must_use]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets `factored`.
    #[must_use]
    pub fn factored(mut self, factored: bool) -> Self {
        self.factored = factored;
        self
    }
    /// Sets `weight_decay_mask`.
    #[must_use]
    pub fn weight_decay_mask(mut self, weight_decay_mask: impl Into<Mask>) -> Self {
        self.weight_decay_mask = weight_decay_mask.into();
        self
    }

    /// Checks the arguments, the scheduled ones at the 0-based step `count0`, where
    /// optax's math gives NaN or nonsense.
    fn check_args<F: Float>(&self, count0: u64) -> Result<(), Error> {
        check_factored_args("adafactor", self.decay_rate, "eps", self.eps)?;
        let hyper = |arg: &str, detail: String| Error::Hyper {
            transform: "adafactor".into(),
            arg: arg.into(),
            detail,
        };
        if let Some(m) = self.momentum {
            if !(0.0..1.0).contains(&m) {
                return Err(hyper("momentum", format!("{m} is not in [0, 1)")));
            }
        }
        let mode = jax_mode::<F>();
        if let Some(lr) = &self.learning_rate {
            let v = lr.optax_value_in(count0, mode);
            if !v.is_finite() {
                return Err(hyper(
                    "learning_rate",
                    format!("{v} is not finite at step {count0}"),
                ));
            }
        }
        if let Some(wd) = &self.weight_decay_rate {
            let v = wd.optax_value_in(count0, mode);
            if !v.is_finite() {
                return Err(hyper(
                    "weight_decay_rate",
                    format!("{v} is not finite at step {count0}"),
                ));
            }
        }
        if let Some(t) = self.clipping_threshold {
            if t.is_nan() || t <= 0.0 {
                return Err(Error::Hyper {
                    transform: "adafactor".into(),
                    arg: "clipping_threshold".into(),
                    detail: format!("must be positive (or None to disable clipping), got {t}"),
                });
            }
        }
        Ok(())
    }

    fn needs_params(&self) -> bool {
        self.multiply_by_parameter_scale || self.weight_decay_rate.is_some()
    }

    fn plan<F: Float>(&self, count0: u64) -> Plan<F> {
        let mode = jax_mode::<F>();
        let (decay, omd) = decay_rate_pow(local_step(count0, self.decay_offset), self.decay_rate);
        let beta = self.momentum.unwrap_or(0.0);
        Plan {
            factored: self.factored,
            min_dim: self.min_dim_size_to_factor,
            eps: F::of(self.eps),
            decay: F::of(decay),
            one_minus_decay: F::of(omd),
            clip: self.clipping_threshold.map(F::of),
            lr: self
                .learning_rate
                .as_ref()
                .map_or(F::one(), |r| F::of(r.optax_value_in(count0, mode))),
            param_scale: self.multiply_by_parameter_scale,
            beta: F::of(beta),
            one_minus_beta: F::of(1.0 - beta),
            weight_decay: self
                .weight_decay_rate
                .as_ref()
                .map(|r| F::of(r.optax_value_in(count0, mode))),
            sign: -F::one(),
        }
    }
}

hand_hyperparams!(Adafactor, "adafactor", required: [], blank: Adafactor::default(), {
    learning_rate, min_dim_size_to_factor, decay_rate, decay_offset,
    multiply_by_parameter_scale, clipping_threshold, momentum, dtype_momentum,
    weight_decay_rate, eps, factored, weight_decay_mask,
});

/// The state of [`Adafactor`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct AdafactorState<F> {
    /// The step count and the second-moment statistics.
    pub factored: FactoredRmsState<F>,
    /// The momentum of each leaf (a disabled buffer without momentum).
    pub mu: Vec<Buf<F>>,
    /// The resolved `weight_decay_mask` flag of each leaf.
    pub weight_decay_mask: Vec<bool>,
}

/// The factored statistics' tensors ([`FactoredRmsState`]), the momentum `mu/<leaf>` (in
/// `dtype_momentum`; none without momentum) and the flags `weight_decay_mask/<leaf>`.
impl<F: Float> StateTensors<F> for AdafactorState<F> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        self.factored.visit_tensors(prefix, f)?;
        let leaves = &self.factored.leaves;
        visit_bufs(prefix, "mu", leaves, &self.mu, f)?;
        let mask = &self.weight_decay_mask;
        visit_flags(prefix, "weight_decay_mask", leaves, mask, &mut |n, b| {
            f(n, TensorRef::Flag(b))
        })
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        self.factored.visit_tensors_mut(prefix, f)?;
        let leaves = &self.factored.leaves;
        visit_bufs_mut(prefix, "mu", leaves, &mut self.mu, f)?;
        let mask = &self.weight_decay_mask;
        visit_flags(prefix, "weight_decay_mask", leaves, mask, &mut |n, b| {
            f(n, TensorMut::Flag(b))
        })
    }
}

impl Adafactor {
    /// Checks the state's momentum and mask against its leaves and this configuration.
    fn check_state<F: Float>(&self, state: &mut AdafactorState<F>) -> Result<(), Error> {
        self.validate_state(state)?;
        state
            .factored
            .check(self.factored, self.min_dim_size_to_factor)
    }

    /// Checks every buffer of `state` against the leaves and the configuration, writing
    /// nothing.
    fn validate_state<F: Float>(&self, state: &AdafactorState<F>) -> Result<(), Error> {
        state
            .factored
            .validate(self.factored, self.min_dim_size_to_factor)?;
        let metas = &state.factored.leaves;
        crate::__private::check_bufs(metas, "mu", &state.mu)?;
        crate::__private::check_flags(metas, "weight_decay_mask", &state.weight_decay_mask)?;
        for (m, b) in metas.iter().zip(&state.mu) {
            let absent = matches!(b, Buf::Absent(_));
            if absent == self.momentum.is_some() {
                return Err(corrupt(
                    &m.path,
                    "mu",
                    if absent {
                        "no momentum kept, but `momentum` is set".into()
                    } else {
                        "momentum kept, but `momentum` is None".into()
                    },
                ));
            }
        }
        Ok(())
    }
}

impl<F: Float> Transformation<F> for Adafactor {
    type State = AdafactorState<F>;

    fn name(&self) -> &'static str {
        "adafactor"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check_args::<F>(0)?;
        let metas = leaf_metas(params)?;
        let paths: Vec<String> = metas.iter().map(|m| m.path.clone()).collect();
        let weight_decay_mask = self.weight_decay_mask.resolve(&paths)?;
        let mu = metas
            .iter()
            .map(|m| match self.momentum {
                Some(_) => Buf::filled(m.len(), F::zero(), Some(self.dtype_momentum)),
                None => Buf::Absent(m.len()),
            })
            .collect();
        Ok(AdafactorState {
            factored: FactoredRmsState::new(metas, self.factored, self.min_dim_size_to_factor)?,
            mu,
            weight_decay_mask,
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args::<F>(state.factored.count)?;
        check_update_trees(&state.factored.leaves, updates, params)?;
        if params.is_none() && self.needs_params() {
            return Err(Error::NeedsParams {
                transform: "adafactor".into(),
            });
        }
        self.check_state(state)?;
        let plan = self.plan::<F>(state.factored.count);
        let AdafactorState {
            factored,
            mu,
            weight_decay_mask,
        } = state;
        let ex = Extras {
            mu: Some(mu),
            decay: weight_decay_mask,
        };
        update(&plan, updates, params, factored, ex)?;
        factored.count += 1;
        Ok(())
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args::<F>(state.factored.count)?;
        check_update_trees(&state.factored.leaves, updates, params)?;
        if params.is_none() && self.needs_params() {
            return Err(Error::NeedsParams {
                transform: "adafactor".into(),
            });
        }
        self.validate_state(state)
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args::<F>(state.factored.count)?;
        check_update_trees(&state.factored.leaves, grads, Some(&*params))?;
        self.check_state(state)?;
        let plan = self.plan::<F>(state.factored.count);
        let AdafactorState {
            factored,
            mu,
            weight_decay_mask,
        } = state;
        let ex = Extras {
            mu: Some(mu),
            decay: weight_decay_mask,
        };
        step(&plan, params, grads, factored, ex)?;
        factored.count += 1;
        Ok(())
    }
}
