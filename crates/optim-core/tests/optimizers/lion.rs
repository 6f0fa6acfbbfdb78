//! Lion (`src/optimizers/lion.rs`): its first update on masked leaves, its bf16 momentum,
//! `scale_by_lion` as Lion without decay and learning rate, and its defaults.

use half::bf16;
use optim_core::{apply_updates, lion, registry, scale_by_lion, Buf, Dtype, Transformation};

use crate::common::{flat, Quadratic};

/// 1.5 · ½‖x − 0.3‖² in f32, from seven params.
const Q: Quadratic<f32> = Quadratic::new(&[0.5, -1.0, 0.0], &[1.0, 2.0, -3.0, 0.25], [1.5, 1.5]);

#[test]
fn first_update_is_the_sign_plus_decay_on_masked_leaves() {
    let (lr, wd) = (0.01, 0.3);
    let opt = lion(lr).weight_decay(wd).mask([("b", false), ("w", true)]);
    let p = Q.params();
    let mut st = opt.init(&p).unwrap();
    let mut u = Q.grads(&p);
    opt.update(&mut u, &mut st, Some(&p)).unwrap();
    let g = flat(&Q.grads(&p));
    let want: Vec<f32> = flat(&p)
        .iter()
        .zip(&g)
        .enumerate()
        .map(|(i, (&p, &g))| {
            let s = if g > 0.0 {
                1.0f32
            } else if g < 0.0 {
                -1.0
            } else {
                0.0
            };
            let d = if i < 3 { s } else { s + wd as f32 * p };
            -(lr as f32) * d
        })
        .collect();
    assert_eq!(flat(&u), want);
}

#[test]
fn bf16_mu_is_stored_rounded_while_arithmetic_stays_f32() {
    let opt = lion(0.01).mu_dtype(Dtype::BF16);
    let mut p = Q.params();
    let mut st = opt.init(&p).unwrap();
    assert!(st.mu.iter().all(|b| matches!(b, Buf::BF16(_))));
    // Shadow the momentum in f32, rounding it to bf16 when stored, as the state does.
    let mut mu = vec![0.0f32; 7];
    for _ in 0..4 {
        let g = Q.grads(&p);
        for (m, &g) in mu.iter_mut().zip(&flat(&g)) {
            *m = bf16::from_f32((1.0f64 - 0.99) as f32 * g + 0.99 * *m).to_f32();
        }
        let mut u = g.clone();
        opt.update(&mut u, &mut st, Some(&p)).unwrap();
        apply_updates(&mut p, &u).unwrap();
    }
    let stored: Vec<f32> = st
        .mu
        .iter()
        .flat_map(|b| match b {
            Buf::BF16(v) => v.iter().map(|x| x.to_f32()).collect::<Vec<_>>(),
            other => panic!("mu stored as {other:?}"),
        })
        .collect();
    assert_eq!(stored, mu);
    // Without mu_dtype, the momentum is kept in full f32 and the trajectories differ.
    let plain = Transformation::<f32>::init(&lion(0.01), &Q.params()).unwrap();
    assert!(plain.mu.iter().all(|b| matches!(b, Buf::Native(_))));
}

#[test]
fn scale_by_lion_is_lion_without_decay_and_learning_rate() {
    let lr = 0.02;
    let (alias, prim) = (lion(lr).weight_decay(0.0), scale_by_lion());
    let mut p = Q.params();
    let (mut sa, mut sp) = (alias.init(&p).unwrap(), prim.init(&p).unwrap());
    for _ in 0..6 {
        let g = Q.grads(&p);
        let (mut ua, mut up) = (g.clone(), g);
        alias.update(&mut ua, &mut sa, Some(&p)).unwrap();
        prim.update(&mut up, &mut sp, None).unwrap();
        let scaled: Vec<f32> = flat(&up).iter().map(|d| -(lr as f32) * d).collect();
        assert_eq!(flat(&ua), scaled);
        assert!(flat(&up).iter().all(|d| [-1.0, 0.0, 1.0].contains(d)));
        apply_updates(&mut p, &ua).unwrap();
    }
    assert_eq!(sa.mu, sp.mu);
}

#[test]
fn defaults_match_optax() {
    let l = lion(0.1);
    assert_eq!((l.b1, l.b2, l.weight_decay.at(0)), (0.9, 0.99, 1e-3));
    assert!(l.mu_dtype.is_none());
    assert!(registry::names().contains(&"lion"));
}
