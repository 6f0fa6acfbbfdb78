//! Atomic errors: for every transformation the registry knows, bare and inside each
//! combinator, in float32 and float64, every kind of bad input makes `update_with` and
//! `step_with` fail with an error that names the offending leaf or argument, and leaves
//! the params, the updates and the state bit-identical (the state compared as its
//! serialized JSON, whose floats serde_json writes in their shortest exact form).
//!
//! The bad inputs: a gradient tree with an extra leaf (sorting last, and first), with a
//! missing leaf (in the middle, and last), with a reshaped leaf, with a leaf whose data
//! does not fit its shape; a state built for a different tree (the whole state, and only
//! the state of a later member of a composition, whose earlier member would otherwise
//! already have written); a missing objective value where one is read, and a chain whose
//! second member reads it; an objective that fails in the middle of a line search.

mod common;

use optim::expr::Boxed;
use optim::registry::{self, Visitor};
use optim::tree::{Visit, VisitMut, Zip, ZipMut};
use optim::{
    apply_if_finite, chain, conditionally_mask, conditionally_transform, flatten,
    inject_hyperparams, lookahead, masked, multi_steps, named_chain, partition, scale_by_adam,
    scale_by_polyak, Error, Extra, Float, Hyperparams, Labels, Objective, Path, Tensor, TensorMap,
    Transformation, Tree,
};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;

/// A tree of named leaves whose data need not fit their shapes (a `Tensor` checks that
/// on construction, so it cannot carry the bad input this test needs).
#[derive(Clone, Debug)]
struct Raw<F>(BTreeMap<String, (Vec<usize>, Vec<F>)>);

fn same_keys<F>(a: &Raw<F>, b: &Raw<F>, path: &Path<'_>) -> Result<(), Error> {
    match a.0.keys().zip(b.0.keys()).find(|(x, y)| x != y) {
        Some((x, _)) => Err(Error::MissingLeaf {
            path: path.field(x).to_string(),
            missing_in: "second tree".into(),
        }),
        None if a.0.len() != b.0.len() => Err(Error::LeafCount {
            what: "second tree".into(),
            expected: a.0.len(),
            got: b.0.len(),
        }),
        None => Ok(()),
    }
}

impl<F: Float> Tree<F> for Raw<F> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        for (k, (s, d)) in &self.0 {
            f(&path.field(k), d, s)?;
        }
        Ok(())
    }
    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        for (k, (s, d)) in self.0.iter_mut() {
            f(&path.field(k), d, s)?;
        }
        Ok(())
    }
    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        same_keys(self, other, path)?;
        for ((k, (s, d)), (os, od)) in self.0.iter().zip(other.0.values()) {
            f(&path.field(k), (d, s), (od, os))?;
        }
        Ok(())
    }
    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        same_keys(self, other, path)?;
        for ((k, (s, d)), (os, od)) in self.0.iter_mut().zip(other.0.values()) {
            f(&path.field(k), (d, s), (od, os))?;
        }
        Ok(())
    }
}

/// Leaves `a` [3], `b` [2, 3] and the scalar `c`, with values that depend on `shift`.
fn tree<F: Float>(shift: f64) -> Raw<F> {
    let mut m = BTreeMap::new();
    for (k, shape) in [("a", vec![3]), ("b", vec![2, 3]), ("c", vec![])] {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|i| F::of(((i as f64 + 1.0) * 0.61 + shift + k.len() as f64).sin()))
            .collect();
        m.insert(k.to_string(), (shape, data));
    }
    Raw(m)
}

fn with<F: Float>(mut t: Raw<F>, key: &str, shape: Vec<usize>, len: usize) -> Raw<F> {
    t.0.insert(key.into(), (shape, vec![F::of(0.25); len]));
    t
}

fn without<F: Float>(mut t: Raw<F>, key: &str) -> Raw<F> {
    t.0.remove(key);
    t
}

fn bits<F: Float>(t: &Raw<F>) -> Vec<(String, Vec<u64>)> {
    t.0.iter()
        .map(|(k, (_, d))| (k.clone(), d.iter().map(|x| x.f64().to_bits()).collect()))
        .collect()
}

fn json<S: serde::Serialize>(s: &S) -> String {
    serde_json::to_string(s).expect("a state serializes")
}

/// The objective value, and the objective itself for the line searches of lbfgs.
fn good_extra<F: Float>() -> Extra {
    common::extra::<F>(1.5)
}

/// The objective value and an objective that fails, as a user's may (after `validate`
/// passed, in the middle of a line search, with an earlier member already run).
fn failing_objective<F: Float>() -> Extra {
    Extra::value(1.5).with_objective(Objective::<F>::flat(|_, _| {
        Err(Error::BadValue {
            expected: "a loss".into(),
            got: "the objective's own error".into(),
        })
    }))
}

/// One kind of bad input: the gradients, the state (as built from `state_from`, else
/// the state of two good steps) and the extra arguments, and what the error must name.
struct Bad<F> {
    what: &'static str,
    grads: Raw<F>,
    state_from: Option<Raw<F>>,
    extra: Extra,
    names: &'static str,
    /// Whether the input may also be accepted (a missing value is bad only where the
    /// transformation reads it).
    may_pass: bool,
}

fn bad_inputs<F: Float>() -> Vec<Bad<F>> {
    let g = || tree::<F>(0.7);
    let case = |what, grads, names| Bad {
        what,
        grads,
        state_from: None,
        extra: good_extra::<F>(),
        names,
        may_pass: false,
    };
    vec![
        case("an extra leaf", with(g(), "e", vec![2], 2), "`e`"),
        case(
            "an extra leaf that sorts first",
            with(g(), "0", vec![], 1),
            "`0`",
        ),
        case("a missing leaf", without(g(), "b"), "`b`"),
        case("a missing last leaf", without(g(), "c"), "`c`"),
        case("a reshaped leaf", with(g(), "b", vec![3, 2], 6), "`b`"),
        case(
            "a leaf whose data does not fit",
            with(g(), "b", vec![2, 3], 5),
            "`b`",
        ),
        Bad {
            state_from: Some(with(tree(0.0), "b", vec![6], 6)),
            ..case("a state from a different tree", g(), "`b`")
        },
        Bad {
            extra: failing_objective::<F>(),
            // Only what evaluates the objective (a line search) fails.
            may_pass: true,
            ..case("an objective that fails", g(), "the objective's own error")
        },
        Bad {
            extra: Extra::default(),
            may_pass: true,
            // `value`, or `value_fn` where the objective itself is read (line searches).
            ..case("no objective value or function", g(), "`value")
        },
    ]
}

/// Runs every bad input through `t` (its good state made by two steps from `tree(0)`,
/// or by `corrupt`, which replaces the state of a later member) and records what broke.
fn probe<F: Float, T: Transformation<F>>(
    label: &str,
    t: &T,
    cases: &[Bad<F>],
    corrupt: Option<Corrupt<'_, T::State>>,
    failures: &mut Vec<String>,
) {
    let log = std::cell::RefCell::new(Vec::new());
    let fail = |what: &str, msg: String| log.borrow_mut().push(format!("{label}: {what}: {msg}"));
    probe_into(t, cases, corrupt, &fail);
    failures.extend(log.into_inner());
}

fn probe_into<F: Float, T: Transformation<F>>(
    t: &T,
    cases: &[Bad<F>],
    corrupt: Option<Corrupt<'_, T::State>>,
    fail: &dyn Fn(&str, String),
) {
    let mut params = tree::<F>(0.0);
    let mut state = match t.init(&params) {
        Ok(s) => s,
        Err(e) => return fail("init", e.to_string()),
    };
    for k in 0..2 {
        let g = tree::<F>(0.3 + 0.1 * k as f64);
        if let Err(e) = t.step_with(&mut params, &g, &mut state, &good_extra::<F>()) {
            return fail("a good step", e.to_string());
        }
    }
    let run = |what: &str, bad: &Bad<F>, mut st: T::State, names: &str| {
        let state0 = json(&st);
        let params0 = bits(&params);
        let mut updates = bad.grads.clone();
        let r = t.update_with(&mut updates, &mut st, Some(&params), &bad.extra);
        let check = |call: &str, r: Result<(), Error>, st: &T::State| match r {
            Ok(()) if bad.may_pass => false,
            Ok(()) => {
                fail(what, format!("{call} accepted it"));
                false
            }
            Err(e) => {
                if !e.to_string().contains(names) {
                    fail(
                        what,
                        format!("{call}: the error does not name {names}: {e}"),
                    );
                }
                if json(st) != state0 {
                    fail(what, format!("{call} changed the state"));
                }
                true
            }
        };
        if check("update_with", r, &st) && bits(&updates) != bits(&bad.grads) {
            fail(what, "update_with changed the updates".into());
        }
        let mut p = params.clone();
        let r = t.step_with(&mut p, &bad.grads, &mut st, &bad.extra);
        if check("step_with", r, &st) && bits(&p) != params0 {
            fail(what, "step_with changed the params".into());
        }
    };
    for bad in cases {
        let st = match &bad.state_from {
            Some(other) => match t.init(other) {
                Ok(s) => s,
                Err(e) => return fail(bad.what, format!("init: {e}")),
            },
            None => state.clone(),
        };
        run(bad.what, bad, st, bad.names);
    }
    if let Some(corrupt) = corrupt {
        let mut st = state.clone();
        if let Err(e) = corrupt(&mut st) {
            return fail("corrupting a later member", e.to_string());
        }
        let bad = Bad {
            what: "a later member's state from a different tree",
            grads: tree(0.7),
            state_from: None,
            extra: good_extra::<F>(),
            names: "leaf `",
            may_pass: false,
        };
        run(bad.what, &bad, st, bad.names);
    }
}

/// Replaces the state of a later member of a composition.
type Corrupt<'a, S> = &'a dyn Fn(&mut S) -> Result<(), Error>;

/// The state of `t` for a tree whose leaf `b` has another shape.
fn other_state<F: Float, T: Transformation<F>>(t: &T) -> Result<T::State, Error> {
    t.init(&with(tree::<F>(0.0), "b", vec![6], 6))
}

#[derive(Clone, Copy)]
struct Atomic<F>(&'static str, PhantomData<F>);

impl<F: Float> Visitor<F> for Atomic<F> {
    type Out = Vec<String>;
    fn visit<T>(self, t: T) -> Vec<String>
    where
        T: Transformation<F> + Hyperparams + Clone + Debug + Send + Sync + 'static,
        T::State: optim::StateTensors<F>,
    {
        let name = self.0;
        let mut failures = Vec::new();
        let cases = bad_inputs::<F>();
        let out = &mut failures;
        probe(name, &t, &cases, None, out);
        let boxed = || Boxed::new(t.clone());
        probe(&format!("Boxed({name})"), &boxed(), &cases, None, out);

        // A chain whose first member writes before the second runs.
        let c = chain(scale_by_adam(), t.clone());
        let rest = |s: &mut <Chain2<T> as Transformation<F>>::State| {
            s.rest = other_state(&t)?;
            Ok(())
        };
        probe(
            &format!("chain(scale_by_adam, {name})"),
            &c,
            &cases,
            Some(&rest),
            out,
        );
        // A chain whose second member reads the objective value.
        let value = [Bad {
            what: "a second member that reads the value",
            grads: tree(0.7),
            state_from: None,
            extra: Extra::default(),
            // A first member that reads the objective itself names `value_fn` first.
            names: "`value",
            may_pass: false,
        }];
        let c = chain(t.clone(), scale_by_polyak());
        probe(
            &format!("chain({name}, scale_by_polyak)"),
            &c,
            &value,
            None,
            out,
        );

        // Every combinator, around the erased member.
        let adam = || Boxed::new(scale_by_adam());
        let named = named_chain([("adam", adam()), ("t", boxed())]);
        let last = |s: &mut optim::NamedChainState<optim::expr::DynState, F>| {
            s.states[1].1 = other_state(&boxed())?;
            Ok(())
        };
        probe(
            &format!("named_chain(adam, {name})"),
            &named,
            &cases,
            Some(&last),
            out,
        );
        let labels: BTreeMap<String, String> = [("a", "x"), ("b", "y"), ("c", "y")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let part = partition([("x", adam()), ("y", boxed())], Labels::Paths(labels));
        let group = |s: &mut optim::PartitionState<optim::expr::DynState>| {
            s.groups[1].state = other_state(&boxed())?;
            Ok(())
        };
        probe(
            &format!("partition(adam, {name})"),
            &part,
            &cases,
            Some(&group),
            out,
        );
        let wrapped = |w: &str| format!("{w}({name})");
        probe(
            &wrapped("inject_hyperparams"),
            &inject_hyperparams(t.clone()),
            &cases,
            None,
            out,
        );
        probe(
            &wrapped("MultiSteps"),
            &multi_steps(boxed(), 1.0),
            &cases,
            None,
            out,
        );
        probe(
            &wrapped("apply_if_finite"),
            &apply_if_finite(boxed(), 3),
            &cases,
            None,
            out,
        );
        probe(
            &wrapped("lookahead"),
            &lookahead(boxed(), 2, 0.5),
            &cases,
            None,
            out,
        );
        let mask = masked(boxed(), [("a", true), ("b", true), ("c", false)]);
        probe(&wrapped("masked"), &mask, &cases, None, out);
        probe(&wrapped("flatten"), &flatten(boxed()), &cases, None, out);
        let cond = conditionally_transform(boxed(), |_| true);
        probe(
            &wrapped("conditionally_transform"),
            &cond,
            &cases,
            None,
            out,
        );
        let cond = conditionally_mask(boxed(), |_| true);
        probe(&wrapped("conditionally_mask"), &cond, &cases, None, out);
        failures
    }
}

type Chain2<T> = optim::Chain<optim::ScaleByAdam, T>;

fn every_name<F: Float>() {
    let mut failures = Vec::new();
    let names = registry::names();
    for name in &names {
        failures.extend(common::by_name_filled::<F, _>(
            name,
            Vec::new(),
            0.5,
            Atomic::<F>(name, PhantomData),
        ));
    }
    assert!(names.len() > 50, "the registry lists {} names", names.len());
    assert!(
        failures.is_empty(),
        "{} failures ({:?}):\n{}",
        failures.len(),
        F::DTYPE,
        failures.join("\n")
    );
}

#[test]
fn bad_input_changes_nothing_and_names_the_culprit_f64() {
    every_name::<f64>();
}

#[test]
fn bad_input_changes_nothing_and_names_the_culprit_f32() {
    every_name::<f32>();
}

fn two_leaves() -> (TensorMap<f64>, TensorMap<f64>) {
    let mut p = TensorMap::new();
    p.insert("a".into(), Tensor::new([2], vec![1.0, -2.0]).unwrap());
    p.insert("b".into(), Tensor::new([3], vec![0.5, 0.25, -1.0]).unwrap());
    let mut g = p.clone();
    for t in g.values_mut() {
        for x in t.data_mut() {
            *x *= 0.3;
        }
    }
    (p, g)
}

fn map_bits(m: &TensorMap<f64>) -> Vec<u64> {
    m.values()
        .flat_map(|t| t.data().iter().map(|x| x.to_bits()))
        .collect()
}

/// The first reproducer: a chain whose second member needs the objective value,
/// stepped without it, fails naming the argument before the first member advances its
/// state or overwrites the updates.
#[test]
fn a_chain_missing_the_value_of_its_second_member_changes_nothing() {
    let opt = optim::chain!(scale_by_adam(), scale_by_polyak());
    let (mut p, g) = two_leaves();
    let mut s = opt.init(&p).unwrap();
    opt.step_with(&mut p, &g, &mut s, &Extra::value(2.0))
        .unwrap();
    let (p0, s0) = (map_bits(&p), json(&s));
    let err = opt.step(&mut p, &g, &mut s).unwrap_err();
    assert_eq!(
        err,
        Error::MissingExtra {
            transform: "scale_by_polyak".into(),
            arg: "value".into()
        }
    );
    let mut u = g.clone();
    let err2 = opt.update(&mut u, &mut s, Some(&p)).unwrap_err();
    assert_eq!(err2, err);
    assert_eq!(map_bits(&p), p0);
    assert_eq!(map_bits(&u), map_bits(&g));
    assert_eq!(json(&s), s0);
}

/// The second reproducer: an adam state with a bad buffer on leaf `b` (too
/// short, or a storage the configuration does not allow) does not step leaf `a`: the
/// error names `b` and its buffer, the count is unchanged and no leaf is written.
#[test]
fn a_bad_buffer_on_a_later_leaf_writes_no_leaf() {
    let opt = optim::adam(0.1);
    let (mut p, g) = two_leaves();
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &g, &mut s).unwrap();
    for (buffer, bad) in [
        ("mu", serde_json::json!({"Native": [0.0]})),
        ("nu", serde_json::json!({"Native": [0.0, 0.0, 0.0, 0.0]})),
        ("mu", serde_json::json!({"Absent": 3})),
        ("nu", serde_json::json!({"Absent": 3})),
    ] {
        let mut v = serde_json::to_value(&s).unwrap();
        v[buffer][1] = bad.clone();
        let mut broken: <optim::Adam as Transformation<f64>>::State =
            serde_json::from_value(v).unwrap();
        let (p0, s0) = (map_bits(&p), json(&broken));
        let err = opt.step(&mut p, &g, &mut broken).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`b`") && msg.contains(buffer),
            "{buffer} = {bad}: {msg}"
        );
        assert_eq!(map_bits(&p), p0, "{buffer} = {bad}: a leaf was written");
        assert_eq!(json(&broken), s0, "{buffer} = {bad}: the state changed");
        let mut u = g.clone();
        assert!(opt.update(&mut u, &mut broken, Some(&p)).is_err());
        assert_eq!(map_bits(&u), map_bits(&g));
        assert_eq!(json(&broken), s0);
    }
}
