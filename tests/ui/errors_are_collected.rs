use optim::optimizer;

// Three independent mistakes: all three are reported, not only the first.
#[optimizer]
fn many(#[bogus] a: f64, #[default(1.0)] a: f64) {
    each(|g| {
        ghost = g;
        g
    })
}

fn main() {}
