//! Setting hyperparameters by name, from loosely typed values: what `optim replay`, config
//! files and the registry of built-ins use. `#[optimizer]` implements [`Hyperparams`].

use crate::{Dtype, Error, LearningRate, Mask};

/// A loosely typed hyperparameter value (as read from JSON).
#[derive(Clone, Debug)]
pub enum Value {
    /// Python's `None`.
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// A schedule (or a constant).
    Rate(LearningRate),
    Mask(Mask),
}

/// Conversion from a [`Value`] into a hyperparameter's type.
pub trait FromValue: Sized {
    /// Converts, or says what was expected.
    fn from_value(v: Value) -> Result<Self, String>;
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => format!("the bool {b}"),
        Value::Num(x) => format!("the number {x}"),
        Value::Str(s) => format!("the string {s:?}"),
        Value::Rate(_) => "a schedule".into(),
        Value::Mask(_) => "a mask".into(),
    }
}

impl FromValue for f64 {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Num(x) => Ok(x),
            other => Err(format!("expected a number, got {}", describe(&other))),
        }
    }
}

impl FromValue for f32 {
    fn from_value(v: Value) -> Result<Self, String> {
        f64::from_value(v).map(|x| x as f32)
    }
}

impl FromValue for bool {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Bool(b) => Ok(b),
            other => Err(format!("expected true or false, got {}", describe(&other))),
        }
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value) -> Result<Self, String> {
                match v {
                    Value::Num(x) if x.fract() == 0.0 && x >= <$t>::MIN as f64 && x <= <$t>::MAX as f64 => Ok(x as $t),
                    other => Err(format!("expected an integer in range, got {}", describe(&other))),
                }
            }
        }
    )*};
}
int_from_value!(u64, usize, i64);

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl FromValue for LearningRate {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Num(x) => Ok(LearningRate::Constant(x)),
            Value::Rate(r) => Ok(r),
            other => Err(format!(
                "expected a number or a schedule, got {}",
                describe(&other)
            )),
        }
    }
}

impl FromValue for Mask {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(Mask::All),
            Value::Mask(m) => Ok(m),
            other => Err(format!(
                "expected a mask {{leaf: bool}}, got {}",
                describe(&other)
            )),
        }
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Str(s) => Ok(s),
            other => Err(format!("expected a string, got {}", describe(&other))),
        }
    }
}

impl FromValue for Dtype {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Str(s) => Dtype::parse(&s).ok_or_else(|| {
                format!("unknown dtype {s:?}; expected float32, float64, bfloat16 or float16")
            }),
            other => Err(format!("expected a dtype name, got {}", describe(&other))),
        }
    }
}

/// A configuration whose hyperparameters can be set by name.
pub trait Hyperparams: Sized {
    /// Every argument name, in declaration order.
    const NAMES: &'static [&'static str];
    /// The arguments without a default.
    const REQUIRED: &'static [&'static str];
    /// A configuration with defaults, and zero for the required arguments.
    fn blank() -> Self;
    /// Sets one argument; errors name it.
    fn set(&mut self, name: &str, value: Value) -> Result<(), Error>;

    /// A configuration from named arguments: every required one must be present, and
    /// every name must be known.
    fn from_args(
        transform: &str,
        args: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<Self, Error> {
        let mut cfg = Self::blank();
        let mut seen = Vec::new();
        for (k, v) in args {
            cfg.set(&k, v)?;
            seen.push(k);
        }
        for r in Self::REQUIRED {
            if !seen.iter().any(|s| s == r) {
                return Err(Error::Hyper {
                    transform: transform.into(),
                    arg: (*r).into(),
                    detail: "missing required argument".into(),
                });
            }
        }
        Ok(cfg)
    }
}

/// Helper for generated `set` impls: converts or names the argument in the error.
#[doc(hidden)]
pub fn convert<T: FromValue>(transform: &str, arg: &str, v: Value) -> Result<T, Error> {
    T::from_value(v).map_err(|detail| Error::Hyper {
        transform: transform.into(),
        arg: arg.into(),
        detail,
    })
}

/// Helper for generated `set` impls: the error for an unknown argument name.
#[doc(hidden)]
pub fn unknown(transform: &str, arg: &str, names: &[&str]) -> Error {
    Error::Hyper {
        transform: transform.into(),
        arg: arg.into(),
        detail: format!("unknown argument; expected one of: {}", names.join(", ")),
    }
}
