//! The seed's example, with gradients from optim's autodiff instead of `jax.grad`: five
//! steps of Adam (learning rate 0.003) on `f(x) = Σ x²` from `[1, 2, 3]`, printing the
//! objective as the seed does.
//!
//! `cargo run --release --example quickstart` prints
//!
//! ```text
//! Objective function:  14.0
//! Objective function: 1.40E+01
//! Objective function: 1.39E+01
//! Objective function: 1.39E+01
//! Objective function: 1.39E+01
//! Objective function: 1.38E+01
//! ```
//!
//! Its test (`cargo test --example quickstart`, part of `cargo test`) checks these lines
//! against the seed's printed trace for `optax.adam`.

use optim::autodiff::{value_and_grad, Graph, Result as AdResult, Var};
use optim::{adam, python_e2, Tensor, TensorMap, Transformation};
use std::collections::BTreeMap;

/// The loss, written with the engine's ops: `f(x) = Σ x²`.
fn f(g: &mut Graph<f32>, p: &BTreeMap<String, Var>) -> AdResult<Var> {
    let x = p["x"];
    let sq = g.mul(x, x)?;
    g.sum(sq)
}

/// The lines the example prints. jax computes in float32 by default, so do we.
fn trace() -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let solver = adam(0.003);
    let mut params: TensorMap<f32> = TensorMap::new();
    params.insert("x".into(), Tensor::vector(vec![1.0, 2.0, 3.0]));
    let (value, _) = value_and_grad(&params, f)?;
    // Python prints a float32 scalar with `print(...)` as `14.0`; Rust's `{:?}` agrees.
    let mut lines = vec![format!("Objective function:  {value:?}")];
    let mut opt_state = solver.init(&params)?;
    for _ in 0..5 {
        let (_, grad) = value_and_grad(&params, f)?;
        solver.step(&mut params, &grad, &mut opt_state)?;
        let (value, _) = value_and_grad(&params, f)?;
        lines.push(format!("Objective function: {}", python_e2(value as f64)));
    }
    Ok(lines)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for line in trace()? {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// optax's documented trace for `adam(learning_rate=0.003)` on this problem, copied
    /// from the seed document (`shared/seed/000_22db407d75dd3b67.txt`, the `optax.adam`
    /// example).
    const SEED: [&str; 6] = [
        "Objective function:  14.0",
        "Objective function: 1.40E+01",
        "Objective function: 1.39E+01",
        "Objective function: 1.39E+01",
        "Objective function: 1.39E+01",
        "Objective function: 1.38E+01",
    ];

    #[test]
    fn prints_the_seed_trace() {
        assert_eq!(trace().unwrap(), SEED);
    }

    /// Guards the copy above: where the seed document is checked out beside the
    /// repository (as in CI), its adam example must print exactly these lines.
    #[test]
    fn the_copied_trace_is_the_seed_s() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/seed/000_22db407d75dd3b67.txt"
        );
        let Ok(doc) = std::fs::read_to_string(path) else {
            eprintln!("{path} is not here; the copied trace is checked by review only");
            return;
        };
        let start = doc
            .find(">>> solver = optax.adam(learning_rate=0.003)")
            .expect("the seed has the adam example");
        let printed: Vec<&str> = doc[start..]
            .lines()
            .filter(|l| l.starts_with("Objective function:"))
            .take(6)
            .collect();
        assert_eq!(printed, SEED);
    }
}
