//! Errors, parameter bookkeeping, f32 support and buffer reuse.

use optim_autodiff::{value_and_grad, Error, Graph};
use optim_core::{Tensor, TensorMap, Transformation};

fn t(shape: &[usize], data: &[f64]) -> Tensor<f64> {
    Tensor::new(shape.to_vec(), data.to_vec()).unwrap()
}

#[test]
fn shape_errors_name_both_shapes() {
    let mut g = Graph::<f64>::new();
    let a = g.constant(&Tensor::zeros([2, 3]));
    let b = g.constant(&Tensor::zeros([4, 3]));
    let err = g.add(a, b).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("[2, 3]") && msg.contains("[4, 3]"), "{msg}");
    let err = g.matmul(a, b).unwrap_err().to_string();
    assert!(err.contains("[2, 3]") && err.contains("[4, 3]"), "{err}");
    let err = g.reshape(a, &[5]).unwrap_err().to_string();
    assert!(err.contains("[2, 3]") && err.contains("[5]"), "{err}");
    assert!(matches!(
        g.sum_axis(a, 2, false),
        Err(Error::Axis { axis: 2, .. })
    ));
    assert!(g.gather(a, 1, &[0, 3]).is_err());
    assert!(g.slice(a, 0, 1, 3).is_err());
    let v = g.constant(&Tensor::zeros([3]));
    assert!(g.transpose(v).is_err());
    assert!(g.cross_entropy(a, &[0]).is_err());
    assert!(g.cross_entropy(a, &[0, 3]).is_err());
    let empty = g.constant(&Tensor::zeros([0]));
    assert!(g.max(empty).is_err());
    assert!(g.mean(empty).is_err());
}

#[test]
fn foreign_and_stale_vars_are_errors() {
    let mut g1 = Graph::<f64>::new();
    let mut g2 = Graph::<f64>::new();
    let x = g1.scalar(1.0);
    assert!(matches!(g2.exp(x), Err(Error::ForeignVar { .. })));
    g1.reset();
    assert!(matches!(g1.exp(x), Err(Error::ForeignVar { .. })));
}

#[test]
fn duplicate_params_and_non_scalar_losses_are_errors() {
    let mut g = Graph::<f64>::new();
    let x = g.param("x", &Tensor::zeros([2])).unwrap();
    assert_eq!(
        g.param("x", &Tensor::zeros([2])).unwrap_err(),
        Error::DuplicateParam("x".into())
    );
    assert_eq!(g.backward(x).unwrap_err(), Error::NotScalar(vec![2]));
}

#[test]
fn unreached_params_are_reported_not_zero_filled() {
    let mut g = Graph::<f64>::new();
    let a = g.param("a", &t(&[2], &[1.0, 2.0])).unwrap();
    let _b = g.param("b", &t(&[2], &[3.0, 4.0])).unwrap();
    let c = g.param("c", &t(&[], &[5.0])).unwrap();
    let ac = g.mul(a, c).unwrap();
    let loss = g.sum(ac).unwrap();
    assert_eq!(
        g.backward(loss).unwrap_err(),
        Error::NoGradient(vec!["b".into()])
    );
    let partial = g.backward_partial(loss).unwrap();
    assert_eq!(partial.unreached, vec!["b".to_string()]);
    assert_eq!(partial.grads.keys().collect::<Vec<_>>(), ["a", "c"]);
    assert_eq!(partial.grads["a"].data(), &[5.0, 5.0]);
    assert_eq!(partial.grads["c"].data(), &[3.0]);
    assert_eq!(partial.grads["c"].shape(), &[] as &[usize]);
}

#[test]
fn relu_dead_params_still_count_as_reached() {
    let mut g = Graph::<f64>::new();
    let a = g.param("a", &t(&[1], &[-1.0])).unwrap();
    let r = g.relu(a).unwrap();
    let loss = g.sum(r).unwrap();
    assert_eq!(g.backward(loss).unwrap()["a"].data(), &[0.0]);
}

#[test]
fn f32_graphs_match_f64() {
    let a64 = t(&[2, 3], &[1.0, -2.0, 0.5, 3.0, 0.25, -1.0]);
    let b64 = t(&[3, 2], &[0.5, 1.0, -1.5, 2.0, 1.0, -0.5]);
    let a32 = Tensor::new(
        [2, 3],
        a64.data().iter().map(|&v| v as f32).collect::<Vec<_>>(),
    );
    let b32 = Tensor::new(
        [3, 2],
        b64.data().iter().map(|&v| v as f32).collect::<Vec<_>>(),
    );
    let mut g64 = Graph::<f64>::new();
    let mut g32 = Graph::<f32>::new();
    let (a, b) = (g64.param("a", &a64).unwrap(), g64.param("b", &b64).unwrap());
    let p = g64.matmul(a, b).unwrap();
    let p = g64.tanh(p).unwrap();
    let l64 = g64.sum(p).unwrap();
    let (a, b) = (
        g32.param("a", &a32.unwrap()).unwrap(),
        g32.param("b", &b32.unwrap()).unwrap(),
    );
    let p = g32.matmul(a, b).unwrap();
    let p = g32.tanh(p).unwrap();
    let l32 = g32.sum(p).unwrap();
    assert!((g64.item(l64).unwrap() - g32.item(l32).unwrap() as f64).abs() < 1e-5);
    let (d64, d32) = (g64.backward(l64).unwrap(), g32.backward(l32).unwrap());
    for k in ["a", "b"] {
        for (x, y) in d64[k].data().iter().zip(d32[k].data()) {
            assert!((x - *y as f64).abs() < 1e-5);
        }
    }
}

#[test]
fn matmul_matches_a_plain_loop() {
    let a = t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = t(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
    let mut g = Graph::<f64>::new();
    let (va, vb) = (g.constant(&a), g.constant(&b));
    let p = g.matmul(va, vb).unwrap();
    assert_eq!(g.data(p).unwrap(), &[58.0, 64.0, 139.0, 154.0]);
    assert_eq!(g.shape(p).unwrap(), &[2, 2]);
}

#[test]
fn reset_reuses_buffers_and_gives_the_same_result() {
    let mut g = Graph::<f64>::new();
    let x = t(&[3], &[1.0, 2.0, 3.0]);
    let mut results = Vec::new();
    for _ in 0..3 {
        g.reset();
        let v = g.param("x", &x).unwrap();
        let s = g.mul(v, v).unwrap();
        let l = g.sum(s).unwrap();
        results.push((g.item(l).unwrap(), g.backward(l).unwrap()));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(results[0].1["x"].data(), &[2.0, 4.0, 6.0]);
}

#[test]
fn gradients_feed_an_optimizer_directly() {
    let mut params: TensorMap<f64> = TensorMap::new();
    params.insert("x".into(), t(&[3], &[1.0, 2.0, 3.0]));
    let opt = optim_core::sgd(0.1);
    let mut state = opt.init(&params).unwrap();
    let f = |p: &TensorMap<f64>| {
        value_and_grad(p, |g, v| {
            let s = g.mul(v["x"], v["x"])?;
            g.sum(s)
        })
        .unwrap()
    };
    let (before, _) = f(&params);
    for _ in 0..10 {
        let (_, grads) = f(&params);
        opt.step(&mut params, &grads, &mut state).unwrap();
    }
    let (after, _) = f(&params);
    assert!(after < before * 0.05, "{before} -> {after}");
}
