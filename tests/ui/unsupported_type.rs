use optim::{optimizer, LearningRate};

#[optimizer]
fn named(learning_rate: LearningRate, #[default(Vec::new())] label: Vec<f64>) {
    each(|g| g)
}

fn main() {}
