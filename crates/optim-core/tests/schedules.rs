//! The optax schedules against values computed by optax 0.2.8 (see `data/PROVENANCE.md`):
//! `at` against the float64 values of `data/schedules.json`, and `at_count` (what an
//! optimizer uses) bit for bit against optax on an int32 step count,
//! `data/schedules_int32_count.json`.

use std::sync::Arc;

use optim_core::schedule::{
    cosine_decay_schedule, exponential_decay, linear_onecycle_schedule, linear_schedule,
    piecewise_interpolate_schedule, sgdr_schedule, warmup_cosine_decay_schedule, InterpolateType,
    JaxDtype, JaxMode, JaxScalar, LearningRate, Schedule, ScheduleSpec,
};
use serde_json::{json, Value};

const REFERENCE: &str = include_str!("data/schedules.json");
const STEPS: usize = 30;
const TOLERANCE: f64 = 1e-12;

/// One reference entry: the spec, a label naming it and the expected values.
struct Case {
    spec: ScheduleSpec,
    label: String,
    values: Vec<f64>,
}

fn cases() -> Vec<Case> {
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

// ---------------------------------------------------------------------------
// On an int32 count, bit for bit.
// ---------------------------------------------------------------------------

const INT32_COUNT: &str = include_str!("data/schedules_int32_count.json");

/// One entry of `schedules_int32_count.json`: a schedule and the values optax computes
/// on an int32 count, with their dtype.
struct CountCase {
    set: String,
    raw_spec: Value,
    spec: ScheduleSpec,
    label: String,
    dtype: JaxDtype,
    weak: bool,
    /// The IEEE bits of each value, in `dtype`.
    bits: Vec<u64>,
}

impl CountCase {
    /// The expected value at `step`, widened to f64.
    fn value(&self, step: usize) -> f64 {
        from_bits(self.dtype, self.bits[step])
    }
}

fn from_bits(dtype: JaxDtype, bits: u64) -> f64 {
    match dtype {
        JaxDtype::Float32 => f64::from(f32::from_bits(
            u32::try_from(bits).expect("float32 bits fit 32 bits"),
        )),
        JaxDtype::Float64 => f64::from_bits(bits),
    }
}

fn mode_key(mode: JaxMode) -> &'static str {
    match mode {
        JaxMode::X64 => "x64",
        JaxMode::X32 => "x32",
    }
}

fn count_cases(mode: JaxMode) -> Vec<CountCase> {
    let data: Value =
        serde_json::from_str(INT32_COUNT).expect("schedules_int32_count.json is JSON");
    assert_eq!(data["optax"], "0.2.8");
    assert_eq!(data["jax"], "0.10.2");
    assert_eq!(data["steps"], STEPS);
    let entries = data[mode_key(mode)]
        .as_array()
        .unwrap_or_else(|| panic!("no `{}` list", mode_key(mode)));
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let raw_spec = entry["spec"].clone();
            let label = format!("{} entry {index} ({raw_spec})", mode_key(mode));
            let spec: ScheduleSpec = serde_json::from_value(raw_spec.clone())
                .unwrap_or_else(|e| panic!("{label}: spec does not deserialize: {e}"));
            let dtype = match entry["dtype"].as_str() {
                Some("float32") => JaxDtype::Float32,
                Some("float64") => JaxDtype::Float64,
                other => panic!("{label}: unexpected dtype {other:?}"),
            };
            let digits = match dtype {
                JaxDtype::Float32 => 8,
                JaxDtype::Float64 => 16,
            };
            let bits: Vec<u64> = entry["bits"]
                .as_array()
                .unwrap_or_else(|| panic!("{label}: bits is not an array"))
                .iter()
                .map(|b| {
                    let hex = b
                        .as_str()
                        .and_then(|b| b.strip_prefix("0x"))
                        .filter(|hex| hex.len() == digits)
                        .unwrap_or_else(|| panic!("{label}: bad bits {b}"));
                    u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{label}: {b}: {e}"))
                })
                .collect();
            assert_eq!(bits.len(), STEPS, "{label}: expected {STEPS} values");
            CountCase {
                set: entry["set"].as_str().expect("set").to_string(),
                raw_spec,
                spec,
                label,
                dtype,
                weak: entry["weak_type"].as_bool().expect("weak_type is a bool"),
                bits,
            }
        })
        .collect()
}

/// The distance in units in the last place of `dtype` between two values of `dtype`.
fn ulps(dtype: JaxDtype, a: f64, b: f64) -> u64 {
    // Maps the floats of a dtype monotonically onto the integers.
    fn key(dtype: JaxDtype, x: f64) -> i64 {
        match dtype {
            JaxDtype::Float32 => {
                let bits = (x as f32).to_bits() as i32;
                i64::from(if bits < 0 { i32::MIN - bits } else { bits })
            }
            JaxDtype::Float64 => {
                let bits = x.to_bits() as i64;
                if bits < 0 {
                    i64::MIN - bits
                } else {
                    bits
                }
            }
        }
    }
    key(dtype, a).abs_diff(key(dtype, b))
}

/// Every difference between `at_count` and optax, one line each, with the largest
/// distance in ulps.
fn count_mismatches(mode: JaxMode, cases: &[CountCase]) -> (Vec<String>, u64) {
    let mut mismatches = Vec::new();
    let mut max_ulps = 0;
    for case in cases {
        let schedule = case
            .spec
            .build()
            .unwrap_or_else(|e| panic!("{}: build failed: {e}", case.label));
        for step in 0..STEPS {
            let expected = case.value(step);
            let got = schedule.at_count(step as u64, mode);
            if (got.dtype, got.weak) != (case.dtype, case.weak) {
                mismatches.push(format!(
                    "{}: step {step}: dtype {} (weak: {}), optax gives {} (weak: {})",
                    case.label,
                    got.dtype.name(),
                    got.weak,
                    case.dtype.name(),
                    case.weak
                ));
            } else if got.value.to_bits() != expected.to_bits() {
                let distance = ulps(case.dtype, got.value, expected);
                max_ulps = max_ulps.max(distance);
                mismatches.push(format!(
                    "{}: step {step}: got {:e}, optax gives {expected:e} ({distance} ulp of {})",
                    case.label,
                    got.value,
                    case.dtype.name()
                ));
            }
            let via_rate = LearningRate::from(schedule.clone()).optax_value_in(step as u64, mode);
            assert_eq!(
                via_rate.to_bits(),
                got.value.to_bits(),
                "{}: optax_value_in",
                case.label
            );
        }
    }
    (mismatches, max_ulps)
}

fn check_int32_count(mode: JaxMode) {
    let cases = count_cases(mode);
    let (mismatches, max_ulps) = count_mismatches(mode, &cases);
    assert!(
        mismatches.is_empty(),
        "{} values differ from optax (at most {max_ulps} ulp):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn int32_count_values_match_optax_bit_for_bit_with_x64() {
    check_int32_count(JaxMode::X64);
}

#[test]
fn int32_count_values_match_optax_bit_for_bit_without_x64() {
    check_int32_count(JaxMode::X32);
}

#[test]
fn int32_count_data_covers_the_reference_schedules() {
    let reference = cases();
    for mode in [JaxMode::X64, JaxMode::X32] {
        let cases = count_cases(mode);
        let (ours, extra): (Vec<_>, Vec<_>) = cases.iter().partition(|c| c.set == "reference");
        assert_eq!(ours.len(), 16, "{mode:?}: the 16 reference schedules");
        assert!(
            extra.iter().all(|c| c.set == "extra"),
            "{mode:?}: unknown set"
        );
        assert!(extra.len() >= 20, "{mode:?}: the extra schedules");
        for (case, reference) in ours.iter().zip(&reference) {
            assert_eq!(case.spec, reference.spec, "{}: out of order", case.label);
        }
        // The decimal values agree with the bits (they are there for reading).
        let data: Value = serde_json::from_str(INT32_COUNT).expect("JSON");
        for (case, entry) in cases
            .iter()
            .zip(data[mode_key(mode)].as_array().expect("list"))
        {
            assert_eq!(entry["spec"], case.raw_spec);
            for (step, value) in entry["values"]
                .as_array()
                .expect("values")
                .iter()
                .enumerate()
            {
                let value = value.as_f64().expect("a number");
                assert!(
                    ulps(JaxDtype::Float64, value, case.value(step)) <= 1,
                    "{}: step {step}: value {value:e} does not match its bits",
                    case.label
                );
            }
        }
    }
}

#[test]
fn the_bit_for_bit_check_catches_a_one_ulp_difference() {
    let mut cases = count_cases(JaxMode::X64);
    let index = cases
        .iter()
        .position(|c| c.spec.name() == "warmup_cosine_decay_schedule")
        .expect("a warmup cosine schedule");
    let mut case = cases.swap_remove(index);
    case.bits[9] += 1;
    let (mismatches, max_ulps) = count_mismatches(JaxMode::X64, std::slice::from_ref(&case));
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert!(mismatches[0].contains("step 9"), "{}", mismatches[0]);
    assert_eq!(max_ulps, 1);
}

/// The two optimizer schedules the float64 reference traces need: the learning rates
/// optax's adam and adamw multiply by (float32 values, widened).
#[test]
fn optimizer_learning_rates_are_optax_float32_values() {
    let cases = count_cases(JaxMode::X64);
    for spec in [
        json!({"schedule": "warmup_cosine_decay_schedule", "init_value": 0.0, "peak_value": 0.05,
               "warmup_steps": 5, "decay_steps": 20, "end_value": 0.001}),
        json!({"schedule": "exponential_decay", "init_value": 0.05, "transition_steps": 3,
               "decay_rate": 0.7, "transition_begin": 2, "staircase": true}),
    ] {
        let case = cases
            .iter()
            .find(|c| c.raw_spec == spec)
            .unwrap_or_else(|| panic!("no entry for {spec}"));
        assert_eq!((case.dtype, case.weak), (JaxDtype::Float32, false));
        let rate = LearningRate::from(case.spec.build().expect("builds"));
        for step in 0..STEPS {
            let value = rate.optax_value(step as u64);
            assert_eq!(
                value.to_bits(),
                case.value(step).to_bits(),
                "{spec} at {step}"
            );
            assert_eq!(
                value,
                f64::from(value as f32),
                "{spec} at {step}: not a float32"
            );
        }
    }
}

#[test]
fn a_constant_learning_rate_keeps_full_precision() {
    let rate = LearningRate::from(0.1);
    assert_eq!(rate.optax_value(3), 0.1);
    assert_eq!(rate.optax_value_in(3, JaxMode::X32), 0.1);
}

#[test]
fn the_step_counter_saturates_at_i32_max() {
    let rate = LearningRate::from(linear_schedule(1.0, 0.0, u64::from(u32::MAX), 0));
    let at_max = rate.optax_value(i32::MAX as u64);
    assert_eq!(rate.optax_value(u64::MAX), at_max);
    assert_eq!(rate.optax_value(i32::MAX as u64 + 1), at_max);
}

#[test]
fn jnp_where_promotes_as_jax_does() {
    let weak64 = JaxScalar::new(0.1, JaxDtype::Float64, true);
    let strong32 = JaxScalar::new(0.3, JaxDtype::Float32, false);
    let strong64 = JaxScalar::new(0.7, JaxDtype::Float64, false);
    let weak32 = JaxScalar::new(0.9, JaxDtype::Float32, true);
    // A strongly typed float32 rounds a weakly typed float64 to float32.
    assert_eq!(
        weak64.select(true, strong32),
        JaxScalar {
            value: f64::from(0.1f32),
            dtype: JaxDtype::Float32,
            weak: false
        }
    );
    assert_eq!(strong32.select(false, weak64).dtype, JaxDtype::Float32);
    // Two strongly typed floats give the wider one.
    assert_eq!(strong32.select(true, strong64).dtype, JaxDtype::Float64);
    assert_eq!(strong32.select(true, strong64).value, f64::from(0.3f32));
    // Two weakly typed floats stay weak.
    assert_eq!(weak64.select(false, weak64), weak64);
    assert!(weak32.select(true, weak64).weak);
}
