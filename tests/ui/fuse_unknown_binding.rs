use optim::{optimizer, scale_by_adam, scale_by_learning_rate};

#[optimizer(fuse(scale_by_adam(beta1 = 0.8), scale_by_learning_rate))]
pub fn my_adam(learning_rate: _) {}

fn main() {}
