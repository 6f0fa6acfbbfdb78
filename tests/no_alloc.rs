//! After `init`, a step allocates nothing: state and update run in the memory `init`
//! made. Measured with a counting global allocator, per optimizer and storage dtype,
//! for the generated optimizers and the hand-written ones (adafactor and its
//! primitives, sm3), whose scratch lives in the state.

use optim::{Dtype, Extra, Tensor, TensorMap, Transformation, TreeExt};
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

/// A vector, a matrix, a 4-d leaf (factored by adafactor over non-adjacent axes), a
/// scalar.
fn tree() -> TensorMap<f32> {
    let mut m = TensorMap::new();
    m.insert("b".into(), Tensor::full([64], 0.5));
    m.insert("w".into(), Tensor::full([32, 64], -0.25));
    m.insert("c".into(), Tensor::full([8, 3, 16, 2], 0.125));
    m.insert("s".into(), Tensor::full(Vec::<usize>::new(), 2.0));
    m
}

/// Allocations during 10 fused steps and 10 updates after init. Every step passes the
/// objective value, which only `polyak_sgd` reads.
fn allocations<T: Transformation<f32>>(opt: &T) -> (usize, usize) {
    let mut p = tree();
    let g = tree();
    let mut s = opt.init(&p).expect("init");
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..10 {
        opt.step_with(&mut p, &g, &mut s, &Extra::value(1.0))
            .expect("step");
    }
    let step = ALLOCS.load(Ordering::Relaxed) - before;
    let mut u = g.clone();
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..10 {
        opt.update_with(&mut u, &mut s, Some(&p), &Extra::value(1.0))
            .expect("update");
    }
    let update = ALLOCS.load(Ordering::Relaxed) - before;
    (step, update)
}

#[test]
fn generated_steps_and_updates_allocate_nothing() {
    MEASURING.with(|m| m.set(true));
    let ada = || {
        optim::adafactor()
            .learning_rate(1e-2)
            .min_dim_size_to_factor(2)
    };
    let cases: Vec<(&str, (usize, usize))> = vec![
        ("adam", allocations(&optim::adam(1e-3))),
        (
            "adam bf16 mu",
            allocations(&optim::adam(1e-3).mu_dtype(Dtype::BF16)),
        ),
        ("adamw", allocations(&optim::adamw(1e-3))),
        ("lion", allocations(&optim::lion(1e-3))),
        ("sgd", allocations(&optim::sgd(1e-3))),
        ("sgd momentum", allocations(&optim::sgd(1e-3).momentum(0.9))),
        (
            "rmsprop centered",
            allocations(&optim::rmsprop(1e-3).centered(true).momentum(0.9)),
        ),
        ("adagrad", allocations(&optim::adagrad(1e-3))),
        ("noisy_sgd", allocations(&optim::noisy_sgd(1e-3))),
        // Per-leaf and whole-tree reductions run in the same memory.
        ("lamb", allocations(&optim::lamb(1e-3).weight_decay(0.1))),
        ("lars", allocations(&optim::lars(1e-3).weight_decay(0.1))),
        ("fromage", allocations(&optim::fromage(1e-3))),
        ("novograd", allocations(&optim::novograd(1e-3))),
        ("polyak_sgd", allocations(&optim::polyak_sgd())),
        (
            "clip_by_global_norm",
            allocations(&optim::clip_by_global_norm(0.5)),
        ),
        // Hand-written.
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
            allocations(&optim::scale_by_factored_rms()),
        ),
        (
            "clip_by_block_rms",
            allocations(&optim::clip_by_block_rms(1.0)),
        ),
        (
            "scale_by_param_block_rms",
            allocations(&optim::scale_by_param_block_rms()),
        ),
        (
            "scale_by_param_block_norm",
            allocations(&optim::scale_by_param_block_norm()),
        ),
        ("sm3", allocations(&optim::sm3(1e-2))),
        ("scale_by_sm3", allocations(&optim::scale_by_sm3())),
    ];
    for (name, (step, update)) in &cases {
        assert_eq!(
            (*step, *update),
            (0, 0),
            "{name}: allocations in (step, update)"
        );
    }
    // The counter works: a clone of the tree allocates.
    let before = ALLOCS.load(Ordering::Relaxed);
    let t = tree();
    assert!(ALLOCS.load(Ordering::Relaxed) > before);
    assert_eq!(t.paths().len(), 4);
}
