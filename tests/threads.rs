//! A step's result does not depend on the thread count: for every registered optimizer
//! (and primitive), params and state after two steps on 1, 2 and 3 threads are
//! bit-identical, on a tree large enough to be cut into chunks (a leaf of several
//! chunks, many small leaves grouped into tasks, a scalar and an empty leaf) and with
//! matrices that the hand-written kernels factor (adafactor) and cover (sm3) on their
//! own tasks.

mod common;

use optim::exec::CHUNK;
use optim::registry::{self, Visitor};
use optim::{Hyperparams, Tensor, TensorMap, Transformation};

fn tree(shift: f32) -> TensorMap<f32> {
    let mut m = TensorMap::new();
    let big = 2 * CHUNK + 37;
    let wave = |i: usize, k: f32| ((i as f32 * 0.37 + k).sin() + shift) * 0.5;
    m.insert(
        "big".into(),
        Tensor::new([big], (0..big).map(|i| wave(i, 1.0)).collect::<Vec<_>>()).unwrap(),
    );
    for l in 0..60 {
        let n = 600 + l;
        m.insert(
            format!("small{l:03}"),
            Tensor::new([n], (0..n).map(|i| wave(i, l as f32)).collect::<Vec<_>>()).unwrap(),
        );
    }
    // Leaves of several chunks that adafactor factors (their two largest axes are over
    // `min_dim_size_to_factor`), with the row statistic over either axis, and one whose
    // factored axes are not the last: a parallel step splits their statistics across
    // threads, a sequential one does not, with the same bits.
    for (name, shape) in [
        ("mat_wide", vec![140usize, 520]),
        ("mat_tall", vec![530, 150]),
        ("mat_r3", vec![140, 150, 4]),
    ] {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|i| wave(i, n as f32)).collect();
        m.insert(name.into(), Tensor::new(shape, data).unwrap());
    }
    m.insert("scalar".into(), Tensor::full(Vec::<usize>::new(), 0.75));
    m.insert("empty".into(), Tensor::new([0], Vec::<f32>::new()).unwrap());
    m
}

fn bits(m: &TensorMap<f32>) -> Vec<u32> {
    m.values()
        .flat_map(|t| t.data().iter().map(|x| x.to_bits()))
        .collect()
}

/// Runs two steps on a pool of `threads` threads; returns the params' bits and the
/// state's JSON (its every buffer and scalar).
#[derive(Clone, Copy)]
struct Run(usize);
impl Visitor<f32> for Run {
    type Out = (Vec<u32>, String);
    fn visit<T: Transformation<f32> + Hyperparams>(self, t: T) -> (Vec<u32>, String) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.0)
            .build()
            .expect("a thread pool");
        pool.install(|| {
            let mut p = tree(0.0);
            let g = tree(0.3);
            let mut s = t.init(&p).expect("init");
            for _ in 0..2 {
                t.step_with(&mut p, &g, &mut s, &common::extra::<f32>(1.5))
                    .expect("step");
            }
            (
                bits(&p),
                serde_json::to_string(&s).expect("state serializes"),
            )
        })
    }
}

fn run_by_name(name: &str, threads: usize) -> (Vec<u32>, String) {
    common::by_name_filled::<f32, _>(name, Vec::new(), 0.01, Run(threads))
}

#[test]
fn one_two_and_three_threads_give_the_same_bits() {
    let names = registry::names();
    assert!(names.len() >= 40);
    for name in names {
        let one = run_by_name(name, 1);
        for threads in [2, 3] {
            let other = run_by_name(name, threads);
            assert!(
                one.0 == other.0,
                "{name}: params differ on {threads} threads"
            );
            assert!(
                one.1 == other.1,
                "{name}: state differs on {threads} threads"
            );
        }
    }
}

#[test]
fn the_tree_is_cut_into_several_tasks() {
    // The test above is only a test of threading if the step runs several tasks.
    let t = tree(0.0);
    let lens: Vec<usize> = t.values().map(|x| x.data().len()).collect();
    let mut tasks = Vec::new();
    optim::exec::plan(&lens, &mut tasks);
    assert!(tasks.len() >= 4, "{} tasks", tasks.len());
    assert!(lens.iter().sum::<usize>() >= 2 * CHUNK);
    // The hand-written kernels (adafactor, sm3) run whole leaves: the tasks that start a
    // leaf (`Exec::run_leaves`). At least four of them, so their leaves run on several
    // threads; each matrix leaf spans at least two chunks, so adafactor splits its
    // factored statistics and its update across threads too (`stats_split.rs`).
    let starts = tasks
        .iter()
        .filter(|t| t.first != t.last || t.end == 0 || t.start == 0)
        .count();
    assert!(starts >= 4, "{starts} tasks run whole leaves");
    for (i, (name, x)) in t.iter().enumerate() {
        if name.starts_with("mat") {
            assert!(
                x.shape().iter().filter(|&&d| d >= 128).count() >= 2,
                "{name}"
            );
            let chunks = tasks.iter().filter(|t| t.first == i && t.last == i).count();
            assert!(chunks >= 2, "{name}: {chunks} chunks");
        }
    }
}
