use optim::{optimizer, scale_by_learning_rate, trace};

// `trace`'s `decay` has no default: it needs a binding or an argument.
#[optimizer(fuse(trace, scale_by_learning_rate))]
pub fn heavy_ball(learning_rate: _) {}

fn main() {}
