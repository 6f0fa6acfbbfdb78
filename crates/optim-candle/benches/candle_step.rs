//! One optimizer step on a model of about 10M f32 params (two 2048x2048 layers and a
//! 2048x1024 one, with biases): optim's fused AdamW through `optim_candle::Optim`
//! against candle's own `AdamW`, same gradients, same run.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, Optimizer, VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};

fn model() -> (VarMap, candle_core::backprop::GradStore) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let l1 = candle_nn::linear(2048, 2048, vb.pp("l1")).unwrap();
    let l2 = candle_nn::linear(2048, 2048, vb.pp("l2")).unwrap();
    let l3 = candle_nn::linear(2048, 1024, vb.pp("l3")).unwrap();
    let x = Tensor::ones((4, 2048), DType::F32, &Device::Cpu).unwrap();
    let h = l1.forward(&x).unwrap().relu().unwrap();
    let h = l2.forward(&h).unwrap().relu().unwrap();
    let loss = l3.forward(&h).unwrap().sqr().unwrap().mean_all().unwrap();
    let grads = loss.backward().unwrap();
    (varmap, grads)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("candle step, 10.5M f32 params");
    g.sample_size(20);
    {
        let (varmap, grads) = model();
        let n: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        eprintln!("params: {n}");
        let mut opt = optim_candle::Optim::from_varmap(&varmap, optim_core::adamw(1e-4)).unwrap();
        g.bench_function("optim adamw (fused, in place)", |b| {
            b.iter(|| opt.step(&grads).unwrap())
        });
    }
    {
        let (varmap, grads) = model();
        let params = candle_nn::ParamsAdamW {
            lr: 1e-4,
            weight_decay: 1e-4,
            ..Default::default()
        };
        let mut opt = candle_nn::AdamW::new(varmap.all_vars(), params).unwrap();
        g.bench_function("candle AdamW", |b| b.iter(|| opt.step(&grads).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
