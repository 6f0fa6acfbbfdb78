use optim::{optimizer, LearningRate};

#[optimizer]
fn momentum(learning_rate: LearningRate, #[default(0.9)] beta: f64) {
    each(|g| {
        velocity = beta * velocity + g;
        velocity
    })
}

fn main() {}
