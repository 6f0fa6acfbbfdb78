//! Forward + backward of a 784-256-10 MLP (ReLU, mean softmax cross-entropy) on a batch of
//! 128, f32: optim's autodiff against dfdx 0.13 on the same weights and batch, in the
//! same run.
//!
//! Both sides run their steady-state training idiom: ours resets one `Graph` per
//! iteration, returns the gradients as a `TensorMap` and takes their buffers back with
//! `Graph::recycle`, so no tensor storage is allocated; dfdx
//! reuses one `Gradients` (`zero_grads`, then `traced`). dfdx's matmul is the `gemm`
//! crate with rayon over every core; `dfdx_1thread` runs the same code inside a
//! one-thread rayon pool, for a comparison at equal parallelism. After criterion has
//! measured everything, the bench prints the medians and the ratios ours / dfdx.

use criterion::{black_box, criterion_group, Criterion};
use dfdx::prelude::*;
use optim::autodiff::objectives::{MlpClassifier, Objective};
use optim::autodiff::Graph;
use optim::{Tensor as OTensor, TensorMap};
use std::time::Duration;

const N: usize = 128;
const D: usize = 784;
const H: usize = 256;
const C: usize = 10;

type Model = (Linear<D, H>, ReLU, Linear<H, C>);

/// A deterministic batch and labels, and our MLP objective on them.
fn problem() -> MlpClassifier<f32> {
    let x: Vec<f32> = (0..N * D)
        .map(|i| optim::noise::normal(7, 0, 0, i) as f32)
        .collect();
    let labels: Vec<usize> = (0..N).map(|i| (i * 7 + 3) % C).collect();
    let x = OTensor::new([N, D], x).expect("shape matches");
    MlpClassifier::new(x, &labels, &[D, H, C]).expect("valid sizes")
}

/// `[rows, cols]` row-major -> `[cols, rows]` row-major.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .flat_map(|j| (0..rows).map(move |i| x[i * cols + j]))
        .collect()
}

type DfdxModel = <Model as BuildOnDevice<Cpu, f32>>::Built;

/// dfdx's model with our initial weights, the batch, and the one-hot targets.
fn dfdx_problem(
    dev: &Cpu,
    mlp: &MlpClassifier<f32>,
    params: &TensorMap<f32>,
) -> (
    DfdxModel,
    dfdx::tensor::Tensor<Rank2<N, D>, f32, Cpu>,
    dfdx::tensor::Tensor<Rank2<N, C>, f32, Cpu>,
) {
    let mut model = dev.build_module::<Model, f32>();
    model.0.weight =
        dev.tensor_from_vec(transpose(params["layer0.w"].data(), D, H), (Const, Const));
    model.0.bias = dev.tensor_from_vec(params["layer0.b"].data().to_vec(), (Const,));
    model.2.weight =
        dev.tensor_from_vec(transpose(params["layer1.w"].data(), H, C), (Const, Const));
    model.2.bias = dev.tensor_from_vec(params["layer1.b"].data().to_vec(), (Const,));
    let x = dev.tensor_from_vec(mlp.features().data().to_vec(), (Const, Const));
    let mut onehot = vec![0.0f32; N * C];
    for (r, &l) in mlp.labels().iter().enumerate() {
        onehot[r * C + l] = 1.0;
    }
    let y = dev.tensor_from_vec(onehot, (Const, Const));
    (model, x, y)
}

fn benches(c: &mut Criterion) {
    let mlp = problem();
    let params = mlp.init();
    let mut group = c.benchmark_group("mlp_784_256_10_b128");

    let mut g = Graph::new();
    group.bench_function("ours", |b| {
        b.iter(|| {
            let (loss, grads) = mlp.value_and_grad_in(&mut g, &params).expect("valid");
            black_box((loss, grads.len()));
            g.recycle(grads);
        })
    });

    let dev: Cpu = Default::default();
    let (model, x, y) = dfdx_problem(&dev, &mlp, &params);
    let mut grads = Some(model.alloc_grads());
    let mut dfdx_step = || {
        let mut gr = grads.take().expect("gradients are put back");
        model.zero_grads(&mut gr);
        let logits = model.forward(x.clone().traced(gr));
        let loss = cross_entropy_with_logits_loss(logits, y.clone());
        let value = loss.array();
        let gr = loss.backward();
        black_box(value);
        black_box(gr.get(&model.0.weight).as_vec().len());
        grads = Some(gr);
    };
    group.bench_function("dfdx", |b| b.iter(&mut dfdx_step));
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    group.bench_function("dfdx_1thread", |b| b.iter(|| one.install(&mut dfdx_step)));
    group.finish();
}

criterion_group! {
    name = autodiff;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = benches
}

/// Reads criterion's median estimate (ns per iteration) for one benchmark.
fn median_ns(kind: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/mlp_784_256_10_b128/{kind}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    autodiff();
    Criterion::default().configure_from_args().final_summary();
    println!("\nmedians from this run, forward + backward, 784-256-10 MLP, batch 128, f32:");
    let ours = median_ns("ours");
    for kind in ["ours", "dfdx", "dfdx_1thread"] {
        if let Some(t) = median_ns(kind) {
            let ratio = match ours {
                Some(o) if kind != "ours" => format!("  ours/{kind} = {:.3}", o / t),
                _ => String::new(),
            };
            println!("{kind:<14} {:>9.3} ms{ratio}", t / 1e6);
        }
    }
}
