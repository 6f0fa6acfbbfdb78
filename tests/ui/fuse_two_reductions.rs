use optim::{clip_by_global_norm, optimizer, scale_by_learning_rate, scale_by_trust_ratio};

#[optimizer(fuse(clip_by_global_norm, scale_by_trust_ratio, scale_by_learning_rate))]
pub fn clipped_trust(learning_rate: _, max_norm: _) {}

fn main() {}
