//! optax's wrappers and combinators through the public API: what they do beyond being
//! transparent (tests/transparency.rs at the root) and matching optax's traces
//! (optim-cli's tests/transforms.rs): bad input is an error naming the leaf or argument
//! that changes nothing, a NaN never reaches a state it should not, injected
//! hyperparameters are readable, settable and saved, and erased states round-trip.

use optim_core::expr::{self, Boxed};
use optim_core::{
    adam, adamw, apply_if_finite, freeze, inject_hyperparams, masked, multi_steps, partition, sgd,
    Error, Labels, Mask, Tensor, TensorMap, Transformation, TreeExt,
};

fn tree(x: f64) -> TensorMap<f64> {
    let mut m = TensorMap::new();
    m.insert("b".into(), Tensor::full([3], x));
    m.insert("w".into(), Tensor::full([2, 3], x));
    m
}

fn snapshot(t: &TensorMap<f64>) -> Vec<f64> {
    t.values().flat_map(|t| t.data().to_vec()).collect()
}

#[test]
fn partition_labels_leaves_by_shape_and_runs_each_group_with_its_optimizer() {
    // Weight decay on the matrices only.
    let opt = partition(
        [
            ("decay", Boxed::new(adamw(0.1).weight_decay(0.5))),
            ("plain", Boxed::new(adam(0.1))),
        ],
        Labels::by_leaf(|_, shape| {
            if shape.len() == 2 {
                "decay".into()
            } else {
                "plain".into()
            }
        }),
    );
    let mut p = tree(1.0);
    let g = tree(0.0);
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &g, &mut s).unwrap();
    // A zero gradient moves only the decayed leaf.
    assert_eq!(p["b"].data(), &[1.0; 3]);
    assert!(p["w"].data().iter().all(|&x| x < 1.0));
    assert!(s.inner("decay").is_some() && s.inner("plain").is_some());
}

#[test]
fn partition_errors_name_the_unlabeled_leaf_the_unknown_label_and_the_unknown_key() {
    let p = tree(1.0);
    let only_b = partition([("a", sgd(0.1))], [("b", "a")]);
    let e = only_b.init(&p).unwrap_err();
    assert!(
        matches!(&e, Error::MissingLeaf { path, .. } if path == "w"),
        "{e}"
    );
    let unknown_label = partition([("a", sgd(0.1))], [("b", "a"), ("w", "z")]);
    let e = unknown_label.init(&p).unwrap_err().to_string();
    assert!(e.contains("`w`") && e.contains("`z`"), "{e}");
    let stray = partition([("a", sgd(0.1))], [("b", "a"), ("w", "a"), ("x", "a")]);
    let e = stray.init(&p).unwrap_err().to_string();
    assert!(e.contains("`x`"), "{e}");
    // A prefix covers its leaves: "" labels everything.
    assert!(partition([("a", sgd(0.1))], [("", "a")]).init(&p).is_ok());
}

#[test]
fn a_mask_that_does_not_cover_the_tree_is_an_error_naming_the_leaf() {
    let e = masked(sgd(0.1), [("b", true)])
        .init(&tree(1.0))
        .unwrap_err();
    assert!(
        matches!(&e, Error::MissingLeaf { path, .. } if path == "w"),
        "{e}"
    );
}

#[test]
fn a_bad_tree_changes_nothing_in_a_partition() {
    let opt = partition(
        [
            ("a", Boxed::new(adam(0.1))),
            ("s", Boxed::new(sgd(0.1).momentum(0.9))),
        ],
        [("b", "a"), ("w", "s")],
    );
    let mut p = tree(1.0);
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &tree(0.5), &mut s).unwrap();
    let (before_p, before_s) = (p.clone(), serde_json::to_string(&s).unwrap());
    let mut bad = tree(0.5);
    bad.insert("w".into(), Tensor::full([3, 2], 0.5));
    assert!(opt.step(&mut p, &bad, &mut s).is_err());
    assert_eq!(p, before_p);
    assert_eq!(serde_json::to_string(&s).unwrap(), before_s);
}

#[test]
fn masked_in_masked_applies_the_inner_mask_to_the_outer_selection() {
    // The outer mask selects b and w; the inner one, over those, only w.
    let opt = masked(
        masked(sgd(1.0), Mask::by_path(|p| p == "w")),
        [("b", true), ("w", true)],
    );
    let mut p = tree(1.0);
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &tree(0.25), &mut s).unwrap();
    // w descends; b's update passes through both masks unchanged (+ the gradient).
    assert_eq!(p["w"].data(), &[0.75; 6]);
    assert_eq!(p["b"].data(), &[1.25; 3]);
    let frozen = freeze([("b", true), ("w", false)]);
    let mut u = tree(0.25);
    let mut fs = frozen.init(&p).unwrap();
    frozen.update(&mut u, &mut fs, Some(&p)).unwrap();
    assert_eq!(
        (u["b"].data(), u["w"].data()),
        (&[0.0; 3][..], &[0.25; 6][..])
    );
}

#[test]
fn a_nan_gradient_never_reaches_the_inner_state_under_apply_if_finite() {
    let opt = apply_if_finite(adam(0.1), 2);
    let mut p = tree(1.0);
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &tree(0.5), &mut s).unwrap();
    let (inner, params) = (serde_json::to_string(&s.inner_state).unwrap(), p.clone());
    let mut nan = tree(0.5);
    nan.get_mut("w").unwrap().data_mut()[4] = f64::NAN;
    for k in 1..=2 {
        opt.step(&mut p, &nan, &mut s).unwrap();
        assert_eq!(serde_json::to_string(&s.inner_state).unwrap(), inner);
        assert_eq!(p, params);
        assert_eq!(
            (s.notfinite_count, s.last_finite, s.total_notfinite),
            (k, false, k)
        );
    }
    // A finite step resets the run of errors but not the total.
    opt.step(&mut p, &tree(0.5), &mut s).unwrap();
    assert_eq!(
        (s.notfinite_count, s.last_finite, s.total_notfinite),
        (0, true, 2)
    );
    // More than max_consecutive_errors in a row: optax gives up and applies the step.
    for _ in 0..3 {
        opt.step(&mut p, &nan, &mut s).unwrap();
    }
    assert!(p["w"].data()[4].is_nan());
}

#[test]
fn injected_hyperparams_are_readable_settable_and_saved_with_the_state() {
    let lr = optim_core::schedule::linear_schedule(0.1, 0.0, 10, 0);
    let opt = inject_hyperparams(adam(lr)).hyperparam("b1", 0.8);
    let mut p = tree(1.0);
    let mut s = opt.init(&p).unwrap();
    // linear_schedule runs in float32 on optax's int32 count.
    assert!((s.hyperparams()["learning_rate"] - 0.1).abs() < 1e-7);
    assert_eq!(s.hyperparams()["b1"], 0.8);
    assert_eq!(s.hyperparams()["b2"], 0.999);
    for _ in 0..3 {
        opt.step(&mut p, &tree(0.5), &mut s).unwrap();
    }
    // After three steps the state holds the third step's value, scheduled on jax's
    // float32 count as optax does.
    assert!((s.hyperparams()["learning_rate"] - 0.08).abs() < 1e-7);
    let e = s
        .set_hyperparam("learning_rate", 0.5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("scheduled"), "{e}");
    assert!(s
        .set_hyperparam("nesterov", 1.0)
        .unwrap_err()
        .to_string()
        .contains("nesterov"));
    s.set_hyperparam("b2", 0.9).unwrap();
    // Saved and restored, the run continues exactly as it would have.
    let saved = serde_json::to_string(&s).unwrap();
    let mut restored: optim_core::InjectHyperparamsState<_, _> =
        serde_json::from_str(&saved).unwrap();
    let mut q = p.clone();
    opt.step(&mut p, &tree(0.5), &mut s).unwrap();
    opt.step(&mut q, &tree(0.5), &mut restored).unwrap();
    assert_eq!(snapshot(&p), snapshot(&q));
    assert_eq!(restored.hyperparams()["b2"], 0.9);
    // b2 = 0.9 took effect: the same step with b2 = 0.999 lands elsewhere.
    let mut other = opt.init(&tree(1.0)).unwrap();
    let mut r = tree(1.0);
    for _ in 0..4 {
        opt.step(&mut r, &tree(0.5), &mut other).unwrap();
    }
    assert_ne!(snapshot(&r), snapshot(&p));
}

#[test]
fn inject_hyperparams_rejects_a_name_the_optimizer_does_not_have() {
    let e = inject_hyperparams(adam(0.1))
        .hyperparam("beta1", 0.8)
        .init(&tree(1.0))
        .unwrap_err();
    assert!(e.to_string().contains("beta1"), "{e}");
}

#[test]
fn multi_steps_runs_the_optimizer_on_the_mean_every_k_steps() {
    let opt = multi_steps(sgd(1.0), 2.0);
    let mut p = tree(0.0);
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &tree(1.0), &mut s).unwrap();
    assert!(!s.has_updated());
    assert_eq!(snapshot(&p), vec![0.0; 9]);
    opt.step(&mut p, &tree(3.0), &mut s).unwrap();
    assert!(s.has_updated());
    assert_eq!(snapshot(&p), vec![-2.0; 9]);
    // A number of mini-steps that is not a whole number is an error naming the argument.
    let e = multi_steps(sgd(1.0), 1.5)
        .init(&tree(0.0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("every_k_schedule"), "{e}");
}

#[test]
fn an_erased_state_round_trips_through_json_and_continues_bit_for_bit() {
    let e = serde_json::json!({"fn": "partition", "args": {
        "transforms": {"a": {"fn": "inject_hyperparams", "args": {"inner": "adam", "hyperparams": {"learning_rate": 0.05}}},
                       "s": {"fn": "MultiSteps", "args": {"opt": {"fn": "sgd", "args": {"learning_rate": 0.1}}, "every_k_schedule": 2}}},
        "param_labels": {"b": "a", "w": "s"}}});
    let opt = expr::build::<f64>(&e).unwrap();
    let mut p = tree(1.0);
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &tree(0.5), &mut s).unwrap();
    let mut restored: expr::DynState =
        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    let mut q = p.clone();
    for _ in 0..3 {
        opt.step(&mut p, &tree(0.5), &mut s).unwrap();
        opt.step(&mut q, &tree(0.5), &mut restored).unwrap();
    }
    assert_eq!(snapshot(&p), snapshot(&q));
    // Another transformation's state is an error, not a panic.
    let other = expr::build::<f64>(&serde_json::json!("zero_nans")).unwrap();
    assert!(other.step(&mut p, &tree(0.5), &mut s).is_err());
    assert_eq!(p.num_leaves(), 2);
}

#[test]
fn expressions_name_what_is_wrong() {
    let msg = |e: serde_json::Value| expr::build::<f32>(&e).unwrap_err().to_string();
    assert!(msg(serde_json::json!("adamm")).contains("adamm"));
    let e = msg(
        serde_json::json!({"fn": "chain", "args": {"transforms": [{"fn": "adam", "args": {"lr": 1}}]}}),
    );
    assert!(e.contains("transforms[0]") && e.contains("lr"), "{e}");
    let e = msg(serde_json::json!({"fn": "MultiSteps", "args": {"opt": "zero_nans"}}));
    assert!(e.contains("every_k_schedule"), "{e}");
    let e = msg(serde_json::json!({"fn": "conditionally_mask", "args": {}}));
    assert!(e.contains("should_transform_fn"), "{e}");
}
