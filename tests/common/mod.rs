//! Shared by the registry-wide tests: any registered name, built with its required
//! arguments set.

use optim::registry::{self, Visitor};
use optim::{Error, Float, Value};

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
            Err(Error::Hyper { arg, detail, .. }) if detail.contains("missing required") => {
                args.push((arg, Value::Num(fill)));
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    panic!("{name}: more than 16 required arguments")
}
