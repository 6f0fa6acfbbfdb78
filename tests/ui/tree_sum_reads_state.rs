use optim::optimizer;

#[optimizer(unscaled)]
fn bad(#[state] mu: State) {
    let s = tree_sum(|g| g * mu);
    each(|g| g * s)
}

fn main() {}
