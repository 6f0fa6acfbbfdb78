//! Checking a trace against a case's expected one, with the reference set's tolerances:
//! per element `|ours − ref| ≤ rtol·|ref| + atol·scale`, `scale` = max(1, max |ref| in
//! that leaf at that step); for objective values `scale` = max(1, |ref|).

use crate::case::Case;
use crate::replay::Trace;

/// `(rtol, atol)` for a case dtype.
pub fn tolerance(dtype: &str) -> (f64, f64) {
    match dtype {
        "float64" => (1e-9, 1e-12),
        _ => (2e-4, 5e-5),
    }
}

fn close(a: f64, b: f64, rtol: f64, atol: f64, scale: f64) -> bool {
    if b.is_nan() {
        return a.is_nan();
    }
    if b.is_infinite() {
        return a == b;
    }
    !a.is_nan() && (a - b).abs() <= atol * scale + rtol * b.abs()
}

/// Compares `got` with the case's expected trace; the error names the step and leaf.
pub fn check(case: &Case, got: &Trace) -> Result<(), String> {
    let (rtol, atol) = tolerance(&case.dtype);
    check_with(case, got, rtol, atol)
}

/// [`check`] with the given tolerances.
pub fn check_with(case: &Case, got: &Trace, rtol: f64, atol: f64) -> Result<(), String> {
    let exp = case
        .expected
        .as_ref()
        .ok_or_else(|| format!("{}: no expected trace", case.id))?;
    if let Some(expected) = &exp.hyperparams {
        let got_h = got.hyperparams.as_deref().unwrap_or(&[]);
        if got_h.len() != expected.len() {
            return Err(format!(
                "hyperparams: {} steps, expected {}",
                got_h.len(),
                expected.len()
            ));
        }
        for (step, (gh, eh)) in got_h.iter().zip(expected).enumerate() {
            for (name, &b) in eh {
                let a = *gh
                    .get(name)
                    .ok_or_else(|| format!("hyperparams: step {} lacks `{name}`", step + 1))?;
                if !close(a, b, rtol, atol, b.abs().max(1.0)) {
                    return Err(format!(
                        "hyperparams: step {} `{name}`: {a:e}, expected {b:e}",
                        step + 1
                    ));
                }
            }
        }
    }
    if got.values.len() != exp.values.len() {
        return Err(format!(
            "values: {} numbers, expected {}",
            got.values.len(),
            exp.values.len()
        ));
    }
    for (i, (&a, &b)) in got.values.iter().zip(&exp.values).enumerate() {
        let scale = if b.is_finite() { b.abs().max(1.0) } else { 1.0 };
        if !close(a, b, rtol, atol, scale) {
            return Err(format!("value at step {i}: {a:e}, expected {b:e}"));
        }
    }
    check_trees("params", &got.params, &exp.params, rtol, atol)?;
    if let Some(expected) = &exp.eval_params {
        let got_e = got.eval_params.as_deref().unwrap_or(&[]);
        check_trees("eval_params", got_e, expected, rtol, atol)?;
    }
    Ok(())
}

type Trees = [std::collections::BTreeMap<String, Vec<f64>>];

/// Compares trees step by step (params, or schedule-free's eval_params), each leaf with
/// its own scale; the error names what, the step and the leaf.
fn check_trees(what: &str, got: &Trees, exp: &Trees, rtol: f64, atol: f64) -> Result<(), String> {
    if got.len() != exp.len() {
        return Err(format!(
            "{what}: {} steps, expected {}",
            got.len(),
            exp.len()
        ));
    }
    let tag = if what == "params" {
        String::new()
    } else {
        format!("{what}: ")
    };
    for (step, (ps, es)) in got.iter().zip(exp).enumerate() {
        for (leaf, ev) in es {
            let pv = ps
                .get(leaf)
                .filter(|pv| pv.len() == ev.len())
                .ok_or_else(|| {
                    format!(
                        "{tag}step {} leaf {leaf}: missing or wrong length",
                        step + 1
                    )
                })?;
            let scale = ev
                .iter()
                .filter(|x| x.is_finite())
                .fold(1.0f64, |m, x| m.max(x.abs()));
            for (j, (&a, &b)) in pv.iter().zip(ev).enumerate() {
                if !close(a, b, rtol, atol, scale) {
                    return Err(format!(
                        "{tag}step {} leaf {leaf}[{j}]: {a:e}, expected {b:e}",
                        step + 1
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Formats a value as Python's `'{:.2E}'.format(x)` does (re-exported from optim-core).
pub use optim_core::python_e2 as python_2e;

/// Formats a trace's objective values as the seed printed them: `'{:.2E}'` for most
/// optimizers, and for `polyak_sgd`, whose example prints the float32 value itself,
/// its shortest round-trip form (`0.875`), as numpy prints it. `documented` decides which.
pub fn printed_like(documented: &str, values: &[f64], dtype: &str) -> String {
    let plain = !documented.contains('E');
    values
        .iter()
        .map(|&v| match (plain, dtype) {
            (false, _) => python_2e(v),
            (true, "float32") => format!("{}", v as f32),
            (true, _) => format!("{v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
