use optim::optimizer;

#[optimizer(unscaled)]
fn bad(#[state(leaf)] nu: State) {
    each(|g| {
        nu = g;
        g
    })
}

fn main() {}
