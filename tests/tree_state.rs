//! Per-tree state (`#[state(tree)]`), a `tree_sum` that reads per-element state, and
//! state that starts from the params (`#[state(init = params)]`): the pieces the
//! distance-over-gradients optimizers (DoG, DoWG, Prodigy, ...) are declared with,
//! checked against the same update written as a plain loop.

use optim::{Tensor, TensorMap, Transformation};

/// A DoG-like step size: the largest distance travelled from the initial point over the
/// root of the summed squared gradient norms.
#[optim::optimizer(unscaled)]
fn distance_over_gradients(
    /// The smallest distance.
    #[default(1e-4)]
    r_eps: f64,
    /// The initial point.
    #[state(init = params)]
    x0: State,
    /// The largest distance from `x0` so far.
    #[state(tree)]
    rbar: State,
    /// The running sum of squared gradient norms.
    #[state(tree)]
    g_sum: State,
) {
    let (dist_sq, g_sq) = tree_sum(|g, p| ((p - x0) * (p - x0), g * g));
    rbar = maximum(rbar, maximum(dist_sq.sqrt(), r_eps));
    g_sum = g_sum + g_sq;
    let eta = rbar / g_sum.sqrt();
    each(|g| -eta * g)
}

fn params() -> TensorMap<f64> {
    let mut m = TensorMap::new();
    m.insert("a".into(), Tensor::new([3], vec![1.0, -2.0, 0.5]).unwrap());
    m.insert(
        "b".into(),
        Tensor::new([2, 2], vec![0.3, 0.1, -0.7, 2.0]).unwrap(),
    );
    m
}

fn grads(p: &TensorMap<f64>) -> TensorMap<f64> {
    p.iter()
        .map(|(k, t)| {
            let d: Vec<f64> = t.data().iter().map(|x| 2.0 * x - 0.4).collect();
            (k.clone(), Tensor::new(t.shape().to_vec(), d).unwrap())
        })
        .collect()
}

fn flat(m: &TensorMap<f64>) -> Vec<f64> {
    m.values().flat_map(|t| t.data().to_vec()).collect()
}

#[test]
fn tree_state_and_params_initialized_state_follow_the_loop() {
    let opt = distance_over_gradients();
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    // x0 is a copy of the params; the tree scalars start at 0.
    let x0: Vec<f64> = s.x0.iter().flat_map(|b| b.to_vec()).collect();
    assert_eq!(x0, flat(&p));
    assert_eq!((s.rbar, s.g_sum), (0.0, 0.0));

    // The same update as a plain loop over the flattened params.
    let mut q = flat(&p);
    let start = q.clone();
    let (mut rbar, mut g_sum) = (0.0f64, 0.0f64);
    for step in 0..6 {
        let gt = grads(&p);
        let g = flat(&gt);
        opt.step(&mut p, &gt, &mut s).unwrap();
        let dist_sq: f64 = q
            .iter()
            .zip(&start)
            .map(|(x, x0)| (x - x0) * (x - x0))
            .sum();
        let g_sq: f64 = g.iter().map(|g| g * g).sum();
        rbar = rbar.max(dist_sq.sqrt().max(1e-4));
        g_sum += g_sq;
        let lr = rbar / g_sum.sqrt();
        for (x, g) in q.iter_mut().zip(&g) {
            *x -= lr * g;
        }
        for (a, b) in flat(&p).iter().zip(&q) {
            assert!(
                (a - b).abs() <= 1e-14 * (1.0 + b.abs()),
                "step {step}: {a} vs {b}"
            );
        }
        assert!((s.rbar - rbar).abs() <= 1e-14 && (s.g_sum - g_sum).abs() <= 1e-12 * g_sum);
    }
    // The tree scalars are saved with the state.
    let json = serde_json::to_string(&s).unwrap();
    assert!(
        json.contains("\"rbar\"") && json.contains("\"g_sum\""),
        "{json}"
    );
}

#[test]
fn a_failed_step_leaves_the_tree_state_alone() {
    let opt = distance_over_gradients();
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    let g = grads(&p);
    opt.step(&mut p, &g, &mut s).unwrap();
    let before = (s.rbar, s.g_sum, s.count);
    let mut bad = grads(&p);
    bad.remove("b");
    assert!(opt.step(&mut p, &bad, &mut s).is_err());
    assert_eq!((s.rbar, s.g_sum, s.count), before);
}
