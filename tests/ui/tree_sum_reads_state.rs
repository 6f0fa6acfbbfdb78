use optim::optimizer;

// A whole-tree pass may read the per-element state, not a per-leaf scalar.
#[optimizer(unscaled)]
fn bad(#[state(leaf)] nu: State) {
    let s = tree_sum(|g| g * nu);
    let q = leaf_sum(|g| g * g);
    nu = q;
    each(|g| g * s)
}

fn main() {}
