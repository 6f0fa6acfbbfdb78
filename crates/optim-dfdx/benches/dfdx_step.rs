//! One optimizer step on a dfdx model of about 10M f32 params (two 2048x2048 layers and a
//! 2048x1024 one, with biases): optim's AdamW through `optim_dfdx::Optim` (which copies
//! params and gradients out and the params back) against dfdx's own Adam with decoupled
//! weight decay, same gradients, same run.

use criterion::{criterion_group, criterion_main, Criterion};
use dfdx::optim::{Adam, AdamConfig, Optimizer, WeightDecay};
use dfdx::prelude::*;

type Model = (
    Linear<2048, 2048>,
    ReLU,
    Linear<2048, 2048>,
    ReLU,
    Linear<2048, 1024>,
);

fn bench(c: &mut Criterion) {
    let dev: Cpu = Default::default();
    let model = dev.build_module::<Model, f32>();
    eprintln!("params: {}", model.num_trainable_params());
    let x: Tensor<Rank2<4, 2048>, f32, Cpu> = dev.ones();
    let g = model.alloc_grads();
    let grads = model.forward(x.trace(g)).square().mean().backward();
    let mut g = c.benchmark_group("dfdx step, 10.5M f32 params");
    g.sample_size(20);
    let mut ours = model.clone();
    let mut opt = optim_dfdx::Optim::new(optim_core::adamw(1e-4));
    g.bench_function("optim adamw (copies in and out)", |b| {
        b.iter(|| opt.update(&mut ours, &grads).unwrap())
    });
    let mut theirs = model.clone();
    let mut adam = Adam::new(
        &theirs,
        AdamConfig {
            lr: 1e-4,
            weight_decay: Some(WeightDecay::Decoupled(1e-4)),
            ..Default::default()
        },
    );
    g.bench_function("dfdx Adam (decoupled weight decay)", |b| {
        b.iter(|| adam.update(&mut theirs, &grads).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
