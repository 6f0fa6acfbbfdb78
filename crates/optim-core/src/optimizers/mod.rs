//! The built-in optimizers, each declared from its update equations with `#[optimizer]`,
//! one file per family. The optax aliases (`adam`, `sgd`, ...) and the primitives they are
//! composed of (`scale_by_adam`, ...) live side by side. Each file ends with its
//! [`family!`](crate::family) table of optax names.

pub mod adafactor;
pub mod adam;
pub mod lion;
pub mod novograd;
pub mod polyak;
pub mod rms;
pub mod sgd;
pub mod sm3;
pub mod trust;

pub use adafactor::*;
pub use adam::*;
pub use lion::*;
pub use novograd::*;
pub use polyak::*;
pub use rms::*;
pub use sgd::*;
pub use sm3::*;
pub use trust::*;
