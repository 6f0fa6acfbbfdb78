//! The sgd family.

crate::family! {}
