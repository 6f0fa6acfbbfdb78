//! Every optax transformation-expression case of `tests/data/transforms` (see its
//! PROVENANCE.md): 17 families of combinators and wrappers, replayed through the
//! expression builder and checked with the reference tolerances; and the cases
//! `tests/data/transforms_extra/generate.py` made with optax for other shapes and nestings.

use optim_cli::case::{parse_file, Case};
use optim_cli::check::check;
use optim_cli::replay::run_case;
use std::path::Path;

fn cases(folder: &str) -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("data folder")
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
fn every_transform_case_matches_optax() {
    let cases = cases("transforms");
    let mut failures = Vec::new();
    let mut families = Vec::new();
    for case in &cases {
        if !families.contains(&case.optimizer) {
            families.push(case.optimizer.clone());
        }
        assert!(
            case.expression.is_some(),
            "{}: not an expression case",
            case.id
        );
        let trace = match run_case(case) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{}: {e}", case.id));
                continue;
            }
        };
        if let Err(e) = check(case, &trace) {
            failures.push(format!("{}: {e}", case.id));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(families.len(), 17, "families: {families:?}");
    assert_eq!(cases.len(), 50);
}

#[test]
fn inject_hyperparams_cases_report_the_injected_values() {
    for case in cases("transforms")
        .iter()
        .filter(|c| c.optimizer == "inject_hyperparams")
    {
        let trace = run_case(case).expect("runs");
        let got = trace.hyperparams.expect("hyperparams in the trace");
        assert_eq!(got.len(), case.steps, "{}", case.id);
    }
}

#[test]
fn cases_generated_for_other_shapes_and_nestings_match_optax() {
    let cases = cases("transforms_extra");
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = run_case(case).and_then(|t| check(case, &t)) {
            failures.push(format!("{}: {e}", case.id));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(cases.len(), 38, "the generated case count");
}
