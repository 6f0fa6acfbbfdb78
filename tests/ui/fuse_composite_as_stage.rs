use optim::{adam, optimizer, scale};

#[optimizer(fuse(adam, scale(step_size = 0.5)))]
pub fn half_adam(learning_rate: _) {}

fn main() {}
