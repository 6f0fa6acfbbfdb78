//! After `init`, a step allocates nothing: state and update run in the memory `init`
//! made. Measured with a counting global allocator for every name the registry knows
//! (optimizers and primitives, generated and hand-written, so a new one is covered
//! without being listed here), for the run-time combinators, and for the storage dtypes
//! and configurations that take other code paths.

mod common;

use optim::registry::{self, Visitor};
use optim::{Dtype, Hyperparams, Tensor, TensorMap, Transformation, TreeExt, Value};
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
    let extra = common::extra::<f32>(1.0);
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..10 {
        opt.step_with(&mut p, &g, &mut s, &extra).expect("step");
    }
    let step = ALLOCS.load(Ordering::Relaxed) - before;
    let mut u = g.clone();
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..10 {
        opt.update_with(&mut u, &mut s, Some(&p), &extra)
            .expect("update");
    }
    let update = ALLOCS.load(Ordering::Relaxed) - before;
    (step, update)
}

/// Measures a registry entry.
struct Measure;
impl Visitor<f32> for Measure {
    type Out = (usize, usize);
    fn visit<T: Transformation<f32> + Hyperparams>(self, t: T) -> (usize, usize) {
        allocations(&t)
    }
}

/// Builds `name` from the registry with every required argument set (to a small positive
/// number), and measures it.
fn measure_by_name(name: &str) -> (usize, usize) {
    let mut args: Vec<(String, Value)> = Vec::new();
    loop {
        match registry::by_name::<f32, _>(name, args.clone(), Measure) {
            Ok(counts) => return counts,
            Err(e) if args.len() < 8 && common::fill_missing(&mut args, &e, 0.5) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn steps_and_updates_allocate_nothing() {
    MEASURING.with(|m| m.set(true));
    let mut cases: Vec<(String, (usize, usize))> = registry::names()
        .into_iter()
        .map(|n| (n.to_string(), measure_by_name(n)))
        .collect();
    assert!(
        cases.len() >= 40,
        "the registry lists {} names",
        cases.len()
    );
    let ada = || {
        optim::adafactor()
            .learning_rate(1e-2)
            .min_dim_size_to_factor(2)
    };
    // Other storage dtypes and configurations take other code paths.
    let mut other = |name: &str, counts: (usize, usize)| cases.push((name.into(), counts));
    other(
        "adam bf16 mu",
        allocations(&optim::adam(1e-3).mu_dtype(Dtype::BF16)),
    );
    other("sgd momentum", allocations(&optim::sgd(1e-3).momentum(0.9)));
    other(
        "rmsprop centered with momentum",
        allocations(&optim::rmsprop(1e-3).centered(true).momentum(0.9)),
    );
    other(
        "lars masked trust ratio",
        allocations(&optim::lars(1e-3).weight_decay(0.1).trust_ratio_mask([
            ("b", true),
            ("c", false),
            ("s", true),
            ("w", false),
        ])),
    );
    other("adafactor", allocations(&ada()));
    other(
        "adafactor momentum bf16 + weight decay",
        allocations(
            &ada()
                .momentum(0.9)
                .dtype_momentum(Dtype::BF16)
                .weight_decay_rate(1e-3),
        ),
    );
    other("adafactor unfactored", allocations(&ada().factored(false)));
    other(
        "adafactor unclipped",
        allocations(&ada().clipping_threshold(None)),
    );
    // The run-time combinators.
    other("identity", allocations(&optim::identity()));
    other(
        "chain",
        allocations(&optim::chain!(
            optim::clip_by_global_norm(1.0),
            optim::scale_by_adam(),
            optim::scale_by_learning_rate(1e-3)
        )),
    );
    other(
        "masked",
        allocations(&optim::masked(
            optim::scale_by_adam(),
            [("b", true), ("c", false), ("s", true), ("w", false)],
        )),
    );
    other(
        "masked in masked",
        allocations(&optim::masked(
            optim::masked(optim::trace(0.9), optim::Mask::by_path(|p| p != "s")),
            [("b", true), ("c", true), ("s", true), ("w", false)],
        )),
    );
    other(
        "chain of masked",
        allocations(&optim::chain!(
            optim::masked(
                optim::add_decayed_weights().weight_decay(0.1),
                [("b", false), ("c", true), ("s", false), ("w", true)]
            ),
            optim::adam(1e-3)
        )),
    );
    // optax's wrappers (issue 10).
    let labels = || {
        optim::Labels::by_leaf(|_, shape| {
            if shape.len() == 2 {
                "m".into()
            } else {
                "o".into()
            }
        })
    };
    other(
        "partition",
        allocations(&optim::partition(
            [
                ("m", optim::expr::Boxed::new(optim::adamw(1e-3))),
                ("o", optim::expr::Boxed::new(optim::sgd(1e-3))),
            ],
            labels(),
        )),
    );
    other(
        "named_chain",
        allocations(&optim::named_chain([
            ("a", optim::scale_by_adam()),
            ("b", optim::scale_by_adam()),
        ])),
    );
    other(
        "freeze",
        allocations(&optim::freeze([
            ("b", true),
            ("c", false),
            ("s", true),
            ("w", false),
        ])),
    );
    other("flatten", allocations(&optim::flatten(optim::lamb(1e-3))));
    other(
        "inject_hyperparams",
        allocations(
            &optim::inject_hyperparams(optim::adam(1e-3))
                .hyperparam("b1", optim::schedule::linear_schedule(0.8, 0.95, 10, 0)),
        ),
    );
    other(
        "MultiSteps k=3",
        allocations(&optim::multi_steps(optim::adam(1e-3), 3.0)),
    );
    other(
        "MultiSteps skip_not_finite, summed, float64 accumulator",
        allocations(
            &optim::multi_steps(optim::sgd(1e-3), 2.0)
                .use_grad_mean(false)
                .should_skip_update_fn(optim::SkipUpdate::NotFinite)
                .accumulator_dtype(Dtype::F64),
        ),
    );
    other(
        "apply_if_finite",
        allocations(&optim::apply_if_finite(optim::adam(1e-3), 2)),
    );
    other(
        "conditionally_mask",
        allocations(&optim::conditionally_mask(optim::adam(1e-3), |step| {
            step % 2 == 0
        })),
    );
    other(
        "lookahead",
        allocations(&optim::lookahead(optim::adam(1e-3), 3, 0.5)),
    );
    let expr = serde_json::json!({"fn": "chain", "args": {"transforms": [
        "zero_nans",
        {"fn": "MultiSteps", "args": {"opt": {"fn": "adam", "args": {"learning_rate": 0.01}}, "every_k_schedule": 2}},
    ]}});
    other(
        "an expression",
        allocations(&optim::expr::build::<f32>(&expr).expect("builds")),
    );
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
