//! The serde form `ScheduleSpec`: what it rejects, and the arguments optax rejects or
//! only logs about.

use std::sync::Arc;

use optim_core::schedule::{exponential_decay, linear_schedule, Schedule, ScheduleSpec};
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

#[test]
fn arguments_optax_rejects_give_errors() {
    let invalid = [
        json!({"schedule": "cosine_decay_schedule", "init_value": 1.0, "decay_steps": 0}),
        json!({"schedule": "warmup_cosine_decay_schedule", "init_value": 0.0, "peak_value": 1.0,
               "warmup_steps": 5, "decay_steps": 5}),
        json!({"schedule": "piecewise_constant_schedule", "init_value": 1.0,
               "boundaries_and_scales": {"3": -0.5}}),
        json!({"schedule": "piecewise_interpolate_schedule", "interpolate_type": "linear",
               "init_value": 1.0, "boundaries_and_scales": {"3": -0.5}}),
        json!({"schedule": "linear_onecycle_schedule", "transition_steps": 0, "peak_value": 1.0}),
        json!({"schedule": "cosine_onecycle_schedule", "transition_steps": 10, "peak_value": 1.0,
               "div_factor": 0.0}),
        json!({"schedule": "sgdr_schedule", "cosine_kwargs": []}),
        json!({"schedule": "join_schedules", "schedules": [], "boundaries": []}),
    ];
    for spec in invalid {
        let parsed: ScheduleSpec = serde_json::from_value(spec.clone()).expect("parses");
        assert!(parsed.build().is_err(), "{spec} should not build");
    }
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
