//! `partition` (and its older optax name `multi_transform`): a different transformation
//! for each group of leaves, the groups given by a label per leaf.

use super::{guard, Selected};
use crate::{check_update_trees, leaf_metas, Error, Extra, Float, LeafMeta, Transformation, Tree};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

/// A function from a leaf's path and shape to its label.
pub type LabelFn = Arc<dyn Fn(&str, &[usize]) -> String + Send + Sync>;

/// The label of every leaf: optax's `param_labels`.
#[derive(Clone)]
pub enum Labels {
    /// A label per path or path prefix (`"encoder"` covers `"encoder.w"`); the longest key
    /// that covers a leaf decides. Every leaf must be covered, and every key must name a
    /// leaf or a prefix of one.
    Paths(BTreeMap<String, String>),
    /// A function of the leaf's path and shape (`|_, shape| if shape.len() == 2 {
    /// "matrix" } else { "other" }`).
    ByLeaf(LabelFn),
}

impl Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Labels::Paths(m) => f.debug_tuple("Paths").field(m).finish(),
            Labels::ByLeaf(_) => f.write_str("ByLeaf(..)"),
        }
    }
}

impl Labels {
    /// Labels from a function of the leaf's path and shape.
    pub fn by_leaf(f: impl Fn(&str, &[usize]) -> String + Send + Sync + 'static) -> Self {
        Labels::ByLeaf(Arc::new(f))
    }

    /// The label of each leaf, in order.
    pub fn resolve(&self, leaves: &[LeafMeta]) -> Result<Vec<String>, Error> {
        match self {
            Labels::ByLeaf(f) => Ok(leaves.iter().map(|m| f(&m.path, &m.shape)).collect()),
            Labels::Paths(map) => {
                if let Some(key) = map
                    .keys()
                    .find(|k| !leaves.iter().any(|m| covers(k, &m.path)))
                {
                    return Err(Error::Hyper {
                        transform: "partition".into(),
                        arg: "param_labels".into(),
                        detail: format!("leaf `{key}` is not in the params"),
                    });
                }
                leaves
                    .iter()
                    .map(|m| {
                        map.iter()
                            .filter(|(k, _)| covers(k, &m.path))
                            .max_by_key(|(k, _)| k.len())
                            .map(|(_, v)| v.clone())
                            .ok_or_else(|| Error::MissingLeaf {
                                path: m.path.clone(),
                                missing_in: "param_labels".into(),
                            })
                    })
                    .collect()
            }
        }
    }
}

fn covers(key: &str, path: &str) -> bool {
    key.is_empty()
        || path == key
        || (path.starts_with(key) && path.as_bytes().get(key.len()) == Some(&b'.'))
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(m: BTreeMap<String, String>) -> Self {
        Labels::Paths(m)
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Labels {
    fn from(m: [(&str, &str); N]) -> Self {
        Labels::Paths(m.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

/// Applies to each group of leaves the transformation of its label (optax's
/// `partition`): a member sees only its group's leaves (as under `masked`) and keeps
/// state only for them. Members of different types are [`Boxed`](crate::expr::Boxed).
///
/// A leaf without a label, or a label without a transformation, is an error at `init`
/// naming the leaf; a transformation whose label no leaf has runs on no leaves.
#[derive(Clone, Debug)]
pub struct Partition<T> {
    /// The transformation of each label.
    pub transforms: BTreeMap<String, T>,
    /// The label of each leaf.
    pub labels: Labels,
}

/// A transformation per label, `labels` giving each leaf's label (optax's `partition`).
pub fn partition<K: Into<String>, T>(
    transforms: impl IntoIterator<Item = (K, T)>,
    labels: impl Into<Labels>,
) -> Partition<T> {
    Partition {
        transforms: transforms.into_iter().map(|(k, t)| (k.into(), t)).collect(),
        labels: labels.into(),
    }
}

/// optax's older name of [`partition`].
pub fn multi_transform<K: Into<String>, T>(
    transforms: impl IntoIterator<Item = (K, T)>,
    labels: impl Into<Labels>,
) -> Partition<T> {
    partition(transforms, labels)
}

/// One label's group: which leaves it has and its transformation's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group<S> {
    /// The label.
    pub label: String,
    /// Whether each leaf of the params has this label.
    pub flags: Vec<bool>,
    /// The state of the label's transformation, over its leaves.
    pub state: S,
}

/// The state of [`Partition`]: one group per label, in label order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionState<S> {
    /// Every leaf of the params.
    pub leaves: Vec<LeafMeta>,
    /// The groups, one per transformation.
    pub groups: Vec<Group<S>>,
}

impl<S> PartitionState<S> {
    /// The state of the transformation of `label` (optax's `inner_states[label]`).
    pub fn inner(&self, label: &str) -> Option<&S> {
        self.groups
            .iter()
            .find(|g| g.label == label)
            .map(|g| &g.state)
    }
}

impl<T> Partition<T> {
    fn init_as<F: Float, P: Tree<F>>(
        &self,
        params: &P,
        inner: bool,
    ) -> Result<PartitionState<T::State>, Error>
    where
        T: Transformation<F>,
    {
        let leaves = leaf_metas(params)?;
        let labels = self.labels.resolve(&leaves)?;
        for (m, l) in leaves.iter().zip(&labels) {
            if !self.transforms.contains_key(l) {
                return Err(Error::Hyper {
                    transform: "partition".into(),
                    arg: "param_labels".into(),
                    detail: format!(
                        "leaf `{}`: label `{l}` has no transformation (labels with one: {})",
                        m.path,
                        self.transforms
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        let mut groups = Vec::with_capacity(self.transforms.len());
        for (label, t) in &self.transforms {
            let flags: Vec<bool> = labels.iter().map(|l| l == label).collect();
            let view = Selected::shared(params, &flags);
            let state = if inner {
                t.init_inner(&view)?
            } else {
                t.init(&view)?
            };
            groups.push(Group {
                label: label.clone(),
                flags,
                state,
            });
        }
        Ok(PartitionState { leaves, groups })
    }

    /// Checks the state's groups against this partition's transformations and leaves.
    fn check_groups<S>(&self, state: &PartitionState<S>) -> Result<(), Error> {
        let same = state.groups.len() == self.transforms.len()
            && state
                .groups
                .iter()
                .zip(self.transforms.keys())
                .all(|(g, l)| g.label == *l);
        if !same {
            return Err(Error::State {
                path: "<root>".into(),
                buffer: "partition".into(),
                detail: "the state's labels are not this partition's".into(),
            });
        }
        for g in &state.groups {
            crate::__private::check_flags(&state.leaves, &g.label, &g.flags)?;
        }
        Ok(())
    }
}

impl<F: Float, T: Transformation<F>> Transformation<F> for Partition<T> {
    type State = PartitionState<T::State>;

    fn name(&self) -> &'static str {
        "partition"
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
        // Every member is validated before any member writes (and an objective
        // failing in a later group's line search restores what the earlier wrote).
        guard::guarded(self.calls_user_code(), state, updates, |state, updates| {
            self.validate(&*updates, state, params, extra)?;
            for (g, t) in state.groups.iter_mut().zip(self.transforms.values()) {
                let mut view = Selected::writable(&mut *updates, &g.flags);
                let pview = params.map(|p| Selected::shared(p, &g.flags));
                t.update_with(&mut view, &mut g.state, pview.as_ref(), extra)?;
            }
            Ok(())
        })
    }

    fn calls_user_code(&self) -> bool {
        self.transforms.values().any(|t| t.calls_user_code())
    }

    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error> {
        check_update_trees(&state.leaves, updates, params)?;
        self.check_groups(state)?;
        for (g, t) in state.groups.iter().zip(self.transforms.values()) {
            let view = Selected::shared(updates, &g.flags);
            let pview = params.map(|p| Selected::shared(p, &g.flags));
            t.validate(&view, &g.state, pview.as_ref(), extra)?;
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
            for (g, t) in state.groups.iter_mut().zip(self.transforms.values()) {
                let mut pview = Selected::writable(&mut *params, &g.flags);
                let gview = Selected::shared(grads, &g.flags);
                t.step_with(&mut pview, &gview, &mut g.state, extra)?;
            }
            Ok(())
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
            for (g, t) in state.groups.iter_mut().zip(self.transforms.values()) {
                let mut pview = Selected::writable(&mut *params, &g.flags);
                let mut bview = Selected::writable(&mut *buffer, &g.flags);
                t.step_with_buffer(&mut pview, &mut bview, &mut g.state, extra)?;
            }
            Ok(())
        })
    }
}
