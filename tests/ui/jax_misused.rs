use optim::optimizer;

// `jax!` names a numeric argument, in per-step code only.
#[optimizer(unscaled)]
fn bad(
    #[default(0.9)] decay: f64,
    #[default(false)] debias: bool,
    #[state] m: State,
) {
    let flag = jax!(debias);
    let c = bias_correction(jax!(other), t);
    each(|g| {
        m = moment(g, m, 1.0 - decay, decay);
        m / jax!(decay).value
    })
}

fn main() {}
