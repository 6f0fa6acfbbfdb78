//! How a step of `adafactor` or `scale_by_factored_rms` runs over a tree, on every core:
//! the leaves are recorded in the state's [`Exec`](crate::exec::Exec) (the written tree,
//! the read one and each leaf's own state and scratch buffers), then run as tasks of
//! whole leaves ([`Exec::run_leaves`](crate::exec::Exec::run_leaves)) on rayon's current
//! pool. Each leaf's passes are the ones a sequential step runs, on buffers that belong to
//! that leaf alone, so the bits of params and state do not depend on the thread count.

use super::fused::{pass1, pass2, Plan};
use super::layout::Layout;
use super::state::{scratch_lens, FactoredExec, FactoredRmsState, Scratch};
use crate::exec::Body;
use crate::exec::{absent, BufPtr, BufSlice, LeafMem, CHUNK};
use crate::kernel::{for_each_step_leaf, for_each_update_leaf, AnyLeaf, LeafIo};
use crate::{Buf, Error, Float, Tree};
use rayon::prelude::*;

/// The momentum of each leaf (`None` without momentum) and the weight-decay flag of each
/// leaf (empty: no leaf decays).
pub(crate) struct Extras<'a, F> {
    pub(crate) mu: Option<&'a mut [Buf<F>]>,
    pub(crate) decay: &'a [bool],
}

/// A fused step of the whole tree with `plan` (the trees and state already checked).
pub(crate) fn step<F: Float, P: Tree<F>>(
    plan: &Plan<F>,
    params: &mut P,
    grads: &P,
    st: &mut FactoredRmsState<F>,
    mut ex: Extras<'_, F>,
) -> Result<(), Error> {
    st.scratch.exec.begin(&st.leaves);
    for_each_step_leaf(params, grads, |i, io| {
        let mem = LeafMem {
            a: io.p.as_mut_ptr(),
            b: io.g.as_ptr(),
            len: io.p.len(),
        };
        record(st, &mut ex, i, mem);
    })?;
    execute(plan, st, &ex, true);
    Ok(())
}

/// An update of the whole tree with `plan` (the trees and state already checked).
pub(crate) fn update<F: Float, P: Tree<F>>(
    plan: &Plan<F>,
    updates: &mut P,
    params: Option<&P>,
    st: &mut FactoredRmsState<F>,
    mut ex: Extras<'_, F>,
) -> Result<(), Error> {
    st.scratch.exec.begin(&st.leaves);
    for_each_update_leaf(updates, params, |i, io| {
        let mem = LeafMem {
            a: io.u.as_mut_ptr(),
            b: io.p.map_or(std::ptr::null(), |p| p.as_ptr()),
            len: io.u.len(),
        };
        record(st, &mut ex, i, mem);
    })?;
    execute(plan, st, &ex, false);
    Ok(())
}

/// Records leaf `i`: its memory and its buffers, in the order [`FactoredExec`] lists.
fn record<F: Float>(
    st: &mut FactoredRmsState<F>,
    ex: &mut Extras<'_, F>,
    i: usize,
    mem: LeafMem<F>,
) {
    let FactoredRmsState {
        v_row,
        v_col,
        v,
        scratch: Scratch { a, b, w, exec },
        ..
    } = st;
    let mu = match ex.mu.as_deref_mut().map(|m| &mut m[i]) {
        None | Some(Buf::Absent(_)) => BufPtr::Absent,
        Some(Buf::Native(m)) => BufPtr::Native(m.as_mut_ptr()),
        Some(Buf::F32(m)) => BufPtr::F32(m.as_mut_ptr()),
        Some(Buf::F64(m)) => BufPtr::F64(m.as_mut_ptr()),
        Some(Buf::BF16(m)) => BufPtr::BF16(m.as_mut_ptr()),
        Some(Buf::F16(m)) => BufPtr::F16(m.as_mut_ptr()),
    };
    let native = |v: &mut Vec<F>| BufPtr::Native(v.as_mut_ptr());
    exec.push(
        mem,
        [
            mu,
            native(&mut v_row[i]),
            native(&mut v_col[i]),
            native(&mut v[i]),
            native(&mut a[i]),
            native(&mut b[i]),
            native(&mut w[i]),
        ],
    );
}

/// Elements `start..start + len` of buffer `k` of leaf `leaf`, as native elements.
///
/// # Safety
/// The buffer was recorded as native with at least `start + len` elements, and no live
/// slice that writes covers these elements.
unsafe fn native<'a, F: Float>(
    exec: &FactoredExec<F>,
    leaf: usize,
    k: usize,
    start: usize,
    len: usize,
) -> &'a mut [F] {
    match exec.buf(leaf, k) {
        // SAFETY: as the caller promises.
        BufPtr::Native(p) => unsafe { std::slice::from_raw_parts_mut(p.add(start), len) },
        _ => &mut [],
    }
}

/// Runs every recorded leaf: pass 1, then pass 2 (`fused.rs`). A leaf of at least two
/// chunks in a parallel step runs pass 1's blocks of rows across the threads and
/// pass 2 in blocks of runs of about `CHUNK` elements, each block on any thread; the
/// others run on the thread of their task. Either way each element and statistic is
/// computed by the same operations in the same order.
fn execute<F: Float>(plan: &Plan<F>, st: &mut FactoredRmsState<F>, ex: &Extras<'_, F>, step: bool) {
    let exec = &mut st.scratch.exec;
    exec.ready();
    let exec = &*exec;
    let leaves = &st.leaves;
    let decay = ex.decay;
    exec.run_leaves(|i| {
        let (shape, n) = (&leaves[i].shape[..], leaves[i].len());
        let layout = Layout::of(shape, plan.factored, plan.min_dim);
        let (row, col, full, la) = match &layout {
            Some(l) => (l.row_len(), l.col_len(), 0, l.len_a()),
            None => (0, 0, n, 0),
        };
        let (sa, lb, sw) = scratch_lens(shape, plan.factored, plan.min_dim);
        let wd = decay.get(i).copied().unwrap_or(false);
        let split = exec.is_parallel() && n >= 2 * CHUNK;
        // SAFETY (both passes): leaf `i` runs in this task alone (and, split, in the
        // blocks of this task); its buffers were recorded from the state with these
        // lengths (checked before the step), and its memory from the trees the step
        // borrows. Pass 1's slices end before pass 2 starts; the blocks of pass 2 write
        // disjoint elements and only read the factors.
        let s = unsafe {
            let (g, p) = exec.read(i, 0, n, step);
            let stats = (
                native(exec, i, 1, 0, row),
                native(exec, i, 2, 0, col),
                native(exec, i, 3, 0, full),
            );
            let s = (
                native(exec, i, 4, 0, sa),
                native(exec, i, 5, 0, lb),
                native(exec, i, 6, 0, sw),
            );
            pass1(plan, layout.as_ref(), g, p, stats, s, split)
        };
        let (unit, units) = layout
            .as_ref()
            .map_or((1, n), |l| (l.nb * l.inner, l.runs()));
        let per = if split {
            (CHUNK / unit).max(1)
        } else {
            units.max(1)
        };
        let block = |k: usize| {
            let runs = k * per..((k + 1) * per).min(units);
            let (start, len) = (runs.start * unit, runs.len() * unit);
            unsafe {
                let fa = &*native(exec, i, 4, 0, la);
                let fb = &*native(exec, i, 5, 0, lb);
                // A factored leaf has no `v` (an empty buffer: no offset into it).
                let v = match layout {
                    Some(_) => native(exec, i, 3, 0, 0),
                    None => native(exec, i, 3, start, len),
                };
                let f = (fa, fb, v);
                let l = layout.as_ref();
                let mut io = AnyLeaf::of(exec, i, start, start + len, step);
                let mu = exec.buf(i, 0).slice(start, len);
                crate::exec::wide_run(Pass2 {
                    plan,
                    l,
                    runs,
                    f,
                    s,
                    wd,
                    mu,
                    io: &mut io,
                });
            }
        };
        let blocks = units.div_ceil(per);
        if split {
            (0..blocks).into_par_iter().for_each(block);
        } else {
            (0..blocks).for_each(block);
        }
    });
}

/// Pass 2 over some runs of a leaf, for the storage of its momentum (`pass2`'s
/// arguments), as one [`Body`] so that its loops have the wide builds.
struct Pass2<'a, 'b, F, IO> {
    plan: &'a Plan<F>,
    l: Option<&'a Layout>,
    runs: std::ops::Range<usize>,
    f: (&'a [F], &'a [F], &'a mut [F]),
    s: F,
    wd: bool,
    mu: BufSlice<'a, F>,
    io: &'b mut IO,
}

impl<F: Float, IO: LeafIo<F>> Body for Pass2<'_, '_, F, IO> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let Pass2 {
            plan,
            l,
            runs,
            f,
            s,
            wd,
            mu,
            io,
        } = self;
        match mu {
            BufSlice::Native(m) => pass2(plan, l, runs, f, s, wd, m, io),
            BufSlice::F32(m) => pass2(plan, l, runs, f, s, wd, m, io),
            BufSlice::F64(m) => pass2(plan, l, runs, f, s, wd, m, io),
            BufSlice::BF16(m) => pass2(plan, l, runs, f, s, wd, m, io),
            BufSlice::F16(m) => pass2(plan, l, runs, f, s, wd, m, io),
            BufSlice::Absent(n) => pass2(plan, l, runs, f, s, wd, &mut absent(n), io),
        }
    }
}
