use optim::optimizer;

#[optimizer(unscaled)]
fn bad(#[state] mu: State) {
    let s = leaf_sum(|g| {
        mu = g;
        g * g
    });
    each(|g| g * s)
}

fn main() {}
