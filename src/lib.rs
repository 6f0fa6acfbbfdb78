#![doc = include_str!("../README.md")]

pub use optim_core::*;
