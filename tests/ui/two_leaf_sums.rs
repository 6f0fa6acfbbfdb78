use optim::optimizer;

#[optimizer(unscaled)]
fn bad() {
    let a = leaf_sum(|g| g * g);
    let b = leaf_sum(|g| g);
    each(|g| g * a * b)
}

fn main() {}
