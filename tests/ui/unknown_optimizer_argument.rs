use optim::{optimizer, LearningRate};

#[optimizer(fused)]
fn plain(learning_rate: LearningRate) {
    each(|g| g)
}

fn main() {}
