//! The optax schedules against values computed by optax 0.2.8 (see `data/PROVENANCE.md`):
//! `at` against the float64 values of `data/schedules.json` (`reference`), `at_count`
//! (what an optimizer uses) bit for bit against optax on an int32 step count,
//! `data/schedules_int32_count.json` (`int32_count`), the serde form and the arguments
//! optax rejects (`spec`), and the learning-rate plumbing (`learning_rate`).

mod int32_count;
mod learning_rate;
mod reference;
mod spec;

/// The number of steps each data file holds per schedule.
const STEPS: usize = 30;
