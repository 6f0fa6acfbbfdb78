//! ACProp (`src/optimizers/acprop.rs`): against the chain of its primitives, its
//! asynchronous first two steps by hand, and the defaults.

use optim_core::{
    acprop, add_decayed_weights, apply_updates, chain, scale_by_acprop, scale_by_learning_rate,
    Float, Transformation,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

fn fused_equals_chain<F: Float>() {
    let (lr, q) = (0.02, quadratic::<F>());
    let mask = [("b", false), ("w", true)];
    let fused = acprop(lr).b1(0.8).weight_decay(0.05).mask(mask);
    let chained = chain!(
        scale_by_acprop().b1(0.8),
        add_decayed_weights().weight_decay(0.05).mask(mask),
        scale_by_learning_rate(lr)
    );
    assert_eq!(q.run(&fused, 12), q.run(&chained, 12));
}

#[test]
fn acprop_is_the_chain_of_its_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn the_denominator_lags_one_step() {
    let (lr, q) = (0.02, quadratic::<f64>());
    let (b1, b2, eps, eps_root) = (0.9, 0.999, 1e-16, 1e-16);
    let opt = acprop(lr);
    let mut p = q.params();
    let mut st = opt.init(&p).unwrap();
    // Step 1: the previous second moment is taken as 1, so the step is -lr * g.
    let g0 = flat(&q.grads(&p));
    let mut u = q.grads(&p);
    opt.update(&mut u, &mut st, Some(&p)).unwrap();
    let want: Vec<f64> = g0.iter().map(|g| -lr * g).collect();
    assert_eq!(flat(&u), want);
    apply_updates(&mut p, &u).unwrap();
    // Step 2: the denominator is step 1's second moment, (1 - b2) * g0² + eps_root, over
    // 1 - b2; the new gradient is the numerator.
    let g1 = flat(&q.grads(&p));
    let mut u = q.grads(&p);
    opt.update(&mut u, &mut st, Some(&p)).unwrap();
    for ((&u, &g0), &g1) in flat(&u).iter().zip(&g0).zip(&g1) {
        let nu = (1.0 - b2) * (g0 * g0) + eps_root;
        let want = -lr * (g1 / ((nu / (1.0 - b2)).sqrt() + eps));
        assert!((u - want).abs() <= 1e-15 * want.abs(), "{u} vs {want}");
    }
    // The first moment took in g0 against the previous (zero) first moment.
    let mu: Vec<f64> = st.mu.iter().flat_map(|b| b.to_vec()).collect();
    let want: Vec<f64> = g0
        .iter()
        .zip(&g1)
        .map(|(&g0, &g1)| (1.0 - b1) * g1 + b1 * ((1.0 - b1) * g0))
        .collect();
    assert_eq!(mu, want);
}

#[test]
fn defaults_match_optax() {
    let a = acprop(0.1);
    assert_eq!((a.b1, a.b2, a.eps, a.eps_root), (0.9, 0.999, 1e-16, 1e-16));
    assert_eq!(a.weight_decay.at(0), 0.0);
}
