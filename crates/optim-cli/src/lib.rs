//! The `optim` command-line tool's library: reading optax reference case files and
//! replaying them with optim's optimizers (`optim replay`), and checking a replay
//! against the expected traces with the reference tolerances.

pub mod case;
pub mod check;
pub mod output;
pub mod replay;
