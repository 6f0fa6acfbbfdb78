//! Adafactor (optax's `adafactor`) and its primitive `scale_by_factored_rms`; the other
//! primitives it is composed of, `clip_by_block_rms`, `scale_by_param_block_rms` and
//! `scale_by_param_block_norm`, are in `primitives/block.rs`.
//!
//! These are written by hand behind [`Transformation`] rather than declared with
//! `#[optimizer]`: the factored second moment keeps a row and a column statistic per
//! leaf, over the two largest axes of *that* leaf (chosen at run time from its shape, for
//! any rank), and each element reads the row and column entries that its multi-axis index
//! selects. The element-wise DSL has no way to express that per-leaf choice of axes nor
//! that index structure. The per-leaf block statistics (the clip's rms of the update, the
//! parameter rms) are computed here too, so `adafactor` still runs as one transformation
//! with no updates buffer.
//!
//! # Passes over a leaf
//!
//! A leaf of shape `[.., n_a, .., n_b, ..]`, with `a < b` its two factored axes, is seen as
//! `[A, n_a, B, n_b, C]`; its row and column statistics are the leaf reduced over `a` or
//! over `b` (which is which depends on which axis is the larger). The leaf is walked in
//! contiguous runs of `n_b * C` elements, one per `(x, i, y)`. The entries of the
//! statistic over `b` that a run contributes to (`C` of them) depend on that run alone;
//! the statistic over `a` needs every run. A step makes two streaming passes over a
//! leaf from memory:
//!
//! 1. statistics. Factored leaf without clipping: each run is read once, into the sums
//!    over `a` and over `b`. Factored leaf with clipping: each run is read once for its
//!    sums over `b`, which give its new entries `vb` of that statistic, then read again
//!    while it is still in cache, into the sums over `a` and into `w = Σ_i g² / vb` (one
//!    entry per entry of the statistic over `a`, scratch sized by `init`). Since the mean
//!    `M` of `v_row` over d1 is constant over both factored axes, the clip's
//!    `Σ u² = Σ g² · f_a² · f_b²` is then `Σ_{x,y,z} M Σ_j w / va`, known from the
//!    statistics alone once pass 1 ends (`factored_sum_u2`). An unfactored leaf with
//!    clipping updates its second moment here and sums `u²`. With
//!    `multiply_by_parameter_scale` the params are read once for their sum of squares.
//! 2. the update: read gradient, param and momentum, write param (or update) and momentum.
//!
//! So every element of a leaf-sized buffer (gradient, params, momentum, the update) is
//! read at most twice from memory and written at most once per step. The in-cache
//! re-read of pass 1 assumes a run of `n_b * C` elements fits in the core's L2 (8 KB for
//! the 2048 f32 columns of a 4096×2048 leaf); a longer run is still correct but its
//! re-read comes from memory. The statistics (`v_row`, `v_col`, `w`, and the row and
//! column scratch, which hold the sums and then the factors) are one entry per row or
//! column, not per element, and are read a few times each. No scratch is leaf-sized: that
//! is the memory factoring exists to save.

use crate::float::Store;
use crate::kernel::{
    corrupt, for_each_step_leaf, for_each_update_leaf, hand_hyperparams, jax_mode, sum_sq, zip_sum,
    LeafIo, LANES,
};
use crate::Absent;
use crate::{
    check_update_trees, leaf_metas, Buf, Dtype, Error, Extra, Float, LeafMeta, LearningRate, Mask,
    ScalarOrSchedule, Transformation, Tree,
};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// The factored layout.

/// How a factored leaf is laid out: its shape seen as `[A, n_a, B, n_b, C]`, where `a < b`
/// are the two factored axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    outer: usize,
    na: usize,
    mid: usize,
    nb: usize,
    inner: usize,
    /// Whether axis `a` is the largest one (`d0` in optax), so that the row statistic
    /// (reduced over `d0`) is the leaf reduced over `a`.
    row_over_a: bool,
}

impl Layout {
    /// optax's `_factored_dims`: the two largest axes of a leaf of rank >= 2 when the
    /// smaller of them has at least `min_dim` elements. Ties keep the axis order, as
    /// numpy's `argsort` does on short shapes: the later axis counts as the larger.
    fn of(shape: &[usize], factored: bool, min_dim: usize) -> Option<Layout> {
        if !factored || shape.len() < 2 {
            return None;
        }
        // The last and second-to-last axes of a stable ascending sort by size: among
        // equal sizes the later axis wins. No allocation: this runs at every step.
        let largest_except = |skip: usize| {
            (0..shape.len())
                .filter(|&i| i != skip)
                .fold(None, |best: Option<usize>, i| match best {
                    Some(b) if shape[b] > shape[i] => Some(b),
                    _ => Some(i),
                })
                .unwrap_or(0)
        };
        let d0 = largest_except(usize::MAX);
        let d1 = largest_except(d0);
        if shape[d1] < min_dim {
            return None;
        }
        let (a, b) = (d0.min(d1), d0.max(d1));
        let prod = |r: std::ops::Range<usize>| shape[r].iter().product::<usize>();
        Some(Layout {
            outer: prod(0..a),
            na: shape[a],
            mid: prod(a + 1..b),
            nb: shape[b],
            inner: prod(b + 1..shape.len()),
            row_over_a: d0 == a,
        })
    }

    /// Length of the leaf reduced over axis `a`.
    fn len_a(&self) -> usize {
        self.outer * self.mid * self.nb * self.inner
    }
    /// Length of the leaf reduced over axis `b`.
    fn len_b(&self) -> usize {
        self.outer * self.na * self.mid * self.inner
    }
    fn row_len(&self) -> usize {
        if self.row_over_a {
            self.len_a()
        } else {
            self.len_b()
        }
    }
    fn col_len(&self) -> usize {
        if self.row_over_a {
            self.len_b()
        } else {
            self.len_a()
        }
    }

    /// Calls `f(start, a_off, b_off)` for every contiguous run of `n_b * C` elements:
    /// its offset in the leaf, and the offsets of its entries in the arrays reduced over
    /// `a` (a run of `n_b * C`) and over `b` (a run of `C`).
    #[inline(always)]
    fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        let run = self.nb * self.inner;
        for x in 0..self.outer {
            for i in 0..self.na {
                for y in 0..self.mid {
                    let start = ((x * self.na + i) * self.mid + y) * run;
                    let a_off = (x * self.mid + y) * run;
                    let b_off = ((x * self.na + i) * self.mid + y) * self.inner;
                    f(start, a_off, b_off);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The shared engine of `adafactor` and `scale_by_factored_rms`.

/// optax's `_decay_rate_pow` at 0-based step `step`, as optax computes it: in float32
/// whatever the params' type, `1 - (step + 1)^(-decay_rate)`. The step is clamped at
/// zero, see [`Adafactor`].
fn decay_rate_pow(step: i64, decay_rate: f64) -> (f64, f64) {
    let t = (step.max(0) + 1) as f32;
    let e = (-decay_rate) as f32;
    // The f64 power rounded to f32 is what XLA's float32 pow returns here.
    let pow = (t as f64).powf(e as f64) as f32;
    let rate = 1.0f32 - pow;
    (rate as f64, (1.0f32 - rate) as f64)
}

/// Everything a step needs, resolved once.
struct Plan<F> {
    factored: bool,
    min_dim: usize,
    eps: F,
    decay: F,
    one_minus_decay: F,
    clip: Option<F>,
    /// The learning rate (1 without one).
    lr: F,
    param_scale: bool,
    /// Momentum `β` and `1 - β` (0 and 1 without momentum).
    beta: F,
    one_minus_beta: F,
    /// The weight decay rate, when on.
    weight_decay: Option<F>,
    /// -1 for the descent step of `adafactor`, 1 for the primitive.
    sign: F,
}

/// The state of [`ScaleByFactoredRms`] (optax's `FactoredState`), also the second-moment
/// part of [`AdafactorState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct FactoredRmsState<F> {
    /// Number of updates done so far.
    pub count: u64,
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// Per leaf: the row statistic of a factored leaf (the leaf's shape without its
    /// largest axis), empty otherwise.
    pub v_row: Vec<Vec<F>>,
    /// Per leaf: the column statistic of a factored leaf (the shape without its second
    /// largest axis), empty otherwise.
    pub v_col: Vec<Vec<F>>,
    /// Per leaf: the full second moment of a leaf that is not factored, empty otherwise.
    pub v: Vec<Vec<F>>,
    #[serde(skip)]
    scratch: Scratch<F>,
}

/// Working memory for the row and column sums and factors, and for the clip's weights
/// `w`, sized by `init` for the largest factored leaf. Not part of the saved state: a deserialized state sizes it on
/// its first step.
#[derive(Clone, Debug, Default)]
struct Scratch<F> {
    a: Vec<F>,
    b: Vec<F>,
    /// Per entry of the statistic over a: `Σ g² / vb` over a, for the clip.
    w: Vec<F>,
}

impl<F> PartialEq for Scratch<F> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<F: Float> Scratch<F> {
    fn sized_for(metas: &[LeafMeta], factored: bool, min_dim: usize) -> Self {
        let mut s = Scratch {
            a: Vec::new(),
            b: Vec::new(),
            w: Vec::new(),
        };
        s.fit(metas, factored, min_dim);
        s
    }
    fn fit(&mut self, metas: &[LeafMeta], factored: bool, min_dim: usize) {
        let (mut la, mut lb) = (0, 0);
        for m in metas {
            if let Some(l) = Layout::of(&m.shape, factored, min_dim) {
                la = la.max(l.len_a());
                lb = lb.max(l.len_b());
            }
        }
        if self.a.len() < la {
            self.a.resize(la, F::zero());
        }
        if self.w.len() < la {
            self.w.resize(la, F::zero());
        }
        if self.b.len() < lb {
            self.b.resize(lb, F::zero());
        }
    }
}

impl<F: Float> FactoredRmsState<F> {
    fn new(metas: Vec<LeafMeta>, factored: bool, min_dim: usize) -> Self {
        let (mut v_row, mut v_col, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for m in &metas {
            match Layout::of(&m.shape, factored, min_dim) {
                Some(l) => {
                    v_row.push(vec![F::zero(); l.row_len()]);
                    v_col.push(vec![F::zero(); l.col_len()]);
                    v.push(Vec::new());
                }
                None => {
                    v_row.push(Vec::new());
                    v_col.push(Vec::new());
                    v.push(vec![F::zero(); m.len()]);
                }
            }
        }
        let scratch = Scratch::sized_for(&metas, factored, min_dim);
        FactoredRmsState {
            count: 0,
            leaves: metas,
            v_row,
            v_col,
            v,
            scratch,
        }
    }

    /// Checks every buffer against the leaves and the configuration; sizes the scratch
    /// of a deserialized state. Writes nothing the step reads.
    fn check(&mut self, factored: bool, min_dim: usize) -> Result<(), Error> {
        let n = self.leaves.len();
        for (what, len) in [
            ("v_row", self.v_row.len()),
            ("v_col", self.v_col.len()),
            ("v", self.v.len()),
        ] {
            if len != n {
                let path = self
                    .leaves
                    .first()
                    .map_or("<root>".into(), |m| m.path.clone());
                return Err(corrupt(
                    &path,
                    what,
                    format!("{n} leaves recorded but {len} buffers"),
                ));
            }
        }
        for (i, m) in self.leaves.iter().enumerate() {
            let (row, col, v) = match Layout::of(&m.shape, factored, min_dim) {
                Some(l) => (l.row_len(), l.col_len(), 0),
                None => (0, 0, m.len()),
            };
            for (what, want, got) in [
                ("v_row", row, self.v_row[i].len()),
                ("v_col", col, self.v_col[i].len()),
                ("v", v, self.v[i].len()),
            ] {
                if want != got {
                    return Err(corrupt(
                        &m.path,
                        what,
                        format!(
                            "{got} elements, expected {want} for shape {:?} (was the state \
                             built with other `factored` / `min_dim_size_to_factor`?)",
                            m.shape
                        ),
                    ));
                }
            }
        }
        self.scratch.fit(&self.leaves, factored, min_dim);
        Ok(())
    }
}

/// One leaf of a step. `mu` is the momentum buffer (zero-sized slots without momentum).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn run_leaf<F: Float, S: Decayed<F>, IO: LeafIo<F>>(
    plan: &Plan<F>,
    shape: &[usize],
    v_row: &mut [F],
    v_col: &mut [F],
    v: &mut [F],
    scratch: &mut Scratch<F>,
    mu: &mut [S],
    decay_this_leaf: bool,
    io: &mut IO,
) {
    let n = io.grads().len();
    let mu = &mut mu[..n];
    let eps = plan.eps;
    let (d, omd) = (plan.decay, plan.one_minus_decay);
    let layout = Layout::of(shape, plan.factored, plan.min_dim);

    // Pass 1: the parameter rms.
    let param_scale = if plan.param_scale {
        let p = io.params().unwrap_or(&[]);
        let rms = (sum_sq(p) / F::of(n as f64)).sqrt();
        let min = F::of(1e-3);
        if rms <= min {
            min
        } else {
            rms
        }
    } else {
        F::one()
    };

    // Pass 1: the second moment, its factors and, with clipping, the sum of squared
    // updates.
    let mut sum_u2 = F::zero();
    match layout {
        Some(l) => {
            let (la, lb) = (l.len_a(), l.len_b());
            let Scratch { a, b, w } = scratch;
            let (sa, sb) = (&mut a[..la], &mut b[..lb]);
            sa.fill(F::zero());
            sb.fill(F::zero());
            let g = io.grads();
            let run = l.nb * l.inner;
            let (na, nb) = (F::of(l.na as f64), F::of(l.nb as f64));
            // The statistic over a (`va`) needs every run; the one over b (`vb`) only
            // the run its entries sit in.
            let (va, vb) = if l.row_over_a {
                (&mut *v_row, &mut *v_col)
            } else {
                (&mut *v_col, &mut *v_row)
            };
            if plan.clip.is_some() {
                // Per run: read it once for its sums over b, hence its new entries of
                // `vb`; read it again, from cache, for the sums over a and for
                // `w = Σ_i g² / vb`, which gives the clip's Σ u² below.
                let sw = &mut w[..la];
                sw.fill(F::zero());
                l.for_each_run(|start, a_off, b_off| {
                    let g = &g[start..start + run];
                    let ka = &mut sa[a_off..a_off + run];
                    let kw = &mut sw[a_off..a_off + run];
                    let kb = &mut sb[b_off..b_off + l.inner];
                    let vb = &mut vb[b_off..b_off + l.inner];
                    if l.inner == 1 {
                        kb[0] = kb[0] + zip_sum(g, g, |g, _| g * g + eps);
                    } else {
                        for g in g.chunks_exact(l.inner) {
                            for (&g, b) in g.iter().zip(kb.iter_mut()) {
                                *b = *b + (g * g + eps);
                            }
                        }
                    }
                    // The new entries of `vb`; `kb` holds their reciprocals until the
                    // factors replace them.
                    for (v, b) in vb.iter_mut().zip(kb.iter_mut()) {
                        *v = d * *v + omd * (*b / nb);
                        *b = F::one() / *v;
                    }
                    if l.inner == 1 {
                        let r = kb[0];
                        sums_and_weights(g, ka, kw, r, eps);
                    } else {
                        for ((g, ka), kw) in g
                            .chunks_exact(l.inner)
                            .zip(ka.chunks_exact_mut(l.inner))
                            .zip(kw.chunks_exact_mut(l.inner))
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
                });
            } else {
                l.for_each_run(|start, a_off, b_off| {
                    let g = &g[start..start + run];
                    let ka = &mut sa[a_off..a_off + run];
                    let kb = &mut sb[b_off..b_off + l.inner];
                    if l.inner == 1 {
                        kb[0] = kb[0] + zip_sum_into(g, ka, eps);
                    } else {
                        for (g, ka) in g.chunks_exact(l.inner).zip(ka.chunks_exact_mut(l.inner)) {
                            for ((&g, a), b) in g.iter().zip(ka.iter_mut()).zip(kb.iter_mut()) {
                                let e = g * g + eps;
                                *a = *a + e;
                                *b = *b + e;
                            }
                        }
                    }
                });
                for (v, &s) in vb.iter_mut().zip(sb.iter()) {
                    *v = d * *v + omd * (s / nb);
                }
            }
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
            if plan.clip.is_some() {
                sum_u2 = factored_sum_u2(&l, v_row, sa, &w[..la]);
            }
        }
        None => {
            if plan.clip.is_some() {
                // The new second moment now, and the rms of the unclipped update.
                let g = io.grads();
                sum_u2 = moment_and_sum(&g[..n], &mut v[..n], d, omd, eps);
            }
        }
    }

    // The per-leaf scale: clip, learning rate, parameter scale.
    let mut s = plan.lr * param_scale;
    if let Some(threshold) = plan.clip {
        let rms = (sum_u2 / F::of(n as f64)).sqrt();
        let denom = F::one().max(rms / threshold);
        s = s / denom;
    }
    let (beta, omb, sign) = (plan.beta, plan.one_minus_beta, plan.sign);
    let wd = if decay_this_leaf {
        plan.weight_decay
    } else {
        None
    };
    let wd_on = wd.is_some();
    let wd = wd.unwrap_or_else(F::zero);
    // The tail every element goes through: scale, momentum, weight decay, sign.
    let tail = |u: F, p: F, m: &mut S| -> F {
        let x = u * s;
        let x = omb * x + m.decayed(beta);
        *m = S::store(x);
        let x = if wd_on { x + wd * p } else { x };
        sign * x
    };

    // Pass 2: the update.
    match layout {
        Some(l) => {
            let (sa, sb) = (&scratch.a[..l.len_a()], &scratch.b[..l.len_b()]);
            let run = l.nb * l.inner;
            l.for_each_run(|start, a_off, b_off| {
                let fa = &sa[a_off..a_off + run];
                let fb = &sb[b_off..b_off + l.inner];
                let m = &mut mu[start..start + run];
                if l.inner == 1 {
                    let fb = fb[0];
                    io.apply(start, run, |k, g, p| tail(g * fa[k] * fb, p, &mut m[k]));
                } else {
                    for j in 0..l.nb {
                        let o = j * l.inner;
                        let fa = &fa[o..o + l.inner];
                        let m = &mut m[o..o + l.inner];
                        io.apply(start + o, l.inner, |k, g, p| {
                            tail(g * fa[k] * fb[k], p, &mut m[k])
                        });
                    }
                }
            });
        }
        None => {
            let v = &mut v[..n];
            if plan.clip.is_some() {
                // The second moment is already new.
                io.apply(0, n, |k, g, p| {
                    let u = g / v[k].sqrt();
                    tail(u, p, &mut mu[k])
                });
            } else {
                io.apply(0, n, |k, g, p| {
                    let nv = d * v[k] + omd * (g * g + eps);
                    v[k] = nv;
                    tail(g / nv.sqrt(), p, &mut mu[k])
                });
            }
        }
    }
}

/// `β · m` for a momentum slot, as optax computes it: in the params' type, except that a
/// float32 momentum of float64 params is multiplied in float32 (jax gives the weakly typed
/// `β` the stored array's dtype). Low-precision storage (bfloat16, float16) keeps the
/// arithmetic in the params' type, as the crate does everywhere (deviation 4 of the
/// reference set).
trait Decayed<F: Float>: Store<F> {
    #[inline(always)]
    fn decayed(self, beta: F) -> F {
        beta * self.load()
    }
}
impl<F: Float> Decayed<F> for F {}
impl<F: Float> Decayed<F> for crate::AsF64 {}
impl<F: Float> Decayed<F> for half::bf16 {}
impl<F: Float> Decayed<F> for half::f16 {}
impl<F: Float> Decayed<F> for Absent {}
impl<F: Float> Decayed<F> for crate::AsF32 {
    #[inline(always)]
    fn decayed(self, beta: F) -> F {
        F::of((beta.f64() as f32 * self.0) as f64)
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
fn moment_and_sum<F: Float>(g: &[F], v: &mut [F], d: F, omd: F, eps: F) -> F {
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

/// One leaf of a step, with its momentum buffer in whatever storage it has.
#[allow(clippy::too_many_arguments)]
fn run_leaf_any<F: Float, IO: LeafIo<F>>(
    plan: &Plan<F>,
    st: &mut FactoredRmsState<F>,
    i: usize,
    mu: Option<&mut Buf<F>>,
    decay_this_leaf: bool,
    io: &mut IO,
) {
    let FactoredRmsState {
        leaves,
        v_row,
        v_col,
        v,
        scratch,
        ..
    } = st;
    let (shape, vr, vc, vv) = (
        &leaves[i].shape[..],
        &mut v_row[i][..],
        &mut v_col[i][..],
        &mut v[i][..],
    );
    let w = decay_this_leaf;
    match mu {
        None | Some(Buf::Absent(_)) => {
            // Zero-sized slots: a `Vec` of them never allocates.
            let mut slots = vec![Absent; io.grads().len()];
            run_leaf(plan, shape, vr, vc, vv, scratch, &mut slots, w, io)
        }
        Some(Buf::Native(m)) => run_leaf(plan, shape, vr, vc, vv, scratch, m, w, io),
        Some(Buf::F32(m)) => run_leaf(plan, shape, vr, vc, vv, scratch, m, w, io),
        Some(Buf::F64(m)) => run_leaf(plan, shape, vr, vc, vv, scratch, m, w, io),
        Some(Buf::BF16(m)) => run_leaf(plan, shape, vr, vc, vv, scratch, m, w, io),
        Some(Buf::F16(m)) => run_leaf(plan, shape, vr, vc, vv, scratch, m, w, io),
    }
}

// ---------------------------------------------------------------------------------------
// scale_by_factored_rms

/// Scaling by a factored estimate of the gradient rms, as in Adafactor (optax's
/// `scale_by_factored_rms`): the learning-rate-free core of [`adafactor`].
///
/// # Update
///
/// With `t` the 0-based step, `decay = 1 - (max(t - step_offset, 0) + 1)^(-decay_rate)`
/// (computed in float32, as optax does), and `e = g² + epsilon` per element:
///
/// ```text
/// factored leaf (two largest axes d0 >= d1, both >= min_dim_size_to_factor):
///   v_row = decay * v_row + (1 - decay) * mean(e, over d0)
///   v_col = decay * v_col + (1 - decay) * mean(e, over d1)
///   u     = g * (v_row / mean(v_row, over d1))^(-1/2) * v_col^(-1/2)
/// other leaves:
///   v     = decay * v + (1 - decay) * e
///   u     = g * v^(-1/2)
/// ```
///
/// # Arguments
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `factored` | `bool` | `true` | whether to factor the second moment of leaves of rank >= 2 |
/// | `decay_rate` | `f64` | `0.8` | exponent of the second-moment decay schedule |
/// | `step_offset` | `i64` | `0` | the step the decay schedule starts from (fine-tuning) |
/// | `min_dim_size_to_factor` | `usize` | `128` | factor only when both axes have at least this size |
/// | `epsilon` | `f64` | `1e-30` | added to the squared gradient |
///
/// optax's `decay_rate_fn` (a Python callable) has no counterpart; the schedule is
/// always optax's default power decay. Before `step_offset` the schedule is held at its
/// first value, where optax 0.2.8 produces NaN (see [`Adafactor`]).
///
/// References: Shazeer et al, 2018, *Adafactor: Adaptive Learning Rates with Sublinear
/// Memory Cost*.
#[derive(Clone, Debug)]
pub struct ScaleByFactoredRms {
    /// Whether to factor the second moment of leaves of rank >= 2.
    pub factored: bool,
    /// Exponent of the second-moment decay schedule.
    pub decay_rate: f64,
    /// The step the decay schedule starts from.
    pub step_offset: i64,
    /// Factor only when the two largest axes both have at least this size.
    pub min_dim_size_to_factor: usize,
    /// Added to the squared gradient.
    pub epsilon: f64,
}

impl Default for ScaleByFactoredRms {
    fn default() -> Self {
        ScaleByFactoredRms {
            factored: true,
            decay_rate: 0.8,
            step_offset: 0,
            min_dim_size_to_factor: 128,
            epsilon: 1e-30,
        }
    }
}

/// Shorthand for [`ScaleByFactoredRms::default`]; see [`ScaleByFactoredRms`].
pub fn scale_by_factored_rms() -> ScaleByFactoredRms {
    ScaleByFactoredRms::default()
}

impl ScaleByFactoredRms {
    /// Sets `factored`.
    #[must_use]
    pub fn factored(mut self, factored: bool) -> Self {
        self.factored = factored;
        self
    }
    /// Sets `decay_rate`.
    #[must_use]
    pub fn decay_rate(mut self, decay_rate: f64) -> Self {
        self.decay_rate = decay_rate;
        self
    }
    /// Sets `step_offset`.
    #[must_use]
    pub fn step_offset(mut self, step_offset: i64) -> Self {
        self.step_offset = step_offset;
        self
    }
    /// Sets `min_dim_size_to_factor`.
    #[must_use]
    pub fn min_dim_size_to_factor(mut self, min_dim_size_to_factor: usize) -> Self {
        self.min_dim_size_to_factor = min_dim_size_to_factor;
        self
    }
    /// Sets `epsilon`.
    #[must_use]
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    fn plan<F: Float>(&self, count0: u64) -> Plan<F> {
        let (decay, omd) = decay_rate_pow(local_step(count0, self.step_offset), self.decay_rate);
        Plan {
            factored: self.factored,
            min_dim: self.min_dim_size_to_factor,
            eps: F::of(self.epsilon),
            decay: F::of(decay),
            one_minus_decay: F::of(omd),
            clip: None,
            lr: F::one(),
            param_scale: false,
            beta: F::zero(),
            one_minus_beta: F::one(),
            weight_decay: None,
            sign: F::one(),
        }
    }
}

hand_hyperparams!(ScaleByFactoredRms, "scale_by_factored_rms", required: [],
    blank: ScaleByFactoredRms::default(),
    { factored, decay_rate, step_offset, min_dim_size_to_factor, epsilon });

/// The 0-based step of the decay schedule: optax's int32 counter minus the offset,
/// clamped at zero.
fn local_step(count0: u64, offset: i64) -> i64 {
    (count0.min(i32::MAX as u64) as i64)
        .saturating_sub(offset)
        .max(0)
}

impl<F: Float> Transformation<F> for ScaleByFactoredRms {
    type State = FactoredRmsState<F>;

    fn name(&self) -> &'static str {
        "scale_by_factored_rms"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        let metas = leaf_metas(params)?;
        Ok(FactoredRmsState::new(
            metas,
            self.factored,
            self.min_dim_size_to_factor,
        ))
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        state.check(self.factored, self.min_dim_size_to_factor)?;
        let plan = self.plan::<F>(state.count);
        for_each_update_leaf(updates, params, |i, io| {
            run_leaf_any(&plan, state, i, None, false, io)
        })?;
        state.count += 1;
        Ok(())
    }

    fn step_with<P: Tree<F> + Clone>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        state.check(self.factored, self.min_dim_size_to_factor)?;
        let plan = self.plan::<F>(state.count);
        for_each_step_leaf(params, grads, |i, io| {
            run_leaf_any(&plan, state, i, None, false, io)
        })?;
        state.count += 1;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// adafactor

/// The Adafactor optimizer.
///
/// Adafactor is an adaptive learning rate optimizer that focuses on fast training of
/// large scale neural networks. It saves memory by using a factored estimate of the
/// second order moments used to scale gradients: for a leaf whose two largest axes both
/// have at least `min_dim_size_to_factor` elements, it keeps one statistic per row and
/// one per column instead of one per element.
///
/// # Update
///
/// optax's chain `scale_by_factored_rms`, `clip_by_block_rms(clipping_threshold)`,
/// `scale_by_learning_rate`, `scale_by_param_block_rms`, `ema(momentum)`,
/// `add_decayed_weights(weight_decay_rate, weight_decay_mask)`, `scale(-1)`, each part
/// present when its argument enables it, run as one transformation. Per leaf, with `u`
/// the update of [`ScaleByFactoredRms`] and `n` the leaf's size:
///
/// ```text
/// u = u / max(1, sqrt(Σ u² / n) / clipping_threshold)        if clipping_threshold
/// u = learning_rate * u                                      if learning_rate
/// u = max(sqrt(Σ p² / n), 1e-3) * u   (1e-3 when rms <= 1e-3)   if multiply_by_parameter_scale
/// m = (1 - momentum) * u + momentum * m;  u = m              if momentum
/// u = u + weight_decay_rate * p                              if weight_decay_rate (masked leaves)
/// update = -u
/// ```
///
/// # Arguments
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `learning_rate` | `Option<LearningRate>` | `None` | a global scaling factor, constant or scheduled; `None` leaves the step unscaled |
/// | `min_dim_size_to_factor` | `usize` | `128` | factor the statistics only if two axes have at least this size |
/// | `decay_rate` | `f64` | `0.8` | exponent of the second-moment decay schedule |
/// | `decay_offset` | `i64` | `0` | the step the decay schedule starts from, for fine-tuning |
/// | `multiply_by_parameter_scale` | `bool` | `true` | scale the step by the rms of each leaf's params |
/// | `clipping_threshold` | `Option<f64>` | `Some(1.0)` | clip each leaf's update to this rms; `None` disables |
/// | `momentum` | `Option<f64>` | `None` | decay of an exponential moving average of the updates |
/// | `dtype_momentum` | `Dtype` | `float32` | storage dtype of the momentum |
/// | `weight_decay_rate` | `Option<ScalarOrSchedule>` | `None` | rate of the weight decay added to the update |
/// | `eps` | `f64` | `1e-30` | added to the squared gradient |
/// | `factored` | `bool` | `true` | whether to use factored second-moment estimates |
/// | `weight_decay_mask` | `Mask` | all leaves | the leaves weight decay applies to |
///
/// # `decay_offset`
///
/// optax 0.2.8 computes the decay on the step `t - decay_offset`, which is negative
/// before the offset, and raises it to a fractional power: NaN from the first step, for
/// good. Here, as in optax's fix (PR #1791), the local step is clamped at zero, so the
/// steps before the offset use the schedule's first value (decay 0: the second moment is
/// the current squared gradient) and the schedule starts counting at the offset.
///
/// # State
///
/// [`AdafactorState`]: the factored statistics ([`FactoredRmsState`]), the momentum
/// (stored as `dtype_momentum`) and the resolved weight-decay mask. As in optax, a float64
/// model keeps a float32 momentum by default, and its decayed value `momentum * m` is
/// computed in float32, as jax does; bfloat16 and float16 momentum keep the arithmetic in
/// the params' type and only round what they store (the crate's rule for low-precision
/// state).
///
/// References: Shazeer et al, 2018, *Adafactor: Adaptive Learning Rates with Sublinear
/// Memory Cost*.
#[crate::doc_trace(
    solver = adafactor().learning_rate(0.003),
    printed = "1.39E+01 1.38E+01 1.38E+01 1.37E+01 1.36E+01"
)]
#[derive(Clone, Debug)]
pub struct Adafactor {
    /// A global scaling factor, constant or scheduled; `None` leaves the step unscaled.
    pub learning_rate: Option<LearningRate>,
    /// Factor the statistics only if two axes have at least this size.
    pub min_dim_size_to_factor: usize,
    /// Exponent of the second-moment decay schedule.
    pub decay_rate: f64,
    /// The step the decay schedule starts from, for fine-tuning.
    pub decay_offset: i64,
    /// Whether to scale the step by the rms of each leaf's params.
    pub multiply_by_parameter_scale: bool,
    /// Clip each leaf's update to this rms; `None` disables clipping.
    pub clipping_threshold: Option<f64>,
    /// Decay of an exponential moving average of the updates; `None` disables it.
    pub momentum: Option<f64>,
    /// Storage dtype of the momentum.
    pub dtype_momentum: Dtype,
    /// Rate of the weight decay added to the update, constant or scheduled.
    pub weight_decay_rate: Option<ScalarOrSchedule>,
    /// Added to the squared gradient.
    pub eps: f64,
    /// Whether to use factored second-moment estimates.
    pub factored: bool,
    /// The leaves weight decay applies to.
    pub weight_decay_mask: Mask,
}

impl Default for Adafactor {
    fn default() -> Self {
        Adafactor {
            learning_rate: None,
            min_dim_size_to_factor: 128,
            decay_rate: 0.8,
            decay_offset: 0,
            multiply_by_parameter_scale: true,
            clipping_threshold: Some(1.0),
            momentum: None,
            dtype_momentum: Dtype::F32,
            weight_decay_rate: None,
            eps: 1e-30,
            factored: true,
            weight_decay_mask: Mask::All,
        }
    }
}

/// Shorthand for [`Adafactor::default`]; see [`Adafactor`] for the update and defaults.
pub fn adafactor() -> Adafactor {
    Adafactor::default()
}

impl Adafactor {
    /// Sets `learning_rate`.
    #[must_use]
    pub fn learning_rate(mut self, learning_rate: impl Into<LearningRate>) -> Self {
        self.learning_rate = Some(learning_rate.into());
        self
    }
    /// Sets `min_dim_size_to_factor`.
    #[must_use]
    pub fn min_dim_size_to_factor(mut self, min_dim_size_to_factor: usize) -> Self {
        self.min_dim_size_to_factor = min_dim_size_to_factor;
        self
    }
    /// Sets `decay_rate`.
    #[must_use]
    pub fn decay_rate(mut self, decay_rate: f64) -> Self {
        self.decay_rate = decay_rate;
        self
    }
    /// Sets `decay_offset`.
    #[must_use]
    pub fn decay_offset(mut self, decay_offset: i64) -> Self {
        self.decay_offset = decay_offset;
        self
    }
    /// Sets `multiply_by_parameter_scale`.
    #[must_use]
    pub fn multiply_by_parameter_scale(mut self, multiply_by_parameter_scale: bool) -> Self {
        self.multiply_by_parameter_scale = multiply_by_parameter_scale;
        self
    }
    /// Sets `clipping_threshold` (`None` disables clipping).
    #[must_use]
    pub fn clipping_threshold(mut self, clipping_threshold: impl Into<Option<f64>>) -> Self {
        self.clipping_threshold = clipping_threshold.into();
        self
    }
    /// Sets `momentum` (`None` disables it).
    #[must_use]
    pub fn momentum(mut self, momentum: impl Into<Option<f64>>) -> Self {
        self.momentum = momentum.into();
        self
    }
    /// Sets `dtype_momentum`.
    #[must_use]
    pub fn dtype_momentum(mut self, dtype_momentum: Dtype) -> Self {
        self.dtype_momentum = dtype_momentum;
        self
    }
    /// Sets `weight_decay_rate`.
    #[must_use]
    pub fn weight_decay_rate(mut self, weight_decay_rate: impl Into<ScalarOrSchedule>) -> Self {
        self.weight_decay_rate = Some(weight_decay_rate.into());
        self
    }
    /// Sets `eps`.
    #[must_use]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets `factored`.
    #[must_use]
    pub fn factored(mut self, factored: bool) -> Self {
        self.factored = factored;
        self
    }
    /// Sets `weight_decay_mask`.
    #[must_use]
    pub fn weight_decay_mask(mut self, weight_decay_mask: impl Into<Mask>) -> Self {
        self.weight_decay_mask = weight_decay_mask.into();
        self
    }

    fn check_args(&self) -> Result<(), Error> {
        if let Some(t) = self.clipping_threshold {
            if t.is_nan() || t <= 0.0 {
                return Err(Error::Hyper {
                    transform: "adafactor".into(),
                    arg: "clipping_threshold".into(),
                    detail: format!("must be positive (or None to disable clipping), got {t}"),
                });
            }
        }
        Ok(())
    }

    fn needs_params(&self) -> bool {
        self.multiply_by_parameter_scale || self.weight_decay_rate.is_some()
    }

    fn plan<F: Float>(&self, count0: u64) -> Plan<F> {
        let mode = jax_mode::<F>();
        let (decay, omd) = decay_rate_pow(local_step(count0, self.decay_offset), self.decay_rate);
        let beta = self.momentum.unwrap_or(0.0);
        Plan {
            factored: self.factored,
            min_dim: self.min_dim_size_to_factor,
            eps: F::of(self.eps),
            decay: F::of(decay),
            one_minus_decay: F::of(omd),
            clip: self.clipping_threshold.map(F::of),
            lr: self
                .learning_rate
                .as_ref()
                .map_or(F::one(), |r| F::of(r.optax_value_in(count0, mode))),
            param_scale: self.multiply_by_parameter_scale,
            beta: F::of(beta),
            one_minus_beta: F::of(1.0 - beta),
            weight_decay: self
                .weight_decay_rate
                .as_ref()
                .map(|r| F::of(r.optax_value_in(count0, mode))),
            sign: -F::one(),
        }
    }
}

hand_hyperparams!(Adafactor, "adafactor", required: [], blank: Adafactor::default(), {
    learning_rate, min_dim_size_to_factor, decay_rate, decay_offset,
    multiply_by_parameter_scale, clipping_threshold, momentum, dtype_momentum,
    weight_decay_rate, eps, factored, weight_decay_mask,
});

/// The state of [`Adafactor`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct AdafactorState<F> {
    /// The step count and the second-moment statistics.
    pub factored: FactoredRmsState<F>,
    /// The momentum of each leaf (a disabled buffer without momentum).
    pub mu: Vec<Buf<F>>,
    /// The resolved `weight_decay_mask` flag of each leaf.
    pub weight_decay_mask: Vec<bool>,
}

impl Adafactor {
    /// Checks the state's momentum and mask against its leaves and this configuration.
    fn check_state<F: Float>(&self, state: &mut AdafactorState<F>) -> Result<(), Error> {
        state
            .factored
            .check(self.factored, self.min_dim_size_to_factor)?;
        let metas = &state.factored.leaves;
        crate::__private::check_bufs(metas, "mu", &state.mu)?;
        crate::__private::check_flags(metas, "weight_decay_mask", &state.weight_decay_mask)?;
        for (m, b) in metas.iter().zip(&state.mu) {
            let absent = matches!(b, Buf::Absent(_));
            if absent == self.momentum.is_some() {
                return Err(corrupt(
                    &m.path,
                    "mu",
                    if absent {
                        "no momentum kept, but `momentum` is set".into()
                    } else {
                        "momentum kept, but `momentum` is None".into()
                    },
                ));
            }
        }
        Ok(())
    }
}

impl<F: Float> Transformation<F> for Adafactor {
    type State = AdafactorState<F>;

    fn name(&self) -> &'static str {
        "adafactor"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check_args()?;
        let metas = leaf_metas(params)?;
        let paths: Vec<String> = metas.iter().map(|m| m.path.clone()).collect();
        let weight_decay_mask = self.weight_decay_mask.resolve(&paths)?;
        let mu = metas
            .iter()
            .map(|m| match self.momentum {
                Some(_) => Buf::filled(m.len(), F::zero(), Some(self.dtype_momentum)),
                None => Buf::Absent(m.len()),
            })
            .collect();
        Ok(AdafactorState {
            factored: FactoredRmsState::new(metas, self.factored, self.min_dim_size_to_factor),
            mu,
            weight_decay_mask,
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args()?;
        check_update_trees(&state.factored.leaves, updates, params)?;
        if params.is_none() && self.needs_params() {
            return Err(Error::NeedsParams {
                transform: "adafactor".into(),
            });
        }
        self.check_state(state)?;
        let plan = self.plan::<F>(state.factored.count);
        let AdafactorState {
            factored,
            mu,
            weight_decay_mask,
        } = state;
        for_each_update_leaf(updates, params, |i, io| {
            run_leaf_any(
                &plan,
                factored,
                i,
                Some(&mut mu[i]),
                weight_decay_mask[i],
                io,
            )
        })?;
        factored.count += 1;
        Ok(())
    }

    fn step_with<P: Tree<F> + Clone>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args()?;
        check_update_trees(&state.factored.leaves, grads, Some(&*params))?;
        self.check_state(state)?;
        let plan = self.plan::<F>(state.factored.count);
        let AdafactorState {
            factored,
            mu,
            weight_decay_mask,
        } = state;
        for_each_step_leaf(params, grads, |i, io| {
            run_leaf_any(
                &plan,
                factored,
                i,
                Some(&mut mu[i]),
                weight_decay_mask[i],
                io,
            )
        })?;
        factored.count += 1;
        Ok(())
    }
}

// `adafactor` is registered by its documented trace; the primitive, which has none, by
// this table.
crate::family! {
    "scale_by_factored_rms" => ScaleByFactoredRms,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_the_two_largest_axes_as_optax_does() {
        assert_eq!(Layout::of(&[5], true, 1), None);
        assert_eq!(
            Layout::of(&[256, 130], true, 128).map(|l| l.row_over_a),
            Some(true)
        );
        assert_eq!(
            Layout::of(&[130, 256], true, 128).map(|l| l.row_over_a),
            Some(false)
        );
        assert_eq!(Layout::of(&[256, 127], true, 128), None);
        assert_eq!(Layout::of(&[256, 130], false, 128), None);
        // Rank 3: the two largest axes, wherever they are; ties go to the later axis.
        let l = Layout::of(&[3, 7, 5], true, 2).unwrap();
        assert_eq!(
            (l.outer, l.na, l.mid, l.nb, l.inner, l.row_over_a),
            (3, 7, 1, 5, 1, true)
        );
        let l = Layout::of(&[7, 2, 5], true, 2).unwrap();
        assert_eq!(
            (l.outer, l.na, l.mid, l.nb, l.inner, l.row_over_a),
            (1, 7, 2, 5, 1, true)
        );
        let l = Layout::of(&[4, 4], true, 2).unwrap();
        assert!(
            !l.row_over_a,
            "equal sizes: numpy's argsort puts axis 1 last, so d0 = 1"
        );
        let l = Layout::of(&[5, 5, 5], true, 2).unwrap();
        assert_eq!((l.outer, l.na, l.nb, l.row_over_a), (5, 5, 5, false));
        // Row statistic: the shape without d0; column: without d1.
        let l = Layout::of(&[2, 6, 3, 5], true, 2).unwrap();
        assert_eq!((l.row_len(), l.col_len()), (2 * 3 * 5, 2 * 6 * 3));
    }

    #[test]
    fn decay_offset_holds_the_first_rate() {
        assert_eq!(decay_rate_pow(local_step(0, 3), 0.8), (0.0, 1.0));
        assert_eq!(decay_rate_pow(local_step(2, 3), 0.8), (0.0, 1.0));
        assert_eq!(
            decay_rate_pow(local_step(4, 3), 0.8),
            decay_rate_pow(1, 0.8)
        );
    }
}
