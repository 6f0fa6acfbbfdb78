//! The case parser and `optim replay` under hostile input: a corpus of reproducers (files
//! that once made the binary panic or abort) replayed through the binary, and structured
//! fuzzing (proptest) of the parser and the replay in-process. Zero panics, zero aborts:
//! the binary runs in a child process, so an abort shows up as a signal, not a pass.

use optim_cli::case::{parse_file, Case};
use optim_cli::replay::run_case;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// What replaying a reproducer must give.
enum Expect {
    /// An error containing this phrase.
    Error(&'static str),
    /// A run of every step without an error (the input is legitimate).
    Runs,
}
use Expect::{Error, Runs};

/// Each reproducer and what its case must give.
const CORPUS: &[(&str, Expect)] = &[
    (
        "steps_2pow61.json",
        Error("steps: 2305843009213693952 is more than"),
    ),
    (
        "steps_u64_max.json",
        Error("steps: 18446744073709551615 is more than"),
    ),
    (
        "steps_1e12.json",
        Error("steps: 1000000000000 is more than"),
    ),
    (
        "steps_1e12_float.json",
        Error("steps: invalid type: floating point"),
    ),
    (
        "adafactor_2pow32_square_empty.json",
        Error("more elements than fit in memory"),
    ),
    (
        "sm3_2pow32_square_empty.json",
        Error("more elements than fit in memory"),
    ),
    (
        "leaf_2pow63_by_2_no_data.json",
        Error("more elements than fit in memory"),
    ),
    (
        "unknown_field_expectd.json",
        Error("unknown field `expectd`"),
    ),
    (
        "unknown_field_in_problem.json",
        Error("problem.scale: unknown field `scale`"),
    ),
    // optax's Adam divides by 1 - b1^t: b1 = 1 gave NaN params; now an argument error.
    ("adam_b1_one_zero_grads.json", Error("argument `b1`")),
    // A legitimate empty leaf whose cover in optax's math has 2^40 entries once
    // aborted allocating it; it runs, allocating no cover.
    ("sm3_2pow40_by_0.json", Runs),
];

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz")
}

#[test]
fn every_reproducer_gives_its_outcome_not_a_crash() {
    let mut listed: Vec<&str> = CORPUS.iter().map(|(f, _)| *f).collect();
    listed.sort_unstable();
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort_unstable();
    assert_eq!(listed, on_disk, "every corpus file has an expectation here");
    for (file, expect) in CORPUS {
        let out = Command::new(env!("CARGO_BIN_EXE_optim"))
            .arg("replay")
            .arg(corpus_dir().join(file))
            .output()
            .expect("run optim");
        assert!(
            out.status.success(),
            "{file}: exit {:?}, stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
        let entries = json.as_array().expect("an array");
        assert_eq!(entries.len(), 1, "{file}");
        let error = entries[0]["error"].as_str();
        match expect {
            Error(phrase) => {
                let error = error.unwrap_or_default();
                assert!(
                    error.contains(phrase),
                    "{file}: error {error:?} lacks {phrase:?}"
                );
            }
            Runs => {
                assert_eq!(error, None, "{file}");
                let values = entries[0]["values"].as_array().expect("values");
                let steps = case_steps(file);
                assert_eq!(values.len() as u64, steps, "{file}: {values:?}");
            }
        }
    }
}

/// The `steps` of the one case of the corpus file `file`.
fn case_steps(file: &str) -> u64 {
    let text = std::fs::read_to_string(corpus_dir().join(file)).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    cases[0]["steps"].as_u64().expect("steps")
}

/// A small valid case, the seed of the mutations.
fn seed_case(optimizer: &str) -> Value {
    json!({"id": "seed", "optimizer": optimizer, "args": {"learning_rate": 0.1},
           "dtype": "float32", "problem": {"kind": "quadratic",
           "weight": {"x": {"shape": [2], "data": [1.0, 2.0]}},
           "center": {"x": {"shape": [2], "data": [0.5, -0.5]}}},
           "init": {"x": {"shape": [2], "data": [1.0, 2.0]}}, "steps": 2,
           "expected": {"values": [0.0, 0.0, 0.0], "params": [{"x": [0.0, 0.0]}]}})
}

/// Runs what parses, when it is small enough to run quickly; nothing may panic.
fn parse_and_run(text: &str) {
    let Ok(cases) = parse_file(text) else {
        return;
    };
    for case in cases.into_iter().flatten() {
        if small(&case) {
            let _ = run_case(&case);
        }
    }
}

fn small(case: &Case) -> bool {
    let numel = case.init.values().try_fold(0usize, |acc, l| {
        let n = optim_core::tree::numel(&l.shape)?;
        acc.checked_add(n)
    });
    numel.is_some_and(|n| case.steps.saturating_mul(n.max(1)) <= 10_000)
}

/// The generated inputs per property: the closing note reports these counts.
const BYTE_CASES: u32 = 512;
const STRUCTURED_CASES: u32 = 512;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(BYTE_CASES))]

    /// Byte-level mutations of a valid case file: flips, insertions and deletions.
    #[test]
    fn mutated_case_files_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = serde_json::to_vec(&json!([seed_case("adam")])).unwrap();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len().max(1));
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i.min(bytes.len()), byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            parse_and_run(text);
        }
    }
}

/// Numbers that have broken parsers: zero, huge, and the edges of the integer types.
fn nasty_uint() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..5,
        Just(1 << 32),
        Just(1 << 40),
        Just(1 << 61),
        Just(1 << 63),
        Just(u64::MAX),
        Just(1_000_000_000_000),
    ]
}

fn nasty_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        (-1e300f64..1e300).prop_map(|x| json!(x)),
        Just(json!(0.0)),
        Just(json!(1.0)),
        Just(json!(-1.0)),
        nasty_uint().prop_map(|x| json!(x)),
        "[a-z_]{0,8}".prop_map(|s| json!(s)),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"fn": "constant_schedule", "args": {"value": 0.1}})),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(nasty_uint(), 0..4),
        prop::collection::vec(-10.0f64..10.0, 0..12),
    )
        .prop_map(|(shape, data)| json!({"shape": shape, "data": data}))
}

fn structured_case() -> impl Strategy<Value = Value> {
    let names: Vec<&'static str> = optim_core::registry::names();
    (
        prop::sample::select(names),
        prop::collection::btree_map("[a-z_0-9]{1,12}", nasty_value(), 0..4),
        prop::collection::btree_map("[a-c]", leaf(), 0..3),
        nasty_uint(),
        prop::sample::select(vec!["float32", "float64", "bfloat16", ""]),
        prop::sample::select(vec!["sum_squares", "rosenbrock", "quadratic", "cubic"]),
    )
        .prop_map(|(opt, args, init, steps, dtype, kind)| {
            json!({"id": "fuzz", "optimizer": opt, "args": args, "dtype": dtype,
                   "problem": {"kind": kind}, "init": init, "steps": steps})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(STRUCTURED_CASES))]

    /// Well-formed JSON with hostile contents: any registered optimizer, arguments of
    /// any type and size, shapes with huge or zero extents, data of any length, step
    /// counts up to u64::MAX.
    #[test]
    fn structured_cases_never_panic(case in structured_case()) {
        parse_and_run(&json!([case]).to_string());
    }
}
