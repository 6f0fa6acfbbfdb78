use optim::{optimizer, LearningRate};

#[optimizer]
fn sgd_like(learning_rate: LearningRate, #[defualt(0.9)] beta: f64) {
    each(|g| g)
}

fn main() {}
