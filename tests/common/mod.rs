//! Shared by the registry-wide tests: any registered name, built with its required
//! arguments set, and the extra arguments that every registered name can step with.

// Each test crate uses part of this module.
#![allow(dead_code)]

use optim::registry::{self, Visitor};
use optim::{Error, Extra, Float, Objective, Value};

/// Answers a build error of the registry by setting the argument it names: a missing
/// required argument to `fill`, and a required count (the line searches'
/// `max_linesearch_steps`) that `fill` is not a whole number for to 4. Returns whether it
/// did.
pub fn fill_missing(args: &mut Vec<(String, Value)>, e: &Error, fill: f64) -> bool {
    let Error::Hyper { arg, detail, .. } = e else {
        return false;
    };
    if detail.contains("missing required") {
        args.push((arg.clone(), Value::Num(fill)));
        return true;
    }
    let filled = |v: &Value| matches!(v, Value::Num(x) if *x == fill);
    match args.iter_mut().find(|(k, v)| k == arg && filled(v)) {
        Some((_, v)) if detail.contains("integer") => {
            *v = Value::Num(4.0);
            true
        }
        _ => false,
    }
}

/// Extra arguments for any registered name: the objective value `value` (polyak_sgd, momo,
/// reduce_on_plateau read it) and the objective f(x) = ½Σx², gradient x, for the line
/// searches of lbfgs. The objective writes into the buffers it is given, so a step with
/// these arguments allocates nothing; build them once, outside a measured loop.
pub fn extra<F: Float>(value: f64) -> Extra {
    Extra::value(value).with_objective(Objective::<F>::flat(|x, grad| {
        let mut f = 0.0;
        for (x, g) in x.iter().zip(grad.iter_mut()) {
            for (&x, g) in x.iter().zip(g.iter_mut()) {
                f += 0.5 * x.f64() * x.f64();
                *g = x;
            }
        }
        Ok(f)
    }))
}

/// Builds `name` from the registry with `args`, and every required argument that `args`
/// leaves out set to `fill`, then hands it to `v`.
pub fn by_name_filled<F: Float, V: Visitor<F> + Clone>(
    name: &str,
    mut args: Vec<(String, Value)>,
    fill: f64,
    v: V,
) -> V::Out {
    for _ in 0..16 {
        match registry::by_name::<F, _>(name, args.clone(), v.clone()) {
            Ok(out) => return out,
            Err(e) => {
                if !fill_missing(&mut args, &e, fill) {
                    panic!("{name}: {e}")
                }
            }
        }
    }
    panic!("{name}: more than 16 required arguments")
}
