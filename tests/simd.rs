//! The AVX2, AVX-512 and AVX512_BF16 builds of the generated loops give the same bits as the baseline
//! build, and the prefetching loop of large leaves the same as the plain one: for every
//! registered optimizer (and primitive), in f32 and f64, and for the storage dtypes a
//! `mu_dtype` can pick, params and state after three steps are bit-identical under
//! `optim::exec::set_simd` with each level the CPU has, and with the widest build
//! prefetching on every leaf (`set_prefetch(true)`, `set_prefetch_min_len(0)`), on a tree with a leaf of
//! several chunks, small leaves, a matrix, a scalar, an empty leaf, and values that
//! reach the rounding corners (tiny, huge, negative zero, and overflow to infinity and
//! NaN). Bits are compared exactly, except that all NaNs count as one.
//!
//! One test in its own binary: the switches are process-wide.

mod common;

use optim::exec::{set_prefetch, set_prefetch_min_len, set_simd, Simd, CHUNK};
use optim::registry::{self, Visitor};
use optim::{Float, Hyperparams, Tensor, TensorMap, Transformation, Value};

fn tree<F: Float>(shift: f64) -> TensorMap<F> {
    let mut m = TensorMap::new();
    let wave = |i: usize, k: f64| F::of(((i as f64 * 0.37 + k).sin() + shift) * 0.5);
    let big = 2 * CHUNK + 37;
    m.insert(
        "big".into(),
        Tensor::new([big], (0..big).map(|i| wave(i, 1.0)).collect::<Vec<_>>()).unwrap(),
    );
    for l in 0..8 {
        let n = 61 + 13 * l;
        m.insert(
            format!("small{l}"),
            Tensor::new([n], (0..n).map(|i| wave(i, l as f64)).collect::<Vec<_>>()).unwrap(),
        );
    }
    let n = 140 * 150;
    m.insert(
        "mat".into(),
        Tensor::new([140, 150], (0..n).map(|i| wave(i, 7.0)).collect::<Vec<_>>()).unwrap(),
    );
    let corners = [
        1e-30,
        -1e-30,
        3e30,
        -0.0,
        0.0,
        1e-38,
        5e-39,
        7.0,
        -7.0,
        1.0 + shift,
    ];
    // Five times over, so that the corners also fill whole 16-lane blocks (the
    // AVX512_BF16 loop narrows a block with a subnormal lane in software).
    let n = 5 * corners.len();
    m.insert(
        "corners".into(),
        Tensor::new(
            [n],
            corners
                .iter()
                .cycle()
                .take(n)
                .map(|&x| F::of(x))
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    );
    m.insert(
        "scalar".into(),
        Tensor::full(Vec::<usize>::new(), F::of(0.75)),
    );
    m.insert("empty".into(), Tensor::new([0], Vec::<F>::new()).unwrap());
    m
}

/// The bits of `x`, with every NaN as one pattern: which NaN an operation on NaNs gives
/// (its sign and payload) depends on operand order, which the compiler may commute
/// (Rust makes no promise about NaN bits), and a NaN is a NaN to every reader.
fn canonical(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

/// Three steps with a build (`.0`), and the prefetching loop on every leaf or on none
/// (`.1`); the params' bits (as f64 bits, exact for either dtype) and the state's JSON.
#[derive(Clone, Copy)]
struct Run(Simd, bool);
impl<F: Float> Visitor<F> for Run {
    type Out = (Vec<u64>, String);
    fn visit<T: Transformation<F> + Hyperparams>(self, t: T) -> (Vec<u64>, String) {
        set_simd(self.0);
        set_prefetch(self.1);
        set_prefetch_min_len(if self.1 { 0 } else { usize::MAX });
        let mut p = tree::<F>(0.0);
        let g = tree::<F>(0.3);
        let mut s = t.init(&p).expect("init");
        for _ in 0..3 {
            t.step_with(&mut p, &g, &mut s, &common::extra::<F>(1.5))
                .expect("step");
        }
        let bits = p
            .values()
            .flat_map(|x| x.data().iter().map(|v| canonical(v.f64())))
            .collect();
        (bits, serde_json::to_string(&s).expect("state serializes"))
    }
}

/// What differs between the builds and loops, if anything.
fn differs<F: Float>(name: &str, args: Vec<(String, Value)>) -> Option<String> {
    let run = |r: Run| common::by_name_filled::<F, _>(name, args.clone(), 0.01, r);
    let off = run(Run(Simd::Baseline, false));
    let mut what = Vec::new();
    let mut runs = vec![(Run(Simd::best(), true), "prefetching loop".to_string())];
    for level in [Simd::Avx2, Simd::Avx512, Simd::Avx512Bf16] {
        if level <= Simd::best() {
            runs.push((Run(level, false), format!("{level:?} build")));
        }
    }
    for (r, label) in runs {
        let got = run(r);
        match (got.0 == off.0, got.1 == off.1) {
            (true, true) => {}
            (false, _) => what.push(format!("{label}: params differ")),
            (true, false) => what.push(format!("{label}: state differs")),
        }
    }
    (!what.is_empty()).then(|| format!("{name} {args:?} ({}): {}", F::DTYPE, what.join(", ")))
}

#[test]
fn the_wide_builds_and_the_prefetching_loop_give_the_baseline_bits() {
    let widest = set_simd(Simd::Avx512Bf16);
    assert_eq!(widest, Simd::best(), "set_simd caps a level at the CPU's");
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma");
        let avx512 =
            avx2 && has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512dq");
        let bf16 = avx512 && has!("avx512bf16");
        assert_eq!(
            (
                widest >= Simd::Avx2,
                widest >= Simd::Avx512,
                widest == Simd::Avx512Bf16
            ),
            (avx2, avx512, bf16),
            "each wide build runs exactly where the CPU has its features"
        );
    }
    let names = registry::names();
    assert!(names.len() >= 40);
    let mut bad = Vec::new();
    for name in names {
        bad.extend(differs::<f32>(name, Vec::new()));
        bad.extend(differs::<f64>(name, Vec::new()));
    }
    // Low-precision state takes the conversion paths of `Store`.
    for dtype in ["bfloat16", "float16", "float32", "float64"] {
        for (name, arg) in [
            ("adam", "mu_dtype"),
            ("adamw", "mu_dtype"),
            ("lion", "mu_dtype"),
            ("sgd", "accumulator_dtype"),
        ] {
            let mut args = vec![(arg.to_string(), Value::Str(dtype.into()))];
            if name == "sgd" {
                args.push(("momentum".into(), Value::Num(0.9)));
            }
            bad.extend(differs::<f32>(name, args.clone()));
            bad.extend(differs::<f64>(name, args));
        }
    }
    set_simd(Simd::best());
    set_prefetch_min_len(optim::exec::PREFETCH_MIN_LEN);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
