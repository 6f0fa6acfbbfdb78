//! The built-in optimizers by their optax names, for tools that choose one at run time
//! (`optim replay`, config files). Each optimizer family file lists its own names with
//! [`family!`](crate::family); this file only lists the families.

use crate::{Error, Float, Hyperparams, Transformation, Value};

/// Receives the optimizer that [`by_name`] built, with its concrete type.
pub trait Visitor<F: Float> {
    type Out;
    fn visit<T: Transformation<F> + Hyperparams>(self, t: T) -> Self::Out;
}

/// Declares the by-name table of one family file: `family! { "adam" => Adam, ... }`.
/// A name may fix arguments: `"x_fix" => X { "initial_fix": Value::Bool(true) }`.
#[macro_export]
#[doc(hidden)]
macro_rules! family {
    ($($name:literal => $ty:ty $({ $($k:literal : $v:expr),* })?,)*) => {
        /// The optax names this family answers to.
        pub(crate) const NAMES: &[&str] = &[$($name),*];

        pub(crate) fn build<F: $crate::Float, V: $crate::registry::Visitor<F>>(
            name: &str,
            args: Vec<(String, $crate::Value)>,
            v: V,
        ) -> Result<V::Out, $crate::Error> {
            match name {
                $($name => {
                    #[allow(unused_mut)]
                    let mut args = args;
                    $($(
                        if args.iter().any(|(k, _)| k == $k) {
                            return Err($crate::Error::Hyper { transform: $name.into(), arg: $k.into(), detail: "is fixed by this name".into() });
                        }
                        args.push(($k.to_string(), $v));
                    )*)?
                    Ok(v.visit(<$ty as $crate::Hyperparams>::from_args($name, args)?))
                })*
                _ => Err($crate::registry::unknown(name)),
            }
        }
    };
}

macro_rules! families {
    ($($m:ident),*) => {
        /// Every name [`by_name`] accepts.
        pub fn names() -> Vec<&'static str> {
            let mut v = Vec::new();
            $(v.extend_from_slice(crate::optimizers::$m::NAMES);)*
            v
        }

        /// Builds the optimizer named `name` (optax's alias name) from optax-style
        /// arguments and hands it to `v`. Unknown names and arguments are errors.
        pub fn by_name<F: Float, V: Visitor<F>>(
            name: &str,
            args: Vec<(String, Value)>,
            v: V,
        ) -> Result<V::Out, Error> {
            $(if crate::optimizers::$m::NAMES.contains(&name) {
                return crate::optimizers::$m::build(name, args, v);
            })*
            Err(unknown(name))
        }
    };
}

families!(adam, sgd, rms, lion, adafactor, sm3);

#[doc(hidden)]
pub fn unknown(name: &str) -> Error {
    Error::Hyper {
        transform: name.into(),
        arg: "optimizer".into(),
        detail: format!("unknown optimizer; known: {}", names().join(", ")),
    }
}
