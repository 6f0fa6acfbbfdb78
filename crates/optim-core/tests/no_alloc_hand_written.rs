//! The hand-written optimizers (adafactor and its primitives, sm3) allocate nothing per
//! step or update after `init`: their scratch lives in the state. Measured with a
//! counting global allocator, as `tests/no_alloc.rs` of the facade does for the
//! generated ones.

use optim_core::{Tensor, TensorMap, Transformation};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only the measuring thread counts: the test harness's own threads allocate too.
    static MEASURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if MEASURING.with(|m| m.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A vector, a factored matrix, a 3-d leaf factored over non-adjacent axes, a scalar.
fn tree() -> TensorMap<f32> {
    let mut m = TensorMap::new();
    m.insert("b".into(), Tensor::full([64], 0.5));
    m.insert("w".into(), Tensor::full([32, 64], -0.25));
    m.insert("c".into(), Tensor::full([8, 3, 16, 2], 0.125));
    m.insert("s".into(), Tensor::full(Vec::<usize>::new(), 2.0));
    m
}

/// Allocations during 10 fused steps and 10 updates after init.
fn allocations<T: Transformation<f32>>(opt: &T) -> (usize, usize) {
    let mut p = tree();
    let g = tree();
    let mut s = opt.init(&p).expect("init");
    MEASURING.with(|m| m.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..10 {
        opt.step(&mut p, &g, &mut s).expect("step");
    }
    let step = ALLOCS.load(Ordering::Relaxed) - before;
    MEASURING.with(|m| m.set(false));
    let mut u = g.clone();
    MEASURING.with(|m| m.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..10 {
        opt.update(&mut u, &mut s, Some(&p)).expect("update");
    }
    let update = ALLOCS.load(Ordering::Relaxed) - before;
    MEASURING.with(|m| m.set(false));
    (step, update)
}

#[test]
fn hand_written_steps_and_updates_allocate_nothing() {
    use optim_core::*;
    let ada = || adafactor().learning_rate(1e-2).min_dim_size_to_factor(2);
    let cases: Vec<(&str, (usize, usize))> = vec![
        ("adafactor", allocations(&ada())),
        (
            "adafactor momentum bf16 + weight decay",
            allocations(
                &ada()
                    .momentum(0.9)
                    .dtype_momentum(Dtype::BF16)
                    .weight_decay_rate(1e-3),
            ),
        ),
        ("adafactor unfactored", allocations(&ada().factored(false))),
        (
            "adafactor unclipped",
            allocations(&ada().clipping_threshold(None)),
        ),
        (
            "scale_by_factored_rms",
            allocations(&scale_by_factored_rms()),
        ),
        ("clip_by_block_rms", allocations(&clip_by_block_rms(1.0))),
        (
            "scale_by_param_block_rms",
            allocations(&scale_by_param_block_rms()),
        ),
        (
            "scale_by_param_block_norm",
            allocations(&scale_by_param_block_norm()),
        ),
        ("sm3", allocations(&sm3(1e-2))),
        ("scale_by_sm3", allocations(&scale_by_sm3())),
    ];
    // The counter must see allocations at all, or the test proves nothing.
    MEASURING.with(|m| m.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    let v = std::hint::black_box(vec![1u8; 16]);
    assert!(ALLOCS.load(Ordering::Relaxed) > before);
    drop(v);
    MEASURING.with(|m| m.set(false));
    let bad: Vec<_> = cases.iter().filter(|(_, c)| *c != (0, 0)).collect();
    assert!(bad.is_empty(), "allocating (step, update) counts: {bad:?}");
}
