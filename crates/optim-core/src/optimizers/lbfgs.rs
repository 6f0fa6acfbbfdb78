//! L-BFGS (optax's `lbfgs`): [`ScaleByLbfgs`] → a negative scaling (`-1`, or
//! `-learning_rate`) → a line search, run as one transformation. Written by hand, as
//! `crate::linesearch` explains; the line search evaluates the objective, an extra
//! argument: call `step_with(.., &Extra::value(f).with_objective(objective))`.

use crate::kernel::{hand_hyperparams, jax_mode};
use crate::linesearch::{
    add_into, copy, load, scale, store, ScaleByBacktrackingLinesearch,
    ScaleByBacktrackingLinesearchState, ScaleByZoomLinesearch, ScaleByZoomLinesearchState,
};
use crate::{
    check_update_trees, leaf_metas, Error, Extra, Float, FromValue, LearningRate, ScaleByLbfgs,
    ScaleByLbfgsState, ToValue, Transformation, Tree, Value,
};
use serde::{Deserialize, Serialize};

/// The line search of [`Lbfgs`] (optax's `linesearch` argument).
#[derive(Clone, Debug)]
pub enum Linesearch {
    /// No line search (optax's `None`): the step is the scaled direction.
    None,
    /// [`ScaleByZoomLinesearch`], optax's default for `lbfgs`
    /// (`max_linesearch_steps = 20`, `initial_guess_strategy = "one"`).
    Zoom(ScaleByZoomLinesearch),
    /// [`ScaleByBacktrackingLinesearch`].
    Backtracking(ScaleByBacktrackingLinesearch),
}

impl Default for Linesearch {
    fn default() -> Self {
        Linesearch::Zoom(ScaleByZoomLinesearch::new(20).initial_guess_strategy("one"))
    }
}

/// By name, `linesearch` is `null` (none) or `"zoom"` (the default); other line searches
/// are set with [`Lbfgs::linesearch`].
impl FromValue for Linesearch {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Null => Ok(Linesearch::None),
            Value::Str(s) if s == "zoom" => Ok(Linesearch::default()),
            v => Err(Error::BadValue {
                expected: "null or \"zoom\"".into(),
                got: format!("{v:?}"),
            }),
        }
    }
}

impl ToValue for Linesearch {
    fn to_value(&self) -> Value {
        match self {
            Linesearch::None => Value::Null,
            Linesearch::Zoom(_) => Value::Str("zoom".into()),
            Linesearch::Backtracking(_) => Value::Str("backtracking".into()),
        }
    }
}

/// The L-BFGS optimizer.
///
/// L-BFGS is a quasi-Newton method: it preconditions the gradient by an approximation
/// of the inverse Hessian built from the last `memory_size` differences of params and
/// gradients, and takes the step a line search finds along that direction. It works
/// best on deterministic (full-batch) objectives.
///
/// # Update
///
/// `dₖ = −η · Hₖ gₖ` with `Hₖ` the two-loop recursion of [`ScaleByLbfgs`] (`η =
/// learning_rate`, 1 when `None`), then `xₖ₊₁ = xₖ + tₖ dₖ` with `tₖ` the line search's
/// step size (1 without a line search). Needs the objective as an extra argument: each
/// step takes `Extra::value(f(x)).with_objective(objective)` (the gradient at `x` is the
/// step's gradient unless [`Extra::with_grad`] gives one); a step without the objective
/// fails with [`Error::MissingExtra`] naming `value_fn` and changes nothing.
///
/// # Arguments
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `learning_rate` | `Option<LearningRate>` | `None` | a scale of the direction, constant or scheduled |
/// | `memory_size` | `u64` | `10` | the number of past differences kept |
/// | `scale_init_precond` | `bool` | `true` | whether the initial inverse Hessian is scaled |
/// | `linesearch` | `Linesearch` | zoom (20 steps, guess 1) | the line search |
///
/// References: Nocedal and Wright, *Numerical Optimization*, 1999, Algorithms 7.4 and
/// 7.5; Liu and Nocedal, 1989, *On the limited memory BFGS method for large scale
/// optimization*.
#[crate::doc_trace(
    solver = lbfgs(),
    printed = "7.52E+00 7.46E-14 2.65E-28 0.00E+00 0.00E+00",
    value,
    objective
)]
#[derive(Clone, Debug)]
pub struct Lbfgs {
    /// A scale of the direction, constant or scheduled (optax's `None`: -1).
    pub learning_rate: Option<LearningRate>,
    /// The number of past differences kept.
    pub memory_size: u64,
    /// Whether the initial inverse Hessian is scaled.
    pub scale_init_precond: bool,
    /// The line search.
    pub linesearch: Linesearch,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Lbfgs {
            learning_rate: None,
            memory_size: 10,
            scale_init_precond: true,
            linesearch: Linesearch::default(),
        }
    }
}

/// Shorthand for [`Lbfgs::default`], optax's defaults; see [`Lbfgs`].
pub fn lbfgs() -> Lbfgs {
    Lbfgs::default()
}

impl Lbfgs {
    /// Sets `learning_rate`.
    #[must_use]
    pub fn learning_rate(mut self, learning_rate: impl Into<LearningRate>) -> Self {
        self.learning_rate = Some(learning_rate.into());
        self
    }
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
    /// Sets `linesearch`.
    #[must_use]
    pub fn linesearch(mut self, linesearch: Linesearch) -> Self {
        self.linesearch = linesearch;
        self
    }

    /// A constant learning rate must be a number (a schedule is checked where it is
    /// built).
    fn check(&self) -> Result<(), Error> {
        if let Some(LearningRate::Constant(v)) = &self.learning_rate {
            if v.is_nan() {
                return Err(Error::Hyper {
                    transform: "lbfgs".into(),
                    arg: "learning_rate".into(),
                    detail: "must not be NaN".into(),
                });
            }
        }
        Ok(())
    }

    fn base(&self) -> ScaleByLbfgs {
        ScaleByLbfgs {
            memory_size: self.memory_size,
            scale_init_precond: self.scale_init_precond,
        }
    }
}

hand_hyperparams!(Lbfgs, "lbfgs", required: [], blank: Lbfgs::default(),
    { learning_rate, memory_size, scale_init_precond, linesearch });

/// The state of a line search inside [`Lbfgs`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub enum LinesearchState<F> {
    /// No line search.
    None,
    /// [`ScaleByZoomLinesearchState`].
    Zoom(ScaleByZoomLinesearchState<F>),
    /// [`ScaleByBacktrackingLinesearchState`].
    Backtracking(ScaleByBacktrackingLinesearchState<F>),
}

/// The state of [`Lbfgs`]: its chain's members, as optax's `lbfgs` chains them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct LbfgsState<F> {
    /// The memory of [`ScaleByLbfgs`].
    pub lbfgs: ScaleByLbfgsState<F>,
    /// The count of the learning-rate scaling (its schedule's step).
    pub count: u64,
    /// The line search's state: its step size, value, gradient and info.
    pub linesearch: LinesearchState<F>,
    /// The direction, when there is no line search to hold it (not saved).
    #[serde(skip)]
    out: Vec<Vec<F>>,
}

impl<F: Float> LbfgsState<F> {
    /// The step size the line search found at the last step (1 without one).
    pub fn learning_rate(&self) -> F {
        match &self.linesearch {
            LinesearchState::None => F::one(),
            LinesearchState::Zoom(s) => s.learning_rate,
            LinesearchState::Backtracking(s) => s.learning_rate,
        }
    }
    /// The objective at the params after the last step, as the line search computed it
    /// (what optax's `value_and_grad_from_state` reads; infinite before the first step
    /// or without a line search).
    pub fn value(&self) -> F {
        match &self.linesearch {
            LinesearchState::None => F::infinity(),
            LinesearchState::Zoom(s) => s.value,
            LinesearchState::Backtracking(s) => s.value,
        }
    }
}

/// What [`Lbfgs::prepare`] checked, for the step to use.
enum Checked<'e, F> {
    None,
    Search(crate::linesearch::Inputs<'e, F>),
}

impl Lbfgs {
    /// Checks everything a step reads (configuration, trees, state, extra arguments)
    /// before anything is written.
    fn prepare<'e, F: Float, P: Tree<F>>(
        &self,
        state: &LbfgsState<F>,
        grads: &P,
        params: Option<&P>,
        extra: &'e Extra,
    ) -> Result<Checked<'e, F>, Error> {
        self.check()?;
        self.base().check_state(&state.lbfgs)?;
        check_update_trees(&state.lbfgs.leaves, grads, params)?;
        if params.is_none() {
            return Err(Error::MissingExtra {
                transform: "lbfgs".into(),
                arg: "params".into(),
            });
        }
        let inputs = match (&self.linesearch, &state.linesearch) {
            (Linesearch::None, LinesearchState::None) => return Ok(Checked::None),
            (Linesearch::Zoom(z), LinesearchState::Zoom(s)) => {
                z.check_inputs(s, grads, params, extra)
            }
            (Linesearch::Backtracking(b), LinesearchState::Backtracking(s)) => {
                b.check_inputs(s, grads, params, extra)
            }
            _ => Err(Error::State {
                path: "<root>".into(),
                buffer: "linesearch".into(),
                detail: "the state was built for another line search".into(),
            }),
        };
        // The error names lbfgs, the transformation the caller ran.
        inputs.map(Checked::Search).map_err(|e| match e {
            Error::MissingExtra { arg, .. } => Error::MissingExtra {
                transform: "lbfgs".into(),
                arg,
            },
            e => e,
        })
    }

    /// One step from the params and gradients (loaded into the scratch); the update is
    /// left in the buffer `write` is given, then the state commits.
    fn run<F: Float>(
        &self,
        state: &mut LbfgsState<F>,
        checked: Checked<'_, F>,
        write: impl FnOnce(&[Vec<F>]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let base = self.base();
        let eta = match &self.learning_rate {
            None => F::one(),
            Some(lr) => F::of(lr.optax_value_in(state.count, jax_mode::<F>())),
        };
        let LbfgsState {
            lbfgs,
            count,
            linesearch,
            out,
        } = state;
        match (linesearch, checked) {
            (LinesearchState::Zoom(s), Checked::Search(inputs)) => {
                let Linesearch::Zoom(z) = &self.linesearch else {
                    unreachable!("prepare matched the line search with its state")
                };
                let sc = &mut s.scratch;
                base.direction(lbfgs, &mut sc.u);
                scale(&mut sc.u, -eta);
                copy(&mut sc.x, &lbfgs.scratch.x);
                let found = z.search(sc, &inputs, s.learning_rate, Some(&lbfgs.scratch.g))?;
                scale(&mut sc.u, found.stepsize);
                write(&sc.u)?;
                ScaleByZoomLinesearch::commit(s, found);
            }
            (LinesearchState::Backtracking(s), Checked::Search(inputs)) => {
                let Linesearch::Backtracking(b) = &self.linesearch else {
                    unreachable!("prepare matched the line search with its state")
                };
                let sc = &mut s.scratch;
                base.direction(lbfgs, &mut sc.u);
                scale(&mut sc.u, -eta);
                copy(&mut sc.x, &lbfgs.scratch.x);
                let found = b.search(sc, &inputs, s.learning_rate, Some(&lbfgs.scratch.g))?;
                scale(&mut sc.u, found.stepsize);
                write(&sc.u)?;
                ScaleByBacktrackingLinesearch::commit(s, found);
            }
            _ => {
                base.direction(lbfgs, out);
                scale(out, -eta);
                write(out)?;
            }
        }
        base.commit(lbfgs);
        *count = count.saturating_add(1);
        Ok(())
    }

    fn ensure<F: Float>(&self, state: &mut LbfgsState<F>) -> Result<(), Error> {
        let leaves = &state.lbfgs.leaves;
        state
            .lbfgs
            .scratch
            .ensure(leaves, self.memory_size as usize)?;
        match &mut state.linesearch {
            LinesearchState::None => {
                crate::linesearch::ensure(leaves, &mut state.out, "lbfgs scratch")
            }
            LinesearchState::Zoom(s) => s.scratch.ensure(leaves),
            LinesearchState::Backtracking(s) => s.scratch.ensure(leaves),
        }
    }
}

impl<F: Float> Transformation<F> for Lbfgs {
    type State = LbfgsState<F>;

    fn name(&self) -> &'static str {
        "lbfgs"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check()?;
        let leaves = leaf_metas(params)?;
        let linesearch = match &self.linesearch {
            Linesearch::None => LinesearchState::None,
            Linesearch::Zoom(z) => LinesearchState::Zoom(z.init_state(leaves.clone())?),
            Linesearch::Backtracking(b) => {
                LinesearchState::Backtracking(b.init_state(leaves.clone())?)
            }
        };
        let out = match &self.linesearch {
            Linesearch::None => crate::linesearch::zeros(&leaves, "lbfgs scratch")?,
            _ => Vec::new(),
        };
        Ok(LbfgsState {
            lbfgs: self.base().init_state(leaves)?,
            count: 0,
            linesearch,
            out,
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        let checked = self.prepare(state, &*updates, params, extra)?;
        let Some(params) = params else {
            unreachable!("prepare requires the params")
        };
        self.ensure(state)?;
        load(params, &mut state.lbfgs.scratch.x)?;
        load(&*updates, &mut state.lbfgs.scratch.g)?;
        self.run(state, checked, |u| store(updates, u))
    }

    crate::kernel::fused_step_with_buffer!();

    // The line search evaluates the objective.
    fn calls_user_code(&self) -> bool {
        !matches!(self.linesearch, Linesearch::None)
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.prepare(state, updates, params, extra).map(|_| ())
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        let checked = self.prepare(state, grads, Some(&*params), extra)?;
        self.ensure(state)?;
        load(&*params, &mut state.lbfgs.scratch.x)?;
        load(grads, &mut state.lbfgs.scratch.g)?;
        self.run(state, checked, |u| add_into(params, u))
    }
}

/// The tensors, numbered as the members of optax's chain: `0/` the memory of
/// `scale_by_lbfgs`, `1/count` the learning-rate scaling's count, `2/` the line search's
/// state (none without one).
impl<F: Float> crate::StateTensors<F> for LbfgsState<F> {
    fn visit_tensors(
        &self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        self.lbfgs.visit_tensors(&format!("{prefix}0/"), f)?;
        f(
            &format!("{prefix}1/count"),
            crate::state_tensors::TensorRef::Count(self.count),
        )?;
        let p = format!("{prefix}2/");
        match &self.linesearch {
            LinesearchState::None => Ok(()),
            LinesearchState::Zoom(s) => s.visit_tensors(&p, f),
            LinesearchState::Backtracking(s) => s.visit_tensors(&p, f),
        }
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        self.lbfgs.visit_tensors_mut(&format!("{prefix}0/"), f)?;
        f(
            &format!("{prefix}1/count"),
            crate::state_tensors::TensorMut::Count(&mut self.count),
        )?;
        let p = format!("{prefix}2/");
        match &mut self.linesearch {
            LinesearchState::None => Ok(()),
            LinesearchState::Zoom(s) => s.visit_tensors_mut(&p, f),
            LinesearchState::Backtracking(s) => s.visit_tensors_mut(&p, f),
        }
    }
}
