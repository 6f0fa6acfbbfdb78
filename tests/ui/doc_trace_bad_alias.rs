use optim::{optimizer, LearningRate};

#[optimizer(
    doc_trace(solver = plain(0.003), printed = "1.38E+01 1.37E+01 1.35E+01 1.33E+01 1.32E+01"),
    alias(name = "plain_fixed", momentum = 0.9)
)]
fn plain(learning_rate: LearningRate) {
    each(|g| g)
}

fn main() {}
