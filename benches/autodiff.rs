//! Forward+backward of a 784-256-10 MLP against dfdx (being written).

fn main() {}
