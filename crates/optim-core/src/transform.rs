//! The transformation contract: `init`, `update`, the fused `step`, and `apply_updates`.

use crate::{Error, Float, Path, Tree};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

/// Extra arguments some transformations need at update time (optax's `extra_args`).
///
/// `value` is the objective's value at the current params (`polyak_sgd`, `momo`,
/// `reduce_on_plateau` and the line searches read it); `grad` the gradient there and
/// `value_fn` the objective itself, which the line searches of `lbfgs`
/// ([`scale_by_zoom_linesearch`](crate::scale_by_zoom_linesearch),
/// [`scale_by_backtracking_linesearch`](crate::scale_by_backtracking_linesearch))
/// evaluate at trial params. Both are kept type-erased so that one `Extra` serves every
/// transformation and combinator: the line search downcasts them to the params' element
/// type, and a missing one, or one over another element type, is
/// [`Error::MissingExtra`] naming it. Cloning shares them (they sit behind an `Arc`), so
/// an `Extra` built once can be passed to every step without allocating.
#[derive(Clone, Default)]
pub struct Extra {
    /// The objective's value at the current params.
    pub value: Option<f64>,
    /// The gradient at the current params: a `Vec<Vec<F>>` of the leaves in traversal
    /// order, set by [`with_grad`](Self::with_grad).
    pub grad: Option<Arc<dyn std::any::Any + Send + Sync>>,
    /// The objective (optax's `value_fn`): an [`Objective<F>`](crate::Objective), set by
    /// [`with_objective`](Self::with_objective).
    pub value_fn: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl Debug for Extra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extra")
            .field("value", &self.value)
            .field("grad", &self.grad.as_ref().map(|_| ".."))
            .field("value_fn", &self.value_fn.as_ref().map(|_| ".."))
            .finish()
    }
}

impl Extra {
    /// Extra arguments carrying the objective value.
    pub fn value(value: f64) -> Self {
        Extra {
            value: Some(value),
            ..Extra::default()
        }
    }

    /// These extra arguments with the objective (optax's `value_fn`), for the line
    /// searches.
    #[must_use]
    pub fn with_objective<F: Float>(mut self, objective: crate::Objective<F>) -> Self {
        self.value_fn = Some(Arc::new(objective));
        self
    }

    /// These extra arguments with the gradient at the current params (copied, leaf by
    /// leaf in traversal order: this allocates).
    #[must_use]
    pub fn with_grad<F: Float, P: Tree<F>>(mut self, grad: &P) -> Self {
        let mut leaves: Vec<Vec<F>> = Vec::new();
        let _ = grad.visit(&Path::ROOT, &mut |_, d, _| {
            leaves.push(d.to_vec());
            Ok(())
        });
        self.grad = Some(Arc::new(leaves));
        self
    }

    /// The objective over `F`, or [`Error::MissingExtra`] naming `value_fn` for
    /// `transform` when it is absent or over another element type.
    pub fn objective<F: Float>(&self, transform: &str) -> Result<&crate::Objective<F>, Error> {
        let missing = || Error::MissingExtra {
            transform: transform.into(),
            arg: format!("value_fn (an Objective<{}>)", F::DTYPE.name()),
        };
        let f = self.value_fn.as_ref().ok_or_else(missing)?;
        f.downcast_ref::<crate::Objective<F>>().ok_or_else(missing)
    }

    /// The gradient's leaves over `F`, when given; one over another element type is
    /// [`Error::MissingExtra`] naming `grad`.
    pub fn grad_leaves<F: Float>(&self, transform: &str) -> Result<Option<&[Vec<F>]>, Error> {
        match &self.grad {
            None => Ok(None),
            Some(g) => g
                .downcast_ref::<Vec<Vec<F>>>()
                .map(|v| Some(v.as_slice()))
                .ok_or_else(|| Error::MissingExtra {
                    transform: transform.into(),
                    arg: format!("grad (leaves of {})", F::DTYPE.name()),
                }),
        }
    }
}

/// A gradient transformation, as in optax: `init` builds the state from the params;
/// `update` turns gradients into updates in place; `step` applies them to the params.
///
/// Updates follow optax's sign convention: they are *added* to the params, so a descent
/// method returns `-lr * direction`. Every method validates the trees against the state
/// before writing anything: on error, params, updates and state are unchanged.
pub trait Transformation<F: Float>: Send + Sync {
    /// The state, one per params tree; serde-able so training can be checkpointed.
    type State: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The optax name of this transformation (`"adam"`, `"scale_by_adam"`).
    fn name(&self) -> &'static str;

    /// Builds the initial state for `params`.
    fn init<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error>;

    /// Turns `updates` (the gradients, on entry) into updates, given the state, the
    /// current params and extra arguments.
    fn update_with<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error>;

    /// [`update_with`](Self::update_with) without extra arguments.
    fn update<P: Tree<F>>(
        &self,
        updates: &mut P,
        state: &mut Self::State,
        params: Option<&P>,
    ) -> Result<(), Error> {
        self.update_with(updates, state, params, &Extra::default())
    }

    /// One optimizer step: updates `params` in place from `grads`. Optimizers declared
    /// with `#[optimizer]` do this in one fused pass with no updates buffer, and the
    /// combinators with a buffer kept in their state; this default copies the gradients
    /// into a new updates buffer (it allocates), then runs
    /// [`step_with_buffer`](Self::step_with_buffer).
    fn step_with<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        let mut bufs = crate::combine::overlay::scratch_for(grads)?;
        crate::combine::overlay::copy_into(grads, &mut bufs)?;
        let mut updates = crate::combine::Overlay::over(grads, &mut bufs);
        let mut params = crate::combine::Overlay::of_mut(params);
        self.step_with_buffer(&mut params, &mut updates, state, extra)
    }

    /// [`step_with`](Self::step_with) without extra arguments.
    fn step<P: Tree<F>>(
        &self,
        params: &mut P,
        grads: &P,
        state: &mut Self::State,
    ) -> Result<(), Error> {
        self.step_with(params, grads, state, &Extra::default())
    }

    /// One step given the gradients in a buffer it may overwrite with the updates: what
    /// a combinator calls on its members with its own scratch. The default runs
    /// [`update_with`](Self::update_with) in the buffer, then adds it to the params;
    /// fused implementations read the buffer as gradients and write only the params.
    fn step_with_buffer<P: Tree<F>>(
        &self,
        params: &mut P,
        buffer: &mut P,
        state: &mut Self::State,
        extra: &Extra,
    ) -> Result<(), Error> {
        self.update_with(buffer, state, Some(&*params), extra)?;
        apply_updates(params, buffer)
    }

    /// Checks, writing nothing, everything [`update_with`](Self::update_with) checks
    /// before it writes (and [`step_with`](Self::step_with), given `Some(params)`): the
    /// trees against the state's leaves, every state buffer, the extra arguments it
    /// reads and its arguments' conditions at the next step. A combinator validates
    /// every member before any member runs, so an error anywhere in a composition leaves
    /// params, updates and every state unchanged. An `Ok` promises that the call with
    /// the same trees, state and extra arguments fails on nothing but the values.
    #[doc(hidden)]
    fn validate<P: Tree<F>>(
        &self,
        updates: &P,
        state: &Self::State,
        params: Option<&P>,
        extra: &Extra,
    ) -> Result<(), Error>;

    /// Whether a call that [`validate`](Self::validate) passed may still fail: a line
    /// search evaluates the user's objective, which may return an error (it writes
    /// nothing then). A chain whose later member calls user code keeps a copy of what
    /// its earlier members write, to restore on that error. Defaults to `false`;
    /// combinators answer for their members.
    #[doc(hidden)]
    fn calls_user_code(&self) -> bool {
        false
    }

    /// [`init`](Self::init) for a member of a combinator that owns the updates buffer,
    /// so it needs no scratch of its own (a chain inside a chain). Defaults to `init`.
    #[doc(hidden)]
    fn init_inner<P: Tree<F>>(&self, params: &P) -> Result<Self::State, Error> {
        self.init(params)
    }
}

/// Adds `updates` to `params` (optax's `apply_updates`). Checks every leaf's shape
/// before writing any.
pub fn apply_updates<F: Float, P: Tree<F>>(params: &mut P, updates: &P) -> Result<(), Error> {
    check_same_shapes(params, updates, "updates")?;
    params.zip_mut(updates, &Path::ROOT, &mut |_, (p, _), (u, _)| {
        for (p, u) in p.iter_mut().zip(u) {
            *p = *p + *u;
        }
        Ok(())
    })
}

/// Checks that `other` has the same leaves with the same shapes as `tree`.
pub fn check_same_shapes<F: Float, P: Tree<F>>(
    tree: &P,
    other: &P,
    what: &str,
) -> Result<(), Error> {
    tree.zip(other, &Path::ROOT, &mut |path, (a, sa), (b, sb)| {
        crate::tree::check_shape(path, what, sa, sb)?;
        check_len(path, a, sa)?;
        check_len(path, b, sb)
    })
}

pub(crate) fn check_len<F>(path: &Path<'_>, data: &[F], shape: &[usize]) -> Result<(), Error> {
    let Some(expected) = crate::tree::numel(shape) else {
        return Err(Error::ShapeOverflow {
            path: path.to_string(),
            shape: shape.to_vec(),
        });
    };
    if expected == data.len() {
        Ok(())
    } else {
        Err(Error::DataLen {
            path: path.to_string(),
            shape: shape.to_vec(),
            expected,
            got: data.len(),
        })
    }
}

/// Which leaves a transformation applies to: optax's `mask` argument.
///
/// `Leaves` maps a path (or a path prefix such as `"encoder"`, covering `"encoder.w"`)
/// to a flag, like optax's bool tree; every leaf must be covered and every key must name
/// a leaf or prefix. `Predicate` decides from the leaf's path.
#[derive(Clone, Default)]
pub enum Mask {
    /// Every leaf (optax's `mask=None`).
    #[default]
    All,
    /// A flag per path or path prefix.
    Leaves(BTreeMap<String, bool>),
    /// A function of the leaf's path.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mask::All => f.write_str("All"),
            Mask::Leaves(m) => f.debug_tuple("Leaves").field(m).finish(),
            Mask::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl Mask {
    /// A mask from a path predicate.
    pub fn by_path(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Mask::Predicate(Arc::new(f))
    }

    /// The flag of the leaf at `path` alone (the longest covering key decides), or `None`
    /// when no key covers it; unlike [`resolve`](Self::resolve), keys naming other leaves
    /// are not errors (a combinator member that sees some of the leaves uses this).
    pub fn lookup(&self, path: &str) -> Option<bool> {
        match self {
            Mask::All => Some(true),
            Mask::Predicate(f) => Some(f(path)),
            Mask::Leaves(m) => prefixes(path).find_map(|k| m.get(k).copied()),
        }
    }

    /// One flag per leaf of `paths`, in order.
    pub fn resolve(&self, paths: &[String]) -> Result<Vec<bool>, Error> {
        match self {
            Mask::All => Ok(vec![true; paths.len()]),
            Mask::Predicate(f) => Ok(paths.iter().map(|p| f(p)).collect()),
            Mask::Leaves(m) => {
                // Linear in the paths' length: each path looks up its own prefixes (the
                // longest covering key decides), and a key is known when it is a path or
                // a prefix of one.
                let mut known = std::collections::HashSet::new();
                let flags = paths
                    .iter()
                    .map(|p| {
                        let mut flag = None;
                        for prefix in prefixes(p) {
                            known.insert(prefix);
                            if flag.is_none() {
                                flag = m.get(prefix).copied();
                            }
                        }
                        flag.ok_or_else(|| Error::MissingLeaf {
                            path: p.clone(),
                            missing_in: "mask".into(),
                        })
                    })
                    .collect::<Vec<_>>();
                if let Some(key) = m.keys().find(|k| !known.contains(k.as_str())) {
                    return Err(Error::UnknownMaskLeaf { path: key.clone() });
                }
                flags.into_iter().collect()
            }
        }
    }
}

/// The keys that cover `path`, longest first: the path itself, each prefix ending before
/// a `.`, and the empty key.
fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    let cuts = path.rmatch_indices('.').map(|(i, _)| i);
    std::iter::once(path)
        .chain(cuts.map(move |i| &path[..i]))
        .chain((!path.is_empty()).then_some(""))
}

impl From<BTreeMap<String, bool>> for Mask {
    fn from(m: BTreeMap<String, bool>) -> Self {
        Mask::Leaves(m)
    }
}

impl<const N: usize> From<[(&str, bool); N]> for Mask {
    fn from(m: [(&str, bool); N]) -> Self {
        Mask::Leaves(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

/// The path and shape of every leaf a state was built for; checked at every update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafMeta {
    pub path: String,
    pub shape: Vec<usize>,
}

impl LeafMeta {
    /// Number of elements (`usize::MAX` for a shape whose count overflows, which no
    /// buffer's length matches).
    pub fn len(&self) -> usize {
        crate::tree::numel(&self.shape).unwrap_or(usize::MAX)
    }
    /// Whether the leaf has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Records the leaves of `params`, checking that each leaf's data fits its shape.
pub fn leaf_metas<F: Float, P: Tree<F>>(params: &P) -> Result<Vec<LeafMeta>, Error> {
    let mut v = Vec::new();
    params.visit(&Path::ROOT, &mut |path, data, shape| {
        check_len(path, data, shape)?;
        v.push(LeafMeta {
            path: path.to_string(),
            shape: shape.to_vec(),
        });
        Ok(())
    })?;
    Ok(v)
}

/// Checks that `tree` has exactly the leaves (paths and shapes) of `metas`.
pub fn check_against<F: Float, P: Tree<F>>(
    tree: &P,
    metas: &[LeafMeta],
    what: &str,
) -> Result<(), Error> {
    let mut i = 0;
    tree.visit(&Path::ROOT, &mut |path, data, shape| {
        let m = match metas.get(i) {
            Some(m) if path.matches(&m.path) => m,
            // A leaf the state does not know is extra; otherwise the state's leaf at this
            // position is the first one the tree lacks.
            Some(m) if metas[i..].iter().any(|m| path.matches(&m.path)) => {
                return Err(Error::MissingLeaf {
                    path: m.path.clone(),
                    missing_in: what.into(),
                })
            }
            _ => {
                return Err(Error::ExtraLeaf {
                    path: path.to_string(),
                    extra_in: what.into(),
                })
            }
        };
        crate::tree::check_shape(path, what, &m.shape, shape)?;
        check_len(path, data, shape)?;
        i += 1;
        Ok(())
    })?;
    if let Some(m) = metas.get(i) {
        return Err(Error::MissingLeaf {
            path: m.path.clone(),
            missing_in: what.into(),
        });
    }
    Ok(())
}

/// Checks `updates` (and `params`, when given) against the leaves a state was built for.
pub fn check_update_trees<F: Float, P: Tree<F>>(
    metas: &[LeafMeta],
    updates: &P,
    params: Option<&P>,
) -> Result<(), Error> {
    check_against(updates, metas, "gradients")?;
    if let Some(p) = params {
        check_against(p, metas, "params")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_longest_covering_key_decides() {
        let mask = Mask::from([("", false), ("enc", true), ("enc.w", false), ("x", true)]);
        let got = mask
            .resolve(&paths(&["enc.b", "enc.w", "enc.w2", "encx", "x", "y.z"]))
            .unwrap();
        assert_eq!(got, [true, false, true, false, true, false]);
        // Without the empty key, a path no key covers is an error naming it.
        let mask = Mask::from([("enc", true)]);
        let err = mask.resolve(&paths(&["enc.b", "encx"])).unwrap_err();
        assert!(
            matches!(&err, Error::MissingLeaf { path, .. } if path == "encx"),
            "{err}"
        );
        // A key that is neither a path nor a prefix of one (`enc.w` is not a prefix of
        // `enc.wx`) is an error naming the key, before any missing leaf.
        let mask = Mask::from([("enc.w", true), ("zz", true)]);
        let err = mask.resolve(&paths(&["enc.wx", "q"])).unwrap_err();
        assert_eq!(
            err,
            Error::UnknownMaskLeaf {
                path: "enc.w".into()
            }
        );
    }

    /// A mask with one key per leaf over 10,000 leaves resolves each leaf to its own
    /// flag (this used to compare every key with every path).
    #[test]
    fn a_large_mask_resolves_leaf_by_leaf() {
        let names: Vec<String> = (0..10_000)
            .map(|i| format!("layer{}.w{}", i / 10, i % 10))
            .collect();
        let mask = Mask::Leaves(
            names
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), i % 3 == 0))
                .collect(),
        );
        let got = mask.resolve(&names).unwrap();
        assert!(got.iter().enumerate().all(|(i, &f)| f == (i % 3 == 0)));
    }
}
