//! Muon's step, and the part of it that is matrix products, measured in the same run.
//!
//! - One 4096×4096 f32 leaf: the `muon` step; its orthogonalization alone (5 Newton-Schulz
//!   rounds, `orthogonalize`); and the 15 faer matmuls those rounds make (`X·Xᵀ`, `A·A`,
//!   `B·X` per round), called directly on buffers of the same shapes: faer's throughput,
//!   the floor of the iteration.
//! - The GPT-2-small-shaped tree (148 leaves, 124M params, `support::gpt2_tree`): Muon
//!   on the 48 block matrices, AdamW on the rest (the embeddings too, as modded-nanogpt
//!   does; chosen by path with `muon_weight_dimension_numbers`); the same three rows over
//!   those 48 matrices, and AdamW's step on the whole tree for scale.
//!
//! After criterion has measured everything, the bench prints each row's mean time per
//! step and the ratios that matter: Newton-Schulz / faer matmuls (the iteration's
//! overhead beyond its products) and step / Newton-Schulz (what the rest of the step
//! costs). The machine is shared, so compare ratios, not times.

use criterion::{black_box, Criterion};
use faer::{Accum, MatMut, MatRef, Par};
use optim::{
    adamw, muon, orthogonalize, MuonDimensionNumbers, MuonDims, NsScratch, Preconditioning, Tensor,
    TensorMap, Transformation,
};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod support;

const COEFFS: [[f64; 3]; 5] = [[3.4445, -4.7750, 2.0315]; 5];

/// Mean time per iteration of every row, by name, from criterion's own runs.
static MEANS: Mutex<BTreeMap<String, (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn timed(c: &mut Criterion, group: &str, name: &str, mut f: impl FnMut()) {
    let key = format!("{group}/{name}");
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            let d = start.elapsed();
            let mut m = MEANS.lock().unwrap();
            let e = m.entry(key.clone()).or_default();
            e.0 += d;
            e.1 += iters;
            d
        })
    });
    g.finish();
}

fn par() -> Par {
    Par::rayon(rayon::current_num_threads())
}

/// The matrices of one orthogonalization of an `r × c` matrix, in the iteration's
/// orientation (`m ≤ n`).
struct Products {
    m: usize,
    n: usize,
    x: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    y: Vec<f32>,
}

impl Products {
    fn new(r: usize, c: usize) -> Self {
        let (m, n) = (r.min(c), r.max(c));
        let fill = |k: usize| (0..k).map(|i| ((i % 97) as f32 - 48.0) * 1e-3).collect();
        Products {
            m,
            n,
            x: fill(m * n),
            a: fill(m * m),
            b: fill(m * m),
            y: fill(m * n),
        }
    }

    /// The 3 faer matmuls of each of 5 rounds, on these shapes.
    fn run(&mut self) {
        let (m, n) = (self.m, self.n);
        for _ in 0..5 {
            let x = MatRef::from_row_major_slice(&self.x, m, n);
            let a = MatMut::from_row_major_slice_mut(&mut self.a, m, m);
            faer::linalg::matmul::matmul(a, Accum::Replace, x, x.transpose(), 1.0f32, par());
            let a = MatRef::from_row_major_slice(&self.a, m, m);
            let b = MatMut::from_row_major_slice_mut(&mut self.b, m, m);
            faer::linalg::matmul::matmul(b, Accum::Add, a, a, 2.0315f32, par());
            let b = MatRef::from_row_major_slice(&self.b, m, m);
            let y = MatMut::from_row_major_slice_mut(&mut self.y, m, n);
            faer::linalg::matmul::matmul(y, Accum::Add, b, x, 1.0f32, par());
        }
        black_box(&self.y);
    }
}

fn leaf(shape: &[usize], fill: f32) -> Tensor<f32> {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| fill * ((i % 89) as f32 - 44.0) * 1e-3)
        .collect();
    Tensor::new(shape.to_vec(), data).expect("shape")
}

fn big(c: &mut Criterion) {
    let shape = [4096, 4096];
    let mut p: TensorMap<f32> = TensorMap::new();
    p.insert("w".into(), leaf(&shape, 1.0));
    let mut g = TensorMap::new();
    g.insert("w".into(), leaf(&shape, 0.1));
    let opt = muon(0.02);
    let mut s = opt.init(&p).expect("init");
    timed(c, "muon_4096", "step", || {
        opt.step(&mut p, &g, &mut s).expect("step")
    });
    let mut x = leaf(&shape, 0.1).data().to_vec();
    let mut ns = NsScratch::new(4096, 4096);
    timed(c, "muon_4096", "newton_schulz", || {
        black_box(orthogonalize(
            &mut x,
            4096,
            4096,
            &COEFFS,
            Preconditioning::Frobenius,
            1e-8,
            &mut ns,
        ));
    });
    let mut prods = Products::new(4096, 4096);
    timed(c, "muon_4096", "faer_matmuls", || prods.run());
}

fn gpt2(c: &mut Criterion) {
    let (mut p, g) = (support::gpt2_tree(1.0), support::gpt2_tree(0.1));
    let is_matrix = |path: &str, shape: &[usize]| shape.len() == 2 && path.starts_with("h.");
    let opt = muon(0.02).muon_weight_dimension_numbers(MuonDims::by_leaf(move |path, shape| {
        is_matrix(path, shape).then(MuonDimensionNumbers::default)
    }));
    let mut s = opt.init(&p).expect("init");
    timed(c, "muon_gpt2", "step", || {
        opt.step(&mut p, &g, &mut s).expect("step")
    });
    let shapes: Vec<(usize, usize)> = g
        .iter()
        .filter(|(k, t)| is_matrix(k, t.shape()))
        .map(|(_, t)| (t.shape()[0], t.shape()[1]))
        .collect();
    assert_eq!(shapes.len(), 48, "four matrices per block");
    let mut mats: Vec<Vec<f32>> = g
        .iter()
        .filter(|(k, t)| is_matrix(k, t.shape()))
        .map(|(_, t)| t.data().to_vec())
        .collect();
    let mut ns = NsScratch::new(768, 3072);
    timed(c, "muon_gpt2", "newton_schulz", || {
        for (x, &(r, cols)) in mats.iter_mut().zip(&shapes) {
            black_box(orthogonalize(
                x,
                r,
                cols,
                &COEFFS,
                Preconditioning::Frobenius,
                1e-8,
                &mut ns,
            ));
        }
    });
    let mut prods: Vec<Products> = shapes.iter().map(|&(r, c)| Products::new(r, c)).collect();
    timed(c, "muon_gpt2", "faer_matmuls", || {
        prods.iter_mut().for_each(Products::run)
    });
    let (mut p, g) = (support::gpt2_tree(1.0), support::gpt2_tree(0.1));
    let adam = adamw(0.02);
    let mut s = adam.init(&p).expect("init");
    timed(c, "muon_gpt2", "adamw_step", || {
        adam.step(&mut p, &g, &mut s).expect("step")
    });
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    big(&mut c);
    gpt2(&mut c);
    c.final_summary();
    let means = MEANS.lock().unwrap();
    let mean = |k: &str| {
        means
            .get(k)
            .map(|(d, n)| d.as_secs_f64() / (*n).max(1) as f64)
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nmeans from this run ({} threads, load average {})",
        rayon::current_num_threads(),
        load.trim()
    );
    for group in ["muon_4096", "muon_gpt2"] {
        for row in ["step", "newton_schulz", "faer_matmuls", "adamw_step"] {
            if let Some(t) = mean(&format!("{group}/{row}")) {
                println!("{group:<10} {row:<14} {:>10.2} ms", t * 1e3);
            }
        }
        let r = |a: &str, b: &str| {
            Some(mean(&format!("{group}/{a}"))? / mean(&format!("{group}/{b}"))?)
        };
        if let Some(x) = r("newton_schulz", "faer_matmuls") {
            println!("{group:<10} newton_schulz / faer_matmuls = {x:.3}");
        }
        if let Some(x) = r("step", "newton_schulz") {
            println!("{group:<10} step / newton_schulz = {x:.3}");
        }
        if let Some(x) = r("step", "adamw_step") {
            println!("{group:<10} step / adamw_step = {x:.3}");
        }
    }
}
