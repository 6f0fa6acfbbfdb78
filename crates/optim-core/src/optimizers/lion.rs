//! The lion family.

crate::family! {}
