//! optim's optimizers in candle: [`Optim`] implements [`candle_nn::Optimizer`] for any
//! optim transformation, so a candle training loop switches optimizer in one line.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{Optimizer, VarBuilder, VarMap};
//! use optim_candle::Optim;
//!
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let lin = candle_nn::linear(2, 1, vb.pp("lin"))?;
//! let mut opt = Optim::from_varmap(&varmap, optim_core::adamw(1e-2))?;
//! let x = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu)?;
//! for _ in 0..3 {
//!     let loss = candle_nn::Module::forward(&lin, &x)?.sqr()?.mean_all()?;
//!     opt.backward_step(&loss)?;
//! }
//! assert_eq!(opt.names(), ["lin.bias", "lin.weight"]);
//! # Ok::<(), candle_core::Error>(())
//! ```
//!
//! # How a step runs
//!
//! The vars form an optim tree with one leaf per var ([`CandleTree`]), named by the
//! VarMap's names ([`Optim::from_varmap`]) or by position
//! ([`Optimizer::new`](candle_nn::Optimizer::new), given `Vec<Var>`); their gradients
//! form a second tree of the same names. The optimizer's
//! fused step runs over the two: for each var, candle's `inplace_op2` hands it the var's
//! `&mut` CPU storage and the gradient's storage, and the step writes the new params
//! there. Nothing is copied. After the first step, a step allocates nothing in
//! optim-candle or optim; candle's `inplace_op2` itself allocates one small `Vec` per var
//! (its overlap check of the destination's layout), as `tests/no_alloc.rs` counts.
//!
//! Since optim's steps run in parallel (the step records every leaf's memory during the
//! walk of the tree, then runs tasks over it), candle's storage lock is held while each
//! var is recorded, not while it is written: the vars must not be read or written from
//! another thread during `step`, as in any training loop.
//!
//! Every var must be a contiguous CPU tensor of the optimizer's element type `F` (f32 by
//! default, f64 with [`Optim64`]), and every var must have a gradient at each step:
//! otherwise `new` or `step` returns an error naming the var and changes nothing.
//! **Other devices** (CUDA, Metal) are refused by `new` with an error naming the var and
//! its device: optim's kernels run on the CPU, and a per-step copy to the host and back
//! is not done silently. **bf16 and f16 vars** are refused the same way (optim computes in
//! f32 or f64); bf16 *state* is supported through the optimizers' dtype arguments
//! (`adamw(1e-3).mu_dtype(Dtype::BF16)`).
//!
//! # Learning rate
//!
//! optim's optimizers carry their learning rate, a constant or a schedule, in their
//! configuration. [`set_learning_rate`](candle_nn::Optimizer::set_learning_rate) sets the
//! optimizer's `learning_rate` argument to a constant; the next step reports an error if
//! the optimizer has no such argument. [`learning_rate`](candle_nn::Optimizer::learning_rate)
//! returns the constant last set that way, and NaN before any: optim's configurations
//! do not expose a getter by name (read the rate from the configuration itself).
//!
//! # Checkpoints
//!
//! [`Optim::save`] and [`Optim::load`] write and read the vars and the optimizer state
//! through `optim::checkpoint` (safetensors; `params/<var>`, `mu/<var>`, ...). Loading
//! writes the vars in place and is strict: a missing, extra or reshaped var is an error
//! naming it, and nothing is written then.

mod tree;

pub use tree::{check, CandleTree, Elem};

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use optim_core::{Error as OptimError, Hyperparams, StateTensors, Transformation, Value};
use std::fmt::Debug;

/// An optim transformation `O` as a candle optimizer over f32 vars.
pub type Optim<O> = OptimOf<O, f32>;

/// An optim transformation `O` as a candle optimizer over f64 vars.
pub type Optim64<O> = OptimOf<O, f64>;

/// An optim transformation `O` as a candle optimizer over vars of element type `F`
/// (use the aliases [`Optim`] and [`Optim64`]).
pub struct OptimOf<O: Transformation<F>, F: Elem> {
    opt: O,
    names: Vec<String>,
    vars: Vec<Var>,
    /// The vars' tensors (handles to the same storage), as the params tree reads them.
    params: Vec<Tensor>,
    /// Each step's gradients, in the vars' order; kept to reuse its memory.
    grads: Vec<Tensor>,
    state: O::State,
    learning_rate: f64,
    /// An error of `set_learning_rate`, reported by the next step.
    pending: Option<OptimError>,
}

fn to_candle(e: OptimError) -> candle_core::Error {
    candle_core::Error::Msg(format!("optim: {e}"))
}

impl<O: Transformation<F>, F: Elem> OptimOf<O, F> {
    /// An optimizer over `vars`, named by `names` (the state is keyed by these names, so
    /// a checkpoint finds each var's state by its name).
    pub fn with_names(names: Vec<String>, vars: Vec<Var>, opt: O) -> candle_core::Result<Self> {
        if names.len() != vars.len() {
            candle_core::bail!(
                "optim-candle: {} names for {} vars",
                names.len(),
                vars.len()
            );
        }
        for (n, v) in names.iter().zip(&vars) {
            if let Some(why) = check::<F>(v.as_tensor()) {
                candle_core::bail!("optim-candle: var `{n}` {why}");
            }
        }
        let params: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let state = opt
            .init(&CandleTree::<F>::new(&names, &params))
            .map_err(to_candle)?;
        let grads = Vec::with_capacity(vars.len());
        Ok(OptimOf {
            opt,
            names,
            vars,
            params,
            grads,
            state,
            learning_rate: f64::NAN,
            pending: None,
        })
    }

    /// An optimizer over the vars of `varmap`, named by their VarMap names and kept in
    /// name order: stable across runs, where `VarMap::all_vars` comes in hash order.
    pub fn from_varmap(varmap: &candle_nn::VarMap, opt: O) -> candle_core::Result<Self> {
        let data = varmap.data().lock().map_err(|_| {
            candle_core::Error::Msg("optim-candle: the VarMap's lock is poisoned".into())
        })?;
        let mut named: Vec<(String, Var)> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        drop(data);
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let (names, vars) = named.into_iter().unzip();
        Self::with_names(names, vars, opt)
    }

    /// The vars' names, in the order the state keeps them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The vars.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The optim transformation.
    pub fn transformation(&self) -> &O {
        &self.opt
    }

    /// The optimizer state.
    pub fn state(&self) -> &O::State {
        &self.state
    }

    /// One step from the gradients of `grads`, updating the vars in place.
    pub fn step_grads(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        if let Some(e) = self.pending.take() {
            return Err(to_candle(e));
        }
        self.grads.clear();
        for (n, v) in self.names.iter().zip(&self.vars) {
            let Some(g) = grads.get(v.as_tensor()) else {
                self.grads.clear();
                candle_core::bail!("optim-candle: var `{n}` has no gradient");
            };
            if let Some(why) = check::<F>(g) {
                self.grads.clear();
                candle_core::bail!("optim-candle: the gradient of var `{n}` {why}");
            }
            self.grads.push(g.clone());
        }
        let mut params = CandleTree::<F>::new(&self.names, &self.params);
        let grads = CandleTree::<F>::new(&self.names, &self.grads);
        let r = self.opt.step(&mut params, &grads, &mut self.state);
        // The gradient handles are dropped now, so candle can free them.
        self.grads.clear();
        r.map_err(to_candle)
    }

    /// Saves the vars and the optimizer state to `file` (safetensors, atomically).
    pub fn save(&self, file: impl AsRef<std::path::Path>) -> Result<(), OptimError>
    where
        O: Debug,
        O::State: StateTensors<F>,
    {
        let params = CandleTree::<F>::new(&self.names, &self.params);
        optim_checkpoint::save(file, &self.opt, &params, &self.state)
    }

    /// Loads the vars (in place) and the optimizer state from `file`, strictly.
    pub fn load(
        &mut self,
        file: impl AsRef<std::path::Path>,
    ) -> Result<optim_checkpoint::Metadata, OptimError>
    where
        O: Debug,
        O::State: StateTensors<F>,
    {
        let mut params = CandleTree::<F>::new(&self.names, &self.params);
        optim_checkpoint::load(file, &self.opt, &mut params, &mut self.state)
    }
}

impl<O, F> candle_nn::Optimizer for OptimOf<O, F>
where
    O: Transformation<F> + Hyperparams,
    F: Elem,
{
    type Config = O;

    /// The vars are named by position (`"0"`, `"1"`, ...); prefer
    /// [`Optim::from_varmap`], whose names survive a restart.
    fn new(vars: Vec<Var>, config: O) -> candle_core::Result<Self> {
        let names = (0..vars.len()).map(|i| i.to_string()).collect();
        Self::with_names(names, vars, config)
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step_grads(grads)
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f64) {
        match self.opt.set("learning_rate", Value::Num(lr)) {
            Ok(()) => self.learning_rate = lr,
            Err(e) => self.pending = Some(e),
        }
    }
}
