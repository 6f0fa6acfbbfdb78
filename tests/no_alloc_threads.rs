//! A step that runs on several threads allocates nothing either: every registered name
//! is stepped on a tree large enough to be cut into tasks, inside a two-thread pool,
//! with a counting allocator that counts on every thread (the pool's workers included)
//! while the measured steps run. This binary holds one test, so no other test allocates
//! meanwhile.

mod common;

use optim::exec::CHUNK;
use optim::registry::{self, Visitor};
use optim::{Hyperparams, Tensor, TensorMap, Transformation, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static MEASURING: AtomicBool = AtomicBool::new(false);

fn count() {
    if MEASURING.load(Ordering::Relaxed) {
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

/// Two chunks of one leaf and a group of small leaves.
fn tree() -> TensorMap<f32> {
    let mut m = TensorMap::new();
    m.insert("big".into(), Tensor::full([2 * CHUNK + 3], 0.5));
    for l in 0..40 {
        m.insert(format!("small{l:02}"), Tensor::full([900], -0.25));
    }
    m
}

/// Allocations during 3 fused steps and 3 updates after init, on the current pool.
struct Measure;
impl Visitor<f32> for Measure {
    type Out = usize;
    fn visit<T: Transformation<f32> + Hyperparams>(self, opt: T) -> usize {
        let mut p = tree();
        let g = tree();
        let mut u = g.clone();
        let mut s = opt.init(&p).expect("init");
        let extra = common::extra::<f32>(1.0);
        // One step outside the window: a thread's first parallel job may set up its
        // thread-local state.
        opt.step_with(&mut p, &g, &mut s, &extra).expect("step");
        let before = ALLOCS.load(Ordering::Relaxed);
        MEASURING.store(true, Ordering::SeqCst);
        for _ in 0..3 {
            opt.step_with(&mut p, &g, &mut s, &extra).expect("step");
            opt.update_with(&mut u, &mut s, Some(&p), &extra)
                .expect("update");
        }
        MEASURING.store(false, Ordering::SeqCst);
        ALLOCS.load(Ordering::Relaxed) - before
    }
}

fn measure(name: &str) -> usize {
    let mut args: Vec<(String, Value)> = Vec::new();
    loop {
        match registry::by_name::<f32, _>(name, args.clone(), Measure) {
            Ok(n) => return n,
            Err(e) if args.len() < 8 && common::fill_missing(&mut args, &e, 0.5) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn parallel_steps_allocate_nothing() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let counts: Vec<(&str, usize)> = pool.install(|| {
        registry::names()
            .into_iter()
            .map(|n| (n, measure(n)))
            .collect()
    });
    for (name, n) in &counts {
        assert_eq!(*n, 0, "{name}: allocations in 3 parallel steps and updates");
    }
    // The counter counts on the pool's threads too.
    let before = ALLOCS.load(Ordering::Relaxed);
    MEASURING.store(true, Ordering::SeqCst);
    pool.install(|| {
        let v: Vec<u64> = (0..1000u64).collect();
        std::hint::black_box(v);
    });
    MEASURING.store(false, Ordering::SeqCst);
    assert!(ALLOCS.load(Ordering::Relaxed) > before);
}
