//! The `scale_by_factored_rms` transformation (optax's name): the factored second
//! moment alone, as the fused kernel runs it without clip, learning rate, parameter
//! scale, momentum or weight decay; and the decay schedule it shares with `adafactor`.

use super::fused::Plan;
use super::run::{step, update, Extras};
use super::state::FactoredRmsState;
use crate::kernel::hand_hyperparams;
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, Transformation, Tree};

/// optax's `_decay_rate_pow` at 0-based step `step`, as optax computes it: in float32
/// whatever the params' type, `1 - (step + 1)^(-decay_rate)`. The step is clamped at
/// zero, see [`Adafactor`](crate::Adafactor).
pub(crate) fn decay_rate_pow(step: i64, decay_rate: f64) -> (f64, f64) {
    let t = (step.max(0) + 1) as f32;
    let e = (-decay_rate) as f32;
    // The f64 power rounded to f32 is what XLA's float32 pow returns here.
    let pow = (t as f64).powf(e as f64) as f32;
    let rate = 1.0f32 - pow;
    (rate as f64, (1.0f32 - rate) as f64)
}

/// Checks the arguments of the factored statistics where optax's math gives NaN or
/// nonsense: a decay rate that is negative or not finite (the decay would leave
/// [0, 1)), and an eps (named `eps_name`) that is not a finite positive number (zero
/// gradients would then divide zero by zero).
pub(crate) fn check_factored_args(
    transform: &str,
    decay_rate: f64,
    eps_name: &str,
    eps: f64,
) -> Result<(), Error> {
    let hyper = |arg: &str, detail: String| Error::Hyper {
        transform: transform.into(),
        arg: arg.into(),
        detail,
    };
    if !(decay_rate >= 0.0 && decay_rate.is_finite()) {
        return Err(hyper(
            "decay_rate",
            format!("{decay_rate} is not a finite number >= 0"),
        ));
    }
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(hyper(eps_name, format!("{eps} is not a finite number > 0")));
    }
    Ok(())
}

/// The 0-based step of the decay schedule: optax's int32 counter minus the offset,
/// clamped at zero.
pub(crate) fn local_step(count0: u64, offset: i64) -> i64 {
    (count0.min(i32::MAX as u64) as i64)
        .saturating_sub(offset)
        .max(0)
}

/// Scaling by a factored estimate of the gradient rms, as in Adafactor (optax's
/// `scale_by_factored_rms`): the learning-rate-free core of
/// [`adafactor`](fn@crate::adafactor).
///
/// # Update
///
/// With `t` the 0-based step, `decay = 1 - (max(t - step_offset, 0) + 1)^(-decay_rate)`
/// (computed in float32, as optax does), and `e = g² + epsilon` per element:
///
/// ```text
/// factored leaf (two largest axes d0 >= d1, both >= min_dim_size_to_factor):
///   v_row = decay * v_row + (1 - decay) * mean(e, over d0)
///   v_col = decay * v_col + (1 - decay) * mean(e, over d1)
///   u     = g * (v_row / mean(v_row, over d1))^(-1/2) * v_col^(-1/2)
/// other leaves:
///   v     = decay * v + (1 - decay) * e
///   u     = g * v^(-1/2)
/// ```
///
/// # Arguments
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `factored` | `bool` | `true` | whether to factor the second moment of leaves of rank >= 2 |
/// | `decay_rate` | `f64` | `0.8` | exponent of the second-moment decay schedule |
/// | `step_offset` | `i64` | `0` | the step the decay schedule starts from (fine-tuning) |
/// | `min_dim_size_to_factor` | `usize` | `128` | factor only when both axes have at least this size |
/// | `epsilon` | `f64` | `1e-30` | added to the squared gradient |
///
/// optax's `decay_rate_fn` (a Python callable) has no counterpart; the schedule is
/// always optax's default power decay. Before `step_offset` the schedule is held at its
/// first value, where optax 0.2.8 produces NaN (see [`Adafactor`](crate::Adafactor)).
///
/// References: Shazeer et al, 2018, *Adafactor: Adaptive Learning Rates with Sublinear
/// Memory Cost*.
#[derive(Clone, Debug)]
pub struct ScaleByFactoredRms {
    /// Whether to factor the second moment of leaves of rank >= 2.
    pub factored: bool,
    /// Exponent of the second-moment decay schedule.
    pub decay_rate: f64,
    /// The step the decay schedule starts from.
    pub step_offset: i64,
    /// Factor only when the two largest axes both have at least this size.
    pub min_dim_size_to_factor: usize,
    /// Added to the squared gradient.
    pub epsilon: f64,
}

impl Default for ScaleByFactoredRms {
    fn default() -> Self {
        ScaleByFactoredRms {
            factored: true,
            decay_rate: 0.8,
            step_offset: 0,
            min_dim_size_to_factor: 128,
            epsilon: 1e-30,
        }
    }
}

/// Shorthand for [`ScaleByFactoredRms::default`]; see [`ScaleByFactoredRms`].
pub fn scale_by_factored_rms() -> ScaleByFactoredRms {
    ScaleByFactoredRms::default()
}

impl ScaleByFactoredRms {
    /// Sets `factored`.
    #[must_use]
    pub fn factored(mut self, factored: bool) -> Self {
        self.factored = factored;
        self
    }
    /// Sets `decay_rate`.
    #[must_use]
    pub fn decay_rate(mut self, decay_rate: f64) -> Self {
        self.decay_rate = decay_rate;
        self
    }
    /// Sets `step_offset`.
    #[must_use]
    pub fn step_offset(mut self, step_offset: i64) -> Self {
        self.step_offset = step_offset;
        self
    }
    /// Sets `min_dim_size_to_factor`.
    #[must_use]
    pub fn min_dim_size_to_factor(mut self, min_dim_size_to_factor: usize) -> Self {
        self.min_dim_size_to_factor = min_dim_size_to_factor;
        self
    }
    /// Sets `epsilon`.
    #[must_use]
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    fn check_args(&self) -> Result<(), Error> {
        check_factored_args(
            "scale_by_factored_rms",
            self.decay_rate,
            "epsilon",
            self.epsilon,
        )
    }

    fn plan<F: Float>(&self, count0: u64) -> Plan<F> {
        let (decay, omd) = decay_rate_pow(local_step(count0, self.step_offset), self.decay_rate);
        Plan {
            factored: self.factored,
            min_dim: self.min_dim_size_to_factor,
            eps: F::of(self.epsilon),
            decay: F::of(decay),
            one_minus_decay: F::of(omd),
            clip: None,
            lr: F::one(),
            param_scale: false,
            beta: F::zero(),
            one_minus_beta: F::one(),
            weight_decay: None,
            sign: F::one(),
        }
    }
}

hand_hyperparams!(ScaleByFactoredRms, "scale_by_factored_rms", required: [],
    blank: ScaleByFactoredRms::default(),
    { factored, decay_rate, step_offset, min_dim_size_to_factor, epsilon });

impl<F: Float> Transformation<F> for ScaleByFactoredRms {
    type State = FactoredRmsState<F>;

    fn name(&self) -> &'static str {
        "scale_by_factored_rms"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check_args()?;
        let metas = leaf_metas(params)?;
        FactoredRmsState::new(metas, self.factored, self.min_dim_size_to_factor)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args()?;
        check_update_trees(&state.leaves, updates, params)?;
        state.check(self.factored, self.min_dim_size_to_factor)?;
        let plan = self.plan::<F>(state.count);
        let none = Extras {
            mu: None,
            decay: &[],
        };
        update(&plan, updates, params, state, none)?;
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
        self.check_args()?;
        check_update_trees(&state.leaves, updates, params)?;
        state.validate(self.factored, self.min_dim_size_to_factor)
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args()?;
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        state.check(self.factored, self.min_dim_size_to_factor)?;
        let plan = self.plan::<F>(state.count);
        let none = Extras {
            mu: None,
            decay: &[],
        };
        step(&plan, params, grads, state, none)?;
        state.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_offset_holds_the_first_rate() {
        assert_eq!(decay_rate_pow(local_step(0, 3), 0.8), (0.0, 1.0));
        assert_eq!(decay_rate_pow(local_step(2, 3), 0.8), (0.0, 1.0));
        assert_eq!(
            decay_rate_pow(local_step(4, 3), 0.8),
            decay_rate_pow(1, 0.8)
        );
    }
}
