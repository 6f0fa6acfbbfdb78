//! `Schedule::at_count` bit for bit against optax on an int32 step count
//! (`data/schedules_int32_count.json`), in both jax precision modes.

use optim_core::schedule::{JaxDtype, JaxMode, LearningRate, ScheduleSpec};
use serde_json::{json, Value};

use crate::reference::cases;
use crate::STEPS;

const INT32_COUNT: &str = include_str!("../data/schedules_int32_count.json");

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
