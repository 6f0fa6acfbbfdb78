use optim::optimizer;

// `#[at(t)]` chooses where a schedule is evaluated: only a learning rate has one.
#[optimizer(unscaled)]
fn bad(#[at(t)] decay: f64) {
    each(|g| decay * g)
}

fn main() {}
