//! Reproducers of issue 14 for the hand-written optimizers (`adafactor`,
//! `scale_by_factored_rms`, `sm3`, `scale_by_sm3`), whose state is not leaf-sized: a
//! shape whose element count overflows is an error, not a wrapped product that makes
//! `init` abort allocating; a legitimate empty leaf of a huge shape (`[2^40, 0]`, whose
//! cover in optax's math has 2^40 entries) initializes and steps without allocating its
//! cover or factored statistics.

use optim_core::{
    adafactor, scale_by_factored_rms, scale_by_sm3, sm3, Error, Extra, Tensor, TensorMap,
    Transformation,
};
use serde::Serialize;

#[test]
fn a_shape_whose_element_count_overflows_is_an_error() {
    for shape in [vec![1usize << 32, 1 << 32], vec![1 << 63, 2]] {
        let got = Tensor::<f32>::new(shape.clone(), Vec::<f32>::new());
        assert!(
            matches!(&got, Err(Error::ShapeOverflow { shape: s, .. }) if *s == shape),
            "{shape:?}: {got:?}"
        );
    }
}

/// A tree with an empty leaf of a huge shape beside an ordinary matrix.
fn tree(empty: &[usize], shift: f32) -> TensorMap<f32> {
    let n = 130 * 140;
    let data: Vec<f32> = (0..n)
        .map(|i| ((i as f32 * 0.37).sin() + shift) * 0.5)
        .collect();
    [
        (
            "empty".to_string(),
            Tensor::new(empty.to_vec(), Vec::<f32>::new()).unwrap(),
        ),
        ("w".to_string(), Tensor::new([130, 140], data).unwrap()),
    ]
    .into()
}

/// Two steps and an update of `t` on the tree; the state stays small (no buffer holds
/// the 2^40 entries of a cover or statistic), the empty leaf stays empty and the matrix
/// moves.
fn steps_on_an_empty_huge_leaf<T>(name: &str, t: T)
where
    T: Transformation<f32>,
    T::State: Serialize,
{
    for empty in [[1usize << 40, 0], [0, 1 << 40]] {
        let mut p = tree(&empty, 0.0);
        let g = tree(&empty, 0.3);
        let mut s = t
            .init(&p)
            .unwrap_or_else(|e| panic!("{name} {empty:?}: {e}"));
        for _ in 0..2 {
            t.step_with(&mut p, &g, &mut s, &Extra::default())
                .unwrap_or_else(|e| panic!("{name} {empty:?}: {e}"));
        }
        let mut u = g.clone();
        t.update_with(&mut u, &mut s, Some(&p), &Extra::default())
            .unwrap_or_else(|e| panic!("{name} {empty:?}: {e}"));
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.len() < 1 << 20,
            "{name} {empty:?}: state of {} bytes",
            json.len()
        );
        assert!(p["empty"].data().is_empty());
        assert_ne!(
            p["w"],
            tree(&empty, 0.0)["w"],
            "{name}: the matrix did not move"
        );
        assert!(u["w"].data().iter().all(|x| x.is_finite()), "{name}");
    }
}

#[test]
fn sm3_steps_an_empty_leaf_of_a_huge_shape() {
    steps_on_an_empty_huge_leaf("sm3", sm3(0.1));
    steps_on_an_empty_huge_leaf("scale_by_sm3", scale_by_sm3());
}

#[test]
fn adafactor_steps_an_empty_leaf_of_a_huge_shape() {
    steps_on_an_empty_huge_leaf("adafactor", adafactor().learning_rate(0.1));
    // With `min_dim_size_to_factor = 0`, optax would factor the empty leaf into a
    // 2^40-entry statistic.
    let t = adafactor().learning_rate(0.1).min_dim_size_to_factor(0);
    steps_on_an_empty_huge_leaf("adafactor min_dim 0", t);
    let t = scale_by_factored_rms().min_dim_size_to_factor(0);
    steps_on_an_empty_huge_leaf("scale_by_factored_rms min_dim 0", t);
}
