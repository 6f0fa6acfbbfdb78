//! Training a small burn MLP with optim's adamw gives, bit for bit, the params of the same
//! optimizer run on plain optim trees with the same gradients; a checkpoint resumes into a
//! module built anew (new `ParamId`s) exactly; a missing gradient is an error naming the
//! param. The per-parameter adapter (`PerTensor`, driven by burn's `ModuleOptimizer`) gives the
//! same bits; its records resume exactly; a failing step leaves the params and reports why.
//! A step moves the buffers out of the module and back, and copies those a clone shares.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use optim_core::{adamw, Error, Tensor as Leaf, TensorMap, Transformation};

#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    out: Linear,
    act: Relu,
}

fn device() -> Device {
    Device::default().autodiff()
}

fn model() -> Mlp {
    let d = device();
    Mlp {
        hidden: LinearConfig::new(3, 8).init(&d),
        out: LinearConfig::new(8, 2).init(&d),
        act: Relu::new(),
    }
}

impl Mlp {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(self.act.forward(self.hidden.forward(x)))
    }

    /// The params by path, read back from burn.
    fn tree(&self) -> TensorMap<f32> {
        let mut m = TensorMap::new();
        let mut put = |name: &str, t: Tensor<2>| {
            let shape = t.shape().to_vec();
            let data = t.into_data().try_to_vec::<f32>().expect("float32");
            m.insert(name.into(), Leaf::new(shape, data).expect("consistent"));
        };
        put("hidden.weight", self.hidden.weight.val());
        put("out.weight", self.out.weight.val());
        let mut put1 = |name: &str, t: Tensor<1>| {
            let shape = t.shape().to_vec();
            let data = t.into_data().try_to_vec::<f32>().expect("float32");
            m.insert(name.into(), Leaf::new(shape, data).expect("consistent"));
        };
        put1(
            "hidden.bias",
            self.hidden.bias.as_ref().expect("bias").val(),
        );
        put1("out.bias", self.out.bias.as_ref().expect("bias").val());
        m
    }

    /// The gradients by path, read from `grads` by each param's id.
    fn grads_tree(&self, grads: &GradientsParams) -> TensorMap<f32> {
        let mut m = TensorMap::new();
        for (name, id, rank) in [
            ("hidden.weight", self.hidden.weight.id, 2),
            ("out.weight", self.out.weight.id, 2),
            (
                "hidden.bias",
                self.hidden.bias.as_ref().expect("bias").id,
                1,
            ),
            ("out.bias", self.out.bias.as_ref().expect("bias").id, 1),
        ] {
            let (shape, data) = if rank == 2 {
                let g = grads.get::<2>(id).expect("gradient");
                (g.shape().to_vec(), g.into_data().try_to_vec::<f32>())
            } else {
                let g = grads.get::<1>(id).expect("gradient");
                (g.shape().to_vec(), g.into_data().try_to_vec::<f32>())
            };
            let leaf = Leaf::new(shape, data.expect("float32")).expect("consistent");
            m.insert(name.into(), leaf);
        }
        m
    }
}

fn batch(t: usize) -> (Tensor<2>, Tensor<2>) {
    let d = device();
    let x: Vec<f32> = (0..12).map(|i| ((i * 7 + t) as f32 * 0.37).sin()).collect();
    let y: Vec<f32> = (0..8).map(|i| ((i * 3 + t) as f32 * 0.21).cos()).collect();
    (
        Tensor::<1>::from_floats(x.as_slice(), &d).reshape([4, 3]),
        Tensor::<1>::from_floats(y.as_slice(), &d).reshape([4, 2]),
    )
}

fn grads_of(m: &Mlp, t: usize) -> GradientsParams {
    let (x, y) = batch(t);
    let loss = (m.forward(x) - y).powi_scalar(2).mean();
    GradientsParams::from_grads(loss.backward(), m)
}

#[test]
fn steps_equal_the_same_optimizer_on_plain_optim_trees_bit_for_bit() {
    let opt = adamw(1e-2).weight_decay(0.1);
    let mut m = model();
    let mut reference = m.tree();
    let mut state = opt.init(&reference).unwrap();
    let mut adapter = optim_burn::Optim::new(opt.clone());
    let before = m.tree();
    for t in 0..10 {
        let grads = grads_of(&m, t);
        opt.step(&mut reference, &m.grads_tree(&grads), &mut state)
            .unwrap();
        m = adapter.step(m, grads).unwrap();
        assert_eq!(m.tree(), reference, "step {t}");
    }
    assert_ne!(m.tree(), before, "training moved nothing");
    assert_eq!(adapter.state(), Some(&state));
    assert_eq!(
        adapter.names(),
        ["hidden.bias", "hidden.weight", "out.bias", "out.weight"]
    );
}

#[test]
fn a_checkpoint_resumes_into_a_module_built_anew() {
    let opt = adamw(1e-2);
    let file = std::env::temp_dir().join(format!("optim-burn-{}.safetensors", std::process::id()));
    let mut m = model();
    let mut a = optim_burn::Optim::new(opt.clone());
    for t in 0..5 {
        let g = grads_of(&m, t);
        m = a.step(m, g).unwrap();
    }
    a.save(&file, &m).unwrap();
    for t in 5..10 {
        let g = grads_of(&m, t);
        m = a.step(m, g).unwrap();
    }
    // A fresh module (other initial values, new ParamIds) and a fresh adapter.
    let mut r = model();
    assert_ne!(r.tree(), m.tree());
    let mut b = optim_burn::Optim::new(opt);
    let (loaded, meta) = b.load(&file, r).unwrap();
    r = loaded;
    assert_eq!(meta.step, 5);
    for t in 5..10 {
        let g = grads_of(&r, t);
        r = b.step(r, g).unwrap();
    }
    assert_eq!(r.tree(), m.tree());
    assert_eq!(b.state(), a.state());
    std::fs::remove_file(&file).ok();
}

#[test]
fn a_missing_gradient_is_an_error_naming_the_param() {
    let m = model();
    // A loss of the hidden layer alone: `out` gets no gradient.
    let (x, _) = batch(0);
    let loss = m.hidden.forward(x).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &m);
    let mut a = optim_burn::Optim::new(adamw(1e-2));
    let e = a.step(m, grads).unwrap_err();
    assert!(
        matches!(&e, Error::MissingLeaf { path, .. } if path.starts_with("out.")),
        "{e}"
    );
    assert!(a.state().is_none(), "a failed first step built a state");
}

#[test]
fn burns_module_optimizer_drives_any_optim_transformation_bit_for_bit() {
    use burn::optim::ModuleOptimizer;
    // burn's rate multiplies the updates of a transformation built with rate 1.0.
    let lr = 1e-2;
    let reference_opt = adamw(lr).weight_decay(0.1);
    let per_tensor = optim_burn::PerTensor::new(adamw(1.0).weight_decay(0.1));
    let mut burn_opt = ModuleOptimizer::from(per_tensor.clone());
    let mut m = model();
    let mut reference = m.tree();
    let mut state = reference_opt.init(&reference).unwrap();
    let before = m.tree();
    for t in 0..10 {
        let grads = grads_of(&m, t);
        reference_opt
            .step(&mut reference, &m.grads_tree(&grads), &mut state)
            .unwrap();
        m = burn_opt.step(lr, m, grads);
        assert!(per_tensor.take_errors().is_empty());
        assert_eq!(m.tree(), reference, "step {t}");
    }
    assert_ne!(m.tree(), before, "training moved nothing");
}

#[test]
fn burns_records_of_the_per_tensor_state_resume_exactly() {
    use burn::optim::ModuleOptimizer;
    let per_tensor = optim_burn::PerTensor::new(adamw(1.0));
    let mut a = ModuleOptimizer::from(per_tensor.clone());
    let mut m = model();
    for t in 0..5 {
        let g = grads_of(&m, t);
        m = a.step(1e-2, m, g);
    }
    let bytes = a.into_bytes().unwrap();
    let mut resumed = m.clone();
    for t in 5..10 {
        let g = grads_of(&m, t);
        m = a.step(1e-2, m, g);
    }
    // A fresh burn optimizer from the record (the module keeps its ParamIds, as one
    // loaded from burn's own module record does).
    let mut b = ModuleOptimizer::from(optim_burn::PerTensor::new(adamw(1.0)))
        .from_bytes(bytes)
        .unwrap();
    for t in 5..10 {
        let g = grads_of(&resumed, t);
        resumed = b.step(1e-2, resumed, g);
    }
    assert_eq!(resumed.tree(), m.tree());
    assert!(per_tensor.take_errors().is_empty());
}

#[test]
fn a_failing_per_tensor_step_leaves_the_param_and_reports_why() {
    use burn::optim::ModuleOptimizer;
    // polyak_sgd reads the objective value, which burn's trait cannot pass.
    let per_tensor = optim_burn::PerTensor::new(optim_core::polyak_sgd());
    let mut opt = ModuleOptimizer::from(per_tensor.clone());
    let m = model();
    let before = m.tree();
    let g = grads_of(&m, 0);
    let m = opt.step(1e-2, m, g);
    assert_eq!(m.tree(), before, "a failed step changed a param");
    let errors = per_tensor.take_errors();
    assert_eq!(errors.len(), 4, "one error per param: {errors:?}");
    assert!(errors[0].to_string().contains("value"), "{}", errors[0]);
    assert!(per_tensor.take_errors().is_empty(), "errors are taken once");
}

/// A step moves each param's buffer out of the module and back; a clone of the module
/// shares those buffers, so they must be copied instead: the clone keeps its values,
/// and the stepped module still equals the plain-tree reference.
#[test]
fn a_step_leaves_a_clone_of_the_module_unchanged() {
    let opt = adamw(1e-2);
    let mut m = model();
    let mut reference = m.tree();
    let mut state = opt.init(&reference).unwrap();
    let mut adapter = optim_burn::Optim::new(opt.clone());
    for t in 0..3 {
        let kept = m.clone();
        let kept_values = kept.tree();
        let grads = grads_of(&m, t);
        opt.step(&mut reference, &m.grads_tree(&grads), &mut state)
            .unwrap();
        m = adapter.step(m, grads).unwrap();
        assert_eq!(kept.tree(), kept_values, "step {t}: the clone changed");
        assert_ne!(kept.tree(), m.tree(), "step {t}: the step moved nothing");
        assert_eq!(m.tree(), reference, "step {t}");
    }
}
