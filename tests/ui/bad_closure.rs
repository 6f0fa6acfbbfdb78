use optim::{optimizer, LearningRate};

#[optimizer]
fn four(learning_rate: LearningRate) {
    each(|g, p, pos, extra| g)
}

fn main() {}
