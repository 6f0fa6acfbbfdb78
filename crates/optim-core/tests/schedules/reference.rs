//! `Schedule::at` against the float64 values optax computes (`data/schedules.json`).

use optim_core::schedule::{
    cosine_decay_schedule, exponential_decay, linear_onecycle_schedule, linear_schedule,
    piecewise_interpolate_schedule, sgdr_schedule, warmup_cosine_decay_schedule, InterpolateType,
    Schedule, ScheduleSpec,
};
use serde_json::{json, Value};

use crate::STEPS;

const REFERENCE: &str = include_str!("../data/schedules.json");
const TOLERANCE: f64 = 1e-12;

/// One reference entry: the spec, a label naming it and the expected values.
pub struct Case {
    pub spec: ScheduleSpec,
    pub label: String,
    pub values: Vec<f64>,
}

pub fn cases() -> Vec<Case> {
    let entries: Vec<Value> =
        serde_json::from_str(REFERENCE).expect("schedules.json is a JSON array");
    assert_eq!(entries.len(), 16, "schedules.json should hold 16 schedules");
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            assert_eq!(entry["dtype"], "float64", "entry {index}: unexpected dtype");
            let raw_spec = entry["spec"].clone();
            let label = format!("entry {index} ({raw_spec})");
            let spec: ScheduleSpec = serde_json::from_value(raw_spec)
                .unwrap_or_else(|e| panic!("{label}: spec does not deserialize: {e}"));
            let values: Vec<f64> = entry["values"]
                .as_array()
                .unwrap_or_else(|| panic!("{label}: values is not an array"))
                .iter()
                .map(|v| {
                    v.as_f64()
                        .unwrap_or_else(|| panic!("{label}: value {v} is not a number"))
                })
                .collect();
            assert_eq!(values.len(), STEPS, "{label}: expected {STEPS} values");
            Case {
                spec,
                label,
                values,
            }
        })
        .collect()
}

fn close(ours: f64, reference: f64) -> bool {
    (ours - reference).abs() <= TOLERANCE * reference.abs().max(1.0)
}

/// The first step where a schedule misses the expected values, described with the
/// schedule's name and the step.
fn first_mismatch(schedule: &dyn Schedule, name: &str, expected: &[f64]) -> Option<String> {
    expected.iter().enumerate().find_map(|(step, &reference)| {
        let ours = schedule.at(step as u64);
        (!close(ours, reference)).then(|| {
            format!(
                "{name}: step {step}: got {ours:e}, optax gives {reference:e} (difference {:e})",
                ours - reference
            )
        })
    })
}

/// Checks a schedule against the expected values, naming the schedule and the step on failure.
fn check(schedule: &dyn Schedule, name: &str, expected: &[f64]) {
    if let Some(message) = first_mismatch(schedule, name, expected) {
        panic!("{message}");
    }
}

#[test]
fn every_reference_schedule_matches_optax() {
    let cases = cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.spec.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        13,
        "expected the 13 optax schedule functions, got {names:?}"
    );
    for case in &cases {
        let schedule = case
            .spec
            .build()
            .unwrap_or_else(|e| panic!("{}: build failed: {e}", case.label));
        check(schedule.as_ref(), &case.label, &case.values);
    }
}

#[test]
fn the_check_catches_a_wrong_value() {
    let cases = cases();
    let schedule = cases[1].spec.build().expect("linear_schedule builds");
    let mut wrong = cases[1].values.clone();
    wrong[7] += 1e-9;
    let message =
        first_mismatch(schedule.as_ref(), "linear", &wrong).expect("a value off by 1e-9 must fail");
    assert!(
        message.contains("linear") && message.contains("step 7"),
        "{message}"
    );
    assert!(first_mismatch(schedule.as_ref(), "linear", &cases[1].values).is_none());
}

/// The reference values of the entry whose spec equals `spec`.
fn expected_for(cases: &[Case], spec: Value) -> &[f64] {
    let spec: ScheduleSpec = serde_json::from_value(spec).expect("test spec deserializes");
    let case = cases
        .iter()
        .find(|c| c.spec == spec)
        .unwrap_or_else(|| panic!("no reference entry for {spec:?}"));
    &case.values
}

#[test]
fn constructor_functions_match_the_specs() {
    let cases = cases();

    let s = linear_schedule(1.0, 0.1, 10, 3);
    let expected = expected_for(
        &cases,
        json!({"schedule": "linear_schedule", "init_value": 1.0, "end_value": 0.1,
               "transition_steps": 10, "transition_begin": 3}),
    );
    check(&s, "linear_schedule", expected);

    let s = exponential_decay(0.5, 4, 0.6, 3, true, Some(0.1));
    let expected = expected_for(
        &cases,
        json!({"schedule": "exponential_decay", "init_value": 0.5, "transition_steps": 4,
               "decay_rate": 0.6, "transition_begin": 3, "staircase": true, "end_value": 0.1}),
    );
    check(&s, "exponential_decay", expected);

    let s = cosine_decay_schedule(0.3, 15, 0.0, 2.0).expect("valid");
    let expected = expected_for(
        &cases,
        json!({"schedule": "cosine_decay_schedule", "init_value": 0.3, "decay_steps": 15,
               "alpha": 0.0, "exponent": 2.0}),
    );
    check(&s, "cosine_decay_schedule", expected);

    let s = piecewise_interpolate_schedule(
        InterpolateType::Cosine,
        1.0,
        [(3, 0.5), (8, 0.2), (15, 2.0)],
    )
    .expect("valid");
    let expected = expected_for(
        &cases,
        json!({"schedule": "piecewise_interpolate_schedule", "interpolate_type": "cosine",
               "init_value": 1.0, "boundaries_and_scales": {"3": 0.5, "8": 0.2, "15": 2.0}}),
    );
    check(&s, "piecewise_interpolate_schedule", expected);

    let s = linear_onecycle_schedule(20, 1.0, 0.3, 0.85, 25.0, 1e4).expect("valid");
    let expected = expected_for(
        &cases,
        json!({"schedule": "linear_onecycle_schedule", "transition_steps": 20, "peak_value": 1.0}),
    );
    check(&s, "linear_onecycle_schedule", expected);

    let s = sgdr_schedule(vec![
        warmup_cosine_decay_schedule(0.0, 1.0, 2, 8, 0.1, 1.0).expect("valid"),
        warmup_cosine_decay_schedule(0.1, 0.5, 2, 10, 0.0, 1.0).expect("valid"),
    ])
    .expect("valid");
    let expected = expected_for(
        &cases,
        json!({"schedule": "sgdr_schedule", "cosine_kwargs": [
            {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 2, "decay_steps": 8, "end_value": 0.1},
            {"init_value": 0.1, "peak_value": 0.5, "warmup_steps": 2, "decay_steps": 10, "end_value": 0.0}]}),
    );
    check(&s, "sgdr_schedule", expected);
}
