//! Any per-element optim transformation as burn's own per-parameter optimizer
//! (`burn::optim::Optimizer`), so burn's `ModuleOptimizer`, and the training loops built
//! on it, drive it like burn's Adam:
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::{GradientsParams, ModuleOptimizer};
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::default().autodiff();
//! let mut model: Linear = LinearConfig::new(2, 1).init(&device);
//! // The learning rate comes from burn (the `lr` of each step): build it with 1.0.
//! let per_tensor = optim_burn::PerTensor::new(optim_core::adamw(1.0));
//! let mut opt = ModuleOptimizer::from(per_tensor.clone());
//! let x = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
//! for _ in 0..3 {
//!     let loss = model.forward(x.clone()).powi_scalar(2).mean();
//!     let grads = GradientsParams::from_grads(loss.backward(), &model);
//!     model = opt.step(1e-2, model, grads);
//! }
//! assert!(per_tensor.take_errors().is_empty());
//! ```
//!
//! # What it is, and what it is not
//!
//! burn calls the optimizer once per param, with the param, its gradient and its state.
//! So each param is its own one-leaf optim tree (named `param`: burn does not pass the
//! path), which gives the same numbers as a step over the whole module for every
//! transformation whose math is per element or per leaf (adam, adamw, sgd, lion, lamb,
//! adafactor, ...). A tree-wide one (`clip_by_global_norm`, `partition`, the global
//! norms of schedule-free or prodigy) would see one param at a time: use the module-level
//! [`Optim`](crate::Optim) for those.
//!
//! burn's learning rate multiplies the transformation's updates, as burn's own
//! optimizers apply it: build the transformation with a learning rate of 1.0. For
//! optimizers whose learning rate is the last scale of the update (adam, adamw, sgd,
//! lion, rmsprop, ...) that is the same, bit for bit, as building it with burn's rate.
//!
//! State records are burn's: `ModuleOptimizer::to_record` keys them by `ParamId`, so they
//! resume only into a module whose params keep their ids (loaded from burn's own module
//! record). A module built anew gets new ids and its moments start from zero (burn issue
//! #5130); the module-level [`Optim`](crate::Optim) keys its checkpoints by path instead.
//! Each param's optim state is stored in the record as one `u8` tensor (`optim_state`)
//! holding the state in CBOR, which keeps every float exactly.
//!
//! burn's optimizer trait has no error channel. A step that fails (a non-float32 param,
//! a state of another shape) leaves the param and its state as they were and records the
//! error, which [`PerTensor::take_errors`] returns: check it after a step.

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor, TensorData};
use optim_core::{Error, Tensor as Leaf, TensorMap, Transformation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The optim transformation `O` as a burn per-parameter optimizer (float32 params).
pub struct PerTensor<O> {
    opt: Arc<O>,
    errors: Arc<Mutex<Vec<Error>>>,
}

impl<O> Clone for PerTensor<O> {
    fn clone(&self) -> Self {
        PerTensor {
            opt: self.opt.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl<O: Transformation<f32>> PerTensor<O> {
    /// burn's per-parameter optimizer running `opt` (build it with learning rate 1.0:
    /// burn's rate multiplies its updates). Clones share the error list.
    pub fn new(opt: O) -> Self {
        PerTensor {
            opt: Arc::new(opt),
            errors: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The errors of the steps that failed since the last call (each left its param and
    /// state unchanged), oldest first.
    pub fn take_errors(&self) -> Vec<Error> {
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// One param's step on optim trees: the new param data and state.
    fn try_step(
        &self,
        lr: LearningRate,
        shape: Vec<usize>,
        param: TensorData,
        grad: TensorData,
        state: Option<&TensorState<O::State>>,
    ) -> Result<(Vec<f32>, O::State), Error> {
        let floats = |what: &str, d: TensorData| {
            d.try_into_vec::<f32>().map_err(|e| Error::BadValue {
                expected: format!("float32 data for the {what} (optim-burn runs float32)"),
                got: format!("{e:?}"),
            })
        };
        let mut params = TensorMap::new();
        params.insert(
            NAME.into(),
            Leaf::new(shape.clone(), floats("param", param)?)?,
        );
        let mut updates = TensorMap::new();
        updates.insert(NAME.into(), Leaf::new(shape, floats("gradient", grad)?)?);
        let mut state = match state {
            Some(s) => s.0.clone(),
            None => self.opt.init(&params)?,
        };
        self.opt.update(&mut updates, &mut state, Some(&params))?;
        let lr = lr as f32;
        let mut p = params.remove(NAME).expect("inserted above").into_data();
        for (p, u) in p.iter_mut().zip(updates[NAME].data()) {
            *p += *u * lr;
        }
        Ok((p, state))
    }
}

/// The name of the one leaf of each param's tree.
const NAME: &str = "param";

impl<O> Optimizer for PerTensor<O>
where
    O: Transformation<f32> + 'static,
    O::State: Serialize + DeserializeOwned,
{
    type State<const D: usize> = TensorState<O::State>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let shape = tensor.shape().to_vec();
        let device = tensor.device();
        match self.try_step(
            lr,
            shape.clone(),
            tensor.clone().into_data(),
            grad.into_data(),
            state.as_ref(),
        ) {
            Ok((p, s)) => (
                Tensor::from_data(TensorData::new(p, shape), &device),
                Some(TensorState(s)),
            ),
            Err(e) => {
                self.errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(e);
                (tensor, state)
            }
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, _device: &Device) -> Self::State<D> {
        // The state lives in host memory, whatever the param's device.
        state
    }
}

/// One param's optim state, as burn's records keep it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorState<S>(pub S);

/// The record tensor that holds the CBOR of the state.
const STATE_TENSOR: &str = "optim_state";

impl<S> RecordState for TensorState<S>
where
    S: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        let mut bytes = Vec::new();
        // Writing CBOR into a Vec fails only if the state's serializer does, which
        // optim's states never do; an empty tensor then loads as "no state".
        if ciborium::into_writer(&self.0, &mut bytes).is_err() {
            bytes.clear();
        }
        let n = bytes.len();
        out.push_tensor(prefix, STATE_TENSOR, TensorData::new(bytes, [n]));
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, _device: &Device) -> Option<Self> {
        let data = src.take_tensor(prefix, STATE_TENSOR)?;
        let bytes = data.try_into_vec::<u8>().ok()?;
        // A record burn cannot rebuild is skipped by burn (the param starts afresh), as
        // for its own optimizers' states.
        ciborium::from_reader(bytes.as_slice())
            .ok()
            .map(TensorState)
    }
}
