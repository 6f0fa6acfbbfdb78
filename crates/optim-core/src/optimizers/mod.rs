//! The built-in optimizers, each declared from its update equations with `#[optimizer]`,
//! one file per family. The optax aliases (`adam`, `sgd`, ...) and the primitives they are
//! composed of (`scale_by_adam`, ...) live side by side.

mod adam;
pub use adam::*;
