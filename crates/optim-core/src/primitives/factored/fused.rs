//! The fused kernel that `adafactor` and `scale_by_factored_rms` run over each leaf:
//! the statistics pass, then one pass that scales each element by its row and column
//! factors and by the leaf's scale (clip, learning rate, parameter scale) and applies
//! momentum, weight decay and the sign, each when its [`Plan`] enables it.

use super::layout::Layout;
use super::stats::{factored_moment, moment_and_sum};
use crate::exec::CHUNK;
use crate::float::Store;
use crate::kernel::{sum_sq, LeafIo};
use crate::{Absent, Float};
use rayon::prelude::*;

/// Everything a step needs, resolved once: what `adafactor` and `scale_by_factored_rms`
/// configure of the kernel.
pub(crate) struct Plan<F> {
    pub(crate) factored: bool,
    pub(crate) min_dim: usize,
    pub(crate) eps: F,
    pub(crate) decay: F,
    pub(crate) one_minus_decay: F,
    pub(crate) clip: Option<F>,
    /// The learning rate (1 without one).
    pub(crate) lr: F,
    pub(crate) param_scale: bool,
    /// Momentum `β` and `1 - β` (0 and 1 without momentum).
    pub(crate) beta: F,
    pub(crate) one_minus_beta: F,
    /// The weight decay rate, when on.
    pub(crate) weight_decay: Option<F>,
    /// -1 for the descent step of `adafactor`, 1 for the primitive.
    pub(crate) sign: F,
}

/// Pass 1 over a leaf (see "Passes over a leaf" in `mod.rs`): its gradients `g`, params
/// `p` when given, statistics and scratch (`a`, `b`, `w`, see `stats.rs`). Returns the
/// leaf's scale (clip, learning rate, parameter scale) for [`pass2`]. `split`: run the
/// factored statistics' blocks of rows on every thread of the current pool (the same
/// bits, `stats.rs`) and the parameter rms beside them.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn pass1<F: Float>(
    plan: &Plan<F>,
    layout: Option<&Layout>,
    g: &[F],
    p: Option<&[F]>,
    (v_row, v_col, v): (&mut [F], &mut [F], &mut [F]),
    (a, b, w): (&mut [F], &mut [F], &mut [F]),
    split: bool,
) -> F {
    let n = g.len();
    let (eps, d, omd) = (plan.eps, plan.decay, plan.one_minus_decay);
    // The parameter rms.
    let param_scale = || {
        if !plan.param_scale {
            return F::one();
        }
        let p = p.unwrap_or(&[]);
        let rms = (sum_sq(p) / F::of(n as f64)).sqrt();
        let min = F::of(1e-3);
        if rms <= min {
            min
        } else {
            rms
        }
    };
    // The second moment, its factors and, with clipping, the sum of squared updates.
    let clip = plan.clip.is_some();
    let mut moment = || match layout {
        Some(l) => factored_moment(l, g, v_row, v_col, (a, b, w), d, omd, eps, clip, split),
        // The new second moment now, and the rms of the unclipped update.
        None if clip && a.is_empty() => moment_and_sum(g, &mut v[..n], d, omd, eps),
        // A leaf of two chunks or more: a partial sum per chunk (`state::sum_blocks`),
        // on every thread when `split`, added in order.
        None if clip => {
            let sum = |(s, (g, v)): (&mut F, (&[F], &mut [F]))| {
                *s = crate::exec::wide_run(MomentChunk { g, v, d, omd, eps });
            };
            if split {
                a.par_iter_mut()
                    .zip(g.par_chunks(CHUNK).zip(v[..n].par_chunks_mut(CHUNK)))
                    .for_each(sum);
            } else {
                a.iter_mut()
                    .zip(g.chunks(CHUNK).zip(v[..n].chunks_mut(CHUNK)))
                    .for_each(sum);
            }
            a.iter().fold(F::zero(), |t, &s| t + s)
        }
        None => F::zero(),
    };
    let (param_scale, sum_u2) = if split {
        rayon::join(param_scale, moment)
    } else {
        (param_scale(), moment())
    };
    let mut s = plan.lr * param_scale;
    if let Some(threshold) = plan.clip {
        let rms = (sum_u2 / F::of(n as f64)).sqrt();
        let denom = F::one().max(rms / threshold);
        s = s / denom;
    }
    s
}

/// Pass 2, the update, over runs `runs` of a leaf (`Layout::runs`; the elements of an
/// unfactored leaf), whose elements `io`, `mu` and (unfactored) `v` cover: `fa` and `fb`
/// are the factors pass 1 left in the scratch, `s` the scale it returned. Weight decay
/// applies when `decay_this_leaf`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn pass2<F: Float, S: Decayed<F>, IO: LeafIo<F>>(
    plan: &Plan<F>,
    layout: Option<&Layout>,
    runs: std::ops::Range<usize>,
    (fa, fb, v): (&[F], &[F], &mut [F]),
    s: F,
    decay_this_leaf: bool,
    mu: &mut [S],
    io: &mut IO,
) {
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
    match layout {
        Some(l) => {
            let run = l.nb * l.inner;
            for r in runs.clone() {
                let (a_off, b_off) = l.offsets(r);
                let start = (r - runs.start) * run;
                let fa = &fa[a_off..a_off + run];
                let fb = &fb[b_off..b_off + l.inner];
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
            }
        }
        None => {
            let n = runs.len();
            let (v, mu) = (&mut v[..n], &mut mu[..n]);
            let (d, omd, eps) = (plan.decay, plan.one_minus_decay, plan.eps);
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
pub(super) trait Decayed<F: Float>: Store<F> {
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

/// `moment_and_sum` over one chunk of an unfactored leaf, as a
/// [`Body`](crate::exec::Body) (its wide builds).
struct MomentChunk<'a, F> {
    g: &'a [F],
    v: &'a mut [F],
    d: F,
    omd: F,
    eps: F,
}

impl<F: Float> crate::exec::Body for MomentChunk<'_, F> {
    type Out = F;
    #[inline(always)]
    fn run(self) -> F {
        moment_and_sum(self.g, self.v, self.d, self.omd, self.eps)
    }
}
