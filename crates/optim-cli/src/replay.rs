//! `optim replay`: runs case files with optim's optimizers and reports the traces.

use crate::case::{Case, Problem, RawTree};
use optim_core::registry::{self, Visitor};
use optim_core::{Extra, Float, Hyperparams, Tensor, TensorMap, Transformation, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The trace of one case: f at the initial params and after each step, and the params
/// after each step (row-major, by leaf name); for `inject_hyperparams`, the injected
/// hyperparameters after each step; for the schedule-free optimizers, the evaluation
/// params (`schedule_free_eval_params`) after each step.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    pub values: Vec<f64>,
    pub params: Vec<BTreeMap<String, Vec<f64>>>,
    pub hyperparams: Option<Vec<BTreeMap<String, f64>>>,
    pub eval_params: Option<Vec<BTreeMap<String, Vec<f64>>>>,
}

/// What a run reports after each step: the params, for `inject_hyperparams` the
/// injected hyperparameters, and for the schedule-free optimizers the evaluation params.
pub struct Step<'a> {
    pub params: &'a BTreeMap<String, Vec<f64>>,
    pub hyperparams: Option<&'a BTreeMap<String, f64>>,
    pub eval_params: Option<&'a BTreeMap<String, Vec<f64>>>,
}

/// Called after each step; an error stops the run (the output cannot be written).
pub type OnStep<'a> = dyn FnMut(Step<'_>) -> Result<(), String> + 'a;

/// Runs one case, handing each step's params to `on_step` as it goes (so a long run is
/// never held in memory), and returns the objective values `f(x0), f(x1), ...`; the
/// error names the problem.
pub fn stream_case(case: &Case, on_step: &mut OnStep<'_>) -> Result<Vec<f64>, String> {
    match case.dtype.as_str() {
        "float64" => run_typed::<f64>(case, on_step),
        "float32" => run_typed::<f32>(case, on_step),
        other => Err(format!(
            "dtype {other:?}: expected \"float32\" or \"float64\""
        )),
    }
}

/// Runs one case and keeps its whole trace; the error names the problem.
pub fn run_case(case: &Case) -> Result<Trace, String> {
    let mut params = Vec::new();
    let mut hypers = Vec::new();
    let mut evals = Vec::new();
    let values = stream_case(case, &mut |step| {
        params.push(step.params.clone());
        if let Some(h) = step.hyperparams {
            hypers.push(h.clone());
        }
        if let Some(e) = step.eval_params {
            evals.push(e.clone());
        }
        Ok(())
    })?;
    Ok(Trace {
        values,
        params,
        hyperparams: (!hypers.is_empty()).then_some(hypers),
        eval_params: (!evals.is_empty()).then_some(evals),
    })
}

/// Converts one optax-style argument from JSON (see [`optim_core::expr::arg_value`]).
pub fn arg_value(name: &str, v: &Json) -> Result<Value, String> {
    optim_core::expr::arg_value("argument", name, v).map_err(|e| e.to_string())
}

fn to_tree<F: Float>(raw: &RawTree, what: &str) -> Result<TensorMap<F>, String> {
    raw.iter()
        .map(|(k, leaf)| {
            // The shape is checked against the data before anything of its size is made.
            let expected = optim_core::tree::numel(&leaf.shape);
            if expected != Some(leaf.data.len()) {
                let needs = expected.map_or("more elements than fit in memory".to_string(), |n| {
                    format!("{n} numbers")
                });
                return Err(format!(
                    "{what} leaf `{k}`: shape {:?} needs {needs}, got {}",
                    leaf.shape,
                    leaf.data.len()
                ));
            }
            let data: Vec<F> = leaf.data.iter().map(|&x| F::of(x)).collect();
            Tensor::new(leaf.shape.clone(), data)
                .map(|t| (k.clone(), t))
                .map_err(|e| format!("{what} leaf `{k}`: {e}"))
        })
        .collect()
}

/// The objective, in the params' element type, as optax evaluates it.
#[derive(Clone)]
enum Objective<F: Float> {
    SumSquares,
    Quadratic { w: TensorMap<F>, c: TensorMap<F> },
    Rosenbrock,
}

impl<F: Float> Objective<F> {
    fn new(p: &Problem, init: &TensorMap<F>) -> Result<Self, String> {
        Ok(match p {
            Problem::SumSquares => Objective::SumSquares,
            Problem::Rosenbrock => {
                let mut leaves = init.values();
                match (leaves.next(), leaves.next()) {
                    (Some(x), None) if x.shape().len() == 1 => Objective::Rosenbrock,
                    _ => return Err("rosenbrock needs exactly one 1-d leaf in `init`".to_string()),
                }
            }
            Problem::Quadratic { weight, center } => {
                let w = to_tree::<F>(weight, "problem.weight")?;
                let c = to_tree::<F>(center, "problem.center")?;
                for (what, t) in [("problem.weight", &w), ("problem.center", &c)] {
                    for (k, x) in init {
                        match t.get(k) {
                            None => return Err(format!("{what} has no leaf `{k}`")),
                            Some(y) if y.shape() != x.shape() => {
                                return Err(format!(
                                    "{what} leaf `{k}`: shape {:?}, init has {:?}",
                                    y.shape(),
                                    x.shape()
                                ))
                            }
                            _ => {}
                        }
                    }
                    if let Some(k) = t.keys().find(|k| !init.contains_key(*k)) {
                        return Err(format!("{what} leaf `{k}` is not in init"));
                    }
                }
                Objective::Quadratic { w, c }
            }
        })
    }

    fn value_and_grad(&self, x: &TensorMap<F>) -> (F, TensorMap<F>) {
        let mut g = x.clone();
        let mut f = F::zero();
        match self {
            Objective::SumSquares => {
                // XLA's CPU backend flushes subnormal results to zero; lbfgs's documented
                // trace drives f that low.
                let flush = |s: F| {
                    if s != F::zero() && s.is_finite() && !s.is_normal() {
                        F::zero()
                    } else {
                        s
                    }
                };
                for (xl, gl) in x.values().zip(g.values_mut()) {
                    for (&xi, gi) in xl.data().iter().zip(gl.data_mut()) {
                        f = f + flush(xi * xi);
                        *gi = F::of(2.0) * xi;
                    }
                }
            }
            Objective::Quadratic { w, c } => {
                let half = F::of(0.5);
                for ((k, xl), gl) in x.iter().zip(g.values_mut()) {
                    let (wl, cl) = (&w[k], &c[k]);
                    for (i, gi) in gl.data_mut().iter_mut().enumerate() {
                        let d = xl.data()[i] - cl.data()[i];
                        f = f + half * wl.data()[i] * d * d;
                        *gi = wl.data()[i] * d;
                    }
                }
            }
            Objective::Rosenbrock => {
                let (xl, gl) = (x.values().next(), g.values_mut().next());
                if let (Some(xl), Some(gl)) = (xl, gl) {
                    let xs = xl.data();
                    let gs = gl.data_mut();
                    // The operations, in order, of jax.grad of the reference's
                    // `sum(100 * (x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)`: the
                    // chaotic cases (polyak_sgd) amplify any last-bit difference.
                    let (h, one, two) = (F::of(100.0), F::one(), F::of(2.0));
                    let n = xs.len();
                    let mut t_prev = F::zero();
                    for i in 0..n {
                        let (mut own, mut t) = (F::zero(), F::zero());
                        if i + 1 < n {
                            let a = xs[i + 1] - xs[i] * xs[i];
                            let k = one - xs[i];
                            f = f + (h * (a * a) + k * k);
                            t = h * (two * a);
                            own = -(two * k) + (-t) * (two * xs[i]);
                        }
                        gs[i] = own + t_prev;
                        t_prev = t;
                    }
                }
            }
        }
        (f, g)
    }
}

fn snapshot<F: Float>(x: &TensorMap<F>) -> BTreeMap<String, Vec<f64>> {
    x.iter()
        .map(|(k, t)| (k.clone(), t.data().iter().map(|v| v.f64()).collect()))
        .collect()
}

struct Run<'a, 'b, F: Float> {
    case: &'a Case,
    params: TensorMap<F>,
    objective: Objective<F>,
    on_step: &'a mut OnStep<'b>,
}

impl<F: Float> Visitor<F> for Run<'_, '_, F> {
    type Out = Result<Vec<f64>, String>;

    fn visit<T: Transformation<F> + Hyperparams>(self, opt: T) -> Self::Out {
        run_with(self, &opt, |_| None, |_, _| Ok(None))
    }
}

/// Poisons element 0 of the first leaf when the case asks for it at 0-based `step`.
fn poison<F: Float>(case: &Case, step: usize, g: &mut TensorMap<F>) {
    let bad = if case.poison.nan_steps.contains(&step) {
        F::nan()
    } else if case.poison.inf_steps.contains(&step) {
        F::infinity()
    } else {
        return;
    };
    if let Some(x) = g.values_mut().next().and_then(|t| t.data_mut().first_mut()) {
        *x = bad;
    }
}

/// Runs the case's steps with `opt`, the objective value, the gradient and the objective
/// itself passed at every step;
/// `hyperparams` reads the injected hyperparameters from the state, if any, and `eval`
/// the evaluation params from the state and params, if any.
fn run_with<F: Float, T: Transformation<F>>(
    run: Run<'_, '_, F>,
    opt: &T,
    hyperparams: impl Fn(&T::State) -> Option<BTreeMap<String, f64>>,
    eval: impl Fn(&T::State, &TensorMap<F>) -> Result<Option<TensorMap<F>>, optim_core::Error>,
) -> Result<Vec<f64>, String> {
    let Run {
        case,
        mut params,
        objective,
        on_step,
    } = run;
    let mut state = opt.init(&params).map_err(|e| e.to_string())?;
    // The objective itself, for the line searches (optax's `value_fn`).
    let value_fn = {
        let objective = objective.clone();
        optim_core::Objective::of_tree(&params, move |x: &TensorMap<F>| {
            let (f, g) = objective.value_and_grad(x);
            Ok((f.f64(), g))
        })
    };
    let mut values = Vec::with_capacity(case.steps + 1);
    let (mut f, mut g) = objective.value_and_grad(&params);
    values.push(f.f64());
    for step in 0..case.steps {
        poison(case, step, &mut g);
        let extra = Extra::value(f.f64())
            .with_grad(&g)
            .with_objective(value_fn.clone());
        opt.step_with(&mut params, &g, &mut state, &extra)
            .map_err(|e| format!("step {}: {e}", step + 1))?;
        (f, g) = objective.value_and_grad(&params);
        values.push(f.f64());
        let h = hyperparams(&state);
        let e = eval(&state, &params)
            .map_err(|e| format!("step {}: {e}", step + 1))?
            .map(|e| snapshot(&e));
        on_step(Step {
            params: &snapshot(&params),
            hyperparams: h.as_ref(),
            eval_params: e.as_ref(),
        })?;
    }
    Ok(values)
}

fn run_typed<F: Float>(case: &Case, on_step: &mut OnStep<'_>) -> Result<Vec<f64>, String> {
    let params = to_tree::<F>(&case.init, "init")?;
    let objective = Objective::new(&case.problem, &params)?;
    let run = Run {
        case,
        params,
        objective,
        on_step,
    };
    if let Some(expr) = &case.expression {
        let opt = optim_core::expr::build::<F>(expr).map_err(|e| e.to_string())?;
        return run_with(run, &opt, |s| opt.hyperparams(s).cloned(), |_, _| Ok(None));
    }
    // An argument that is a transformation (mechanize's `base_optimizer`) makes the case
    // an expression.
    if case.args.values().any(|v| v.get("fn").is_some()) {
        let expr = serde_json::json!({"fn": case.optimizer, "args": case.args});
        let opt = optim_core::expr::build::<F>(&expr).map_err(|e| e.to_string())?;
        return run_with(run, &opt, |_| None, |_, _| Ok(None));
    }
    let args = case
        .args
        .iter()
        .map(|(k, v)| arg_value(k, v).map(|v| (k.clone(), v)))
        .collect::<Result<Vec<_>, _>>()?;
    // The schedule-free optimizers also report where to evaluate the model.
    macro_rules! schedule_free {
        ($ty:ty) => {{
            let opt = <$ty as Hyperparams>::from_args(&case.optimizer, args)
                .map_err(|e| e.to_string())?;
            let eval =
                |s: &_, p: &TensorMap<F>| optim_core::schedule_free_eval_params(s, p).map(Some);
            return run_with(run, &opt, |_| None, eval);
        }};
    }
    match case.optimizer.as_str() {
        "schedule_free_sgd" => schedule_free!(optim_core::ScheduleFreeSgd),
        "schedule_free_adamw" => schedule_free!(optim_core::ScheduleFreeAdamw),
        _ => {}
    }
    registry::by_name::<F, _>(&case.optimizer, args, run).map_err(|e| e.to_string())?
}
