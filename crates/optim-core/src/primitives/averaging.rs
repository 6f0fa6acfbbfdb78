//! Schedule-free averaging (optax.contrib's `schedule_free`), as a primitive that
//! post-processes a base optimizer's updates: [`scale_by_schedule_free`] keeps the base
//! iterate `z` (a copy of the params at `init`) and turns the base update `u` into the
//! move of the interpolated point `y` where the gradients are taken. optax writes
//! `schedule_free(base_optimizer, ...)` as a wrapper; since the wrapper only reads the
//! base's updates, the params and its own state, it is `chain(base, scale_by_schedule_free)`
//! here ([`schedule_free`]), and the aliases [`schedule_free_sgd`](fn@crate::schedule_free_sgd)
//! and [`schedule_free_adamw`](fn@crate::schedule_free_adamw) fuse it with their base.
//!
//! The params are the gradient point `y`; the point at which to evaluate the model is
//! [`schedule_free_eval_params`], as in optax.

use crate::{optimizer, Buf, Chain, Error, Float, LearningRate, Path, Tree};

/// The schedule-free step on a base optimizer's update `u` (the post-processing of
/// optax.contrib's `schedule_free`): with `z ← z + u`, the averaging weight
/// `c = lr_max^p / Σ lr_max^p` (`lr_max` the largest learning rate so far, `p` the
/// `weight_lr_power`), the average `x ← (1 − c)·x + c·z` (with `x` recovered from
/// `y = b1·x + (1 − b1)·z`), the new gradient point is `y = b1·x + (1 − b1)·z`, and the
/// update is its difference from the params.
///
/// optax's wrapper evaluates a scheduled learning rate at its own 1-based step count.
///
/// References: Defazio et al, 2024, *The Road Less Scheduled*.
#[optimizer(unscaled)]
pub fn scale_by_schedule_free(
    /// The base optimizer's learning rate (constant or scheduled), which weighs the
    /// average.
    #[at(t)]
    #[check(learning_rate.is_finite())]
    learning_rate: LearningRate,
    /// The interpolation between the average `x` and the base iterate `z` at which the
    /// gradients are taken.
    #[default(0.9)]
    #[check(b1 > 0.0 && b1 <= 1.0)]
    b1: f64,
    /// The power of the largest learning rate so far in the averaging weights.
    #[default(2.0)]
    #[check(weight_lr_power.is_finite())]
    weight_lr_power: f64,
    /// The base iterate `z`, a copy of the params at `init` (stored as `state_dtype`).
    #[state(init = params, dtype = state_dtype)]
    z: State,
    /// `b1`, kept in the state as optax keeps it, for [`schedule_free_eval_params`].
    #[state(tree, init = b1)]
    b1_state: State,
    /// The sum of the averaging weights so far.
    #[state(tree)]
    weight_sum: State,
    /// The largest learning rate so far.
    #[state(tree)]
    max_lr: State,
) {
    max_lr = maximum(max_lr, learning_rate);
    let weight = max_lr.powf(weight_lr_power);
    weight_sum = weight_sum + weight;
    let ck = averaging_weight(weight, weight_sum);
    let one_minus_ck = 1.0 - ck;
    let one_minus_b1 = 1.0 - b1;
    each(|g, p| {
        let prev_x = (p - one_minus_b1 * z) / b1;
        z = z + g;
        let x = one_minus_ck * prev_x + ck * z;
        (b1 * x + one_minus_b1 * z) - p
    })
}

/// `base_optimizer` made schedule-free (optax.contrib's `schedule_free`): its updates
/// move the base iterate `z`, and the params become the interpolated gradient point.
/// `learning_rate` is the base's own, which weighs the average.
pub fn schedule_free<T>(
    base_optimizer: T,
    learning_rate: impl Into<LearningRate>,
) -> Chain<T, ScaleByScheduleFree> {
    Chain(base_optimizer, scale_by_schedule_free(learning_rate))
}

/// A state that holds schedule-free's base iterate `z` and interpolation `b1`: what
/// [`schedule_free_eval_params`] reads.
pub trait ScheduleFreeState<F: Float> {
    /// The interpolation `b1` the state was built with.
    fn b1(&self) -> F;
    /// The base iterate `z`, one buffer per leaf.
    fn z(&self) -> &[Buf<F>];
}

macro_rules! schedule_free_state {
    ($($state:ident),*) => {$(
        impl<F: Float> ScheduleFreeState<F> for crate::$state<F> {
            fn b1(&self) -> F {
                self.b1_state
            }
            fn z(&self) -> &[Buf<F>] {
                &self.z
            }
        }
    )*};
}
schedule_free_state!(
    ScaleByScheduleFreeState,
    ScheduleFreeSgdState,
    ScheduleFreeAdamwState
);

impl<F: Float, A> ScheduleFreeState<F> for crate::ChainState<A, ScaleByScheduleFreeState<F>, F> {
    fn b1(&self) -> F {
        self.rest.b1()
    }
    fn z(&self) -> &[Buf<F>] {
        self.rest.z()
    }
}

/// The point at which to evaluate a schedule-free model (optax.contrib's
/// `schedule_free_eval_params`): `x = (y − (1 − b1)·z) / b1` per element, from the
/// params `y` (the gradient point) and the state's `z`. The error names a leaf whose
/// size differs from the state's.
pub fn schedule_free_eval_params<F: Float, P: Tree<F> + Clone, S: ScheduleFreeState<F>>(
    state: &S,
    params: &P,
) -> Result<P, Error> {
    let (b1, z) = (state.b1(), state.z());
    let one_minus_b1 = F::one() - b1;
    let mut out = params.clone();
    let mut leaf = 0;
    out.visit_mut(&Path::ROOT, &mut |path, y, _| {
        let zl = z
            .get(leaf)
            .filter(|zl| zl.len() == y.len())
            .ok_or_else(|| Error::State {
                path: path.to_string(),
                buffer: "z".into(),
                detail: format!(
                    "the params leaf has {} elements, the schedule-free state {}",
                    y.len(),
                    z.get(leaf).map_or(0, Buf::len)
                ),
            })?;
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = (*yi - one_minus_b1 * zl.get(i)) / b1;
        }
        leaf += 1;
        Ok(())
    })?;
    if leaf != z.len() {
        return Err(Error::LeafCount {
            what: "params".into(),
            expected: z.len(),
            got: leaf,
        });
    }
    Ok(out)
}
