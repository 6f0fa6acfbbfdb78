//! `MultiSteps`: gradient accumulation (optax's `MultiSteps`). The gradients of `k`
//! mini-steps are averaged (or summed) into an accumulator, and the wrapped optimizer
//! runs once on the result, at the last of them; in between, the params do not move and
//! the wrapped optimizer's state does not change.
//!
//! The accumulator is stored as `accumulator_dtype` (float32 by default, as in optax); the
//! step that emits uses the unrounded accumulated value, as optax does.

use super::{overlay, Overlay};
use crate::kernel::jax_mode;
use crate::{
    check_update_trees, leaf_metas, Buf, Dtype, Error, Extra, Float, LeafMeta, LearningRate, Path,
    Store, Transformation, Tree,
};
use serde::{Deserialize, Serialize};

/// When a mini-step's gradients are rejected (optax's `should_skip_update_fn`): a
/// rejected mini-step changes nothing but the skip record, as if it never happened.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum SkipUpdate {
    /// Never (optax's default, `None`).
    #[default]
    Never,
    /// When any gradient is NaN or infinite (optax's `skip_not_finite`).
    NotFinite,
    /// When the squared global norm of the gradients is not below `max_squared_norm`
    /// (optax's `skip_large_updates`).
    LargeUpdates { max_squared_norm: f64 },
}

/// What the skip test saw on the last mini-step (optax's `skip_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SkipState {
    /// Whether the mini-step was rejected.
    pub should_skip: bool,
    /// For [`SkipUpdate::NotFinite`]: the number of NaN and infinite gradients.
    pub num_not_finite: u64,
    /// For [`SkipUpdate::LargeUpdates`]: the squared global norm of the gradients.
    pub norm_squared: f64,
}

/// optax's `skip_not_finite`: whether any element of `updates` is NaN or infinite, and
/// how many are.
pub fn skip_not_finite<F: Float, P: Tree<F>>(updates: &P) -> Result<(bool, u64), Error> {
    let mut n = 0u64;
    updates.visit(&Path::ROOT, &mut |_, d, _| {
        n += d.iter().filter(|x| !x.is_finite()).count() as u64;
        Ok(())
    })?;
    Ok((n > 0, n))
}

/// optax's `skip_large_updates`: whether the squared global norm of `updates` is not
/// below `max_squared_norm`, and the squared norm.
pub fn skip_large_updates<F: Float, P: Tree<F>>(
    updates: &P,
    max_squared_norm: f64,
) -> Result<(bool, f64), Error> {
    let mut sq = 0.0f64;
    updates.visit(&Path::ROOT, &mut |_, d, _| {
        sq += d.iter().map(|x| x.f64() * x.f64()).sum::<f64>();
        Ok(())
    })?;
    // NaN is not below the bound: it is skipped, as in optax.
    Ok((
        sq.partial_cmp(&max_squared_norm) != Some(std::cmp::Ordering::Less),
        sq,
    ))
}

impl SkipUpdate {
    fn test<F: Float, P: Tree<F>>(self, grads: &P) -> Result<SkipState, Error> {
        Ok(match self {
            SkipUpdate::Never => SkipState::default(),
            SkipUpdate::NotFinite => {
                let (should_skip, num_not_finite) = skip_not_finite(grads)?;
                SkipState {
                    should_skip,
                    num_not_finite,
                    ..SkipState::default()
                }
            }
            SkipUpdate::LargeUpdates { max_squared_norm } => {
                let (should_skip, norm_squared) = skip_large_updates(grads, max_squared_norm)?;
                SkipState {
                    should_skip,
                    norm_squared,
                    ..SkipState::default()
                }
            }
        })
    }
}

/// Accumulates gradients over `every_k_schedule` mini-steps and runs `opt` on them once
/// (optax's `MultiSteps(...).gradient_transformation()`). `every_k_schedule` is a number
/// or a schedule of the gradient step (its value must be a whole number, at least 1).
#[derive(Clone, Debug)]
pub struct MultiSteps<T> {
    /// The wrapped optimizer.
    pub opt: T,
    /// The number of mini-steps per gradient step, constant or scheduled.
    pub every_k_schedule: LearningRate,
    /// Whether to average the mini-steps' gradients (`true`, the default) or sum them.
    pub use_grad_mean: bool,
    /// Which mini-steps to reject.
    pub should_skip_update_fn: SkipUpdate,
    /// The accumulator's storage dtype (float32 by default, as in optax; `None` stores it
    /// in the params' dtype).
    pub accumulator_dtype: Option<Dtype>,
}

/// `opt` run once every `every_k_schedule` mini-steps, on their mean gradient.
pub fn multi_steps<T>(opt: T, every_k_schedule: impl Into<LearningRate>) -> MultiSteps<T> {
    MultiSteps {
        opt,
        every_k_schedule: every_k_schedule.into(),
        use_grad_mean: true,
        should_skip_update_fn: SkipUpdate::Never,
        accumulator_dtype: Some(Dtype::F32),
    }
}

impl<T> MultiSteps<T> {
    /// Sets `use_grad_mean`.
    #[must_use]
    pub fn use_grad_mean(mut self, use_grad_mean: bool) -> Self {
        self.use_grad_mean = use_grad_mean;
        self
    }
    /// Sets `should_skip_update_fn`.
    #[must_use]
    pub fn should_skip_update_fn(mut self, skip: SkipUpdate) -> Self {
        self.should_skip_update_fn = skip;
        self
    }
    /// Sets `accumulator_dtype`.
    #[must_use]
    pub fn accumulator_dtype(mut self, dtype: impl Into<Option<Dtype>>) -> Self {
        self.accumulator_dtype = dtype.into();
        self
    }
}

/// The state of [`MultiSteps`] (optax's `MultiStepsState`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, F: Float",
    deserialize = "S: Deserialize<'de>, F: Float"
))]
pub struct MultiStepsState<S, F> {
    /// Mini-steps accumulated since the last gradient step.
    pub mini_step: u64,
    /// Gradient steps done (runs of the wrapped optimizer).
    pub gradient_step: u64,
    /// The wrapped optimizer's state.
    pub inner_opt_state: S,
    /// The accumulated gradients, one buffer per leaf.
    pub acc_grads: Vec<Buf<F>>,
    /// What the skip test saw on the last mini-step.
    pub skip_state: SkipState,
    /// The leaves of the params.
    pub leaves: Vec<LeafMeta>,
    #[serde(skip)]
    scratch: Vec<Vec<F>>,
}

impl<S, F> MultiStepsState<S, F> {
    /// Whether the last mini-step ran the wrapped optimizer (optax's `has_updated`).
    pub fn has_updated(&self) -> bool {
        self.mini_step == 0 && self.gradient_step > 0
    }
}

/// Calls `f(i, stored)` on every element of `buf` and stores what it returns.
fn for_each_acc<F: Float>(buf: &mut Buf<F>, f: impl FnMut(usize, F) -> F) {
    fn go<F: Float, S: Store<F>>(v: &mut [S], mut f: impl FnMut(usize, F) -> F) {
        for (i, x) in v.iter_mut().enumerate() {
            *x = S::store(f(i, x.load()));
        }
    }
    match buf {
        Buf::Native(v) => go(v, f),
        Buf::F32(v) => go(v, f),
        Buf::F64(v) => go(v, f),
        Buf::BF16(v) => go(v, f),
        Buf::F16(v) => go(v, f),
        Buf::Absent(_) => {}
    }
}

/// The stored accumulator's element `i`.
fn acc_at<F: Float>(buf: &Buf<F>, i: usize) -> F {
    match buf {
        Buf::Native(v) => v[i],
        Buf::F32(v) => v[i].load(),
        Buf::F64(v) => v[i].load(),
        Buf::BF16(v) => v[i].load(),
        Buf::F16(v) => v[i].load(),
        Buf::Absent(_) => F::zero(),
    }
}

impl<T> MultiSteps<T> {
    fn k<F: Float>(&self, gradient_step: u64) -> Result<u64, Error> {
        let k = self
            .every_k_schedule
            .optax_value_in(gradient_step, jax_mode::<F>());
        if k >= 1.0 && k.fract() == 0.0 && k <= u64::MAX as f64 {
            Ok(k as u64)
        } else {
            Err(Error::Hyper {
                transform: "MultiSteps".into(),
                arg: "every_k_schedule".into(),
                detail: format!(
                    "{k} at gradient step {gradient_step}: must be a whole number, at least 1"
                ),
            })
        }
    }

    /// The accumulated value of an element: `g` on the first mini-step (exactly), else
    /// optax's running mean or sum.
    #[inline]
    fn accumulate<F: Float>(&self, mini_step: u64, acc: F, g: F) -> F {
        if mini_step == 0 {
            g
        } else if self.use_grad_mean {
            acc + (g - acc) / F::of((mini_step + 1) as f64)
        } else {
            g + acc
        }
    }

    fn check<S, F: Float>(&self, state: &MultiStepsState<S, F>) -> Result<(), Error> {
        crate::__private::check_bufs(&state.leaves, "acc_grads", &state.acc_grads)
    }

    /// The accumulated gradients into `state.scratch`.
    fn gather<F: Float, S, P: Tree<F>>(
        &self,
        grads: &P,
        state: &mut MultiStepsState<S, F>,
    ) -> Result<(), Error> {
        if overlay::copy_into(grads, &mut state.scratch).is_err() {
            // A deserialized state has no buffer yet.
            state.scratch = overlay::scratch_for(grads)?;
            overlay::copy_into(grads, &mut state.scratch)?;
        }
        let m = state.mini_step;
        for (buf, acc) in state.scratch.iter_mut().zip(&state.acc_grads) {
            for (i, g) in buf.iter_mut().enumerate() {
                *g = self.accumulate(m, acc_at(acc, i), *g);
            }
        }
        Ok(())
    }

    /// The mini-step's bookkeeping after the wrapped optimizer ran (`emitted`) or not.
    fn advance<S, F: Float>(
        &self,
        state: &mut MultiStepsState<S, F>,
        emitted: bool,
        skip: SkipState,
    ) {
        state.skip_state = skip;
        if emitted {
            for acc in &mut state.acc_grads {
                for_each_acc(acc, |_, _| F::zero());
            }
            state.mini_step = 0;
            state.gradient_step += 1;
        } else {
            for (acc, g) in state.acc_grads.iter_mut().zip(&state.scratch) {
                for_each_acc(acc, |i, _| g[i]);
            }
            state.mini_step += 1;
        }
    }

    fn init_as<F: Float, P: Tree<F>>(
        &self,
        params: &P,
        inner: bool,
    ) -> Result<MultiStepsState<T::State, F>, Error>
    where
        T: Transformation<F>,
    {
        self.k::<F>(0)?;
        let leaves = leaf_metas(params)?;
        let acc_grads = leaves
            .iter()
            .map(|m| Buf::filled(m.len(), F::zero(), self.accumulator_dtype))
            .collect();
        Ok(MultiStepsState {
            mini_step: 0,
            gradient_step: 0,
            inner_opt_state: if inner {
                self.opt.init_inner(params)?
            } else {
                self.opt.init(params)?
            },
            acc_grads,
            skip_state: SkipState::default(),
            scratch: overlay::scratch_for(params)?,
            leaves,
        })
    }
}

impl<F: Float, T: Transformation<F>> Transformation<F> for MultiSteps<T> {
    type State = MultiStepsState<T::State, F>;

    fn name(&self) -> &'static str {
        "MultiSteps"
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_as(params, false)
    }

    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init_as(params, true)
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        self.check(state)?;
        let k = self.k::<F>(state.gradient_step)?;
        let skip = self.should_skip_update_fn.test(&*updates)?;
        if skip.should_skip {
            state.skip_state = skip;
            crate::TreeExt::fill_zero(updates);
            return Ok(());
        }
        self.gather(&*updates, state)?;
        let emit = state.mini_step + 1 >= k;
        if emit {
            let mut acc = Overlay::over(&*updates, &mut state.scratch);
            let p = params.map(Overlay::of);
            self.opt
                .update_with(&mut acc, &mut state.inner_opt_state, p.as_ref(), extra)?;
        }
        self.advance(state, emit, skip);
        if emit {
            let mut i = 0;
            let scratch = &state.scratch;
            updates.visit_mut(&Path::ROOT, &mut |_, d, _| {
                d.copy_from_slice(&scratch[i]);
                i += 1;
                Ok(())
            })
        } else {
            crate::TreeExt::fill_zero(updates);
            Ok(())
        }
    }

    fn calls_user_code(&self) -> bool {
        self.opt.calls_user_code()
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        self.check(state)?;
        let k = self.k::<F>(state.gradient_step)?;
        if state.mini_step + 1 >= k {
            // The wrapped optimizer runs at this mini-step (unless the values skip it).
            self.opt
                .validate(updates, &state.inner_opt_state, params, extra)?;
        }
        Ok(())
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, grads, Some(&*params))?;
        self.check(state)?;
        let k = self.k::<F>(state.gradient_step)?;
        let skip = self.should_skip_update_fn.test(grads)?;
        if skip.should_skip {
            state.skip_state = skip;
            return Ok(());
        }
        let emit = state.mini_step + 1 >= k;
        if emit && state.mini_step == 0 {
            // One mini-step per gradient step: the gradients themselves, no copy.
            self.opt
                .step_with(params, grads, &mut state.inner_opt_state, extra)?;
        } else {
            self.gather(grads, state)?;
            if emit {
                let mut acc = Overlay::over(grads, &mut state.scratch);
                let mut p = Overlay::of_mut(params);
                self.opt
                    .step_with_buffer(&mut p, &mut acc, &mut state.inner_opt_state, extra)?;
            }
        }
        self.advance(state, emit, skip);
        Ok(())
    }
}
