use optim::{optimizer, scale_by_adam, scale_by_learning_rate};

#[optimizer(fuse(scale_by_adam, scale_by_learning_rate))]
pub fn my_adam(learning_rate: _, b3: _) {}

fn main() {}
