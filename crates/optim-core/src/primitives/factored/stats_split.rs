//! Pass 1 over a large factored leaf, split across the threads of a parallel step, with
//! the bits of the sequential pass (`stats.rs`): every entry of a statistic is summed
//! over the same elements in the same order, only by another thread. The entries of the
//! statistic over b are each one run's sum, so runs are split into blocks of about
//! `CHUNK` elements; the entries of the statistic over a (and the clip's weights `w`) each
//! sum one column over every run, so columns are split into blocks and each block walks
//! every run in order. The split costs one more read of the gradients (a run is read for
//! its sums over b, then again, from memory, for the sums over a) and buys every core.

use super::layout::Layout;
use super::stats::finish;
use crate::exec::CHUNK;
use crate::kernel::zip_sum;
use crate::Float;
use rayon::prelude::*;

/// As `stats::factored_moment`, on every thread of the current pool.
#[allow(clippy::too_many_arguments)]
pub(super) fn factored_moment_split<F: Float>(
    l: &Layout,
    g: &[F],
    v_row: &mut [F],
    v_col: &mut [F],
    (a, b, w): (&mut [F], &mut [F], &mut [F]),
    d: F,
    omd: F,
    eps: F,
    clip: bool,
) -> F {
    let (la, lb) = (l.len_a(), l.len_b());
    let (sa, sb, w) = (&mut a[..la], &mut b[..lb], &mut w[..la]);
    let (run, inner) = (l.nb * l.inner, l.inner);
    let nb = F::of(l.nb as f64);
    let vb = if l.row_over_a {
        &mut *v_col
    } else {
        &mut *v_row
    };
    // Per run: its sums over b, its new entries of `vb` and, with clipping, their
    // reciprocals (kept in `sb` until the factors replace them).
    let per = (CHUNK / run).max(1);
    sb.par_chunks_mut(per * inner)
        .zip(vb.par_chunks_mut(per * inner))
        .enumerate()
        .for_each(|(k, (kb, vb))| {
            for (j, (kb, vb)) in kb.chunks_mut(inner).zip(vb.chunks_mut(inner)).enumerate() {
                let r = k * per + j;
                let g = &g[r * run..(r + 1) * run];
                if inner == 1 {
                    kb[0] = F::zero() + zip_sum(g, g, |g, _| g * g + eps);
                } else {
                    kb.fill(F::zero());
                    for g in g.chunks_exact(inner) {
                        for (&g, b) in g.iter().zip(kb.iter_mut()) {
                            *b = *b + (g * g + eps);
                        }
                    }
                }
                for (v, b) in vb.iter_mut().zip(kb.iter_mut()) {
                    *v = d * *v + omd * (*b / nb);
                    if clip {
                        *b = F::one() / *v;
                    }
                }
            }
        });
    // Per block of columns of each `(x, y)`: the sums over a and, with clipping, the
    // weights `w = Σ_i g² / vb`, over the runs in order.
    let kb = &*sb;
    let width = run
        .div_ceil(4 * rayon::current_num_threads())
        .next_multiple_of(16);
    sa.par_chunks_mut(run)
        .zip(w.par_chunks_mut(run))
        .enumerate()
        .for_each(|(xy, (sa, w))| {
            let (x, y) = (xy / l.mid, xy % l.mid);
            sa.par_chunks_mut(width)
                .zip(w.par_chunks_mut(width))
                .enumerate()
                .for_each(|(c, (sa, w))| {
                    let c0 = c * width;
                    sa.fill(F::zero());
                    if clip {
                        w.fill(F::zero());
                    }
                    for i in 0..l.na {
                        let r = (x * l.na + i) * l.mid + y;
                        let g = &g[r * run + c0..r * run + c0 + sa.len()];
                        if !clip {
                            for (&g, a) in g.iter().zip(sa.iter_mut()) {
                                *a = *a + (g * g + eps);
                            }
                        } else if inner == 1 {
                            let rb = kb[r];
                            for ((&g, a), w) in g.iter().zip(sa.iter_mut()).zip(w.iter_mut()) {
                                let g2 = g * g;
                                *a = *a + (g2 + eps);
                                *w = *w + g2 * rb;
                            }
                        } else {
                            let kb = &kb[r * inner..(r + 1) * inner];
                            for (k, ((&g, a), w)) in
                                g.iter().zip(sa.iter_mut()).zip(w.iter_mut()).enumerate()
                            {
                                let g2 = g * g;
                                *a = *a + (g2 + eps);
                                *w = *w + g2 * kb[(c0 + k) % inner];
                            }
                        }
                    }
                });
        });
    finish(l, v_row, v_col, (sa, sb, w), d, omd, clip)
}
