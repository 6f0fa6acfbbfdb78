//! optim's optimizers for dfdx 0.13 models: [`Optim::update`] takes the model and the
//! gradients as dfdx's own `Optimizer::update` does, and runs any optim transformation
//! (per-element or tree-wide) over the model's trainable tensors, named by their dfdx
//! paths (`"0.weight"`, `"2.bias"` for a tuple model; the field names of a custom one).
//!
//! ```
//! use dfdx::prelude::*;
//!
//! type Model = (Linear<2, 4>, ReLU, Linear<4, 1>);
//! let dev: Cpu = Default::default();
//! let mut model = dev.build_module::<Model, f32>();
//! let mut opt = optim_dfdx::Optim::new(optim_core::adamw(1e-2));
//! let x: Tensor<Rank2<3, 2>, f32, _> = dev.sample_normal();
//! for _ in 0..3 {
//!     let grads = model.alloc_grads();
//!     let loss = model.forward(x.trace(grads)).square().mean();
//!     let grads = loss.backward();
//!     opt.update(&mut model, &grads)?;
//! }
//! assert_eq!(opt.names(), ["0.bias", "0.weight", "2.bias", "2.weight"]);
//! # Ok::<(), optim_core::Error>(())
//! ```
//!
//! # What it copies
//!
//! dfdx keeps a tensor's data private: the public ways in and out are copies
//! (`Tensor::copy_into`, `Tensor::copy_from`, and `Gradients::get`, which clones the
//! gradient's buffer). So a step copies every trainable param out of the model into an
//! optim tree, every gradient out of `Gradients` (twice: dfdx's clone, then into the
//! tree), runs the fused step on the trees, and copies the params back. The trees are kept
//! between steps, so optim itself allocates nothing after the first step; dfdx's
//! gradient clone allocates one buffer per param per step. The state stays in optim's
//! trees, keyed by path, and is saved and loaded with [`Optim::save`] / [`Optim::load`]
//! (`optim::checkpoint`).
//!
//! dfdx's `Optimizer` trait is not implemented: its error type
//! (`OptimizerUpdateError<CpuError>`) cannot carry optim's errors. Every param must have a
//! gradient: build them with `model.alloc_grads()`, as dfdx recommends. `Gradients` has
//! no public way to ask whether it holds one, and its `get` panics otherwise; the adapter
//! catches that panic and returns an error naming the param (the panic message is still
//! printed by the panic hook).

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::{Cpu, Device, Gradients};
use dfdx::shapes::{Dtype, HasShape, Shape};
use dfdx::tensor::Tensor;
use optim_core::{Error, Float, StateTensors, Tensor as OTensor, TensorMap, Transformation};
use std::fmt::Debug;

/// An optim transformation `O` for dfdx models of element type `E` (f32 or f64) on the
/// CPU.
pub struct Optim<O: Transformation<E>, E: Float> {
    opt: O,
    state: Option<O::State>,
    params: TensorMap<E>,
    grads: TensorMap<E>,
}

impl<O: Transformation<E>, E: Float + Dtype> Optim<O, E>
where
    Cpu: Device<E>,
{
    /// The adapter for `opt`; the state is built on the first update, from the model.
    pub fn new(opt: O) -> Self {
        Optim {
            opt,
            state: None,
            params: TensorMap::new(),
            grads: TensorMap::new(),
        }
    }

    /// The trainable tensors' paths, in the order the state keeps them (after the first
    /// update or load).
    pub fn names(&self) -> Vec<&str> {
        self.params.keys().map(String::as_str).collect()
    }

    /// The optimizer state, once built.
    pub fn state(&self) -> Option<&O::State> {
        self.state.as_ref()
    }

    /// One step: copies the model's trainable tensors and their gradients out, runs the
    /// transformation, and copies the new params back. On error the model is unchanged.
    pub fn update<M: TensorCollection<E, Cpu>>(
        &mut self,
        model: &mut M,
        grads: &Gradients<E, Cpu>,
    ) -> Result<(), Error> {
        self.copy_out(model, Some(grads))?;
        if self.state.is_none() {
            self.state = Some(self.opt.init(&self.params)?);
        }
        let state = self.state.as_mut().expect("built above");
        self.opt.step(&mut self.params, &self.grads, state)?;
        self.copy_in(model)
    }

    fn copy_out<M: TensorCollection<E, Cpu>>(
        &mut self,
        model: &M,
        grads: Option<&Gradients<E, Cpu>>,
    ) -> Result<(), Error> {
        let mut seen = 0;
        let mut out = CopyOut {
            params: &mut self.params,
            grads: grads.map(|g| (g, &mut self.grads)),
            seen: &mut seen,
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: (model, String::new()),
            f: &mut out,
        })?;
        if seen != self.params.len() {
            // The model has other tensors than the ones seen before.
            let state_leaves = self.params.len();
            return Err(Error::LeafCount {
                what: "model's trainable tensors".into(),
                expected: state_leaves,
                got: seen,
            });
        }
        Ok(())
    }

    fn copy_in<M: TensorCollection<E, Cpu>>(&mut self, model: &mut M) -> Result<(), Error> {
        M::iter_tensors(&mut RecursiveWalker {
            m: (model, String::new()),
            f: &mut CopyIn {
                params: &self.params,
            },
        })?;
        Ok(())
    }

    /// Saves the model's trainable tensors and the optimizer state to `file`.
    pub fn save<M: TensorCollection<E, Cpu>>(
        &mut self,
        file: impl AsRef<std::path::Path>,
        model: &M,
    ) -> Result<(), Error>
    where
        O: Debug,
        O::State: StateTensors<E>,
    {
        self.copy_out(model, None)?;
        if self.state.is_none() {
            self.state = Some(self.opt.init(&self.params)?);
        }
        let state = self.state.as_ref().expect("built above");
        optim_checkpoint::save(file, &self.opt, &self.params, state)
    }

    /// Loads the model's trainable tensors (into the model) and the optimizer state from
    /// `file`, strictly (see `optim::checkpoint::load`).
    pub fn load<M: TensorCollection<E, Cpu>>(
        &mut self,
        file: impl AsRef<std::path::Path>,
        model: &mut M,
    ) -> Result<optim_checkpoint::Metadata, Error>
    where
        O: Debug,
        O::State: StateTensors<E>,
    {
        self.copy_out(model, None)?;
        let mut state = self.opt.init(&self.params)?;
        let mut params = self.params.clone();
        let meta = optim_checkpoint::load(file, &self.opt, &mut params, &mut state)?;
        self.params = params;
        self.state = Some(state);
        self.copy_in(model)?;
        Ok(meta)
    }
}

fn dims<S: Shape>(s: &S) -> Vec<usize> {
    s.concrete().into_iter().collect()
}

/// Copies trainable tensors (and their gradients) into optim trees by path.
struct CopyOut<'a, E: Float + Dtype>
where
    Cpu: Device<E>,
{
    params: &'a mut TensorMap<E>,
    grads: Option<(&'a Gradients<E, Cpu>, &'a mut TensorMap<E>)>,
    seen: &'a mut usize,
}

fn leaf<'m, E: Float>(
    m: &'m mut TensorMap<E>,
    name: &str,
    shape: Vec<usize>,
) -> &'m mut OTensor<E> {
    let fits = m.get(name).is_some_and(|t| t.shape() == shape.as_slice());
    if !fits {
        m.insert(name.to_string(), OTensor::zeros(shape));
    }
    m.get_mut(name).expect("inserted above")
}

impl<E: Float + Dtype> TensorVisitor<E, Cpu> for CopyOut<'_, E>
where
    Cpu: Device<E>,
{
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = Error;
    type E2 = E;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, E, Cpu>,
        (t, name): (&Tensor<S, E, Cpu>, String),
    ) -> Result<Option<Tensor<S, E, Cpu>>, Error> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let shape = dims(t.shape());
        t.copy_into(leaf(self.params, &name, shape.clone()).data_mut());
        *self.seen += 1;
        if let Some((grads, out)) = &mut self.grads {
            let g = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| grads.get(t)))
                .map_err(|_| Error::MissingLeaf {
                    path: name.clone(),
                    missing_in: "gradients (build them with `model.alloc_grads()`)".into(),
                })?;
            g.copy_into(leaf(out, &name, shape).data_mut());
        }
        Ok(None)
    }
}

/// Copies the params back into the model.
struct CopyIn<'a, E: Float + Dtype> {
    params: &'a TensorMap<E>,
}

impl<E: Float + Dtype> TensorVisitor<E, Cpu> for CopyIn<'_, E>
where
    Cpu: Device<E>,
{
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = Error;
    type E2 = E;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, E, Cpu>,
        (t, name): (&mut Tensor<S, E, Cpu>, String),
    ) -> Result<Option<Tensor<S, E, Cpu>>, Error> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        match self.params.get(&name) {
            Some(p) if p.len() == t.shape().num_elements() => t.copy_from(p.data()),
            _ => {
                return Err(Error::MissingLeaf {
                    path: name,
                    missing_in: "optimizer's params".into(),
                })
            }
        }
        Ok(None)
    }
}
