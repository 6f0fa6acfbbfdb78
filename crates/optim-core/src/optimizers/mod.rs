//! The built-in optimizers, each declared from its update equations with `#[optimizer]`,
//! one file per family. The optax aliases (`adam`, `sgd`, ...) and the primitives they are
//! composed of (`scale_by_adam`, ...) live side by side. Each file ends with its
//! [`family!`](crate::family) table of optax names.

pub mod acprop;
pub mod adafactor;
pub mod adam;
pub mod adan;
pub mod ademamix;
pub mod adopt;
pub mod cocob;
pub mod dog;
pub mod lbfgs;
pub mod lion;
pub mod madgrad;
pub mod mechanic;
pub mod momo;
pub mod muon;
pub mod novograd;
pub mod optimistic;
pub mod polyak;
pub mod prodigy;
pub mod rms;
pub mod schedule_free;
pub mod sgd;
pub mod signed;
pub mod sm3;
pub mod trust;

pub use acprop::*;
pub use adafactor::*;
pub use adam::*;
pub use adan::*;
pub use ademamix::*;
pub use adopt::*;
pub use cocob::*;
pub use dog::*;
pub use lbfgs::*;
pub use lion::*;
pub use madgrad::*;
pub use mechanic::*;
pub use momo::*;
pub use muon::*;
pub use novograd::*;
pub use optimistic::*;
pub use polyak::*;
pub use prodigy::*;
pub use rms::*;
pub use schedule_free::*;
pub use sgd::*;
pub use signed::*;
pub use sm3::*;
pub use trust::*;
