//! Workspace tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! - `verify`: every documented trace, built-in and in `examples/`, checked against its
//!   documentation, its committed snapshot and optax ([`verify`]).
//! - `codemap`: the optimizer table of ARCHITECTURE.md, generated from the sources
//!   ([`codemap`]).
//!
//! The library holds the logic so that tests can drive it; `main.rs` only parses the
//! command line.

pub mod codemap;
pub mod verify;

/// The example crates of the workspace that declare documented traces, compiled into
/// this library by `build.rs` (no list is kept by hand).
pub mod examples {
    include!(concat!(env!("OUT_DIR"), "/examples.rs"));
}

use std::path::PathBuf;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}
