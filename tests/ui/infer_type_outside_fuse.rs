use optim::optimizer;

#[optimizer(unscaled)]
pub fn halve(factor: _) {
    each(|g| g * 0.5)
}

fn main() {}
