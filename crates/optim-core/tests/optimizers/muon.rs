//! Muon (`src/optimizers/muon.rs`, `src/primitives/muon/`): the Newton-Schulz iteration
//! against its equations computed by hand, which leaves go where, the weight decay mask
//! over the whole tree, a batched 3-d leaf, and the errors.

use optim_core::{
    muon, orthogonalize, Error, Mask, MuonDimensionNumbers, MuonDims, NsScratch, Preconditioning,
    Tensor, TensorMap, Transformation,
};

fn tree() -> TensorMap<f64> {
    let mut m = TensorMap::new();
    let w: Vec<f64> = (0..12).map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.3).collect();
    m.insert(
        "b".into(),
        Tensor::new([4], vec![0.1, -0.2, 0.3, 0.4]).unwrap(),
    );
    m.insert("w".into(), Tensor::new([3, 4], w).unwrap());
    m
}

/// The plain iteration on a row-major matrix, with `Vec`s, as the docs write it.
fn by_hand(x: &[f64], r: usize, c: usize, coeffs: [f64; 3], steps: usize) -> Vec<f64> {
    let mul = |a: &[f64], b: &[f64], n: usize, k: usize, m: usize| -> Vec<f64> {
        let mut o = vec![0.0; n * m];
        for i in 0..n {
            for j in 0..m {
                o[i * m + j] = (0..k).map(|l| a[i * k + l] * b[l * m + j]).sum();
            }
        }
        o
    };
    let t = |a: &[f64], n: usize, m: usize| -> Vec<f64> {
        (0..m * n).map(|k| a[(k % n) * m + k / n]).collect()
    };
    let (tall, mut x, r, c) = if r > c {
        (true, t(x, r, c), c, r)
    } else {
        (false, x.to_vec(), r, c)
    };
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-8;
    x.iter_mut().for_each(|v| *v /= norm);
    for _ in 0..steps {
        let a = mul(&x, &t(&x, r, c), r, c, r);
        let aa = mul(&a, &a, r, r, r);
        let b: Vec<f64> = a
            .iter()
            .zip(&aa)
            .map(|(a, aa)| coeffs[1] * a + coeffs[2] * aa)
            .collect();
        let bx = mul(&b, &x, r, r, c);
        x = x
            .iter()
            .zip(&bx)
            .map(|(x, bx)| coeffs[0] * x + bx)
            .collect();
    }
    if tall {
        t(&x, r, c)
    } else {
        x
    }
}

#[test]
fn newton_schulz_follows_its_equations_for_wide_and_tall_matrices() {
    let coeffs = [3.4445, -4.7750, 2.0315];
    for (r, c) in [(3, 5), (5, 3), (4, 4)] {
        let x: Vec<f64> = (0..r * c)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 7.0)
            .collect();
        let mut ours = x.clone();
        let mut s = NsScratch::new(r, c);
        orthogonalize(
            &mut ours,
            r,
            c,
            &[coeffs; 5],
            Preconditioning::Frobenius,
            1e-8,
            &mut s,
        );
        let want = by_hand(&x, r, c, coeffs, 5);
        for (a, b) in ours.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-12, "{r}x{c}: {a} vs {b}");
        }
    }
}

#[test]
fn matrices_go_to_muon_and_the_rest_to_adam() {
    let opt = muon(0.02);
    let p = tree();
    let s = opt.init(&p).unwrap();
    let groups: Vec<(&str, Vec<bool>)> = s
        .groups
        .iter()
        .map(|g| (g.label.as_str(), g.flags.clone()))
        .collect();
    assert_eq!(
        groups,
        [("adam", vec![true, false]), ("muon", vec![false, true])]
    );
    // By path and shape: here `w` is given to Adam too.
    let opt = muon(0.02).muon_weight_dimension_numbers(MuonDims::by_leaf(|path, shape| {
        (shape.len() == 2 && path != "w").then(MuonDimensionNumbers::default)
    }));
    let s = opt.init(&p).unwrap();
    assert_eq!(s.groups[0].flags, [true, true]);
}

#[test]
fn the_weight_decay_mask_covers_the_whole_tree() {
    let mut p = tree();
    let g = tree();
    let opt = muon(0.02)
        .weight_decay(0.1)
        .weight_decay_mask(Mask::from([("b", false), ("w", true)]));
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &g, &mut s).unwrap();
    // A mask that misses a leaf is an error naming the argument and the leaf.
    let bad = muon(0.02).weight_decay_mask(Mask::from([("w", true)]));
    let err = bad.init(&tree()).unwrap_err();
    assert!(
        matches!(&err, Error::Hyper { arg, detail, .. } if arg == "weight_decay_mask" && detail.contains('b')),
        "{err}"
    );
}
