//! After the first step, `Optim::step` allocates nothing of its own: only candle's
//! `inplace_op2` allocates, one small `Vec` per var for its overlap check of the
//! destination's layout (`Layout::range`, candle-core 0.11.1). Counted with a global
//! allocator; the gradients come from candle's backward pass, outside the measured step.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, Optimizer, VarBuilder, VarMap};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MEASURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if MEASURING.with(|m| m.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if MEASURING.with(|m| m.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn after_the_first_step_only_candles_layout_check_allocates() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let lin = candle_nn::linear(8, 4, vb.pp("lin")).unwrap();
    let x = Tensor::ones((2, 8), DType::F32, &Device::Cpu).unwrap();
    let grads = lin
        .forward(&x)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for opt in [
        optim_core::adamw(1e-3),
        optim_core::adamw(1e-3).mu_dtype(optim_core::Dtype::BF16),
    ] {
        let mut opt = optim_candle::Optim::from_varmap(&varmap, opt).unwrap();
        opt.step(&grads).unwrap();
        MEASURING.with(|m| m.set(true));
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..10 {
            opt.step(&grads).unwrap();
        }
        let n = ALLOCS.load(Ordering::Relaxed) - before;
        MEASURING.with(|m| m.set(false));
        // Two vars (weight and bias), each one allocation per step inside candle.
        assert_eq!(n, 10 * 2, "10 steps allocated {n} times");
    }
}
