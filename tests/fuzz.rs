//! Structured fuzzing (proptest) of the library's entry points for untrusted data:
//! `Tensor::new`, state deserialization and the tree API, over every registered name.
//! Nothing may panic or abort; an error is fine, and where a call fails the params are
//! left as they were. The counts of generated inputs are the `*_CASES` constants.

mod common;

use optim::registry::{self, Visitor};
use optim::{Tensor, TensorMap, Transformation};
use proptest::prelude::*;

const TENSOR_CASES: u32 = 2048;
const STATE_CASES: u32 = 512;
const TREE_CASES: u32 = 512;

fn extent() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..5,
        Just(1 << 32),
        Just(1 << 40),
        Just(1 << 62),
        Just(usize::MAX),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(TENSOR_CASES))]

    /// A tensor is made exactly when the shape's element count equals the data's
    /// length (a zero extent makes it 0 however large the others; else an overflowing
    /// product makes it no count at all).
    #[test]
    fn tensor_new_checks_shape_against_data(
        shape in prop::collection::vec(extent(), 0..5),
        len in 0usize..40,
    ) {
        let numel = if shape.contains(&0) {
            Some(0)
        } else {
            shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
        };
        let made = Tensor::new(shape.clone(), vec![0.5f32; len]);
        prop_assert_eq!(made.is_ok(), numel == Some(len), "{:?} with {} numbers", shape, len);
    }
}

fn small_tree() -> TensorMap<f64> {
    let mut t = TensorMap::new();
    t.insert("a".into(), Tensor::new([2, 3], vec![0.5; 6]).unwrap());
    t.insert(
        "b".into(),
        Tensor::new([4], vec![-1.0, 2.0, 0.25, 3.0]).unwrap(),
    );
    t.insert(
        "c".into(),
        Tensor::new(Vec::<usize>::new(), vec![1.5]).unwrap(),
    );
    t
}

/// Serializes the state of a fresh `init`, applies byte edits, and, when the result
/// still parses as the state type, steps with it: the step may fail, never panic.
#[derive(Clone)]
struct MutateState(Vec<(prop::sample::Index, u8, bool)>);

impl Visitor<f64> for MutateState {
    type Out = ();
    fn visit<T: Transformation<f64> + optim::Hyperparams + Clone + std::fmt::Debug>(self, opt: T) {
        let mut params = small_tree();
        let state = opt.init(&params).unwrap();
        let mut bytes = serde_json::to_vec(&state).unwrap();
        for (at, byte, replace) in self.0 {
            let i = at.index(bytes.len().max(1));
            if replace && i < bytes.len() {
                bytes[i] = byte;
            } else {
                bytes.insert(i.min(bytes.len()), byte);
            }
        }
        if let Ok(mut state) = serde_json::from_slice::<T::State>(&bytes) {
            let before = params.clone();
            let grads = small_tree();
            let extra = common::extra::<f64>(1.0);
            if opt
                .step_with(&mut params, &grads, &mut state, &extra)
                .is_err()
            {
                assert_eq!(params, before, "{}: a failed step wrote params", opt.name());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(STATE_CASES))]

    #[test]
    fn mutated_states_never_panic(
        name in prop::sample::select(registry::names()),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..6),
    ) {
        common::by_name_filled::<f64, _>(name, vec![], 0.5, MutateState(edits));
    }
}

/// Steps with a gradient tree that differs from the params: other names, shapes and
/// lengths. An error must leave the params as they were.
#[derive(Clone)]
struct OddTrees(Vec<(String, Vec<usize>)>);

impl Visitor<f64> for OddTrees {
    type Out = ();
    fn visit<T: Transformation<f64> + optim::Hyperparams + Clone + std::fmt::Debug>(self, opt: T) {
        let mut params = small_tree();
        let mut state = opt.init(&params).unwrap();
        let mut grads = TensorMap::new();
        for (name, shape) in self.0 {
            let n: usize = shape.iter().product();
            grads.insert(name, Tensor::new(shape, vec![0.25; n]).unwrap());
        }
        let before = params.clone();
        let extra = common::extra::<f64>(1.0);
        if opt
            .step_with(&mut params, &grads, &mut state, &extra)
            .is_err()
        {
            assert_eq!(params, before, "{}: a failed step wrote params", opt.name());
        }
        let mut updates = grads.clone();
        let _ = opt.update_with(&mut updates, &mut state, Some(&params), &extra);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(TREE_CASES))]

    #[test]
    fn mismatched_trees_never_panic(
        name in prop::sample::select(registry::names()),
        leaves in prop::collection::vec(
            (prop::sample::select(vec!["a", "b", "c", "d", ""]),
             prop::collection::vec(0usize..5, 0..3)),
            0..4),
    ) {
        let leaves = leaves.into_iter().map(|(n, s)| (n.to_string(), s)).collect();
        common::by_name_filled::<f64, _>(name, vec![], 0.5, OddTrees(leaves));
    }
}
