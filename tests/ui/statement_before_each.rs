use optim::{optimizer, LearningRate};

#[optimizer]
fn noisy(learning_rate: LearningRate) {
    println!("step");
    each(|g| g)
}

fn main() {}
