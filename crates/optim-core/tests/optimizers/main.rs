//! The built-in optimizers' own tests, one module per family of `src/optimizers/` (each
//! alias against its primitives, its equations by hand, its state and its defaults),
//! through the public API. They share the quadratic they optimize, `common`.

mod common;

mod adam;
mod lion;
mod rms;
mod sgd;
