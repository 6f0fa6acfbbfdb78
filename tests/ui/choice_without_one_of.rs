use optim::optimizer;

#[optimizer(unscaled)]
fn bad(#[default("a")] mode: String) {
    each(|g| g)
}

fn main() {}
