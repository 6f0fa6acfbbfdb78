//! `scale_by_backtracking_linesearch` (optax's): the step size starts at
//! `min(increase_factor · previous, max_learning_rate)` and shrinks by `decrease_factor`
//! until the objective decreases enough (the Armijo condition). The module docs of
//! `linesearch` say why it is written by hand.

use super::{add_scale, copy, dot, ensure, zeros, Inputs};
use crate::kernel::hand_hyperparams;
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use serde::{Deserialize, Serialize};

/// Scales the updates by a step size found by backtracking (optax's
/// `scale_by_backtracking_linesearch`): a step size `η` is accepted when
/// `f(x + η·u) ≤ (1 + rtol)·f(x) + η·slope_rtol·⟨u, ∇f(x)⟩ + atol`, tried at most
/// `max_backtracking_steps + 1` times, each time `decrease_factor` times smaller; a step
/// whose objective is not finite gets the step size 0. Needs the objective as an extra
/// argument ([`Extra::with_objective`]); the value and gradient at the params are read from
/// [`Extra::value`] and [`Extra::with_grad`] when given, and evaluated otherwise. With
/// `store_grad`, the gradient at the accepted params is kept in the state.
#[derive(Clone, Debug)]
pub struct ScaleByBacktrackingLinesearch {
    /// The largest number of step size reductions.
    pub max_backtracking_steps: u64,
    /// The relative tolerance on the slope in the decrease condition.
    pub slope_rtol: f64,
    /// The factor by which the step size shrinks.
    pub decrease_factor: f64,
    /// The factor by which the previous step size grows to start a search.
    pub increase_factor: f64,
    /// The largest step size.
    pub max_learning_rate: f64,
    /// The absolute tolerance of the decrease condition.
    pub atol: f64,
    /// The relative tolerance of the decrease condition.
    pub rtol: f64,
    /// Whether the state keeps the gradient at the accepted params.
    pub store_grad: bool,
}

impl ScaleByBacktrackingLinesearch {
    /// A configuration with optax's defaults.
    pub fn new(max_backtracking_steps: u64) -> Self {
        ScaleByBacktrackingLinesearch {
            max_backtracking_steps,
            slope_rtol: 1e-4,
            decrease_factor: 0.8,
            increase_factor: 1.5,
            max_learning_rate: 1.0,
            atol: 0.0,
            rtol: 0.0,
            store_grad: false,
        }
    }
}

/// Shorthand for [`ScaleByBacktrackingLinesearch::new`].
pub fn scale_by_backtracking_linesearch(
    max_backtracking_steps: u64,
) -> ScaleByBacktrackingLinesearch {
    ScaleByBacktrackingLinesearch::new(max_backtracking_steps)
}

macro_rules! setters {
    ($($field:ident: $t:ty),*) => {
        impl ScaleByBacktrackingLinesearch {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                #[must_use]
                pub fn $field(mut self, $field: $t) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
setters!(max_backtracking_steps: u64, slope_rtol: f64, decrease_factor: f64,
    increase_factor: f64, max_learning_rate: f64, atol: f64, rtol: f64, store_grad: bool);

hand_hyperparams!(ScaleByBacktrackingLinesearch, "scale_by_backtracking_linesearch",
    required: ["max_backtracking_steps"], blank: ScaleByBacktrackingLinesearch::new(0),
    { max_backtracking_steps, slope_rtol, decrease_factor, increase_factor,
      max_learning_rate, atol, rtol, store_grad });

/// What the last search did (optax's `BacktrackingLinesearchInfo`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct BacktrackingLinesearchInfo<F> {
    /// The number of objective evaluations.
    pub num_linesearch_steps: u64,
    /// The decrease error at the returned step size.
    pub decrease_error: F,
}

/// The state of [`ScaleByBacktrackingLinesearch`] (optax's
/// `ScaleByBacktrackingLinesearchState`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct ScaleByBacktrackingLinesearchState<F> {
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// The step size of the last step.
    pub learning_rate: F,
    /// The objective at the params after the last step (infinite before the first).
    pub value: F,
    /// With `store_grad`, the gradient there, one buffer per leaf (optax's `None`
    /// otherwise).
    pub grad: Option<Vec<Vec<F>>>,
    /// What the last search did.
    pub info: BacktrackingLinesearchInfo<F>,
    #[serde(skip)]
    pub(crate) scratch: Scratch<F>,
}

/// The result of a search: the step size, the value there and the info.
pub(crate) struct Found<F> {
    pub(crate) stepsize: F,
    pub(crate) value: F,
    pub(crate) info: BacktrackingLinesearchInfo<F>,
}

/// The vectors of a search, allocated at `init` (not saved).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch<F> {
    /// The params and the update direction, copied from the trees.
    pub(crate) x: Vec<Vec<F>>,
    pub(crate) u: Vec<Vec<F>>,
    trial: Vec<Vec<F>>,
    grad0: Vec<Vec<F>>,
    new: Vec<Vec<F>>,
}

impl<F: Float> Scratch<F> {
    pub(crate) fn ensure(&mut self, leaves: &[LeafMeta]) -> Result<(), Error> {
        for b in [
            &mut self.x,
            &mut self.u,
            &mut self.trial,
            &mut self.grad0,
            &mut self.new,
        ] {
            ensure(leaves, b, "backtracking linesearch scratch")?;
        }
        Ok(())
    }
}

const NAME: &str = "scale_by_backtracking_linesearch";

impl ScaleByBacktrackingLinesearch {
    pub(crate) fn init_state<F: Float>(
        &self,
        leaves: Vec<LeafMeta>,
    ) -> Result<ScaleByBacktrackingLinesearchState<F>, Error> {
        let mut scratch = Scratch::default();
        scratch.ensure(&leaves)?;
        Ok(ScaleByBacktrackingLinesearchState {
            grad: if self.store_grad {
                Some(zeros(&leaves, "grad")?)
            } else {
                None
            },
            leaves,
            learning_rate: F::one(),
            value: F::infinity(),
            info: BacktrackingLinesearchInfo {
                num_linesearch_steps: 0,
                decrease_error: F::infinity(),
            },
            scratch,
        })
    }

    pub(crate) fn check_inputs<'e, F: Float, P: Tree<F>>(
        &self,
        state: &ScaleByBacktrackingLinesearchState<F>,
        updates: &P,
        params: Option<&P>,
        extra: &'e Extra,
    ) -> Result<Inputs<'e, F>, Error> {
        check_update_trees(&state.leaves, updates, params)?;
        if let Some(g) = &state.grad {
            crate::state_tensors::check_leaf_bufs(&state.leaves, g, "grad")?;
        }
        if self.store_grad != state.grad.is_some() {
            return Err(Error::State {
                path: "<root>".into(),
                buffer: "grad".into(),
                detail: "store_grad differs from the state's".into(),
            });
        }
        if params.is_none() {
            return Err(Error::MissingExtra {
                transform: NAME.into(),
                arg: "params".into(),
            });
        }
        Inputs::read(extra, &state.leaves, NAME)
    }

    /// The search from `s.x` along `s.u`; writes only the scratch (the gradient at the
    /// returned params is left in `s.new`). Returns the step size, the value there and
    /// the info.
    pub(crate) fn search<F: Float>(
        &self,
        s: &mut Scratch<F>,
        inputs: &Inputs<'_, F>,
        prev: F,
        fallback: Option<&[Vec<F>]>,
    ) -> Result<Found<F>, Error> {
        let value = inputs.start(&s.x, &mut s.grad0, fallback)?;
        let slope = dot(&s.u, &s.grad0);
        let decrease_error = |t: F, new_value: F| {
            let e = new_value - F::of(1.0 + self.rtol) * value - t * F::of(self.slope_rtol) * slope;
            let e = if e.is_nan() { F::infinity() } else { e };
            super::jmax(e, F::zero())
        };
        let atol = F::of(self.atol);
        let mut t = super::jmin(
            F::of(self.increase_factor) * prev,
            F::of(self.max_learning_rate),
        );
        let (mut new_value, mut err, mut iter) = (value, F::infinity(), 0u64);
        for g in s.new.iter_mut() {
            g.fill(F::zero());
        }
        // optax's `~(decrease_error <= atol)`: a NaN error keeps searching.
        let accepted = |err: F| err <= atol;
        while !accepted(err) && iter <= self.max_backtracking_steps {
            if iter > 0 {
                t = F::of(self.decrease_factor) * t;
            }
            add_scale(&mut s.trial, &s.x, t, &s.u);
            new_value = F::of(inputs.objective.eval(&s.trial, &mut s.new)?);
            err = decrease_error(t, new_value);
            iter += 1;
        }
        let t = if err.is_infinite() { F::zero() } else { t };
        let info = BacktrackingLinesearchInfo {
            num_linesearch_steps: iter,
            decrease_error: err,
        };
        Ok(Found {
            stepsize: t,
            value: new_value,
            info,
        })
    }

    pub(crate) fn commit<F: Float>(
        state: &mut ScaleByBacktrackingLinesearchState<F>,
        found: Found<F>,
    ) {
        state.learning_rate = found.stepsize;
        state.value = found.value;
        state.info = found.info;
        if let Some(g) = &mut state.grad {
            copy(g, &state.scratch.new);
        }
    }
}

impl<F: Float> Transformation<F> for ScaleByBacktrackingLinesearch {
    type State = ScaleByBacktrackingLinesearchState<F>;

    fn name(&self) -> &'static str {
        NAME
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_state(leaf_metas(params)?)
    }

    super::search_methods!();
}

/// The tensors: `learning_rate`, `value`, `grad/<leaf>` (with `store_grad`) and the info
/// (`info/num_linesearch_steps`, `info/decrease_error`), where optax keeps them.
impl<F: Float> crate::StateTensors<F> for ScaleByBacktrackingLinesearchState<F> {
    fn visit_tensors(
        &self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::TensorRef::{Count, Elems};
        let name = |n: &str| format!("{prefix}{n}");
        f(
            &name("learning_rate"),
            Elems(&[], std::slice::from_ref(&self.learning_rate)),
        )?;
        f(
            &name("value"),
            Elems(&[], std::slice::from_ref(&self.value)),
        )?;
        if let Some(g) = &self.grad {
            super::visit_leaf_bufs(prefix, "grad", &self.leaves, g, f)?;
        }
        f(
            &name("info/num_linesearch_steps"),
            Count(self.info.num_linesearch_steps),
        )?;
        f(
            &name("info/decrease_error"),
            Elems(&[], std::slice::from_ref(&self.info.decrease_error)),
        )
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::TensorMut::{Count, Elems};
        let name = |n: &str| format!("{prefix}{n}");
        f(
            &name("learning_rate"),
            Elems(&[], std::slice::from_mut(&mut self.learning_rate)),
        )?;
        f(
            &name("value"),
            Elems(&[], std::slice::from_mut(&mut self.value)),
        )?;
        if let Some(g) = &mut self.grad {
            super::visit_leaf_bufs_mut(prefix, "grad", &self.leaves, g, f)?;
        }
        f(
            &name("info/num_linesearch_steps"),
            Count(&mut self.info.num_linesearch_steps),
        )?;
        f(
            &name("info/decrease_error"),
            Elems(&[], std::slice::from_mut(&mut self.info.decrease_error)),
        )
    }
}
