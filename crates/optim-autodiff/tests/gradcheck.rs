//! Every op of the engine against central finite differences, in f64, on seeded random
//! inputs of several shapes.

mod common;

use common::{check_grad, Build, Rng};

use proptest::prelude::*;

const CASES: u32 = 32;

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..4, 0..4)
}

/// A shape and a second shape that broadcasts against it (dims set to 1 or dropped).
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, bool)> {
    (shape(), any::<u64>(), any::<bool>()).prop_map(|(s, bits, swap)| {
        let drop = (bits as usize) % (s.len() + 1);
        let b: Vec<usize> = s[drop..]
            .iter()
            .enumerate()
            .map(|(i, &d)| if (bits >> (8 + i)) & 1 == 1 { 1 } else { d })
            .collect();
        (s, b, swap)
    })
}

fn run(
    inputs: &[optim_core::Tensor<f64>],
    seed: u64,
    f: &Build<'_>,
) -> std::result::Result<(), TestCaseError> {
    check_grad(inputs, seed, f)
        .map(|_| ())
        .map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn binary_ops_with_broadcasting((sa, sb, swap) in broadcast_pair(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let a = rng.tensor(&sa, -2.0, 2.0);
        // Keep denominators away from zero.
        let b = rng.tensor(&sb, 0.5, 2.0);
        let (a, b) = if swap { (b, a) } else { (a, b) };
        run(&[a.clone(), b.clone()], seed, &|g, v| g.add(v[0], v[1]))?;
        run(&[a.clone(), b.clone()], seed, &|g, v| g.sub(v[0], v[1]))?;
        run(&[a.clone(), b.clone()], seed, &|g, v| g.mul(v[0], v[1]))?;
        let (num, den) = if swap { (b, a) } else { (a, b) };
        run(&[num, den], seed, &|g, v| g.div(v[0], v[1]))?;
    }

    #[test]
    fn same_operand_twice(s in shape(), seed in any::<u64>()) {
        let x = Rng::new(seed).tensor(&s, 0.5, 2.0);
        run(std::slice::from_ref(&x), seed, &|g, v| g.mul(v[0], v[0]))?;
        run(std::slice::from_ref(&x), seed, &|g, v| g.div(v[0], v[0]))?;
        run(&[x], seed, &|g, v| g.sub(v[0], v[0]))?;
    }

    #[test]
    fn unary_ops(s in shape(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = rng.tensor(&s, -2.0, 2.0);
        let pos = rng.tensor(&s, 0.3, 2.0);
        let one = |x: &optim_core::Tensor<f64>| [x.clone()];
        run(&one(&x), seed, &|g, v| g.neg(v[0]))?;
        run(&one(&x), seed, &|g, v| g.powi(v[0], 3))?;
        run(&one(&x), seed, &|g, v| g.powi(v[0], 0))?;
        run(&one(&pos), seed, &|g, v| g.powi(v[0], -2))?;
        run(&one(&pos), seed, &|g, v| g.powf(v[0], 1.7))?;
        run(&one(&pos), seed, &|g, v| g.sqrt(v[0]))?;
        run(&one(&x), seed, &|g, v| g.exp(v[0]))?;
        run(&one(&pos), seed, &|g, v| g.log(v[0]))?;
        run(&one(&x), seed, &|g, v| g.abs(v[0]))?;
        run(&one(&x), seed, &|g, v| g.tanh(v[0]))?;
        run(&one(&x), seed, &|g, v| g.sigmoid(v[0]))?;
        run(&one(&x), seed, &|g, v| g.relu(v[0]))?;
        run(&one(&x), seed, &|g, v| g.softplus(v[0]))?;
        run(&one(&x), seed, &|g, v| g.add_scalar(v[0], 3.0))?;
        run(&one(&x), seed, &|g, v| g.mul_scalar(v[0], -1.5))?;
    }

    #[test]
    fn reductions_over_all(s in shape(), seed in any::<u64>()) {
        let x = Rng::new(seed).tensor(&s, -2.0, 2.0);
        run(std::slice::from_ref(&x), seed, &|g, v| g.sum(v[0]))?;
        run(std::slice::from_ref(&x), seed, &|g, v| g.mean(v[0]))?;
        run(&[x], seed, &|g, v| g.max(v[0]))?;
    }

    #[test]
    fn reductions_over_an_axis(
        s in prop::collection::vec(1usize..4, 1..4),
        axis_pick in any::<usize>(),
        keep in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let axis = axis_pick % s.len();
        let x = Rng::new(seed).tensor(&s, -2.0, 2.0);
        run(std::slice::from_ref(&x), seed, &|g, v| g.sum_axis(v[0], axis, keep))?;
        run(std::slice::from_ref(&x), seed, &|g, v| g.mean_axis(v[0], axis, keep))?;
        run(std::slice::from_ref(&x), seed, &|g, v| g.max_axis(v[0], axis, keep))?;
        run(&[x], seed, &|g, v| g.log_softmax(v[0], axis))?;
    }

    #[test]
    fn shape_ops(
        s in prop::collection::vec(1usize..4, 1..4),
        axis_pick in any::<usize>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let axis = axis_pick % s.len();
        let x = rng.tensor(&s, -2.0, 2.0);
        let n: usize = s.iter().product();
        run(std::slice::from_ref(&x), seed, &|g, v| g.reshape(v[0], &[n]))?;
        let rev: Vec<usize> = s.iter().rev().copied().collect();
        run(std::slice::from_ref(&x), seed, &|g, v| g.reshape(v[0], &rev))?;
        let len = s[axis];
        let start = rng.below(len);
        let end = start + 1 + rng.below(len - start);
        run(std::slice::from_ref(&x), seed, &|g, v| g.slice(v[0], axis, start, end))?;
        let idx: Vec<usize> = (0..1 + rng.below(5)).map(|_| rng.below(len)).collect();
        run(&[x], seed, &|g, v| g.gather(v[0], axis, &idx))?;
    }

    #[test]
    fn transpose_and_matmul(m in 1usize..5, k in 1usize..5, n in 1usize..5, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let a = rng.tensor(&[m, k], -2.0, 2.0);
        let b = rng.tensor(&[k, n], -2.0, 2.0);
        run(std::slice::from_ref(&a), seed, &|g, v| g.transpose(v[0]))?;
        run(&[a.clone(), b], seed, &|g, v| g.matmul(v[0], v[1]))?;
        // A^T A: one operand used twice through a transpose.
        run(&[a], seed, &|g, v| {
            let t = g.transpose(v[0])?;
            g.matmul(t, v[0])
        })?;
    }

    #[test]
    fn cross_entropy_with_labels(n in 1usize..5, c in 1usize..5, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = rng.tensor(&[n, c], -3.0, 3.0);
        let labels: Vec<usize> = (0..n).map(|_| rng.below(c)).collect();
        run(&[x], seed, &|g, v| g.cross_entropy(v[0], &labels))?;
    }

    #[test]
    fn two_layer_mlp(batch in 1usize..5, din in 1usize..4, hidden in 1usize..5, classes in 2usize..4, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = rng.tensor(&[batch, din], -1.0, 1.0);
        let w1 = rng.tensor(&[din, hidden], -1.0, 1.0);
        let b1 = rng.tensor(&[hidden], -0.5, 0.5);
        let w2 = rng.tensor(&[hidden, classes], -1.0, 1.0);
        let b2 = rng.tensor(&[classes], -0.5, 0.5);
        let labels: Vec<usize> = (0..batch).map(|_| rng.below(classes)).collect();
        run(&[w1, b1, w2, b2], seed, &|g, v| {
            let xc = g.constant(&x);
            let h = g.matmul(xc, v[0])?;
            let h = g.add(h, v[1])?;
            let h = g.tanh(h)?;
            let o = g.matmul(h, v[2])?;
            let o = g.add(o, v[3])?;
            g.cross_entropy(o, &labels)
        })?;
    }
}
