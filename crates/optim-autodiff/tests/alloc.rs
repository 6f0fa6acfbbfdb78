//! Allocations in steady state: after a warm-up iteration, rebuilding the same graph on a
//! reset `Graph` reuses its tensor buffers. Measured with a counting global allocator.

use optim_autodiff::objectives::{MlpClassifier, Objective};
use optim_autodiff::Graph;
use optim_core::{Tensor, TensorMap};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
/// Allocations of at least `BIG` bytes: tensor-sized in the problem below.
static BIG_ALLOCS: AtomicUsize = AtomicUsize::new(0);
const BIG: usize = 1024;

thread_local! {
    // Only the measuring thread counts: the test harness's own threads allocate too.
    static MEASURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count(bytes: usize) {
    if MEASURING.with(|m| m.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(bytes, Ordering::Relaxed);
        if bytes >= BIG {
            BIG_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count(n);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, bytes, allocations of at least `BIG` bytes) made by `f`.
fn measure(f: impl FnOnce()) -> (usize, usize, usize) {
    ALLOCS.store(0, Ordering::Relaxed);
    BYTES.store(0, Ordering::Relaxed);
    BIG_ALLOCS.store(0, Ordering::Relaxed);
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
        BIG_ALLOCS.load(Ordering::Relaxed),
    )
}

/// A 2-layer MLP on a batch of 32: every tensor on its tape is at least 1 KiB except
/// the biases, the loss and the per-op metadata.
fn problem() -> (MlpClassifier<f32>, TensorMap<f32>) {
    let (n, d, h, c) = (32, 16, 24, 10);
    let x: Vec<f32> = (0..n * d)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let labels: Vec<usize> = (0..n).map(|i| i % c).collect();
    let mlp = MlpClassifier::new(Tensor::new([n, d], x).unwrap(), &labels, &[d, h, c]).unwrap();
    let params = mlp.init();
    (mlp, params)
}

#[test]
fn steady_state_allocations() {
    let (mlp, params) = problem();
    let mut g = Graph::new();
    let step = |g: &mut Graph<f32>, recycle: bool| {
        let (v, grads) = mlp.value_and_grad_in(g, &params).unwrap();
        assert!(v.is_finite());
        if recycle {
            g.recycle(grads);
        } else {
            std::hint::black_box(grads);
        }
    };
    // Warm-up: the first iteration fills the pool.
    step(&mut g, true);
    let values = g.len();

    // Gradients kept by the caller take their buffers with them, so that later graphs
    // must allocate tensor storage again (once the pool's spares run out).
    let (_, _, big_kept) = measure(|| (0..3).for_each(|_| step(&mut g, false)));
    step(&mut g, true);
    step(&mut g, true);
    // Handed back with `recycle`, no tensor storage is allocated at all.
    let (allocs, bytes, big) = measure(|| step(&mut g, true));
    eprintln!("steady state, {values} recorded values: {allocs} allocations, {bytes} bytes");
    eprintln!("  {big} of >= {BIG} bytes; {big_kept} in 3 steps without recycle");
    assert!(big_kept > 0, "kept gradients must cost new buffers");
    assert_eq!(big, 0, "tensor storage allocated in steady state");
    // What remains is bookkeeping: each value's shape, the parameters' paths (in the
    // graph, the variable map and the gradient tree), the backward pass's slot table
    // and the gradient tree's nodes. None scales with the tensors' sizes.
    assert!(
        allocs <= 5 * values,
        "{allocs} allocations for {values} values"
    );
    assert!(bytes < 8192, "{bytes} bytes of bookkeeping");
}
