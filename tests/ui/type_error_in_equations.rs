use optim::{optimizer, LearningRate};

// The equations are type-checked with the element type: a bool is not a number.
#[optimizer]
fn typo(learning_rate: LearningRate, #[default(false)] nesterov: bool) {
    each(|g| g * nesterov)
}

fn main() {}
