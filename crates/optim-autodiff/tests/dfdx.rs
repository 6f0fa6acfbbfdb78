//! A composite loss against an independent implementation: a 2-layer MLP (linear, ReLU,
//! linear) with mean softmax cross-entropy, differentiated by our tape and by dfdx's, for
//! the same weights and batch, in f64 and in f32.
//!
//! Tolerances. Both engines compute the same sums in different orders (faer's and gemm's
//! blocking, different softmax reductions); each gradient element is a sum of at most
//! `batch * hidden` = 192 products, so reordering changes it by at most about
//! `192 * eps * sum|terms|`. We allow `tol * (1 + max|g|)` per leaf with `tol` = 1e-12 in
//! f64 (`eps` = 2.2e-16, so the bound is ~4e-14) and 1e-4 in f32 (`eps` = 1.2e-7, ~2.3e-5).
//! Observed: ~6e-17 and ~4e-8 (run with `--nocapture`). A wrong formula (a transposed
//! weight, a missing 1/n, a softmax off by the max) is off by O(1) and fails either bound.
//!
//! dfdx needs its `cpu` feature here: without it, dfdx 0.13's fallback matmul overwrites
//! instead of accumulating over the inner dimension and its forward pass is wrong.

mod common;

use common::Rng;
use dfdx::prelude::*;
use optim_autodiff::objectives::{MlpClassifier, Objective};
use optim_core::{Float, Tensor as OTensor, TensorMap};

const N: usize = 16;
const D: usize = 8;
const H: usize = 12;
const C: usize = 5;

type Model = (Linear<D, H>, ReLU, Linear<H, C>);

/// A reference implementation: data, labels and params in, loss and gradients (as f64) out.
type Reference<E> = fn(&OTensor<E>, &[usize], &TensorMap<E>) -> (f64, TensorMap<f64>);

/// `[rows, cols]` row-major -> `[cols, rows]` row-major.
fn transpose<E: Copy>(x: &[E], rows: usize, cols: usize) -> Vec<E> {
    (0..cols)
        .flat_map(|j| (0..rows).map(move |i| x[i * cols + j]))
        .collect()
}

/// dfdx's loss and gradients for our parameters, keyed by our leaf paths (its weights,
/// kept as `[out, in]`, transposed back to our `[in, out]` layout). A macro, since dfdx's
/// module bounds are easiest to satisfy with a concrete element type.
macro_rules! dfdx_loss_and_grad {
    ($name:ident, $E:ty) => {
        fn $name(
            x: &OTensor<$E>,
            labels: &[usize],
            params: &TensorMap<$E>,
        ) -> (f64, TensorMap<f64>) {
            let dev: Cpu = Default::default();
            let mut model = dev.build_module::<Model, $E>();
            model.0.weight = dev.tensor_from_vec(
                transpose(params["layer0.w"].data(), D, H),
                Rank2::<H, D>::default(),
            );
            model.0.bias =
                dev.tensor_from_vec(params["layer0.b"].data().to_vec(), Rank1::<H>::default());
            model.2.weight = dev.tensor_from_vec(
                transpose(params["layer1.w"].data(), H, C),
                Rank2::<C, H>::default(),
            );
            model.2.bias =
                dev.tensor_from_vec(params["layer1.b"].data().to_vec(), Rank1::<C>::default());
            let xt = dev.tensor_from_vec(x.data().to_vec(), Rank2::<N, D>::default());
            let mut onehot = vec![0.0 as $E; N * C];
            for (r, &l) in labels.iter().enumerate() {
                onehot[r * C + l] = 1.0;
            }
            let targets = dev.tensor_from_vec(onehot, Rank2::<N, C>::default());
            let grads = model.alloc_grads();
            let logits = model.forward(xt.traced(grads));
            let loss = cross_entropy_with_logits_loss(logits, targets);
            let value = loss.array() as f64;
            let g = loss.backward();
            let f64s = |v: Vec<$E>| v.into_iter().map(|e| e as f64).collect::<Vec<f64>>();
            let leaf =
                |shape: &[usize], data: Vec<f64>| OTensor::new(shape.to_vec(), data).unwrap();
            let mut out = TensorMap::new();
            out.insert(
                "layer0.w".into(),
                leaf(
                    &[D, H],
                    transpose(&f64s(g.get(&model.0.weight).as_vec()), H, D),
                ),
            );
            out.insert(
                "layer0.b".into(),
                leaf(&[H], f64s(g.get(&model.0.bias).as_vec())),
            );
            out.insert(
                "layer1.w".into(),
                leaf(
                    &[H, C],
                    transpose(&f64s(g.get(&model.2.weight).as_vec()), C, H),
                ),
            );
            out.insert(
                "layer1.b".into(),
                leaf(&[C], f64s(g.get(&model.2.bias).as_vec())),
            );
            (value, out)
        }
    };
}

dfdx_loss_and_grad!(dfdx_f64, f64);
dfdx_loss_and_grad!(dfdx_f32, f32);

/// Seeded random data and weights, our loss and gradients, and dfdx's (all as f64).
fn both<E: Float>(
    seed: u64,
    reference: Reference<E>,
) -> (f64, TensorMap<f64>, f64, TensorMap<f64>) {
    let mut rng = Rng::new(seed);
    let to_e = |t: OTensor<f64>| -> OTensor<E> {
        let data: Vec<E> = t.data().iter().map(|&v| E::of(v)).collect();
        OTensor::new(t.shape().to_vec(), data).unwrap()
    };
    let x = to_e(rng.tensor(&[N, D], -2.0, 2.0));
    let labels: Vec<usize> = (0..N).map(|_| rng.below(C)).collect();
    let mut params: TensorMap<E> = TensorMap::new();
    params.insert("layer0.w".into(), to_e(rng.tensor(&[D, H], -0.7, 0.7)));
    params.insert("layer0.b".into(), to_e(rng.tensor(&[H], -0.3, 0.3)));
    params.insert("layer1.w".into(), to_e(rng.tensor(&[H, C], -0.7, 0.7)));
    params.insert("layer1.b".into(), to_e(rng.tensor(&[C], -0.3, 0.3)));

    let mlp = MlpClassifier::new(x.clone(), &labels, &[D, H, C]).unwrap();
    let (ours_loss, ours) = mlp.value_and_grad(&params).unwrap();
    let ours: TensorMap<f64> = ours
        .into_iter()
        .map(|(k, t)| {
            let data: Vec<f64> = t.data().iter().map(|v| v.f64()).collect();
            (k, OTensor::new(t.shape().to_vec(), data).unwrap())
        })
        .collect();
    let (theirs_loss, theirs) = reference(&x, &labels, &params);
    (ours_loss.f64(), ours, theirs_loss, theirs)
}

fn compare<E: Float>(tol: f64, reference: Reference<E>) {
    let mut worst = 0.0f64;
    for seed in 0..8 {
        let (ours_loss, ours, theirs_loss, theirs) = both::<E>(seed, reference);
        assert!(
            (ours_loss - theirs_loss).abs() <= tol * (1.0 + theirs_loss.abs()),
            "seed {seed}: loss {ours_loss} vs dfdx {theirs_loss}"
        );
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        );
        for (path, t) in &theirs {
            let o = &ours[path];
            assert_eq!(o.shape(), t.shape(), "seed {seed}: {path}");
            let scale = 1.0 + t.data().iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (i, (a, b)) in o.data().iter().zip(t.data()).enumerate() {
                worst = worst.max((a - b).abs() / scale);
                assert!(
                    (a - b).abs() <= tol * scale,
                    "seed {seed}: {path}[{i}]: ours {a} vs dfdx {b}"
                );
            }
            // The comparison is not vacuous: the gradient is not all zeros.
            assert!(scale > 1.0, "seed {seed}: {path} has a zero gradient");
        }
    }
    eprintln!("largest difference from dfdx: {worst:.2e} of (1 + max|g|), tolerance {tol:.0e}");
}

#[test]
fn mlp_gradients_match_dfdx_in_f64() {
    compare::<f64>(1e-12, dfdx_f64);
}

#[test]
fn mlp_gradients_match_dfdx_in_f32() {
    compare::<f32>(1e-4, dfdx_f32);
}
