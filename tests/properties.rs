//! The property matrix: what holds for every registered optimizer and primitive, checked
//! by iterating the registry (as optax's alias tests and torch's OptimizerInfo do), so a
//! new registration is covered without being listed here. Each property runs in float32
//! and float64; the state round trip also with every storage-dtype argument the
//! optimizer has set to bfloat16.
//!
//! - the fused `step` equals `update` + `apply_updates`, bit for bit;
//! - save (serde_json) -> load -> continue equals an uninterrupted run, bit for bit;
//! - a zero-size leaf, a scalar leaf and an empty tree work;
//! - a NaN gradient is never hidden: it reaches the params within three steps.

mod common;

use optim::registry::{self, Visitor};
use optim::{apply_updates, Extra, Float, Hyperparams, Tensor, TensorMap, Transformation, Value};
use std::marker::PhantomData;

/// Transformations whose purpose is to replace non-finite gradients (`zero_nans`) or
/// to ignore the gradient altogether (`set_to_zero`, optax's frozen-leaf update); every
/// other one must let a NaN through.
const HANDLES_NON_FINITE: &[&str] = &["zero_nans", "set_to_zero"];

fn tree<F: Float>(shift: f64) -> TensorMap<F> {
    let wave = |n: usize, k: f64| -> Vec<F> {
        (0..n)
            .map(|i| F::of(((i as f64 * 0.7 + k).sin() + shift) * 0.5))
            .collect()
    };
    let mut m = TensorMap::new();
    m.insert("a".into(), Tensor::new([3], wave(3, 0.1)).unwrap());
    m.insert("b".into(), Tensor::new([2, 3], wave(6, 1.3)).unwrap());
    m.insert(
        "c".into(),
        Tensor::new(Vec::<usize>::new(), wave(1, 2.0)).unwrap(),
    );
    m.insert("d".into(), Tensor::new([0, 4], Vec::<F>::new()).unwrap());
    m
}

fn bits<F: Float>(m: &TensorMap<F>) -> Vec<u64> {
    m.values()
        .flat_map(|t| t.data().iter().map(|x| x.f64().to_bits()))
        .collect()
}

fn extra<F: Float>() -> Extra {
    common::extra::<F>(1.5)
}

/// The argument names of a registered name.
#[derive(Clone, Copy)]
struct Names;
impl<F: Float> Visitor<F> for Names {
    type Out = &'static [&'static str];
    fn visit<T: Transformation<F> + Hyperparams>(self, _: T) -> Self::Out {
        T::NAMES
    }
}

/// Runs one property on a transformation; `Err` says what failed.
#[derive(Clone, Copy)]
struct Prop<F>(fn(&dyn Probe<F>) -> Result<(), String>, PhantomData<F>);

/// The operations a property uses, on the concrete transformation.
trait Probe<F: Float> {
    /// `steps` fused steps from `tree(0)` with gradients `grad(step)`; the params'
    /// bits and the state's JSON after them.
    fn run_fused(
        &self,
        steps: usize,
        grad: &dyn Fn(usize) -> TensorMap<F>,
    ) -> Result<(Vec<u64>, String), String>;
    /// The same with `update_with` + `apply_updates`.
    fn run_unfused(
        &self,
        steps: usize,
        grad: &dyn Fn(usize) -> TensorMap<F>,
    ) -> Result<(Vec<u64>, String), String>;
    /// `first` steps, the state saved to JSON and loaded back, then `second` steps.
    fn run_resumed(&self, first: usize, second: usize) -> Result<(Vec<u64>, String), String>;
    /// Init and one step on an empty tree.
    fn run_empty(&self) -> Result<(), String>;
    /// Params after each of `steps` steps, from `grad(step)`.
    fn trajectory(
        &self,
        steps: usize,
        grad: &dyn Fn(usize) -> TensorMap<F>,
    ) -> Result<Vec<TensorMap<F>>, String>;
}

struct Concrete<T>(T);

fn json<F: Float, T: Transformation<F>>(s: &T::State) -> String {
    serde_json::to_string(s).expect("a state serializes")
}

impl<F: Float, T: Transformation<F>> Probe<F> for Concrete<T> {
    fn run_fused(
        &self,
        steps: usize,
        grad: &dyn Fn(usize) -> TensorMap<F>,
    ) -> Result<(Vec<u64>, String), String> {
        let t = &self.0;
        let mut p = tree::<F>(0.0);
        let mut s = t.init(&p).map_err(|e| format!("init: {e}"))?;
        for k in 0..steps {
            t.step_with(&mut p, &grad(k), &mut s, &extra::<F>())
                .map_err(|e| format!("step {k}: {e}"))?;
        }
        Ok((bits(&p), json::<F, T>(&s)))
    }

    fn run_unfused(
        &self,
        steps: usize,
        grad: &dyn Fn(usize) -> TensorMap<F>,
    ) -> Result<(Vec<u64>, String), String> {
        let t = &self.0;
        let mut p = tree::<F>(0.0);
        let mut s = t.init(&p).map_err(|e| format!("init: {e}"))?;
        for k in 0..steps {
            let mut u = grad(k);
            t.update_with(&mut u, &mut s, Some(&p), &extra::<F>())
                .map_err(|e| format!("update {k}: {e}"))?;
            apply_updates(&mut p, &u).map_err(|e| format!("apply {k}: {e}"))?;
        }
        Ok((bits(&p), json::<F, T>(&s)))
    }

    fn run_resumed(&self, first: usize, second: usize) -> Result<(Vec<u64>, String), String> {
        let t = &self.0;
        let mut p = tree::<F>(0.0);
        let mut s = t.init(&p).map_err(|e| format!("init: {e}"))?;
        let g = |k: usize| tree::<F>(0.3 + 0.1 * k as f64);
        for k in 0..first {
            t.step_with(&mut p, &g(k), &mut s, &extra::<F>())
                .map_err(|e| format!("step {k}: {e}"))?;
        }
        let saved = json::<F, T>(&s);
        let mut s: T::State = serde_json::from_str(&saved)
            .map_err(|e| format!("the saved state does not load: {e}"))?;
        for k in first..first + second {
            t.step_with(&mut p, &g(k), &mut s, &extra::<F>())
                .map_err(|e| format!("step {k} after loading: {e}"))?;
        }
        Ok((bits(&p), json::<F, T>(&s)))
    }

    fn run_empty(&self) -> Result<(), String> {
        let t = &self.0;
        let mut p = TensorMap::<F>::new();
        let mut s = t
            .init(&p)
            .map_err(|e| format!("init on an empty tree: {e}"))?;
        t.step_with(&mut p, &TensorMap::new(), &mut s, &extra::<F>())
            .map_err(|e| format!("step on an empty tree: {e}"))
    }

    fn trajectory(
        &self,
        steps: usize,
        grad: &dyn Fn(usize) -> TensorMap<F>,
    ) -> Result<Vec<TensorMap<F>>, String> {
        let t = &self.0;
        let mut p = tree::<F>(0.0);
        let mut s = t.init(&p).map_err(|e| format!("init: {e}"))?;
        let mut out = Vec::new();
        for k in 0..steps {
            t.step_with(&mut p, &grad(k), &mut s, &extra::<F>())
                .map_err(|e| format!("step {k}: {e}"))?;
            out.push(p.clone());
        }
        Ok(out)
    }
}

impl<F: Float> Visitor<F> for Prop<F> {
    type Out = Result<(), String>;
    fn visit<T: Transformation<F> + Hyperparams>(self, t: T) -> Self::Out {
        (self.0)(&Concrete(t))
    }
}

/// The extra arguments of a run, from the name's argument list (`None`: skip it).
type ArgsFor = fn(&[&str]) -> Option<Vec<(String, Value)>>;

/// Runs `prop` on every registered name with the given extra arguments (from the
/// name's argument list); returns the failures.
fn each_name<F: Float>(
    args: ArgsFor,
    prop: fn(&dyn Probe<F>) -> Result<(), String>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut ran = 0;
    for name in registry::names() {
        let names = common::by_name_filled::<F, _>(name, Vec::new(), 0.5, Names);
        let Some(args) = args(names) else { continue };
        ran += 1;
        let got = common::by_name_filled::<F, _>(name, args, 0.5, Prop(prop, PhantomData));
        if let Err(e) = got {
            failures.push(format!("{name} ({}): {e}", F::DTYPE));
        }
    }
    assert!(ran > 0, "the property ran on no optimizer");
    failures
}

fn defaults(_: &[&str]) -> Option<Vec<(String, Value)>> {
    Some(Vec::new())
}

/// Every storage-dtype argument set to bfloat16; names without one are skipped.
fn bf16_state(names: &[&str]) -> Option<Vec<(String, Value)>> {
    let args: Vec<_> = names
        .iter()
        .filter(|n| n.contains("dtype"))
        .map(|n| (n.to_string(), Value::Str("bfloat16".into())))
        .collect();
    (!args.is_empty()).then_some(args)
}

fn assert_none(mut failures: Vec<String>) {
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn both(
    args: ArgsFor,
    p32: fn(&dyn Probe<f32>) -> Result<(), String>,
    p64: fn(&dyn Probe<f64>) -> Result<(), String>,
) {
    let mut failures = each_name::<f32>(args, p32);
    failures.extend(each_name::<f64>(args, p64));
    assert_none(failures);
}

fn fused_equals_unfused<F: Float>(p: &dyn Probe<F>) -> Result<(), String> {
    let g = |k: usize| tree::<F>(0.3 + 0.1 * k as f64);
    let fused = p.run_fused(3, &g)?;
    let unfused = p.run_unfused(3, &g)?;
    if fused.0 != unfused.0 {
        return Err("params differ between step and update + apply_updates".into());
    }
    if fused.1 != unfused.1 {
        return Err("states differ between step and update + apply_updates".into());
    }
    Ok(())
}

#[test]
fn the_fused_step_equals_update_then_apply_updates() {
    both(
        defaults,
        fused_equals_unfused::<f32>,
        fused_equals_unfused::<f64>,
    );
}

fn resume_is_exact<F: Float>(p: &dyn Probe<F>) -> Result<(), String> {
    let g = |k: usize| tree::<F>(0.3 + 0.1 * k as f64);
    let straight = p.run_fused(6, &g)?;
    let resumed = p.run_resumed(3, 3)?;
    if straight.0 != resumed.0 {
        return Err("params after save, load and 3 more steps differ from 6 steps".into());
    }
    if straight.1 != resumed.1 {
        return Err("state after save, load and 3 more steps differs from 6 steps".into());
    }
    Ok(())
}

#[test]
fn save_load_continue_equals_an_uninterrupted_run() {
    both(defaults, resume_is_exact::<f32>, resume_is_exact::<f64>);
}

#[test]
fn save_load_continue_is_exact_with_bfloat16_state() {
    // float32 params only, as optax's bfloat16 cases.
    assert_none(each_name::<f32>(bf16_state, resume_is_exact::<f32>));
}

fn small_and_empty_trees_work<F: Float>(p: &dyn Probe<F>) -> Result<(), String> {
    p.run_empty()?;
    // `tree` has a zero-size leaf (`d`, shape [0, 4]) and a scalar (`c`).
    let g = |k: usize| tree::<F>(0.3 + 0.1 * k as f64);
    let out = p.trajectory(2, &g)?;
    let last = out.last().expect("two steps");
    if last["d"].shape() != [0, 4] || !last["d"].data().is_empty() {
        return Err("the zero-size leaf changed".into());
    }
    if last["c"].shape() != [] as [usize; 0] || !last["c"].data()[0].is_finite() {
        return Err(format!("the scalar leaf is {:?}", last["c"]));
    }
    Ok(())
}

#[test]
fn zero_size_leaves_scalars_and_empty_trees_work() {
    both(
        defaults,
        small_and_empty_trees_work::<f32>,
        small_and_empty_trees_work::<f64>,
    );
}

fn nan_is_not_hidden<F: Float>(p: &dyn Probe<F>) -> Result<(), String> {
    let g = |k: usize| {
        let mut t = tree::<F>(0.3 + 0.1 * k as f64);
        if k == 0 {
            let a = t.get_mut("a").expect("leaf a");
            let mut data = a.data().to_vec();
            data[0] = F::nan();
            *a = Tensor::new([3], data).expect("same shape");
        }
        t
    };
    let out = p.trajectory(3, &g)?;
    if out
        .iter()
        .any(|p| p.values().any(|t| t.data().iter().any(|x| x.is_nan())))
    {
        Ok(())
    } else {
        Err("a NaN gradient at step 0 never reached the params".into())
    }
}

#[test]
fn a_nan_gradient_is_never_hidden() {
    let mut failures = each_name::<f32>(defaults, nan_is_not_hidden::<f32>);
    failures.extend(each_name::<f64>(defaults, nan_is_not_hidden::<f64>));
    failures.retain(|f| {
        !HANDLES_NON_FINITE
            .iter()
            .any(|n| f.starts_with(&format!("{n} (")))
    });
    assert_none(failures);
}
