//! `LearningRate`'s optax values and jax's `jnp.where` promotion.

use optim_core::schedule::{linear_schedule, JaxDtype, JaxMode, JaxScalar, LearningRate};

#[test]
fn a_constant_learning_rate_keeps_full_precision() {
    let rate = LearningRate::from(0.1);
    assert_eq!(rate.optax_value(3), 0.1);
    assert_eq!(rate.optax_value_in(3, JaxMode::X32), 0.1);
}

#[test]
fn the_step_counter_saturates_at_i32_max() {
    let rate = LearningRate::from(linear_schedule(1.0, 0.0, u64::from(u32::MAX), 0));
    let at_max = rate.optax_value(i32::MAX as u64);
    assert_eq!(rate.optax_value(u64::MAX), at_max);
    assert_eq!(rate.optax_value(i32::MAX as u64 + 1), at_max);
}

#[test]
fn jnp_where_promotes_as_jax_does() {
    let weak64 = JaxScalar::new(0.1, JaxDtype::Float64, true);
    let strong32 = JaxScalar::new(0.3, JaxDtype::Float32, false);
    let strong64 = JaxScalar::new(0.7, JaxDtype::Float64, false);
    let weak32 = JaxScalar::new(0.9, JaxDtype::Float32, true);
    // A strongly typed float32 rounds a weakly typed float64 to float32.
    assert_eq!(
        weak64.select(true, strong32),
        JaxScalar {
            value: f64::from(0.1f32),
            dtype: JaxDtype::Float32,
            weak: false
        }
    );
    assert_eq!(strong32.select(false, weak64).dtype, JaxDtype::Float32);
    // Two strongly typed floats give the wider one.
    assert_eq!(strong32.select(true, strong64).dtype, JaxDtype::Float64);
    assert_eq!(strong32.select(true, strong64).value, f64::from(0.3f32));
    // Two weakly typed floats stay weak.
    assert_eq!(weak64.select(false, weak64), weak64);
    assert!(weak32.select(true, weak64).weak);
}
