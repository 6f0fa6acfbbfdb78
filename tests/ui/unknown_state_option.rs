use optim::{optimizer, LearningRate};

#[optimizer]
fn momentum(learning_rate: LearningRate, #[state(init = 0.0, dtyp = mu_dtype)] mu: State) {
    each(|g| {
        mu = mu + g;
        mu
    })
}

fn main() {}
