//! Writing a checkpoint: every tensor named, in its own dtype, written atomically.

use crate::encode::{self, Owned};
use crate::{HYPERPARAMETERS_KEY, OPTIMIZER_KEY, PARAMS_PREFIX, STEP_KEY, VERSION_KEY};
use optim_core::state_tensors::TensorRef;
use optim_core::{Error, Float, Path, StateTensors, Transformation, Tree};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::io::Write;

/// Saves `params` and `state` (of the optimizer `opt`) to `file`, atomically.
pub fn save<F, T, P>(
    file: impl AsRef<std::path::Path>,
    opt: &T,
    params: &P,
    state: &T::State,
) -> Result<(), Error>
where
    F: Float,
    T: Transformation<F> + Debug,
    T::State: StateTensors<F>,
    P: Tree<F>,
{
    save_with(file, opt, params, state, &[])
}

/// [`save`] with extra metadata entries (keys other than the ones `save` writes).
pub fn save_with<F, T, P>(
    file: impl AsRef<std::path::Path>,
    opt: &T,
    params: &P,
    state: &T::State,
    extra: &[(&str, &str)],
) -> Result<(), Error>
where
    F: Float,
    T: Transformation<F> + Debug,
    T::State: StateTensors<F>,
    P: Tree<F>,
{
    let file = file.as_ref();
    let shown = file.display().to_string();
    let mut tensors: BTreeMap<String, Owned> = BTreeMap::new();
    let mut add = |name: String, t: Owned| {
        if tensors.contains_key(&name) {
            return Err(Error::Checkpoint {
                file: shown.clone(),
                tensor: name,
                detail: "two tensors have this name".into(),
            });
        }
        tensors.insert(name, t);
        Ok(())
    };
    params.visit(&Path::ROOT, &mut |path, data, shape| {
        add(format!("{PARAMS_PREFIX}{path}"), encode::elems(shape, data))
    })?;
    let mut step = None;
    state.visit_tensors("", &mut |name, t| {
        if let TensorRef::Count(c) = t {
            step.get_or_insert(c);
        }
        add(name.to_string(), encode::tensor(t))
    })?;
    let mut meta: HashMap<String, String> = HashMap::new();
    for (k, v) in extra {
        meta.insert((*k).to_string(), (*v).to_string());
    }
    meta.insert(OPTIMIZER_KEY.into(), opt.name().into());
    meta.insert(HYPERPARAMETERS_KEY.into(), format!("{opt:?}"));
    meta.insert(STEP_KEY.into(), step.unwrap_or(0).to_string());
    meta.insert(VERSION_KEY.into(), env!("CARGO_PKG_VERSION").into());
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), Some(meta))
        .map_err(|e| file_error(file, format!("cannot encode: {e}")))?;
    write_atomically(file, &bytes)
}

pub(crate) fn file_error(file: &std::path::Path, detail: String) -> Error {
    Error::CheckpointFile {
        file: file.display().to_string(),
        detail,
    }
}

/// Writes `bytes` to a temporary file in `file`'s directory, syncs it and renames it to
/// `file`: readers see the old file or the new one, never a part.
fn write_atomically(file: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
    let name = file
        .file_name()
        .ok_or_else(|| file_error(file, "is not a file path".into()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = file.with_file_name(tmp_name);
    let io = |e: std::io::Error| file_error(file, e.to_string());
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
