//! The by-name layer: any registered optimizer, or an expression of combinators over
//! them, built at run time from names and arguments, and used through one object-safe
//! type, [`Boxed`], with an opaque serde-able state, [`DynState`].
//!
//! An expression is optax's call written as JSON (the reference set's "transformation
//! expressions"): `{"fn": "<optax function>", "args": {...}}`, where an argument that is a
//! transformation (`inner`, `opt`, the members of `chain`, `named_chain` and `partition`)
//! is an expression too, and a bare string `"zero_nans"` means `{"fn": "zero_nans",
//! "args": {}}`. Leaf names are the registry's ([`crate::registry::names`]).
//!
//! ```
//! use optim_core::{expr, Tensor, TensorMap, Transformation};
//!
//! let e = serde_json::json!({"fn": "chain", "args": {"transforms": [
//!     {"fn": "clip_by_global_norm", "args": {"max_norm": 1.0}},
//!     {"fn": "adam", "args": {"learning_rate": 0.01}},
//! ]}});
//! let opt = expr::build::<f32>(&e)?;
//! let mut params: TensorMap<f32> = TensorMap::new();
//! params.insert("w".into(), Tensor::full([2, 3], 0.5));
//! let grads = params.clone();
//! let mut state = opt.init(&params)?;
//! opt.step(&mut params, &grads, &mut state)?;
//! # Ok::<(), optim_core::Error>(())
//! ```

mod boxed;
mod build;
mod handle;

pub use boxed::{Boxed, DynState};
pub use build::{arg_value, build, from_name};
pub use handle::Handle;
