//! Every built-in optimizer against the optax reference traces (`tests/data/reference`,
//! see its PROVENANCE.md), table-driven over every case of every registered optimizer.

use optim_cli::case::{parse_file, Case};
use optim_cli::check::{check, printed_like};
use optim_cli::replay::run_case;
use optim_core::registry;
use std::path::Path;

fn all_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("reference data folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        47,
        "one case file per built-in optimizer (the seed's 25, twenty of issue 11, muon and lbfgs)"
    );
    let mut cases = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read case file");
        for c in parse_file(&text).expect("valid JSON") {
            cases.push(c.unwrap_or_else(|(id, e)| panic!("{id}: {e}")));
        }
    }
    cases
}

/// The cases of every optimizer the registry knows.
fn registered_cases() -> Vec<Case> {
    let names = registry::names();
    all_cases()
        .into_iter()
        .filter(|c| names.contains(&c.optimizer.as_str()))
        .collect()
}

/// noisy_sgd draws jax's random numbers; only its `eta = 0` cases are exact targets.
fn exact(case: &Case) -> bool {
    if case.optimizer != "noisy_sgd" {
        return true;
    }
    case.args.get("eta").and_then(|v| v.as_f64()) == Some(0.0)
}

#[test]
fn registered_optimizers_match_optax() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &registered_cases() {
        if case.id.ends_with("/doc") || !exact(case) {
            continue;
        }
        checked += 1;
        match run_case(case).and_then(|t| check(case, &t)) {
            Ok(()) => {}
            Err(e) => failures.push(format!("{}: {e}", case.id)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 2, "no cases checked");
}

#[test]
fn documented_traces_reproduce_digit_for_digit() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &registered_cases() {
        let Some(doc) = &case.documented else {
            continue;
        };
        checked += 1;
        match run_case(case) {
            Ok(t) => {
                let ours = printed_like(doc, &t.values[1..], &case.dtype);
                if ours != *doc {
                    failures.push(format!("{}: printed {ours}, documented {doc}", case.id));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.id)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 1);
}
