//! Writing `optim replay`'s output as it runs: one JSON array, one entry per case, each
//! step's params written as soon as the step is done, so a long case is never held in
//! memory.
//!
//! Numbers that are not finite are written as `NaN`, `Infinity` and `-Infinity`, the
//! literals Python's `json` module writes and reads (optax's reference files are made
//! with it), so a NaN and an infinity stay distinguishable; strict JSON has no way to
//! say either, and serde_json would write both as `null`.

use crate::case::ParsedCase;
use crate::replay::{self, Step};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Writes one number.
pub fn write_f64(out: &mut (impl Write + ?Sized), x: f64) -> io::Result<()> {
    if x.is_nan() {
        out.write_all(b"NaN")
    } else if x.is_infinite() {
        out.write_all(if x > 0.0 { b"Infinity" } else { b"-Infinity" })
    } else {
        serde_json::to_writer(&mut *out, &x).map_err(io::Error::other)
    }
}

fn write_str(out: &mut (impl Write + ?Sized), s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

fn write_list(out: &mut (impl Write + ?Sized), xs: &[f64]) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, &x) in xs.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_f64(out, x)?;
    }
    out.write_all(b"]")
}

/// `{"name": value, ...}`, each value written by `value`.
fn write_map<V>(
    out: &mut impl Write,
    map: &BTreeMap<String, V>,
    mut value: impl FnMut(&mut dyn Write, &V) -> io::Result<()>,
) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_str(out, k)?;
        out.write_all(b":")?;
        value(out, v)?;
    }
    out.write_all(b"}")
}

/// Replays one parsed case and writes its entry: `{"id", "params": [...], "values":
/// [...]}` (with `"hyperparams"` for `inject_hyperparams`, `"eval_params"` for the
/// schedule-free optimizers), or, when it fails, `"error"`
/// in place of `"values"` (after the params of the steps done before the error). Only an
/// error writing the output is returned.
pub fn write_entry(out: &mut impl Write, case: ParsedCase) -> io::Result<()> {
    let (id, case) = match case {
        Ok(c) => (c.id.clone(), Ok(c)),
        Err((id, e)) => (id, Err(e)),
    };
    out.write_all(b"{\"id\":")?;
    write_str(out, &id)?;
    let case = match case {
        Ok(c) => c,
        Err(e) => return write_error(out, &e),
    };
    out.write_all(b",\"params\":[")?;
    let mut io_error = None;
    let mut hypers: Vec<BTreeMap<String, f64>> = Vec::new();
    let mut evals: Vec<BTreeMap<String, Vec<f64>>> = Vec::new();
    let mut first = true;
    let result = replay::stream_case(&case, &mut |step: Step<'_>| {
        let written = (|| {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            write_map(out, step.params, |o, v: &Vec<f64>| write_list(&mut *o, v))
        })();
        if let Some(h) = step.hyperparams {
            hypers.push(h.clone());
        }
        if let Some(e) = step.eval_params {
            evals.push(e.clone());
        }
        written.map_err(|e| {
            let msg = format!("cannot write output: {e}");
            io_error = Some(e);
            msg
        })
    });
    if let Some(e) = io_error {
        return Err(e);
    }
    out.write_all(b"]")?;
    if !hypers.is_empty() {
        out.write_all(b",\"hyperparams\":[")?;
        for (i, h) in hypers.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_map(out, h, |o, &v: &f64| write_f64(&mut *o, v))?;
        }
        out.write_all(b"]")?;
    }
    if !evals.is_empty() {
        out.write_all(b",\"eval_params\":[")?;
        for (i, e) in evals.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_map(out, e, |o, v: &Vec<f64>| write_list(&mut *o, v))?;
        }
        out.write_all(b"]")?;
    }
    match result {
        Ok(values) => {
            out.write_all(b",\"values\":")?;
            write_list(out, &values)?;
            out.write_all(b"}")
        }
        Err(e) => write_error(out, &e),
    }
}

fn write_error(out: &mut impl Write, e: &str) -> io::Result<()> {
    out.write_all(b",\"error\":")?;
    write_str(out, e)?;
    out.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_stay_distinguishable() {
        let mut out = Vec::new();
        write_list(
            &mut out,
            &[1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-300],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[1.5,NaN,Infinity,-Infinity,1e-300]"
        );
    }
}
