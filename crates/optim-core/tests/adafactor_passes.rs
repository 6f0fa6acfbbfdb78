//! adafactor computes the clip's `Σ u²` of a factored leaf from its statistics in its
//! first pass (see "Passes over a leaf" in `primitives/factored/mod.rs`), not from the
//! update. The composed chain of primitives computes it from the update itself, so the
//! two agree only if that reassociated sum is right: checked here on factored leaves with
//! either axis the larger, of rank 2 and of rank 3 and 5 with the factored axes not
//! innermost, in float64, with a threshold that clips.

use optim_core::{
    adafactor, chain, clip_by_block_rms, scale, scale_by_factored_rms, scale_by_learning_rate,
    scale_by_param_block_rms, Tensor, TensorMap, Transformation, TreeExt,
};

/// Values of both signs whose magnitude varies by a factor of up to ~100 along every
/// axis, so that rows and columns weigh differently in `Σ u²`.
fn tree(shapes: &[(&str, &[usize])], seed: u64) -> TensorMap<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    shapes
        .iter()
        .map(|(k, s)| {
            let n: usize = s.iter().product();
            let data: Vec<f64> = (0..n)
                .map(|mut i| {
                    let mut scale = 1.0;
                    for &d in s.iter().rev() {
                        let c = i % d;
                        i /= d;
                        scale *= 1.0 + ((c * 7919) % 13) as f64 * 0.4;
                    }
                    next() * scale * 1e-2
                })
                .collect();
            (k.to_string(), Tensor::new(s.to_vec(), data).unwrap())
        })
        .collect()
}

fn run<T: Transformation<f64>>(opt: &T, p0: &TensorMap<f64>, steps: usize) -> Vec<f64> {
    let mut p = p0.clone();
    let mut s = opt.init(&p).unwrap();
    let shapes: Vec<(String, Vec<usize>)> = p
        .iter()
        .map(|(k, v)| (k.clone(), v.shape().to_vec()))
        .collect();
    let shapes: Vec<(&str, &[usize])> = shapes.iter().map(|(k, s)| (k.as_str(), &s[..])).collect();
    for k in 0..steps {
        let g = tree(&shapes, 100 + k as u64);
        opt.step(&mut p, &g, &mut s).unwrap();
    }
    p.leaves().into_iter().flat_map(|(_, _, d)| d).collect()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1e-300 + x.abs().max(y.abs())))
        .fold(0.0, f64::max)
}

fn check(shape: &[usize], min_dim: usize) {
    let p0 = tree(&[("w", shape)], 1);
    let (lr, threshold) = (0.05, 0.3);
    let fused = adafactor()
        .learning_rate(lr)
        .min_dim_size_to_factor(min_dim)
        .clipping_threshold(threshold);
    let composed = chain!(
        scale_by_factored_rms().min_dim_size_to_factor(min_dim),
        clip_by_block_rms(threshold),
        scale_by_learning_rate(lr).flip_sign(false),
        scale_by_param_block_rms(),
        scale(-1.0)
    );
    let unclipped = run(&fused.clone().clipping_threshold(None), &p0, 4);
    let (a, b) = (run(&fused, &p0, 4), run(&composed, &p0, 4));
    // The params move, and the clip changes how far: a wrong Σ u² cannot hide.
    let moved: Vec<f64> = a.iter().zip(p0["w"].data()).map(|(x, y)| x - y).collect();
    let moved_unclipped: Vec<f64> = unclipped
        .iter()
        .zip(p0["w"].data())
        .map(|(x, y)| x - y)
        .collect();
    assert!(
        max_rel(&moved, &moved_unclipped) > 0.1,
        "{shape:?}: the clip is not active"
    );
    // Relative to the step: a param near zero after the step has no relative precision.
    let step = moved.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
    let e = a
        .iter()
        .zip(&b)
        .fold(0.0, |m: f64, (x, y)| m.max((x - y).abs()))
        / step;
    eprintln!("{shape:?}: {e:e}");
    assert!(
        e <= 1e-13,
        "{shape:?}: fused vs composed, error {e:e} of the largest step"
    );
}

#[test]
fn factored_clip_matches_the_composed_chain_rank_2() {
    // Default min_dim_size_to_factor: the larger axis first, then last.
    check(&[300, 140], 128);
    check(&[140, 300], 128);
}

#[test]
fn factored_clip_matches_the_composed_chain_factored_axes_not_innermost() {
    // [A, n_a, B, n_b, C] with C > 1: the larger factored axis first, then second.
    check(&[40, 3, 36, 2], 8);
    check(&[36, 3, 40, 2], 8);
    // All five blocks of the layout present.
    check(&[2, 24, 3, 20, 3], 8);
    check(&[2, 20, 3, 24, 3], 8);
    // Adjacent factored axes, then an inner axis.
    check(&[3, 140, 130, 2], 128);
}
