//! A small dfdx MLP trained through the adapter matches the same optimizer on plain
//! optim trees with the same gradients, bit for bit (the copies are exact); AdamW agrees
//! with dfdx's own Adam with decoupled weight decay to rounding; a run saved and resumed
//! through the adapter matches; missing gradients are an error naming the param.

use dfdx::optim::{Adam, AdamConfig, Optimizer, WeightDecay};
use dfdx::prelude::*;
use optim_core::{Tensor as OTensor, TensorMap, Transformation};

type Model = (Linear<4, 8>, ReLU, Linear<8, 3>);

fn batch(
    dev: &Cpu,
) -> (
    Tensor<Rank2<16, 4>, f32, Cpu>,
    Tensor<Rank2<16, 3>, f32, Cpu>,
) {
    let x: Vec<f32> = (0..64)
        .map(|i| ((i * 37 % 17) as f32 / 8.0) - 1.0)
        .collect();
    let mut y = vec![0f32; 48];
    for r in 0..16 {
        y[r * 3 + (r * 7 % 3)] = 1.0;
    }
    (
        dev.tensor_from_vec(x, Rank2::<16, 4>::default()),
        dev.tensor_from_vec(y, Rank2::<16, 3>::default()),
    )
}

fn leaf<S: Shape>(t: &Tensor<S, f32, Cpu>) -> OTensor<f32> {
    OTensor::new(
        t.shape().concrete().into_iter().collect::<Vec<_>>(),
        t.as_vec(),
    )
    .unwrap()
}

fn as_tree(m: &DeviceModel) -> TensorMap<f32> {
    [
        ("0.weight", leaf(&m.0.weight)),
        ("0.bias", leaf(&m.0.bias)),
        ("2.weight", leaf(&m.2.weight)),
        ("2.bias", leaf(&m.2.bias)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

type DeviceModel = <Model as BuildOnDevice<Cpu, f32>>::Built;

fn grads_tree(m: &DeviceModel, g: &Gradients<f32, Cpu>) -> TensorMap<f32> {
    [
        ("0.weight", leaf(&g.get(&m.0.weight))),
        ("0.bias", leaf(&g.get(&m.0.bias))),
        ("2.weight", leaf(&g.get(&m.2.weight))),
        ("2.bias", leaf(&g.get(&m.2.bias))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn bits(t: &TensorMap<f32>) -> Vec<(String, Vec<u32>)> {
    t.iter()
        .map(|(k, v)| (k.clone(), v.data().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

fn grads(model: &DeviceModel, dev: &Cpu) -> (f32, Gradients<f32, Cpu>) {
    let (x, y) = batch(dev);
    let g = model.alloc_grads();
    let loss = cross_entropy_with_logits_loss(model.forward(x.trace(g)), y);
    (loss.array(), loss.backward())
}

#[test]
fn a_dfdx_run_equals_the_plain_optim_run_bit_for_bit() {
    let dev: Cpu = Default::default();
    let opt = optim_core::adamw(1e-2).weight_decay(1e-3);
    let mut model = dev.build_module::<Model, f32>();
    let mut plain = as_tree(&model);
    let mut state = opt.init(&plain).unwrap();
    let mut adapter = optim_dfdx::Optim::new(opt.clone());
    let (first, _) = grads(&model, &dev);
    for step in 0..20 {
        let (_, g) = grads(&model, &dev);
        opt.step(&mut plain, &grads_tree(&model, &g), &mut state)
            .unwrap();
        adapter.update(&mut model, &g).unwrap();
        assert_eq!(bits(&as_tree(&model)), bits(&plain), "step {step}");
    }
    assert_eq!(adapter.state(), Some(&state));
    let (last, _) = grads(&model, &dev);
    assert!(last < 0.8 * first, "loss {first} -> {last}");
}

#[test]
fn adamw_agrees_with_dfdxs_own_adam_with_decoupled_weight_decay() {
    let dev: Cpu = Default::default();
    let start = dev.build_module::<Model, f32>();
    let mut ours = start.clone();
    let mut theirs = start.clone();
    let mut a = optim_dfdx::Optim::new(optim_core::adamw(1e-2).weight_decay(0.01));
    let mut b = Adam::new(
        &theirs,
        AdamConfig {
            lr: 1e-2,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: Some(WeightDecay::Decoupled(0.01)),
        },
    );
    for _ in 0..30 {
        let (_, g) = grads(&ours, &dev);
        a.update(&mut ours, &g).unwrap();
        let (_, g) = grads(&theirs, &dev);
        b.update(&mut theirs, &g).unwrap();
    }
    let (p, q) = (as_tree(&ours), as_tree(&theirs));
    for (k, t) in &p {
        for (x, y) in t.data().iter().zip(q[k].data()) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{k}: {x} vs {y}");
        }
    }
}

#[test]
fn a_run_saved_and_resumed_through_the_adapter_matches() {
    let dev: Cpu = Default::default();
    let opt = optim_core::adamw(1e-2);
    let file = std::env::temp_dir().join(format!("optim-dfdx-{}.safetensors", std::process::id()));
    let mut model = dev.build_module::<Model, f32>();
    let mut a = optim_dfdx::Optim::new(opt.clone());
    for i in 0..10 {
        let (_, g) = grads(&model, &dev);
        a.update(&mut model, &g).unwrap();
        if i == 4 {
            a.save(&file, &model).unwrap();
        }
    }
    let mut other = dev.build_module::<Model, f32>();
    assert_ne!(bits(&as_tree(&other)), bits(&as_tree(&model)));
    let mut b = optim_dfdx::Optim::new(opt);
    let meta = b.load(&file, &mut other).unwrap();
    assert_eq!(meta.step, 5);
    for _ in 5..10 {
        let (_, g) = grads(&other, &dev);
        b.update(&mut other, &g).unwrap();
    }
    assert_eq!(bits(&as_tree(&other)), bits(&as_tree(&model)));
    assert_eq!(a.state(), b.state());
    std::fs::remove_file(&file).ok();
}

#[test]
fn a_missing_gradient_is_an_error_naming_the_param() {
    let dev: Cpu = Default::default();
    let mut model = dev.build_module::<Model, f32>();
    let before = as_tree(&model);
    let mut opt = optim_dfdx::Optim::new(optim_core::sgd(0.1));
    let e = opt.update(&mut model, &Gradients::leaky()).unwrap_err();
    assert!(e.to_string().contains("`0.weight`"), "{e}");
    assert_eq!(bits(&as_tree(&model)), bits(&before));
}
