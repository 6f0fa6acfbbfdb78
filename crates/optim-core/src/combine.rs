//! Building blocks that optax's aliases are composed of.
