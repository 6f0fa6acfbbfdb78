use optim::{adam, optimizer};

#[optimizer(partial(adam, nesterv = true))]
pub fn my_nadam() {}

fn main() {}
