//! Large elementwise ops run on rayon's current pool in chunks, as optim's steps do; the
//! values and gradients are bit-identical on 1, 2 and 3 threads.

use optim_autodiff::Graph;
use optim_core::exec::CHUNK;
use optim_core::{Tensor, TensorMap};

/// The bits of `sum(tanh(a * b + sqrt(c)) / b - relu(a))` and of its gradients, on a
/// pool of `threads` threads.
fn run(threads: usize) -> (u64, Vec<u64>) {
    let n = 2 * CHUNK + 11;
    let leaf = |k: f64| {
        let d: Vec<f64> = (0..n)
            .map(|i| ((i as f64) * 0.013 + k).sin() + 1.5)
            .collect();
        Tensor::new([n], d).unwrap()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut g = Graph::<f64>::new();
        let a = g.param("a", &leaf(0.0)).unwrap();
        let b = g.param("b", &leaf(1.0)).unwrap();
        let c = g.param("c", &leaf(2.0)).unwrap();
        let ab = g.mul(a, b).unwrap();
        let sc = g.sqrt(c).unwrap();
        let s = g.add(ab, sc).unwrap();
        let t = g.tanh(s).unwrap();
        let q = g.div(t, b).unwrap();
        let r = g.relu(a).unwrap();
        let d = g.sub(q, r).unwrap();
        let loss = g.sum(d).unwrap();
        let value = g.value(loss).unwrap().data()[0].to_bits();
        let grads: TensorMap<f64> = g.backward(loss).unwrap();
        let bits = grads
            .values()
            .flat_map(|t| t.data().iter().map(|x| x.to_bits()))
            .collect();
        (value, bits)
    })
}

#[test]
fn values_and_gradients_do_not_depend_on_the_thread_count() {
    let one = run(1);
    assert_eq!(one.1.len(), 3 * (2 * CHUNK + 11));
    for threads in [2, 3] {
        assert!(run(threads) == one, "{threads} threads differ");
    }
}
