//! SM3 (optax's `sm3`): [`ScaleBySm3`](crate::ScaleBySm3) times `-learning_rate`, run by
//! the hand-written kernel of `primitives/sm3.rs` (which says why it is hand-written).

use crate::kernel::{hand_hyperparams, jax_mode};
use crate::primitives::sm3::{check_sm3_args, step, update, Plan, Sm3State};
use crate::{leaf_metas, Error, Extra, Float, LearningRate, Transformation, Tree};

/// The SM3 optimizer.
///
/// SM3 (Square-root of Minima of Sums of Maxima of Squared-gradients Method) is a
/// memory-efficient adaptive optimizer: instead of one second-moment entry per parameter
/// it keeps one per index of each axis of a leaf (a cover of the leaf by its rows,
/// columns, ...), and each element uses the smallest accumulator that covers it. It adapts
/// like Adagrad, with rigorous convergence guarantees in stochastic convex optimization.
///
/// # Update
///
/// [`ScaleBySm3`](crate::ScaleBySm3) with `b1 = momentum`, `b2 = 1`, `eps = 1e-8`, then
/// `-learning_rate` times its update. Works on leaves of any rank; a scalar leaf behaves
/// as a 1-element vector (optax 0.2.8 raises on it).
///
/// # Arguments
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `learning_rate` | `LearningRate` | required | a global scaling factor, constant or scheduled |
/// | `momentum` | `f64` | `0.9` | decay of the momentum of the updates |
///
/// References: Anil et al, 2019, *Memory-Efficient Adaptive Optimization*.
#[crate::doc_trace(
    solver = sm3(0.003),
    printed = "1.40E+01 1.40E+01 1.40E+01 1.40E+01 1.40E+01"
)]
#[derive(Clone, Debug)]
pub struct Sm3 {
    /// A global scaling factor, constant or scheduled.
    pub learning_rate: LearningRate,
    /// Decay of the momentum of the updates.
    pub momentum: f64,
}

impl Sm3 {
    /// A configuration with the documented defaults.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Sm3 {
            learning_rate: learning_rate.into(),
            momentum: 0.9,
        }
    }
    /// Sets `learning_rate`.
    #[must_use]
    pub fn learning_rate(mut self, learning_rate: impl Into<LearningRate>) -> Self {
        self.learning_rate = learning_rate.into();
        self
    }
    /// Sets `momentum`.
    #[must_use]
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Checks the momentum and the learning rate at the 0-based step `count0`.
    fn check_args<F: Float>(&self, count0: u64) -> Result<(), Error> {
        check_sm3_args("sm3", ("momentum", self.momentum), 1.0, 1e-8)?;
        let lr = self.learning_rate.optax_value_in(count0, jax_mode::<F>());
        if !lr.is_finite() {
            return Err(Error::Hyper {
                transform: "sm3".into(),
                arg: "learning_rate".into(),
                detail: format!("{lr} is not finite at step {count0}"),
            });
        }
        Ok(())
    }

    fn plan<F: Float>(&self, count0: u64) -> Plan<F> {
        let lr = self.learning_rate.optax_value_in(count0, jax_mode::<F>());
        Plan::new(self.momentum, 1.0, 1e-8, -lr)
    }
}

/// Shorthand for [`Sm3::new`]; see [`Sm3`] for the update and defaults.
pub fn sm3(learning_rate: impl Into<LearningRate>) -> Sm3 {
    Sm3::new(learning_rate)
}

hand_hyperparams!(Sm3, "sm3", required: ["learning_rate"], blank: Sm3::new(0.0),
    { learning_rate, momentum });

impl<F: Float> Transformation<F> for Sm3 {
    type State = Sm3State<F>;

    fn name(&self) -> &'static str {
        "sm3"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check_args::<F>(0)?;
        Sm3State::new(leaf_metas(params)?)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args::<F>(state.count)?;
        update(&self.plan(state.count), updates, state, params)
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args::<F>(state.count)?;
        crate::check_update_trees(&state.leaves, updates, params)?;
        state.validate()
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args::<F>(state.count)?;
        step(&self.plan(state.count), params, grads, state)
    }
}
