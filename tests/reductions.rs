//! The optimizers built on reductions (`leaf_sum`, `tree_sum`, per-leaf state): each
//! alias equals optax's composition of its primitives, the extra `value` argument is
//! required where it is read, and errors leave params and state untouched. Their numbers
//! against optax are checked in optim-cli's reference tests.

use optim::{
    add_decayed_weights, chain, masked, scale_by_adam, scale_by_learning_rate,
    scale_by_trust_ratio, trace, Error, Extra, Mask, Tensor, TensorMap, Transformation,
};
use std::collections::BTreeMap;

fn params() -> TensorMap<f64> {
    let mut m = TensorMap::new();
    m.insert("b".into(), Tensor::vector(vec![0.5, -1.0, 0.0, 2.0]));
    m.insert(
        "w".into(),
        Tensor::new([2, 3], vec![1.0, 2.0, -3.0, 0.25, 0.0, -0.5]).unwrap(),
    );
    m
}

/// A gradient that changes from step to step: 2·p + (step-dependent) offsets.
fn grads(p: &TensorMap<f64>, step: usize) -> TensorMap<f64> {
    let mut g = p.clone();
    for t in g.values_mut() {
        for (i, x) in t.data_mut().iter_mut().enumerate() {
            *x = 2.0 * *x + 0.1 * ((i + step) as f64).sin();
        }
    }
    g
}

/// Runs `steps` updates through `update_with` (not the fused step), returning the params.
fn run<T: Transformation<f64>>(opt: &T, steps: usize) -> TensorMap<f64> {
    let mut p = params();
    let mut s = opt.init(&p).expect("init");
    for k in 0..steps {
        let mut u = grads(&p, k);
        opt.update_with(&mut u, &mut s, Some(&p), &Extra::value(1.5))
            .expect("update");
        optim::apply_updates(&mut p, &u).expect("apply");
    }
    p
}

fn assert_close(a: &TensorMap<f64>, b: &TensorMap<f64>, rtol: f64) {
    for ((k, x), (_, y)) in a.iter().zip(b.iter()) {
        for (i, (x, y)) in x.data().iter().zip(y.data()).enumerate() {
            assert!(
                (x - y).abs() <= rtol * x.abs().max(1.0),
                "{k}[{i}]: {x} vs {y}"
            );
        }
    }
}

fn w_only() -> Mask {
    Mask::Leaves(BTreeMap::from([("b".into(), false), ("w".into(), true)]))
}

#[test]
fn lamb_is_optax_chain_of_adam_decay_trust_ratio_and_lr() {
    let fused = optim::lamb(0.02).weight_decay(0.1).mask(w_only());
    let composed = chain!(
        scale_by_adam().eps(1e-6),
        add_decayed_weights().weight_decay(0.1).mask(w_only()),
        scale_by_trust_ratio(),
        scale_by_learning_rate(0.02),
    );
    assert_close(&run(&fused, 8), &run(&composed, 8), 1e-14);
}

#[test]
fn lars_is_optax_chain_with_masked_trust_ratio_and_trace() {
    let fused = optim::lars(0.5)
        .weight_decay(0.01)
        .weight_decay_mask(w_only())
        .trust_coefficient(0.01)
        .eps(1e-3)
        .trust_ratio_mask(w_only())
        .momentum(0.5)
        .nesterov(true);
    let composed = chain!(
        add_decayed_weights().weight_decay(0.01).mask(w_only()),
        masked(
            scale_by_trust_ratio().trust_coefficient(0.01).eps(1e-3),
            w_only()
        ),
        scale_by_learning_rate(0.5),
        trace(0.5).nesterov(true),
    );
    assert_close(&run(&fused, 8), &run(&composed, 8), 1e-14);
}

#[test]
fn fused_step_equals_update_then_apply() {
    fn both<T: Transformation<f64>>(opt: &T) {
        let mut p = params();
        let mut s = opt.init(&p).unwrap();
        for k in 0..5 {
            let g = grads(&p, k);
            opt.step_with(&mut p, &g, &mut s, &Extra::value(1.5))
                .unwrap();
        }
        assert_eq!(p, run(opt, 5), "{}", opt.name());
    }
    both(&optim::lamb(0.02).weight_decay(0.1));
    both(&optim::lars(0.5).weight_decay(0.01));
    both(&optim::fromage(0.05));
    both(&optim::novograd(0.05).weight_decay(0.01));
    both(&optim::polyak_sgd().scaling(0.9));
    both(&optim::clip_by_global_norm(1.0));
}

#[test]
fn trust_ratio_of_a_zero_norm_is_one() {
    // The b leaf starts at zero: its param norm is 0, so LAMB leaves its Adam step as is.
    let mut p = TensorMap::new();
    p.insert("b".to_string(), Tensor::vector(vec![0.0f64, 0.0]));
    let g = {
        let mut g = p.clone();
        g.get_mut("b")
            .unwrap()
            .data_mut()
            .copy_from_slice(&[1.0, -2.0]);
        g
    };
    let mut s = optim::lamb(0.1).init(&p).unwrap();
    let mut u = g.clone();
    optim::lamb(0.1).update(&mut u, &mut s, Some(&p)).unwrap();
    let mut s2 = scale_by_adam().eps(1e-6).init(&p).unwrap();
    let mut a = g.clone();
    scale_by_adam()
        .eps(1e-6)
        .update(&mut a, &mut s2, Some(&p))
        .unwrap();
    let expected: Vec<f64> = a["b"].data().iter().map(|x| -0.1 * x).collect();
    assert_eq!(u["b"].data(), expected.as_slice());
}

#[test]
fn polyak_needs_the_objective_value_and_writes_nothing_without_it() {
    let opt = optim::polyak_sgd();
    let mut p = params();
    let mut s = opt.init(&p).unwrap();
    let g = grads(&p, 0);
    let (p0, s0) = (p.clone(), s.clone());
    let err = opt.step(&mut p, &g, &mut s).unwrap_err();
    assert_eq!(
        err,
        Error::MissingExtra {
            transform: "polyak_sgd".into(),
            arg: "value".into()
        }
    );
    assert!(err.to_string().contains("value"), "{err}");
    assert_eq!((p, s), (p0, s0));
}

#[test]
fn polyak_step_is_the_gap_over_the_squared_norm_capped_by_max_lr() {
    // g = [3, 4]: ‖g‖² = 25; value 5, f_min 0: step = min(5 / 25, 1) = 0.2.
    let p = vec![1.0f64, 1.0];
    let g = vec![3.0f64, 4.0];
    let opt = optim::polyak_sgd();
    let mut s = opt.init(&p).unwrap();
    let mut u = g.clone();
    opt.update_with(&mut u, &mut s, Some(&p), &Extra::value(5.0))
        .unwrap();
    assert_eq!(u, vec![-0.6000000000000001, -0.8]);
    // A large gap is capped at max_learning_rate.
    let mut u = g.clone();
    opt.update_with(&mut u, &mut s, Some(&p), &Extra::value(500.0))
        .unwrap();
    assert_eq!(u, vec![-3.0, -4.0]);
    // "sps+" clips a negative gap to zero; "sps" steps uphill.
    let mut u = g.clone();
    let plus = optim::polyak_sgd().variant("sps+");
    plus.update_with(&mut u, &mut s, Some(&p), &Extra::value(-5.0))
        .unwrap();
    assert_eq!(u, vec![-0.0, -0.0]);
    // A zero gradient gives a zero step, not NaN.
    let mut u = vec![0.0f64, 0.0];
    opt.update_with(&mut u, &mut s, Some(&p), &Extra::value(5.0))
        .unwrap();
    assert_eq!(u, vec![0.0, 0.0]);
}

#[test]
fn an_unknown_variant_is_an_error_naming_the_argument() {
    let opt = optim::polyak_sgd().variant("sps++");
    let err = opt.init(&vec![1.0f64]).unwrap_err();
    assert!(
        matches!(&err, Error::Hyper { arg, .. } if arg == "variant"),
        "{err}"
    );
    assert!(err.to_string().contains("sps++"), "{err}");
    // Set by name, as `optim replay` does.
    let mut cfg = optim::polyak_sgd();
    optim::Hyperparams::set(&mut cfg, "variant", optim::Value::Str("sps+".into())).unwrap();
    assert_eq!(cfg.variant, "sps+");
}

#[test]
fn clip_by_global_norm_rescales_only_above_the_threshold() {
    let mut t = TensorMap::new();
    t.insert("a".to_string(), Tensor::vector(vec![3.0f64]));
    t.insert("b".to_string(), Tensor::vector(vec![4.0f64]));
    let small = optim::clip_by_global_norm(10.0);
    let mut s = small.init(&t).unwrap();
    let mut u = t.clone();
    small.update(&mut u, &mut s, None).unwrap();
    assert_eq!(u, t);
    let big = optim::clip_by_global_norm(1.0);
    let mut s = big.init(&t).unwrap();
    let mut u = t.clone();
    big.update(&mut u, &mut s, None).unwrap();
    assert_eq!(u["a"].data(), &[3.0 / 5.0]);
    assert_eq!(u["b"].data(), &[4.0 / 5.0]);
}

#[test]
fn clip_bounds_each_element() {
    let opt = optim::clip(0.5);
    let mut u = vec![-2.0f64, -0.25, 0.0, 0.75, f64::NAN];
    let mut s = opt.init(&u).unwrap();
    opt.update(&mut u, &mut s, None).unwrap();
    assert_eq!(&u[..4], &[-0.5, -0.25, 0.0, 0.5]);
    assert!(u[4].is_nan(), "NaN propagates as in jnp.clip");
}

#[test]
fn novograd_primitive_keeps_optax_eps_default() {
    assert_eq!(optim::novograd(0.1).eps, 1e-6);
    assert_eq!(optim::scale_by_novograd().eps, 1e-8);
}

#[test]
fn novograd_per_leaf_state_is_one_scalar_per_leaf() {
    let opt = optim::novograd(0.1);
    let p = params();
    let mut s = opt.init(&p).unwrap();
    assert_eq!(s.nu.len(), 2);
    let mut u = grads(&p, 0);
    let g = u.clone();
    opt.update(&mut u, &mut s, Some(&p)).unwrap();
    // First step: nu is the squared norm of each leaf's gradient.
    let sq = |k: &str| g[k].data().iter().map(|x| x * x).sum::<f64>();
    assert!((s.nu[0] - sq("b")).abs() <= 1e-12 * sq("b"));
    assert!((s.nu[1] - sq("w")).abs() <= 1e-12 * sq("w"));
    // A state with the wrong number of per-leaf values is an error, not a panic.
    s.nu.pop();
    let err = opt.update(&mut u, &mut s, Some(&p)).unwrap_err();
    assert!(err.to_string().contains("nu"), "{err}");
}

#[test]
fn trust_ratio_optimizers_need_params() {
    let opt = optim::lamb(0.1);
    let p = params();
    let mut s = opt.init(&p).unwrap();
    let mut u = grads(&p, 0);
    let err = opt.update(&mut u, &mut s, None).unwrap_err();
    assert!(matches!(err, Error::NeedsParams { .. }), "{err}");
    assert!(matches!(
        scale_by_trust_ratio().update(&mut u, &mut scale_by_trust_ratio().init(&p).unwrap(), None),
        Err(Error::NeedsParams { .. })
    ));
}

#[test]
fn lars_masks_take_a_path_predicate_as_well_as_a_bool_tree() {
    let by_tree = optim::lars(0.5)
        .weight_decay(0.01)
        .weight_decay_mask(w_only())
        .trust_ratio_mask(w_only());
    let w = || Mask::Predicate(std::sync::Arc::new(|path: &str| path.starts_with('w')));
    let by_predicate = optim::lars(0.5)
        .weight_decay(0.01)
        .weight_decay_mask(w())
        .trust_ratio_mask(w());
    assert_eq!(run(&by_tree, 5), run(&by_predicate, 5));
    // Both default to every leaf, which differs from masking `b` out.
    let all = optim::lars(0.5).weight_decay(0.01);
    assert_ne!(run(&all, 5), run(&by_tree, 5));
}

/// `value` in element code alone (not in a per-step statement) is still the extra
/// argument, required at every step.
#[optim::optimizer(unscaled)]
fn value_scaled() {
    each(|g| g * value)
}

#[test]
fn value_read_only_by_element_code_is_still_required() {
    let opt = value_scaled();
    let p = vec![1.0f64, 2.0];
    let mut s = opt.init(&p).unwrap();
    let mut u = vec![3.0f64, 4.0];
    opt.update_with(&mut u, &mut s, None, &Extra::value(0.5))
        .unwrap();
    assert_eq!(u, vec![1.5, 2.0]);
    assert!(matches!(
        opt.update(&mut u, &mut s, None),
        Err(Error::MissingExtra { .. })
    ));
}
