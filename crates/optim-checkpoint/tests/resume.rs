//! For every optimizer the registry knows, in float32 and float64, and again with every
//! storage-dtype argument set to bfloat16: 10 steps, save, load in a fresh process, 10
//! more steps gives params and state bit-identical to 20 steps without a break.
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
        opt.step_with(p, &g, s, &Extra::value(value))?;
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
    fn visit<T: Transformation<F> + Hyperparams + std::fmt::Debug>(
        self,
        opt: T,
    ) -> Result<(), Error>
    where
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
                let meta = checkpoint::load(self.file("first"), &opt, &mut p, &mut s)?;
                assert_eq!(meta.step, 10, "{}", self.key);
                run(&opt, &mut p, &mut s, 10, 10)?;
                checkpoint::save(self.file("resumed"), &opt, &p, &s)
            }
        }
    }
}

/// A case: its key, the registry name, the params' dtype and the arguments.
type Spec = (String, &'static str, &'static str, Vec<(String, Value)>);

/// Every case.
fn cases() -> Vec<Spec> {
    let mut out = Vec::new();
    for name in registry::names() {
        let mut args = required_args(name);
        if arg_names(name, &args)
            .iter()
            .any(|n| n == "min_dim_size_to_factor")
        {
            args.push(("min_dim_size_to_factor".into(), Value::Num(2.0)));
        }
        for dtype in ["f32", "f64"] {
            out.push((format!("{name}-{dtype}"), name, dtype, args.clone()));
        }
        // Every storage-dtype argument at bfloat16, with min_dim_size_to_factor low
        // enough that adafactor factors the matrices.
        let names = dtype_args(name, &args);
        if !names.is_empty() {
            let mut a = args.clone();
            for n in names {
                a.push((n, Value::Str("bfloat16".into())));
            }
            out.push((format!("{name}-f32-bf16"), name, "f32", a));
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

fn run_case(
    dir: &Path,
    phase: Phase,
    key: &str,
    name: &str,
    dtype: &str,
    args: Vec<(String, Value)>,
) -> Result<(), Error> {
    let case = Case {
        dir,
        key: key.to_string(),
        phase,
    };
    match dtype {
        "f32" => registry::by_name::<f32, _>(name, args, case)?,
        _ => registry::by_name::<f64, _>(name, args, case)?,
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
    for (key, name, dtype, args) in &cases {
        run_case(&dir, Phase::Parent, key, name, dtype, args.clone())
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
        if meta.step != 20 {
            bad.push(format!("{key}: step {} after resuming", meta.step));
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
    for (key, name, dtype, args) in cases() {
        run_case(&dir, Phase::Child, &key, name, dtype, args)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}
