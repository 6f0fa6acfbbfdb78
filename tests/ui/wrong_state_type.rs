use optim::{optimizer, LearningRate};

#[optimizer]
fn momentum(learning_rate: LearningRate, #[state] velocity: f64) {
    each(|g| {
        velocity = velocity + g;
        velocity
    })
}

fn main() {}
