use optim::{optimizer, scale_by_adam, scale_by_learning_rate, scale_by_trust_ratio};

// Both `scale_by_adam` and `scale_by_trust_ratio` take `eps`: one must be bound.
#[optimizer(fuse(scale_by_adam, scale_by_trust_ratio, scale_by_learning_rate))]
pub fn my_lamb(learning_rate: _, eps: _) {}

fn main() {}
