//! `reduce_on_plateau` (optax.contrib's): a scale on the updates that shrinks when the
//! objective value, an extra argument, stops improving.
//!
//! Written by hand: its state is a handful of scalars for the whole tree (the best value,
//! counters, the current scale), updated once per step from `value`, which the element
//! DSL's per-element and per-leaf state does not hold. The scalars are computed in the
//! params' element type, as optax computes them, since the comparisons with the best
//! value decide when the scale drops.

use crate::kernel::{for_each_step_leaf, for_each_update_leaf, hand_hyperparams, LeafIo};
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use serde::{Deserialize, Serialize};

/// Scales the updates by a factor that starts at 1 and is multiplied by `factor` (down to
/// `min_scale`) whenever the objective value has not improved for `patience` checks
/// (optax's `contrib.reduce_on_plateau`). Each check averages `accumulation_size` values;
/// an improvement is an average below `(1 - rtol) * best - atol`; after a reduction,
/// `cooldown` checks pass before plateaus count again. Needs the objective value as an
/// extra argument (`Extra::value`); chain it after an optimizer, as optax's example does.
#[derive(Clone, Debug)]
pub struct ReduceOnPlateau {
    /// The factor the scale is multiplied by on a plateau, in (0, 1).
    pub factor: f64,
    /// The number of checks without improvement that make a plateau.
    pub patience: u64,
    /// Relative tolerance of an improvement, in [0, 1].
    pub rtol: f64,
    /// Absolute tolerance of an improvement, non-negative.
    pub atol: f64,
    /// The number of checks after a reduction during which plateaus are not counted.
    pub cooldown: u64,
    /// The number of values averaged into one check.
    pub accumulation_size: u64,
    /// The smallest scale.
    pub min_scale: f64,
}

impl Default for ReduceOnPlateau {
    fn default() -> Self {
        ReduceOnPlateau {
            factor: 0.1,
            patience: 10,
            rtol: 1e-4,
            atol: 0.0,
            cooldown: 0,
            accumulation_size: 1,
            min_scale: 0.0,
        }
    }
}

/// Shorthand for [`ReduceOnPlateau::default`], optax's defaults.
pub fn reduce_on_plateau() -> ReduceOnPlateau {
    ReduceOnPlateau::default()
}

macro_rules! setters {
    ($($field:ident: $t:ty),*) => {
        impl ReduceOnPlateau {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                #[must_use]
                pub fn $field(mut self, $field: $t) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
setters!(factor: f64, patience: u64, rtol: f64, atol: f64, cooldown: u64,
    accumulation_size: u64, min_scale: f64);

hand_hyperparams!(ReduceOnPlateau, "reduce_on_plateau", required: [],
    blank: ReduceOnPlateau::default(),
    { factor, patience, rtol, atol, cooldown, accumulation_size, min_scale });

/// The state of [`ReduceOnPlateau`], optax's `ReduceLROnPlateauState`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub struct ReduceOnPlateauState<F> {
    /// The leaves (paths and shapes) this state was built for.
    pub leaves: Vec<LeafMeta>,
    /// The current scale of the updates.
    pub scale: F,
    /// The best average value so far (infinite before the first check).
    pub best_value: F,
    /// Checks since the last improvement.
    pub plateau_count: u64,
    /// Checks left in the cooldown.
    pub cooldown_count: u64,
    /// Values accumulated into the current average.
    pub count: u64,
    /// The average of the values accumulated so far.
    pub avg_value: F,
}

impl ReduceOnPlateau {
    fn check(&self) -> Result<(), Error> {
        let bad = |arg: &str, detail: &str| Error::Hyper {
            transform: "reduce_on_plateau".into(),
            arg: arg.into(),
            detail: detail.into(),
        };
        if self.factor.is_nan() || self.factor <= 0.0 || self.factor >= 1.0 {
            return Err(bad("factor", "must be in the range (0, 1)"));
        }
        if self.rtol.is_nan() || self.rtol < 0.0 {
            return Err(bad("rtol", "must be non-negative"));
        }
        if self.atol.is_nan() || self.atol < 0.0 {
            return Err(bad("atol", "must be non-negative"));
        }
        if self.rtol == 0.0 && self.atol == 0.0 {
            return Err(bad("rtol", "at least one of rtol or atol must be positive"));
        }
        if self.rtol > 1.0 {
            return Err(bad("rtol", "must be at most 1"));
        }
        Ok(())
    }

    /// The state after seeing `value`, as optax's `update_fn` computes it.
    fn advance<F: Float>(
        &self,
        s: &ReduceOnPlateauState<F>,
        value: f64,
    ) -> ReduceOnPlateauState<F> {
        let mut n = s.clone_scalars();
        let new_count = s.count + 1;
        n.avg_value =
            (F::of(s.count as f64) * s.avg_value + F::of(value)) / F::of(new_count as f64);
        n.count = new_count;
        if new_count != self.accumulation_size {
            return n;
        }
        let improved = n.avg_value < F::of(1.0 - self.rtol) * s.best_value - F::of(self.atol);
        if improved {
            n.best_value = n.avg_value;
        }
        let plateau = if improved { 0 } else { s.plateau_count + 1 };
        if s.cooldown_count > 0 {
            n.plateau_count = 0;
            n.cooldown_count = s.cooldown_count - 1;
        } else {
            let hit = plateau == self.patience;
            n.plateau_count = if hit { 0 } else { plateau };
            let scaled = if hit {
                s.scale * F::of(self.factor)
            } else {
                s.scale
            };
            n.scale = scaled.max(F::of(self.min_scale));
            n.cooldown_count = if hit { self.cooldown } else { 0 };
        }
        n.count = 0;
        n.avg_value = F::zero();
        n
    }

    fn value(&self, extra: &Extra) -> Result<f64, Error> {
        extra.value.ok_or_else(|| Error::MissingExtra {
            transform: "reduce_on_plateau".into(),
            arg: "value".into(),
        })
    }
}

impl<F: Float> ReduceOnPlateauState<F> {
    /// The scalars, with no leaves (the leaves stay where they are).
    fn clone_scalars(&self) -> Self {
        ReduceOnPlateauState {
            leaves: Vec::new(),
            ..*self
        }
    }
    fn commit(&mut self, n: ReduceOnPlateauState<F>) {
        let leaves = std::mem::take(&mut self.leaves);
        *self = ReduceOnPlateauState { leaves, ..n };
    }
}

fn scale_leaf<F: Float>(scale: F, io: &mut impl LeafIo<F>) {
    let n = io.grads().len();
    io.apply(0, n, |_, g, _| scale * g);
}

impl<F: Float> Transformation<F> for ReduceOnPlateau {
    type State = ReduceOnPlateauState<F>;

    fn name(&self) -> &'static str {
        "reduce_on_plateau"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.check()?;
        Ok(ReduceOnPlateauState {
            leaves: leaf_metas(params)?,
            scale: F::one(),
            best_value: F::infinity(),
            plateau_count: 0,
            cooldown_count: 0,
            count: 0,
            avg_value: F::zero(),
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.check()?;
        let value = self.value(extra)?;
        check_update_trees(&state.leaves, updates, params)?;
        let next = self.advance(state, value);
        let scale = next.scale;
        for_each_update_leaf(updates, params, |_, io| scale_leaf(scale, io))?;
        state.commit(next);
        Ok(())
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.check()?;
        self.value(extra)?;
        check_update_trees(&state.leaves, updates, params)
    }

    crate::kernel::fused_step_with_buffer!();

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.check()?;
        let value = self.value(extra)?;
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        let next = self.advance(state, value);
        let scale = next.scale;
        for_each_step_leaf(params, grads, |_, io| scale_leaf(scale, io))?;
        state.commit(next);
        Ok(())
    }
}

// No documented trace; registered by this table.
crate::family! {
    "reduce_on_plateau" => ReduceOnPlateau,
}

/// The tensors of the state: the counts (`count`, `plateau_count`, `cooldown_count`) and
/// the scale and averages (`scale`, `best_value`, `avg_value`) as scalars of the params'
/// type, where optax keeps them.
impl<F: Float> crate::StateTensors<F> for ReduceOnPlateauState<F> {
    fn visit_tensors(
        &self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::TensorRef::{Count, Elems};
        let name = |n: &str| format!("{prefix}{n}");
        f(&name("count"), Count(self.count))?;
        f(&name("plateau_count"), Count(self.plateau_count))?;
        f(&name("cooldown_count"), Count(self.cooldown_count))?;
        f(
            &name("scale"),
            Elems(&[], std::slice::from_ref(&self.scale)),
        )?;
        f(
            &name("best_value"),
            Elems(&[], std::slice::from_ref(&self.best_value)),
        )?;
        f(
            &name("avg_value"),
            Elems(&[], std::slice::from_ref(&self.avg_value)),
        )
    }
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        f: &mut crate::state_tensors::VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        use crate::state_tensors::TensorMut::{Count, Elems};
        let name = |n: &str| format!("{prefix}{n}");
        f(&name("count"), Count(&mut self.count))?;
        f(&name("plateau_count"), Count(&mut self.plateau_count))?;
        f(&name("cooldown_count"), Count(&mut self.cooldown_count))?;
        f(
            &name("scale"),
            Elems(&[], std::slice::from_mut(&mut self.scale)),
        )?;
        f(
            &name("best_value"),
            Elems(&[], std::slice::from_mut(&mut self.best_value)),
        )?;
        f(
            &name("avg_value"),
            Elems(&[], std::slice::from_mut(&mut self.avg_value)),
        )
    }
}
