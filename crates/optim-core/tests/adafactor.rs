//! adafactor and `scale_by_factored_rms` through the public API: the factored second
//! moment against its definition, the fused optimizer against its chain of primitives,
//! `update` against `step`, `decay_offset`, errors, arguments by name and serde. The
//! unit tests of the private layout and decay schedule sit next to that code.

use optim_core::{
    adafactor, add_decayed_weights, chain, clip_by_block_rms, ema, scale, scale_by_factored_rms,
    scale_by_learning_rate, scale_by_param_block_rms, Adafactor, AdafactorState, Dtype, Error,
    Hyperparams, Mask, Tensor, TensorMap, Transformation, TreeExt, Value,
};

fn tree(shapes: &[(&str, &[usize])], seed: u64) -> TensorMap<f64> {
    // A deterministic spread of values of both signs.
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    shapes
        .iter()
        .map(|(k, s)| {
            let n: usize = s.iter().product();
            let data: Vec<f64> = (0..n).map(|_| next()).collect();
            (k.to_string(), Tensor::new(s.to_vec(), data).unwrap())
        })
        .collect()
}

fn flat(t: &TensorMap<f64>) -> Vec<f64> {
    t.leaves().into_iter().flat_map(|(_, _, d)| d).collect()
}

fn run<T: Transformation<f64>>(opt: &T, p0: &TensorMap<f64>, steps: usize) -> Vec<f64> {
    let mut p = p0.clone();
    let mut s = opt.init(&p).unwrap();
    for k in 0..steps {
        let g = tree(&shapes_of(&p), 100 + k as u64);
        opt.step(&mut p, &g, &mut s).unwrap();
    }
    flat(&p)
}

fn shapes_of(t: &TensorMap<f64>) -> Vec<(&str, &[usize])> {
    t.iter().map(|(k, v)| (k.as_str(), v.shape())).collect()
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "[{i}] {x} vs {y}");
    }
}

/// The factored second moment by its definition, on a 3-d leaf whose factored axes are
/// not adjacent and not last, against the kernel's first step.
#[test]
#[allow(clippy::needless_range_loop)]
fn first_factored_step_matches_the_definition() {
    // Adjacent and last; apart with axes around them; and with the largest first.
    let shapes: [&[usize]; 4] = [&[3, 2, 4, 5], &[4, 3, 5, 2], &[2, 5, 3, 6], &[6, 5]];
    for shape in shapes {
        let g = tree(&[("w", shape)], 7);
        let gd = g["w"].data().to_vec();
        let opt = scale_by_factored_rms().min_dim_size_to_factor(2);
        let mut u = g.clone();
        let mut s = opt.init(&g).unwrap();
        opt.update(&mut u, &mut s, None).unwrap();
        // First step: decay 0, so v_row = mean over d0 of g² + eps, etc.
        let mut axes: Vec<usize> = (0..shape.len()).collect();
        axes.sort_by_key(|&i| shape[i]);
        let (d1, d0) = (axes[shape.len() - 2], axes[shape.len() - 1]);
        let n = gd.len();
        let idx = |mut k: usize| {
            let mut c = vec![0; shape.len()];
            for ax in (0..shape.len()).rev() {
                c[ax] = k % shape[ax];
                k /= shape[ax];
            }
            c
        };
        let mean_where = |f: &dyn Fn(&[usize]) -> bool| {
            let (mut s, mut c) = (0.0, 0.0);
            for k in 0..n {
                if f(&idx(k)) {
                    s += gd[k] * gd[k] + 1e-30;
                    c += 1.0;
                }
            }
            s / c
        };
        for k in 0..n {
            let ck = idx(k);
            let same_except = |ax: usize| {
                let ck = ck.clone();
                move |c: &[usize]| (0..c.len()).all(|a| a == ax || c[a] == ck[a])
            };
            let v_row = mean_where(&same_except(d0));
            let v_col = mean_where(&same_except(d1));
            // Mean of v_row over d1: the mean over both factored axes.
            let both = |c: &[usize]| (0..c.len()).all(|a| a == d0 || a == d1 || c[a] == ck[a]);
            let rcm = mean_where(&both);
            let want = gd[k] * (v_row / rcm).powf(-0.5) * v_col.powf(-0.5);
            let got = u["w"].data()[k];
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{shape:?}[{k}]: {got} vs {want}"
            );
        }
    }
}

/// Leaves of two chunks or more add their sums over the second-largest axis in blocks
/// of rows (`Layout::a_blocks`), on one thread or several: the first step's statistics
/// still equal their definition (`mean(g² + eps)` over one factored axis), with and
/// without adafactor's clipping (which sums them in another loop), on a matrix and on a
/// rank-4 leaf whose factored axes have axes around them.
#[test]
fn large_leaves_sum_their_statistics_by_the_definition() {
    let shapes: [&[usize]; 2] = [&[300, 260], &[3, 140, 130, 2]];
    for shape in shapes {
        let g = tree(&[("w", shape)], 11);
        let gd = g["w"].data().to_vec();
        let mut axes: Vec<usize> = (0..shape.len()).collect();
        axes.sort_by_key(|&i| shape[i]);
        let (d1, d0) = (axes[shape.len() - 2], axes[shape.len() - 1]);
        // The flat index of element `k` in the shape without axis `drop`.
        let reduced = |mut k: usize, drop: usize| {
            let (mut out, mut stride) = (0, 1);
            for ax in (0..shape.len()).rev() {
                let c = k % shape[ax];
                k /= shape[ax];
                if ax != drop {
                    out += c * stride;
                    stride *= shape[ax];
                }
            }
            out
        };
        let n = gd.len();
        let (mut row, mut col) = (vec![0.0; n / shape[d0]], vec![0.0; n / shape[d1]]);
        for (k, &x) in gd.iter().enumerate() {
            row[reduced(k, d0)] += x * x + 1e-30;
            col[reduced(k, d1)] += x * x + 1e-30;
        }
        row.iter_mut().for_each(|v| *v /= shape[d0] as f64);
        col.iter_mut().for_each(|v| *v /= shape[d1] as f64);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let opt = scale_by_factored_rms();
            let mut s = opt.init(&g).unwrap();
            pool.install(|| opt.update(&mut g.clone(), &mut s, None).unwrap());
            close(&s.v_row[0], &row, 1e-13);
            close(&s.v_col[0], &col, 1e-13);
            let opt = adafactor().learning_rate(0.1);
            let (mut p, mut s) = (g.clone(), opt.init(&g).unwrap());
            pool.install(|| opt.step(&mut p, &g, &mut s).unwrap());
            close(&s.factored.v_row[0], &row, 1e-13);
            close(&s.factored.v_col[0], &col, 1e-13);
        }
    }
}

/// adafactor is optax's chain of primitives; the fused version must agree with the
/// chain of this crate's separate transformations.
#[test]
fn adafactor_equals_its_chain_of_primitives() {
    let p0 = tree(&[("b", &[6]), ("m", &[4, 3, 5]), ("w", &[5, 6])], 1);
    let mask = || Mask::from([("b", false), ("m", true), ("w", true)]);
    for factored in [true, false] {
        let fused = adafactor()
            .learning_rate(0.05)
            .min_dim_size_to_factor(3)
            .momentum(0.7)
            .dtype_momentum(Dtype::F64)
            .weight_decay_rate(0.01)
            .weight_decay_mask(mask())
            .clipping_threshold(0.5)
            .factored(factored);
        let composed = chain!(
            scale_by_factored_rms()
                .min_dim_size_to_factor(3)
                .factored(factored),
            clip_by_block_rms(0.5),
            scale_by_learning_rate(0.05).flip_sign(false),
            scale_by_param_block_rms(),
            ema(0.7).debias(false),
            add_decayed_weights().weight_decay(0.01).mask(mask()),
            scale(-1.0)
        );
        close(&run(&fused, &p0, 6), &run(&composed, &p0, 6), 1e-13);
    }
}

/// A vector of several chunks sums the clip's `Σ u²` per chunk, on one thread or
/// several; a clipping threshold that clips makes any error in that sum show in the step,
/// against the chain, which clips from the update itself.
#[test]
fn a_large_unfactored_leaf_clips_as_its_chain_does() {
    let p0 = tree(&[("v", &[5 * 32 * 1024 + 123])], 3);
    let fused = adafactor().learning_rate(0.05).clipping_threshold(0.3);
    let composed = chain!(
        scale_by_factored_rms(),
        clip_by_block_rms(0.3),
        scale_by_learning_rate(0.05).flip_sign(false),
        scale_by_param_block_rms(),
        scale(-1.0)
    );
    let want = run(&composed, &p0, 3);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        close(&pool.install(|| run(&fused, &p0, 3)), &want, 1e-13);
    }
}

#[test]
fn update_and_step_agree() {
    let p0 = tree(&[("b", &[6]), ("w", &[5, 6])], 2);
    let opt = adafactor()
        .learning_rate(0.1)
        .min_dim_size_to_factor(2)
        .momentum(0.9);
    let mut p = p0.clone();
    let mut s1 = opt.init(&p).unwrap();
    let mut s2 = s1.clone();
    let g = tree(&shapes_of(&p0), 3);
    opt.step(&mut p, &g, &mut s1).unwrap();
    let mut u = g.clone();
    opt.update(&mut u, &mut s2, Some(&p0)).unwrap();
    let mut q = p0.clone();
    optim_core::apply_updates(&mut q, &u).unwrap();
    assert_eq!(flat(&p), flat(&q));
    assert_eq!(s1, s2);
}

#[test]
fn decay_offset_holds_the_first_rate_instead_of_nan() {
    let p0 = tree(&[("b", &[6]), ("w", &[5, 6])], 4);
    let out = run(&adafactor().learning_rate(0.1).decay_offset(5), &p0, 8);
    assert!(out.iter().all(|x| x.is_finite()));
    // Before the offset every step uses decay 0, like the first step without offset.
    let one = run(&adafactor().learning_rate(0.1), &p0, 1);
    assert_eq!(
        run(&adafactor().learning_rate(0.1).decay_offset(5), &p0, 1),
        one
    );
}

#[test]
fn errors_name_the_leaf_or_argument_and_leave_the_state_alone() {
    let p0 = tree(&[("b", &[6]), ("w", &[5, 6])], 5);
    let opt = adafactor().learning_rate(0.1).min_dim_size_to_factor(2);
    let mut p = p0.clone();
    let mut s = opt.init(&p).unwrap();
    let g = tree(&shapes_of(&p0), 6);
    opt.step(&mut p, &g, &mut s).unwrap();
    let (p_before, s_before) = (p.clone(), s.clone());

    let bad = tree(&[("b", &[6]), ("w", &[6, 5])], 6);
    let e = opt.step(&mut p, &bad, &mut s).unwrap_err().to_string();
    assert!(e.contains("`w`"), "{e}");
    let missing = tree(&[("b", &[6])], 6);
    assert!(opt.step(&mut p, &missing, &mut s).is_err());
    let mut u = g.clone();
    let e = opt.update(&mut u, &mut s, None).unwrap_err();
    assert!(matches!(e, Error::NeedsParams { .. }), "{e}");
    assert_eq!(u["w"].data(), g["w"].data());
    // A state built with another configuration.
    let other = adafactor().learning_rate(0.1);
    let e = other.step(&mut p, &g, &mut s).unwrap_err().to_string();
    assert!(e.contains("`w`") && e.contains("v_row"), "{e}");
    let e = opt
        .momentum(0.9)
        .step(&mut p, &g, &mut s)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mu"), "{e}");
    let e = adafactor()
        .clipping_threshold(0.0)
        .init(&p0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("clipping_threshold"), "{e}");
    assert_eq!(flat(&p), flat(&p_before));
    assert_eq!(s, s_before);
}

#[test]
fn arguments_by_name() {
    let a = Adafactor::from_args(
        "adafactor",
        vec![
            ("learning_rate".into(), Value::Num(0.5)),
            ("clipping_threshold".into(), Value::Null),
            ("momentum".into(), Value::Num(0.9)),
            ("dtype_momentum".into(), Value::Str("bfloat16".into())),
            ("decay_offset".into(), Value::Num(3.0)),
        ],
    )
    .unwrap();
    assert_eq!(a.clipping_threshold, None);
    assert_eq!(
        (a.momentum, a.dtype_momentum, a.decay_offset),
        (Some(0.9), Dtype::BF16, 3)
    );
    let e = Adafactor::from_args("adafactor", vec![("decay_offset".into(), Value::Num(0.5))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("decay_offset"), "{e}");
    let e = Adafactor::from_args("adafactor", vec![("lr".into(), Value::Num(0.5))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`lr`"), "{e}");
}

#[test]
fn state_survives_serde_and_resizes_its_scratch() {
    let p0 = tree(&[("w", &[5, 6])], 8);
    let opt = adafactor().learning_rate(0.1).min_dim_size_to_factor(2);
    let mut p = p0.clone();
    let mut s = opt.init(&p).unwrap();
    let g = tree(&shapes_of(&p0), 9);
    opt.step(&mut p, &g, &mut s).unwrap();
    let mut restored: AdafactorState<f64> =
        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    let mut q = p.clone();
    opt.step(&mut p, &g, &mut s).unwrap();
    opt.step(&mut q, &g, &mut restored).unwrap();
    assert_eq!(flat(&p), flat(&q));
}
