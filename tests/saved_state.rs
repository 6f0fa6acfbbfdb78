//! Saved state ([`SavedState`]): for every optimizer the registry knows, in float32 and
//! float64, 6 steps, save, serialize with plain `serde_json`, parse, load, 6 more steps
//! gives params and state bit-identical to 12 steps without a break; and each kind of
//! mismatch (a newer format version, another optimizer, another dtype, another
//! configuration, a tensor missing, left over, reshaped or not a number) is an error
//! naming what differs.
//!
//! The workspace builds `serde_json` with `float_roundtrip`, which users may not have:
//! the envelope holds no JSON float at all (floats are exact strings, checked here on
//! every saved state), so its round trip does not depend on how a JSON parser reads
//! floats.

mod common;

use optim::registry::{self, Visitor};
use optim::{
    adam, load_state, save_state, sgd, Error, Float, Hyperparams, SavedState, StateTensors, Tensor,
    TensorMap, Transformation, TreeExt,
};
use std::fmt::Debug;

/// A vector, a matrix, a 3-d leaf and a scalar, away from zero.
fn start<F: Float>() -> TensorMap<F> {
    let mut m = TensorMap::new();
    let mut leaf = |name: &str, shape: Vec<usize>, k: f64| {
        let n: usize = shape.iter().product();
        let data: Vec<F> = (0..n).map(|i| F::of(k * (1.0 + i as f64).sin())).collect();
        m.insert(name.into(), Tensor::new(shape, data).expect("consistent"));
    };
    leaf("b", vec![4], 0.5);
    leaf("enc.w", vec![3, 4], -0.75);
    leaf("c", vec![2, 3, 2], 1.25);
    leaf("s", vec![], 2.0);
    m
}

/// `steps` steps from step `from`, on gradients that differ at every step.
fn run<F: Float, T: Transformation<F>>(
    opt: &T,
    p: &mut TensorMap<F>,
    s: &mut T::State,
    from: usize,
    steps: usize,
) -> Result<(), Error> {
    for t in from..from + steps {
        let mut g = p.clone();
        for (k, (_, leaf)) in g.iter_mut().enumerate() {
            for (i, x) in leaf.data_mut().iter_mut().enumerate() {
                let w = 0.1 * ((t * 7 + k * 3 + i) as f64).cos();
                *x = F::of(2.0 * x.f64() + w);
            }
        }
        let value: f64 = p
            .leaves()
            .iter()
            .flat_map(|l| l.2.clone())
            .map(|x| x.f64().powi(2))
            .sum();
        opt.step_with(p, &g, s, &common::extra::<F>(value))?;
    }
    Ok(())
}

/// Every number of `v` is an integer: nothing depends on how a parser reads floats.
fn no_json_floats(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_u64(),
        serde_json::Value::Array(a) => a.iter().all(no_json_floats),
        serde_json::Value::Object(o) => o.values().all(no_json_floats),
        _ => true,
    }
}

fn bits<F: Float>(p: &TensorMap<F>) -> Vec<u64> {
    p.leaves()
        .iter()
        .flat_map(|l| l.2.clone())
        .map(|x| x.f64().to_bits())
        .collect()
}

/// The save -> JSON -> load round trip of one optimizer: `Ok(None)` when it resumes bit
/// for bit, `Ok(Some(why))` when it does not.
#[derive(Clone, Copy)]
struct RoundTrip;
impl<F: Float> Visitor<F> for RoundTrip {
    type Out = Result<Option<String>, Error>;
    fn visit<T>(self, opt: T) -> Self::Out
    where
        T: Transformation<F> + Hyperparams + Clone + Debug + Send + Sync + 'static,
        T::State: StateTensors<F>,
    {
        round_trip(&opt)
    }
}

/// The round trip of [`RoundTrip`], for any optimizer.
fn round_trip<F: Float, T>(opt: &T) -> Result<Option<String>, Error>
where
    T: Transformation<F> + Debug,
    T::State: StateTensors<F>,
{
    let mut p = start::<F>();
    let mut s = opt.init(&p)?;
    run(opt, &mut p, &mut s, 0, 6)?;
    let json = serde_json::to_string(&save_state(opt, &s)?).expect("serializes");
    let tree: serde_json::Value = serde_json::from_str(&json).expect("parses");
    if !no_json_floats(&tree) {
        return Ok(Some("the saved state holds a JSON float".into()));
    }
    let saved: SavedState = serde_json::from_str(&json).expect("parses");
    let mut p2 = p.clone();
    let mut s2 = load_state(opt, &p2, &saved)?;
    run(opt, &mut p, &mut s, 6, 6)?;
    run(opt, &mut p2, &mut s2, 6, 6)?;
    if bits(&p) != bits(&p2) {
        return Ok(Some("the resumed params differ".into()));
    }
    if save_state(opt, &s)? != save_state(opt, &s2)? {
        return Ok(Some("the resumed state differs".into()));
    }
    Ok(None)
}

/// A wrapper whose working configuration follows its saved count and values: a
/// scheduled learning rate and a fixed `b1` injected into adamw resume bit for bit.
#[test]
fn injected_hyperparameters_resume_bit_for_bit() {
    let lr = optim::schedule::warmup_cosine_decay_schedule(0.0, 0.05, 4, 20, 0.001, 1.0).unwrap();
    let opt = optim::inject_hyperparams(optim::adamw(1e-2))
        .hyperparam("learning_rate", lr)
        .hyperparam("b1", 0.85);
    assert_eq!(round_trip::<f64, _>(&opt).unwrap(), None);
    assert_eq!(round_trip::<f32, _>(&opt).unwrap(), None);
}

/// Low-precision state keeps its dtype and every bit through the envelope: adam's and
/// lion's first moment and sgd's momentum in bfloat16 and float16, float32 params.
#[test]
fn low_precision_state_resumes_bit_for_bit() {
    use optim::Dtype::{BF16, F16};
    for dtype in [BF16, F16] {
        assert_eq!(
            round_trip::<f32, _>(&adam(1e-2).mu_dtype(dtype)).unwrap(),
            None
        );
        assert_eq!(
            round_trip::<f32, _>(&optim::lion(1e-3).mu_dtype(dtype)).unwrap(),
            None
        );
        let sgd_m = sgd(1e-2).momentum(0.9).accumulator_dtype(dtype);
        assert_eq!(round_trip::<f32, _>(&sgd_m).unwrap(), None);
    }
}

/// Builds `name` with its required arguments filled, and hands it to `v`.
fn each<F: Float, V: Visitor<F> + Clone>(name: &str, v: V) -> V::Out {
    common::by_name_filled::<F, V>(name, Vec::new(), 0.05, v)
}

#[test]
fn every_registered_optimizer_resumes_bit_for_bit_through_plain_json() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for name in registry::names() {
        for (dtype, out) in [
            ("f32", each::<f32, _>(name, RoundTrip)),
            ("f64", each::<f64, _>(name, RoundTrip)),
        ] {
            cases += 1;
            match out {
                Ok(None) => {}
                Ok(Some(why)) => failures.push(format!("{name} ({dtype}): {why}")),
                Err(e) => failures.push(format!("{name} ({dtype}): {e}")),
            }
        }
    }
    assert!(cases >= 180, "only {cases} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The field an error names, or the whole error when it is not a saved-state error.
fn field_of(e: &Error) -> String {
    match e {
        Error::SavedState { field, .. } => field.clone(),
        other => format!("not a saved-state error: {other}"),
    }
}

/// For one optimizer: the saved state of a run, and the errors of loading it tampered
/// with (version, optimizer, tensors) into the same optimizer.
#[derive(Clone, Copy)]
struct Tamper;
impl<F: Float> Visitor<F> for Tamper {
    type Out = Result<Vec<String>, Error>;
    fn visit<T>(self, opt: T) -> Self::Out
    where
        T: Transformation<F> + Hyperparams + Clone + Debug + Send + Sync + 'static,
        T::State: StateTensors<F>,
    {
        let mut p = start::<F>();
        let mut s = opt.init(&p)?;
        run(&opt, &mut p, &mut s, 0, 2)?;
        let saved = save_state(&opt, &s)?;
        let mut failures = Vec::new();
        let mut expect = |what: &str, saved: SavedState, field: &str, says: &str| match load_state(
            &opt, &p, &saved,
        ) {
            Ok(_) => failures.push(format!("{what}: loads")),
            Err(e) if field_of(&e) != field || !e.to_string().contains(says) => {
                failures.push(format!("{what}: {e}"))
            }
            Err(_) => {}
        };
        let mut v = saved.clone();
        v.format_version += 1;
        expect("a newer format", v, "format_version", "newer");
        let mut v = saved.clone();
        v.optimizer = "not_an_optimizer".into();
        expect("another optimizer", v, "optimizer", "not_an_optimizer");
        let mut v = saved.clone();
        v.hyperparameters.push(' ');
        expect("another configuration", v, "hyperparameters", "saved");
        let first = saved.tensors.keys().next().cloned();
        if let Some(first) = first {
            let mut v = saved.clone();
            let t = v.tensors.remove(&first).expect("present");
            expect("a missing tensor", v, &first, "missing");
            let mut v = saved.clone();
            v.tensors.insert("zzz/extra".into(), t.clone());
            expect(
                "a tensor left over",
                v,
                "zzz/extra",
                "not in the optimizer's state",
            );
            let mut v = saved.clone();
            v.tensors.get_mut(&first).expect("present").shape.push(7);
            expect("a reshaped tensor", v, &first, "shape");
            if !t.data.is_empty() && t.kind != "flag" {
                let mut v = saved.clone();
                v.tensors.get_mut(&first).expect("present").data[0] = "x".into();
                expect("a tensor that is not a number", v, &first, "`x`");
            }
        }
        Ok(failures)
    }
}

#[test]
fn every_registered_optimizer_rejects_each_kind_of_mismatch_by_name() {
    let mut failures = Vec::new();
    for name in registry::names() {
        match each::<f64, _>(name, Tamper) {
            Ok(f) => failures.extend(f.into_iter().map(|f| format!("{name}: {f}"))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The saved state of `opt` after two steps on [`start`].
fn saved_after_two<F: Float, T>(opt: &T) -> SavedState
where
    T: Transformation<F> + Debug,
    T::State: StateTensors<F>,
{
    let mut p = start::<F>();
    let mut s = opt.init(&p).unwrap();
    run(opt, &mut p, &mut s, 0, 2).unwrap();
    save_state(opt, &s).unwrap()
}

#[test]
fn a_float64_state_loaded_as_float32_names_both_dtypes() {
    let saved = saved_after_two::<f64, _>(&adam(0.1));
    let e = load_state::<f32, _, _>(&adam(0.1), &start::<f32>(), &saved).unwrap_err();
    assert_eq!(field_of(&e), "dtype");
    let msg = e.to_string();
    assert!(msg.contains("float64") && msg.contains("float32"), "{msg}");
}

#[test]
fn an_sgd_state_without_momentum_resumed_with_momentum_names_momentum() {
    let saved = saved_after_two::<f64, _>(&sgd(0.1));
    let e = load_state(&sgd(0.1).momentum(0.9), &start::<f64>(), &saved).unwrap_err();
    assert_eq!(field_of(&e), "hyperparameters");
    let msg = e.to_string();
    assert!(
        msg.contains("`momentum`") && msg.contains("None") && msg.contains("0.9"),
        "{msg}"
    );
}

#[test]
fn a_state_of_another_optimizer_names_both() {
    let saved = saved_after_two::<f64, _>(&adam(0.1));
    let e = load_state(&sgd(0.1), &start::<f64>(), &saved).unwrap_err();
    assert_eq!(field_of(&e), "optimizer");
    let msg = e.to_string();
    assert!(msg.contains("`adam`") && msg.contains("`sgd`"), "{msg}");
}

#[test]
fn a_future_format_version_is_refused() {
    let mut saved = saved_after_two::<f64, _>(&adam(0.1));
    saved.format_version = 2;
    let e = load_state(&adam(0.1), &start::<f64>(), &saved).unwrap_err();
    assert_eq!(field_of(&e), "format_version");
    assert!(e.to_string().contains("is 2"), "{e}");
}

#[test]
fn unknown_fields_of_the_envelope_are_refused() {
    let saved = saved_after_two::<f64, _>(&adam(0.1));
    let mut json: serde_json::Value = serde_json::to_value(&saved).unwrap();
    json["stray"] = serde_json::json!(1);
    let e = serde_json::from_value::<SavedState>(json).unwrap_err();
    assert!(e.to_string().contains("stray"), "{e}");
}

/// A NaN and an infinity in the state survive JSON (which has neither) bit for bit.
#[test]
fn nan_and_infinity_in_the_state_round_trip() {
    let opt = sgd(0.1).momentum(0.9);
    let mut p = start::<f64>();
    let mut s = opt.init(&p).unwrap();
    let mut g = p.clone();
    g.get_mut("b").unwrap().data_mut()[0] = f64::NAN;
    g.get_mut("b").unwrap().data_mut()[1] = f64::INFINITY;
    opt.step(&mut p, &g, &mut s).unwrap();
    let saved = save_state(&opt, &s).unwrap();
    let json = serde_json::to_string(&saved).unwrap();
    let back: SavedState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, saved);
    let resumed = load_state(&opt, &p, &back).unwrap();
    assert_eq!(save_state(&opt, &resumed).unwrap(), saved);
}
