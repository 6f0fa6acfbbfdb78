//! Optimizer step throughput: the `#[optimizer]`-generated fused step against a
//! hand-written fused loop of the same math, in the same run, on one f32 leaf.
//!
//! Memory traffic per element (4-byte f32): Adam/AdamW read p, g, m, v and write p, m, v
//! (28 bytes); Lion and SGD with momentum read p, g, m and write p, m (20 bytes).
//! LAMB (1e7 elements) makes two passes: its per-leaf norms read p, g, m, v, then the
//! Adam pass reads them again and writes p, m, v (44 bytes); its hand-written baseline
//! makes the same two passes.
//! Adafactor (a 4096×2048 leaf plus a 1-d leaf, 1e7 elements in all, default settings)
//! is hand-written in optim-core; its GB/s count the essential 12 bytes per element (read
//! p and g, write p) and its ratio is taken against the hand-written fused Adam loop on
//! the same number of elements, the memory-bound reference.
//! After criterion has measured everything, the bench prints each pair's medians, GB/s
//! and the ratio generated / hand-written.

use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use optim::{adafactor, adam, adamw, lamb, lion, sgd, Tensor, TensorMap, Transformation};
use std::time::Duration;

const SIZES: [usize; 2] = [1_000_000, 10_000_000];
const BIG: usize = 10_000_000;

fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
    let p = (0..n).map(|i| ((i % 997) as f32 - 498.0) * 1e-3).collect();
    let g = (0..n).map(|i| ((i % 991) as f32 - 495.0) * 1e-4).collect();
    (p, g)
}

/// Hand-written fused Adam (optax's formula order), the baseline.
#[allow(clippy::too_many_arguments)]
fn hand_adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], t: i32, lr: f32, wd: f32) {
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let bc1 = 1.0 - b1.powi(t);
    let bc2 = 1.0 - b2.powi(t);
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let gi = g[i];
        m[i] = (1.0 - b1) * gi + b1 * m[i];
        v[i] = (1.0 - b2) * (gi * gi) + b2 * v[i];
        let d = (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps) + wd * p[i];
        p[i] += -lr * d;
    }
}

fn hand_lion(p: &mut [f32], g: &[f32], m: &mut [f32], lr: f32, wd: f32) {
    let (b1, b2) = (0.9f32, 0.99f32);
    let n = p.len();
    let (g, m) = (&g[..n], &mut m[..n]);
    for i in 0..n {
        let c = (1.0 - b1) * g[i] + b1 * m[i];
        let s = if c > 0.0 {
            1.0
        } else if c < 0.0 {
            -1.0
        } else {
            c
        };
        m[i] = (1.0 - b2) * g[i] + b2 * m[i];
        p[i] += -lr * (s + wd * p[i]);
    }
}

/// Hand-written LAMB: a read-only pass for the two norms, then the fused Adam pass.
#[allow(clippy::too_many_arguments)]
fn hand_lamb(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], t: i32, lr: f32, wd: f32) {
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-6f32);
    let bc1 = 1.0 - b1.powi(t);
    let bc2 = 1.0 - b2.powi(t);
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let dir = |gi: f32, pi: f32, mi: f32, vi: f32| {
        let mi = (1.0 - b1) * gi + b1 * mi;
        let vi = (1.0 - b2) * (gi * gi) + b2 * vi;
        ((mi / bc1) / ((vi / bc2).sqrt() + eps) + wd * pi, mi, vi)
    };
    // 8 partial sums over blocks of 8, so the norm pass vectorizes.
    let (mut uu, mut pp) = ([0f64; 8], [0f64; 8]);
    let blocks = n / 8;
    for (((gc, pc), mc), vc) in g
        .chunks_exact(8)
        .zip(p.chunks_exact(8))
        .zip(m.chunks_exact(8))
        .zip(v.chunks_exact(8))
    {
        for l in 0..8 {
            let u = dir(gc[l], pc[l], mc[l], vc[l]).0;
            uu[l] += (u * u) as f64;
            pp[l] += (pc[l] * pc[l]) as f64;
        }
    }
    for i in blocks * 8..n {
        let u = dir(g[i], p[i], m[i], v[i]).0;
        uu[0] += (u * u) as f64;
        pp[0] += (p[i] * p[i]) as f64;
    }
    let (un, pn) = (uu.iter().sum::<f64>().sqrt(), pp.iter().sum::<f64>().sqrt());
    let ratio = if un == 0.0 || pn == 0.0 {
        1.0
    } else {
        (pn / un) as f32
    };
    for i in 0..n {
        let (u, mi, vi) = dir(g[i], p[i], m[i], v[i]);
        m[i] = mi;
        v[i] = vi;
        p[i] += -lr * (u * ratio);
    }
}

fn hand_sgd_momentum(p: &mut [f32], g: &[f32], m: &mut [f32], lr: f32, beta: f32) {
    let n = p.len();
    let (g, m) = (&g[..n], &mut m[..n]);
    for i in 0..n {
        m[i] = g[i] + beta * m[i];
        p[i] += -lr * m[i];
    }
}

fn generated<T: Transformation<f32>>(c: &mut Criterion, name: &str, bytes: u64, opt: T) {
    let mut group = c.benchmark_group(name);
    for n in SIZES {
        group.throughput(Throughput::Bytes(bytes * n as u64));
        let (mut p, g) = data(n);
        let mut s = opt.init(&p).expect("init");
        group.bench_with_input(BenchmarkId::new("generated", n), &n, |b, _| {
            b.iter(|| opt.step(&mut p, black_box(&g), &mut s).expect("step"))
        });
    }
    group.finish();
}

/// A 4096×2048 leaf and a 1-d leaf: 1e7 elements.
fn adafactor_tree() -> (TensorMap<f32>, TensorMap<f32>) {
    let (wp, wg) = data(4096 * 2048);
    let (bp, bg) = data(BIG - 4096 * 2048);
    let tree = |w: Vec<f32>, b: Vec<f32>| {
        let mut t = TensorMap::new();
        t.insert("b".to_string(), Tensor::vector(b));
        t.insert(
            "w".to_string(),
            Tensor::new([4096, 2048], w).expect("shape"),
        );
        t
    };
    (tree(wp, bp), tree(wg, bg))
}

fn big_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("lamb");
    group.throughput(Throughput::Bytes(44 * BIG as u64));
    let opt = lamb(1e-3).weight_decay(1e-2);
    let (mut p, g) = data(BIG);
    let mut s = opt.init(&p).expect("init");
    group.bench_with_input(BenchmarkId::new("generated", BIG), &BIG, |b, _| {
        b.iter(|| opt.step(&mut p, black_box(&g), &mut s).expect("step"))
    });
    let (mut p, g) = data(BIG);
    let (mut m, mut v) = (vec![0.0f32; BIG], vec![0.0f32; BIG]);
    let mut t = 0;
    group.bench_with_input(BenchmarkId::new("hand", BIG), &BIG, |b, _| {
        b.iter(|| {
            t += 1;
            hand_lamb(&mut p, black_box(&g), &mut m, &mut v, t, 1e-3, 1e-2)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("adafactor");
    group.throughput(Throughput::Bytes(12 * BIG as u64));
    let opt = adafactor().learning_rate(1e-3);
    let (mut p, g) = adafactor_tree();
    let mut s = opt.init(&p).expect("init");
    group.bench_with_input(BenchmarkId::new("generated", BIG), &BIG, |b, _| {
        b.iter(|| opt.step(&mut p, black_box(&g), &mut s).expect("step"))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    generated(c, "adam", 28, adam(1e-3));
    generated(c, "adamw", 28, adamw(1e-3));
    generated(c, "lion", 20, lion(1e-4));
    generated(c, "sgd_momentum", 20, sgd(1e-3).momentum(0.9));

    for (name, bytes) in [
        ("adam", 28u64),
        ("adamw", 28),
        ("lion", 20),
        ("sgd_momentum", 20),
    ] {
        let mut group = c.benchmark_group(name);
        for n in SIZES {
            group.throughput(Throughput::Bytes(bytes * n as u64));
            let (mut p, g) = data(n);
            let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
            let mut t = 0;
            group.bench_with_input(BenchmarkId::new("hand", n), &n, |b, _| {
                b.iter(|| {
                    t += 1;
                    match name {
                        "adam" => hand_adam(&mut p, black_box(&g), &mut m, &mut v, t, 1e-3, 0.0),
                        "adamw" => hand_adam(&mut p, black_box(&g), &mut m, &mut v, t, 1e-3, 1e-4),
                        "lion" => hand_lion(&mut p, black_box(&g), &mut m, 1e-4, 1e-3),
                        _ => hand_sgd_momentum(&mut p, black_box(&g), &mut m, 1e-3, 0.9),
                    }
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = step;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches, big_benches
}

/// Reads criterion's median estimate (ns per iteration) for one benchmark.
fn median_ns(group: &str, kind: &str, n: usize) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/{group}/{kind}/{n}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    step();
    Criterion::default().configure_from_args().final_summary();
    println!("\nmedians from this run (generated = #[optimizer] step, hand = hand-written loop):");
    println!(
        "{:<14} {:>10} {:>12} {:>12} {:>10} {:>10} {:>8}",
        "optimizer", "elements", "generated", "hand", "gen GB/s", "hand GB/s", "ratio"
    );
    let rows = [
        ("adam", 28.0, "adam"),
        ("adamw", 28.0, "adamw"),
        ("lion", 20.0, "lion"),
        ("sgd_momentum", 20.0, "sgd_momentum"),
        ("lamb", 44.0, "lamb"),
        // Adafactor has no generated/hand pair: its "hand" column is the fused Adam loop.
        ("adafactor", 12.0, "adam"),
    ];
    for (name, bytes, base) in rows {
        for n in SIZES {
            if let (Some(a), Some(b)) =
                (median_ns(name, "generated", n), median_ns(base, "hand", n))
            {
                let gbs = |ns: f64| bytes * n as f64 / ns;
                println!(
                    "{name:<14} {n:>10} {:>10.3}ms {:>10.3}ms {:>10.2} {:>10.2} {:>8.3}",
                    a / 1e6,
                    b / 1e6,
                    gbs(a),
                    gbs(b),
                    a / b
                );
            }
        }
    }
}
