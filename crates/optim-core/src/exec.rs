//! How a generated step runs over the leaves of a tree, on every core.
//!
//! A step first walks the tree once, sequentially, recording each leaf's memory (the
//! written tree's data, the read one's, each state buffer's storage) in [`Exec`], scratch
//! that lives in the optimizer's state. It then runs *tasks* over that memory: a leaf
//! larger than [`CHUNK`] elements is cut into chunks of `CHUNK` elements (a multiple of
//! 64 bytes for every element type), and consecutive smaller leaves are grouped until a
//! task holds about `CHUNK` elements. Tasks run on rayon's current pool (the global one,
//! or the one a caller `install`s; `RAYON_NUM_THREADS=1` makes a step single-threaded);
//! a tree smaller than two chunks runs inline with no threading cost.
//!
//! Results do not depend on the thread count or on how tasks are scheduled: element
//! updates are independent, and every reduction sums fixed blocks of `CHUNK` elements of
//! a leaf (8 lanes within a block, [`Lanes`]) whose partial sums are then added in block
//! order, leaf by leaf. A leaf of at most `CHUNK` elements is one block, the order a
//! single pass has always used.
//!
//! Soundness: the recorded pointers are only used while the step holds the borrows they
//! came from, and tasks touch disjoint elements. A tree whose leaves overlap in memory (a
//! hand-written `Tree` can yield the same buffer twice) is run sequentially: before a
//! parallel run the leaves' address ranges are checked for overlap (sorted once, and
//! reused while the addresses do not change).

use crate::__private::{Lanes, LANES};
use crate::float::{Absent, AsF32, AsF64, Buf};
use crate::{Error, Float, LeafMeta};
use rayon::prelude::*;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// A build of the generated element loops (and the hand-written kernels'): each
/// dispatch is compiled for the target's baseline and, on x86-64, again with AVX2 and
/// FMA (8 f32 lanes) and with AVX-512 (F, VL, BW, DQ, with AVX2 and FMA: 16 lanes, and
/// single instructions for the narrowing and the NaN selects of bf16 state); a step
/// that writes bf16 state has one more, with AVX512_BF16, whose loop narrows 16 lanes
/// in one instruction ([`Store::store_16`](crate::__private::Store::store_16)). Every build
/// gives the same bits, NaNs aside (which NaN `0 * inf` meets depends on operand order,
/// which the compiler may commute in any build; `tests/simd.rs` checks every registered
/// optimizer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Simd {
    /// The target's baseline (on x86-64, SSE2: 4 f32 lanes).
    Baseline,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 F, VL, BW and DQ, with AVX2 and FMA.
    Avx512,
    /// [`Simd::Avx512`] with AVX512_BF16, for the steps that write bf16 state (the others
    /// run the `Avx512` build). Zen 4 and later, Cooper Lake, Sapphire Rapids and later.
    Avx512Bf16,
}

impl Simd {
    /// The widest build this CPU runs.
    pub fn best() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            use std::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                if has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512dq") {
                    if has!("avx512bf16") {
                        return Simd::Avx512Bf16;
                    }
                    return Simd::Avx512;
                }
                return Simd::Avx2;
            }
        }
        Simd::Baseline
    }

    fn code(self) -> u8 {
        match self {
            Simd::Baseline => 1,
            Simd::Avx2 => 2,
            Simd::Avx512 => 3,
            Simd::Avx512Bf16 => 4,
        }
    }
}

/// The build generated steps run: the widest this CPU has, unless `OPTIM_SIMD` was set
/// when the first step ran (`off` or `baseline`, `avx2`, `avx512`, `avx512bf16`: at most
/// that one).
#[inline]
pub fn simd() -> Simd {
    match SIMD.load(Ordering::Relaxed) {
        1 => Simd::Baseline,
        2 => Simd::Avx2,
        3 => Simd::Avx512,
        4 => Simd::Avx512Bf16,
        _ => {
            let cap = match std::env::var("OPTIM_SIMD").as_deref() {
                Ok("off" | "baseline") => Simd::Baseline,
                Ok("avx2") => Simd::Avx2,
                Ok("avx512") => Simd::Avx512,
                Ok("avx512bf16") | Err(_) => Simd::Avx512Bf16,
                Ok(other) => {
                    unknown_setting(
                        "OPTIM_SIMD",
                        other,
                        "off, baseline, avx2, avx512, avx512bf16",
                    );
                    Simd::Avx512Bf16
                }
            };
            let level = cap.min(Simd::best());
            SIMD.store(level.code(), Ordering::Relaxed);
            level
        }
    }
}

/// Whether generated element loops prefetch their streams ahead in software (x86-64
/// only). `OPTIM_PREFETCH=on` or `off`, read when the first step runs, decides; without
/// it, prefetching is on on Intel CPUs and off on others. A loop with work between its
/// loads keeps fewer cache-line misses in flight than a copy does; on the Intel Xeon of
/// the earlier runs a prefetch per stream per cache line, [`PREFETCH_BYTES`] ahead,
/// closed that gap (Adam and Lion 6-20% faster at 1e7 and 5e7 elements), while on an
/// AMD EPYC (Zen 4), whose own prefetchers keep up, the same prefetches took Adam and SGD
/// with momentum from 0.81-1.04 of the hand-written loop (which does not prefetch) to
/// 1.10-1.27 (`benches/HISTORY.md`). Bits do not change.
#[inline]
pub fn prefetching() -> bool {
    match PREFETCH.load(Ordering::Relaxed) {
        0 => {
            let on = cfg!(target_arch = "x86_64")
                && match std::env::var("OPTIM_PREFETCH").as_deref() {
                    Ok("on") => true,
                    Ok("off") => false,
                    Err(_) => cpu_is_intel(),
                    Ok(other) => {
                        unknown_setting("OPTIM_PREFETCH", other, "on, off");
                        cpu_is_intel()
                    }
                };
            PREFETCH.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        v => v == 2,
    }
}

/// Turns the prefetching loop of large leaves on or off for the whole process (it stays
/// off off x86-64); returns whether it was on. For comparing the two loops, whose bits
/// are the same (`tests/simd.rs`).
pub fn set_prefetch(on: bool) -> bool {
    let was = prefetching();
    let on = on && cfg!(target_arch = "x86_64");
    PREFETCH.store(if on { 2 } else { 1 }, Ordering::Relaxed);
    was
}

/// Says once, on stderr, that an environment setting has a value it does not know (a
/// performance switch: the step runs either way, with the default).
#[cold]
pub(crate) fn unknown_setting(var: &str, value: &str, known: &str) {
    eprintln!("optim: {var}={value:?} is not one of {known}; using the default");
}

/// Whether the CPU's vendor string (CPUID leaf 0) is Intel's.
fn cpu_is_intel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86-64 CPU; leaf 0 is always valid.
        let r = unsafe { core::arch::x86_64::__cpuid(0) };
        // Compared in place: the first step (where this runs) allocates nothing.
        let [b, d, c] = [r.ebx, r.edx, r.ecx].map(u32::to_le_bytes);
        (b, d, c) == (*b"Genu", *b"ineI", *b"ntel")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

static PREFETCH: AtomicU8 = AtomicU8::new(0);

/// How far ahead a generated element loop prefetches, in bytes of the element type: at
/// 5e7 elements a Lion step on 2 threads went from 31 to 26 ms with 2 KiB, where 512
/// bytes gave 29 and 1 KiB 28 (Adam: 39 to 34 ms).
pub const PREFETCH_BYTES: usize = 2048;

/// Cache lines per block of a generated element loop that prefetches: its prefetches
/// are issued at the block's start.
pub const PREFETCH_LINES: usize = 4;

/// The smallest leaf a generated element loop prefetches on, unless
/// [`set_prefetch_min_len`] says otherwise. On smaller leaves, whose state stays in cache
/// from step to step, the blocks and prefetches cost more than they save (an Adam step on
/// a 1e6-element leaf took 1.2 to 1.4 times as long with them).
pub const PREFETCH_MIN_LEN: usize = 1 << 22;

static PREFETCH_MIN: AtomicUsize = AtomicUsize::new(PREFETCH_MIN_LEN);

/// Sets the smallest leaf a generated element loop prefetches on, for the whole process
/// (`0`: every leaf; `usize::MAX`: none); returns the previous value. Values never
/// depend on it (`tests/simd.rs` compares both loops bit for bit).
pub fn set_prefetch_min_len(len: usize) -> usize {
    PREFETCH_MIN.swap(len, Ordering::Relaxed)
}

/// Whether a generated element loop prefetches on a leaf of `len` elements.
#[inline]
pub fn prefetch_leaf(len: usize) -> bool {
    // `prefetching()` first, so that `OPTIM_PREFETCH` is read (and an unknown value
    // reported) on the first step, whatever its leaves' sizes.
    prefetching() && len >= PREFETCH_MIN.load(Ordering::Relaxed)
}

/// The body of a hand-written kernel (adafactor's, sm3's), for [`wide_run`]: the kernel's
/// arguments as fields, its loops in `run`. Each impl marks `run` `#[inline(always)]`, so
/// the body compiles into each wide copy whatever its size. (A closure run from a
/// `#[target_feature]` function compiles into it only if the inliner takes the closure,
/// and it does not take a large one: adafactor's ran SSE code that way.)
pub(crate) trait Body {
    type Out;
    fn run(self) -> Self::Out;
}

/// Runs `b` from a copy of it built for the [`simd`] level in use: for the hand-written
/// kernels, whose loops are not generated by `#[optimizer]`, which emits its own builds.
#[inline(always)]
pub(crate) fn wide_run<B: Body>(b: B) -> B::Out {
    // Returns `b` run from a copy built with `$features`.
    macro_rules! go {
        ($features:literal) => {{
            #[target_feature(enable = $features)]
            unsafe fn go<B: Body>(b: B) -> B::Out {
                b.run()
            }
            // SAFETY: `simd()` names a level only where the CPU has its features.
            return unsafe { go(b) };
        }};
    }
    #[cfg(target_arch = "x86_64")]
    match simd() {
        // The hand-written kernels keep no bf16 state in their element loops' stores.
        Simd::Avx512 | Simd::Avx512Bf16 => go!("avx2,fma,avx512f,avx512vl,avx512bw,avx512dq"),
        Simd::Avx2 => go!("avx2,fma"),
        Simd::Baseline => {}
    }
    b.run()
}

/// Sets the build steps run for the whole process, at most the widest this CPU has
/// ([`Simd::best`]); returns the level set. For comparing the builds.
pub fn set_simd(level: Simd) -> Simd {
    let level = level.min(Simd::best());
    SIMD.store(level.code(), Ordering::Relaxed);
    level
}

/// 0: not decided yet; else [`Simd::code`].
static SIMD: AtomicU8 = AtomicU8::new(0);

/// Elements per task and per reduction block: 32Ki, 128 KiB of f32.
pub const CHUNK: usize = 32 * 1024;

/// A leaf's data during a step: the tree the step writes (`a`: params for a fused step,
/// updates for `update`) and the one it reads beside it (`b`: gradients for a step, params
/// for an update, or null).
#[derive(Clone, Copy, Debug)]
pub struct LeafMem<F> {
    pub a: *mut F,
    pub b: *const F,
    pub len: usize,
}

/// One state buffer of one leaf during a step: its storage, by dtype.
#[derive(Clone, Copy, Debug)]
pub enum BufPtr<F> {
    Native(*mut F),
    F32(*mut AsF32),
    F64(*mut AsF64),
    BF16(*mut half::bf16),
    F16(*mut half::f16),
    Absent,
}

/// A chunk of one state buffer, by dtype: what the generated dispatch matches once per
/// chunk to pick the monomorphized loop.
pub enum BufSlice<'a, F> {
    Native(&'a mut [F]),
    F32(&'a mut [AsF32]),
    F64(&'a mut [AsF64]),
    BF16(&'a mut [half::bf16]),
    F16(&'a mut [half::f16]),
    Absent(usize),
}

impl<F: Float> BufPtr<F> {
    /// The storage of `buf`, checked against what the buffer may hold (a storage dtype
    /// other than the params', a disabled buffer): a hand-edited state is an error here,
    /// before the step writes anything.
    pub fn of(
        buf: &mut Buf<F>,
        dtype: bool,
        absent: bool,
        path: &str,
        name: &str,
    ) -> Result<Self, Error> {
        Ok(match buf {
            Buf::Native(v) => BufPtr::Native(v.as_mut_ptr()),
            Buf::F32(v) if dtype => BufPtr::F32(v.as_mut_ptr()),
            Buf::F64(v) if dtype => BufPtr::F64(v.as_mut_ptr()),
            Buf::BF16(v) if dtype => BufPtr::BF16(v.as_mut_ptr()),
            Buf::F16(v) if dtype => BufPtr::F16(v.as_mut_ptr()),
            Buf::Absent(_) if absent => BufPtr::Absent,
            _ => return Err(crate::__private::bad_buf(path, name)),
        })
    }

    /// Elements `start..start + len` of the buffer.
    ///
    /// # Safety
    /// The buffer the pointer came from is alive and not otherwise accessed, the range
    /// is inside it, and no other live slice covers it.
    #[inline(always)]
    pub unsafe fn slice<'a>(self, start: usize, len: usize) -> BufSlice<'a, F> {
        use std::slice::from_raw_parts_mut as s;
        // SAFETY: as the caller promises.
        unsafe {
            match self {
                BufPtr::Native(p) => BufSlice::Native(s(p.add(start), len)),
                BufPtr::F32(p) => BufSlice::F32(s(p.add(start), len)),
                BufPtr::F64(p) => BufSlice::F64(s(p.add(start), len)),
                BufPtr::BF16(p) => BufSlice::BF16(s(p.add(start), len)),
                BufPtr::F16(p) => BufSlice::F16(s(p.add(start), len)),
                BufPtr::Absent => BufSlice::Absent(len),
            }
        }
    }
}

/// A disabled buffer's chunk as a slice of zero-sized slots (a `Vec` of a zero-sized type
/// never allocates).
#[inline(always)]
pub fn absent(len: usize) -> Vec<Absent> {
    vec![Absent; len]
}

/// A unit of work: elements `start..end` of leaf `first` if `first == last`, else the
/// whole leaves `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    pub first: usize,
    pub last: usize,
    pub start: usize,
    pub end: usize,
}

/// The scratch of a generated step, kept in the state (not saved: rebuilt when missing).
/// `B` state buffers, `L` per-leaf values, `W` the widest reduction.
pub struct Exec<F, const B: usize, const L: usize, const W: usize> {
    leaves: Vec<(LeafMem<F>, [BufPtr<F>; B])>,
    lens: Vec<usize>,
    tasks: Vec<Task>,
    /// The first reduction block of each leaf, and the total after the last.
    block_at: Vec<usize>,
    partials: Vec<Slot<[f64; W]>>,
    /// The per-leaf values of this step.
    pub lv: Vec<[F; L]>,
    /// Address ranges of the last parallel run, and whether they were disjoint.
    ranges: Vec<(usize, usize, bool)>,
    checked: Vec<(usize, usize, bool)>,
    disjoint: bool,
    /// Whether this step runs on several threads (decided by [`Exec::ready`]).
    par: bool,
}

/// A reduction block's sums, written by the one task that computes the block.
struct Slot<T>(UnsafeCell<T>);
// SAFETY: every slot is written by exactly one task of a reduction and read after it.
unsafe impl<T: Send> Sync for Slot<T> {}

// SAFETY: the raw pointers are only dereferenced during a step, while the step holds the
// exclusive borrows they were taken from (see the module docs); between steps they are
// never read.
unsafe impl<F: Send, const B: usize, const L: usize, const W: usize> Send for Exec<F, B, L, W> {}
// SAFETY: as above; shared access during a step touches disjoint elements.
unsafe impl<F: Sync, const B: usize, const L: usize, const W: usize> Sync for Exec<F, B, L, W> {}

impl<F, const B: usize, const L: usize, const W: usize> Default for Exec<F, B, L, W> {
    fn default() -> Self {
        Exec {
            leaves: Vec::new(),
            lens: Vec::new(),
            tasks: Vec::new(),
            block_at: Vec::new(),
            partials: Vec::new(),
            lv: Vec::new(),
            ranges: Vec::new(),
            checked: Vec::new(),
            disjoint: false,
            par: false,
        }
    }
}

/// A copy of a state starts with fresh scratch.
impl<F, const B: usize, const L: usize, const W: usize> Clone for Exec<F, B, L, W> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Scratch never makes two states differ.
impl<F, const B: usize, const L: usize, const W: usize> PartialEq for Exec<F, B, L, W> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<F, const B: usize, const L: usize, const W: usize> std::fmt::Debug for Exec<F, B, L, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exec(..)")
    }
}

/// The tasks covering leaves of these lengths (see the module docs).
pub fn plan(lens: &[usize], tasks: &mut Vec<Task>) {
    tasks.clear();
    let mut group: Option<(usize, usize)> = None; // (first leaf, elements)
    for (i, &n) in lens.iter().enumerate() {
        if n > CHUNK {
            if let Some((first, _)) = group.take() {
                tasks.push(Task {
                    first,
                    last: i - 1,
                    start: 0,
                    end: 0,
                });
            }
            let mut s = 0;
            while s < n {
                let e = (s + CHUNK).min(n);
                tasks.push(Task {
                    first: i,
                    last: i,
                    start: s,
                    end: e,
                });
                s = e;
            }
            continue;
        }
        let (first, elems) = group.get_or_insert((i, 0));
        *elems += n;
        if *elems >= CHUNK {
            tasks.push(Task {
                first: *first,
                last: i,
                start: 0,
                end: 0,
            });
            group = None;
        }
    }
    if let Some((first, _)) = group {
        tasks.push(Task {
            first,
            last: lens.len() - 1,
            start: 0,
            end: 0,
        });
    }
}

impl<F: Float, const B: usize, const L: usize, const W: usize> Exec<F, B, L, W> {
    /// Sizes the scratch for leaves of these lengths (at `init`, or on the first step of
    /// a state that was deserialized or cloned).
    pub fn prepare(&mut self, metas: &[LeafMeta]) {
        if self.lens.len() == metas.len()
            && self.lens.iter().zip(metas).all(|(&n, m)| n == m.len())
            && self.leaves.capacity() >= metas.len()
        {
            return;
        }
        self.lens = metas.iter().map(LeafMeta::len).collect();
        let lens = &self.lens;
        self.leaves = Vec::with_capacity(lens.len());
        plan(lens, &mut self.tasks);
        let lens = self.lens.clone();
        let lens = &lens[..];
        self.block_at = Vec::with_capacity(lens.len() + 1);
        let mut at = 0;
        for &n in lens {
            self.block_at.push(at);
            at += n.div_ceil(CHUNK).max(1);
        }
        self.block_at.push(at);
        self.partials = (0..if W == 0 { 0 } else { at })
            .map(|_| Slot(UnsafeCell::new([0.0; W])))
            .collect();
        self.lv = vec![[F::zero(); L]; lens.len()];
        self.ranges = Vec::with_capacity(2 * lens.len());
        self.checked = Vec::with_capacity(2 * lens.len());
        // The global pool is built on first use: here, not inside a step.
        let _ = rayon::current_num_threads();
    }

    /// Starts recording a step's leaves.
    pub fn begin(&mut self, metas: &[LeafMeta]) {
        self.prepare(metas);
        self.leaves.clear();
    }

    /// Ends the recording: decides whether the step runs on several threads.
    pub fn ready(&mut self) {
        self.par = self.parallel();
    }

    /// Records the next leaf.
    #[inline]
    pub fn push(&mut self, mem: LeafMem<F>, bufs: [BufPtr<F>; B]) {
        self.leaves.push((mem, bufs));
    }

    /// Elements `s..e` of leaf `leaf`'s gradients (for a fused step; the updates for
    /// `update`) and params (if given), read-only.
    ///
    /// # Safety
    /// Between the recording of the leaves and the end of the step, with no task writing
    /// this leaf while the slices live.
    #[inline(always)]
    pub unsafe fn read<'a>(
        &self,
        leaf: usize,
        s: usize,
        e: usize,
        step: bool,
    ) -> (&'a [F], Option<&'a [F]>) {
        use std::slice::from_raw_parts as r;
        let m = self.leaves[leaf].0;
        // SAFETY: as the caller promises; the pointers cover `m.len` elements.
        unsafe {
            let a = r(m.a.add(s).cast_const(), e - s);
            let b = (!m.b.is_null()).then(|| r(m.b.add(s), e - s));
            if step {
                (b.unwrap_or(a), Some(a))
            } else {
                (a, b)
            }
        }
    }

    /// Elements `s..e` of the written tree of leaf `leaf` (params for a fused step,
    /// updates for `update`) and of the one read beside it (grads or params).
    ///
    /// # Safety
    /// As [`read`](Self::read), and no other task covers these elements.
    #[inline(always)]
    pub unsafe fn write<'a>(
        &self,
        leaf: usize,
        s: usize,
        e: usize,
    ) -> (&'a mut [F], Option<&'a [F]>) {
        let m = self.leaves[leaf].0;
        // SAFETY: as the caller promises.
        unsafe {
            let a = std::slice::from_raw_parts_mut(m.a.add(s), e - s);
            let b = (!m.b.is_null()).then(|| std::slice::from_raw_parts(m.b.add(s), e - s));
            (a, b)
        }
    }

    /// The storage of buffer `i` of leaf `leaf`.
    #[inline(always)]
    pub fn buf(&self, leaf: usize, i: usize) -> BufPtr<F> {
        self.leaves[leaf].1[i]
    }

    fn total(&self) -> usize {
        self.lens.iter().sum()
    }

    /// Whether this step can run its tasks on several threads: more than one thread in
    /// the current pool, at least two chunks of work, and leaves that do not overlap.
    fn parallel(&mut self) -> bool {
        if self.tasks.len() < 2 || self.total() < 2 * CHUNK || rayon::current_num_threads() < 2 {
            return false;
        }
        self.ranges.clear();
        let size = std::mem::size_of::<F>();
        for (m, _) in &self.leaves {
            let bytes = m.len * size;
            self.ranges.push((m.a as usize, bytes, true));
            if !m.b.is_null() {
                self.ranges.push((m.b as usize, bytes, false));
            }
        }
        if self.ranges != self.checked {
            self.checked.clear();
            self.checked.extend_from_slice(&self.ranges);
            self.checked.sort_unstable();
            let ok = self.checked.windows(2).all(|w| {
                let ((s0, n0, w0), (s1, _, w1)) = (w[0], w[1]);
                n0 == 0 || s0 + n0 <= s1 || !(w0 || w1)
            });
            self.checked.clear();
            self.checked.extend_from_slice(&self.ranges);
            self.disjoint = ok;
        }
        self.disjoint
    }

    /// Runs `f(leaf, start, end)` over every element range of every task, on the
    /// current pool when [`parallel`](Self::parallel).
    pub fn run(&self, f: impl Fn(usize, usize, usize) + Sync) {
        let go = |t: &Task| {
            if t.first == t.last && t.end > 0 {
                f(t.first, t.start, t.end);
            } else {
                for leaf in t.first..=t.last {
                    f(leaf, 0, self.lens[leaf]);
                }
            }
        };
        if self.par {
            self.tasks.par_iter().for_each(go);
        } else {
            self.tasks.iter().for_each(go);
        }
    }

    /// Whether this step runs on several threads (decided by [`ready`](Self::ready)): a
    /// hand-written kernel asks before splitting the work inside one leaf.
    pub fn is_parallel(&self) -> bool {
        self.par
    }

    /// Runs `f(leaf)` once for every leaf, for the hand-written kernels
    /// (`primitives/factored/`, `primitives/sm3.rs`), whose passes need a whole leaf at a
    /// time: the same tasks as [`run`](Self::run), where only the first chunk of a large
    /// leaf runs it (the leaf's other chunks are empty tasks) and a group of small leaves
    /// runs them in order. On the current pool when [`is_parallel`](Self::is_parallel).
    pub fn run_leaves(&self, f: impl Fn(usize) + Sync) {
        let go = |t: &Task| {
            if t.first == t.last && t.end > 0 {
                if t.start == 0 {
                    f(t.first);
                }
            } else {
                (t.first..=t.last).for_each(&f);
            }
        };
        if self.par {
            self.tasks.par_iter().for_each(go);
        } else {
            self.tasks.iter().for_each(go);
        }
    }

    /// Runs a reduction: `f(leaf, start, end)` sums elements `start..end` of a leaf (one
    /// block or less); the blocks' sums are stored and [`sum`](Self::sum) adds them.
    pub fn reduce<const N: usize>(&self, f: impl Fn(usize, usize, usize) -> [f64; N] + Sync) {
        const { assert!(N <= W) };
        let parts = &self.partials;
        let block_at = &self.block_at;
        let lens = &self.lens;
        let store = |leaf: usize, start: usize, end: usize| {
            // A task covers whole blocks of a leaf: chunks are block-aligned, and a
            // leaf in a group is one block.
            let mut s = start;
            loop {
                let e = (s + CHUNK).min(end);
                let v = f(leaf, s, e);
                let slot = block_at[leaf] + s / CHUNK;
                // SAFETY: every (leaf, block) slot is written by exactly one task, and
                // nothing reads it until the reduction ends.
                unsafe {
                    let p = &mut *parts[slot].0.get();
                    p[..N].copy_from_slice(&v);
                }
                s = e;
                if s >= end {
                    break;
                }
            }
            let _ = lens;
        };
        let go = |t: &Task| {
            if t.first == t.last && t.end > 0 {
                store(t.first, t.start, t.end);
            } else {
                for (leaf, &n) in lens.iter().enumerate().take(t.last + 1).skip(t.first) {
                    store(leaf, 0, n);
                }
            }
        };
        if self.par {
            self.tasks.par_iter().for_each(go);
        } else {
            self.tasks.iter().for_each(go);
        }
    }

    /// The sums of a leaf's blocks, added in block order.
    pub fn sum<const N: usize>(&self, leaf: usize) -> [f64; N] {
        let mut out = [0f64; N];
        for p in &self.partials[self.block_at[leaf]..self.block_at[leaf + 1]] {
            // SAFETY: read after the reduction that wrote the slots, with no task running.
            let p = unsafe { &*p.0.get() };
            for (o, x) in out.iter_mut().zip(p) {
                *o += x;
            }
        }
        out
    }

    /// A whole-tree sum: every leaf's sum ([`sum`](Self::sum)), added in leaf order.
    pub fn tree_sum<const N: usize>(
        &self,
        f: impl Fn(usize, usize, usize) -> [f64; N] + Sync,
    ) -> [f64; N] {
        self.reduce::<N>(f);
        let mut out = [0f64; N];
        for leaf in 0..self.lens.len() {
            let s = self.sum::<N>(leaf);
            for (o, x) in out.iter_mut().zip(s) {
                *o += x;
            }
        }
        out
    }
}

/// Sums `f(i)` for `i` in `start..end` (one block at most) in the order of [`Lanes`].
#[inline(always)]
pub fn block_sum<F: Float, const N: usize>(
    start: usize,
    end: usize,
    mut f: impl FnMut(usize) -> [F; N],
) -> [f64; N] {
    let mut acc = Lanes::<N>::default();
    let n = end - start;
    let blocks = n / LANES;
    for b in 0..blocks {
        let mut vals = [[F::zero(); N]; LANES];
        for (l, v) in vals.iter_mut().enumerate() {
            *v = f(start + b * LANES + l);
        }
        acc.block(&vals);
    }
    for i in start + blocks * LANES..end {
        acc.tail(f(i));
    }
    acc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPUID vendor test agrees with the kernel's `vendor_id` (Linux, x86-64).
    #[test]
    fn the_vendor_is_the_one_the_kernel_reports() {
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return;
        };
        if let Some(line) = info.lines().find(|l| l.starts_with("vendor_id")) {
            let intel = line.split(':').nth(1).map(str::trim) == Some("GenuineIntel");
            assert_eq!(cpu_is_intel(), intel, "{line}");
        }
    }

    fn covered(lens: &[usize]) -> Vec<(usize, usize, usize)> {
        let mut t = Vec::new();
        plan(lens, &mut t);
        let mut out = Vec::new();
        for t in &t {
            if t.first == t.last && t.end > 0 {
                out.push((t.first, t.start, t.end));
            } else {
                for (l, &n) in lens.iter().enumerate().take(t.last + 1).skip(t.first) {
                    out.push((l, 0, n));
                }
            }
        }
        out
    }

    #[test]
    fn tasks_cover_every_element_once_in_order() {
        for lens in [
            vec![],
            vec![0],
            vec![5, 0, 7],
            vec![CHUNK],
            vec![CHUNK + 1],
            vec![
                3 * CHUNK + 17,
                10,
                CHUNK / 2,
                CHUNK / 2,
                CHUNK / 2,
                0,
                2 * CHUNK,
            ],
            vec![100; 10_000],
        ] {
            let c = covered(&lens);
            let mut next = vec![0usize; lens.len()];
            for (l, s, e) in &c {
                assert_eq!(*s, next[*l], "{lens:?}");
                assert!(e >= s && *e <= lens[*l]);
                assert!(*s % 16 == 0, "chunks start at 64-byte boundaries");
                next[*l] = *e;
            }
            assert_eq!(next, lens, "every element covered");
        }
    }

    #[test]
    fn small_leaves_are_grouped_and_large_ones_chunked() {
        let mut t = Vec::new();
        plan(&vec![100; 10_000], &mut t);
        assert!(t.len() < 40 && t.len() > 20, "{}", t.len());
        plan(&[5 * CHUNK], &mut t);
        assert_eq!(t.len(), 5);
    }
}
