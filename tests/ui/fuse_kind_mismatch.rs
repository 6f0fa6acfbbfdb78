use optim::{optimizer, scale_by_learning_rate, Mask};

// A stage's learning rate bound to a mask argument.
#[optimizer(fuse(scale_by_learning_rate(learning_rate = m)))]
pub fn odd(m: Mask) {}

fn main() {}
