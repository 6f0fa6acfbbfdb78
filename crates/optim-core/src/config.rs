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
    /// A list (optax's tuples: `betas`, DoG's `init_step`).
    List(Vec<Value>),
}

/// Conversion from a [`Value`] into a hyperparameter's type.
pub trait FromValue: Sized {
    /// Converts, or returns an [`Error::BadValue`] saying what was expected (which
    /// [`convert`] turns into an [`Error::Hyper`] naming the argument).
    fn from_value(v: Value) -> Result<Self, Error>;
}

/// The error for a value `v` that is not `expected`.
fn bad_value(expected: &str, v: &Value) -> Error {
    Error::BadValue {
        expected: expected.into(),
        got: describe(v),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => format!("the bool {b}"),
        Value::Num(x) => format!("the number {x}"),
        Value::Str(s) => format!("the string {s:?}"),
        Value::Rate(_) => "a schedule".into(),
        Value::Mask(_) => "a mask".into(),
        Value::List(v) => format!("a list of {}", v.len()),
    }
}

impl FromValue for f64 {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Num(x) => Ok(x),
            other => Err(bad_value("a number", &other)),
        }
    }
}

impl FromValue for f32 {
    fn from_value(v: Value) -> Result<Self, Error> {
        f64::from_value(v).map(|x| x as f32)
    }
}

impl FromValue for bool {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Bool(b) => Ok(b),
            other => Err(bad_value("true or false", &other)),
        }
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value) -> Result<Self, Error> {
                match v {
                    Value::Num(x) if x.fract() == 0.0 && x >= <$t>::MIN as f64 && x <= <$t>::MAX as f64 => Ok(x as $t),
                    other => Err(bad_value("an integer in range", &other)),
                }
            }
        }
    )*};
}
int_from_value!(u64, usize, i64);

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl<A: FromValue, B: FromValue> FromValue for (A, B) {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::List(v) => match <[Value; 2]>::try_from(v) {
                Ok([a, b]) => Ok((A::from_value(a)?, B::from_value(b)?)),
                Err(v) => Err(bad_value("a pair [a, b]", &Value::List(v))),
            },
            other => Err(bad_value("a pair [a, b]", &other)),
        }
    }
}

impl FromValue for LearningRate {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Num(x) => Ok(LearningRate::Constant(x)),
            Value::Rate(r) => Ok(r),
            other => Err(bad_value("a number or a schedule", &other)),
        }
    }
}

impl FromValue for Mask {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Null => Ok(Mask::All),
            Value::Mask(m) => Ok(m),
            other => Err(bad_value("a mask {leaf: bool}", &other)),
        }
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Str(s) => Ok(s),
            other => Err(bad_value("a string", &other)),
        }
    }
}

impl FromValue for Dtype {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Str(s) => Dtype::parse(&s).ok_or_else(|| {
                bad_value(
                    "a dtype name (float32, float64, bfloat16 or float16)",
                    &Value::Str(s),
                )
            }),
            other => Err(bad_value("a dtype name", &other)),
        }
    }
}

/// Conversion of a hyperparameter's current value back into a [`Value`]: what
/// [`Hyperparams::get`] returns, so wrappers such as `inject_hyperparams` can read an
/// optimizer's numeric hyperparameters by name. Implemented for every [`FromValue`] type.
pub trait ToValue {
    /// The value, as [`FromValue::from_value`] would accept it back.
    fn to_value(&self) -> Value;
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Num(*self)
    }
}

impl ToValue for f32 {
    fn to_value(&self) -> Value {
        Value::Num(*self as f64)
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Num(*self as f64)
            }
        }
    )*};
}
int_to_value!(u64, usize, i64);

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            None => Value::Null,
            Some(v) => v.to_value(),
        }
    }
}

impl ToValue for LearningRate {
    fn to_value(&self) -> Value {
        match self {
            LearningRate::Constant(x) => Value::Num(*x),
            schedule => Value::Rate(schedule.clone()),
        }
    }
}

impl ToValue for Mask {
    fn to_value(&self) -> Value {
        Value::Mask(self.clone())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Str(self.clone())
    }
}

impl ToValue for Dtype {
    fn to_value(&self) -> Value {
        Value::Str(self.name().into())
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

    /// Sets numeric argument `name` to a jax scalar: its value, as [`set`](Self::set) with
    /// [`Value::Num`] does, and whether jax holds it as a float32 array (`single`), which
    /// the per-step code of `#[optimizer]` declarations reads through `jax!(name)` (see
    /// [`dsl::Jax`](crate::dsl::Jax)); `inject_hyperparams` sets its values this way. The
    /// default, for configurations written by hand, ignores `single`.
    fn set_jax(&mut self, name: &str, value: f64, single: bool) -> Result<(), Error> {
        let _ = single;
        self.set(name, Value::Num(value))
    }

    /// The current value of argument `name`, or `None` for a name the configuration
    /// does not have. `#[optimizer]` and `hand_hyperparams!` implement it; the default
    /// (for configurations written entirely by hand) knows no argument.
    fn get(&self, name: &str) -> Option<Value> {
        let _ = name;
        None
    }

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

/// Helper for generated `set` impls: converts, or returns an [`Error::Hyper`] naming
/// the transformation and the argument.
#[doc(hidden)]
pub fn convert<T: FromValue>(transform: &str, arg: &str, v: Value) -> Result<T, Error> {
    T::from_value(v).map_err(|e| Error::Hyper {
        transform: transform.into(),
        arg: arg.into(),
        detail: e.to_string(),
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

impl<A: ToValue, B: ToValue> ToValue for (A, B) {
    fn to_value(&self) -> Value {
        Value::List(vec![self.0.to_value(), self.1.to_value()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_of_the_wrong_type_says_what_was_expected_and_convert_names_the_argument() {
        let high = || Value::Str("high".into());
        assert_eq!(
            f64::from_value(high()).unwrap_err(),
            Error::BadValue {
                expected: "a number".into(),
                got: "the string \"high\"".into(),
            }
        );
        assert_eq!(
            convert::<f64>("adam", "b1", high()).unwrap_err(),
            Error::Hyper {
                transform: "adam".into(),
                arg: "b1".into(),
                detail: "expected a number, got the string \"high\"".into(),
            }
        );
        let dtype = convert::<Dtype>("adafactor", "dtype", Value::Str("float8".into()));
        assert_eq!(
            dtype.unwrap_err().to_string(),
            "`adafactor`: argument `dtype`: expected a dtype name (float32, float64, bfloat16 \
             or float16), got the string \"float8\""
        );
        assert_eq!(
            Option::<u64>::from_value(Value::Num(1.5)).unwrap_err(),
            Error::BadValue {
                expected: "an integer in range".into(),
                got: "the number 1.5".into(),
            }
        );
        assert_eq!(Option::<u64>::from_value(Value::Null).unwrap(), None);
    }
}
