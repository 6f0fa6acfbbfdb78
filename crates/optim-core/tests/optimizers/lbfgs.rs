//! L-BFGS and its line searches (`src/optimizers/lbfgs.rs`, `src/primitives/quasi_newton.rs`,
//! `src/linesearch/`): the fused optimizer against the chain of its primitives, the line
//! search's state as optax keeps it, and the objective it needs (missing, of another
//! element type, or failing: a clear error, nothing written).

use optim_core::{
    chain, lbfgs, scale, scale_by_backtracking_linesearch, scale_by_lbfgs,
    scale_by_zoom_linesearch, Error, Extra, Float, Linesearch, Objective, StateTensors, TensorMap,
    Transformation,
};

use crate::common::{flat, Quadratic};

fn quadratic<F: Float>() -> Quadratic<F> {
    Quadratic::new(&[0.5, -1.0, 2.0, 0.3], &[1.0, 2.0, -3.0, 0.25], [0.5, 2.0])
}

/// The quadratic's objective, its value and gradient at trial params, in `F`.
fn objective<F: Float>(q: &'static Quadratic<F>) -> Objective<F> {
    let template = q.params();
    Objective::of_tree(&template, move |x: &TensorMap<F>| {
        Ok((q.loss(x), q.grads(x)))
    })
}

/// Runs `steps` steps of `opt`, each given the value, the gradient and the objective;
/// returns the params after each.
fn run<F: Float, T: Transformation<F>>(
    q: &'static Quadratic<F>,
    opt: &T,
    steps: usize,
) -> Vec<Vec<F>> {
    let mut p = q.params();
    let mut st = opt.init(&p).unwrap();
    (0..steps)
        .map(|_| {
            let g = q.grads(&p);
            let extra = Extra::value(q.loss(&p))
                .with_grad(&g)
                .with_objective(objective(q));
            opt.step_with(&mut p, &g, &mut st, &extra).unwrap();
            flat(&p)
        })
        .collect()
}

fn leak<F: Float>() -> &'static Quadratic<F> {
    Box::leak(Box::new(quadratic::<F>()))
}

fn fused_equals_chain<F: Float>() {
    let q = leak::<F>();
    let zoom = scale_by_zoom_linesearch(20).initial_guess_strategy("one");
    let fused = lbfgs();
    let chained = chain!(scale_by_lbfgs(), scale(-1.0), zoom);
    assert_eq!(run(q, &fused, 12), run(q, &chained, 12));
    let fused = lbfgs()
        .memory_size(3)
        .learning_rate(0.5)
        .linesearch(Linesearch::Backtracking(
            scale_by_backtracking_linesearch(15).store_grad(true),
        ));
    let chained = chain!(
        scale_by_lbfgs().memory_size(3),
        optim_core::scale_by_learning_rate(0.5),
        scale_by_backtracking_linesearch(15).store_grad(true)
    );
    assert_eq!(run(q, &fused, 12), run(q, &chained, 12));
}

#[test]
fn lbfgs_is_the_chain_of_its_primitives_bit_for_bit() {
    fused_equals_chain::<f32>();
    fused_equals_chain::<f64>();
}

#[test]
fn the_line_search_state_holds_the_value_and_gradient_at_the_new_params() {
    let q = leak::<f64>();
    let opt = lbfgs();
    let mut p = q.params();
    let mut st = opt.init(&p).unwrap();
    let start = q.loss(&p);
    let mut last = start;
    for _ in 0..10 {
        let g = q.grads(&p);
        let extra = Extra::value(q.loss(&p)).with_objective(objective(q));
        opt.step_with(&mut p, &g, &mut st, &extra).unwrap();
        assert_eq!(
            st.value(),
            q.loss(&p),
            "optax's value_and_grad_from_state reads it"
        );
        let optim_core::LinesearchState::Zoom(ls) = &st.linesearch else {
            panic!("the default line search is zoom")
        };
        let g = q.grads(&p);
        assert_eq!(
            ls.grad,
            g.values().map(|t| t.data().to_vec()).collect::<Vec<_>>()
        );
        assert!(ls.info.num_linesearch_steps >= 1 && ls.learning_rate > 0.0);
        // The step size satisfies the sufficient decrease condition.
        assert!(q.loss(&p) <= last, "{} after {last}", q.loss(&p));
        last = q.loss(&p);
    }
    // L-BFGS with a line search converges on the quadratic.
    assert!(last < 1e-6 * start, "{last} from {start}");
}

#[test]
fn a_missing_or_mistyped_or_failing_objective_is_an_error_and_writes_nothing() {
    let q = leak::<f64>();
    let opts: Vec<(&str, optim_core::expr::Boxed<f64>)> = vec![
        ("lbfgs", optim_core::expr::Boxed::new(lbfgs())),
        (
            "scale_by_zoom_linesearch",
            optim_core::expr::Boxed::new(scale_by_zoom_linesearch(10)),
        ),
        (
            "scale_by_backtracking_linesearch",
            optim_core::expr::Boxed::new(scale_by_backtracking_linesearch(10)),
        ),
    ];
    for (name, opt) in &opts {
        let mut p = q.params();
        let mut st = opt.init(&p).unwrap();
        // One good step first, so the state is not the initial one.
        let g = q.grads(&p);
        let good = Extra::value(q.loss(&p)).with_objective(objective(q));
        opt.step_with(&mut p, &g, &mut st, &good).unwrap();
        let (before_p, before_s) = (p.clone(), serde_json::to_string(&st).unwrap());
        let g = q.grads(&p);
        let f32_objective = Objective::<f32>::flat(|_, _| Ok(0.0));
        let failing = Objective::<f64>::flat(|_, _| {
            Err(Error::Hyper {
                transform: "objective".into(),
                arg: "x".into(),
                detail: "out of its domain".into(),
            })
        });
        let bad_grad = {
            let mut short = q.params();
            short.remove("w");
            Extra::value(1.0)
                .with_grad(&short)
                .with_objective(objective(q))
        };
        let cases = [
            ("missing", Extra::value(q.loss(&p)), "value_fn"),
            (
                "float32",
                Extra::value(q.loss(&p)).with_objective(f32_objective),
                "value_fn",
            ),
            (
                "failing",
                Extra::default().with_objective(failing),
                "domain",
            ),
            ("bad grad", bad_grad, "grad"),
        ];
        for (what, extra, needle) in cases {
            let err = opt.step_with(&mut p, &g, &mut st, &extra).unwrap_err();
            assert!(err.to_string().contains(needle), "{name}, {what}: {err}");
            let mut u = g.clone();
            let err = opt
                .update_with(&mut u, &mut st, Some(&p), &extra)
                .unwrap_err();
            assert!(err.to_string().contains(needle), "{name}, {what}: {err}");
            assert_eq!(p, before_p, "{name}, {what}: params written");
            assert_eq!(u, g, "{name}, {what}: updates written");
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                before_s,
                "{name}, {what}: state written"
            );
        }
    }
}

#[test]
fn the_state_names_its_tensors_as_optax_stacks_them() {
    let q = quadratic::<f64>();
    let p = q.params();
    let st = lbfgs().memory_size(4).init(&p).unwrap();
    let mut names = Vec::new();
    st.visit_tensors("", &mut |n, t| {
        let shape = match t {
            optim_core::state_tensors::TensorRef::Elems(s, _) => s.to_vec(),
            _ => vec![],
        };
        names.push(format!("{n} {shape:?}"));
        Ok(())
    })
    .unwrap();
    for want in [
        "0/count []",
        "0/prev_params/w [4]",
        "0/diff_params_memory/b [4, 4]",
        "0/diff_updates_memory/w [4, 4]",
        "0/weights_memory [4]",
        "1/count []",
        "2/learning_rate []",
        "2/value []",
        "2/grad/b [4]",
        "2/info/num_linesearch_steps []",
        "2/info/curvature_error []",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
}

#[test]
fn memory_size_zero_is_an_argument_error() {
    let p = quadratic::<f64>().params();
    let err = scale_by_lbfgs().memory_size(0).init(&p).unwrap_err();
    assert!(err.to_string().contains("memory_size"), "{err}");
    let err = <_ as Transformation<f64>>::init(
        &scale_by_zoom_linesearch(3).initial_guess_strategy("two"),
        &p,
    )
    .unwrap_err();
    assert!(err.to_string().contains("initial_guess_strategy"), "{err}");
}
