//! The named objectives: gradients against finite differences, and zero gradients at the
//! known minima.

mod common;

use common::Rng;
use optim_autodiff::objectives::{
    Activation, Beale, Himmelblau, LeastSquares, LogisticRegression, MlpClassifier, Objective,
    Rosenbrock, SumOfSquares, WeightedQuadratic,
};
use optim_autodiff::Graph;
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
        Box::new(LogisticRegression::new(x.clone(), &labels, 0.1).unwrap()),
        Box::new(MlpClassifier::new(x.clone(), &labels, &[3, 2]).unwrap()),
        Box::new(MlpClassifier::new(x.clone(), &labels, &[3, 5, 4, 3]).unwrap()),
        Box::new(
            MlpClassifier::new(x, &labels, &[3, 6, 2])
                .unwrap()
                .with_activation(Activation::Tanh),
        ),
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
            assert!(
                ["logistic_regression", "mlp_classifier"].contains(&obj.name()),
                "{} has no minimum",
                obj.name()
            );
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

fn mlp_data(seed: u64, n: usize, d: usize, classes: usize) -> (Tensor<f64>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let x = rng.tensor(&[n, d], -1.0, 1.0);
    let labels = (0..n).map(|_| rng.below(classes)).collect();
    (x, labels)
}

#[test]
fn mlp_init_is_seeded_and_scaled() {
    let (x, labels) = mlp_data(1, 8, 50, 3);
    let mlp = MlpClassifier::new(x, &labels, &[50, 400, 3]).unwrap();
    let a: TensorMap<f64> = mlp.init();
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        ["layer0.b", "layer0.w", "layer1.b", "layer1.w"]
    );
    assert_eq!(a["layer0.w"].shape(), [50, 400]);
    assert_eq!(a["layer1.b"].shape(), [3]);
    assert!(a["layer0.b"].data().iter().all(|&v| v == 0.0));
    assert_eq!(a, mlp.init());
    assert_ne!(a, mlp.clone().with_seed(1).init());
    // He scaling: the 20,000 first-layer weights have variance close to 2 / 50.
    let w = a["layer0.w"].data();
    let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!((var / (2.0 / 50.0) - 1.0).abs() < 0.05, "variance {var}");
}

#[test]
fn mlp_value_is_the_cross_entropy_of_a_hand_computed_forward_pass() {
    // One hidden ReLU layer, evaluated by hand in plain f64 loops.
    let (x, labels) = mlp_data(2, 6, 3, 4);
    let mlp = MlpClassifier::new(x.clone(), &labels, &[3, 5, 4]).unwrap();
    let p: TensorMap<f64> = random_points(&mlp, 5, -1.0, 1.0).remove(0);
    let (w0, b0, w1, b1) = (
        p["layer0.w"].data(),
        p["layer0.b"].data(),
        p["layer1.w"].data(),
        p["layer1.b"].data(),
    );
    let mut total = 0.0;
    for (r, &label) in labels.iter().enumerate() {
        let row = &x.data()[r * 3..(r + 1) * 3];
        let h: Vec<f64> = (0..5)
            .map(|j| (b0[j] + (0..3).map(|i| row[i] * w0[i * 5 + j]).sum::<f64>()).max(0.0))
            .collect();
        let z: Vec<f64> = (0..4)
            .map(|k| b1[k] + (0..5).map(|j| h[j] * w1[j * 4 + k]).sum::<f64>())
            .collect();
        let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
        total += lse - z[label];
    }
    let want = total / labels.len() as f64;
    let got = mlp.value(&p).unwrap();
    assert!(
        (got - want).abs() < 1e-12 * want.abs().max(1.0),
        "{got} vs {want}"
    );
}

#[test]
fn mlp_predict_and_accuracy() {
    // A single linear layer with identity weights predicts the largest feature.
    let x = Tensor::new([4, 2], vec![1.0, 0.0, 0.0, 1.0, 2.0, 3.0, -1.0, -2.0]).unwrap();
    let labels = [0, 1, 1, 1];
    let mlp = MlpClassifier::new(x.clone(), &labels, &[2, 2]).unwrap();
    let mut p: TensorMap<f64> = mlp.init();
    p.insert(
        "layer0.w".into(),
        Tensor::new([2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap(),
    );
    assert_eq!(mlp.predict(&p, &x).unwrap(), [0, 1, 1, 0]);
    assert_eq!(mlp.accuracy(&p, &x, &labels).unwrap(), 0.75);
    assert!(mlp.accuracy(&p, &x, &labels[..3]).is_err());
}

#[test]
fn mlp_graph_reuse_gives_the_same_numbers() {
    let (x, labels) = mlp_data(3, 10, 4, 3);
    let mlp = MlpClassifier::new(x, &labels, &[4, 8, 3]).unwrap();
    let mut g = Graph::new();
    for p in random_points(&mlp, 9, -1.0, 1.0) {
        let fresh = mlp.value_and_grad(&p).unwrap();
        let reused = mlp.value_and_grad_in(&mut g, &p).unwrap();
        assert_eq!(fresh, reused);
    }
}

#[test]
fn mlp_bad_inputs_name_the_field() {
    let (x, labels) = mlp_data(4, 5, 3, 2);
    let err = |r: optim_autodiff::Result<MlpClassifier<f64>>| r.unwrap_err().to_string();
    let e = err(MlpClassifier::new(x.clone(), &labels, &[4, 2]));
    assert!(e.contains("sizes[0]") && e.contains("[5, 3]"), "{e}");
    let e = err(MlpClassifier::new(x.clone(), &labels, &[3]));
    assert!(e.contains("sizes"), "{e}");
    let e = err(MlpClassifier::new(x.clone(), &labels, &[3, 0, 2]));
    assert!(e.contains("sizes[1]"), "{e}");
    let e = err(MlpClassifier::new(x.clone(), &[0, 1, 2, 0, 1], &[3, 2]));
    assert!(e.contains("labels[2]"), "{e}");
    let e = err(MlpClassifier::new(x.clone(), &labels[..4], &[3, 2]));
    assert!(e.contains("[5, 3]") && e.contains("[4]"), "{e}");

    let mlp = MlpClassifier::new(x.clone(), &labels, &[3, 4, 2]).unwrap();
    let mut p: TensorMap<f64> = mlp.init();
    p.insert("layer1.w".into(), Tensor::zeros([2, 4]));
    let e = mlp.value(&p).unwrap_err().to_string();
    assert!(
        e.contains("layer1.w") && e.contains("[2, 4]") && e.contains("[4, 2]"),
        "{e}"
    );
    p.remove("layer1.w");
    let e = mlp.value(&p).unwrap_err().to_string();
    assert!(e.contains("layer1.w"), "{e}");
    let p: TensorMap<f64> = mlp.init();
    let wide = Tensor::zeros([2, 4]);
    assert!(mlp.predict(&p, &wide).is_err());
    let mut g = Graph::new();
    let vars = g.params(&p).unwrap();
    let e = mlp
        .loss_on(&mut g, &vars, &wide, &[0, 1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("sizes[0]"), "{e}");
}
