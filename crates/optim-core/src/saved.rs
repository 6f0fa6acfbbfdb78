//! A self-describing saved state: [`SavedState`] holds an optimizer state with the
//! format version, the optimizer's name, the params' dtype and the optimizer's
//! configuration, so that loading it into another optimizer, another configuration,
//! another dtype or an older optim is an error that says what differs.
//!
//! The state is kept as its named tensors (those of [`StateTensors`], the names a
//! checkpoint uses), each element as a string: the shortest decimal that parses back to
//! the same float (`"0.1"`, `"-1e-30"`, `"inf"`), or for a NaN its bit pattern
//! (`"nan:0x7ff8000000000000"`). Parsing those strings is exact, so a state saved with
//! plain `serde_json` (without its `float_roundtrip` feature) or any other serde format
//! resumes bit for bit; a JSON number would lose the last bit of some `f64`s on the way
//! back, and NaN and infinity would not be JSON numbers at all.
//!
//! ```
//! use optim_core::{adam, load_state, save_state, SavedState, Tensor, TensorMap, Transformation};
//!
//! let opt = adam(0.1);
//! let mut params: TensorMap<f64> = TensorMap::new();
//! params.insert("w".into(), Tensor::new([3], vec![1.0, -2.0, 0.3])?);
//! let mut state = opt.init(&params)?;
//! let grads = params.clone();
//! opt.step(&mut params, &grads, &mut state)?;
//!
//! let json = serde_json::to_string(&save_state(&opt, &state)?).unwrap();
//! let saved: SavedState = serde_json::from_str(&json).unwrap();
//! let resumed = load_state(&opt, &params, &saved)?;
//! assert_eq!(resumed, state);
//! # Ok::<(), optim_core::Error>(())
//! ```

use crate::state_tensors::{TensorMut, TensorRef};
use crate::{AsF32, AsF64, Buf, Dtype, Error, Float, StateTensors, Transformation, Tree};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// The format version [`save_state`] writes and [`load_state`] reads.
pub const FORMAT_VERSION: u32 = 1;

/// An optimizer state with what it was saved from (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedState {
    /// The version of this format ([`FORMAT_VERSION`] when written by this optim).
    pub format_version: u32,
    /// The optimizer's name (`"adam"`, `"chain"`).
    pub optimizer: String,
    /// The element type of the params the state was built for.
    pub dtype: Dtype,
    /// The optimizer's configuration, as its `Debug` form prints it (as a checkpoint
    /// records it).
    pub hyperparameters: String,
    /// The state's tensors by name.
    pub tensors: BTreeMap<String, SavedTensor>,
}

/// One tensor of a [`SavedState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedTensor {
    /// `"count"`, `"flag"`, `"bool"`, `"scalar"` (an `f64`), or the elements' storage
    /// dtype (`"float32"`, `"float64"`, `"bfloat16"`, `"float16"`).
    pub kind: String,
    /// The shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The elements, each as an exact string (see the [module docs](self)).
    pub data: Vec<String>,
}

/// The envelope of `state`, a state of `opt`.
pub fn save_state<F, T>(opt: &T, state: &T::State) -> Result<SavedState, Error>
where
    F: Float,
    T: Transformation<F> + Debug,
    T::State: StateTensors<F>,
{
    let mut tensors = BTreeMap::new();
    state.visit_tensors("", &mut |name, t| {
        if tensors.insert(name.to_string(), encode(t)).is_some() {
            return Err(saved_error(
                name,
                "two tensors of the state have this name".into(),
            ));
        }
        Ok(())
    })?;
    Ok(SavedState {
        format_version: FORMAT_VERSION,
        optimizer: opt.name().into(),
        dtype: F::DTYPE,
        hyperparameters: format!("{opt:?}"),
        tensors,
    })
}

/// The state `saved` holds, for `opt` and `params`: checks the format version, the
/// optimizer's name, the dtype and the configuration, then builds the state with
/// `opt.init(params)` and sets every tensor from `saved`, each of which must be there
/// with its kind and shape (and a flag, a resolved mask, must agree), with nothing left
/// over. The error says what differs.
pub fn load_state<F, T, P>(opt: &T, params: &P, saved: &SavedState) -> Result<T::State, Error>
where
    F: Float,
    T: Transformation<F> + Debug,
    T::State: StateTensors<F>,
    P: Tree<F>,
{
    check_envelope::<F>(saved, opt.name(), &format!("{opt:?}"))?;
    let mut state = opt.init(params)?;
    let mut seen = 0usize;
    state.visit_tensors_mut("", &mut |name, slot| {
        let t = saved
            .tensors
            .get(name)
            .ok_or_else(|| saved_error(name, "is missing from the saved state".into()))?;
        seen += 1;
        decode(t, slot).map_err(|d| saved_error(name, d))
    })?;
    if seen != saved.tensors.len() {
        let mut names = std::collections::BTreeSet::new();
        state.visit_tensors("", &mut |name, _| {
            names.insert(name.to_string());
            Ok(())
        })?;
        if let Some(extra) = saved.tensors.keys().find(|k| !names.contains(k.as_str())) {
            return Err(saved_error(
                extra,
                "is in the saved state but not in the optimizer's state".into(),
            ));
        }
    }
    Ok(state)
}

/// Checks the envelope's version, optimizer name, dtype and configuration against the
/// optimizer `name` configured as `config` (its `Debug` form) with params of `F`.
pub fn check_envelope<F: Float>(saved: &SavedState, name: &str, config: &str) -> Result<(), Error> {
    if saved.format_version != FORMAT_VERSION {
        let when = if saved.format_version > FORMAT_VERSION {
            "a newer optim wrote it"
        } else {
            "an older optim wrote it"
        };
        return Err(saved_error(
            "format_version",
            format!(
                "is {}, but this optim reads version {FORMAT_VERSION} ({when})",
                saved.format_version
            ),
        ));
    }
    if saved.optimizer != name {
        return Err(saved_error(
            "optimizer",
            format!("saved from `{}`, loaded into `{name}`", saved.optimizer),
        ));
    }
    if saved.dtype != F::DTYPE {
        return Err(saved_error(
            "dtype",
            format!(
                "saved with {} params, loaded with {} params",
                saved.dtype.name(),
                F::DTYPE.name()
            ),
        ));
    }
    if let Some(d) = config_difference(&saved.hyperparameters, config) {
        return Err(saved_error("hyperparameters", d));
    }
    Ok(())
}

/// What differs between two configurations in their `Debug` form (`saved` and `now`),
/// naming the first argument that differs, or `None` when they are the same.
pub fn config_difference(saved: &str, now: &str) -> Option<String> {
    if saved == now {
        return None;
    }
    let at = saved
        .bytes()
        .zip(now.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(saved.len().min(now.len()));
    // The argument is the last `name: ` that opens before the first difference.
    let start = field_start(&now[..floor_char(now, at)]);
    let (a, b) = (field_at(saved, start), field_at(now, start));
    let what = a
        .split(": ")
        .next()
        .filter(|n| !n.is_empty() && *n == b.split(": ").next().unwrap_or(""));
    Some(match what {
        Some(arg) if a.contains(": ") => {
            format!("the optimizer was saved with another `{arg}`: saved `{a}`, now `{b}`")
        }
        _ => format!("saved with `{saved}`, now `{now}`"),
    })
}

/// The largest char boundary of `s` at or before `i`.
fn floor_char(s: &str, i: usize) -> usize {
    (0..=i.min(s.len()))
        .rev()
        .find(|&j| s.is_char_boundary(j))
        .unwrap_or(0)
}

/// Where the field that encloses the end of `prefix` starts: after the last `{`, `(`,
/// `[` or `, ` at its depth.
fn field_start(prefix: &str) -> usize {
    let mut depth = 0i32;
    let bytes = prefix.as_bytes();
    for i in (0..bytes.len()).rev() {
        match bytes[i] {
            b')' | b']' | b'}' => depth += 1,
            b'(' | b'[' | b'{' if depth > 0 => depth -= 1,
            b'(' | b'[' | b'{' => return skip_space(prefix, i + 1),
            b',' if depth == 0 => return skip_space(prefix, i + 1),
            _ => {}
        }
    }
    0
}

fn skip_space(s: &str, mut i: usize) -> usize {
    while s.as_bytes().get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// The field of `s` that starts at `start`, up to the `,` or closing bracket at its depth.
fn field_at(s: &str, start: usize) -> &str {
    let start = floor_char(s, start);
    let mut depth = 0i32;
    for (i, c) in s[start..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return s[start..start + i].trim_end(),
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => return &s[start..start + i],
            _ => {}
        }
    }
    &s[start..]
}

fn saved_error(field: &str, detail: String) -> Error {
    Error::SavedState {
        field: field.into(),
        detail,
    }
}

/// A float as its shortest exact decimal, or a NaN as its bit pattern.
fn f64_str(x: f64) -> String {
    if x.is_nan() {
        format!("nan:{:#018x}", x.to_bits())
    } else {
        format!("{x:?}")
    }
}

fn f32_str(x: f32) -> String {
    if x.is_nan() {
        format!("nan:{:#010x}", x.to_bits())
    } else {
        format!("{x:?}")
    }
}

fn u16_nan_str(bits: u16) -> String {
    format!("nan:{bits:#06x}")
}

fn parse_f64(s: &str) -> Result<f64, String> {
    match s.strip_prefix("nan:0x") {
        Some(h) => u64::from_str_radix(h, 16).map(f64::from_bits).ok(),
        None => s.parse().ok(),
    }
    .ok_or_else(|| format!("`{s}` is not a float64"))
}

fn parse_f32(s: &str) -> Result<f32, String> {
    match s.strip_prefix("nan:0x") {
        Some(h) => u32::from_str_radix(h, 16).map(f32::from_bits).ok(),
        None => s.parse().ok(),
    }
    .ok_or_else(|| format!("`{s}` is not a float32"))
}

/// A 16-bit float from its string: a NaN's bits, or the f32 it equals exactly.
fn parse_half<H: Copy>(
    s: &str,
    from_bits: fn(u16) -> H,
    from_f32: fn(f32) -> H,
    to_f32: fn(H) -> f32,
) -> Result<H, String> {
    if let Some(h) = s.strip_prefix("nan:0x") {
        return u16::from_str_radix(h, 16)
            .map(from_bits)
            .map_err(|_| format!("`{s}` is not a NaN's bits"));
    }
    let x = parse_f32(s)?;
    let h = from_f32(x);
    if to_f32(h) != x {
        return Err(format!("`{s}` is not a value of the 16-bit dtype"));
    }
    Ok(h)
}

fn native_strs<F: Float>(data: &[F]) -> Vec<String> {
    match F::DTYPE {
        Dtype::F32 => data.iter().map(|x| f32_str(x.f64() as f32)).collect(),
        _ => data.iter().map(|x| f64_str(x.f64())).collect(),
    }
}

fn encode<F: Float>(t: TensorRef<'_, F>) -> SavedTensor {
    let scalar = |kind: &str, s: String| SavedTensor {
        kind: kind.into(),
        shape: Vec::new(),
        data: vec![s],
    };
    match t {
        TensorRef::Count(c) => scalar("count", c.to_string()),
        TensorRef::Flag(b) => scalar("flag", b.to_string()),
        TensorRef::Bool(b) => scalar("bool", b.to_string()),
        TensorRef::Scalar(x) => scalar("scalar", f64_str(x)),
        TensorRef::Elems(shape, data) => SavedTensor {
            kind: F::DTYPE.name().into(),
            shape: shape.to_vec(),
            data: native_strs(data),
        },
        TensorRef::Buf(shape, buf) => {
            let (kind, data) = match buf {
                Buf::Native(v) => (F::DTYPE, native_strs(v)),
                Buf::F32(v) => (Dtype::F32, v.iter().map(|x| f32_str(x.0)).collect()),
                Buf::F64(v) => (Dtype::F64, v.iter().map(|x| f64_str(x.0)).collect()),
                Buf::BF16(v) => (
                    Dtype::BF16,
                    v.iter()
                        .map(|x| {
                            if x.is_nan() {
                                u16_nan_str(x.to_bits())
                            } else {
                                f32_str(x.to_f32())
                            }
                        })
                        .collect(),
                ),
                Buf::F16(v) => (
                    Dtype::F16,
                    v.iter()
                        .map(|x| {
                            if x.is_nan() {
                                u16_nan_str(x.to_bits())
                            } else {
                                f32_str(x.to_f32())
                            }
                        })
                        .collect(),
                ),
                // Disabled buffers are never visited as tensors.
                Buf::Absent(_) => (Dtype::F32, Vec::new()),
            };
            SavedTensor {
                kind: kind.name().into(),
                shape: shape.to_vec(),
                data,
            }
        }
    }
}

/// The kind and shape a slot expects.
fn expected<F: Float>(slot: &TensorMut<'_, F>) -> (&'static str, Vec<usize>) {
    match slot {
        TensorMut::Count(_) => ("count", Vec::new()),
        TensorMut::Flag(_) => ("flag", Vec::new()),
        TensorMut::Bool(_) => ("bool", Vec::new()),
        TensorMut::Scalar(_) => ("scalar", Vec::new()),
        TensorMut::Elems(shape, _) => (F::DTYPE.name(), shape.to_vec()),
        TensorMut::Buf(shape, buf) => (buf.dtype().map_or("float32", Dtype::name), shape.to_vec()),
    }
}

/// Sets `slot` from `t`, or says why it does not fit.
fn decode<F: Float>(t: &SavedTensor, slot: TensorMut<'_, F>) -> Result<(), String> {
    let (kind, shape) = expected(&slot);
    if t.kind != kind {
        return Err(format!("saved as {}, expected {kind}", t.kind));
    }
    if t.shape != shape {
        return Err(format!(
            "saved with shape {:?}, expected {shape:?}",
            t.shape
        ));
    }
    let n = shape.iter().product::<usize>();
    if t.data.len() != n {
        return Err(format!("{} elements for shape {shape:?}", t.data.len()));
    }
    let one = || t.data[0].as_str();
    let bool_of = |s: &str| {
        s.parse::<bool>()
            .map_err(|_| format!("`{s}` is not a bool"))
    };
    match slot {
        TensorMut::Count(c) => {
            *c = one()
                .parse()
                .map_err(|_| format!("`{}` is not a count", one()))?
        }
        TensorMut::Flag(b) => {
            let saved = bool_of(one())?;
            if saved != b {
                return Err(format!(
                    "saved as {saved}, but the configuration now resolves it to {b} (the mask changed)"
                ));
            }
        }
        TensorMut::Bool(b) => *b = bool_of(one())?,
        TensorMut::Scalar(x) => *x = parse_f64(one())?,
        TensorMut::Elems(_, out) => read_native(&t.data, out)?,
        TensorMut::Buf(_, buf) => match buf {
            Buf::Native(v) => read_native(&t.data, v)?,
            Buf::F32(v) => {
                for (o, s) in v.iter_mut().zip(&t.data) {
                    *o = AsF32(parse_f32(s)?);
                }
            }
            Buf::F64(v) => {
                for (o, s) in v.iter_mut().zip(&t.data) {
                    *o = AsF64(parse_f64(s)?);
                }
            }
            Buf::BF16(v) => {
                for (o, s) in v.iter_mut().zip(&t.data) {
                    *o = parse_half(
                        s,
                        half::bf16::from_bits,
                        half::bf16::from_f32,
                        half::bf16::to_f32,
                    )?;
                }
            }
            Buf::F16(v) => {
                for (o, s) in v.iter_mut().zip(&t.data) {
                    *o = parse_half(
                        s,
                        half::f16::from_bits,
                        half::f16::from_f32,
                        half::f16::to_f32,
                    )?;
                }
            }
            Buf::Absent(_) => {}
        },
    }
    Ok(())
}

fn read_native<F: Float>(data: &[String], out: &mut [F]) -> Result<(), String> {
    for (o, s) in out.iter_mut().zip(data) {
        *o = match F::DTYPE {
            Dtype::F32 => F::of(parse_f32(s)? as f64),
            _ => F::of(parse_f64(s)?),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_and_parse_back_exactly() {
        for x in [
            0.1,
            -0.0,
            1e-30,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            -f64::INFINITY,
        ] {
            assert_eq!(parse_f64(&f64_str(x)).unwrap().to_bits(), x.to_bits());
        }
        let nan = f64::from_bits(0xfff8_0000_0000_0001);
        assert_eq!(parse_f64(&f64_str(nan)).unwrap().to_bits(), nan.to_bits());
        let nan32 = f32::from_bits(0xffc0_0001);
        assert_eq!(
            parse_f32(&f32_str(nan32)).unwrap().to_bits(),
            nan32.to_bits()
        );
    }

    #[test]
    fn a_differing_argument_is_named() {
        let d = config_difference(
            "Sgd { learning_rate: Const(0.1), momentum: None, nesterov: false }",
            "Sgd { learning_rate: Const(0.1), momentum: Some(0.9), nesterov: false }",
        )
        .unwrap();
        assert!(d.contains("`momentum`"), "{d}");
        assert!(
            d.contains("saved `momentum: None`, now `momentum: Some(0.9)`"),
            "{d}"
        );
        assert_eq!(config_difference("A { x: 1 }", "A { x: 1 }"), None);
        let d = config_difference("Chain(A { x: 1 }, B)", "Chain(A { x: 2 }, B)").unwrap();
        assert!(d.contains("saved `x: 1`, now `x: 2`"), "{d}");
    }
}
