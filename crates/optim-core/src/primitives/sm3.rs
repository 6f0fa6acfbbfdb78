//! SM3's cover accumulators: `scale_by_sm3` (optax's name), the learning-rate-free
//! transformation that the `sm3` optimizer (`optimizers/sm3.rs`) scales, and the kernel
//! both run.
//!
//! Written by hand behind [`Transformation`] rather than declared with `#[optimizer]`: a
//! leaf of rank `r >= 2` keeps one accumulator per index of each axis (its "cover"), so an
//! element reads the minimum of `r` accumulators selected by its multi-axis index, and the
//! new accumulators are maxima over the other axes. The element-wise DSL expresses neither
//! the per-axis index structure nor those reductions.
//!
//! A step is one pass over each leaf: the update of an element needs only the previous
//! accumulators, so the new maxima are gathered in a scratch buffer (sized by `init`, one
//! entry per accumulator) during the same pass and copied over the old ones at the end.
//! Each gradient, momentum and param element is read once and written once from memory
//! (a row's two element loops, `row_loop`, meet its gradients the second time in L1).
//! On several threads a large leaf's rows are split into blocks, each with a scratch part
//! of its own, whose maxima are combined at the end (a maximum is exact, so the bits do not
//! depend on the split). The per-block loops are built for each level, like the generated
//! steps (baseline, AVX2 + FMA, AVX-512), chosen by [`crate::exec::simd`].
//!
//! A scalar (0-d) leaf behaves as a 1-element vector, where optax 0.2.8 raises an
//! `IndexError` (deviation 3 of the reference set).

use crate::dsl::{maximum, minimum};
use crate::exec::{BufPtr, Exec, LeafMem, CHUNK};
use crate::kernel::{
    corrupt, for_each_step_leaf, for_each_update_leaf, hand_hyperparams, try_zeros, AnyLeaf,
    LeafIo, Slices,
};
use crate::state_tensors::{
    visit_elems, visit_elems_mut, StateTensors, TensorMut, TensorRef, VisitTensor, VisitTensorMut,
};
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The state of [`Sm3`](crate::Sm3) and [`ScaleBySm3`] (optax's `ScaleBySM3State`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct Sm3State<F> {
    /// Number of updates done so far.
    pub count: u64,
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// Per leaf, the accumulators: for rank >= 2, those of axis 0, then axis 1, ...
    /// (`Σ shape` entries); for a vector one per element; for a scalar one.
    pub mu: Vec<Vec<F>>,
    /// Per leaf, the momentum of the updates (one per element).
    pub nu: Vec<Vec<F>>,
    #[serde(skip)]
    scratch: Scratch<F>,
}

/// Working memory, not saved (a deserialized state rebuilds it on its first step): per
/// leaf of rank >= 2, where its new accumulators are gathered during a step (sized by
/// `init`, so leaves run on any thread and a step allocates nothing), and the record of a
/// step's leaves and tasks: per leaf its accumulators, momentum and scratch.
#[derive(Clone, Debug, Default)]
struct Scratch<F> {
    new: Vec<Vec<F>>,
    exec: Exec<F, 3, 0, 0>,
}

impl<F> PartialEq for Scratch<F> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Number of accumulators of a leaf of `shape`. A leaf of rank >= 2 with no elements
/// keeps none: its update is empty and never reads them, where optax's cover of
/// `[2^40, 0]` would be 2^40 zeros (and its update raises on the empty maximum).
fn accumulators(shape: &[usize]) -> usize {
    match shape.len() {
        0 => 1,
        1 => shape[0],
        _ if shape.contains(&0) => 0,
        _ => shape.iter().fold(0usize, |s, &d| s.saturating_add(d)),
    }
}

/// The most blocks of rows a leaf is split into on several threads.
const PARTS: usize = 8;

/// Whether a leaf of `n` elements is worth splitting across the threads of a parallel
/// step (at least two chunks).
fn splits(n: usize) -> bool {
    n >= 2 * CHUNK
}

/// Blocks of rows of a leaf of rank >= 2 on several threads (a row: one index of every
/// outer axis), each gathering its new accumulators in a part of the scratch of its own:
/// up to [`PARTS`] for a leaf that [`splits`], else 1. Fixed by the shape, so the
/// scratch is sized at `init` whatever the pool.
fn parts(shape: &[usize]) -> usize {
    let n: usize = shape.iter().product();
    match shape.last() {
        Some(&last) if shape.len() >= 2 && last > 0 && splits(n) => PARTS.min(n / last),
        _ => 1,
    }
}

/// Scratch entries of one part of a leaf of rank >= 2: its new accumulators, then the
/// accumulated values of the row it is on (`shape[rank - 1]`), whose maximum is taken
/// after the row's element loop so that loop has no running maximum (a loop-carried
/// NaN-propagating maximum the compiler does not vectorize). None for a leaf without
/// elements, which never runs its loops (so `[0, 2^40]` keeps no row of 2^40).
fn part_len(shape: &[usize]) -> usize {
    match shape.last() {
        Some(&last) if !shape.contains(&0) => accumulators(shape).saturating_add(last),
        _ => 0,
    }
}

/// Number of scratch entries of a leaf of `shape`: [`part_len`] per part.
fn scratch_len(shape: &[usize]) -> usize {
    if shape.len() >= 2 {
        part_len(shape).saturating_mul(parts(shape))
    } else {
        0
    }
}

/// The maximum of `xs` (`-inf` for none), NaN if any is NaN (`jnp.max`; `f32::max` drops
/// a NaN, so a NaN gradient would leave optax's NaN accumulators finite here), in 16
/// lanes combined in a fixed order.
#[inline(always)]
fn max_of<F: Float>(xs: &[F]) -> F {
    const W: usize = 16;
    let mut lanes = [F::neg_infinity(); W];
    let blocks = xs.chunks_exact(W);
    let rest = blocks.remainder();
    for b in blocks {
        for j in 0..W {
            lanes[j] = maximum(lanes[j], b[j]);
        }
    }
    let m = rest.iter().fold(F::neg_infinity(), |m, &x| maximum(m, x));
    lanes.into_iter().fold(m, maximum)
}

impl<F: Float> Sm3State<F> {
    /// The zero state for `leaves`, or [`Error::Alloc`] naming the first leaf whose
    /// accumulators cannot be allocated.
    pub(crate) fn new(leaves: Vec<LeafMeta>) -> Result<Self, Error> {
        let mut mu = Vec::with_capacity(leaves.len());
        let mut nu = Vec::with_capacity(leaves.len());
        for m in &leaves {
            mu.push(try_zeros(accumulators(&m.shape), &m.path, "mu")?);
            nu.push(try_zeros(m.len(), &m.path, "nu")?);
        }
        let mut s = Sm3State {
            count: 0,
            leaves,
            mu,
            nu,
            scratch: Scratch::default(),
        };
        s.fit_scratch()?;
        Ok(s)
    }

    fn fit_scratch(&mut self) -> Result<(), Error> {
        let sc = &mut self.scratch;
        let fits = sc.new.len() == self.leaves.len()
            && sc
                .new
                .iter()
                .zip(&self.leaves)
                .all(|(v, m)| v.len() == scratch_len(&m.shape));
        if !fits {
            let mut new = Vec::with_capacity(self.leaves.len());
            for m in &self.leaves {
                new.push(try_zeros(scratch_len(&m.shape), &m.path, "scratch")?);
            }
            sc.new = new;
        }
        sc.exec.prepare(&self.leaves);
        Ok(())
    }

    /// Checks every buffer against the leaves; sizes the scratch of a deserialized state.
    fn check(&mut self) -> Result<(), Error> {
        self.validate()?;
        self.fit_scratch()
    }

    /// Checks every buffer against the leaves, writing nothing.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let n = self.leaves.len();
        for (what, len) in [("mu", self.mu.len()), ("nu", self.nu.len())] {
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
            for (what, want, got) in [
                ("mu", accumulators(&m.shape), self.mu[i].len()),
                ("nu", m.len(), self.nu[i].len()),
            ] {
                if want != got {
                    return Err(corrupt(
                        &m.path,
                        what,
                        format!("{got} elements, expected {want} for shape {:?}", m.shape),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The per-step constants.
#[derive(Clone, Copy)]
pub(crate) struct Plan<F> {
    /// Coefficients of the squared gradient and of the old accumulator.
    c_g: F,
    c_mu: F,
    eps: F,
    b1: F,
    one_minus_b1: F,
    /// Multiplies the momentum into the update (`-learning_rate` for `sm3`, 1 for the
    /// primitive).
    scale: F,
}

impl<F: Float> Plan<F> {
    pub(crate) fn new(b1: f64, b2: f64, eps: f64, scale: f64) -> Self {
        Plan {
            c_g: F::of(if b2 != 1.0 { 1.0 - b2 } else { 1.0 }),
            c_mu: F::of(b2),
            eps: F::of(eps),
            b1: F::of(b1),
            one_minus_b1: F::of(1.0 - b1),
            scale: F::of(scale),
        }
    }

    /// The update of one element from its gradient, its accumulator value `acc` and its
    /// momentum (updated in place).
    #[inline(always)]
    fn element(&self, g: F, acc: F, nu: &mut F) -> F {
        let inv = if acc > F::zero() {
            F::one() / (acc + self.eps).sqrt()
        } else {
            F::zero()
        };
        let n = self.one_minus_b1 * (g * inv) + self.b1 * *nu;
        *nu = n;
        self.scale * n
    }
}

/// A vector's elements (or a scalar as a 1-element vector): one accumulator per element,
/// which is the new accumulated value itself. A [`Body`](crate::exec::Body): run from the
/// widest build [`simd`](crate::exec::simd) allows, as the generated steps are
/// (the same bits: no operation here is fused or reordered).
struct Vector<'a, 'b, F, IO> {
    plan: &'a Plan<F>,
    mu: &'a mut [F],
    nu: &'a mut [F],
    io: &'b mut IO,
}

impl<F: Float, IO: LeafIo<F>> crate::exec::Body for Vector<'_, '_, F, IO> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let Vector { plan, mu, nu, io } = self;
        let n = nu.len();
        match io.slices(0, n) {
            Slices::Step { p, g } => vector_loop::<F, true>(plan, p, g, mu, nu),
            Slices::Update { u } => vector_loop::<F, false>(plan, u, &[], mu, nu),
        }
    }
}

/// The element loop of a vector: `out` gets the updates (added to it when `STEP`, with the
/// gradients in `g`; written over the gradients it holds otherwise). It writes three
/// buffers and reads one: 6 pairs to check for overlap at run time, within the
/// compiler's 8 (see [`row_loop`]).
#[inline(always)]
fn vector_loop<F: Float, const STEP: bool>(
    plan: &Plan<F>,
    out: &mut [F],
    g: &[F],
    mu: &mut [F],
    nu: &mut [F],
) {
    let n = out.len();
    let (g, mu, nu) = (&g[..if STEP { n } else { 0 }], &mut mu[..n], &mut nu[..n]);
    let plan = *plan;
    for k in 0..n {
        let gk = if STEP { g[k] } else { out[k] };
        let acc = plan.c_g * (gk * gk) + plan.c_mu * mu[k];
        mu[k] = acc;
        let u = plan.element(gk, acc, &mut nu[k]);
        out[k] = if STEP { out[k] + u } else { u };
    }
}

/// The element loops of one row of a leaf of rank >= 2, as [`vector_loop`]: `m_outer` is
/// the row's smallest outer-axis accumulator, `mu_last` the old accumulators of the last
/// axis, `new_last` their new maxima, and `row_acc` receives each element's accumulated
/// value for the row's maximum. Two loops over the row (in L1) rather than one. LLVM
/// vectorizes a loop whose buffers it cannot prove disjoint only behind run-time overlap
/// checks, at most 8 pairs of them (the `noalias` of slice arguments is gone by then,
/// most likely because rustc inlines `#[inline(always)]` functions itself). One loop
/// writing four buffers and reading two needs 14 and stayed scalar (`perf annotate`).
/// These need 5 each.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_loop<F: Float, const STEP: bool>(
    plan: &Plan<F>,
    m_outer: F,
    out: &mut [F],
    g: &[F],
    mu_last: &[F],
    new_last: &mut [F],
    row_acc: &mut [F],
    nu: &mut [F],
) {
    let n = out.len();
    let g = &g[..if STEP { n } else { 0 }];
    let (mu_last, new_last) = (&mu_last[..n], &mut new_last[..n]);
    let (row_acc, nu) = (&mut row_acc[..n], &mut nu[..n]);
    let (c_g, c_mu) = (plan.c_g, plan.c_mu);
    for k in 0..n {
        let gk = if STEP { g[k] } else { out[k] };
        let acc = c_g * (gk * gk) + c_mu * minimum(m_outer, mu_last[k]);
        new_last[k] = maximum(new_last[k], acc);
        row_acc[k] = acc;
    }
    let plan = *plan;
    for k in 0..n {
        let gk = if STEP { g[k] } else { out[k] };
        let u = plan.element(gk, row_acc[k], &mut nu[k]);
        out[k] = if STEP { out[k] + u } else { u };
    }
}

/// Rows `rows` of a leaf of rank >= 2 whose elements (from the first row's) are `io` and
/// `nu`: each element's update from the old accumulators `mu`, and the maxima of the new
/// ones gathered into `new` (a [`part_len`] part: `accumulators(shape)` entries from -inf,
/// then room for a row). A [`Body`](crate::exec::Body), as [`Vector`].
struct Rows<'a, 'b, F, IO> {
    plan: &'a Plan<F>,
    shape: &'a [usize],
    mu: &'a [F],
    nu: &'a mut [F],
    new: &'a mut [F],
    rows: std::ops::Range<usize>,
    io: &'b mut IO,
}

impl<F: Float, IO: LeafIo<F>> crate::exec::Body for Rows<'_, '_, F, IO> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let Rows {
            plan,
            shape,
            mu,
            nu,
            new,
            rows,
            io,
        } = self;
        let rank = shape.len();
        let last = shape[rank - 1];
        let total = accumulators(shape);
        // The accumulators of axis k start at Σ shape[..k]; the last axis's are read per
        // element, the outer axes' once per row.
        let off_last = total - last;
        let (new, row_acc) = new[..total + last].split_at_mut(total);
        let (new_outer, new_last) = new.split_at_mut(off_last);
        let mu_last = &mu[off_last..total];
        // Calls `f(position)` with the position of each outer axis's accumulator of `row`.
        let outer = |row: usize, f: &mut dyn FnMut(usize)| {
            let (mut r, mut off) = (row, off_last);
            for ax in (0..rank - 1).rev() {
                off -= shape[ax];
                f(off + r % shape[ax]);
                r /= shape[ax];
            }
        };
        for row in rows.clone() {
            // The smallest accumulator of the outer axes for this row.
            let mut m_outer = F::infinity();
            outer(row, &mut |pos| m_outer = minimum(m_outer, mu[pos]));
            let start = (row - rows.start) * last;
            let nu_row = &mut nu[start..start + last];
            match io.slices(start, last) {
                Slices::Step { p, g } => {
                    row_loop::<F, true>(plan, m_outer, p, g, mu_last, new_last, row_acc, nu_row)
                }
                Slices::Update { u } => {
                    row_loop::<F, false>(plan, m_outer, u, &[], mu_last, new_last, row_acc, nu_row)
                }
            }
            let row_max = max_of(row_acc);
            outer(row, &mut |pos| {
                new_outer[pos] = maximum(new_outer[pos], row_max)
            });
        }
    }
}

/// One leaf of a step, on the thread of its task.
fn run_leaf<F: Float, IO: LeafIo<F>>(
    plan: &Plan<F>,
    shape: &[usize],
    mu: &mut [F],
    nu: &mut [F],
    scratch: &mut [F],
    io: &mut IO,
) {
    let n = io.grads().len();
    let nu = &mut nu[..n];
    if shape.len() < 2 {
        return crate::exec::wide_run(Vector { plan, mu, nu, io });
    }
    if n == 0 {
        // No element: no maximum to take; the accumulators stay.
        return;
    }
    let total = accumulators(shape);
    let new = &mut scratch[..part_len(shape)];
    new[..total].fill(F::neg_infinity());
    let rows = 0..n / shape[shape.len() - 1];
    crate::exec::wide_run(Rows {
        plan,
        shape,
        mu,
        nu,
        new,
        rows,
        io,
    });
    mu[..total].copy_from_slice(&new[..total]);
}

/// [`run_leaf`] across the threads of a parallel step, for a leaf that [`splits`]: a
/// vector in chunks; a leaf of rank >= 2 in [`parts`] blocks of rows, each gathering its
/// maxima in its own part of the scratch, then combined part by part in order. Every
/// element is computed as in [`run_leaf`], and a maximum does not depend on how its
/// operands are grouped, so the bits are those of the sequential pass. `io(start, end)`
/// gives elements `start..end` of the leaf (called once per disjoint range).
fn run_leaf_split<F: Float, IO: LeafIo<F>>(
    plan: &Plan<F>,
    shape: &[usize],
    mu: &mut [F],
    nu: &mut [F],
    scratch: &mut [F],
    io: impl Fn(usize, usize) -> IO + Sync,
) {
    let n = nu.len();
    if shape.len() < 2 {
        let mu = &mut mu[..n];
        mu.par_chunks_mut(CHUNK)
            .zip(nu.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (mu, nu))| {
                let start = c * CHUNK;
                let io = &mut io(start, start + nu.len());
                crate::exec::wide_run(Vector { plan, mu, nu, io });
            });
        return;
    }
    let last = shape[shape.len() - 1];
    let (rows, total, part) = (n / last, accumulators(shape), part_len(shape));
    let per = rows.div_ceil(parts(shape));
    let blocks = rows.div_ceil(per);
    let old = &*mu;
    scratch[..blocks * part]
        .par_chunks_mut(part)
        .zip(nu.par_chunks_mut(per * last))
        .enumerate()
        .for_each(|(b, (new, nu))| {
            new[..total].fill(F::neg_infinity());
            let r = b * per..(b * per + per).min(rows);
            let mut io = io(r.start * last, r.end * last);
            crate::exec::wide_run(Rows {
                plan,
                shape,
                mu: old,
                nu,
                new,
                rows: r,
                io: &mut io,
            });
        });
    for (j, m) in mu[..total].iter_mut().enumerate() {
        *m = (1..blocks).fold(scratch[j], |acc, b| maximum(acc, scratch[b * part + j]));
    }
}

/// An update of the whole tree with `plan`; counts the step.
pub(crate) fn update<F: Float, P: Tree<F>>(
    plan: &Plan<F>,
    updates: &mut P,
    state: &mut Sm3State<F>,
    params: Option<&P>,
) -> Result<(), Error> {
    check_update_trees(&state.leaves, updates, params)?;
    state.check()?;
    state.scratch.exec.begin(&state.leaves);
    for_each_update_leaf(updates, params, |i, io| {
        let mem = LeafMem {
            a: io.u.as_mut_ptr(),
            b: io.p.map_or(std::ptr::null(), |p| p.as_ptr()),
            len: io.u.len(),
        };
        state.record(i, mem);
    })?;
    state.execute(plan, false);
    Ok(())
}

/// A fused step of the whole tree with `plan`; counts the step.
pub(crate) fn step<F: Float, P: Tree<F>>(
    plan: &Plan<F>,
    params: &mut P,
    grads: &P,
    state: &mut Sm3State<F>,
) -> Result<(), Error> {
    check_update_trees(&state.leaves, grads, Some(&*params))?;
    state.check()?;
    state.scratch.exec.begin(&state.leaves);
    for_each_step_leaf(params, grads, |i, io| {
        let mem = LeafMem {
            a: io.p.as_mut_ptr(),
            b: io.g.as_ptr(),
            len: io.p.len(),
        };
        state.record(i, mem);
    })?;
    state.execute(plan, true);
    Ok(())
}

impl<F: Float> Sm3State<F> {
    /// Records leaf `i` of a step: its memory, accumulators, momentum and scratch.
    fn record(&mut self, i: usize, mem: LeafMem<F>) {
        let Sm3State {
            mu, nu, scratch, ..
        } = self;
        let native = |v: &mut Vec<F>| BufPtr::Native(v.as_mut_ptr());
        let bufs = [
            native(&mut mu[i]),
            native(&mut nu[i]),
            native(&mut scratch.new[i]),
        ];
        scratch.exec.push(mem, bufs);
    }

    /// Runs every recorded leaf, as tasks of whole leaves on rayon's current pool, a leaf
    /// of two chunks or more split across the threads ([`run_leaf_split`], the same bits
    /// as the sequential pass, so they do not depend on the thread count); counts the
    /// step.
    fn execute(&mut self, plan: &Plan<F>, step: bool) {
        let exec = &mut self.scratch.exec;
        exec.ready();
        let exec = &*exec;
        let leaves = &self.leaves;
        exec.run_leaves(|i| {
            let (shape, n) = (&leaves[i].shape[..], leaves[i].len());
            let lens = [accumulators(shape), n, scratch_len(shape)];
            // SAFETY: leaf `i` runs in this task alone; its buffers were recorded from
            // the state with these lengths (checked before the step), and its memory
            // from the trees the step borrows.
            unsafe {
                let [mu, nu, new] = [0, 1, 2].map(|k| match exec.buf(i, k) {
                    BufPtr::Native(p) => std::slice::from_raw_parts_mut(p, lens[k]),
                    _ => &mut [],
                });
                if exec.is_parallel() && splits(n) {
                    // SAFETY: each call covers a range of the leaf no other call covers.
                    let io = |start, end| AnyLeaf::of(exec, i, start, end, step);
                    run_leaf_split(plan, shape, mu, nu, new, io);
                } else {
                    let mut io = AnyLeaf::of(exec, i, 0, n, step);
                    run_leaf(plan, shape, mu, nu, new, &mut io);
                }
            }
        });
        self.count += 1;
    }
}

/// Scaling by SM3's cover accumulators (optax's `scale_by_sm3`): [`sm3`](fn@crate::sm3)
/// without its learning rate.
///
/// # Update
///
/// For a leaf of rank `r >= 2`, with one accumulator `μ_k[i]` per index `i` of each axis
/// `k`, and `c = (b2 == 1 ? 1 : 1 - b2)`:
///
/// ```text
/// acc(x)  = c * g(x)² + b2 * min_k μ_k[x_k]
/// μ_k[i]  = max { acc(x) : x_k = i }          (the new accumulators)
/// u(x)    = g(x) * (acc(x) > 0 ? 1 / sqrt(acc(x) + eps) : 0)
/// ν(x)    = (1 - b1) * u(x) + b1 * ν(x);  update = ν(x)
/// ```
///
/// A vector keeps one accumulator per element (`μ = acc`); a scalar is a 1-element
/// vector (optax raises on it). The minimum and maximum propagate NaN, as optax's
/// `jnp.minimum` and `jnp.max` do: a NaN gradient makes its accumulators NaN, and an
/// element that reads a NaN accumulator gets a zero `u` (`acc > 0` is false).
///
/// # Arguments
///
/// | argument | type | default | meaning |
/// |---|---|---|---|
/// | `b1` | `f64` | `0.9` | decay of the momentum of the updates |
/// | `b2` | `f64` | `1.0` | decay of the accumulators (1: plain sums) |
/// | `eps` | `f64` | `1e-8` | added to the accumulator under the square root |
///
/// References: Anil et al, 2019, *Memory-Efficient Adaptive Optimization*.
#[derive(Clone, Debug)]
pub struct ScaleBySm3 {
    /// Decay of the momentum of the updates.
    pub b1: f64,
    /// Decay of the accumulators.
    pub b2: f64,
    /// Added to the accumulator under the square root.
    pub eps: f64,
}

impl Default for ScaleBySm3 {
    fn default() -> Self {
        ScaleBySm3 {
            b1: 0.9,
            b2: 1.0,
            eps: 1e-8,
        }
    }
}

/// Shorthand for [`ScaleBySm3::default`]; see [`ScaleBySm3`].
pub fn scale_by_sm3() -> ScaleBySm3 {
    ScaleBySm3::default()
}

impl ScaleBySm3 {
    fn check_args(&self) -> Result<(), Error> {
        check_sm3_args("scale_by_sm3", ("b1", self.b1), self.b2, self.eps)
    }

    /// Sets `b1`.
    #[must_use]
    pub fn b1(mut self, b1: f64) -> Self {
        self.b1 = b1;
        self
    }
    /// Sets `b2`.
    #[must_use]
    pub fn b2(mut self, b2: f64) -> Self {
        self.b2 = b2;
        self
    }
    /// Sets `eps`.
    #[must_use]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

/// Checks SM3's decays and eps, as `transform` names them (`momentum` is `b1`): the
/// momentum's decay in [0, 1), the accumulators' in [0, 1] (1 keeps plain sums), eps a
/// finite number >= 0 (the step never divides by a zero accumulator).
pub(crate) fn check_sm3_args(
    transform: &str,
    (b1_name, b1): (&str, f64),
    b2: f64,
    eps: f64,
) -> Result<(), Error> {
    let hyper = |arg: &str, detail: String| Error::Hyper {
        transform: transform.into(),
        arg: arg.into(),
        detail,
    };
    if !(0.0..1.0).contains(&b1) {
        return Err(hyper(b1_name, format!("{b1} is not in [0, 1)")));
    }
    if !(0.0..=1.0).contains(&b2) {
        return Err(hyper("b2", format!("{b2} is not in [0, 1]")));
    }
    if !(eps >= 0.0 && eps.is_finite()) {
        return Err(hyper("eps", format!("{eps} is not a finite number >= 0")));
    }
    Ok(())
}

hand_hyperparams!(ScaleBySm3, "scale_by_sm3", required: [], blank: ScaleBySm3::default(),
    { b1, b2, eps });

impl<F: Float> Transformation<F> for ScaleBySm3 {
    type State = Sm3State<F>;

    fn name(&self) -> &'static str {
        "scale_by_sm3"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check_args()?;
        Sm3State::new(leaf_metas(params)?)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args()?;
        let plan = Plan::new(self.b1, self.b2, self.eps, 1.0);
        update(&plan, updates, state, params)
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args()?;
        check_update_trees(&state.leaves, updates, params)?;
        state.validate()
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        _extra: &Extra,
    ) -> Result<(), Error> {
        self.check_args()?;
        let plan = Plan::new(self.b1, self.b2, self.eps, 1.0);
        step(&plan, params, grads, state)
    }
}

// `sm3` is registered by its documented trace; the primitive, which has none, by this
// table.
crate::family! {
    "scale_by_sm3" => ScaleBySm3,
}

/// `count`, the accumulators `mu/<leaf>` (1-d, axis after axis) and the momentum
/// `nu/<leaf>`; the scratch is not a tensor.
impl<F: Float> StateTensors<F> for Sm3State<F> {
    fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
        f(&format!("{prefix}count"), TensorRef::Count(self.count))?;
        visit_elems(prefix, "mu", &self.leaves, &self.mu, f)?;
        visit_elems(prefix, "nu", &self.leaves, &self.nu, f)
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        f(&format!("{prefix}count"), TensorMut::Count(&mut self.count))?;
        visit_elems_mut(prefix, "mu", &self.leaves, &mut self.mu, f)?;
        visit_elems_mut(prefix, "nu", &self.leaves, &mut self.nu, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::StepLeaf;

    /// The params, shared by the split pass's tasks, each writing its own range.
    struct Shared(*mut f32);
    // SAFETY: the tasks write disjoint ranges (what `run_leaf_split` promises).
    unsafe impl Sync for Shared {}

    fn wave(n: usize, k: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + k).sin()) * 0.5)
            .collect()
    }

    /// The split pass gives the sequential pass's bits, for a vector, matrices with
    /// fewer and more rows than parts, and a leaf of rank 3 whose outer accumulators are
    /// shared by several blocks; over steps, so the accumulators read are not zeros.
    #[test]
    fn the_split_pass_gives_the_sequential_bits() {
        let plan = Plan::<f32>::new(0.9, 0.99, 1e-8, -0.1);
        for shape in [
            vec![3 * CHUNK + 5],
            vec![5, 2 * CHUNK],
            vec![530, 150],
            vec![140, 150, 4],
            vec![7, 3, 4000],
        ] {
            let n: usize = shape.iter().product();
            assert!(splits(n), "{shape:?}");
            let acc = accumulators(&shape);
            let mut seq = (wave(n, 0.0), vec![0.0; acc], vec![0.0; n]);
            let mut par = seq.clone();
            let mut scratch_seq = vec![0.0; scratch_len(&shape)];
            let mut scratch_par = scratch_seq.clone();
            for t in 0..3 {
                let g = wave(n, 1.0 + t as f32);
                let (p, mu, nu) = &mut seq;
                let mut io = StepLeaf { p, g: &g };
                run_leaf(&plan, &shape, mu, nu, &mut scratch_seq, &mut io);
                let (p, mu, nu) = &mut par;
                let shared = Shared(p.as_mut_ptr());
                let g = &g;
                let io = |start: usize, end: usize| {
                    let shared = &shared;
                    // SAFETY: each call covers a range no other call covers.
                    let p =
                        unsafe { std::slice::from_raw_parts_mut(shared.0.add(start), end - start) };
                    StepLeaf {
                        p,
                        g: &g[start..end],
                    }
                };
                run_leaf_split(&plan, &shape, mu, nu, &mut scratch_par, io);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&seq.0), bits(&par.0), "{shape:?} step {t}: params");
                assert_eq!(
                    bits(&seq.1),
                    bits(&par.1),
                    "{shape:?} step {t}: accumulators"
                );
                assert_eq!(bits(&seq.2), bits(&par.2), "{shape:?} step {t}: momentum");
            }
        }
    }
}
