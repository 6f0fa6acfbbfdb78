//! Number formatting shared by examples, documentation traces and tools.

/// Formats a value as Python's `'{:.2E}'.format(x)` does (`1.40E+01`).
pub fn python_e2(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NAN".into()
        } else if x > 0.0 {
            "INF".into()
        } else {
            "-INF".into()
        };
    }
    let s = format!("{x:.2E}");
    // Rust writes `1.40E1`; Python writes `1.40E+01`.
    let (mant, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let e: i32 = exp.parse().unwrap_or(0);
    format!("{mant}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_exponent_format() {
        assert_eq!(python_e2(14.0), "1.40E+01");
        assert_eq!(python_e2(0.385), "3.85E-01");
        assert_eq!(python_e2(5.006), "5.01E+00");
        assert_eq!(python_e2(1.2345e-12), "1.23E-12");
        assert_eq!(python_e2(-2.5e100), "-2.50E+100");
        assert_eq!(python_e2(0.0), "0.00E+00");
    }
}
