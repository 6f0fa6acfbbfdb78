//! The rms family.

crate::family! {}
