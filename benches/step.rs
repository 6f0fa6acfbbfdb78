//! Optimizer step throughput, every comparison measured in the same run.
//!
//! - Adam, AdamW, SGD with momentum, Lion, and Adam with a bfloat16 first moment and with
//!   both moments bfloat16, on one f32 leaf of 1e6, 1e7 and 5e7 elements, on 1 and 2 threads: the `#[optimizer]` step
//!   against a hand-written fused loop of the same math on the same thread count (cut
//!   into the same 32Ki-element chunks), and against an in-place STREAM-like kernel with
//!   the same read/write mix (the bandwidth a step of that mix can reach here), each
//!   measured right after the generated step at the same size and thread count.
//! - A GPT-2-small-shaped tree (148 leaves, 124M params) with AdamW.
//! - Per-leaf overhead: 1,000 leaves of 1,000 elements and 10,000 of 100, against one
//!   leaf of the same 1e6 elements.
//! - dfdx 0.13's Adam on the same flat buffer.
//! - LAMB (two passes) and Adafactor (hand-written) at 1e7 against the fused Adam loop.
//! - Each generated step again from the baseline x86-64 build of its loops (4 lanes;
//!   by default steps run the widest build the CPU has: AVX-512 or AVX2). The
//!   hand-written loops and bandwidth kernels are built as the default generated step is.
//! - Interleaved pairs, after criterion (`pairs`): bf16 against f32 state, the AVX-512
//!   build against the AVX2 one, and each generated step against its hand-written loop,
//!   timed alternately, as the median of the per-pair ratios. All of them run on an
//!   unfiltered run; `cargo bench --bench step -- pairs` runs only them, and
//!   `STEP_PAIRS=<part of a name>` picks some.
//!
//! Memory traffic per element (4-byte f32): Adam/AdamW read p, g, m, v and write p, m, v
//! (28 bytes); Lion and SGD with momentum read p, g, m and write p, m (20 bytes); Adam
//! with bf16 m moves 2 bytes less each way (24 bytes), with bf16 m and v 4 bytes less
//! (20 bytes). After criterion has measured
//! everything, the bench prints medians, GB/s and the ratios of each row.

use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use optim::exec::CHUNK;
use optim::{
    adafactor, adam, adamw, lamb, lion, sgd, sm3, Dtype, Tensor, TensorMap, Transformation,
};
use rayon::prelude::*;
use std::time::Duration;

mod support;
use support::gpt2_tree;

const SIZES: [usize; 3] = [1_000_000, 10_000_000, 50_000_000];
const THREADS: [usize; 2] = [1, 2];
const BIG: usize = 10_000_000;

fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
    let p = (0..n).map(|i| ((i % 997) as f32 - 498.0) * 1e-3).collect();
    let g = (0..n).map(|i| ((i % 991) as f32 - 495.0) * 1e-4).collect();
    (p, g)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}

/// Hand-written fused Adam over one chunk: optax's order of operations with the
/// reciprocals of the bias corrections, as `scale_by_adam` computes them.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn hand_adam_body(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    t: i32,
    lr: f32,
    wd: f32,
) {
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let inv_bc1 = 1.0 / (1.0 - b1.powi(t));
    let inv_bc2 = 1.0 / (1.0 - b2.powi(t));
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let gi = g[i];
        m[i] = (1.0 - b1) * gi + b1 * m[i];
        v[i] = (1.0 - b2) * (gi * gi) + b2 * v[i];
        let d = (m[i] * inv_bc1) / ((v[i] * inv_bc2).sqrt() + eps) + wd * p[i];
        p[i] += -lr * d;
    }
}

#[inline(always)]
fn hand_lion_body(p: &mut [f32], g: &[f32], m: &mut [f32], lr: f32, wd: f32) {
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

#[inline(always)]
fn hand_sgd_momentum_body(p: &mut [f32], g: &[f32], m: &mut [f32], lr: f32, beta: f32) {
    let n = p.len();
    let (g, m) = (&g[..n], &mut m[..n]);
    for i in 0..n {
        m[i] = g[i] + beta * m[i];
        p[i] += -lr * m[i];
    }
}

/// The in-place bandwidth kernels: the fewest flops that move the same bytes.
#[inline(always)]
fn stream4_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        m[i] = m[i] * 0.5 + g[i];
        v[i] = v[i] * 0.5 + g[i];
        p[i] += m[i] + v[i];
    }
}

#[inline(always)]
fn stream3_body(p: &mut [f32], g: &[f32], m: &mut [f32]) {
    let n = p.len();
    let (g, m) = (&g[..n], &mut m[..n]);
    for i in 0..n {
        m[i] = m[i] * 0.5 + g[i];
        p[i] += m[i];
    }
}

/// The hand-written loops built as the generated ones are: for the `optim::exec::simd()`
/// level in use (AVX-512, AVX2 + FMA, or the baseline target).
macro_rules! wide {
    ($name:ident = $body:ident($($a:ident: $t:ty),*)) => {
        #[allow(clippy::too_many_arguments)]
        fn $name($($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            match optim::exec::simd() {
                // The hand-written loops keep f32 state: AVX512_BF16 adds nothing.
                optim::exec::Simd::Avx512 | optim::exec::Simd::Avx512Bf16 => {
                    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")]
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn go($($a: $t),*) {
                        $body($($a),*)
                    }
                    // SAFETY: `simd()` is `Avx512` or above only where the CPU has these
                    // features.
                    return unsafe { go($($a),*) };
                }
                optim::exec::Simd::Avx2 => {
                    #[target_feature(enable = "avx2,fma")]
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn go($($a: $t),*) {
                        $body($($a),*)
                    }
                    // SAFETY: `simd()` is `Avx2` only where the CPU has AVX2 and FMA.
                    return unsafe { go($($a),*) };
                }
                optim::exec::Simd::Baseline => {}
            }
            $body($($a),*)
        }
    };
}

wide!(hand_adam = hand_adam_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], t: i32, lr: f32, wd: f32));
wide!(hand_lion = hand_lion_body(p: &mut [f32], g: &[f32], m: &mut [f32], lr: f32, wd: f32));
wide!(hand_sgd_momentum = hand_sgd_momentum_body(p: &mut [f32], g: &[f32], m: &mut [f32], lr: f32, beta: f32));
wide!(stream4 = stream4_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]));
wide!(stream3 = stream3_body(p: &mut [f32], g: &[f32], m: &mut [f32]));

/// Runs `f` on matching chunks of four buffers, on the current pool.
fn chunks4(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    f: impl Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) + Sync,
) {
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| f(p, g, m, v));
}

fn chunks3(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    f: impl Fn(&mut [f32], &[f32], &mut [f32]) + Sync,
) {
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .for_each(|((p, g), m)| f(p, g, m));
}

fn id(kind: &str, threads: usize, n: usize) -> BenchmarkId {
    BenchmarkId::new(format!("{kind}-{threads}t"), n)
}

/// Times `iters` runs of `f` on a pool of `threads` threads (the pool is entered once
/// per sample, not per run).
fn on_pool(threads: &rayon::ThreadPool, iters: u64, mut f: impl FnMut() + Send) -> Duration {
    threads.install(|| {
        let t = std::time::Instant::now();
        for _ in 0..iters {
            f();
        }
        t.elapsed()
    })
}

fn generated<T: Transformation<f32>>(c: &mut Criterion, name: &str, bytes: u64, opt: T) {
    let mut group = c.benchmark_group(name);
    for n in SIZES {
        group.throughput(Throughput::Bytes(bytes * n as u64));
        let (mut p, g) = data(n);
        let mut s = opt.init(&p).expect("init");
        let mut hand_bufs = matches!(name, "adam" | "adamw" | "lion" | "sgd_momentum")
            .then(|| (p.clone(), vec![0.0f32; n], vec![0.0f32; n]));
        for threads in THREADS {
            let pool = pool(threads);
            group.bench_function(id("generated", threads, n), |b| {
                b.iter_custom(|iters| {
                    on_pool(&pool, iters, || {
                        opt.step(&mut p, black_box(&g), &mut s).expect("step")
                    })
                })
            });
            // The same step from the baseline x86-64 build of the loops (4 lanes), right
            // after the widest build, which steps run by default.
            let wide = optim::exec::simd();
            optim::exec::set_simd(optim::exec::Simd::Baseline);
            group.bench_function(id("baseline", threads, n), |b| {
                b.iter_custom(|iters| {
                    on_pool(&pool, iters, || {
                        opt.step(&mut p, black_box(&g), &mut s).expect("step")
                    })
                })
            });
            optim::exec::set_simd(wide);
            if let Some((hp, hm, hv)) = hand_bufs.as_mut() {
                hand_rows(&mut group, name, threads, &pool, (hp, &g, hm, hv));
            }
        }
    }
    group.finish();
}

/// The hand-written loop of `name` (adam, adamw, lion, sgd_momentum) and the stream
/// kernel of its read/write mix, at the size of `p`, on `pool`: benched in the generated
/// step's group right after it, so that each ratio compares adjacent measurements.
fn hand_rows(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    threads: usize,
    pool: &rayon::ThreadPool,
    (p, g, m, v): (&mut [f32], &[f32], &mut [f32], &mut [f32]),
) {
    let n = p.len();
    let mut t = 0;
    group.bench_function(id("hand", threads, n), |b| {
        b.iter_custom(|iters| {
            on_pool(pool, iters, || {
                t += 1;
                let g = black_box(g);
                match name {
                    "adam" => chunks4(p, g, m, v, |p, g, m, v| hand_adam(p, g, m, v, t, 1e-3, 0.0)),
                    "adamw" => chunks4(p, g, m, v, |p, g, m, v| {
                        hand_adam(p, g, m, v, t, 1e-3, 1e-4)
                    }),
                    "lion" => chunks3(p, g, m, |p, g, m| hand_lion(p, g, m, 1e-4, 1e-3)),
                    _ => chunks3(p, g, m, |p, g, m| hand_sgd_momentum(p, g, m, 1e-3, 0.9)),
                }
            })
        })
    });
    let four = matches!(name, "adam" | "adamw");
    group.bench_function(id("stream", threads, n), |b| {
        b.iter_custom(|iters| {
            on_pool(pool, iters, || {
                let g = black_box(g);
                if four {
                    chunks4(p, g, m, v, stream4)
                } else {
                    chunks3(p, g, m, stream3)
                }
            })
        })
    });
}

fn trees(c: &mut Criterion) {
    let mut group = c.benchmark_group("gpt2_adamw");
    let (mut p, g) = (gpt2_tree(1.0), gpt2_tree(0.1));
    let leaves = p.len();
    let n: usize = p.values().map(|t| t.data().len()).sum();
    assert_eq!(leaves, 148);
    group.throughput(Throughput::Bytes(28 * n as u64));
    let opt = adamw(1e-3);
    let mut s = opt.init(&p).expect("init");
    for threads in THREADS {
        let pool = pool(threads);
        group.bench_function(id("generated", threads, n), |b| {
            b.iter_custom(|iters| {
                on_pool(&pool, iters, || {
                    opt.step(&mut p, black_box(&g), &mut s).expect("step")
                })
            })
        });
    }
    group.finish();
    drop((p, g, s));
    hand_trees(c);

    // Per-leaf overhead: many leaves against one of the same size.
    let mut group = c.benchmark_group("leaves_adam");
    for (count, each) in [(1usize, 1_000_000usize), (1_000, 1_000), (10_000, 100)] {
        let mut p = TensorMap::new();
        for l in 0..count {
            p.insert(format!("layer{l:05}.w"), Tensor::full([each], 0.5f32));
        }
        let g: TensorMap<f32> = p
            .iter()
            .map(|(k, v)| (k.clone(), Tensor::full(v.shape().to_vec(), 0.01)))
            .collect();
        let opt = adam(1e-3);
        let mut s = opt.init(&p).expect("init");
        for threads in THREADS {
            let pool = pool(threads);
            group.bench_function(id("generated", threads, count), |b| {
                b.iter_custom(|iters| {
                    on_pool(&pool, iters, || {
                        opt.step(&mut p, black_box(&g), &mut s).expect("step")
                    })
                })
            });
        }
    }
    group.finish();
}

/// dfdx 0.13's Adam on one rank-1 tensor of `N` elements (dfdx's modules want static
/// shapes), from the same data.
fn dfdx_adam<const N: usize>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    use dfdx::prelude::*;
    let dev: Cpu = Default::default();
    group.throughput(Throughput::Bytes(28 * N as u64));
    let (p, g) = data(N);
    let mut model: Tensor<Rank1<N>, f32, Cpu> = dev.zeros();
    model.copy_from(&p);
    let mut grads = model.alloc_grads();
    grads
        .get_or_alloc_mut(&model)
        .expect("gradient")
        .copy_from_slice(&g);
    let mut opt = dfdx::optim::Adam::new(
        &model,
        dfdx::optim::AdamConfig {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: None,
        },
    );
    group.bench_function(BenchmarkId::new("dfdx", N), |b| {
        b.iter(|| opt.update(&mut model, black_box(&grads)).expect("update"))
    });
}

fn peers(c: &mut Criterion) {
    let mut group = c.benchmark_group("adam");
    dfdx_adam::<1_000_000>(&mut group);
    dfdx_adam::<10_000_000>(&mut group);
    dfdx_adam::<50_000_000>(&mut group);
    group.finish();
}

fn two_pass(c: &mut Criterion) {
    let mut group = c.benchmark_group("lamb");
    group.throughput(Throughput::Bytes(44 * BIG as u64));
    let opt = lamb(1e-3).weight_decay(1e-2);
    let (mut p, g) = data(BIG);
    let mut s = opt.init(&p).expect("init");
    for threads in THREADS {
        let pool = pool(threads);
        group.bench_function(id("generated", threads, BIG), |b| {
            b.iter_custom(|iters| {
                on_pool(&pool, iters, || {
                    opt.step(&mut p, black_box(&g), &mut s).expect("step")
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("adafactor");
    group.throughput(Throughput::Bytes(12 * BIG as u64));
    let opt = adafactor().learning_rate(1e-3);
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
    let (mut p, g) = (tree(wp, bp), tree(wg, bg));
    let mut s = opt.init(&p).expect("init");
    for threads in THREADS {
        let pool = pool(threads);
        group.bench_function(id("generated", threads, BIG), |b| {
            b.iter_custom(|iters| {
                on_pool(&pool, iters, || {
                    opt.step(&mut p, black_box(&g), &mut s).expect("step")
                })
            })
        });
    }
    group.finish();
}

/// The hand-written kernels (adafactor's factored statistics, sm3's covers) on the
/// GPT-2-small tree, at 1 and 2 threads. Bytes: adafactor reads the gradient twice and the
/// params twice and writes the params (20 bytes an element); sm3 reads the gradient and
/// the momentum and reads and writes the params and the momentum (20 bytes).
fn hand_trees(c: &mut Criterion) {
    fn run<T: Transformation<f32>>(c: &mut Criterion, name: &str, opt: T) {
        let mut group = c.benchmark_group(name);
        let (mut p, g) = (gpt2_tree(1.0), gpt2_tree(0.1));
        let n: usize = p.values().map(|t| t.data().len()).sum();
        group.throughput(Throughput::Bytes(20 * n as u64));
        let mut s = opt.init(&p).expect("init");
        for threads in THREADS {
            let pool = pool(threads);
            group.bench_function(id("generated", threads, n), |b| {
                b.iter_custom(|iters| {
                    on_pool(&pool, iters, || {
                        opt.step(&mut p, black_box(&g), &mut s).expect("step")
                    })
                })
            });
        }
        group.finish();
    }
    run(c, "gpt2_adafactor", adafactor().learning_rate(1e-3));
    run(c, "gpt2_sm3", sm3(1e-3));
}

fn benches(c: &mut Criterion) {
    generated(c, "adam", 28, adam(1e-3));
    generated(c, "adamw", 28, adamw(1e-3));
    generated(c, "lion", 20, lion(1e-4));
    generated(c, "sgd_momentum", 20, sgd(1e-3).momentum(0.9));
    generated(c, "adam_bf16", 24, adam(1e-3).mu_dtype(Dtype::BF16));
    generated(
        c,
        "adam_bf16_state",
        20,
        adam(1e-3).mu_dtype(Dtype::BF16).nu_dtype(Dtype::BF16),
    );
}

criterion_group! {
    name = step;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches, trees, peers, two_pass
}

/// Criterion's median estimate (ns per iteration) for one benchmark.
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
    pairs::run();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nmedians from this run (load average {})", load.trim());
    println!(
        "{:<13} {:>9} {:>3} {:>11} {:>11} {:>11} {:>8} {:>8} {:>9} {:>8} {:>11} {:>9}",
        "optimizer",
        "elements",
        "thr",
        "generated",
        "hand",
        "stream",
        "gen GB/s",
        "gen/hand",
        "gen/strm",
        "bw frac",
        "baseline",
        "gen/base"
    );
    let rows = [
        ("adam", 28.0, "adam"),
        ("adamw", 28.0, "adamw"),
        ("lion", 20.0, "lion"),
        ("sgd_momentum", 20.0, "sgd_momentum"),
        ("adam_bf16", 24.0, "adam"),
        ("adam_bf16_state", 20.0, "adam"),
    ];
    for (name, bytes, base) in rows {
        for n in SIZES {
            for t in THREADS {
                let k = |kind: &str| format!("{kind}-{t}t");
                let (Some(a), Some(h), Some(s)) = (
                    median_ns(name, &k("generated"), n),
                    median_ns(base, &k("hand"), n),
                    median_ns(base, &k("stream"), n),
                ) else {
                    continue;
                };
                let gbs = bytes * n as f64 / a;
                // The stream kernel moves the mix of `base` (28 or 20 bytes).
                let stream_bytes = if base == "adam" || base == "adamw" {
                    28.0
                } else {
                    20.0
                };
                let base = median_ns(name, &k("baseline"), n).unwrap_or(f64::NAN);
                println!(
                    "{name:<13} {n:>9} {t:>3} {:>9.3}ms {:>9.3}ms {:>9.3}ms {:>8.2} {:>8.3} {:>9.3} {:>8.3} {:>9.3}ms {:>9.3}",
                    a / 1e6,
                    h / 1e6,
                    s / 1e6,
                    gbs,
                    a / h,
                    a / s,
                    gbs / (stream_bytes * n as f64 / s),
                    base / 1e6,
                    a / base
                );
            }
        }
    }
    for (row, what) in [
        ("adam_bf16", "bf16 mu"),
        ("adam_bf16_state", "bf16 mu and nu"),
    ] {
        for n in SIZES {
            for t in THREADS {
                let k = format!("generated-{t}t");
                if let (Some(a), Some(b)) = (median_ns(row, &k, n), median_ns("adam", &k, n)) {
                    println!(
                        "adam with {what} / f32-state adam at {n}, {t} thread(s): {:.3}",
                        a / b
                    );
                }
            }
        }
    }
    for n in SIZES {
        if let (Some(d), Some(a1)) = (
            median_ns("adam", "dfdx", n),
            median_ns("adam", "generated-1t", n),
        ) {
            println!(
                "dfdx adam at {n}: {:.3}ms, optim (1 thread) / dfdx: {:.3}",
                d / 1e6,
                a1 / d
            );
        }
    }
    let gpt_n: usize = 124_439_808;
    for t in THREADS {
        if let Some(a) = median_ns("gpt2_adamw", &format!("generated-{t}t"), gpt_n) {
            println!(
                "gpt2-small adamw, {t} thread(s): {:.2}ms, {:.2} GB/s",
                a / 1e6,
                28.0 * gpt_n as f64 / a
            );
        }
    }
    for t in THREADS {
        let k = format!("generated-{t}t");
        let one = median_ns("leaves_adam", &k, 1);
        for count in [1_000usize, 10_000] {
            if let (Some(one), Some(many)) = (one, median_ns("leaves_adam", &k, count)) {
                println!(
                    "{count} leaves vs one leaf of 1e6, {t} thread(s): {:.3}ms vs {:.3}ms, {:.3} us per leaf",
                    many / 1e6,
                    one / 1e6,
                    (many - one) / 1e3 / count as f64
                );
            }
        }
    }
    for (name, bytes) in [("lamb", 44.0), ("adafactor", 12.0)] {
        for t in THREADS {
            let k = format!("generated-{t}t");
            if let (Some(a), Some(h)) = (
                median_ns(name, &k, BIG),
                median_ns("adam", &format!("hand-{t}t"), BIG),
            ) {
                println!(
                    "{name} at 1e7, {t} thread(s): {:.3}ms, {:.2} GB/s, against the fused adam loop {:.3}",
                    a / 1e6,
                    bytes * BIG as f64 / a,
                    a / h
                );
            }
        }
    }
}

/// Interleaved pairs: two steps timed alternately on the same pool, so that the other
/// work on a shared machine slows both sides of each pair alike; reported as the median
/// and the quartiles of the per-pair ratios. Criterion measures each benchmark for a few
/// seconds after the previous one, and on this machine a neighbour's burst can double
/// one of them; a ratio of adjacent criterion medians then moves by 0.5 or more between
/// runs, where the median pair ratio moves by a few hundredths.
mod pairs {
    use super::*;

    /// Each side of a pair runs for at least this long (repeating the step).
    const SIDE: Duration = Duration::from_millis(15);
    /// Pairs per comparison, half with `a` first and half with `b` first.
    const PAIRS: usize = 24;

    /// The per-pair ratios `time(b) / time(a)`.
    fn ratios(
        pool: &rayon::ThreadPool,
        a: &mut (dyn FnMut() + Send),
        b: &mut (dyn FnMut() + Send),
    ) -> Vec<f64> {
        pool.install(|| {
            let time = |f: &mut (dyn FnMut() + Send), reps: u32| {
                let t = std::time::Instant::now();
                for _ in 0..reps {
                    f();
                }
                t.elapsed().as_secs_f64()
            };
            // Warm up both, then pick one repetition count for both sides.
            time(a, 1);
            time(b, 1);
            let one = time(a, 1).max(1e-9);
            let reps = (SIDE.as_secs_f64() / one).ceil().clamp(1.0, 1e6) as u32;
            (0..PAIRS)
                .map(|i| {
                    let (ta, tb) = if i % 2 == 0 {
                        let ta = time(a, reps);
                        (ta, time(b, reps))
                    } else {
                        let tb = time(b, reps);
                        (time(a, reps), tb)
                    };
                    tb / ta
                })
                .collect()
        })
    }

    fn report(name: &str, mut r: Vec<f64>) {
        r.sort_by(f64::total_cmp);
        let q = |f: f64| r[((r.len() - 1) as f64 * f).round() as usize];
        println!(
            "pairs {name}: median {:.3} (quartiles {:.3}-{:.3}, {} pairs)",
            q(0.5),
            q(0.25),
            q(0.75),
            r.len()
        );
    }

    /// Whether to run the pairs, and which: `STEP_PAIRS` (a substring of the names
    /// printed, empty for all) when set, else all of them on a run with no filter
    /// (`cargo bench --bench step`) or with the filter `pairs` (which no criterion
    /// benchmark matches), none on another filtered one.
    fn filter() -> Option<String> {
        if let Ok(f) = std::env::var("STEP_PAIRS") {
            return Some(f);
        }
        let mut filters = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
        match filters.next() {
            None => Some(String::new()),
            Some(f) if f == "pairs" => Some(String::new()),
            Some(_) => None,
        }
    }

    /// `opt`'s generated step over the hand-written loop of `what`, from `p0`.
    fn against_hand<T: Transformation<f32>>(
        pool: &rayon::ThreadPool,
        opt: T,
        what: &str,
        p0: &[f32],
        g: &Vec<f32>,
    ) -> Vec<f64> {
        let n = p0.len();
        let mut pg = p0.to_vec();
        let mut s = opt.init(&pg).expect("init");
        let (mut hp, mut hm, mut hv) = (p0.to_vec(), vec![0.0f32; n], vec![0.0f32; n]);
        let mut t = 0;
        ratios(
            pool,
            &mut || {
                t += 1;
                let g = black_box(g.as_slice());
                let (p, m, v) = (&mut hp[..], &mut hm[..], &mut hv[..]);
                match what {
                    "adam" => chunks4(p, g, m, v, |p, g, m, v| hand_adam(p, g, m, v, t, 1e-3, 0.0)),
                    "adamw" => chunks4(p, g, m, v, |p, g, m, v| {
                        hand_adam(p, g, m, v, t, 1e-3, 1e-4)
                    }),
                    "lion" => chunks3(p, g, m, |p, g, m| hand_lion(p, g, m, 1e-4, 1e-3)),
                    _ => chunks3(p, g, m, |p, g, m| hand_sgd_momentum(p, g, m, 1e-3, 0.9)),
                }
            },
            &mut || opt.step(&mut pg, black_box(g), &mut s).expect("step"),
        )
    }

    pub fn run() {
        let Some(filter) = filter() else {
            return;
        };
        let wanted = |name: &str| name.contains(filter.as_str());
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("\ninterleaved pairs (load average {})", load.trim());
        for n in SIZES {
            let (p0, g) = data(n);
            for threads in THREADS {
                let pool = pool(threads);
                let name = |what: &str| format!("{what}/{threads}t/{n}");
                // bf16 mu and nu against f32 state, both generated.
                let bf16 = name("adam_bf16_state/adam");
                if wanted(&bf16) {
                    let (f, b) = (
                        adam(1e-3),
                        adam(1e-3).mu_dtype(Dtype::BF16).nu_dtype(Dtype::BF16),
                    );
                    let (mut pf, mut pb) = (p0.clone(), p0.clone());
                    let (mut sf, mut sb) = (f.init(&pf).expect("init"), b.init(&pb).expect("init"));
                    let r = ratios(
                        &pool,
                        &mut || f.step(&mut pf, black_box(&g), &mut sf).expect("step"),
                        &mut || b.step(&mut pb, black_box(&g), &mut sb).expect("step"),
                    );
                    report(&bf16, r);
                }
                // The AVX-512 build against the AVX2 one, same step, f32 and bf16 state,
                // and the AVX512_BF16 build (hardware narrowing) against the AVX-512 one.
                use optim::exec::Simd;
                for (what, bf16, over, slow, fast) in [
                    ("adam", false, "avx512_over_avx2", Simd::Avx2, Simd::Avx512),
                    (
                        "adam_bf16_state",
                        true,
                        "avx512_over_avx2",
                        Simd::Avx2,
                        Simd::Avx512,
                    ),
                    (
                        "adam_bf16_state",
                        true,
                        "bf16hw_over_avx512",
                        Simd::Avx512,
                        Simd::Avx512Bf16,
                    ),
                ] {
                    let label = name(&format!("{what}/{over}"));
                    if !wanted(&label) || Simd::best() < fast {
                        continue;
                    }
                    let opt = if bf16 {
                        adam(1e-3).mu_dtype(Dtype::BF16).nu_dtype(Dtype::BF16)
                    } else {
                        adam(1e-3)
                    };
                    let (mut pa, mut pb) = (p0.clone(), p0.clone());
                    let (mut sa, mut sb) =
                        (opt.init(&pa).expect("init"), opt.init(&pb).expect("init"));
                    let r = ratios(
                        &pool,
                        &mut || {
                            optim::exec::set_simd(slow);
                            opt.step(&mut pa, black_box(&g), &mut sa).expect("step")
                        },
                        &mut || {
                            optim::exec::set_simd(fast);
                            opt.step(&mut pb, black_box(&g), &mut sb).expect("step")
                        },
                    );
                    optim::exec::set_simd(Simd::best());
                    report(&label, r);
                }
                // The generated step against the hand-written loop of the same math.
                for what in ["adam", "adamw", "lion", "sgd_momentum"] {
                    let label = name(&format!("{what}/hand"));
                    if !wanted(&label) {
                        continue;
                    }
                    let r = match what {
                        "adam" => against_hand(&pool, adam(1e-3), what, &p0, &g),
                        "adamw" => against_hand(&pool, adamw(1e-3), what, &p0, &g),
                        "lion" => against_hand(&pool, lion(1e-4), what, &p0, &g),
                        _ => against_hand(&pool, sgd(1e-3).momentum(0.9), what, &p0, &g),
                    };
                    report(&label, r);
                }
            }
        }
    }
}
