use optim::{optimizer, LearningRate};

#[optimizer]
fn named(learning_rate: LearningRate, #[default(String::new())] label: String) {
    each(|g| g)
}

fn main() {}
