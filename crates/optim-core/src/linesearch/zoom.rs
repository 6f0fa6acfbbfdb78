//! `scale_by_zoom_linesearch` (optax's): a step size satisfying the strong Wolfe
//! conditions, found by growing the step until an interval brackets one, then zooming
//! into the interval by cubic, quadratic or bisection interpolation (Nocedal and
//! Wright, Algorithms 3.5 and 3.6). The module docs of `linesearch` say why it is written
//! by hand.

use super::{add_scale, copy, dot, ensure, jmax, jmin, zeros, Inputs, Objective};
use crate::kernel::hand_hyperparams;
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use serde::{Deserialize, Serialize};

/// Scales the updates by a step size found by a zoom line search (optax's
/// `scale_by_zoom_linesearch`): the first step size tried is 1 (`initial_guess_strategy
/// = "one"`) or the previous step's (`"keep"`), then it grows by `increase_factor` until
/// an interval satisfying the sufficient decrease (Armijo) and curvature (Wolfe)
/// conditions is found, and the interval is narrowed down to a step size satisfying
/// both within `tol`. Needs the objective as an extra argument
/// ([`Extra::with_objective`]); the value and gradient at the params are read from
/// [`Extra::value`] and [`Extra::with_grad`] when given, and evaluated otherwise.
#[derive(Clone, Debug)]
pub struct ScaleByZoomLinesearch {
    /// The largest number of objective evaluations.
    pub max_linesearch_steps: u64,
    /// The largest step size, if any.
    pub max_learning_rate: Option<f64>,
    /// The tolerance on both conditions.
    pub tol: f64,
    /// The factor by which the step size grows while no interval is found.
    pub increase_factor: f64,
    /// The relative tolerance of the sufficient decrease condition (`c1`).
    pub slope_rtol: f64,
    /// The relative tolerance of the curvature condition (`c2`).
    pub curv_rtol: f64,
    /// The relative tolerance of the approximate decrease condition (Hager and Zhang), if
    /// used.
    pub approx_dec_rtol: Option<f64>,
    /// The interval length below which the search stops with a safe step size.
    pub stepsize_precision: f64,
    /// `"keep"` (start from the previous step size) or `"one"`.
    pub initial_guess_strategy: String,
}

impl ScaleByZoomLinesearch {
    /// A configuration with optax's defaults.
    pub fn new(max_linesearch_steps: u64) -> Self {
        ScaleByZoomLinesearch {
            max_linesearch_steps,
            max_learning_rate: None,
            tol: 0.0,
            increase_factor: 2.0,
            slope_rtol: 1e-4,
            curv_rtol: 0.9,
            approx_dec_rtol: Some(1e-6),
            stepsize_precision: 1e-5,
            initial_guess_strategy: "keep".into(),
        }
    }
}

/// Shorthand for [`ScaleByZoomLinesearch::new`].
pub fn scale_by_zoom_linesearch(max_linesearch_steps: u64) -> ScaleByZoomLinesearch {
    ScaleByZoomLinesearch::new(max_linesearch_steps)
}

macro_rules! setters {
    ($($field:ident: $t:ty),*) => {
        impl ScaleByZoomLinesearch {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                #[must_use]
                pub fn $field(mut self, $field: $t) -> Self {
                    self.$field = $field.into();
                    self
                }
            )*
        }
    };
}
setters!(max_linesearch_steps: u64, max_learning_rate: Option<f64>, tol: f64,
    increase_factor: f64, slope_rtol: f64, curv_rtol: f64, approx_dec_rtol: Option<f64>,
    stepsize_precision: f64, initial_guess_strategy: &str);

hand_hyperparams!(ScaleByZoomLinesearch, "scale_by_zoom_linesearch",
    required: ["max_linesearch_steps"], blank: ScaleByZoomLinesearch::new(0),
    { max_linesearch_steps, max_learning_rate, tol, increase_factor, slope_rtol, curv_rtol,
      approx_dec_rtol, stepsize_precision, initial_guess_strategy });

/// What the last search did (optax's `ZoomLinesearchInfo`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct ZoomLinesearchInfo<F> {
    /// The number of objective evaluations.
    pub num_linesearch_steps: u64,
    /// The sufficient decrease error at the returned step size.
    pub decrease_error: F,
    /// The curvature error at the returned step size.
    pub curvature_error: F,
}

/// The state of [`ScaleByZoomLinesearch`] (optax's `ScaleByZoomLinesearchState`): the
/// last step size, the value and gradient at the params it led to (what optax's
/// `value_and_grad_from_state` reuses), and the search's info.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct ScaleByZoomLinesearchState<F> {
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// The step size of the last step.
    pub learning_rate: F,
    /// The objective at the params after the last step (infinite before the first).
    pub value: F,
    /// The gradient there, one buffer per leaf.
    pub grad: Vec<Vec<F>>,
    /// What the last search did.
    pub info: ZoomLinesearchInfo<F>,
    #[serde(skip)]
    pub(crate) scratch: Scratch<F>,
}

/// The vectors of a search, allocated at `init` (not saved).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch<F> {
    /// The params and the update direction, copied from the trees.
    pub(crate) x: Vec<Vec<F>>,
    pub(crate) u: Vec<Vec<F>>,
    trial: Vec<Vec<F>>,
    /// The gradient at the current step size, at the newest trial, and at the safe step.
    cur: Vec<Vec<F>>,
    new: Vec<Vec<F>>,
    safe: Vec<Vec<F>>,
}

impl<F: Float> Scratch<F> {
    pub(crate) fn ensure(&mut self, leaves: &[LeafMeta]) -> Result<(), Error> {
        for b in [
            &mut self.x,
            &mut self.u,
            &mut self.trial,
            &mut self.cur,
            &mut self.new,
            &mut self.safe,
        ] {
            ensure(leaves, b, "zoom linesearch scratch")?;
        }
        Ok(())
    }
}

/// The scalars of optax's `ZoomLinesearchState`; the vectors are in [`Scratch`].
#[derive(Clone, Copy)]
struct Search<F> {
    count: u64,
    stepsize_guess: F,
    stepsize: F,
    value: F,
    slope: F,
    value_init: F,
    slope_init: F,
    decrease_error: F,
    curvature_error: F,
    interval_found: bool,
    done: bool,
    failed: bool,
    low: F,
    value_low: F,
    slope_low: F,
    high: F,
    value_high: F,
    slope_high: F,
    cubic_ref: F,
    value_cubic_ref: F,
    safe_stepsize: F,
    safe_value: F,
}

/// The result of a search: the step size, the value there (the gradient is in the
/// scratch's `cur`) and the info.
pub(crate) struct Found<F> {
    pub(crate) stepsize: F,
    pub(crate) value: F,
    pub(crate) info: ZoomLinesearchInfo<F>,
}

impl ScaleByZoomLinesearch {
    pub(crate) fn check(&self) -> Result<(), Error> {
        match self.initial_guess_strategy.as_str() {
            "one" | "keep" => Ok(()),
            other => Err(Error::Hyper {
                transform: "scale_by_zoom_linesearch".into(),
                arg: "initial_guess_strategy".into(),
                detail: format!("unknown initial guess strategy `{other}`; one of: one, keep"),
            }),
        }
    }

    pub(crate) fn init_state<F: Float>(
        &self,
        leaves: Vec<LeafMeta>,
    ) -> Result<ScaleByZoomLinesearchState<F>, Error> {
        self.check()?;
        let mut scratch = Scratch::default();
        scratch.ensure(&leaves)?;
        Ok(ScaleByZoomLinesearchState {
            grad: zeros(&leaves, "grad")?,
            leaves,
            learning_rate: F::one(),
            value: F::infinity(),
            info: ZoomLinesearchInfo {
                num_linesearch_steps: 0,
                decrease_error: F::infinity(),
                curvature_error: F::infinity(),
            },
            scratch,
        })
    }

    /// The sufficient decrease error (with the approximate condition when set).
    fn decrease_error<F: Float>(
        &self,
        s: F,
        value: F,
        slope: F,
        value_init: F,
        slope_init: F,
    ) -> F {
        let c1 = F::of(self.slope_rtol);
        let mut err = value - value_init - c1 * s * slope_init;
        if let Some(eps) = self.approx_dec_rtol {
            let approx = slope - F::of(2.0 * self.slope_rtol - 1.0) * slope_init;
            let delta = value - value_init - F::of(eps) * value_init.abs();
            err = jmin(jmax(approx, delta), err);
        }
        let err = jmax(err, F::zero());
        if err.is_nan() {
            F::infinity()
        } else {
            err
        }
    }

    fn curvature_error<F: Float>(&self, slope: F, slope_init: F) -> F {
        let err = jmax(
            slope.abs() - F::of(self.curv_rtol) * slope_init.abs(),
            F::zero(),
        );
        if err.is_nan() {
            F::infinity()
        } else {
            err
        }
    }

    /// Runs the search from `s.x` along `s.u`, the value and gradient at `s.x` given by
    /// `inputs`; writes only the scratch (the final gradient is left in `s.cur`).
    pub(crate) fn search<F: Float>(
        &self,
        s: &mut Scratch<F>,
        inputs: &Inputs<'_, F>,
        prev_stepsize: F,
        fallback: Option<&[Vec<F>]>,
    ) -> Result<Found<F>, Error> {
        let value = inputs.start(&s.x, &mut s.cur, fallback)?;
        copy(&mut s.safe, &s.cur);
        let slope = dot(&s.u, &s.cur);
        let guess = if self.initial_guess_strategy == "one" {
            F::one()
        } else {
            prev_stepsize
        };
        let inf = F::infinity();
        let mut st = Search {
            count: 0,
            stepsize_guess: guess,
            stepsize: F::zero(),
            value,
            slope,
            value_init: value,
            slope_init: slope,
            decrease_error: inf,
            curvature_error: inf,
            interval_found: false,
            done: false,
            failed: false,
            low: F::zero(),
            value_low: value,
            slope_low: slope,
            high: F::zero(),
            value_high: value,
            slope_high: slope,
            cubic_ref: F::zero(),
            value_cubic_ref: value,
            safe_stepsize: F::zero(),
            safe_value: value,
        };
        while !(st.done || st.failed) {
            st = if st.interval_found {
                self.zoom_step(st, s, inputs.objective)?
            } else {
                self.search_step(st, s, inputs.objective)?
            };
            if st.failed {
                // optax's `_try_safe_step`.
                if st.safe_stepsize > F::zero() || st.decrease_error.is_infinite() {
                    st.stepsize = st.safe_stepsize;
                    st.value = st.safe_value;
                    copy(&mut s.cur, &s.safe);
                }
            }
        }
        Ok(Found {
            stepsize: st.stepsize,
            value: st.value,
            info: ZoomLinesearchInfo {
                num_linesearch_steps: st.count,
                decrease_error: st.decrease_error,
                curvature_error: st.curvature_error,
            },
        })
    }

    /// The value and slope at step size `t`: the gradient lands in `s.new`.
    fn probe<F: Float>(
        &self,
        s: &mut Scratch<F>,
        objective: &Objective<F>,
        t: F,
    ) -> Result<(F, F), Error> {
        add_scale(&mut s.trial, &s.x, t, &s.u);
        let value = F::of(objective.eval(&s.trial, &mut s.new)?);
        Ok((value, dot(&s.new, &s.u)))
    }

    /// optax's `_search_interval`.
    fn search_step<F: Float>(
        &self,
        st: Search<F>,
        s: &mut Scratch<F>,
        objective: &Objective<F>,
    ) -> Result<Search<F>, Error> {
        let larger = F::of(self.increase_factor) * st.stepsize;
        let mut t = if st.count == 0 {
            st.stepsize_guess
        } else {
            larger
        };
        let mut max_reached = false;
        if let Some(m) = self.max_learning_rate {
            let m = F::of(m);
            max_reached = t >= m;
            t = jmin(t, m);
        }
        let (value, slope) = self.probe(s, objective, t)?;
        let dec = self.decrease_error(t, value, slope, st.value_init, st.slope_init);
        let curv = self.curvature_error(slope, st.slope_init);
        let error = jmax(dec, curv);
        let tol = F::of(self.tol);
        let mut n = st;
        if dec <= tol {
            n.safe_stepsize = t;
            n.safe_value = value;
            copy(&mut s.safe, &s.new);
        }
        let set_high = dec > F::zero() || (value >= st.value && st.count > 0);
        let set_low = slope >= F::zero() && !set_high;
        if set_low {
            (n.low, n.value_low, n.slope_low) = (t, value, slope);
            (n.high, n.value_high, n.slope_high) = (st.stepsize, st.value, st.slope);
        } else {
            (n.low, n.value_low, n.slope_low) = (st.stepsize, st.value, st.slope);
            (n.high, n.value_high, n.slope_high) = (t, value, slope);
        }
        let interval_found = set_high || set_low || error <= tol;
        n.done = error <= tol || (max_reached && !interval_found);
        n.failed = st.count + 1 >= self.max_linesearch_steps && !n.done;
        n.interval_found = interval_found;
        n.count = st.count + 1;
        (n.stepsize, n.value, n.slope) = (t, value, slope);
        (n.decrease_error, n.curvature_error) = (dec, curv);
        (n.cubic_ref, n.value_cubic_ref) = (n.low, n.value_low);
        std::mem::swap(&mut s.cur, &mut s.new);
        Ok(n)
    }

    /// optax's `_zoom_into_interval`.
    fn zoom_step<F: Float>(
        &self,
        st: Search<F>,
        s: &mut Scratch<F>,
        objective: &Objective<F>,
    ) -> Result<Search<F>, Error> {
        let (low, high) = (st.low, st.high);
        let delta = (high - low).abs();
        let left = jmin(high, low);
        let right = jmax(high, low);
        let cubic_chk = F::of(0.2) * delta;
        let quad_chk = F::of(0.1) * delta;
        let too_small = delta <= F::of(self.stepsize_precision);
        let cubic = cubicmin(
            low,
            st.value_low,
            st.slope_low,
            high,
            st.value_high,
            st.cubic_ref,
            st.value_cubic_ref,
        );
        let use_cubic = cubic > left + cubic_chk && cubic < right - cubic_chk;
        let quad = quadmin(low, st.value_low, st.slope_low, high, st.value_high);
        let use_quad = !use_cubic && quad > left + quad_chk && quad < right - quad_chk;
        let middle = if use_cubic {
            cubic
        } else if use_quad {
            quad
        } else {
            (low + high) / F::of(2.0)
        };
        let (value, slope) = self.probe(s, objective, middle)?;
        let dec = self.decrease_error(middle, value, slope, st.value_init, st.slope_init);
        let curv = self.curvature_error(slope, st.slope_init);
        let error = jmax(dec, curv);
        let tol = F::of(self.tol);
        let mut n = st;
        if dec <= tol && value < st.safe_value {
            n.safe_stepsize = middle;
            n.safe_value = value;
            copy(&mut s.safe, &s.new);
        }
        n.done = error <= tol;
        let set_high_to_middle = dec > F::zero() || value >= st.value_low;
        let set_high_to_low = slope * (high - low) >= F::zero() && !set_high_to_middle;
        let set_low_to_middle = !set_high_to_middle;
        if set_high_to_middle {
            (n.high, n.value_high, n.slope_high) = (middle, value, slope);
        }
        if set_high_to_low {
            (n.high, n.value_high, n.slope_high) = (st.low, st.value_low, st.slope_low);
        }
        if set_low_to_middle {
            (n.low, n.value_low, n.slope_low) = (middle, value, slope);
        }
        (n.cubic_ref, n.value_cubic_ref) = if set_high_to_middle || set_high_to_low {
            (st.high, st.value_high)
        } else {
            (st.low, st.value_low)
        };
        let max_iter = st.count + 1 >= self.max_linesearch_steps;
        n.failed = (max_iter || (too_small && n.safe_stepsize > F::zero())) && !n.done;
        n.count = st.count + 1;
        (n.stepsize, n.value, n.slope) = (middle, value, slope);
        (n.decrease_error, n.curvature_error) = (dec, curv);
        std::mem::swap(&mut s.cur, &mut s.new);
        Ok(n)
    }

    /// Commits a search's result into the state (swapping the final gradient in).
    pub(crate) fn commit<F: Float>(state: &mut ScaleByZoomLinesearchState<F>, found: Found<F>) {
        state.learning_rate = found.stepsize;
        state.value = found.value;
        state.info = found.info;
        std::mem::swap(&mut state.grad, &mut state.scratch.cur);
    }

    /// Checks the configuration, the trees and the extra arguments: everything a step
    /// reads, before it writes.
    pub(crate) fn check_inputs<'e, F: Float, P: Tree<F>>(
        &self,
        state: &ScaleByZoomLinesearchState<F>,
        updates: &P,
        params: Option<&P>,
        extra: &'e Extra,
    ) -> Result<Inputs<'e, F>, Error> {
        self.check()?;
        check_update_trees(&state.leaves, updates, params)?;
        crate::state_tensors::check_leaf_bufs(&state.leaves, &state.grad, "grad")?;
        if params.is_none() {
            return Err(Error::MissingExtra {
                transform: "scale_by_zoom_linesearch".into(),
                arg: "params".into(),
            });
        }
        Inputs::read(extra, &state.leaves, "scale_by_zoom_linesearch")
    }
}

/// The minimizer of the cubic through `(a, fa)` with slope `fpa` at `a`, `(b, fb)` and
/// `(c, fc)` (NaN when it has none), as optax's `_cubicmin`.
fn cubicmin<F: Float>(a: F, fa: F, fpa: F, b: F, fb: F, c: F, fc: F) -> F {
    let cc = fpa;
    let db = b - a;
    let dc = c - a;
    let denom = (db * dc) * (db * dc) * (db - dc);
    let (v0, v1) = (fb - fa - cc * db, fc - fa - cc * dc);
    let aa = (dc * dc * v0 + -(db * db) * v1) / denom;
    let bb = (-(dc * dc * dc) * v0 + db * db * db * v1) / denom;
    let radical = bb * bb - F::of(3.0) * aa * cc;
    a + (-bb + radical.sqrt()) / (F::of(3.0) * aa)
}

/// The minimizer of the quadratic through `(a, fa)` with slope `fpa` at `a` and
/// `(b, fb)`, as optax's `_quadmin`.
fn quadmin<F: Float>(a: F, fa: F, fpa: F, b: F, fb: F) -> F {
    let db = b - a;
    let bb = (fb - fa - fpa * db) / (db * db);
    a - fpa / (F::of(2.0) * bb)
}

impl<F: Float> Transformation<F> for ScaleByZoomLinesearch {
    type State = ScaleByZoomLinesearchState<F>;

    fn name(&self) -> &'static str {
        "scale_by_zoom_linesearch"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_state(leaf_metas(params)?)
    }

    super::search_methods!();
}

/// The tensors: `learning_rate`, `value`, `grad/<leaf>` and the info
/// (`info/num_linesearch_steps`, `info/decrease_error`, `info/curvature_error`), where
/// optax keeps them.
impl<F: Float> crate::StateTensors<F> for ScaleByZoomLinesearchState<F> {
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
        super::visit_leaf_bufs(prefix, "grad", &self.leaves, &self.grad, f)?;
        f(
            &name("info/num_linesearch_steps"),
            Count(self.info.num_linesearch_steps),
        )?;
        f(
            &name("info/decrease_error"),
            Elems(&[], std::slice::from_ref(&self.info.decrease_error)),
        )?;
        f(
            &name("info/curvature_error"),
            Elems(&[], std::slice::from_ref(&self.info.curvature_error)),
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
        super::visit_leaf_bufs_mut(prefix, "grad", &self.leaves, &mut self.grad, f)?;
        f(
            &name("info/num_linesearch_steps"),
            Count(&mut self.info.num_linesearch_steps),
        )?;
        f(
            &name("info/decrease_error"),
            Elems(&[], std::slice::from_mut(&mut self.info.decrease_error)),
        )?;
        f(
            &name("info/curvature_error"),
            Elems(&[], std::slice::from_mut(&mut self.info.curvature_error)),
        )
    }
}
