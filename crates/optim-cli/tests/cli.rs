//! The `optim replay` binary end to end: output format, per-case errors, malformed
//! input, and cases of shapes the reference set does not have.

use serde_json::{json, Value};
use std::io::Write;
use std::process::Command;

fn replay(files: &[&std::path::Path]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_optim"))
        .arg("replay")
        .args(files)
        .output()
        .expect("run optim");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("optim-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

fn case(id: &str, optimizer: &str, args: Value, init: Value, steps: usize) -> Value {
    json!({"id": id, "optimizer": optimizer, "args": args, "dtype": "float64",
           "problem": {"kind": "sum_squares"}, "init": init, "steps": steps})
}

#[test]
fn errors_are_per_case_and_order_is_kept() {
    let x = json!({"x": {"shape": [3], "data": [1.0, 2.0, 3.0]}});
    let cases = json!([
        case("ok", "sgd", json!({"learning_rate": 0.1}), x.clone(), 2),
        case("unknown-opt", "adamm", json!({"learning_rate": 0.1}), x.clone(), 2),
        case("unknown-arg", "adam", json!({"learning_rate": 0.1, "beta9": 1.0}), x.clone(), 2),
        case("bad-shape", "adam", json!({"learning_rate": 0.1}),
             json!({"x": {"shape": [2, 2], "data": [1.0, 2.0, 3.0]}}), 2),
        case("bad-value", "adam", json!({"learning_rate": 0.1, "b1": "high"}), x.clone(), 2),
        case("missing-lr", "adam", json!({}), x.clone(), 2),
        {"id": "malformed", "optimizer": "sgd"},
        case("after", "sgd", json!({"learning_rate": 0.1}), x, 1),
    ]);
    let path = temp_file("mixed.json", &cases.to_string());
    let (code, out, _) = replay(&[&path]);
    assert_eq!(code, 0);
    let out = out.as_array().expect("a JSON array");
    let ids: Vec<&str> = out.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "ok",
            "unknown-opt",
            "unknown-arg",
            "bad-shape",
            "bad-value",
            "missing-lr",
            "malformed",
            "after"
        ]
    );
    let err = |i: usize| out[i]["error"].as_str().unwrap_or_default().to_string();
    assert!(out[0]["values"].is_array() && out[0].get("error").is_none());
    assert!(
        err(1).contains("adamm") && err(1).contains("unknown optimizer"),
        "{}",
        err(1)
    );
    assert!(err(2).contains("beta9"), "{}", err(2));
    assert!(
        err(3).contains("`x`") && err(3).contains("[2, 2]"),
        "{}",
        err(3)
    );
    assert!(err(4).contains("b1"), "{}", err(4));
    assert!(err(5).contains("learning_rate"), "{}", err(5));
    assert!(err(6).contains("malformed"), "{}", err(6));
    assert_eq!(out[7]["values"].as_array().unwrap().len(), 2);
}

#[test]
fn a_schedule_optax_rejects_is_a_case_error_naming_the_function_and_argument() {
    let x = json!({"x": {"shape": [3], "data": [1.0, 2.0, 3.0]}});
    let lr = json!({"schedule": "warmup_cosine_decay_schedule", "init_value": 0.0,
                    "peak_value": 0.1, "warmup_steps": 5, "decay_steps": 5});
    let cases = json!([case(
        "bad-schedule",
        "adam",
        json!({"learning_rate": lr}),
        x,
        2
    )]);
    let path = temp_file("bad-schedule.json", &cases.to_string());
    let (code, out, _) = replay(&[&path]);
    assert_eq!(code, 0);
    let err = out[0]["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("learning_rate")
            && err.contains("`warmup_cosine_decay_schedule`")
            && err.contains("`decay_steps`"),
        "{err}"
    );
}

#[test]
fn malformed_json_exits_non_zero_with_a_message() {
    let path = temp_file("broken.json", "[{\"id\": ");
    let (code, _, stderr) = replay(&[&path]);
    assert_ne!(code, 0);
    assert!(stderr.contains("not valid JSON"), "{stderr}");
    let (code, _, stderr) = replay(&[std::path::Path::new("/nonexistent/cases.json")]);
    assert_ne!(code, 0);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn scalar_and_3d_leaves_replay_like_plain_gradient_descent() {
    // sgd with lr 0.1 on Σx² multiplies every element by 0.8 per step: checkable by hand.
    let init = json!({
        "a": {"shape": [], "data": [2.0]},
        "t": {"shape": [2, 1, 2], "data": [1.0, -1.0, 0.5, 3.0]},
    });
    let cases = json!([case(
        "shapes",
        "sgd",
        json!({"learning_rate": 0.1}),
        init,
        3
    )]);
    let path = temp_file("shapes.json", &cases.to_string());
    let (code, out, _) = replay(&[&path]);
    assert_eq!(code, 0);
    let e = &out[0];
    let f0 = 4.0 + 1.0 + 1.0 + 0.25 + 9.0;
    for (k, v) in e["values"].as_array().unwrap().iter().enumerate() {
        let want = f0 * 0.64f64.powi(k as i32);
        assert!(
            (v.as_f64().unwrap() - want).abs() < 1e-12 * want,
            "step {k}: {v} vs {want}"
        );
    }
    let last = &e["params"][2];
    assert!((last["a"][0].as_f64().unwrap() - 2.0 * 0.512).abs() < 1e-12);
    assert_eq!(last["t"].as_array().unwrap().len(), 4);
}

#[test]
fn the_reference_doc_case_replays_through_the_binary() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference/adam.json");
    let (code, out, _) = replay(&[&dir]);
    assert_eq!(code, 0);
    let doc = out
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "adam/doc")
        .unwrap();
    let printed: Vec<String> = doc["values"].as_array().unwrap()[1..]
        .iter()
        .map(|v| optim_core::python_e2(v.as_f64().unwrap()))
        .collect();
    assert_eq!(
        printed.join(" "),
        "1.40E+01 1.39E+01 1.39E+01 1.39E+01 1.38E+01"
    );
}

#[test]
fn nan_and_infinity_are_written_as_python_reads_them() {
    // A NaN gradient at step 0 reaches sgd's params; a learning rate of 1e308 on Σx²
    // overflows the first update to -Infinity.
    let mut poisoned = case(
        "nan",
        "sgd",
        json!({"learning_rate": 0.1}),
        json!({"a": {"shape": [1], "data": [1.0]}}),
        1,
    );
    poisoned["problem"]["nan_steps"] = json!([0]);
    let huge = case(
        "inf",
        "sgd",
        json!({"learning_rate": 1e308}),
        json!({"x": {"shape": [1], "data": [1.0]}}),
        1,
    );
    let path = temp_file("nonfinite.json", &json!([poisoned, huge]).to_string());
    let out = Command::new(env!("CARGO_BIN_EXE_optim"))
        .arg("replay")
        .arg(&path)
        .output()
        .expect("run optim");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#""params":[{"a":[NaN]}]"#), "{text}");
    assert!(text.contains(r#""params":[{"x":[-Infinity]}]"#), "{text}");
    assert!(!text.contains("null"), "{text}");
}

#[test]
fn a_streamed_entry_has_every_steps_params_and_every_value() {
    // The entry is written step by step (params first, values last): it must still be
    // the documented shape, with `steps` params and `steps + 1` values.
    let x = json!({"x": {"shape": [2], "data": [1.0, 2.0]}});
    let ok = case("ok", "sgd", json!({"learning_rate": 0.1}), x, 3);
    let path = temp_file("streamed.json", &json!([ok]).to_string());
    let (code, out, _) = replay(&[&path]);
    assert_eq!(code, 0);
    assert_eq!(out[0]["params"].as_array().map(Vec::len), Some(3));
    assert_eq!(out[0]["values"].as_array().map(Vec::len), Some(4));
    assert!(out[0].get("error").is_none());
}

/// The performance switches read from the environment: an unknown value is named on
/// stderr and the default used, and no switch changes the numbers.
#[test]
fn unknown_switch_values_are_named_and_no_switch_changes_the_numbers() {
    let x = json!({"x": {"shape": [40], "data": (0..40).map(|i| i as f64 * 0.1 - 2.0).collect::<Vec<_>>()}});
    let cases = json!([case("adam", "adam", json!({"learning_rate": 0.1}), x, 5)]);
    let path = temp_file("switches.json", &cases.to_string());
    let run = |env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_optim"))
            .arg("replay")
            .arg(&path)
            .env_remove("OPTIM_SIMD")
            .env_remove("OPTIM_PREFETCH")
            .env_remove("OPTIM_STATE_ALIGN")
            .envs(env.iter().copied())
            .output()
            .expect("run optim");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{env:?}: {stderr}");
        (
            serde_json::from_str::<Value>(&stdout).expect("json"),
            stderr,
        )
    };
    let (default, quiet) = run(&[]);
    assert!(!quiet.contains("optim:"), "{quiet}");
    let (bogus, said) = run(&[
        ("OPTIM_SIMD", "avx-512"),
        ("OPTIM_PREFETCH", "yes"),
        ("OPTIM_STATE_ALIGN", "page"),
    ]);
    for var in [
        "OPTIM_SIMD=\"avx-512\"",
        "OPTIM_PREFETCH=\"yes\"",
        "OPTIM_STATE_ALIGN=\"page\"",
    ] {
        assert!(said.contains(var), "stderr does not name {var}: {said}");
    }
    assert_eq!(bogus, default);
    for env in [
        [
            ("OPTIM_SIMD", "off"),
            ("OPTIM_PREFETCH", "on"),
            ("OPTIM_STATE_ALIGN", "none"),
        ],
        [
            ("OPTIM_SIMD", "avx2"),
            ("OPTIM_PREFETCH", "off"),
            ("OPTIM_STATE_ALIGN", "line"),
        ],
        [
            ("OPTIM_SIMD", "avx512"),
            ("OPTIM_PREFETCH", "off"),
            ("OPTIM_STATE_ALIGN", "line"),
        ],
        [
            ("OPTIM_SIMD", "avx512bf16"),
            ("OPTIM_PREFETCH", "on"),
            ("OPTIM_STATE_ALIGN", "line"),
        ],
    ] {
        let (got, said) = run(&env);
        assert!(!said.contains("optim:"), "{env:?}: {said}");
        assert_eq!(got, default, "{env:?}");
    }
}
