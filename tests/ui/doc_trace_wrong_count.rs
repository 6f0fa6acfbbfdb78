use optim::{optimizer, LearningRate};

// The seed's example prints 5 lines after the initial one; 4 are documented here.
#[optimizer(doc_trace(solver = plain(0.003), printed = "1.38E+01 1.37E+01 1.35E+01 1.33E+01"))]
fn plain(learning_rate: LearningRate) {
    each(|g| g)
}

fn main() {}
