//! optim's optimizers for burn 0.22 modules: [`Optim::step`] takes the module and its
//! gradients as burn's own `optimizer.step(lr, module, grads)` does, and runs any optim
//! transformation (per-element or tree-wide: `clip_by_global_norm`, `partition`,
//! `lamb`'s per-leaf norms) over the module's float params, named by their burn paths
//! (`"linear1.weight"`, the field names joined by dots, as burn's own optimizer names
//! them).
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::GradientsParams;
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::default().autodiff();
//! let mut model: Linear = LinearConfig::new(2, 1).init(&device);
//! let mut opt = optim_burn::Optim::new(optim_core::adamw(1e-2));
//! let x = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
//! for _ in 0..3 {
//!     let loss = model.forward(x.clone()).powi_scalar(2).mean();
//!     let grads = GradientsParams::from_grads(loss.backward(), &model);
//!     model = opt.step(model, grads)?;
//! }
//! assert_eq!(opt.names(), ["bias", "weight"]);
//! # Ok::<(), optim_core::Error>(())
//! ```
//!
//! # State keyed by path
//!
//! burn's optimizer records key the state by `ParamId`, minted anew when a module is
//! initialized, so a record loaded into a freshly built module silently starts from
//! zero moments (burn issue #5130). Here the state lives in optim's trees, keyed by the
//! param's path, and is saved and loaded with [`Optim::save`] / [`Optim::load`]
//! (`optim::checkpoint`, safetensors): a restart that builds the module again finds every
//! moment by name, and a renamed or reshaped param is an error naming it.
//!
//! # What it copies
//!
//! burn hands a tensor's data out by value (`Tensor::into_data`) and builds a tensor from
//! owned data (`Tensor::from_data`); on the ndarray backend both move the buffer when
//! burn holds the only reference to it. So a step takes each float param out of the
//! module (a mapper pass), moves its buffer and its gradient's into optim trees, runs the
//! fused step on the trees, and moves each buffer back into a param built on the param's
//! device: on the CPU no element is copied. A param whose tensor is shared (a clone of
//! the module is alive) is copied out instead (burn's `into_data` then iterates the
//! elements, which is slow), and other backends copy to and from the device. Every float
//! param must have a gradient: a missing one is an error naming the param, and the module
//! comes back only on success (the step takes the module by value, as burn's does; on
//! error it is dropped, so keep a clone if you need it). Params must be float32 (burn's
//! default float type).

mod per_tensor;
pub use per_tensor::{PerTensor, TensorState};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use optim_core::{Error, StateTensors, Tensor as Leaf, TensorMap, Transformation};
use std::fmt::Debug;

/// An optim transformation `O` for burn modules (float32 params, any device burn can
/// read back).
pub struct Optim<O: Transformation<f32>> {
    opt: O,
    state: Option<O::State>,
    params: TensorMap<f32>,
    grads: TensorMap<f32>,
}

impl<O: Transformation<f32>> Optim<O> {
    /// The adapter for `opt`; the state is built on the first step, from the module.
    pub fn new(opt: O) -> Self {
        Optim {
            opt,
            state: None,
            params: TensorMap::new(),
            grads: TensorMap::new(),
        }
    }

    /// The float params' paths, in the order the state keeps them (after the first step
    /// or load).
    pub fn names(&self) -> Vec<&str> {
        self.params.keys().map(String::as_str).collect()
    }

    /// The optimizer state, once built.
    pub fn state(&self) -> Option<&O::State> {
        self.state.as_ref()
    }

    /// The transformation.
    pub fn transformation(&self) -> &O {
        &self.opt
    }

    /// One step: moves the module's float params and their gradients into the trees,
    /// runs the transformation on them, and returns the module with the updated params
    /// (see "What it copies" above).
    pub fn step<M: Module>(&mut self, module: M, mut grads: GradientsParams) -> Result<M, Error> {
        let mut take = TakeOut {
            path: Vec::new(),
            params: &mut self.params,
            grads: (&mut grads, &mut self.grads),
            seen: Vec::new(),
            error: None,
        };
        let module = module.map(&mut take);
        let TakeOut { seen, error, .. } = take;
        all_seen(&self.params, seen, error)?;
        if self.state.is_none() {
            self.state = Some(self.opt.init(&self.params)?);
        }
        let state = self.state.as_mut().expect("built above");
        self.opt.step(&mut self.params, &self.grads, state)?;
        self.put_in(module, true)
    }

    /// Copies the module's float params into the tree (for `save` and `load`).
    fn copy_out<M: Module>(&mut self, module: &M) -> Result<(), Error> {
        let mut out = CopyOut {
            path: Vec::new(),
            params: &mut self.params,
            seen: Vec::new(),
            error: None,
        };
        module.visit(&mut out);
        let CopyOut { seen, error, .. } = out;
        all_seen(&self.params, seen, error)
    }

    fn put_in<M: Module>(&mut self, module: M, moves: bool) -> Result<M, Error> {
        let mut map = PutIn {
            path: Vec::new(),
            params: &mut self.params,
            moves,
            error: None,
        };
        let module = module.map(&mut map);
        match map.error {
            Some(e) => Err(e),
            None => Ok(module),
        }
    }

    /// Saves the module's float params and the optimizer state to `file` (safetensors,
    /// every tensor named by its path: `params/linear1.weight`, `mu/linear1.weight`).
    pub fn save<M: Module>(
        &mut self,
        file: impl AsRef<std::path::Path>,
        module: &M,
    ) -> Result<(), Error>
    where
        O: Debug,
        O::State: StateTensors<f32>,
    {
        self.copy_out(module)?;
        if self.state.is_none() {
            self.state = Some(self.opt.init(&self.params)?);
        }
        let state = self.state.as_ref().expect("built above");
        optim_checkpoint::save(file, &self.opt, &self.params, state)
    }

    /// Loads the float params (into the module) and the optimizer state from `file`,
    /// strictly (see `optim::checkpoint::load`): params are matched by path, so a module
    /// built anew (new `ParamId`s) resumes exactly. On error nothing is changed.
    pub fn load<M: Module>(
        &mut self,
        file: impl AsRef<std::path::Path>,
        module: M,
    ) -> Result<(M, optim_checkpoint::Metadata), Error>
    where
        O: Debug,
        O::State: StateTensors<f32>,
    {
        let before = std::mem::take(&mut self.params);
        if let Err(e) = self.copy_out(&module) {
            self.params = before;
            return Err(e);
        }
        let mut params = self.params.clone();
        let loaded = self.opt.init(&params).and_then(|mut state| {
            optim_checkpoint::load(file, &self.opt, &mut params, &mut state).map(|m| (state, m))
        });
        match loaded {
            Ok((state, meta)) => {
                self.params = params;
                self.state = Some(state);
                Ok((self.put_in(module, false)?, meta))
            }
            Err(e) => {
                self.params = before;
                Err(e)
            }
        }
    }
}

/// The leaf `name` of `m`, of `shape`, made anew when missing or of another shape.
fn leaf<'m>(m: &'m mut TensorMap<f32>, name: &str, shape: &[usize]) -> &'m mut Leaf<f32> {
    let fits = m.get(name).is_some_and(|t| t.shape() == shape);
    if !fits {
        m.insert(name.to_string(), Leaf::zeros(shape.to_vec()));
    }
    m.get_mut(name).expect("inserted above")
}

/// Copies `data` (a float32 tensor's) into `out`.
fn copy_data(path: &str, what: &str, data: &TensorData, out: &mut [f32]) -> Result<(), Error> {
    let src = data.as_slice::<f32>().map_err(|e| Error::BadValue {
        expected: format!("float32 data for the {what} `{path}` (optim-burn runs float32)"),
        got: format!("{:?} ({e:?})", data.dtype()),
    })?;
    out.copy_from_slice(src);
    Ok(())
}

/// Copies float params into the optim tree by path (the module stays as it is).
struct CopyOut<'a> {
    path: Vec<String>,
    params: &'a mut TensorMap<f32>,
    seen: Vec<String>,
    error: Option<Error>,
}

/// The error of a pass over the module, else one for a param the tree has and the pass
/// did not see (the module changed under the state).
fn all_seen(params: &TensorMap<f32>, seen: Vec<String>, error: Option<Error>) -> Result<(), Error> {
    if let Some(e) = error {
        return Err(e);
    }
    match params.keys().find(|k| !seen.contains(k)) {
        Some(gone) => Err(Error::MissingLeaf {
            path: gone.clone(),
            missing_in: "module".into(),
        }),
        None => Ok(()),
    }
}

impl CopyOut<'_> {
    fn copy<const D: usize>(&mut self, param: &Param<Tensor<D>>) -> Result<(), Error> {
        let name = self.path.join(".");
        let value = param.val();
        let shape = value.shape().to_vec();
        let data = value.into_data();
        copy_data(
            &name,
            "param",
            &data,
            leaf(self.params, &name, &shape).data_mut(),
        )?;
        self.seen.push(name);
        Ok(())
    }
}

impl ModuleVisitor for CopyOut<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_none() {
            if let Err(e) = self.copy(param) {
                self.error = Some(e);
            }
        }
    }
}

/// The data of a float32 tensor as a vector: its own buffer, moved, when burn holds the
/// only reference to it (else a copy).
fn take_data<const D: usize>(
    path: &str,
    what: &str,
    tensor: Tensor<D>,
) -> Result<(Vec<usize>, Vec<f32>), Error> {
    let shape = tensor.shape().to_vec();
    let data = tensor.into_data();
    let dtype = data.dtype();
    let vec = data.try_into_vec::<f32>().map_err(|e| Error::BadValue {
        expected: format!("float32 data for the {what} `{path}` (optim-burn runs float32)"),
        got: format!("{dtype:?} ({e:?})"),
    })?;
    Ok((shape, vec))
}

/// Puts `data` into the leaf `name` of `m` (a new leaf when missing).
fn put_leaf(
    m: &mut TensorMap<f32>,
    name: &str,
    (shape, data): (Vec<usize>, Vec<f32>),
) -> Result<(), Error> {
    let leaf = Leaf::new(shape, data)?;
    match m.get_mut(name) {
        Some(t) => *t = leaf,
        None => {
            m.insert(name.to_string(), leaf);
        }
    }
    Ok(())
}

/// A step's first pass: moves each float param's buffer and its gradient's into the
/// trees by path, leaving an empty tensor (on the param's device, with its gradient
/// flag) in the param until [`PutIn`] moves the buffer back.
struct TakeOut<'a> {
    path: Vec<String>,
    params: &'a mut TensorMap<f32>,
    grads: (&'a mut GradientsParams, &'a mut TensorMap<f32>),
    seen: Vec<String>,
    error: Option<Error>,
}

impl TakeOut<'_> {
    fn take<const D: usize>(
        &mut self,
        name: &str,
        id: ParamId,
        tensor: Tensor<D>,
    ) -> Result<(), Error> {
        put_leaf(self.params, name, take_data(name, "param", tensor)?)?;
        let (grads, out) = &mut self.grads;
        let g = grads.remove::<D>(id).ok_or_else(|| Error::MissingLeaf {
            path: name.to_string(),
            missing_in: "gradients".into(),
        })?;
        put_leaf(out, name, take_data(name, "gradient", g)?)
    }
}

impl ModuleMapper for TakeOut<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let name = self.path.join(".");
        let (id, tensor, mapper) = param.consume();
        let (device, require_grad) = (tensor.device(), tensor.is_require_grad());
        if let Err(e) = self.take(&name, id, tensor) {
            self.error = Some(e);
        }
        self.seen.push(name);
        let mut empty = Tensor::<D>::empty([0; D], &device);
        if require_grad {
            empty = empty.require_grad();
        }
        Param::from_mapped_value(id, empty, mapper)
    }
}

/// Builds each float param anew from the tree's data, on the param's device: moving the
/// buffer out of the tree (a step's second pass; burn's `from_data` keeps it, and the
/// tree's leaf stays empty until the next step fills it), or copying it (`load`).
struct PutIn<'a> {
    path: Vec<String>,
    params: &'a mut TensorMap<f32>,
    moves: bool,
    error: Option<Error>,
}

impl ModuleMapper for PutIn<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.join(".");
        let Some(leaf) = self.params.get_mut(&name) else {
            self.error.get_or_insert(Error::MissingLeaf {
                path: name,
                missing_in: "optimizer's params".into(),
            });
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let shape = leaf.shape().to_vec();
        let data = if self.moves {
            std::mem::replace(leaf, Leaf::zeros(vec![0])).into_data()
        } else {
            leaf.data().to_vec()
        };
        let mut updated = Tensor::<D>::from_data(TensorData::new(data, shape), &tensor.device());
        if tensor.is_require_grad() {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}
