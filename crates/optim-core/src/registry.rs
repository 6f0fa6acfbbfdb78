//! The built-in optimizers by their optax names, for tools that choose one at run time
//! (`optim replay`, config files).
//!
//! No list is kept by hand: `build.rs` scans the modules of `src/optimizers/` and
//! `src/primitives/` for declarations with a documented trace
//! (`#[optimizer(doc_trace(...))]`, or `#[doc_trace(...)]` on a hand-written optimizer)
//! and generates the `registered!` list of their types. Each answers to its optax name
//! (`DocTrace::name`) and to its aliases ([`DocTraced::aliases`], names that fix some
//! arguments). So an optimizer is registered because its documentation carries the
//! seed's example, and a new module under `src/optimizers/` or `src/primitives/` joins by
//! declaring one. Every other `#[optimizer]` declaration there (a primitive such as
//! `scale_by_adam`) answers to its function's name (`declared!`). A hand-written
//! primitive (such as `scale_by_sm3`) registers with a [`family!`](crate::family) table
//! in its module's file (a folder module: in its `mod.rs`); `build.rs` finds those too
//! and lists the modules' paths in `untraced_families!`. `cargo xtask verify` fails on a registered
//! optimizer that optax documents but whose docs carry no trace.

use crate::{DocTrace, DocTraced, Error, Float, Hyperparams, Transformation, Value};

include!(concat!(env!("OUT_DIR"), "/registered.rs"));

/// Receives the optimizer that [`by_name`] built, with its concrete type.
///
/// Every registered configuration is also `Clone + Debug + Send + Sync + 'static`, so a
/// visitor may box it ([`crate::expr::Boxed`]) or wrap it (`inject_hyperparams`); a
/// visitor that needs less may declare less.
pub trait Visitor<F: Float> {
    type Out;
    fn visit<T: Transformation<F> + Hyperparams + Clone + std::fmt::Debug + Send + Sync + 'static>(
        self,
        t: T,
    ) -> Self::Out
    where
        T::State: crate::StateTensors<F>;
}

/// Registers names of one module that carry no documented trace (primitives):
/// `family! { "scale_by_sm3" => ScaleBySm3, ... }`; a name may fix arguments:
/// `"x_fix" => X { "initial_fix": Value::Bool(true) }`. `build.rs` finds the table; a
/// name that also has a documented trace is taken from the trace.
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

/// The documented trace of every registered built-in, in file and declaration order.
pub fn doc_traces() -> Vec<DocTrace> {
    macro_rules! traces {
        ($($t:ty,)*) => {
            vec![$(<$t as DocTraced>::DOC_TRACE,)*]
        };
    }
    registered!(traces)
}

/// Every name [`by_name`] accepts.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    macro_rules! traced {
        ($($t:ty,)*) => {$(
            v.push(<$t as DocTraced>::DOC_TRACE.name);
            v.extend(<$t as DocTraced>::aliases().into_iter().map(|(n, _)| n));
        )*};
    }
    registered!(traced);
    macro_rules! untraced {
        ($($($m:ident)::+),*) => {$(
            for n in $($m)::+::NAMES {
                if !v.contains(n) {
                    v.push(n);
                }
            }
        )*};
    }
    untraced_families!(untraced);
    macro_rules! declared_names {
        ($($n:literal => $t:ty,)*) => {$(
            if !v.contains(&$n) {
                v.push($n);
            }
        )*};
    }
    declared!(declared_names);
    v
}

/// Builds the optimizer named `name` (optax's alias name) from optax-style
/// arguments and hands it to `v`. Unknown names and arguments are errors.
pub fn by_name<F: Float, V: Visitor<F>>(
    name: &str,
    args: Vec<(String, Value)>,
    v: V,
) -> Result<V::Out, Error> {
    macro_rules! traced {
        ($($t:ty,)*) => {$(
            if <$t as DocTraced>::DOC_TRACE.name == name {
                return build::<F, V, $t>(name, args, Vec::new(), v);
            }
            for (alias, fixed) in <$t as DocTraced>::aliases() {
                if alias == name {
                    return build::<F, V, $t>(name, args, fixed, v);
                }
            }
        )*};
    }
    registered!(traced);
    macro_rules! untraced {
        ($($($m:ident)::+),*) => {$(
            if $($m)::+::NAMES.contains(&name) {
                return $($m)::+::build(name, args, v);
            }
        )*};
    }
    untraced_families!(untraced);
    macro_rules! declared_build {
        ($($n:literal => $t:ty,)*) => {$(
            if name == $n {
                return build::<F, V, $t>(name, args, Vec::new(), v);
            }
        )*};
    }
    declared!(declared_build);
    Err(unknown(name))
}

fn build<
    F: Float,
    V: Visitor<F>,
    T: Hyperparams + Transformation<F> + Clone + std::fmt::Debug + Send + Sync + 'static,
>(
    name: &str,
    mut args: Vec<(String, Value)>,
    fixed: Vec<(&'static str, Value)>,
    v: V,
) -> Result<V::Out, Error>
where
    T::State: crate::StateTensors<F>,
{
    for (k, value) in fixed {
        if args.iter().any(|(a, _)| a == k) {
            return Err(Error::Hyper {
                transform: name.into(),
                arg: k.into(),
                detail: "is fixed by this name".into(),
            });
        }
        args.push((k.to_string(), value));
    }
    Ok(v.visit(T::from_args(name, args)?))
}

#[doc(hidden)]
pub fn unknown(name: &str) -> Error {
    Error::Hyper {
        transform: name.into(),
        arg: "optimizer".into(),
        detail: format!("unknown optimizer; known: {}", names().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;
    impl<F: Float> Visitor<F> for Name {
        type Out = &'static str;
        fn visit<T: Transformation<F> + Hyperparams>(self, t: T) -> &'static str {
            t.name()
        }
    }

    #[test]
    fn every_name_resolves_to_its_optimizer() {
        for n in names() {
            // Without arguments a name either builds or misses a required argument; it
            // is never unknown.
            match by_name::<f32, _>(n, vec![], Name) {
                Ok(_) => {}
                Err(Error::Hyper { arg, detail, .. }) => {
                    assert!(arg != "optimizer", "{n}: {detail}");
                }
                Err(e) => panic!("{n}: {e}"),
            }
        }
        let lr = vec![("learning_rate".to_string(), Value::Num(0.1))];
        assert_eq!(by_name::<f32, _>("sgd", lr, Name).unwrap(), "sgd");
    }

    #[test]
    fn traced_names_are_unique_and_registered() {
        let traces = doc_traces();
        let names = names();
        for (i, t) in traces.iter().enumerate() {
            assert!(
                names.contains(&t.name),
                "{} is traced but not registered",
                t.name
            );
            assert!(
                traces[..i].iter().all(|u| u.name != t.name),
                "{} has two documented traces",
                t.name
            );
        }
    }

    #[test]
    fn an_alias_fixes_its_argument() {
        let fixed = by_name::<f32, _>(
            "optimistic_gradient_descent_initial_fix",
            vec![
                ("learning_rate".into(), Value::Num(0.1)),
                ("initial_fix".into(), Value::Bool(false)),
            ],
            Name,
        );
        let e = fixed
            .expect_err("initial_fix is fixed by the name")
            .to_string();
        assert!(e.contains("initial_fix") && e.contains("fixed"), "{e}");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = by_name::<f32, _>("adamm", vec![], Name)
            .unwrap_err()
            .to_string();
        assert!(e.contains("adamm") && e.contains("known:"), "{e}");
    }
}
