//! The optax schedules (filled in by the schedules work).
