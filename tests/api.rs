//! The core contract, through the `optim` facade as a user sees it: trees and their
//! errors, the fused step against update + apply_updates, composition, serde.

use optim::{
    adam, adamw, add_decayed_weights, masked, scale_by_adam, scale_by_learning_rate, Error, Mask,
    Tensor, TensorMap, Transformation, Tree, TreeExt,
};
use std::collections::BTreeMap;

fn map(entries: &[(&str, &[usize], &[f64])]) -> TensorMap<f64> {
    entries
        .iter()
        .map(|(k, s, d)| (k.to_string(), Tensor::new(s.to_vec(), d.to_vec()).unwrap()))
        .collect()
}

fn params() -> TensorMap<f64> {
    map(&[
        ("b", &[2], &[0.5, -1.0]),
        ("w", &[2, 2], &[1.0, 2.0, -3.0, 0.25]),
    ])
}

fn grads() -> TensorMap<f64> {
    map(&[
        ("b", &[2], &[0.1, -0.2]),
        ("w", &[2, 2], &[0.3, -0.4, 0.5, 0.6]),
    ])
}

#[derive(Clone, Debug, Tree)]
struct Encoder {
    w: Tensor<f32>,
    b: Vec<f32>,
}

#[derive(Clone, Debug, Tree)]
struct Model {
    encoder: Encoder,
    head: Tensor<f32>,
    scale: f32,
}

#[test]
fn derived_struct_leaves_have_dotted_paths_in_field_order() {
    let m = Model {
        encoder: Encoder {
            w: Tensor::zeros([2, 3]),
            b: vec![0.0; 3],
        },
        head: Tensor::zeros([3]),
        scale: 1.0,
    };
    assert_eq!(m.paths(), ["encoder.w", "encoder.b", "head", "scale"]);
    let shapes: Vec<Vec<usize>> = m.leaves().into_iter().map(|l| l.1).collect();
    assert_eq!(shapes, vec![vec![2, 3], vec![3], vec![3], vec![]]);
    assert_eq!(m.num_elements(), 13);
}

#[test]
fn fused_step_equals_update_then_apply_bit_for_bit() {
    let opt = adamw(0.05).weight_decay(0.1).nesterov(true);
    let (mut p1, mut p2) = (params(), params());
    let mut s1 = opt.init(&p1).unwrap();
    let mut s2 = s1.clone();
    for _ in 0..5 {
        opt.step(&mut p1, &grads(), &mut s1).unwrap();
        let mut u = grads();
        opt.update(&mut u, &mut s2, Some(&p2)).unwrap();
        optim::apply_updates(&mut p2, &u).unwrap();
    }
    assert_eq!(p1, p2);
    assert_eq!(s1, s2);
    assert_eq!(s1.count, 5);
}

#[test]
fn chain_of_primitives_equals_the_fused_alias() {
    let mask = Mask::from([("b", false), ("w", true)]);
    let fused = adamw(0.02).weight_decay(0.1).mask(mask.clone());
    let composed = optim::chain!(
        scale_by_adam(),
        add_decayed_weights().weight_decay(0.1).mask(mask),
        scale_by_learning_rate(0.02),
    );
    let (mut p1, mut p2) = (params(), params());
    let mut s1 = fused.init(&p1).unwrap();
    let mut s2 = composed.init(&p2).unwrap();
    for _ in 0..10 {
        fused.step(&mut p1, &grads(), &mut s1).unwrap();
        composed.step(&mut p2, &grads(), &mut s2).unwrap();
    }
    for ((_, _, a), (_, _, b)) in p1.leaves().into_iter().zip(p2.leaves()) {
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-14 * x.abs().max(1.0), "{x} vs {y}");
        }
    }
}

#[test]
fn masked_leaves_pass_through_and_keep_no_inner_state() {
    let opt = masked(adam(0.1), Mask::by_path(|p: &str| p == "w"));
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    assert_eq!(
        s.inner.leaves.len(),
        1,
        "inner state only for the selected leaf"
    );
    let mut u = grads();
    opt.update(&mut u, &mut s, Some(&p)).unwrap();
    assert_eq!(
        u["b"],
        grads()["b"],
        "unselected updates pass through unchanged"
    );
    assert_ne!(u["w"], grads()["w"]);
    optim::apply_updates(&mut p, &u).unwrap();
}

#[test]
fn a_missing_leaf_is_named_and_nothing_changes() {
    let opt = adam(0.1);
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &grads(), &mut s).unwrap();
    let (p0, s0) = (p.clone(), s.clone());
    let mut g = grads();
    g.remove("b");
    let err = opt.step(&mut p, &g, &mut s).unwrap_err();
    assert!(
        matches!(&err, Error::MissingLeaf { path, .. } if path == "b"),
        "{err}"
    );
    assert!(err.to_string().contains("`b`"));
    assert_eq!((p, s), (p0, s0), "params and state untouched on error");
}

#[test]
fn a_wrong_shape_is_named() {
    let opt = adam(0.1);
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    let mut g = grads();
    g.insert("w".into(), Tensor::zeros([4]));
    let err = opt.step(&mut p, &g, &mut s).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { path, .. } if path == "w"),
        "{err}"
    );
    let mut u = g.clone();
    let err = opt.update(&mut u, &mut s, None).unwrap_err();
    assert!(err.to_string().contains("`w`"), "{err}");
    assert_eq!(u, g, "updates untouched on error");
}

#[test]
fn state_from_another_params_shape_is_rejected() {
    let opt = adam(0.1);
    let other = map(&[("b", &[3], &[0.0; 3]), ("w", &[2, 2], &[0.0; 4])]);
    let mut s = opt.init(&other).unwrap();
    let mut p = params();
    let err = opt.step(&mut p, &grads(), &mut s).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { path, expected, got, .. }
        if path == "b" && expected == &vec![3] && got == &vec![2]),
        "{err}"
    );
    let fewer = map(&[("b", &[2], &[0.0; 2])]);
    let mut s = opt.init(&fewer).unwrap();
    let err = opt.step(&mut p, &grads(), &mut s).unwrap_err();
    assert!(
        matches!(&err, Error::ExtraLeaf { path, extra_in } if path == "w" && extra_in == "gradients"),
        "{err}"
    );
}

/// The error names the leaf that is wrong: the first extra one (wherever it sorts), or
/// the first missing one (the last leaf included), never one that is present.
#[test]
fn extra_and_missing_leaves_are_named_exactly() {
    let opt = adam(0.1);
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    let (p0, s0) = (p.clone(), s.clone());
    type Edit = fn(&mut TensorMap<f64>);
    let cases: [(&str, Edit, &str); 4] = [
        (
            "an extra leaf that sorts first",
            |g| {
                g.insert("a".into(), Tensor::zeros([1]));
            },
            "extra a",
        ),
        (
            "an extra leaf that sorts last",
            |g| {
                g.insert("z".into(), Tensor::zeros([1]));
            },
            "extra z",
        ),
        (
            "a missing last leaf",
            |g| {
                g.remove("w");
            },
            "missing w",
        ),
        (
            "a missing first leaf",
            |g| {
                g.remove("b");
            },
            "missing b",
        ),
    ];
    for (what, edit, want) in cases {
        let mut g = grads();
        edit(&mut g);
        let err = opt.step(&mut p, &g, &mut s).unwrap_err();
        let got = match &err {
            Error::ExtraLeaf { path, .. } => format!("extra {path}"),
            Error::MissingLeaf { path, .. } => format!("missing {path}"),
            other => format!("{other:?}"),
        };
        assert_eq!(got, want, "{what}: {err}");
        assert_eq!((&p, &s), (&p0, &s0), "{what}: nothing written");
    }
}

#[test]
fn corrupt_state_buffers_are_reported_not_panicked_on() {
    let opt = adam(0.1);
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    s.mu[1] = optim::Buf::Native(vec![0.0; 3].into());
    let err = opt.step(&mut p, &grads(), &mut s).unwrap_err();
    assert!(
        matches!(&err, Error::State { path, buffer, .. } if path == "w" && buffer == "mu"),
        "{err}"
    );
}

#[test]
fn update_without_params_is_an_error_for_optimizers_that_read_them() {
    let opt = adamw(0.1);
    let p = params();
    let mut s = opt.init(&p).unwrap();
    let mut u = grads();
    let err = opt.update(&mut u, &mut s, None).unwrap_err();
    assert!(matches!(err, Error::NeedsParams { .. }), "{err}");
    // Adam does not read params, so it works without them.
    let opt = adam(0.1);
    let mut s = opt.init(&p).unwrap();
    opt.update(&mut u, &mut s, None).unwrap();
}

#[test]
fn nan_gradients_propagate_into_params() {
    let opt = adam(0.1);
    let mut p = vec![1.0f32, 2.0];
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &vec![f32::NAN, 1.0], &mut s).unwrap();
    assert!(p[0].is_nan(), "NaN is not hidden");
    assert!(p[1].is_finite());
}

#[test]
fn unknown_mask_leaves_are_errors() {
    let opt = adamw(0.1).mask(Mask::from([("w", true), ("nope", false)]));
    let err = opt.init(&params()).unwrap_err();
    assert_eq!(
        err,
        Error::UnknownMaskLeaf {
            path: "nope".into()
        }
    );
    let opt = adamw(0.1).mask(Mask::from([("w", true)]));
    let err = opt.init(&params()).unwrap_err();
    assert!(
        matches!(&err, Error::MissingLeaf { path, .. } if path == "b"),
        "{err}"
    );
}

#[test]
fn state_round_trips_through_serde() {
    let opt = adam(0.1).mu_dtype(optim::Dtype::BF16);
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &grads(), &mut s).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    let back: optim::AdamState<f64> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.mu[0].dtype(), Some(optim::Dtype::BF16));
}

#[test]
fn works_on_flat_vectors_scalars_and_struct_trees() {
    let opt = adam(0.1);
    let mut v = vec![1.0f32, -1.0];
    let mut s = opt.init(&v).unwrap();
    opt.step(&mut v, &vec![1.0, -1.0], &mut s).unwrap();
    assert!(
        (v[0] - 0.9).abs() < 1e-6 && (v[1] + 0.9).abs() < 1e-6,
        "{v:?}"
    );

    let mut x = 3.0f64;
    let mut s = opt.init(&x).unwrap();
    opt.step(&mut x, &1.0, &mut s).unwrap();
    assert!((x - 2.9).abs() < 1e-8);

    let mut m = Model {
        encoder: Encoder {
            w: Tensor::full([2, 2], 1.0),
            b: vec![1.0; 2],
        },
        head: Tensor::full([2], 1.0),
        scale: 1.0,
    };
    let g = m.clone();
    let mut s = opt.init(&m).unwrap();
    assert_eq!(s.leaves[1].path, "encoder.b");
    opt.step(&mut m, &g, &mut s).unwrap();
    assert!((m.scale - 0.9).abs() < 1e-6);
    let mut nested: BTreeMap<String, Model> = BTreeMap::new();
    nested.insert("tower".into(), m.clone());
    assert_eq!(nested.paths()[0], "tower.encoder.w");
}

#[test]
fn by_name_rejects_unknown_optimizers_and_arguments() {
    struct Name;
    impl optim::registry::Visitor<f64> for Name {
        type Out = &'static str;
        fn visit<T: Transformation<f64> + optim::Hyperparams>(self, t: T) -> &'static str {
            t.name()
        }
    }
    let lr = || vec![("learning_rate".to_string(), optim::Value::Num(0.1))];
    assert_eq!(
        optim::registry::by_name::<f64, _>("adam", lr(), Name).unwrap(),
        "adam"
    );
    let err = optim::registry::by_name::<f64, _>("adamm", lr(), Name).unwrap_err();
    assert!(err.to_string().contains("unknown optimizer"), "{err}");
    let mut args = lr();
    args.push(("b3".into(), optim::Value::Num(0.1)));
    let err = optim::registry::by_name::<f64, _>("adam", args, Name).unwrap_err();
    assert!(err.to_string().contains("b3"), "{err}");
    let err = optim::registry::by_name::<f64, _>("adam", vec![], Name).unwrap_err();
    assert!(err.to_string().contains("learning_rate"), "{err}");
    let mut args = lr();
    args.push(("b1".into(), optim::Value::Str("x".into())));
    let err = optim::registry::by_name::<f64, _>("adam", args, Name).unwrap_err();
    assert!(err.to_string().contains("b1"), "{err}");
}
