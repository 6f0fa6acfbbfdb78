use optim::optimizer;

#[optimizer]
fn no_lr(#[default(0.9)] beta: f64) {
    each(|g| beta * g)
}

fn main() {}
