//! The statistics passes: pass 1 over a leaf (see "Passes over a leaf" in `mod.rs`),
//! which decays the new squared gradients into the second moment and leaves the row and
//! column factors in the scratch, and, with clipping, sums the clip's `Σ u²` from the
//! statistics alone.

use super::layout::Layout;
use crate::kernel::{zip_sum, LANES};
use crate::Float;
use rayon::prelude::*;

/// Pass 1 over a factored leaf `l` with gradients `g`: decays the new statistics into
/// `v_row` and `v_col` (`d` the decay, `omd` its complement), leaves the row and column
/// factors in the leaf's scratch `a` and `b` (over `a` and over `b`; `w` holds the clip's
/// weights), and returns the clip's `Σ u²` when `clip` (else zero).
///
/// The sums over a are added per block of rows ([`Layout::a_blocks`]), each block into
/// its own part of `a` and `w` (`a_blocks` parts of `len_a`), then the parts in order
/// into the first. With `split` the blocks run on every thread of the current pool, each
/// streaming its own rows; the bits are the sequential pass's.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn factored_moment<F: Float>(
    l: &Layout,
    g: &[F],
    v_row: &mut [F],
    v_col: &mut [F],
    (a, b, w): (&mut [F], &mut [F], &mut [F]),
    d: F,
    omd: F,
    eps: F,
    clip: bool,
    split: bool,
) -> F {
    let (la, lb, blocks) = (l.len_a(), l.len_b(), l.a_blocks());
    let (a, sb) = (&mut a[..blocks * la], &mut b[..lb]);
    let w = &mut w[..if clip { blocks * la } else { 0 }];
    // The statistic over a needs every run; the one over b (`vb`) only the run its
    // entries sit in.
    let vb = if l.row_over_a {
        &mut *v_col
    } else {
        &mut *v_row
    };
    let shared = Shared {
        g,
        a: a.as_mut_ptr(),
        w: w.as_mut_ptr(),
        sb: sb.as_mut_ptr(),
        vb: vb.as_mut_ptr(),
    };
    // `RowsBlock`'s promise: block `k` writes part `k` of `a` and `w` and the entries of
    // `sb` and `vb` of its own runs, which no other block touches, and the slices above
    // are not used until every block is done. Each block runs from the widest build
    // `exec::simd` allows, on whichever thread runs it.
    let block = |k: usize| {
        crate::exec::wide_run(RowsBlock {
            l,
            s: &shared,
            k,
            blocks,
            c: (d, omd, eps),
            clip,
        })
    };
    if split {
        (0..blocks).into_par_iter().for_each(block);
    } else {
        (0..blocks).for_each(block);
    }
    let sa = add_parts(a, la);
    let sw = add_parts(w, if clip { la } else { 0 });
    if !clip {
        let nb = F::of(l.nb as f64);
        for (v, &s) in vb.iter_mut().zip(sb.iter()) {
            *v = d * *v + omd * (s / nb);
        }
    }
    finish(l, v_row, v_col, (sa, sb, sw), d, omd, clip)
}

/// Adds the parts of `len` elements of `parts` after the first into the first, in order,
/// and returns the first (empty when `len` is 0).
fn add_parts<F: Float>(parts: &mut [F], len: usize) -> &mut [F] {
    let (first, rest) = parts.split_at_mut(len);
    for part in rest.chunks_exact(len.max(1)) {
        for (s, &p) in first.iter_mut().zip(part) {
            *s = *s + p;
        }
    }
    first
}

/// What the blocks of [`factored_moment`] share: the gradients, and the scratch and
/// statistic over b that each writes its own disjoint parts of.
struct Shared<'a, F> {
    g: &'a [F],
    a: *mut F,
    w: *mut F,
    sb: *mut F,
    vb: *mut F,
}

// SAFETY: the blocks write disjoint elements through the pointers (`RowsBlock`).
unsafe impl<F: Sync> Sync for Shared<'_, F> {}

/// Block `k` of `blocks` of pass 1: the runs whose index along a is in the block. Their
/// sums over a go into part `k` of the scratch `a` and, with clipping, their weights
/// `w = Σ_i g² / vb` into part `k` of `w`; their sums over b into `sb` and, with
/// clipping, their new entries of `vb` (and `sb` then holds their reciprocals until the
/// factors replace them). Run from the widest build `exec::simd` allows
/// ([`Body`](crate::exec::Body)).
///
/// Built by [`factored_moment`] only, which promises that the pointers of `s` cover
/// `blocks` parts of `len_a` (`w`: when `clip`), `len_b` and `vb`'s length, and that no
/// one else accesses part `k` or the entries of this block's runs while it runs.
struct RowsBlock<'a, 'b, F> {
    l: &'a Layout,
    s: &'a Shared<'b, F>,
    k: usize,
    blocks: usize,
    c: (F, F, F),
    clip: bool,
}

impl<F: Float> crate::exec::Body for RowsBlock<'_, '_, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let RowsBlock {
            l,
            s,
            k,
            blocks,
            c: (d, omd, eps),
            clip,
        } = self;
        use std::slice::from_raw_parts_mut as part;
        let (la, run, inner) = (l.len_a(), l.nb * l.inner, l.inner);
        let nb = F::of(l.nb as f64);
        // SAFETY (all the slices below): as `factored_moment` promises.
        let pa = unsafe { part(s.a.add(k * la), la) };
        let pw = if clip {
            unsafe { part(s.w.add(k * la), la) }
        } else {
            &mut []
        };
        pa.fill(F::zero());
        pw.fill(F::zero());
        // Plain loops over the runs (no closure per run), all compiled into the caller.
        for (start, a_off, b_off) in l.runs_in(l.block_rows(k, blocks)) {
            let g = &s.g[start..start + run];
            let ka = &mut pa[a_off..a_off + run];
            let kb = unsafe { part(s.sb.add(b_off), inner) };
            kb.fill(F::zero());
            if clip {
                // Read the run once for its sums over b, hence its new entries of `vb`;
                // read it again, from cache, for the sums over a and for
                // `w = Σ_i g² / vb`, which gives the clip's Σ u² (`finish`).
                let kw = &mut pw[a_off..a_off + run];
                let vb = unsafe { part(s.vb.add(b_off), inner) };
                if inner == 1 {
                    kb[0] = kb[0] + zip_sum(g, g, |g, _| g * g + eps);
                } else {
                    for g in g.chunks_exact(inner) {
                        for (&g, b) in g.iter().zip(kb.iter_mut()) {
                            *b = *b + (g * g + eps);
                        }
                    }
                }
                for (v, b) in vb.iter_mut().zip(kb.iter_mut()) {
                    *v = d * *v + omd * (*b / nb);
                    *b = F::one() / *v;
                }
                if inner == 1 {
                    sums_and_weights(g, ka, kw, kb[0], eps);
                } else {
                    for ((g, ka), kw) in g
                        .chunks_exact(inner)
                        .zip(ka.chunks_exact_mut(inner))
                        .zip(kw.chunks_exact_mut(inner))
                    {
                        for (((&g, a), w), &r) in
                            g.iter().zip(ka.iter_mut()).zip(kw.iter_mut()).zip(&*kb)
                        {
                            let g2 = g * g;
                            *a = *a + (g2 + eps);
                            *w = *w + g2 * r;
                        }
                    }
                }
            } else if inner == 1 {
                kb[0] = kb[0] + zip_sum_into(g, ka, eps);
            } else {
                for (g, ka) in g.chunks_exact(inner).zip(ka.chunks_exact_mut(inner)) {
                    for ((&g, a), b) in g.iter().zip(ka.iter_mut()).zip(kb.iter_mut()) {
                        let e = g * g + eps;
                        *a = *a + e;
                        *b = *b + e;
                    }
                }
            }
        }
    }
}

/// The end of pass 1, over the statistics alone: decays the sums over a (in `sa`) into
/// the statistic over a, turns `sa` and `sb` into the row and column factors and returns
/// the clip's `Σ u²` when `clip` (else zero).
pub(super) fn finish<F: Float>(
    l: &Layout,
    v_row: &mut [F],
    v_col: &mut [F],
    (sa, sb, w): (&mut [F], &mut [F], &[F]),
    d: F,
    omd: F,
    clip: bool,
) -> F {
    let na = F::of(l.na as f64);
    let va = if l.row_over_a {
        &mut *v_row
    } else {
        &mut *v_col
    };
    // The new statistic over a: its mean decayed in.
    for (v, &s) in va.iter_mut().zip(sa.iter()) {
        *v = d * *v + omd * (s / na);
    }
    // Row factor (v_row / mean of v_row over d1)^-1/2, column factor v_col^-1/2,
    // into the scratch the sums were in.
    if l.row_over_a {
        // v_row is [A, B, n_b, C]; d1 is its n_b axis.
        row_factors(v_row, sa, l.outer * l.mid, l.nb, l.inner);
        col_factors(v_col, sb);
    } else {
        // v_row is [A, n_a, B, C]; d1 is its n_a axis.
        for x in 0..l.outer {
            let blk = l.na * l.mid * l.inner;
            row_factors(
                &v_row[x * blk..(x + 1) * blk],
                &mut sb[x * blk..(x + 1) * blk],
                1,
                l.na,
                l.mid * l.inner,
            );
        }
        col_factors(v_col, sa);
    }
    if clip {
        factored_sum_u2(l, v_row, sa, w)
    } else {
        F::zero()
    }
}

/// Adds `g² + eps` to `acc` element-wise and returns the sum of the same terms.
#[inline(always)]
fn zip_sum_into<F: Float>(g: &[F], acc: &mut [F], eps: F) -> F {
    let n = g.len().min(acc.len());
    let (g, acc) = (&g[..n], &mut acc[..n]);
    let mut lanes = [F::zero(); LANES];
    let mut cg = g.chunks_exact(LANES);
    let mut ca = acc.chunks_exact_mut(LANES);
    for (x, a) in (&mut cg).zip(&mut ca) {
        for l in 0..LANES {
            let e = x[l] * x[l] + eps;
            a[l] = a[l] + e;
            lanes[l] = lanes[l] + e;
        }
    }
    let mut s = F::zero();
    for (&x, a) in cg.remainder().iter().zip(ca.into_remainder()) {
        let e = x * x + eps;
        *a = *a + e;
        s = s + e;
    }
    lanes.iter().fold(F::zero(), |t, &x| t + x) + s
}

/// Adds `g² + eps` to `acc` and `g² * r` to `w`, element-wise.
#[inline(always)]
fn sums_and_weights<F: Float>(g: &[F], acc: &mut [F], w: &mut [F], r: F, eps: F) {
    let n = g.len().min(acc.len()).min(w.len());
    for ((&g, a), w) in g[..n].iter().zip(&mut acc[..n]).zip(&mut w[..n]) {
        let g2 = g * g;
        *a = *a + (g2 + eps);
        *w = *w + g2 * r;
    }
}

/// The clip's `Σ u²` over a factored leaf, from the statistics alone.
///
/// With `u = g · f_a · f_b` (`f_a`, `f_b` the factors of the statistics over a and over
/// b) and `M` the mean of `v_row` over d1, one of the two squared factors is
/// `M / v` and the other `1 / v` of its statistic; `M` is constant over both factored
/// axes. So, indexing the leaf `[x, i, y, j, z]` as `[A, n_a, B, n_b, C]`:
///
/// ```text
/// Σ u² = Σ_{x,y,z} M_{xyz} Σ_j (1 / va_{xyjz}) Σ_i g²_{xiyjz} / vb_{xiyz}
///      = Σ_{x,y,z} M_{xyz} Σ_j w_{xyjz} / va_{xyjz}
/// ```
///
/// where `w` was summed in pass 1. When v_row is the statistic over a (`row_over_a`),
/// `fa² = M / va` already; otherwise `fa² = 1 / va` and `M` is the mean of v_row (over
/// b) across `n_a`, computed here as `row_factors` does.
fn factored_sum_u2<F: Float>(l: &Layout, v_row: &[F], fa: &[F], w: &[F]) -> F {
    if l.row_over_a {
        return zip_sum(w, fa, |w, f| w * (f * f));
    }
    let nf = F::of(l.na as f64);
    let mut total = F::zero();
    for x in 0..l.outer {
        for y in 0..l.mid {
            let base_a = (x * l.mid + y) * l.nb * l.inner;
            if l.inner == 1 {
                let mut s = F::zero();
                for i in 0..l.na {
                    s = s + v_row[(x * l.na + i) * l.mid + y];
                }
                let m = s / nf;
                let run = base_a..base_a + l.nb;
                total = total + m * zip_sum(&w[run.clone()], &fa[run], |w, f| w * (f * f));
                continue;
            }
            for z in 0..l.inner {
                let mut s = F::zero();
                for i in 0..l.na {
                    s = s + v_row[((x * l.na + i) * l.mid + y) * l.inner + z];
                }
                let m = s / nf;
                let mut t = F::zero();
                for j in 0..l.nb {
                    let k = base_a + j * l.inner + z;
                    t = t + w[k] * (fa[k] * fa[k]);
                }
                total = total + m * t;
            }
        }
    }
    total
}

/// Updates the unfactored second moment in place and returns `Σ (g / sqrt(v))²`.
#[inline(always)]
pub(super) fn moment_and_sum<F: Float>(g: &[F], v: &mut [F], d: F, omd: F, eps: F) -> F {
    let mut lanes = [F::zero(); LANES];
    let mut cg = g.chunks_exact(LANES);
    let mut cv = v.chunks_exact_mut(LANES);
    for (x, v) in (&mut cg).zip(&mut cv) {
        for l in 0..LANES {
            let nv = d * v[l] + omd * (x[l] * x[l] + eps);
            v[l] = nv;
            let u = x[l] / nv.sqrt();
            lanes[l] = lanes[l] + u * u;
        }
    }
    let mut s = F::zero();
    for (&x, v) in cg.remainder().iter().zip(cv.into_remainder()) {
        let nv = d * *v + omd * (x * x + eps);
        *v = nv;
        let u = x / nv.sqrt();
        s = s + u * u;
    }
    lanes.iter().fold(F::zero(), |t, &x| t + x) + s
}

/// For `v` of shape `[outer, n, inner]`: `out = (v / mean of v over its n axis)^-1/2`.
fn row_factors<F: Float>(v: &[F], out: &mut [F], outer: usize, n: usize, inner: usize) {
    let nf = F::of(n as f64);
    for x in 0..outer {
        let base = x * n * inner;
        for z in 0..inner {
            let mut s = F::zero();
            for j in 0..n {
                s = s + v[base + j * inner + z];
            }
            let mean = s / nf;
            for j in 0..n {
                let i = base + j * inner + z;
                out[i] = F::one() / (v[i] / mean).sqrt();
            }
        }
    }
}

/// `out = v^-1/2`.
fn col_factors<F: Float>(v: &[F], out: &mut [F]) {
    for (o, &v) in out.iter_mut().zip(v) {
        *o = F::one() / v.sqrt();
    }
}
