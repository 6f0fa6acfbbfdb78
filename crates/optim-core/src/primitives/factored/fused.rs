//! The fused kernel that `adafactor` and `scale_by_factored_rms` run over each leaf:
//! the statistics pass, then one pass that scales each element by its row and column
//! factors and by the leaf's scale (clip, learning rate, parameter scale) and applies
//! momentum, weight decay and the sign, each when its [`Plan`] enables it.

use super::layout::Layout;
use super::state::{FactoredRmsState, Scratch};
use super::stats::{factored_moment, moment_and_sum};
use crate::float::Store;
use crate::kernel::{sum_sq, LeafIo};
use crate::{Absent, Buf, Float};

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
    let sum_u2 = match layout {
        Some(l) => {
            let g = io.grads();
            let clip = plan.clip.is_some();
            factored_moment(&l, g, v_row, v_col, scratch, d, omd, eps, clip)
        }
        None if plan.clip.is_some() => {
            // The new second moment now, and the rms of the unclipped update.
            let g = io.grads();
            moment_and_sum(&g[..n], &mut v[..n], d, omd, eps)
        }
        None => F::zero(),
    };

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

/// One leaf `i` of a step on `st`, with its momentum buffer in whatever storage it has
/// (`None` without momentum); weight decay applies to it when `decay_this_leaf`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_leaf_any<F: Float, IO: LeafIo<F>>(
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
