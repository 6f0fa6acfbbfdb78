//! A fused composition computes exactly what the chain of its primitives computes: for
//! adamw, nadam, lion, sgd with momentum, rmsprop (plain, and centered with momentum)
//! and lamb, `chain!` of the per-element primitives gives the same params, bit for bit,
//! in float32 and float64, through `step` and through `update`.

use optim::{
    add_decayed_weights, chain, scale_by_adam, scale_by_learning_rate, scale_by_lion, scale_by_rms,
    scale_by_stddev, scale_by_trust_ratio, trace, Float, Tensor, TensorMap, Transformation,
};

fn params<F: Float>() -> TensorMap<F> {
    let leaf = |shape: &[usize], x: &[f64]| {
        Tensor::new(
            shape.to_vec(),
            x.iter().map(|&v| F::of(v)).collect::<Vec<F>>(),
        )
        .unwrap()
    };
    let mut m = TensorMap::new();
    m.insert("b".into(), leaf(&[4], &[0.5, -1.0, 2.0, 0.3]));
    m.insert(
        "w".into(),
        leaf(&[2, 3], &[1.0, 2.0, -3.0, 0.25, 1e-3, -0.7]),
    );
    m.insert("s".into(), leaf(&[], &[-0.4]));
    m
}

/// Gradients of ½ Σ c·(x − 0.3)², a different curvature per leaf.
fn grads<F: Float>(p: &TensorMap<F>) -> TensorMap<F> {
    p.iter()
        .map(|(k, t)| {
            let c = F::of(match k.as_str() {
                "b" => 0.5,
                "w" => 2.0,
                _ => 7.0,
            });
            let d: Vec<F> = t.data().iter().map(|&x| c * (x - F::of(0.3))).collect();
            (k.clone(), Tensor::new(t.shape().to_vec(), d).unwrap())
        })
        .collect()
}

fn bits<F: Float>(m: &TensorMap<F>) -> Vec<u64> {
    m.values()
        .flat_map(|t| t.data().iter().map(|x| x.f64().to_bits()))
        .collect()
}

/// 12 fused steps of `a` and of `b` from the same params: the params after each step
/// agree bit for bit, and so does one `update` from the final state.
fn same<F: Float, A: Transformation<F>, B: Transformation<F>>(name: &str, a: &A, b: &B) {
    let (mut pa, mut pb) = (params::<F>(), params::<F>());
    let (mut sa, mut sb) = (a.init(&pa).unwrap(), b.init(&pb).unwrap());
    for step in 0..12 {
        let (ga, gb) = (grads(&pa), grads(&pb));
        a.step(&mut pa, &ga, &mut sa).unwrap();
        b.step(&mut pb, &gb, &mut sb).unwrap();
        assert_eq!(bits(&pa), bits(&pb), "{name}: params after step {step}");
    }
    let (mut ua, mut ub) = (grads(&pa), grads(&pb));
    a.update(&mut ua, &mut sa, Some(&pa)).unwrap();
    b.update(&mut ub, &mut sb, Some(&pb)).unwrap();
    assert_eq!(bits(&ua), bits(&ub), "{name}: update");
}

fn all<F: Float>() {
    let lr = 0.03;
    same::<F, _, _>(
        "adamw",
        &optim::adamw(lr).weight_decay(0.2),
        &chain!(
            scale_by_adam(),
            add_decayed_weights().weight_decay(0.2),
            scale_by_learning_rate(lr)
        ),
    );
    same::<F, _, _>(
        "nadam",
        &optim::nadam(lr),
        &chain!(scale_by_adam().nesterov(true), scale_by_learning_rate(lr)),
    );
    same::<F, _, _>(
        "lion",
        &optim::lion(lr),
        &chain!(
            scale_by_lion(),
            add_decayed_weights().weight_decay(1e-3),
            scale_by_learning_rate(lr)
        ),
    );
    same::<F, _, _>(
        "sgd with momentum",
        &optim::sgd(lr).momentum(0.9).nesterov(true),
        &chain!(trace(0.9).nesterov(true), scale_by_learning_rate(lr)),
    );
    same::<F, _, _>(
        "rmsprop",
        &optim::rmsprop(lr),
        &chain!(scale_by_rms(), scale_by_learning_rate(lr)),
    );
    same::<F, _, _>(
        "rmsprop centered with momentum",
        &optim::rmsprop(lr).centered(true).momentum(0.8),
        &chain!(scale_by_stddev(), scale_by_learning_rate(lr), trace(0.8)),
    );
    same::<F, _, _>(
        "lamb",
        &optim::lamb(lr).weight_decay(0.1),
        &chain!(
            scale_by_adam().eps(1e-6),
            add_decayed_weights().weight_decay(0.1),
            scale_by_trust_ratio(),
            scale_by_learning_rate(lr)
        ),
    );
}

#[test]
fn a_fused_composition_equals_the_chain_of_its_primitives_bit_for_bit() {
    all::<f32>();
    all::<f64>();
}

#[test]
fn a_different_chain_gives_different_numbers() {
    // The comparison can fail: a chain that orders its stages differently is caught.
    let a = optim::adamw(0.03).weight_decay(0.2);
    let b = chain!(
        add_decayed_weights().weight_decay(0.2),
        scale_by_adam(),
        scale_by_learning_rate(0.03)
    );
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        same::<f64, _, _>("swapped", &a, &b)
    }));
    assert!(r.is_err());
}
