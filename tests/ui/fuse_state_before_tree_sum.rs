use optim::{clip_by_global_norm, optimizer, scale_by_learning_rate, trace};

// The whole-tree sum runs before any stage keeps its state: a stateful stage may not
// precede it (a masked, stateless one may).
#[optimizer(fuse(trace(decay = 0.9), clip_by_global_norm, scale_by_learning_rate))]
pub fn momentum_then_clip(learning_rate: _, max_norm: _) {}

fn main() {}
