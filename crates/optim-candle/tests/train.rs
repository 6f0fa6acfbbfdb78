//! A small candle MLP trained through `Optim` matches the same optimizer run on plain
//! optim trees with the same gradients, bit for bit (the adapter copies and reorders
//! nothing); AdamW agrees with candle's own AdamW to rounding; a run saved and resumed
//! through the adapter matches an uninterrupted one; and bad vars are errors naming them.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Module, Optimizer, VarBuilder, VarMap};
use optim_candle::{Optim, Optim64};
use optim_core::{Tensor as OTensor, TensorMap, Transformation};

struct Mlp {
    l1: candle_nn::Linear,
    l2: candle_nn::Linear,
}

fn mlp(varmap: &VarMap) -> Mlp {
    let vb = VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu);
    Mlp {
        l1: candle_nn::linear(4, 8, vb.pp("l1")).unwrap(),
        l2: candle_nn::linear(8, 3, vb.pp("l2")).unwrap(),
    }
}

/// A fixed batch: 16 points of 4 features, 3 classes.
fn batch() -> (Tensor, Tensor) {
    let x: Vec<f32> = (0..64)
        .map(|i| ((i * 37 % 17) as f32 / 8.0) - 1.0)
        .collect();
    let y: Vec<u32> = (0..16).map(|i| (i * 7 % 3) as u32).collect();
    (
        Tensor::from_vec(x, (16, 4), &Device::Cpu).unwrap(),
        Tensor::from_vec(y, 16, &Device::Cpu).unwrap(),
    )
}

fn loss(m: &Mlp, x: &Tensor, y: &Tensor) -> Tensor {
    let h = m.l1.forward(x).unwrap().relu().unwrap();
    let logits = m.l2.forward(&h).unwrap();
    candle_nn::loss::cross_entropy(&logits, y).unwrap()
}

/// The varmap's tensors as an optim tree, by name.
fn as_tree(varmap: &VarMap) -> TensorMap<f32> {
    let data = varmap.data().lock().unwrap();
    data.iter()
        .map(|(k, v)| (k.clone(), to_tensor(v.as_tensor())))
        .collect()
}

fn to_tensor(t: &Tensor) -> OTensor<f32> {
    let data = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    OTensor::new(t.dims().to_vec(), data).unwrap()
}

fn bits(t: &TensorMap<f32>) -> Vec<(String, Vec<u32>)> {
    t.iter()
        .map(|(k, v)| (k.clone(), v.data().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

#[test]
fn a_candle_run_equals_the_plain_optim_run_bit_for_bit() {
    let (x, y) = batch();
    for opt in [
        optim_core::adamw(1e-2).weight_decay(1e-3),
        optim_core::adamw(3e-2).mu_dtype(optim_core::Dtype::BF16),
    ] {
        let varmap = VarMap::new();
        let model = mlp(&varmap);
        let mut plain = as_tree(&varmap);
        let mut plain_state = opt.init(&plain).unwrap();
        let mut adapter = Optim::from_varmap(&varmap, opt.clone()).unwrap();
        let first = loss(&model, &x, &y).to_scalar::<f32>().unwrap();
        for step in 0..20 {
            let l = loss(&model, &x, &y);
            let grads = l.backward().unwrap();
            let g: TensorMap<f32> = adapter
                .names()
                .iter()
                .zip(adapter.vars())
                .map(|(n, v)| (n.clone(), to_tensor(grads.get(v.as_tensor()).unwrap())))
                .collect();
            opt.step(&mut plain, &g, &mut plain_state).unwrap();
            adapter.step(&grads).unwrap();
            assert_eq!(bits(&as_tree(&varmap)), bits(&plain), "step {step}");
        }
        assert_eq!(adapter.state(), &plain_state);
        let last = loss(&model, &x, &y).to_scalar::<f32>().unwrap();
        assert!(last < 0.8 * first, "loss {first} -> {last}");
    }
}

#[test]
fn adamw_agrees_with_candles_own_adamw() {
    let (x, y) = batch();
    let run = |ours: bool| {
        let varmap = VarMap::new();
        let model = mlp(&varmap);
        // Both runs start from the same weights.
        for (k, v) in varmap.data().lock().unwrap().iter() {
            let n = v.elem_count();
            let seed = k.len() as f32;
            let w: Vec<f32> = (0..n)
                .map(|i| ((i as f32 + seed) * 0.37).sin() * 0.3)
                .collect();
            v.set(&Tensor::from_vec(w, v.dims(), &Device::Cpu).unwrap())
                .unwrap();
        }
        if ours {
            let mut opt =
                Optim::from_varmap(&varmap, optim_core::adamw(1e-2).weight_decay(0.01)).unwrap();
            for _ in 0..30 {
                opt.backward_step(&loss(&model, &x, &y)).unwrap();
            }
        } else {
            let params = candle_nn::ParamsAdamW {
                lr: 1e-2,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
            };
            let mut opt = candle_nn::AdamW::new(varmap.all_vars(), params).unwrap();
            for _ in 0..30 {
                opt.backward_step(&loss(&model, &x, &y)).unwrap();
            }
        }
        as_tree(&varmap)
    };
    let (a, b) = (run(true), run(false));
    for (k, t) in &a {
        for (p, q) in t.data().iter().zip(b[k].data()) {
            assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{k}: {p} vs {q}");
        }
    }
}

#[test]
fn a_run_saved_and_resumed_through_the_adapter_matches() {
    let (x, y) = batch();
    let opt = optim_core::adamw(1e-2);
    let file =
        std::env::temp_dir().join(format!("optim-candle-{}.safetensors", std::process::id()));
    // Uninterrupted: 10 steps.
    let varmap = VarMap::new();
    let model = mlp(&varmap);
    let start = as_tree(&varmap);
    let mut a = Optim::from_varmap(&varmap, opt.clone()).unwrap();
    for i in 0..10 {
        a.backward_step(&loss(&model, &x, &y)).unwrap();
        if i == 4 {
            a.save(&file).unwrap();
        }
    }
    let whole = as_tree(&varmap);
    // Resumed: another model of other weights loads the checkpoint of step 5.
    let varmap2 = VarMap::new();
    let model2 = mlp(&varmap2);
    assert_ne!(bits(&as_tree(&varmap2)), bits(&start));
    let mut b = Optim::from_varmap(&varmap2, opt).unwrap();
    let meta = b.load(&file).unwrap();
    assert_eq!((meta.optimizer.as_str(), meta.step), ("adamw", 5));
    for _ in 5..10 {
        b.backward_step(&loss(&model2, &x, &y)).unwrap();
    }
    assert_eq!(bits(&as_tree(&varmap2)), bits(&whole));
    assert_eq!(a.state(), b.state());
    std::fs::remove_file(&file).ok();
}

#[test]
fn bad_vars_are_errors_that_name_them() {
    let w = Var::new(&[1f32, 2.0], &Device::Cpu).unwrap();
    let d = Var::new(&[1f64, 2.0], &Device::Cpu).unwrap();
    let e = Optim::with_names(
        vec!["w".into(), "d".into()],
        vec![w.clone(), d],
        optim_core::sgd(0.1),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("var `d` has dtype F64"), "{e}");
    // A var the loss does not reach has no gradient: an error, and nothing changes.
    let unused = Var::new(&[5f32], &Device::Cpu).unwrap();
    let mut opt = Optim::with_names(
        vec!["u".into(), "w".into()],
        vec![unused, w.clone()],
        optim_core::sgd(0.1),
    )
    .unwrap();
    let e = opt.backward_step(&w.as_tensor().sqr().unwrap().sum_all().unwrap());
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("var `u` has no gradient"));
    assert_eq!(w.as_tensor().to_vec1::<f32>().unwrap(), [1.0, 2.0]);
    // f64 vars work with an f64 optimizer.
    let d = Var::new(&[1f64, 2.0], &Device::Cpu).unwrap();
    let mut opt =
        Optim64::with_names(vec!["d".into()], vec![d.clone()], optim_core::sgd(0.25)).unwrap();
    opt.backward_step(&d.as_tensor().sqr().unwrap().sum_all().unwrap())
        .unwrap();
    assert_eq!(d.as_tensor().to_vec1::<f64>().unwrap(), [0.5, 1.0]);
    // The learning rate is set through the optimizer's argument.
    opt.set_learning_rate(0.5);
    assert_eq!(opt.learning_rate(), 0.5);
    opt.backward_step(&d.as_tensor().sqr().unwrap().sum_all().unwrap())
        .unwrap();
    assert_eq!(d.as_tensor().to_vec1::<f64>().unwrap(), [0.0, 0.0]);
}
