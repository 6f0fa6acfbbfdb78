//! One optimizer step on a burn module of about 10M float32 params (a 3162x3162 linear
//! layer with its bias): optim's AdamW through `optim_burn::Optim` (which moves the params'
//! and gradients' buffers into its trees and back) against burn's own AdamW, on the ndarray
//! CPU backend, same gradients, same run. The gradients are computed in the untimed setup
//! of each iteration (burn's step consumes them).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::cell::RefCell;

fn grads(m: &Linear, x: &Tensor<2>) -> GradientsParams {
    let loss = m.forward(x.clone()).powi_scalar(2).mean();
    GradientsParams::from_grads(loss.backward(), m)
}

fn bench(c: &mut Criterion) {
    let device = Device::default().autodiff();
    let model: Linear = LinearConfig::new(3162, 3162).init(&device);
    eprintln!("params: {}", model.num_params());
    let x = Tensor::<2>::ones([4, 3162], &device);
    let mut g = c.benchmark_group("burn step, 10.0M f32 params");
    g.sample_size(10);
    let ours = RefCell::new(Some(model.clone()));
    let mut opt = optim_burn::Optim::new(optim_core::adamw(1e-4).weight_decay(1e-4));
    g.bench_function("optim adamw (moves in and out)", |b| {
        b.iter_batched(
            || grads(ours.borrow().as_ref().expect("model"), &x),
            |gr| {
                let m = ours.borrow_mut().take().expect("model");
                *ours.borrow_mut() = Some(opt.step(m, gr).unwrap());
            },
            BatchSize::PerIteration,
        )
    });
    let theirs = RefCell::new(Some(model));
    let mut adamw = AdamWConfig::new().with_weight_decay(1e-4).init();
    g.bench_function("burn AdamW", |b| {
        b.iter_batched(
            || grads(theirs.borrow().as_ref().expect("model"), &x),
            |gr| {
                let m = theirs.borrow_mut().take().expect("model");
                *theirs.borrow_mut() = Some(adamw.step(1e-4, m, gr));
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
