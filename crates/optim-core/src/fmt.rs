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

/// Formats a float32 as numpy prints one (`str(np.float32(x))`, as in
/// `print('Objective function: ', f(params))`): the shortest digits that round-trip,
/// with a `.0` on integral values, and in scientific notation (`1e-05`) below 1e-4 or
/// from 1e16 on.
pub fn python_str(x: f32) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Rust writes `1e-5`; numpy writes `1e-05`.
        let s = format!("{x:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = exp.parse().unwrap_or(0);
        return format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let s = format!("{x}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
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

    #[test]
    fn matches_numpy_float32_str() {
        assert_eq!(python_str(14.0), "14.0");
        assert_eq!(python_str(3.5), "3.5");
        assert_eq!(python_str(0.013671875), "0.013671875");
        assert_eq!(python_str(0.1), "0.1");
        assert_eq!(python_str(-2.0), "-2.0");
        assert_eq!(python_str(1e-5), "1e-05");
        assert_eq!(python_str(1.5e20), "1.5e+20");
        assert_eq!(python_str(0.0), "0.0");
    }
}
