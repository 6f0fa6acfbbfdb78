use optim::{optimizer, LearningRate};

#[optimizer]
fn nothing(learning_rate: LearningRate) {
    let x = 1.0;
}

fn main() {}
