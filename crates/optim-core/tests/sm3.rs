//! sm3 and `scale_by_sm3` through the public API: the cover accumulators against their
//! definition on a 3-d leaf, scalar leaves, and errors.

use optim_core::{scale_by_sm3, sm3, Hyperparams, Sm3, Tensor, TensorMap, Transformation, TreeExt};

fn leaf(shape: &[usize], data: Vec<f64>) -> TensorMap<f64> {
    [("x".to_string(), Tensor::new(shape.to_vec(), data).unwrap())].into()
}

fn values(n: usize, seed: f64) -> Vec<f64> {
    (0..n).map(|i| ((i as f64 + seed) * 0.7).sin()).collect()
}

/// SM3 by its definition on a 3-d leaf, two steps, against the kernel.
#[test]
fn three_d_leaf_matches_the_definition() {
    let shape = [2usize, 3, 4];
    let n = 24;
    let opt = scale_by_sm3().b1(0.5);
    let mut state = opt.init(&leaf(&shape, vec![0.0; n])).unwrap();
    let mut mu = vec![vec![0.0; 2], vec![0.0; 3], vec![0.0; 4]];
    let mut nu = vec![0.0; n];
    for step in 0..2 {
        let g = values(n, step as f64);
        let mut u = leaf(&shape, g.clone());
        opt.update(&mut u, &mut state, None).unwrap();
        let mut new = vec![
            vec![f64::NEG_INFINITY; 2],
            vec![f64::NEG_INFINITY; 3],
            vec![f64::NEG_INFINITY; 4],
        ];
        for (k, &gk) in g.iter().enumerate() {
            let c = [k / 12, (k / 4) % 3, k % 4];
            let acc = gk * gk + (0..3).map(|a| mu[a][c[a]]).fold(f64::INFINITY, f64::min);
            for a in 0..3 {
                new[a][c[a]] = new[a][c[a]].max(acc);
            }
            let up = if acc > 0.0 {
                gk / (acc + 1e-8).sqrt()
            } else {
                0.0
            };
            nu[k] = 0.5 * up + 0.5 * nu[k];
            let got = u["x"].data()[k];
            assert!(
                (got - nu[k]).abs() <= 1e-15,
                "step {step} [{k}]: {got} vs {}",
                nu[k]
            );
        }
        mu = new;
        assert_eq!(state.mu[0], mu.concat());
    }
}

#[test]
fn a_scalar_is_a_one_element_vector() {
    let opt = sm3(0.1).momentum(0.5);
    let mut s: f64 = 1.5;
    let mut v: Vec<f64> = vec![1.5];
    let mut ss = opt.init(&s).unwrap();
    let mut sv = opt.init(&v).unwrap();
    for _ in 0..4 {
        let (gs, gv) = (2.0 * s, vec![2.0 * v[0]]);
        opt.step(&mut s, &gs, &mut ss).unwrap();
        opt.step(&mut v, &gv, &mut sv).unwrap();
        assert_eq!(s, v[0]);
    }
    assert!(s < 1.5);
}

#[test]
fn errors_name_the_leaf_and_leave_the_state_alone() {
    let p0 = leaf(&[2, 3], values(6, 0.0));
    let opt = sm3(0.1);
    let mut p = p0.clone();
    let mut s = opt.init(&p).unwrap();
    opt.step(&mut p, &p0, &mut s).unwrap();
    let (p1, s1) = (p.clone(), s.clone());
    let e = opt
        .step(&mut p, &leaf(&[3, 2], values(6, 1.0)), &mut s)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`x`"), "{e}");
    let mut bad = s.clone();
    bad.mu[0].pop();
    let e = opt.step(&mut p, &p0, &mut bad).unwrap_err().to_string();
    assert!(e.contains("`x`") && e.contains("mu"), "{e}");
    assert_eq!(p.leaves(), p1.leaves());
    assert_eq!(s, s1);
    let e = <Sm3 as Hyperparams>::from_args("sm3", vec![])
        .unwrap_err()
        .to_string();
    assert!(e.contains("learning_rate"), "{e}");
}

/// A NaN gradient poisons the cover as in optax, whose `jnp.minimum` and `jnp.max`
/// propagate NaN: its row's and its column's accumulators become NaN, so on the next step
/// every element that reads one of them has a NaN accumulator, an update of zero (`acc >
/// 0` is false) and a decaying momentum, and the whole cover turns NaN. Values printed by
/// optax 0.2.8 (`optax.sm3(0.1)` in float32 on a 2x3 leaf, updates of three steps).
#[test]
fn a_nan_gradient_poisons_the_cover_as_in_optax() {
    let nan = f32::NAN;
    let grads = [
        [nan, 1.0, 2.0, 3.0, 4.0, 5.0],
        [1.0, 1.0, 1.0, 1.0, 2.0, 1.0],
        [0.5; 6],
    ];
    let nan64 = f64::NAN;
    let want: [[f64; 6]; 3] = [
        [
            nan64,
            -0.010000000707805157,
            -0.010000000707805157,
            -0.010000000707805157,
            -0.010000000707805157,
            -0.010000000707805157,
        ],
        [
            nan64,
            -0.008999999612569809,
            -0.008999999612569809,
            -0.008999999612569809,
            -0.013472135178744793,
            -0.010961160995066166,
        ],
        [
            nan64,
            -0.008099999278783798,
            -0.008099999278783798,
            -0.008099999278783798,
            -0.012124921195209026,
            -0.009865044616162777,
        ],
    ];
    let want_mu: [&[f32]; 3] = [&[nan, 25.0, nan, 16.0, 25.0], &[nan; 5], &[nan; 5]];
    let leaf32 = |data: &[f32]| -> TensorMap<f32> {
        [(
            "w".to_string(),
            Tensor::new(vec![2, 3], data.to_vec()).unwrap(),
        )]
        .into()
    };
    let opt = sm3(0.1);
    let mut s = opt.init(&leaf32(&[1.0; 6])).unwrap();
    for (step, ((g, want), want_mu)) in grads.iter().zip(&want).zip(want_mu).enumerate() {
        let mut u = leaf32(g);
        opt.update(&mut u, &mut s, None).unwrap();
        for (k, (&got, &w)) in u["w"].data().iter().zip(want).enumerate() {
            let ok = if w.is_nan() {
                got.is_nan()
            } else {
                (got as f64 - w).abs() <= 1e-6 * w.abs()
            };
            assert!(ok, "step {step} update [{k}]: {got} against optax's {w}");
        }
        for (k, (&got, &w)) in s.mu[0].iter().zip(want_mu).enumerate() {
            let ok = if w.is_nan() { got.is_nan() } else { got == w };
            assert!(ok, "step {step} accumulator {k}: {got} against optax's {w}");
        }
    }
}

/// The same on a leaf large enough to split across threads, whose blocks of rows gather
/// their maxima apart and combine them afterwards: after one step with a NaN gradient at
/// (5, 7), exactly row 5's and column 7's accumulators are NaN, and 1 and 2 threads give
/// the same bits (updates and accumulators) over three steps.
#[test]
fn a_nan_gradient_poisons_the_cover_of_a_split_leaf_alike_on_any_thread_count() {
    let (rows, cols) = (300usize, 256usize);
    assert!(rows * cols >= 2 * optim_core::exec::CHUNK);
    let grads = |step: usize| -> TensorMap<f32> {
        let mut g: Vec<f32> = (0..rows * cols)
            .map(|i| (((i + 31 * step) % 97) as f32 - 48.0) * 1e-2)
            .collect();
        if step == 0 {
            g[5 * cols + 7] = f32::NAN;
        }
        [("w".to_string(), Tensor::new(vec![rows, cols], g).unwrap())].into()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let opt = sm3(0.1);
            let mut s = opt.init(&grads(1)).unwrap();
            let mut bits = Vec::new();
            for step in 0..3 {
                let mut u = grads(step);
                opt.update(&mut u, &mut s, None).unwrap();
                if step == 0 {
                    let (row_acc, col_acc) = s.mu[0].split_at(rows);
                    for (r, m) in row_acc.iter().enumerate() {
                        assert_eq!(m.is_nan(), r == 5, "row {r}: {m}");
                    }
                    for (c, m) in col_acc.iter().enumerate() {
                        assert_eq!(m.is_nan(), c == 7, "column {c}: {m}");
                    }
                }
                bits.extend(u["w"].data().iter().map(|x| x.to_bits()));
                bits.extend(s.mu[0].iter().map(|x| x.to_bits()));
            }
            bits
        })
    };
    assert!(run(1) == run(2), "1 and 2 threads differ");
}
