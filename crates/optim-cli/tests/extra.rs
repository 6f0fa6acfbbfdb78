//! The extra optax reference cases of `tests/data/extra` (see its PROVENANCE.md and
//! generate.py): adafactor on a leaf large enough to factor with the default
//! `min_dim_size_to_factor`, and a scalar and a 3-d leaf for each of the seven
//! optimizers of issue 5 and the twenty-one of issue 11 (schedule-free's with their
//! evaluation params, lbfgs with its objective, muon with a matrix beside them). Every case must run: an optimizer the
//! registry does not know is a failure, not a skip.

use optim_cli::case::{parse_file, Case};
use optim_cli::check::check;
use optim_cli::replay::run_case;
use optim_core::registry;
use std::path::Path;

fn extra_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/extra");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("extra data folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read case file");
        for c in parse_file(&text).expect("valid JSON") {
            cases.push(c.unwrap_or_else(|(id, e)| panic!("{id}: {e}")));
        }
    }
    cases
}

#[test]
fn extra_cases_match_optax() {
    let cases = extra_cases();
    let names = registry::names();
    let mut failures = Vec::new();
    for case in &cases {
        if !names.contains(&case.optimizer.as_str()) {
            failures.push(format!(
                "{}: optimizer {} not registered",
                case.id, case.optimizer
            ));
            continue;
        }
        if let Err(e) = run_case(case).and_then(|t| check(case, &t)) {
            failures.push(format!("{}: {e}", case.id));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} extra cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // All five files, both dtypes, all twenty-eight optimizers.
    assert_eq!(cases.len(), 86, "the generated case count");
    for opt in [
        "lamb",
        "lars",
        "fromage",
        "novograd",
        "sm3",
        "adafactor",
        "polyak_sgd",
        "adan",
        "optimistic_adam",
        "optimistic_adam_v2",
        "sign_sgd",
        "signum",
        "acprop",
        "ademamix",
        "simplified_ademamix",
        "adopt",
        "madgrad",
        "cocob",
        "dadapt_adamw",
        "dog",
        "dowg",
        "prodigy",
        "momo",
        "momo_adam",
        "schedule_free_adamw",
        "schedule_free_sgd",
        "mechanize",
        "lbfgs",
    ] {
        for dtype in ["float32", "float64"] {
            assert!(
                cases.iter().any(|c| c.optimizer == opt && c.dtype == dtype),
                "no {opt} case in {dtype}"
            );
        }
    }
}
