//! The built-in optimizers' own tests, one module per family of `src/optimizers/` (each
//! alias against its primitives, its equations by hand, its state and its defaults),
//! through the public API. They share the quadratic they optimize, `common`.

mod common;

mod acprop;
mod adam;
mod adan;
mod ademamix;
mod adopt;
mod cocob;
mod dog;
mod lbfgs;
mod lion;
mod madgrad;
mod mechanic;
mod momo;
mod muon;
mod optimistic;
mod prodigy;
mod rms;
mod schedule_free;
mod sgd;
mod signed;
