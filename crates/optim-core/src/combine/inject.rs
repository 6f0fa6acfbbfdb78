//! `inject_hyperparams`: an optimizer whose numeric hyperparameters are held in its
//! state, each a constant or a schedule of the step count (optax's `inject_hyperparams`).
//!
//! The state keeps the current value of every numeric hyperparameter by name, for
//! logging (`state.hyperparams()["learning_rate"]`) and for changing one between steps
//! ([`InjectHyperparamsState::set_hyperparam`]); it is saved with the state. Each step
//! sets the values on a working copy of the configuration (kept in the state, so a step
//! allocates nothing) and runs it.
//!
//! Deliberate deviation from optax: constant values stay f64, as in a bare optimizer's
//! configuration, where optax casts them to the params' dtype. So with constant values
//! the wrapped optimizer computes exactly what the bare one does, bit for bit, in float32
//! too (optax's issue #583 is the drift its cast causes). A schedule gives the value, and
//! the dtype, optax's would: a strongly typed float32 result (`linear_schedule` on the
//! int32 count, even for float64 params) stays float32, so the bias corrections that
//! optax computes in the decay's dtype are float32 computations here too
//! ([`Hyperparams::set_jax`], [`dsl::Jax`](crate::dsl::Jax)).

use crate::kernel::jax_mode;
use crate::schedule::JaxDtype;
use crate::{Error, Extra, Float, Hyperparams, LearningRate, Transformation, Tree, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// `inner` with its numeric hyperparameters in the state (optax's
/// `inject_hyperparams(factory)(**hyperparams)`). Every numeric argument of `inner` is
/// injected: its value in `inner`, or the schedule or constant given with
/// [`hyperparam`](Self::hyperparam), which may name any numeric argument (`b1` too, not
/// only the learning rate). A learning rate that `inner` already holds as a schedule
/// stays scheduled.
#[derive(Clone, Debug)]
pub struct InjectHyperparams<T> {
    /// The configuration the hyperparameters are injected into.
    pub inner: T,
    /// Hyperparameters given here, by name, overriding `inner`'s values.
    pub overrides: Vec<(String, LearningRate)>,
}

/// `inner` with injected hyperparameters.
pub fn inject_hyperparams<T>(inner: T) -> InjectHyperparams<T> {
    InjectHyperparams {
        inner,
        overrides: Vec::new(),
    }
}

impl<T> InjectHyperparams<T> {
    /// Injects hyperparameter `name` as a constant or a schedule (checked at `init`).
    #[must_use]
    pub fn hyperparam(mut self, name: impl Into<String>, value: impl Into<LearningRate>) -> Self {
        let name = name.into();
        self.overrides.retain(|(n, _)| *n != name);
        self.overrides.push((name, value.into()));
        self
    }
}

/// The state of [`InjectHyperparams`] (optax's `InjectStatefulHyperparamsState`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "S: Serialize", deserialize = "S: Deserialize<'de>"))]
pub struct InjectHyperparamsState<T, S> {
    /// Number of steps done.
    pub count: u64,
    /// Every numeric hyperparameter's current value: after a step, the value that step
    /// used; after `init`, the value of the first step.
    hyperparams: BTreeMap<String, f64>,
    /// The names whose value comes from a schedule.
    pub scheduled: Vec<String>,
    /// The inner optimizer's state.
    pub inner: S,
    /// The working copy of the configuration (not saved; rebuilt).
    #[serde(skip)]
    config: Option<T>,
    /// Whether `config` holds the values of the next step (after `init` and each step;
    /// not after a deserialization or `set_hyperparam`), so `validate` needs no copy.
    #[serde(skip)]
    ready: bool,
}

impl<T, S> InjectHyperparamsState<T, S> {
    /// The current value of every numeric hyperparameter, by name.
    pub fn hyperparams(&self) -> &BTreeMap<String, f64> {
        &self.hyperparams
    }

    /// Sets hyperparameter `name` for the next steps. A scheduled one cannot be set (its
    /// schedule decides), nor one that is not a numeric hyperparameter.
    pub fn set_hyperparam(&mut self, name: &str, value: f64) -> Result<(), Error> {
        let bad = |detail: String| Error::Hyper {
            transform: "inject_hyperparams".into(),
            arg: name.into(),
            detail,
        };
        if self.scheduled.iter().any(|s| s == name) {
            return Err(bad("is scheduled; its schedule sets it".into()));
        }
        match self.hyperparams.get_mut(name) {
            Some(v) => {
                *v = value;
                self.ready = false;
                Ok(())
            }
            None => Err(bad(format!(
                "not an injected hyperparameter; these are: {}",
                self.hyperparams
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

impl<T: Hyperparams + Clone> InjectHyperparams<T> {
    /// The schedule (or constant override) of `name`, if it has one.
    fn source(&self, name: &str) -> Option<LearningRate> {
        if let Some((_, v)) = self.overrides.iter().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        match self.inner.get(name) {
            Some(Value::Rate(s @ LearningRate::Schedule(_))) => Some(s),
            _ => None,
        }
    }

    /// The injected names and their values at step `count`, and the scheduled names.
    fn values<F: Float>(&self, count: u64) -> Result<(BTreeMap<String, f64>, Vec<String>), Error> {
        let mode = jax_mode::<F>();
        let mut values = BTreeMap::new();
        let mut scheduled = Vec::new();
        for (name, _) in &self.overrides {
            if !T::NAMES.contains(&name.as_str()) {
                return Err(crate::config::unknown("inject_hyperparams", name, T::NAMES));
            }
        }
        for name in T::NAMES {
            let given = self
                .overrides
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v);
            let current = self.inner.get(name);
            let schedule = match (given, &current) {
                (Some(LearningRate::Schedule(s)), _) => Some(s),
                (None, Some(Value::Rate(LearningRate::Schedule(s)))) => Some(s),
                _ => None,
            };
            if let Some(s) = schedule {
                scheduled.push(name.to_string());
                values.insert(
                    name.to_string(),
                    s.at_count(count.min(i32::MAX as u64), mode).value,
                );
                continue;
            }
            let value = match (given, current) {
                (Some(LearningRate::Constant(x)), _) => *x,
                (None, Some(Value::Num(x)))
                | (None, Some(Value::Rate(LearningRate::Constant(x)))) => x,
                // Flags, strings, masks, dtypes and unset options are not numeric.
                _ => continue,
            };
            values.insert(name.to_string(), value);
        }
        Ok((values, scheduled))
    }

    /// Sets every injected value of `state` (scheduled ones at step `count`) on `config`.
    fn apply<F: Float>(
        &self,
        config: &mut T,
        hyperparams: &BTreeMap<String, f64>,
        count: u64,
    ) -> Result<(), Error> {
        let mode = jax_mode::<F>();
        for (name, &v) in hyperparams {
            match self.source(name) {
                Some(LearningRate::Schedule(s)) => {
                    let x = s.at_count(count.min(i32::MAX as u64), mode);
                    // optax's `_convert_floats`: a strongly typed value keeps its dtype,
                    // a weakly typed one takes the params' dtype.
                    let dtype = if x.weak {
                        mode.default_float()
                    } else {
                        x.dtype
                    };
                    config.set_jax(name, x.value, dtype == JaxDtype::Float32)?;
                }
                _ => config.set_jax(name, v, false)?,
            }
        }
        Ok(())
    }

    /// Runs `f` with the configuration of the next step, then, when it succeeds, records
    /// the values it used and counts the step.
    fn with_config<F: Float, S>(
        &self,
        state: &mut InjectHyperparamsState<T, S>,
        f: impl FnOnce(&T, &mut S) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let InjectHyperparamsState {
            count,
            hyperparams,
            scheduled,
            inner,
            config,
            ready,
        } = state;
        let config = match config {
            Some(c) => c,
            // A deserialized state has no working copy yet.
            slot => slot.insert(self.inner.clone()),
        };
        if !*ready {
            self.apply::<F>(config, hyperparams, *count)?;
            *ready = true;
        }
        f(config, inner)?;
        let mode = jax_mode::<F>();
        for name in scheduled.iter() {
            if let (Some(LearningRate::Schedule(s)), Some(v)) =
                (self.source(name), hyperparams.get_mut(name))
            {
                *v = s.at_count((*count).min(i32::MAX as u64), mode).value;
            }
        }
        *count += 1;
        // The configuration of the next step, ready for `validate`; a failure shows again,
        // as the error, when the next step applies it.
        *ready = self.apply::<F>(config, hyperparams, *count).is_ok();
        Ok(())
    }

    /// Validates the wrapped transformation under the configuration of the next step.
    fn validate_with<F: Float, P: Tree<F>>(
        &self,
        updates: &P,
        state: &InjectHyperparamsState<T, T::State>,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error>
    where
        T: Transformation<F>,
    {
        match &state.config {
            Some(c) if state.ready => c.validate(updates, &state.inner, params, extra),
            // After a deserialization or `set_hyperparam`: a copy, once.
            c => {
                let mut c = c.clone().unwrap_or_else(|| self.inner.clone());
                self.apply::<F>(&mut c, &state.hyperparams, state.count)?;
                c.validate(updates, &state.inner, params, extra)
            }
        }
    }

    fn init_as<F: Float, P: Tree<F>>(
        &self,
        params: &P,
        inner: bool,
    ) -> Result<InjectHyperparamsState<T, T::State>, Error>
    where
        T: Transformation<F>,
    {
        let (hyperparams, scheduled) = self.values::<F>(0)?;
        let mut config = self.inner.clone();
        self.apply::<F>(&mut config, &hyperparams, 0)?;
        let state = if inner {
            config.init_inner(params)?
        } else {
            config.init(params)?
        };
        Ok(InjectHyperparamsState {
            count: 0,
            hyperparams,
            scheduled,
            inner: state,
            config: Some(config),
            ready: true,
        })
    }
}

impl<F, T> Transformation<F> for InjectHyperparams<T>
where
    F: Float,
    T: Transformation<F> + Hyperparams + Clone + Debug + Send + Sync + 'static,
{
    type State = InjectHyperparamsState<T, T::State>;

    fn name(&self) -> &'static str {
        "inject_hyperparams"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_as(params, false)
    }

    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_as(params, true)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.with_config::<F, _>(state, |c, s| c.update_with(updates, s, params, extra))
    }

    fn calls_user_code(&self) -> bool {
        self.inner.calls_user_code()
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.validate_with(updates, state, params, extra)
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.with_config::<F, _>(state, |c, s| c.step_with(params, grads, s, extra))
    }

    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.with_config::<F, _>(state, |c, s| c.step_with_buffer(params, buffer, s, extra))
    }
}

/// The tensors: `count`, every injected hyperparameter's current value as an `f64`
/// scalar `hyperparams/<name>` (scheduled ones too, so a checkpoint shows the value the
/// last step used), and the inner optimizer's state under `inner/`. The working copy of
/// the configuration is rebuilt from these values on the next step.
impl<F: Float, T, S: crate::StateTensors<F>> crate::StateTensors<F>
    for InjectHyperparamsState<T, S>
{
    fn visit_tensors(
        &self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::TensorRef;
        f(&format!("{prefix}count"), TensorRef::Count(self.count))?;
        for (name, &v) in &self.hyperparams {
            f(&format!("{prefix}hyperparams/{name}"), TensorRef::Scalar(v))?;
        }
        self.inner.visit_tensors(&format!("{prefix}inner/"), f)
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::TensorMut;
        // The count and the values may change: the working copy is stale until the next
        // step applies them.
        self.ready = false;
        f(&format!("{prefix}count"), TensorMut::Count(&mut self.count))?;
        for (name, v) in &mut self.hyperparams {
            f(&format!("{prefix}hyperparams/{name}"), TensorMut::Scalar(v))?;
        }
        self.inner.visit_tensors_mut(&format!("{prefix}inner/"), f)
    }
}
