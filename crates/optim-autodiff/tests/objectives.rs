//! The named objectives: gradients against finite differences, and zero gradients at the
//! known minima.

mod common;

use common::Rng;
use optim_autodiff::objectives::{
    Beale, Himmelblau, LeastSquares, LogisticRegression, Objective, Rosenbrock, SumOfSquares,
    WeightedQuadratic,
};
use optim_core::{Tensor, TensorMap};

fn fd_check(obj: &dyn Objective<f64>, at: &TensorMap<f64>) {
    let (_, grads) = obj.value_and_grad(at).unwrap();
    assert_eq!(
        grads.keys().collect::<Vec<_>>(),
        at.keys().collect::<Vec<_>>()
    );
    let eps = 1e-6;
    for (k, t) in at {
        for j in 0..t.len() {
            let mut p = at.clone();
            p.get_mut(k).unwrap().data_mut()[j] += eps;
            let up = obj.value(&p).unwrap();
            p.get_mut(k).unwrap().data_mut()[j] -= 2.0 * eps;
            let down = obj.value(&p).unwrap();
            let fd = (up - down) / (2.0 * eps);
            let ad = grads[k].data()[j];
            assert!(
                (ad - fd).abs() <= 1e-5 * (1.0 + fd.abs()),
                "{} {k}[{j}]: autodiff {ad} vs finite difference {fd}",
                obj.name()
            );
        }
    }
}

fn random_points(obj: &dyn Objective<f64>, seed: u64, lo: f64, hi: f64) -> Vec<TensorMap<f64>> {
    let mut rng = Rng::new(seed);
    (0..4)
        .map(|_| {
            obj.init()
                .into_iter()
                .map(|(k, t)| (k, rng.tensor(t.shape(), lo, hi)))
                .collect()
        })
        .collect()
}

fn grad_norm(g: &TensorMap<f64>) -> f64 {
    g.values()
        .flat_map(|t| t.data().iter())
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt()
}

fn data(seed: u64, n: usize, d: usize) -> (Tensor<f64>, Vec<f64>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let x = rng.tensor(&[n, d], -1.0, 1.0);
    let y: Vec<f64> = (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect();
    let labels: Vec<usize> = (0..n).map(|_| rng.below(2)).collect();
    (x, y, labels)
}

fn all() -> Vec<Box<dyn Objective<f64>>> {
    let (x, y, labels) = data(7, 12, 3);
    vec![
        Box::new(SumOfSquares { dim: 3 }),
        Box::new(WeightedQuadratic::new(vec![1.0, 2.0, 0.5], vec![0.5, -1.0, 2.0]).unwrap()),
        Box::new(Rosenbrock { dim: 2 }),
        Box::new(Rosenbrock { dim: 5 }),
        Box::new(Beale),
        Box::new(Himmelblau),
        Box::new(LeastSquares::new(x.clone(), y).unwrap()),
        Box::new(LogisticRegression::new(x.clone(), &labels, 0.0).unwrap()),
        Box::new(LogisticRegression::new(x, &labels, 0.1).unwrap()),
    ]
}

#[test]
fn gradients_match_finite_differences() {
    for (i, obj) in all().iter().enumerate() {
        fd_check(obj.as_ref(), &obj.init());
        for p in random_points(obj.as_ref(), i as u64, -1.5, 1.5) {
            fd_check(obj.as_ref(), &p);
        }
    }
}

#[test]
fn minima_have_zero_gradient() {
    for obj in all() {
        let Some(m) = obj.minimum() else {
            assert_eq!(obj.name(), "logistic_regression");
            continue;
        };
        let (v, g) = obj.value_and_grad(&m).unwrap();
        let tol = if obj.name() == "least_squares" {
            1e-10
        } else {
            0.0
        };
        assert!(
            grad_norm(&g) <= tol,
            "{}: gradient {g:?} at the minimum",
            obj.name()
        );
        if obj.name() != "least_squares" {
            assert_eq!(v, 0.0, "{}", obj.name());
        }
    }
    for m in Himmelblau::MINIMA {
        let mut p = TensorMap::new();
        p.insert("x".into(), Tensor::vector(m.to_vec()));
        let (v, g) = Himmelblau.value_and_grad(&p).unwrap();
        assert!(v < 1e-9 && grad_norm(&g) < 1e-4, "{m:?}: {v} {g:?}");
    }
}

#[test]
fn least_squares_minimum_beats_nearby_points() {
    let (x, y, _) = data(3, 20, 4);
    let obj = LeastSquares::new(x, y).unwrap();
    let m = obj.minimum().unwrap();
    let best = obj.value(&m).unwrap();
    for p in random_points(&obj, 11, -0.01, 0.01) {
        let mut q = m.clone();
        let w = q.get_mut("w").unwrap().data_mut();
        for (a, b) in w.iter_mut().zip(p["w"].data()) {
            *a += b;
        }
        assert!(obj.value(&q).unwrap() >= best);
    }
}

#[test]
fn objectives_work_in_f32() {
    let obj = Rosenbrock { dim: 3 };
    let (v, g) = Objective::<f32>::value_and_grad(&obj, &Objective::<f32>::init(&obj)).unwrap();
    let (v64, g64) = Objective::<f64>::value_and_grad(&obj, &Objective::<f64>::init(&obj)).unwrap();
    assert!((v as f64 - v64).abs() < 1e-3 * v64);
    for (a, b) in g["x"].data().iter().zip(g64["x"].data()) {
        assert!((*a as f64 - b).abs() < 1e-3 * (1.0 + b.abs()));
    }
}

#[test]
fn bad_inputs_are_errors() {
    assert!(WeightedQuadratic::new(vec![1.0], vec![1.0, 2.0]).is_err());
    let x = Tensor::<f64>::zeros([3, 2]);
    assert!(LeastSquares::new(x.clone(), vec![1.0; 2]).is_err());
    assert!(LogisticRegression::new(x, &[0, 1, 2], 0.0).is_err());
    let wrong: TensorMap<f64> = [("x".to_string(), Tensor::zeros([3]))].into();
    let err = Objective::<f64>::value(&Beale, &wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[3]") && err.contains("[2]"), "{err}");
    let missing: TensorMap<f64> = [("y".to_string(), Tensor::zeros([2]))].into();
    assert!(Objective::<f64>::value(&Beale, &missing).is_err());
}
