//! Transparency: a wrapper that should do nothing does nothing, bit for bit. For every
//! optimizer and primitive the registry knows, in float32 and float64, over 20 steps,
//! each of these gives the same params and the same (inner) state as the bare
//! optimizer: `inject_hyperparams` with constant hyperparameters, `MultiSteps` with
//! k = 1, `apply_if_finite` on finite gradients, a chain of one, `partition` with one
//! label, and the optimizer behind the erased `Boxed` type.

mod common;

use optim::expr::Boxed;
use optim::registry::{self, Visitor};
use optim::{
    apply_if_finite, chain_of, inject_hyperparams, multi_steps, partition, Error, Float,
    Hyperparams, Labels, Tensor, TensorMap, Transformation, Value,
};
use serde::Serialize;
use std::fmt::Debug;

const STEPS: usize = 20;

/// A vector, a matrix, a scalar and a 3-d leaf.
fn leaves<F: Float>(salt: f64) -> TensorMap<F> {
    let mut m = TensorMap::new();
    for (k, shape) in [
        ("b", vec![5]),
        ("w", vec![3, 4]),
        ("s", vec![]),
        ("t", vec![2, 3, 2]),
    ] {
        let n: usize = shape.iter().product();
        let data: Vec<F> = (0..n)
            .map(|i| F::of(((i as f64 + 1.0) * (0.37 + salt) + salt * k.len() as f64).sin()))
            .collect();
        m.insert(k.into(), Tensor::new(shape, data).expect("shape fits"));
    }
    m
}

/// f(x) = ½ Σ w (x - c)² with w in (0.5, 1.5), and its gradient.
fn value_and_grad<F: Float>(x: &TensorMap<F>) -> (f64, TensorMap<F>) {
    let (w, c) = (leaves::<F>(0.9), leaves::<F>(0.2));
    let mut g = x.clone();
    let mut f = 0.0;
    for (k, gl) in g.iter_mut() {
        let (xl, wl, cl) = (x[k].data(), w[k].data(), c[k].data());
        for (i, gi) in gl.data_mut().iter_mut().enumerate() {
            let wi = F::of(1.0) + wl[i] * F::of(0.5);
            let d = xl[i] - cl[i];
            f += 0.5 * wi.f64() * d.f64() * d.f64();
            *gi = wi * d;
        }
    }
    (f, g)
}

/// The params after each step (their bits) and the final state as JSON (exact for f32
/// and f64); runs stop before the first step whose gradients are not finite (some
/// primitives without a step size diverge), where `apply_if_finite` rightly differs.
fn run<F: Float, T: Transformation<F>, S: Serialize>(
    opt: &T,
    inner: impl Fn(&T::State) -> &S,
) -> Result<(Vec<Vec<u64>>, String), Error> {
    let mut params = leaves::<F>(0.0);
    let mut state = opt.init(&params)?;
    let mut trace = Vec::new();
    for _ in 0..STEPS {
        let (f, g) = value_and_grad(&params);
        if g.values().any(|t| t.data().iter().any(|x| !x.is_finite())) {
            break;
        }
        opt.step_with(&mut params, &g, &mut state, &common::extra::<F>(f))?;
        trace.push(
            params
                .values()
                .flat_map(|t| t.data().iter().map(|x| x.f64().to_bits()))
                .collect(),
        );
    }
    let json = serde_json::to_string(inner(&state)).expect("state serializes");
    Ok((trace, json))
}

struct Check<'a> {
    name: &'a str,
    failures: &'a mut Vec<String>,
    /// How many bare runs took all the steps (finite gradients throughout).
    full: &'a mut usize,
}

impl<F: Float> Visitor<F> for Check<'_> {
    type Out = ();
    fn visit<T: Transformation<F> + Hyperparams + Clone + Debug + Send + Sync + 'static>(self, t: T)
    where
        T::State: optim::StateTensors<F>,
    {
        let dtype = F::DTYPE.name();
        let bare = match run::<F, _, _>(&t, |s| s) {
            Ok(r) => r,
            Err(e) => {
                self.failures.push(format!(
                    "{} {dtype}: the bare optimizer fails: {e}",
                    self.name
                ));
                return;
            }
        };
        if bare.0.len() == STEPS {
            *self.full += 1;
        }
        let mut compare = |wrapper: &str, got: Result<(Vec<Vec<u64>>, String), Error>| match got {
            Err(e) => self
                .failures
                .push(format!("{} {dtype} {wrapper}: {e}", self.name)),
            Ok((params, state)) => {
                if params.len() != bare.0.len() {
                    self.failures.push(format!(
                        "{} {dtype} {wrapper}: a different number of finite steps",
                        self.name
                    ));
                } else if let Some(step) = params.iter().zip(&bare.0).position(|(a, b)| a != b) {
                    self.failures.push(format!(
                        "{} {dtype} {wrapper}: params differ at step {}",
                        self.name,
                        step + 1
                    ));
                } else if state != bare.1 {
                    self.failures.push(format!(
                        "{} {dtype} {wrapper}: the state differs",
                        self.name
                    ));
                }
            }
        };
        compare(
            "inject_hyperparams",
            run::<F, _, _>(&inject_hyperparams(t.clone()), |s| &s.inner),
        );
        compare(
            "MultiSteps k=1",
            run::<F, _, _>(&multi_steps(t.clone(), 1.0), |s| &s.inner_opt_state),
        );
        compare(
            "apply_if_finite",
            run::<F, _, _>(&apply_if_finite(t.clone(), 3), |s| &s.inner_state),
        );
        compare(
            "chain of one",
            run::<F, _, _>(&chain_of([t.clone()]), |s| &s.states[0].1),
        );
        let one_label = partition([("all", t.clone())], Labels::by_leaf(|_, _| "all".into()));
        compare(
            "partition, one label",
            run::<F, _, _>(&one_label, |s| &s.groups[0].state),
        );
        compare("Boxed", run::<F, _, _>(&Boxed::new(t), |s| s));
    }
}

/// Builds `name` with every required argument set to a small positive number, in `F`.
fn check_by_name<F: Float>(name: &str, failures: &mut Vec<String>, full: &mut usize) {
    let mut args: Vec<(String, Value)> = Vec::new();
    loop {
        let probe = registry::by_name::<F, _>(name, args.clone(), Probe);
        match probe {
            Ok(()) => break,
            Err(e) if args.len() < 8 && common::fill_missing(&mut args, &e, 0.05) => {}
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                return;
            }
        }
    }
    registry::by_name::<F, _>(
        name,
        args,
        Check {
            name,
            failures,
            full,
        },
    )
    .expect("built once already");
}

struct Probe;
impl<F: Float> Visitor<F> for Probe {
    type Out = ();
    fn visit<T>(self, _: T) {}
}

#[test]
fn wrappers_that_should_do_nothing_are_bit_identical_to_the_bare_optimizer() {
    let mut failures = Vec::new();
    let names = registry::names();
    assert!(names.len() >= 40, "{} names", names.len());
    let mut full = 0;
    for name in &names {
        check_by_name::<f32>(name, &mut failures, &mut full);
        check_by_name::<f64>(name, &mut failures, &mut full);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Stopping at non-finite gradients is for the few primitives that diverge here
    // (the param-block scalings have no step size), not the rule.
    assert!(
        full + 8 >= 2 * names.len(),
        "only {full} of {} runs took every step",
        2 * names.len()
    );
}
