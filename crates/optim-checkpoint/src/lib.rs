//! Checkpoints: params and optimizer state saved as one safetensors file (the
//! `safetensors` crate), read back strictly or, when asked, partially.
//!
//! Every tensor is named: a param by `params/` and its leaf path (`params/encoder.w`),
//! a state tensor by its buffer and leaf path (`mu/encoder.w`, `0/count` in a chain; the
//! names are those of [`StateTensors`](optim_core::StateTensors)). Each is stored in its
//! own dtype: a bfloat16 moment stays bfloat16, a step count is a `u64`, a resolved mask
//! flag a `bool`. The file's metadata holds the optimizer's name, its hyperparameters (as
//! its `Debug` form prints them), the step count and this crate's version.
//!
//! [`save`] writes a temporary file beside the target, syncs it and renames it over the
//! target, so a crash leaves either the old checkpoint or the new one. [`load`] loads
//! into params and a state of the right structure (the state from the optimizer's
//! `init`, as training starts): every tensor of the params and the state must be in the
//! file with its dtype and shape, and the file must hold nothing else; an error names the
//! first offending tensor, and nothing is written unless everything fits. Leaf order in
//! the file does not matter: tensors are found by name. [`load_partial`] restores what
//! fits and reports what it did not.
//!
//! ```
//! use optim_checkpoint as checkpoint; // `optim::checkpoint` in the facade
//! use optim_core::{adamw, Tensor, TensorMap, Transformation};
//!
//! let opt = adamw(1e-3);
//! let mut params: TensorMap<f32> = TensorMap::new();
//! params.insert("w".into(), Tensor::full([2, 3], 0.5));
//! let mut state = opt.init(&params)?;
//! let grads = params.clone();
//! opt.step(&mut params, &grads, &mut state)?;
//!
//! let file = std::env::temp_dir().join(format!("optim-doc-{}.safetensors", std::process::id()));
//! checkpoint::save(&file, &opt, &params, &state)?;
//!
//! let (mut params2, mut state2) = (params.clone(), opt.init(&params)?);
//! checkpoint::load(&file, &opt, &mut params2, &mut state2)?;
//! assert_eq!((params2, state2), (params, state));
//! # std::fs::remove_file(&file).ok();
//! # Ok::<(), optim_core::Error>(())
//! ```

mod encode;
mod load;
mod save;

pub use load::{load, load_partial, read_metadata, LoadReport, NotRestored};
pub use save::{save, save_with};

/// The metadata key of the optimizer's name.
pub const OPTIMIZER_KEY: &str = "optimizer";
/// The metadata key of the optimizer's hyperparameters, as its `Debug` form prints them.
pub const HYPERPARAMETERS_KEY: &str = "hyperparameters";
/// The metadata key of the step count (the first count of the state, in decimal).
pub const STEP_KEY: &str = "step";
/// The metadata key of the version of optim that wrote the file.
pub const VERSION_KEY: &str = "optim_version";
/// The prefix of the params' tensor names.
pub const PARAMS_PREFIX: &str = "params/";

/// The metadata of a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The optimizer's name (`"adamw"`, `"chain"`).
    pub optimizer: String,
    /// The optimizer's hyperparameters, as its `Debug` form prints them.
    pub hyperparameters: String,
    /// The step count of the state (its first count).
    pub step: u64,
    /// The version of optim that wrote the file.
    pub optim_version: String,
    /// Entries a caller added with [`save_with`] (an epoch, a data-loader position).
    pub extra: std::collections::BTreeMap<String, String>,
}
