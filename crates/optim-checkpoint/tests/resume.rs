//! For every optimizer the registry knows, in float32 and float64, and again with every
//! storage-dtype argument set to bfloat16, and for a composition of every combinator
//! (built by name, as optax expressions, and some typed): 10 steps, save, load in a fresh
//! process, 10 more steps gives params and state bit-identical to 20 steps without a
//! break.
//!
//! The fresh process is this test binary run again with `RESUME_CHILD` set: it runs only
//! `child_resumes`, which loads each saved checkpoint into params of zeros and a state
//! from `init`, steps 10 times and saves again. The parent compares the child's files
//! with its own uninterrupted runs tensor by tensor, byte for byte.

use optim_checkpoint as checkpoint;
use optim_core::registry::{self, Visitor};
use optim_core::{
    Error, Extra, Float, Hyperparams, StateTensors, Tensor, TensorMap, Transformation, TreeExt,
    Value,
};
use std::path::{Path, PathBuf};

const CHILD: &str = "RESUME_CHILD";

/// A vector, a matrix, a 3-d leaf (factored by adafactor at `min_dim_size_to_factor` 2)
/// and a scalar, away from zero.
fn start<F: Float>() -> TensorMap<F> {
    let mut m = TensorMap::new();
    let mut leaf = |name: &str, shape: Vec<usize>, k: f64| {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|i| F::of(k * (1.0 + i as f64).sin()))
            .collect::<Vec<_>>();
        m.insert(
            name.to_string(),
            Tensor::new(shape, data).expect("consistent"),
        );
    };
    leaf("b", vec![4], 0.5);
    leaf("enc.w", vec![3, 4], -0.75);
    leaf("c", vec![2, 3, 2], 1.25);
    leaf("s", vec![], 2.0);
    m
}

/// The gradient at step `t`: the quadratic's plus a step-dependent wiggle, so that
/// every step differs.
fn grads<F: Float>(p: &TensorMap<F>, t: usize) -> TensorMap<F> {
    let mut g = p.clone();
    for (k, (_, leaf)) in g.iter_mut().enumerate() {
        for (i, x) in leaf.data_mut().iter_mut().enumerate() {
            let w = 0.1 * ((t * 7 + k * 3 + i) as f64).cos();
            *x = F::of(2.0 * x.f64() + w);
        }
    }
    g
}

fn run<F: Float, T: Transformation<F>>(
    opt: &T,
    p: &mut TensorMap<F>,
    s: &mut T::State,
    from: usize,
    steps: usize,
) -> Result<(), Error> {
    for t in from..from + steps {
        let g = grads(p, t);
        let value: f64 = p
            .leaves()
            .iter()
            .flat_map(|l| l.2.clone())
            .map(|x| x.f64().powi(2))
            .sum();
        // The objective itself (½Σx², gradient x) too, for the line searches of lbfgs.
        let objective = optim_core::Objective::<F>::flat(|x, grad| {
            let mut f = 0.0;
            for (x, g) in x.iter().zip(grad.iter_mut()) {
                for (&x, g) in x.iter().zip(g.iter_mut()) {
                    f += 0.5 * x.f64() * x.f64();
                    *g = x;
                }
            }
            Ok(f)
        });
        opt.step_with(p, &g, s, &Extra::value(value).with_objective(objective))?;
    }
    Ok(())
}

/// What a case does with its optimizer.
#[derive(Clone, Copy)]
enum Phase {
    /// 10 steps, save `first`; 20 steps, save `whole`.
    Parent,
    /// Load `first`, 10 steps, save `resumed`.
    Child,
}

struct Case<'a> {
    dir: &'a Path,
    key: String,
    phase: Phase,
}

impl Case<'_> {
    fn file(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{}-{what}.safetensors", self.key))
    }
}

impl<F: Float> Visitor<F> for Case<'_> {
    type Out = Result<(), Error>;
    fn visit<T>(self, opt: T) -> Result<(), Error>
    where
        T: Transformation<F> + Hyperparams + Clone + std::fmt::Debug + Send + Sync + 'static,
        T::State: StateTensors<F>,
    {
        self.go(opt)
    }
}

impl Case<'_> {
    fn go<F: Float, T>(self, opt: T) -> Result<(), Error>
    where
        T: Transformation<F> + std::fmt::Debug,
        T::State: StateTensors<F>,
    {
        match self.phase {
            Phase::Parent => {
                let mut p = start::<F>();
                let mut s = opt.init(&p)?;
                run(&opt, &mut p, &mut s, 0, 10)?;
                checkpoint::save(self.file("first"), &opt, &p, &s)?;
                run(&opt, &mut p, &mut s, 10, 10)?;
                checkpoint::save(self.file("whole"), &opt, &p, &s)
            }
            Phase::Child => {
                let mut p = start::<F>();
                p.fill_zero();
                let mut s = opt.init(&p)?;
                checkpoint::load(self.file("first"), &opt, &mut p, &mut s)?;
                run(&opt, &mut p, &mut s, 10, 10)?;
                checkpoint::save(self.file("resumed"), &opt, &p, &s)
            }
        }
    }
}

/// What a case runs: a registered name with arguments, an optax expression, or one of
/// the typed compositions of [`typed`].
#[derive(Clone)]
enum What {
    Name(&'static str, Vec<(String, Value)>),
    Expr(serde_json::Value),
    Typed(&'static str),
}

/// A case: its key, what it runs and the params' dtype.
type Spec = (String, What, &'static str);

/// A composition of every combinator that has an optax expression, over the leaves of
/// [`start`]; `conditionally_transform` takes a closure, so it is in [`typed`].
fn expressions() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let adam = json!({"fn": "adam", "args": {"learning_rate": 0.05}});
    let sgd = json!({"fn": "sgd", "args": {"learning_rate": 0.1, "momentum": 0.9}});
    let lr = json!({"schedule": "warmup_cosine_decay_schedule", "init_value": 0.0,
        "peak_value": 0.05, "warmup_steps": 4, "decay_steps": 20, "end_value": 0.001});
    vec![
        (
            "partition",
            json!({"fn": "partition", "args": {
            "transforms": {"a": adam, "s": sgd, "f": "set_to_zero"},
            "param_labels": {"b": "a", "enc.w": "s", "c": "a", "s": "f"}}}),
        ),
        (
            "inject_hyperparams",
            json!({"fn": "inject_hyperparams", "args": {
            "inner": "adamw", "hyperparams": {"learning_rate": lr, "b1": 0.85}}}),
        ),
        (
            "MultiSteps",
            json!({"fn": "MultiSteps", "args": {"opt": adam, "every_k_schedule": 3}}),
        ),
        (
            "apply_if_finite",
            json!({"fn": "apply_if_finite", "args": {
            "inner": adam, "max_consecutive_errors": 2}}),
        ),
        (
            "lookahead",
            json!({"fn": "lookahead", "args": {
            "fast_optimizer": sgd, "sync_period": 3, "slow_step_size": 0.5}}),
        ),
        (
            "named_chain",
            json!({"fn": "named_chain", "args": {"transforms": [
            ["clip", {"fn": "clip_by_global_norm", "args": {"max_norm": 1.0}}], ["opt", adam]]}}),
        ),
        ("flatten", json!({"fn": "flatten", "args": {"inner": adam}})),
        (
            "masked",
            json!({"fn": "chain", "args": {"transforms": [
            {"fn": "masked", "args": {"inner": {"fn": "scale_by_adam", "args": {}},
                "mask": {"b": false, "enc.w": true, "c": true, "s": false}}},
            {"fn": "scale", "args": {"step_size": -0.05}}]}}),
        ),
        (
            "freeze",
            json!({"fn": "chain", "args": {"transforms": [
            {"fn": "freeze", "args": {"mask": {"b": true, "enc.w": false, "c": false, "s": false}}},
            adam]}}),
        ),
    ]
}

/// The typed compositions (no `Boxed` in between).
const TYPED: [&str; 3] = ["partition", "inject_hyperparams", "conditionally_transform"];

fn typed<F: Float>(name: &str, case: Case<'_>) -> Result<(), Error> {
    use optim_core::schedule::warmup_cosine_decay_schedule;
    use optim_core::{adam, adamw, conditionally_transform, inject_hyperparams, partition, sgd};
    match name {
        "partition" => {
            let labels = [("b", "x"), ("enc.w", "y"), ("c", "x"), ("s", "y")];
            case.go::<F, _>(partition(
                [("x", adam(0.05)), ("y", adam(0.2).b1(0.5))],
                labels,
            ))
        }
        "inject_hyperparams" => case.go::<F, _>(
            inject_hyperparams(adamw(1e-2))
                .hyperparam(
                    "learning_rate",
                    warmup_cosine_decay_schedule(0.0, 0.05, 4, 20, 0.001, 1.0)?,
                )
                .hyperparam("weight_decay", 0.3),
        ),
        _ => case.go::<F, _>(conditionally_transform(sgd(0.1).momentum(0.9), |step| {
            step % 3 != 1
        })),
    }
}

/// Every case.
fn cases() -> Vec<Spec> {
    let mut out = Vec::new();
    for dtype in ["f32", "f64"] {
        for (key, e) in expressions() {
            out.push((format!("expr-{key}-{dtype}"), What::Expr(e), dtype));
        }
        for key in TYPED {
            out.push((format!("typed-{key}-{dtype}"), What::Typed(key), dtype));
        }
    }
    for name in registry::names() {
        let mut args = required_args(name);
        if arg_names(name, &args)
            .iter()
            .any(|n| n == "min_dim_size_to_factor")
        {
            args.push(("min_dim_size_to_factor".into(), Value::Num(2.0)));
        }
        for dtype in ["f32", "f64"] {
            out.push((
                format!("{name}-{dtype}"),
                What::Name(name, args.clone()),
                dtype,
            ));
        }
        // Every storage-dtype argument at bfloat16, with min_dim_size_to_factor low
        // enough that adafactor factors the matrices.
        let names = dtype_args(name, &args);
        if !names.is_empty() {
            let mut a = args.clone();
            for n in names {
                a.push((n, Value::Str("bfloat16".into())));
            }
            out.push((format!("{name}-f32-bf16"), What::Name(name, a), "f32"));
        }
    }
    out
}

/// The required arguments of `name`, each set to a small positive number.
fn required_args(name: &str) -> Vec<(String, Value)> {
    let mut args: Vec<(String, Value)> = Vec::new();
    loop {
        match registry::by_name::<f32, _>(name, args.clone(), Probe) {
            Ok(_) => return args,
            Err(Error::Hyper { arg, detail, .. })
                if detail.contains("missing required") && args.len() < 8 =>
            {
                args.push((arg, Value::Num(0.05)));
            }
            // A required count (the line searches' `max_linesearch_steps`) takes a few
            // steps.
            Err(Error::Hyper { arg, detail, .. }) if detail.contains("integer") => {
                match args.iter_mut().find(|(k, _)| *k == arg) {
                    Some((_, v)) => *v = Value::Num(4.0),
                    None => panic!("{name}: {arg}: {detail}"),
                }
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

/// The argument names of `name` that choose a storage dtype.
fn dtype_args(name: &str, args: &[(String, Value)]) -> Vec<String> {
    arg_names(name, args)
        .into_iter()
        .filter(|n| n.contains("dtype"))
        .collect()
}

fn arg_names(name: &str, args: &[(String, Value)]) -> Vec<String> {
    registry::by_name::<f32, _>(name, args.to_vec(), Probe).expect("builds")
}

/// The argument names of the optimizer built.
struct Probe;
impl Visitor<f32> for Probe {
    type Out = Vec<String>;
    fn visit<T: Transformation<f32> + Hyperparams>(self, _: T) -> Vec<String> {
        T::NAMES.iter().map(|s| s.to_string()).collect()
    }
}

fn run_case(dir: &Path, phase: Phase, key: &str, what: What, dtype: &str) -> Result<(), Error> {
    let case = Case {
        dir,
        key: key.to_string(),
        phase,
    };
    match (what, dtype) {
        (What::Name(name, args), "f32") => registry::by_name::<f32, _>(name, args, case)?,
        (What::Name(name, args), _) => registry::by_name::<f64, _>(name, args, case)?,
        (What::Expr(e), "f32") => case.go(optim_core::expr::build::<f32>(&e)?),
        (What::Expr(e), _) => case.go(optim_core::expr::build::<f64>(&e)?),
        (What::Typed(name), "f32") => typed::<f32>(name, case),
        (What::Typed(name), _) => typed::<f64>(name, case),
    }
}

/// Every tensor of two checkpoint files, equal byte for byte; `None` when they are.
fn differ(a: &Path, b: &Path) -> Option<String> {
    let (a, b) = (std::fs::read(a).ok()?, std::fs::read(b).ok()?);
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&a).ok()?,
        safetensors::SafeTensors::deserialize(&b).ok()?,
    );
    let (mut na, mut nb) = (a.names(), b.names());
    na.sort();
    nb.sort();
    if na != nb {
        return Some(format!("tensor names differ: {na:?} vs {nb:?}"));
    }
    for n in na {
        let (x, y) = (a.tensor(n).ok()?, b.tensor(n).ok()?);
        if x.dtype() != y.dtype() || x.shape() != y.shape() || x.data() != y.data() {
            return Some(format!("tensor `{n}` differs"));
        }
    }
    None
}

#[test]
fn a_run_resumed_in_a_fresh_process_is_bit_identical() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("optim-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = cases();
    assert!(cases.len() >= 90, "only {} cases", cases.len());
    for (key, what, dtype) in &cases {
        run_case(&dir, Phase::Parent, key, what.clone(), dtype)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_resumes",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &dir)
        .output()
        .expect("the child runs");
    assert!(
        out.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut bad = Vec::new();
    for (key, ..) in &cases {
        let file = |w: &str| dir.join(format!("{key}-{w}.safetensors"));
        if let Some(d) = differ(&file("whole"), &file("resumed")) {
            bad.push(format!("{key}: {d}"));
        }
        let meta = checkpoint::read_metadata(file("resumed")).expect("metadata");
        // The step count, the hyperparameters and the name, as the uninterrupted run's.
        if meta != checkpoint::read_metadata(file("whole")).expect("metadata") {
            bad.push(format!("{key}: the metadata differ: {meta:?}"));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        bad.is_empty(),
        "{} of {} cases differ:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

/// The child's half of the test above; does nothing unless run as the child.
#[test]
fn child_resumes() {
    let Some(dir) = std::env::var_os(CHILD) else {
        return;
    };
    let dir = PathBuf::from(dir);
    for (key, what, dtype) in cases() {
        run_case(&dir, Phase::Child, &key, what, dtype).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}
