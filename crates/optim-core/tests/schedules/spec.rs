//! The serde form `ScheduleSpec`: what it rejects, and the arguments optax rejects or
//! only logs about.

use std::sync::Arc;

use optim_core::schedule::{
    cosine_decay_schedule, exponential_decay, linear_schedule, sgdr_schedule,
    warmup_cosine_decay_schedule, Schedule, ScheduleSpec,
};
use optim_core::Error;
use serde_json::{json, Value};

fn parse_error(spec: Value) -> String {
    match serde_json::from_value::<ScheduleSpec>(spec.clone()) {
        Ok(parsed) => panic!("{spec} should be rejected, parsed as {parsed:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_schedule_names_are_rejected() {
    let message = parse_error(json!({"schedule": "warmup_linear_schedule", "value": 1.0}));
    assert!(message.contains("warmup_linear_schedule"), "{message}");
}

#[test]
fn unknown_arguments_are_rejected() {
    let message = parse_error(json!({"schedule": "linear_schedule", "init_value": 1.0,
        "end_value": 0.1, "transition_steps": 10, "transition_bgin": 3}));
    assert!(message.contains("transition_bgin"), "{message}");

    let message = parse_error(json!({"schedule": "sgdr_schedule", "cosine_kwargs": [
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 2, "decay_steps": 8, "alpha": 0.1}]}));
    assert!(message.contains("alpha"), "{message}");
}

#[test]
fn bad_arguments_are_rejected_with_their_name() {
    let message = parse_error(
        json!({"schedule": "piecewise_constant_schedule", "init_value": 1.0,
        "boundaries_and_scales": {"3": 0.5, "8x": 0.2}}),
    );
    assert!(message.contains("8x"), "{message}");

    let message = parse_error(json!({"schedule": "piecewise_interpolate_schedule",
        "interpolate_type": "quadratic", "init_value": 1.0}));
    assert!(message.contains("quadratic"), "{message}");

    let message =
        parse_error(json!({"schedule": "linear_schedule", "init_value": 1.0, "end_value": 0.1}));
    assert!(message.contains("transition_steps"), "{message}");
}

/// The schedule functions and arguments an error names, outermost first: a rejected part
/// of a composite schedule, then the part's own error.
fn rejected_args(error: &Error) -> Vec<(&str, &str)> {
    match error {
        Error::Schedule { schedule, arg, .. } => vec![(schedule.as_str(), arg.as_str())],
        Error::SchedulePart {
            schedule,
            arg,
            source,
        } => {
            let mut chain = vec![(schedule.as_str(), arg.as_str())];
            chain.extend(rejected_args(source));
            chain
        }
        other => panic!("not a schedule error: {other:?}"),
    }
}

#[test]
fn arguments_optax_rejects_give_errors_naming_the_function_and_argument() {
    let invalid = [
        (
            json!({"schedule": "cosine_decay_schedule", "init_value": 1.0, "decay_steps": 0}),
            vec![("cosine_decay_schedule", "decay_steps")],
        ),
        (
            json!({"schedule": "warmup_cosine_decay_schedule", "init_value": 0.0, "peak_value": 1.0,
                   "warmup_steps": 5, "decay_steps": 5}),
            vec![("warmup_cosine_decay_schedule", "decay_steps")],
        ),
        (
            json!({"schedule": "piecewise_constant_schedule", "init_value": 1.0,
                   "boundaries_and_scales": {"3": -0.5}}),
            vec![("piecewise_constant_schedule", "boundaries_and_scales")],
        ),
        (
            json!({"schedule": "piecewise_interpolate_schedule", "interpolate_type": "linear",
                   "init_value": 1.0, "boundaries_and_scales": {"3": -0.5}}),
            vec![("piecewise_interpolate_schedule", "boundaries_and_scales")],
        ),
        (
            json!({"schedule": "linear_onecycle_schedule", "transition_steps": 0, "peak_value": 1.0}),
            vec![("linear_onecycle_schedule", "transition_steps")],
        ),
        (
            json!({"schedule": "linear_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
                   "div_factor": -2.0}),
            vec![("linear_onecycle_schedule", "div_factor")],
        ),
        (
            json!({"schedule": "linear_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
                   "final_div_factor": -1.0}),
            vec![("linear_onecycle_schedule", "final_div_factor")],
        ),
        (
            json!({"schedule": "linear_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
                   "pct_final": -0.5}),
            vec![("linear_onecycle_schedule", "pct_final")],
        ),
        (
            json!({"schedule": "cosine_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
                   "div_factor": 0.0}),
            vec![("cosine_onecycle_schedule", "div_factor")],
        ),
        (
            json!({"schedule": "cosine_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
                   "final_div_factor": 0.0}),
            vec![("cosine_onecycle_schedule", "final_div_factor")],
        ),
        (
            json!({"schedule": "cosine_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
                   "pct_start": 1e300}),
            vec![("cosine_onecycle_schedule", "pct_start")],
        ),
        (
            // The boundary of pct_start lies past transition_steps, so the first scale
            // checked is 1 / (div_factor * final_div_factor), negative through div_factor.
            json!({"schedule": "cosine_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
                   "pct_start": 2.0, "div_factor": -1.0}),
            vec![("cosine_onecycle_schedule", "div_factor")],
        ),
        (
            json!({"schedule": "cosine_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
                   "final_div_factor": -1.0}),
            vec![("cosine_onecycle_schedule", "final_div_factor")],
        ),
        (
            json!({"schedule": "sgdr_schedule", "cosine_kwargs": []}),
            vec![("sgdr_schedule", "cosine_kwargs")],
        ),
        (
            json!({"schedule": "sgdr_schedule", "cosine_kwargs": [
                {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 2, "decay_steps": 8},
                {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 8, "decay_steps": 8}]}),
            vec![
                ("sgdr_schedule", "cosine_kwargs[1]"),
                ("warmup_cosine_decay_schedule", "decay_steps"),
            ],
        ),
        (
            json!({"schedule": "join_schedules", "schedules": [], "boundaries": []}),
            vec![("join_schedules", "schedules")],
        ),
        (
            json!({"schedule": "join_schedules", "boundaries": [4], "schedules": [
                {"schedule": "constant_schedule", "value": 1.0},
                {"schedule": "cosine_decay_schedule", "init_value": 1.0, "decay_steps": 0}]}),
            vec![
                ("join_schedules", "schedules[1]"),
                ("cosine_decay_schedule", "decay_steps"),
            ],
        ),
    ];
    for (spec, expected) in invalid {
        let parsed: ScheduleSpec = serde_json::from_value(spec.clone()).expect("parses");
        let error = match parsed.build() {
            Ok(_) => panic!("{spec} should not build"),
            Err(e) => e,
        };
        assert_eq!(rejected_args(&error), expected, "{spec}: {error}");
        let message = error.to_string();
        for (schedule, arg) in expected {
            assert!(
                message.contains(&format!("`{schedule}`")) && message.contains(&format!("`{arg}`")),
                "{spec}: {message}"
            );
        }
    }
}

#[test]
fn schedule_error_messages_in_full() {
    let error = cosine_decay_schedule(1.0, 0, 0.0, 1.0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`cosine_decay_schedule`: argument `decay_steps`: must be positive, got 0"
    );
    // A cycle filled in by hand is checked as warmup_cosine_decay_schedule checks it.
    let mut cycle = warmup_cosine_decay_schedule(0.0, 1.0, 2, 8, 0.0, 1.0).expect("valid");
    cycle.decay_steps = 2;
    let error = sgdr_schedule(vec![cycle]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`sgdr_schedule`: argument `cosine_kwargs[0]`: `warmup_cosine_decay_schedule`: \
         argument `decay_steps`: must exceed warmup_steps (2), got 2: the cosine decay after \
         the warmup needs a positive length"
    );
    let source = std::error::Error::source(&error).expect("the cycle's error is the source");
    assert!(source
        .to_string()
        .starts_with("`warmup_cosine_decay_schedule`"));
}

#[test]
fn arguments_optax_only_logs_about_behave_as_in_optax() {
    // A non-positive transition_steps holds init_value; a zero decay_rate does too.
    for spec in [
        json!({"schedule": "linear_schedule", "init_value": 1.0, "end_value": 0.1, "transition_steps": -4}),
        json!({"schedule": "polynomial_schedule", "init_value": 1.0, "end_value": 0.1, "power": 2.0,
               "transition_steps": 0}),
        json!({"schedule": "exponential_decay", "init_value": 1.0, "transition_steps": 0, "decay_rate": 0.5}),
        json!({"schedule": "exponential_decay", "init_value": 1.0, "transition_steps": 3, "decay_rate": 0.0}),
    ] {
        let schedule = serde_json::from_value::<ScheduleSpec>(spec.clone())
            .expect("parses")
            .build()
            .expect("builds");
        for step in [0, 1, 5, 100] {
            assert_eq!(schedule.at(step), 1.0, "{spec} at step {step}");
        }
    }
    // A negative transition_begin falls back to 0.
    let spec = json!({"schedule": "linear_schedule", "init_value": 1.0, "end_value": 0.0,
                      "transition_steps": 4, "transition_begin": -3});
    let schedule = serde_json::from_value::<ScheduleSpec>(spec)
        .expect("parses")
        .build()
        .expect("builds");
    assert_eq!(schedule.at(1), 0.75);
}

#[test]
fn join_schedules_spec_matches_its_parts() {
    let spec = json!({"schedule": "join_schedules", "boundaries": [4], "schedules": [
        {"schedule": "linear_schedule", "init_value": 0.0, "end_value": 1.0, "transition_steps": 4},
        {"schedule": "exponential_decay", "init_value": 1.0, "transition_steps": 2, "decay_rate": 0.5}]});
    let joined: Arc<dyn Schedule> = serde_json::from_value::<ScheduleSpec>(spec)
        .expect("parses")
        .build()
        .expect("builds");
    let warmup = linear_schedule(0.0, 1.0, 4, 0);
    let decay = exponential_decay(1.0, 2, 0.5, 0, false, None);
    for step in 0..12u64 {
        let expected = if step < 4 {
            warmup.at(step)
        } else {
            decay.at(step - 4)
        };
        assert_eq!(joined.at(step), expected, "join_schedules at step {step}");
    }
}
