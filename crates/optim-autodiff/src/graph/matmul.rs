//! Matrix products through faer: [`Graph::matmul`] and the `gemm` that both its forward
//! and its backward pass call, which runs faer's matmul and then `vzeroupper` (see
//! `clear_upper_vector_state` for why).

use super::pool::take_buf;
use super::tape::{Graph, Op, Var};
use crate::error::{Error, Result};
use optim_core::Float;

/// Reinterprets a slice of `F` as a slice of `T` when they are the same type.
fn cast<F: 'static, T: 'static>(x: &[F]) -> Option<&[T]> {
    if std::any::TypeId::of::<F>() == std::any::TypeId::of::<T>() {
        // SAFETY: `F` and `T` are the same type, so the layout and validity are identical.
        Some(unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<T>(), x.len()) })
    } else {
        None
    }
}

/// The mutable form of [`cast`].
fn cast_mut<F: 'static, T: 'static>(x: &mut [F]) -> Option<&mut [T]> {
    if std::any::TypeId::of::<F>() == std::any::TypeId::of::<T>() {
        // SAFETY: `F` and `T` are the same type, so the layout and validity are identical.
        Some(unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<T>(), x.len()) })
    } else {
        None
    }
}

/// How a matrix operand of [`gemm`] is read.
#[derive(Clone, Copy)]
pub(super) struct MatArg<'a, F> {
    pub(super) data: &'a [F],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) transpose: bool,
}

fn gemm_typed<T: faer::traits::ComplexField + Copy>(
    out: &mut [T],
    m: usize,
    n: usize,
    a: MatArg<'_, T>,
    b: MatArg<'_, T>,
    accumulate: bool,
    one: T,
) {
    use faer::{Accum, MatMut, MatRef, Par};
    let mut dst = MatMut::from_row_major_slice_mut(out, m, n);
    let ra = MatRef::from_row_major_slice(a.data, a.rows, a.cols);
    let ra = if a.transpose { ra.transpose() } else { ra };
    let rb = MatRef::from_row_major_slice(b.data, b.rows, b.cols);
    let rb = if b.transpose { rb.transpose() } else { rb };
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    faer::linalg::matmul::matmul(dst.as_mut(), beta, ra, rb, one, Par::Seq);
    clear_upper_vector_state();
}

/// Executes `vzeroupper` where the CPU has AVX.
///
/// faer's x86 matmul kernels (private-gemm-x86, AVX-512 on machines that have it) can
/// return with the upper halves of the vector registers dirty. Until something clears
/// them, every legacy-SSE instruction that follows (all of this crate's scalar float
/// code, compiled for baseline x86-64) pays a state-transition penalty: measured here as
/// `cross_entropy` on `[1279, 6]` logits taking 3-11 ms after a matmul instead of 0.13 ms.
#[inline]
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        unsafe fn zeroupper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX, checked just above.
            unsafe { zeroupper() }
        }
    }
}

/// `out (+)= op(a) * op(b)` for row-major `out` of shape `[m, n]`, through faer.
pub(super) fn gemm<F: Float>(
    out: &mut [F],
    m: usize,
    n: usize,
    a: MatArg<'_, F>,
    b: MatArg<'_, F>,
    acc: bool,
) {
    let k = if a.transpose { a.rows } else { a.cols };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            out.fill(F::zero());
        }
        return;
    }
    if let (Some(a), Some(b), Some(o)) = (recast::<F, f64>(a), recast::<F, f64>(b), cast_mut(out)) {
        gemm_typed::<f64>(o, m, n, a, b, acc, 1.0);
    } else if let (Some(a), Some(b), Some(o)) =
        (recast::<F, f32>(a), recast::<F, f32>(b), cast_mut(out))
    {
        gemm_typed::<f32>(o, m, n, a, b, acc, 1.0);
    }
}

/// [`cast`] for a matrix operand.
fn recast<F: 'static, T: 'static>(x: MatArg<'_, F>) -> Option<MatArg<'_, T>> {
    Some(MatArg {
        data: cast(x.data)?,
        rows: x.rows,
        cols: x.cols,
        transpose: x.transpose,
    })
}

impl<F: Float> Graph<F> {
    /// The matrix product of two 2-d values, `[m, k] x [k, n] -> [m, n]`, through faer.
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        let (na, nb) = (self.node(a)?, self.node(b)?);
        let bad = |detail: &str| Error::Shape {
            op: "matmul",
            lhs: na.shape.clone(),
            rhs: nb.shape.clone(),
            detail: detail.into(),
        };
        if na.shape.len() != 2 || nb.shape.len() != 2 {
            return Err(bad("matmul needs two 2-d tensors"));
        }
        if na.shape[1] != nb.shape[0] {
            return Err(bad("the inner dimensions differ"));
        }
        let (m, k, n) = (na.shape[0], na.shape[1], nb.shape[1]);
        let rg = na.requires_grad || nb.requires_grad;
        let mut out = take_buf(&mut self.pool, m * n, F::zero());
        let (na, nb) = (&self.nodes[a.idx], &self.nodes[b.idx]);
        gemm(
            &mut out,
            m,
            n,
            MatArg {
                data: &na.data,
                rows: m,
                cols: k,
                transpose: false,
            },
            MatArg {
                data: &nb.data,
                rows: k,
                cols: n,
                transpose: false,
            },
            false,
        );
        Ok(self.push(vec![m, n], out, Op::MatMul(a.idx, b.idx), rg))
    }
}
