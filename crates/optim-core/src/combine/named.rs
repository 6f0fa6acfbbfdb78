//! `named_chain`: a chain of any number of transformations of one type (optax's
//! `named_chain`, and `chain` over a list), each state kept under its member's name.
//! Members of different types are [`Boxed`](crate::expr::Boxed).

use super::{guard, overlay, Overlay};
use crate::{Error, Extra, Float, Transformation, Tree};
use serde::{Deserialize, Serialize};

/// Transformations applied in sequence, each with a name (optax's `named_chain`).
#[derive(Clone, Debug)]
pub struct NamedChain<T> {
    /// The members, in order, with their names.
    pub transforms: Vec<(String, T)>,
    /// `"named_chain"`, or `"chain"` for [`chain_of`].
    optax_name: &'static str,
}

/// A chain of named transformations (optax's `named_chain`); names must be unique.
pub fn named_chain<K: Into<String>, T>(
    transforms: impl IntoIterator<Item = (K, T)>,
) -> NamedChain<T> {
    NamedChain {
        transforms: transforms.into_iter().map(|(k, t)| (k.into(), t)).collect(),
        optax_name: "named_chain",
    }
}

/// A chain over a list of transformations of one type (optax's `chain`), the members
/// named by their position (`"0"`, `"1"`, ...).
pub fn chain_of<T>(transforms: impl IntoIterator<Item = T>) -> NamedChain<T> {
    NamedChain {
        transforms: transforms
            .into_iter()
            .enumerate()
            .map(|(i, t)| (i.to_string(), t))
            .collect(),
        optax_name: "chain",
    }
}

/// The state of [`NamedChain`]: each member's state under its name (optax's
/// `state[name]`), and the updates buffer a step runs them in (not saved).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(serialize = "S: Serialize", deserialize = "S: Deserialize<'de>"))]
pub struct NamedChainState<S, F> {
    /// The members' states, in order, with their names.
    pub states: Vec<(String, S)>,
    #[serde(skip)]
    scratch: Vec<Vec<F>>,
}

impl<S, F> NamedChainState<S, F> {
    /// The state of the member named `name`.
    pub fn get(&self, name: &str) -> Option<&S> {
        self.states.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
    /// The state of the member named `name`, writable.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut S> {
        self.states
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }
}

impl<T> NamedChain<T> {
    fn states<F: Float, P: Tree<F>>(&self, params: &P) -> Result<Vec<(String, T::State)>, Error>
    where
        T: Transformation<F>,
    {
        for (i, (n, _)) in self.transforms.iter().enumerate() {
            if self.transforms[..i].iter().any(|(m, _)| m == n) {
                return Err(Error::Hyper {
                    transform: self.optax_name.into(),
                    arg: "transforms".into(),
                    detail: format!("the name `{n}` is given twice; names must be unique"),
                });
            }
        }
        self.transforms
            .iter()
            .map(|(n, t)| Ok((n.clone(), t.init_inner(params)?)))
            .collect()
    }

    fn check_states<S, F>(&self, state: &NamedChainState<S, F>) -> Result<(), Error> {
        let same = state.states.len() == self.transforms.len()
            && state
                .states
                .iter()
                .zip(&self.transforms)
                .all(|((a, _), (b, _))| a == b);
        if same {
            Ok(())
        } else {
            Err(Error::State {
                path: "<root>".into(),
                buffer: self.optax_name.into(),
                detail: "the state's members are not this chain's".into(),
            })
        }
    }
}

impl<F: Float, T: Transformation<F>> Transformation<F> for NamedChain<T> {
    type State = NamedChainState<T::State, F>;

    fn name(&self) -> &'static str {
        self.optax_name
    }

    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        Ok(NamedChainState {
            states: self.states(params)?,
            scratch: overlay::scratch_for(params)?,
        })
    }

    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        // Inside another combinator that owns a buffer, its buffer is used.
        Ok(NamedChainState {
            states: self.states(params)?,
            scratch: Vec::new(),
        })
    }

    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        // Every member is validated before the first one writes (and an objective
        // failing in a later member's line search restores what the earlier wrote).
        guard::guarded(self.calls_user_code(), state, updates, |state, updates| {
            self.validate(&*updates, state, params, extra)?;
            for ((_, t), (_, s)) in self.transforms.iter().zip(&mut state.states) {
                t.update_with(updates, s, params, extra)?;
            }
            Ok(())
        })
    }

    fn calls_user_code(&self) -> bool {
        self.transforms.iter().any(|(_, t)| t.calls_user_code())
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.check_states(state)?;
        for ((_, t), (_, s)) in self.transforms.iter().zip(&state.states) {
            t.validate(updates, s, params, extra)?;
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
        guard::guarded(self.calls_user_code(), state, params, |state, params| {
            self.validate(grads, state, Some(&*params), extra)?;
            if overlay::copy_into(grads, &mut state.scratch).is_err() {
                // A deserialized state (or one built for a member) has no buffer yet.
                state.scratch = overlay::scratch_for(grads)?;
                overlay::copy_into(grads, &mut state.scratch)?;
            }
            let NamedChainState { states, scratch } = state;
            let mut updates = Overlay::over(grads, scratch);
            let mut params = Overlay::of_mut(params);
            run(&self.transforms, states, &mut params, &mut updates, extra)
        })
    }

    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        guard::guarded(self.calls_user_code(), state, params, |state, params| {
            self.validate(&*buffer, state, Some(&*params), extra)?;
            run(&self.transforms, &mut state.states, params, buffer, extra)
        })
    }
}

/// Every member but the last updates `buffer`; the last steps the params with it.
fn run<F: Float, T: Transformation<F>, P: Tree<F>>(
    transforms: &[(String, T)],
    states: &mut [(String, T::State)],
    params: &mut P,
    buffer: &mut P,
    extra: &Extra,
) -> Result<(), Error> {
    let (Some(((_, last), rest)), Some((last_state, rest_states))) =
        (transforms.split_last(), states.split_last_mut())
    else {
        // No members: the identity.
        return crate::apply_updates(params, buffer);
    };
    for ((_, t), (_, s)) in rest.iter().zip(rest_states) {
        t.update_with(buffer, s, Some(&*params), extra)?;
    }
    last.step_with_buffer(params, buffer, &mut last_state.1, extra)
}
