use optim::{optimizer, LearningRate};

#[optimizer]
fn twice(learning_rate: LearningRate, #[default(0.9)] beta: f64, #[state] beta: State) {
    each(|g| g)
}

fn main() {}
