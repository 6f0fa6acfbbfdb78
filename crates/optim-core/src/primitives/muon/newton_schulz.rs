//! optax's `orthogonalize_via_newton_schulz` on one matrix, its products through faer's
//! matmul, with every buffer in a [`NsScratch`] made at `init` so a step allocates nothing.

use crate::{Error, Float};
use faer::{Accum, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

/// optax's default Newton-Schulz coefficients (`_DEFAULT_NS_COEFFS`, preset `"standard"`).
pub const DEFAULT_NS_COEFFS: [f64; 3] = [3.4445, -4.7750, 2.0315];

/// optax's `"dion"` preset: one triple per iteration.
pub const DION_NS_COEFFS: [[f64; 3]; 5] = [
    [4.0848, -6.8946, 2.9270],
    [3.9505, -6.3029, 2.6377],
    [3.7418, -5.5913, 2.3037],
    [2.8769, -3.1427, 1.2046],
    [2.8366, -3.0525, 1.2012],
];

/// The Newton-Schulz coefficients: one triple for every iteration (optax's shape `(3,)`),
/// or one triple per iteration (shape `(n, 3)`, which then fixes the number of iterations).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NsCoeffs {
    /// The same `(a, b, c)` at each of `ns_steps` iterations.
    Same([f64; 3]),
    /// One `(a, b, c)` per iteration.
    PerStep(Vec<[f64; 3]>),
}

impl Default for NsCoeffs {
    fn default() -> Self {
        NsCoeffs::Same(DEFAULT_NS_COEFFS)
    }
}

impl NsCoeffs {
    /// optax's named presets: `"standard"` and `"dion"`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "standard" => Some(NsCoeffs::Same(DEFAULT_NS_COEFFS)),
            "dion" => Some(NsCoeffs::PerStep(DION_NS_COEFFS.to_vec())),
            _ => None,
        }
    }

    /// The triple of each iteration, as optax's `init` resolves them: `ns_steps` copies of
    /// one triple, or the last `ns_steps` of a list that must not be longer than that.
    pub fn resolve(&self, ns_steps: usize) -> Result<Vec<[f64; 3]>, Error> {
        self.check(ns_steps)?;
        Ok(match self {
            NsCoeffs::Same(c) => vec![*c; ns_steps],
            NsCoeffs::PerStep(v) => v.clone(),
        })
    }

    /// optax's check of the coefficients against `ns_steps`, without allocating.
    pub fn check(&self, ns_steps: usize) -> Result<(), Error> {
        match self {
            NsCoeffs::PerStep(v) if v.is_empty() => Err(Error::Hyper {
                transform: "scale_by_muon".into(),
                arg: "ns_coeffs".into(),
                detail: "no triples".into(),
            }),
            NsCoeffs::PerStep(v) if v.len() > ns_steps => Err(Error::Hyper {
                transform: "scale_by_muon".into(),
                arg: "ns_coeffs".into(),
                detail: format!(
                    "{} triples for ns_steps = {ns_steps}: not enough coeffs to perform {ns_steps} steps (optax's check)",
                    v.len()
                ),
            }),
            _ => Ok(()),
        }
    }
}

impl crate::FromValue for NsCoeffs {
    fn from_value(v: crate::Value) -> Result<Self, Error> {
        match &v {
            crate::Value::Str(s) => NsCoeffs::preset(s).ok_or_else(|| Error::BadValue {
                expected: "a preset, \"standard\" or \"dion\"".into(),
                got: format!("the string {s:?}"),
            }),
            _ => Err(Error::BadValue {
                expected: "a preset, \"standard\" or \"dion\"".into(),
                got: format!("{v:?}"),
            }),
        }
    }
}

impl crate::ToValue for NsCoeffs {
    fn to_value(&self) -> crate::Value {
        match self {
            NsCoeffs::Same(c) if *c == DEFAULT_NS_COEFFS => crate::Value::Str("standard".into()),
            NsCoeffs::PerStep(v) if v[..] == DION_NS_COEFFS[..] => crate::Value::Str("dion".into()),
            other => crate::Value::Str(format!("{other:?}")),
        }
    }
}

/// How the matrix is scaled before the iterations (optax's `preconditioning`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preconditioning {
    /// Divide by the Frobenius norm plus `eps` (optax's default).
    Frobenius,
    /// AOL: the first iteration rescales rows by the absolute row sums of `X Xᵀ`.
    Aol,
    /// The first iteration rescales by the Frobenius norm of `X Xᵀ` (Schatten-4).
    Schatten,
}

impl Preconditioning {
    /// From optax's name; `"spectral"` (the largest singular value, by an SVD each step)
    /// is not offered and is an error naming the argument.
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "frobenius" => Ok(Preconditioning::Frobenius),
            "aol" => Ok(Preconditioning::Aol),
            "schatten" => Ok(Preconditioning::Schatten),
            other => Err(Error::Hyper {
                transform: "scale_by_muon".into(),
                arg: "preconditioning".into(),
                detail: format!(
                    "{other:?} is not offered (one of \"frobenius\", \"aol\", \"schatten\"; \
                     optax's \"spectral\" needs an SVD per step)"
                ),
            }),
        }
    }
}

/// The buffers of the iteration for matrices of up to `m × n` (`m ≤ n`).
#[derive(Clone, Debug, Default)]
pub struct NsScratch<F> {
    x: Vec<F>,
    next: Vec<F>,
    a: Vec<F>,
    b: Vec<F>,
}

impl<F: Float> NsScratch<F> {
    /// Scratch for matrices of `rows × cols` or smaller (either orientation).
    pub fn new(rows: usize, cols: usize) -> Self {
        let (m, n) = (rows.min(cols), rows.max(cols));
        NsScratch {
            x: vec![F::zero(); m * n],
            next: vec![F::zero(); m * n],
            a: vec![F::zero(); m * m],
            b: vec![F::zero(); m * m],
        }
    }

    /// Whether this scratch holds a matrix of `rows × cols`.
    pub fn fits(&self, rows: usize, cols: usize) -> bool {
        let (m, n) = (rows.min(cols), rows.max(cols));
        self.x.len() >= m * n && self.a.len() >= m * m
    }
}

/// Reinterprets a slice of `F` as a slice of `T` when they are the same type.
fn cast<F: 'static, T: 'static>(x: &[F]) -> &[T] {
    assert_eq!(std::any::TypeId::of::<F>(), std::any::TypeId::of::<T>());
    // SAFETY: `F` and `T` are the same type (checked above), so layout and validity agree.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<T>(), x.len()) }
}

/// The mutable form of [`cast`].
fn cast_mut<F: 'static, T: 'static>(x: &mut [F]) -> &mut [T] {
    assert_eq!(std::any::TypeId::of::<F>(), std::any::TypeId::of::<T>());
    // SAFETY: `F` and `T` are the same type (checked above), so layout and validity agree.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<T>(), x.len()) }
}

/// The parallelism of a product of `m × k` by `k × n`: faer's rayon split for the large
/// ones (faer splits the output, so each element's sum runs in one order at any thread
/// count), sequential below about two million multiply-adds, where threads cost more.
fn par(m: usize, k: usize, n: usize) -> Par {
    if m * k * n >= 1 << 21 && rayon::current_num_threads() > 1 {
        Par::rayon(rayon::current_num_threads())
    } else {
        Par::Seq
    }
}

fn gemm_typed<T: faer::traits::ComplexField + Copy>(
    dst: &mut [T],
    (m, k, n): (usize, usize, usize),
    a: &[T],
    b: &[T],
    b_transposed: bool,
    accumulate: bool,
    alpha: T,
) {
    let dst = MatMut::from_row_major_slice_mut(&mut dst[..m * n], m, n);
    let lhs = MatRef::from_row_major_slice(&a[..m * k], m, k);
    let rhs = if b_transposed {
        MatRef::from_row_major_slice(&b[..n * k], n, k).transpose()
    } else {
        MatRef::from_row_major_slice(&b[..k * n], k, n)
    };
    let accum = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, alpha, par(m, k, n));
}

/// `dst (m × n) = [dst +] alpha · a (m × k) · b` where `b` is `k × n`, or the transpose of
/// an `n × k` matrix when `b_transposed`; all row-major. faer's matmul, for f32 and f64.
pub fn matmul<F: Float>(
    dst: &mut [F],
    dims: (usize, usize, usize),
    a: &[F],
    b: &[F],
    b_transposed: bool,
    accumulate: bool,
    alpha: F,
) {
    if F::DTYPE == crate::Dtype::F64 {
        gemm_typed::<f64>(
            cast_mut(dst),
            dims,
            cast(a),
            cast(b),
            b_transposed,
            accumulate,
            alpha.f64(),
        );
    } else {
        gemm_typed::<f32>(
            cast_mut(dst),
            dims,
            cast(a),
            cast(b),
            b_transposed,
            accumulate,
            alpha.f64() as f32,
        );
    }
}

/// Runs faer's matmul once on the calling thread and on every thread of the current rayon
/// pool, on matrices like an iteration's (capped at 256 a side: faer's packing buffers are
/// sized by its cache blocking, not by the matrix), so that the per-process and per-thread
/// buffers faer allocates on first use exist before a step: called at `init`.
pub fn warm_up<F: Float>(m: usize, n: usize) {
    let (m, n) = (m.clamp(1, 256), n.clamp(1, 256));
    let run = || {
        let x = vec![F::zero(); m * n];
        let mut a = vec![F::zero(); m * m];
        matmul(&mut a, (m, n, m), &x, &x, true, false, F::one());
        let mut y = vec![F::zero(); m * n];
        matmul(&mut y, (m, m, n), &a, &x, false, true, F::one());
    };
    run();
    if rayon::current_num_threads() > 1 {
        rayon::broadcast(|_| run());
    }
}

/// One iteration `X ← c₀ X + (c₁ A + c₂ A²) X` with `A = X Xᵀ` already in `s.a`
/// (`m × m`), `X` in `s.x` (`m × n`); the result goes to `s.x`.
fn iterate<F: Float>(s: &mut NsScratch<F>, m: usize, n: usize, c: [f64; 3]) {
    let (c0, c1, c2) = (F::of(c[0]), F::of(c[1]), F::of(c[2]));
    for (b, &a) in s.b[..m * m].iter_mut().zip(&s.a[..m * m]) {
        *b = c1 * a;
    }
    matmul(&mut s.b, (m, m, m), &s.a, &s.a, false, true, c2);
    for (y, &x) in s.next[..m * n].iter_mut().zip(&s.x[..m * n]) {
        *y = c0 * x;
    }
    matmul(&mut s.next, (m, m, n), &s.b, &s.x, false, true, F::one());
    std::mem::swap(&mut s.x, &mut s.next);
}

/// `A = X Xᵀ` into `s.a`.
fn gram<F: Float>(s: &mut NsScratch<F>, m: usize, n: usize) {
    matmul(&mut s.a, (m, n, m), &s.x, &s.x, true, false, F::one());
}

/// Orthogonalizes the `rows × cols` row-major matrix `x` in place, as optax's
/// `orthogonalize_via_newton_schulz` does one matrix of its batch: a tall matrix is
/// transposed, scaled as `precond` says, then each triple of `coeffs` is one iteration
/// `X ← a X + (b A + c A²) X` with `A = X Xᵀ` (three matmuls); transposed back. Returns
/// `Σ x ⊙ result` (the input against the output, summed in f64), the dual norm that
/// Muon's `adaptive` scales by.
pub fn orthogonalize<F: Float>(
    x: &mut [F],
    rows: usize,
    cols: usize,
    coeffs: &[[f64; 3]],
    precond: Preconditioning,
    eps: f64,
    s: &mut NsScratch<F>,
) -> f64 {
    let transposed = rows > cols;
    let (m, n) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let len = m * n;
    if transposed {
        let src = &x[..len];
        for (i, row) in s.x[..len].chunks_exact_mut(n).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = src[j * cols + i];
            }
        }
    } else {
        s.x[..len].copy_from_slice(&x[..len]);
    }
    if precond == Preconditioning::Frobenius {
        let norm = s.x[..len]
            .iter()
            .map(|v| v.f64() * v.f64())
            .sum::<f64>()
            .sqrt();
        let d = F::of(norm) + F::of(eps);
        for v in &mut s.x[..len] {
            *v = *v / d;
        }
    }
    for (i, &c) in coeffs.iter().enumerate() {
        gram(s, m, n);
        if i == 0 && precond != Preconditioning::Frobenius {
            rescale_first(s, m, n, precond, eps);
        }
        iterate(s, m, n, c);
    }
    let mut dot = 0.0;
    if transposed {
        for (j, row) in s.x[..len].chunks_exact(n).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                let old = &mut x[i * cols + j];
                dot += old.f64() * v.f64();
                *old = v;
            }
        }
    } else {
        for (old, &v) in x[..len].iter_mut().zip(&s.x[..len]) {
            dot += old.f64() * v.f64();
            *old = v;
        }
    }
    dot
}

/// The first iteration's rescaling of AOL and Schatten-4: with `A = X Xᵀ` in `s.a`,
/// scales `X` and `A` so the iteration starts inside its region of convergence.
fn rescale_first<F: Float>(
    s: &mut NsScratch<F>,
    m: usize,
    n: usize,
    precond: Preconditioning,
    eps: f64,
) {
    let eps = F::of(eps);
    match precond {
        Preconditioning::Aol => {
            // s_i = 1/sqrt(max(Σ_j |A_ij|, eps)); X_ij *= s_i; A_ij *= s_i s_j. The row
            // scales are kept in `s.b`'s first row until the iteration overwrites it.
            for i in 0..m {
                let sum = s.a[i * m..(i + 1) * m]
                    .iter()
                    .fold(F::zero(), |t, &v| t + v.abs());
                s.b[i] = F::one() / sum.max(eps).sqrt();
            }
            for i in 0..m {
                let si = s.b[i];
                for v in &mut s.x[i * n..(i + 1) * n] {
                    *v = *v * si;
                }
                for j in 0..m {
                    s.a[i * m + j] = s.a[i * m + j] * si * s.b[j];
                }
            }
        }
        Preconditioning::Schatten => {
            let fro = s.a[..m * m]
                .iter()
                .fold(F::zero(), |t, &v| t + v * v)
                .sqrt();
            let sc = F::one() / fro.max(eps).sqrt();
            for v in &mut s.x[..m * n] {
                *v = *v * sc;
            }
            for v in &mut s.a[..m * m] {
                *v = *v * (sc * sc);
            }
        }
        Preconditioning::Frobenius => {}
    }
}
