//! Hyperparameters are checked where optax's math would give NaN or nonsense: at `init`
//! (or, for a value set from a schedule or computed from other arguments, before the
//! step that uses it writes anything), as an error naming the argument.
//!
//! The reproducers (b1 = 1 or eps = 0 with zero gradients, b2 = 1, a NaN learning
//! rate all gave NaN params), and one registry-wide test: every argument with a common
//! name for a decay rate, a momentum, an eps, a learning rate or a weight decay rejects
//! NaN, in every registered optimizer that has it.

mod common;

use optim::registry::{self, Visitor};
use optim::{
    adam, Error, Float, Hyperparams, LearningRate, Tensor, TensorMap, Transformation, Value,
};
use std::marker::PhantomData;

fn params() -> TensorMap<f64> {
    let mut m = TensorMap::new();
    m.insert("w".into(), Tensor::new([3], vec![1.0, -2.0, 0.5]).unwrap());
    m
}

fn zeros() -> TensorMap<f64> {
    let mut m = TensorMap::new();
    m.insert("w".into(), Tensor::new([3], vec![0.0; 3]).unwrap());
    m
}

fn arg_of(e: &Error) -> &str {
    match e {
        Error::Hyper { arg, .. } => arg,
        other => panic!("not an argument error: {other}"),
    }
}

/// Runs `opt` for three steps on zero gradients; the error, or the params.
fn run(opt: &impl Transformation<f64>) -> Result<TensorMap<f64>, Error> {
    let mut p = params();
    let mut s = opt.init(&p)?;
    for _ in 0..3 {
        opt.step(&mut p, &zeros(), &mut s)?;
    }
    Ok(p)
}

#[test]
fn b1_of_one_with_zero_gradients_is_an_error_naming_b1() {
    let e = run(&adam(0.1).b1(1.0)).unwrap_err();
    assert_eq!(arg_of(&e), "b1", "{e}");
}

#[test]
fn b2_of_one_is_an_error_naming_b2() {
    let e = run(&adam(0.1).b2(1.0)).unwrap_err();
    assert_eq!(arg_of(&e), "b2", "{e}");
}

#[test]
fn eps_of_zero_with_zero_gradients_is_an_error_naming_eps() {
    let e = run(&adam(0.1).eps(0.0)).unwrap_err();
    assert_eq!(arg_of(&e), "eps", "{e}");
    // With `eps_root` the denominator cannot vanish: optax's way of using eps = 0.
    let p = run(&adam(0.1).eps(0.0).eps_root(1e-8)).unwrap();
    assert!(p["w"].data().iter().all(|x| x.is_finite()));
}

#[test]
fn a_nan_learning_rate_is_an_error_naming_it() {
    let e = run(&adam(f64::NAN)).unwrap_err();
    assert_eq!(arg_of(&e), "learning_rate", "{e}");
    assert!(e.to_string().contains("NaN"), "{e}");
}

/// 0.1 until step `0`, NaN from then on (a user's schedule gone wrong).
#[derive(Debug)]
struct NanFrom(u64);
impl optim::Schedule for NanFrom {
    fn at(&self, step: u64) -> f64 {
        if step < self.0 {
            0.1
        } else {
            f64::NAN
        }
    }
}

/// A schedule whose value turns NaN later fails at that step, naming the argument, with
/// the params and the state as they were.
#[test]
fn a_schedule_that_turns_nan_fails_at_that_step_and_writes_nothing() {
    let opt = adam(LearningRate::from(NanFrom(2)));
    let mut p = params();
    let g = params();
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &g, &mut s).unwrap();
    opt.step(&mut p, &g, &mut s).unwrap();
    let (p0, s0) = (p.clone(), serde_json::to_string(&s).unwrap());
    let e = opt.step(&mut p, &g, &mut s).unwrap_err();
    assert_eq!(arg_of(&e), "learning_rate", "{e}");
    assert_eq!(p, p0);
    assert_eq!(serde_json::to_string(&s).unwrap(), s0);
}

/// The argument names every optimizer must check, when it has them.
const CHECKED: &[&str] = &[
    "b1",
    "b2",
    "b3",
    "decay",
    "momentum",
    "rho",
    "eps",
    "eps_root",
    "learning_rate",
    "weight_decay",
];

#[derive(Clone, Copy)]
struct Names;
impl<F: Float> Visitor<F> for Names {
    type Out = &'static [&'static str];
    fn visit<T: Transformation<F> + Hyperparams>(self, _: T) -> Self::Out {
        T::NAMES
    }
}

/// Init, then one step: the first error, and whether the params changed.
#[derive(Clone, Copy)]
struct Step<F>(PhantomData<F>);
impl<F: Float> Visitor<F> for Step<F> {
    type Out = (Option<Error>, bool);
    fn visit<T: Transformation<F> + Hyperparams>(self, t: T) -> Self::Out {
        let mut p = TensorMap::new();
        p.insert("w".into(), Tensor::new([3], vec![F::of(0.5); 3]).unwrap());
        let before = p.clone();
        let r = t.init(&p).and_then(|mut s| {
            let g = before.clone();
            t.step_with(&mut p, &g, &mut s, &common::extra::<F>(1.0))
        });
        (r.err(), p != before)
    }
}

/// Builds `name` with `arg` = NaN (and its other required arguments 0.5), then runs
/// `Step` on it.
fn build_with_nan(name: &str, arg: &str) -> Result<(Option<Error>, bool), Error> {
    let mut args = vec![(arg.to_string(), Value::Num(f64::NAN))];
    loop {
        match registry::by_name::<f64, _>(name, args.clone(), Step(PhantomData)) {
            Err(Error::Hyper { arg: a, detail, .. })
                if detail.contains("missing required") && a != arg =>
            {
                args.push((a, Value::Num(0.5)));
            }
            other => return other,
        }
    }
}

#[test]
fn every_decay_rate_eps_and_learning_rate_rejects_nan() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in registry::names() {
        let names = common::by_name_filled::<f64, _>(name, Vec::new(), 0.5, Names);
        for arg in names.iter().filter(|a| CHECKED.contains(a)) {
            let (err, wrote) = match build_with_nan(name, arg) {
                Ok(out) => out,
                // A constructor that rejects the value names the argument too.
                Err(e) => (Some(e), false),
            };
            checked += 1;
            match err {
                None => failures.push(format!("{name}: {arg} = NaN is accepted")),
                Some(e) if !e.to_string().contains(arg) => failures.push(format!(
                    "{name}: {arg} = NaN: the error does not name it: {e}"
                )),
                Some(_) if wrote => {
                    failures.push(format!("{name}: {arg} = NaN: the failed step wrote params"))
                }
                Some(_) => {}
            }
        }
    }
    assert!(checked > 100, "only {checked} arguments checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Builds `name` with `args` (and its other required arguments 0.5), then runs `Step`.
fn build_with(name: &str, mut args: Vec<(String, Value)>) -> Result<(Option<Error>, bool), Error> {
    loop {
        match registry::by_name::<f64, _>(name, args.clone(), Step(PhantomData)) {
            Err(Error::Hyper { arg, detail, .. }) if detail.contains("missing required") => {
                args.push((arg, Value::Num(0.5)));
            }
            other => return other,
        }
    }
}

/// Values where the math of the optimizers added since the first checks gives NaN or
/// nonsense: a bias correction of zero (a decay of 1), a zero denominator on zero
/// gradients (eps of 0), an estimate divided by a zero `estim_lr0`, schedule-free's
/// interpolation divided by `b1` = 0, a decay schedule raised to a negative rate.
const BREAKING: &[(&str, &str, f64)] = &[
    ("muon", "beta", 1.0),
    ("muon", "eps", 0.0),
    ("dog", "eps", 0.0),
    ("dowg", "eps", 0.0),
    ("dowg", "init_estim_sq_dist", -1.0),
    ("cocob", "eps", 0.0),
    ("dadapt_adamw", "eps", 0.0),
    ("prodigy", "estim_lr0", 0.0),
    ("prodigy", "beta3", 1.5),
    ("momo", "beta", 1.0),
    ("momo_adam", "b1", 1.0),
    ("momo_adam", "eps", 0.0),
    ("schedule_free_sgd", "b1", 0.0),
    ("mechanize", "eps", 0.0),
    ("adafactor", "eps", 0.0),
    ("adafactor", "momentum", 1.0),
    ("adafactor", "decay_rate", -0.5),
    ("scale_by_factored_rms", "epsilon", 0.0),
    ("scale_by_factored_rms", "decay_rate", f64::INFINITY),
    ("sm3", "momentum", 1.0),
    ("scale_by_sm3", "b1", 1.0),
    ("scale_by_sm3", "b2", 1.5),
    ("scale_by_sm3", "eps", -1.0),
];

/// Edge values optax's math handles, which the checks must accept: SM3's plain sums
/// (`b2` = 1, its default) and an eps of 0 (it never divides by a zero accumulator), no
/// momentum at all, a decay rate of 0 (the second moment is the last squared gradient),
/// schedule-free without averaging (`b1` = 1), Muon without momentum.
const ACCEPTED: &[(&str, &str, f64)] = &[
    ("scale_by_sm3", "b2", 1.0),
    ("scale_by_sm3", "eps", 0.0),
    ("sm3", "momentum", 0.0),
    ("adafactor", "momentum", 0.0),
    ("adafactor", "decay_rate", 0.0),
    ("schedule_free_sgd", "b1", 1.0),
    ("muon", "beta", 0.0),
    ("dog", "eps", 1e-30),
    ("prodigy", "beta3", 1.0),
];

#[test]
fn values_where_the_math_breaks_are_errors_naming_the_argument_and_edges_pass() {
    let mut failures = Vec::new();
    for &(name, arg, v) in BREAKING {
        let (err, wrote) = match build_with(name, vec![(arg.into(), Value::Num(v))]) {
            Ok(out) => out,
            Err(e) => (Some(e), false),
        };
        match err {
            Some(Error::Hyper { arg: a, .. }) if a == arg && !wrote => {}
            other => failures.push(format!("{name}: {arg} = {v}: {other:?} (wrote: {wrote})")),
        }
    }
    for &(name, arg, v) in ACCEPTED {
        match build_with(name, vec![(arg.into(), Value::Num(v))]) {
            Ok((None, _)) => {}
            other => failures.push(format!("{name}: {arg} = {v} is refused: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
