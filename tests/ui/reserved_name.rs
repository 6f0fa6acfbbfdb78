use optim::{optimizer, LearningRate};

#[optimizer]
fn clock(learning_rate: LearningRate, #[default(1.0)] t: f64) {
    each(|g| g)
}

fn main() {}
