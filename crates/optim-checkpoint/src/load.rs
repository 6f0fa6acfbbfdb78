//! Reading a checkpoint: check every tensor by name, dtype and shape, then write.

use crate::encode;
use crate::save::file_error;
use crate::{Metadata, HYPERPARAMETERS_KEY, OPTIMIZER_KEY, PARAMS_PREFIX, STEP_KEY, VERSION_KEY};
use optim_core::state_tensors::TensorRef;
use optim_core::{Error, Float, Path, StateTensors, Transformation, Tree};
use safetensors::SafeTensors;
use std::collections::{BTreeSet, HashMap};

/// What a [`load_partial`] restored and what it did not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The file's metadata.
    pub metadata: Metadata,
    /// The tensors restored, by name, in the order of the params and the state.
    pub restored: Vec<String>,
    /// The tensors of the params and state left as they were, with the reason.
    pub not_restored: Vec<NotRestored>,
    /// The tensors of the file that neither the params nor the state have.
    pub unused: Vec<String>,
}

/// A tensor a [`load_partial`] left as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotRestored {
    /// Its name (`mu/encoder.w`).
    pub tensor: String,
    /// Why: missing from the file, or saved with another dtype, shape or flag.
    pub reason: String,
}

/// Loads `params` and `state` from `file`, strictly: every tensor of the params and the
/// state must be in the file with its dtype and shape, the file must hold no other
/// tensor, flags (resolved masks) must agree, and the file must have been saved by an
/// optimizer of `opt`'s name and configuration (its `Debug` form, as the metadata records
/// it; a file without that metadata is not checked for it). The error names the first
/// tensor that does not fit, or the first argument that differs; on any error nothing
/// is written. Returns the file's metadata.
pub fn load<F, T, P>(
    file: impl AsRef<std::path::Path>,
    opt: &T,
    params: &mut P,
    state: &mut T::State,
) -> Result<Metadata, Error>
where
    F: Float,
    T: Transformation<F> + std::fmt::Debug,
    T::State: StateTensors<F>,
    P: Tree<F>,
{
    let file = file.as_ref();
    let bytes = read(file)?;
    let st = parse(file, &bytes)?;
    let metadata = metadata_of(file, &bytes)?;
    if metadata.optimizer != opt.name() {
        return Err(file_error(
            file,
            format!(
                "saved by the optimizer `{}`, loaded into `{}` (use `load_partial` to load it anyway)",
                metadata.optimizer,
                opt.name()
            ),
        ));
    }
    let plan = Plan::check(&st, params, state)?;
    let shown = file.display().to_string();
    if let Some(n) = plan.not_restored.first() {
        return Err(Error::Checkpoint {
            file: shown,
            tensor: n.tensor.clone(),
            detail: n.reason.clone(),
        });
    }
    if let Some(u) = plan.unused.first() {
        return Err(Error::Checkpoint {
            file: shown,
            tensor: u.clone(),
            detail: "is in the file but in neither the params nor the optimizer state \
                     (use `load_partial` to ignore it)"
                .into(),
        });
    }
    // The tensors fit; the configuration must be the one they were saved under.
    let config = format!("{opt:?}");
    if !metadata.hyperparameters.is_empty() {
        if let Some(d) = optim_core::saved::config_difference(&metadata.hyperparameters, &config) {
            return Err(file_error(
                file,
                format!("{d} (use `load_partial` to load it anyway)"),
            ));
        }
    }
    plan.write(&st, params, state)?;
    Ok(metadata)
}

/// Loads what fits: every tensor of the params and the state that the file holds with
/// the same dtype and shape (and a flag that agrees) is restored; the others are left as
/// they were and reported, as are the file's tensors that nothing took. The optimizer's
/// name is not checked (the report's metadata has it). Errors only when the file cannot
/// be read or the state is corrupt.
pub fn load_partial<F, T, P>(
    file: impl AsRef<std::path::Path>,
    _opt: &T,
    params: &mut P,
    state: &mut T::State,
) -> Result<LoadReport, Error>
where
    F: Float,
    T: Transformation<F>,
    T::State: StateTensors<F>,
    P: Tree<F>,
{
    let file = file.as_ref();
    let bytes = read(file)?;
    let st = parse(file, &bytes)?;
    let metadata = metadata_of(file, &bytes)?;
    let plan = Plan::check(&st, params, state)?;
    plan.write(&st, params, state)?;
    Ok(LoadReport {
        metadata,
        restored: plan.restored,
        not_restored: plan.not_restored,
        unused: plan.unused,
    })
}

/// The metadata of the checkpoint `file`, without loading its tensors.
pub fn read_metadata(file: impl AsRef<std::path::Path>) -> Result<Metadata, Error> {
    let file = file.as_ref();
    metadata_of(file, &read(file)?)
}

fn read(file: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read(file).map_err(|e| file_error(file, e.to_string()))
}

fn parse<'b>(file: &std::path::Path, bytes: &'b [u8]) -> Result<SafeTensors<'b>, Error> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| file_error(file, format!("is not a safetensors file: {e}")))
}

fn metadata_of(file: &std::path::Path, bytes: &[u8]) -> Result<Metadata, Error> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| file_error(file, format!("is not a safetensors file: {e}")))?;
    let mut map: HashMap<String, String> = meta.metadata().clone().unwrap_or_default();
    let mut take = |k: &str| map.remove(k);
    let optimizer = take(OPTIMIZER_KEY).ok_or_else(|| {
        file_error(
            file,
            "has no `optimizer` metadata: not an optim checkpoint".into(),
        )
    })?;
    let hyperparameters = take(HYPERPARAMETERS_KEY).unwrap_or_default();
    let step = match take(STEP_KEY) {
        Some(s) => s
            .parse()
            .map_err(|_| file_error(file, format!("metadata `step` is not a count: {s:?}")))?,
        None => 0,
    };
    let optim_version = take(VERSION_KEY).unwrap_or_default();
    Ok(Metadata {
        optimizer,
        hyperparameters,
        step,
        optim_version,
        extra: map.into_iter().collect(),
    })
}

/// Which tensors fit, decided before anything is written.
struct Plan {
    restored: Vec<String>,
    not_restored: Vec<NotRestored>,
    unused: Vec<String>,
    fits: BTreeSet<String>,
}

impl Plan {
    fn check<F: Float, P: Tree<F>, S: StateTensors<F>>(
        st: &SafeTensors<'_>,
        params: &P,
        state: &S,
    ) -> Result<Plan, Error> {
        let mut plan = Plan {
            restored: Vec::new(),
            not_restored: Vec::new(),
            unused: Vec::new(),
            fits: BTreeSet::new(),
        };
        params.visit(&Path::ROOT, &mut |path, data, shape| {
            let name = format!("{PARAMS_PREFIX}{path}");
            plan.judge(st, name, &TensorRef::Elems(shape, data));
            Ok(())
        })?;
        state.visit_tensors("", &mut |name, t| {
            plan.judge(st, name.to_string(), &t);
            Ok(())
        })?;
        let mut unused: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| {
                !plan.fits.contains(*n) && !plan.not_restored.iter().any(|r| r.tensor == *n)
            })
            .map(str::to_string)
            .collect();
        unused.sort();
        plan.unused = unused;
        Ok(plan)
    }

    fn judge<F: Float>(&mut self, st: &SafeTensors<'_>, name: String, t: &TensorRef<'_, F>) {
        match fit(st, &name, t) {
            Ok(()) => {
                self.fits.insert(name.clone());
                self.restored.push(name);
            }
            Err(reason) => self.not_restored.push(NotRestored {
                tensor: name,
                reason,
            }),
        }
    }

    fn write<F: Float, P: Tree<F>, S: StateTensors<F>>(
        &self,
        st: &SafeTensors<'_>,
        params: &mut P,
        state: &mut S,
    ) -> Result<(), Error> {
        params.visit_mut(&Path::ROOT, &mut |path, data, _| {
            let name = format!("{PARAMS_PREFIX}{path}");
            if self.fits.contains(&name) {
                if let Ok(t) = st.tensor(&name) {
                    encode::read_native(t.data(), data);
                }
            }
            Ok(())
        })?;
        state.visit_tensors_mut("", &mut |name, slot| {
            if self.fits.contains(name) {
                if let Ok(t) = st.tensor(name) {
                    encode::read_into(t.data(), slot);
                }
            }
            Ok(())
        })
    }
}

/// Whether the file's tensor `name` fits the slot `t`: `Err` says why not.
fn fit<F: Float>(st: &SafeTensors<'_>, name: &str, t: &TensorRef<'_, F>) -> Result<(), String> {
    let Ok(found) = st.tensor(name) else {
        return Err("is missing from the file".into());
    };
    let (dtype, shape) = encode::expected(t);
    if found.dtype() != dtype {
        return Err(format!("saved as {:?}, expected {dtype:?}", found.dtype()));
    }
    if found.shape() != shape.as_slice() {
        return Err(format!(
            "saved with shape {:?}, expected {shape:?}",
            found.shape()
        ));
    }
    if let TensorRef::Flag(b) = t {
        let saved = found.data().first().is_some_and(|&x| x != 0);
        if saved != *b {
            return Err(format!(
                "saved as {saved}, but the configuration now resolves it to {b} \
                 (the mask changed)"
            ));
        }
    }
    Ok(())
}
