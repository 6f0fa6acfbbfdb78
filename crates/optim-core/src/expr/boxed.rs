//! [`Boxed`]: any transformation behind one object-safe type, with an opaque state
//! ([`DynState`]). Members of different types meet in a [`partition`](crate::partition)
//! or a [`named_chain`](crate::named_chain) as `Boxed`, and the expressions of
//! [`build`](super::build) are `Boxed` all the way down.

use super::handle::{Handle, Slot, TreeSet, Trees};
use crate::{Error, Extra, Float, InjectHyperparams, InjectHyperparamsState, Transformation, Tree};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

/// A state as an erased transformation keeps it.
trait ErasedState: Any + Send + Sync + Debug + erased_serde::Serialize {
    fn clone_box(&self) -> Box<dyn ErasedState>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<S: Clone + Debug + Serialize + Send + Sync + 'static> ErasedState for S {
    fn clone_box(&self) -> Box<dyn ErasedState> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

erased_serde::serialize_trait_object!(ErasedState);

/// The state of a [`Boxed`] transformation: the concrete state, opaque. It serializes as
/// the concrete state does; deserialized (through a self-describing format such as JSON),
/// it holds the saved data until the transformation's next call, or
/// [`Boxed::load_state`], turns it back into the concrete state.
///
/// Its tensors ([`StateTensors`](crate::StateTensors)) are the concrete state's, with
/// the same names; a saved state not loaded yet has none to visit and says so.
#[derive(Debug)]
pub struct DynState(Held, Option<Arc<dyn Any + Send + Sync>>);

#[derive(Debug)]
enum Held {
    Live(Box<dyn ErasedState>),
    Saved(serde_json::Value),
}

impl Clone for DynState {
    fn clone(&self) -> Self {
        DynState(
            match &self.0 {
                Held::Live(s) => Held::Live((**s).clone_box()),
                Held::Saved(v) => Held::Saved(v.clone()),
            },
            self.1.clone(),
        )
    }
}

impl Serialize for DynState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Held::Live(state) => state.serialize(s),
            Held::Saved(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for DynState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(|v| DynState(Held::Saved(v), None))
    }
}

impl DynState {
    fn new<F, S>(s: S) -> Self
    where
        F: Float,
        S: Clone + Debug + Serialize + Send + Sync + crate::StateTensors<F> + 'static,
    {
        DynState(Held::Live(Box::new(s)), Some(tensors::table::<F, S>()))
    }

    /// The concrete state, loading saved data first.
    fn get_mut<F, S>(&mut self, who: &str) -> Result<&mut S, Error>
    where
        F: Float,
        S: Clone
            + Debug
            + Serialize
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + crate::StateTensors<F>
            + 'static,
    {
        if let Held::Saved(v) = &self.0 {
            let s: S = serde_json::from_value(v.clone()).map_err(|e| Error::State {
                path: "<root>".into(),
                buffer: who.into(),
                detail: format!("the saved state does not load: {e}"),
            })?;
            self.0 = Held::Live(Box::new(s));
            self.1 = Some(tensors::table::<F, S>());
        }
        self.get_ref::<S>(who)?;
        match &mut self.0 {
            Held::Live(s) => (**s)
                .as_any_mut()
                .downcast_mut::<S>()
                .ok_or_else(|| wrong(who)),
            Held::Saved(_) => Err(wrong(who)),
        }
    }

    /// Runs `f` on the concrete state without changing this one: a saved state is loaded
    /// into a temporary (which allocates, until a call loads it for good).
    fn peek<S, R>(&self, who: &str, f: impl FnOnce(&S) -> Result<R, Error>) -> Result<R, Error>
    where
        S: serde::de::DeserializeOwned + 'static,
    {
        match &self.0 {
            Held::Saved(v) => f(&S::deserialize(v).map_err(|e| Error::State {
                path: "<root>".into(),
                buffer: who.into(),
                detail: format!("the saved state does not load: {e}"),
            })?),
            Held::Live(_) => f(self.get_ref::<S>(who)?),
        }
    }

    fn get_ref<S: 'static>(&self, who: &str) -> Result<&S, Error> {
        match &self.0 {
            Held::Live(s) => (**s).as_any().downcast_ref::<S>().ok_or_else(|| wrong(who)),
            Held::Saved(_) => Err(Error::State {
                path: "<root>".into(),
                buffer: who.into(),
                detail: "the saved state is not loaded yet (call `Boxed::load_state`)".into(),
            }),
        }
    }
}

fn wrong(who: &str) -> Error {
    Error::State {
        path: "<root>".into(),
        buffer: who.into(),
        detail: "the state belongs to another transformation".into(),
    }
}

/// What a wrapper of an erased transformation can read from its state: the injected
/// hyperparameters of [`InjectHyperparams`], or nothing.
trait Probe<S>: Send + Sync + 'static {
    fn hyperparams(s: &S) -> Option<&BTreeMap<String, f64>>;
    fn set_hyperparam(s: &mut S, name: &str, value: f64) -> Result<(), Error>;
}

struct Plain;
impl<S> Probe<S> for Plain {
    fn hyperparams(_: &S) -> Option<&BTreeMap<String, f64>> {
        None
    }
    fn set_hyperparam(_: &mut S, name: &str, _: f64) -> Result<(), Error> {
        Err(Error::Hyper {
            transform: "boxed".into(),
            arg: name.into(),
            detail: "this transformation has no injected hyperparameters".into(),
        })
    }
}

struct Injected;
impl<T: 'static, S: 'static> Probe<InjectHyperparamsState<T, S>> for Injected {
    fn hyperparams(s: &InjectHyperparamsState<T, S>) -> Option<&BTreeMap<String, f64>> {
        Some(s.hyperparams())
    }
    fn set_hyperparam(
        s: &mut InjectHyperparamsState<T, S>,
        name: &str,
        value: f64,
    ) -> Result<(), Error> {
        s.set_hyperparam(name, value)
    }
}

/// The object-safe transformation over [`Handle`] trees.
trait DynTransformation<F: Float>: Send + Sync {
    fn name(&self) -> &'static str;
    fn init(&self, params: &Handle<'_, F>, inner: bool) -> Result<DynState, Error>;
    fn update_with<'h>(
        &self,
        updates: &mut Handle<'h, F>,
        state: &mut DynState,
        params: Option<&Handle<'h, F>>,
        extra: &Extra,
    ) -> Result<(), Error>;
    fn step_with<'h>(
        &self,
        params: &mut Handle<'h, F>,
        grads: &Handle<'h, F>,
        state: &mut DynState,
        extra: &Extra,
    ) -> Result<(), Error>;
    fn step_with_buffer<'h>(
        &self,
        params: &mut Handle<'h, F>,
        buffer: &mut Handle<'h, F>,
        state: &mut DynState,
        extra: &Extra,
    ) -> Result<(), Error>;
    fn validate<'h>(
        &self,
        updates: &Handle<'h, F>,
        state: &DynState,
        params: Option<&Handle<'h, F>>,
        extra: &Extra,
    ) -> Result<(), Error>;
    fn load(&self, state: &mut DynState) -> Result<(), Error>;
    fn calls_user_code(&self) -> bool;
    fn hyperparams<'s>(&self, state: &'s DynState) -> Option<&'s BTreeMap<String, f64>>;
    fn set_hyperparam(&self, state: &mut DynState, name: &str, value: f64) -> Result<(), Error>;
}

struct Erased<T, K>(T, PhantomData<fn() -> K>);

impl<F, T, K> DynTransformation<F> for Erased<T, K>
where
    F: Float,
    T: Transformation<F> + Send + Sync + 'static,
    T::State: crate::StateTensors<F>,
    K: Probe<T::State>,
{
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn init(&self, params: &Handle<'_, F>, inner: bool) -> Result<DynState, Error> {
        let s = if inner {
            self.0.init_inner(params)?
        } else {
            self.0.init(params)?
        };
        Ok(DynState::new::<F, _>(s))
    }
    fn update_with<'h>(
        &self,
        updates: &mut Handle<'h, F>,
        state: &mut DynState,
        params: Option<&Handle<'h, F>>,
        extra: &Extra,
    ) -> Result<(), Error> {
        let s = state.get_mut::<F, T::State>(self.0.name())?;
        self.0.update_with(updates, s, params, extra)
    }
    fn step_with<'h>(
        &self,
        params: &mut Handle<'h, F>,
        grads: &Handle<'h, F>,
        state: &mut DynState,
        extra: &Extra,
    ) -> Result<(), Error> {
        let s = state.get_mut::<F, T::State>(self.0.name())?;
        self.0.step_with(params, grads, s, extra)
    }
    fn step_with_buffer<'h>(
        &self,
        params: &mut Handle<'h, F>,
        buffer: &mut Handle<'h, F>,
        state: &mut DynState,
        extra: &Extra,
    ) -> Result<(), Error> {
        let s = state.get_mut::<F, T::State>(self.0.name())?;
        self.0.step_with_buffer(params, buffer, s, extra)
    }
    fn validate<'h>(
        &self,
        updates: &Handle<'h, F>,
        state: &DynState,
        params: Option<&Handle<'h, F>>,
        extra: &Extra,
    ) -> Result<(), Error> {
        state.peek::<T::State, _>(self.0.name(), |s| {
            self.0.validate(updates, s, params, extra)
        })
    }
    fn load(&self, state: &mut DynState) -> Result<(), Error> {
        state.get_mut::<F, T::State>(self.0.name()).map(|_| ())
    }
    fn calls_user_code(&self) -> bool {
        self.0.calls_user_code()
    }
    fn hyperparams<'s>(&self, state: &'s DynState) -> Option<&'s BTreeMap<String, f64>> {
        K::hyperparams(state.get_ref::<T::State>(self.0.name()).ok()?)
    }
    fn set_hyperparam(&self, state: &mut DynState, name: &str, value: f64) -> Result<(), Error> {
        K::set_hyperparam(state.get_mut::<F, T::State>(self.0.name())?, name, value)
    }
}

/// Any transformation over `F`, behind one type: what a program that chooses its
/// optimizer at run time holds, and how members of different types share a
/// [`partition`](crate::partition). It runs on any tree, like the transformation inside;
/// its state is a [`DynState`]. Cloning shares the transformation.
#[derive(Clone)]
pub struct Boxed<F: Float>(Arc<dyn DynTransformation<F>>);

impl<F: Float> Debug for Boxed<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Boxed({})", self.0.name())
    }
}

impl<F: Float> Boxed<F> {
    /// `t` behind the erased type.
    pub fn new<T: Transformation<F> + Send + Sync + 'static>(t: T) -> Self
    where
        T::State: crate::StateTensors<F>,
    {
        Boxed(Arc::new(Erased::<T, Plain>(t, PhantomData)))
    }

    /// An `inject_hyperparams` transformation, whose injected hyperparameters
    /// [`hyperparams`](Self::hyperparams) then reads from its state.
    pub fn injected<T>(t: InjectHyperparams<T>) -> Self
    where
        T: Transformation<F> + crate::Hyperparams + Clone + Debug + Send + Sync + 'static,
        T::State: crate::StateTensors<F>,
    {
        Boxed(Arc::new(Erased::<InjectHyperparams<T>, Injected>(
            t,
            PhantomData,
        )))
    }

    /// The injected hyperparameters' current values, for an [`injected`](Self::injected)
    /// transformation (`None` otherwise, or for a saved state not loaded yet).
    pub fn hyperparams<'s>(&self, state: &'s DynState) -> Option<&'s BTreeMap<String, f64>> {
        self.0.hyperparams(state)
    }

    /// Sets an injected hyperparameter for the next steps.
    pub fn set_hyperparam(
        &self,
        state: &mut DynState,
        name: &str,
        value: f64,
    ) -> Result<(), Error> {
        self.0.set_hyperparam(state, name, value)
    }

    /// Turns a deserialized state into this transformation's concrete state (which the
    /// next call would do anyway); errors when it is another transformation's.
    pub fn load_state(&self, state: &mut DynState) -> Result<(), Error> {
        self.0.load(state)
    }
}

/// Runs `f` with a handle to `tree`.
fn one<F: Float, P: Tree<F>, R>(tree: Slot<'_, P>, f: impl FnOnce(&mut Handle<'_, F>) -> R) -> R {
    let set = RefCell::new(Trees {
        first: tree,
        second: None,
    });
    let set: &RefCell<dyn TreeSet<F> + '_> = &set;
    f(&mut Handle::new(set, 0))
}

/// Runs `f` with handles to `a` and `b`.
fn two<F: Float, P: Tree<F>, R>(
    a: Slot<'_, P>,
    b: Slot<'_, P>,
    f: impl for<'h> FnOnce(&mut Handle<'h, F>, &mut Handle<'h, F>) -> R,
) -> R {
    let set = RefCell::new(Trees {
        first: a,
        second: Some(b),
    });
    let set: &RefCell<dyn TreeSet<F> + '_> = &set;
    f(&mut Handle::new(set, 0), &mut Handle::new(set, 1))
}

impl<F: Float> Transformation<F> for Boxed<F> {
    type State = DynState;

    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<DynState, Error> {
        one(Slot::Shared(params), |h| self.0.init(h, false))
    }

    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<DynState, Error> {
        one(Slot::Shared(params), |h| self.0.init(h, true))
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut DynState,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        match params {
            None => one(Slot::Mut(updates), |u| {
                self.0.update_with(u, state, None, extra)
            }),
            Some(p) => two(Slot::Mut(updates), Slot::Shared(p), |u, p| {
                self.0.update_with(u, state, Some(&*p), extra)
            }),
        }
    }

    fn calls_user_code(&self) -> bool {
        self.0.calls_user_code()
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &DynState,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        match params {
            None => one(Slot::Shared(updates), |u| {
                self.0.validate(u, state, None, extra)
            }),
            Some(p) => two(Slot::Shared(updates), Slot::Shared(p), |u, p| {
                self.0.validate(u, state, Some(&*p), extra)
            }),
        }
    }

    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut DynState,
        extra: &Extra,
    ) -> Result<(), Error> {
        two(Slot::Mut(params), Slot::Shared(grads), |p, g| {
            self.0.step_with(p, &*g, state, extra)
        })
    }

    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut DynState,
        extra: &Extra,
    ) -> Result<(), Error> {
        two(Slot::Mut(params), Slot::Mut(buffer), |p, b| {
            self.0.step_with_buffer(p, b, state, extra)
        })
    }
}

/// The named tensors of a [`DynState`]: a table of two functions that know the concrete
/// state's type, made where the type is known (`init`, or the first call after a
/// deserialization) and kept beside the erased state.
mod tensors {
    use super::{wrong, DynState, Held};
    use crate::state_tensors::{StateTensors, VisitTensor, VisitTensorMut};
    use crate::{Error, Float};
    use std::any::Any;
    use std::sync::Arc;

    struct Table<F> {
        visit: fn(&dyn Any, &str, &mut VisitTensor<'_, F>) -> Result<(), Error>,
        visit_mut: fn(&mut dyn Any, &str, &mut VisitTensorMut<'_, F>) -> Result<(), Error>,
    }

    fn visit<F: Float, S: StateTensors<F> + 'static>(
        s: &dyn Any,
        prefix: &str,
        f: &mut VisitTensor<'_, F>,
    ) -> Result<(), Error> {
        s.downcast_ref::<S>()
            .ok_or_else(|| wrong("boxed"))?
            .visit_tensors(prefix, f)
    }

    fn visit_mut<F: Float, S: StateTensors<F> + 'static>(
        s: &mut dyn Any,
        prefix: &str,
        f: &mut VisitTensorMut<'_, F>,
    ) -> Result<(), Error> {
        s.downcast_mut::<S>()
            .ok_or_else(|| wrong("boxed"))?
            .visit_tensors_mut(prefix, f)
    }

    pub(super) fn table<F: Float, S: StateTensors<F> + 'static>() -> Arc<dyn Any + Send + Sync> {
        Arc::new(Table::<F> {
            visit: visit::<F, S>,
            visit_mut: visit_mut::<F, S>,
        })
    }

    fn not_loaded() -> Error {
        Error::State {
            path: "<root>".into(),
            buffer: "boxed".into(),
            detail: "the saved state is not loaded yet (call `Boxed::load_state`)".into(),
        }
    }

    fn table_of<F: Float>(t: &Option<Arc<dyn Any + Send + Sync>>) -> Result<&Table<F>, Error> {
        t.as_deref()
            .and_then(|t| t.downcast_ref::<Table<F>>())
            .ok_or_else(|| wrong("boxed"))
    }

    impl<F: Float> StateTensors<F> for DynState {
        fn visit_tensors(&self, prefix: &str, f: &mut VisitTensor<'_, F>) -> Result<(), Error> {
            match &self.0 {
                Held::Live(s) => (table_of::<F>(&self.1)?.visit)((**s).as_any(), prefix, f),
                Held::Saved(_) => Err(not_loaded()),
            }
        }
        fn visit_tensors_mut(
            &mut self,
            prefix: &str,
            f: &mut VisitTensorMut<'_, F>,
        ) -> Result<(), Error> {
            let table = table_of::<F>(&self.1)?;
            let visit_mut = table.visit_mut;
            match &mut self.0 {
                Held::Live(s) => visit_mut((**s).as_any_mut(), prefix, f),
                Held::Saved(_) => Err(not_loaded()),
            }
        }
    }
}
