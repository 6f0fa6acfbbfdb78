//! Tensors to and from little-endian bytes in safetensors' dtypes.

use optim_core::state_tensors::{TensorMut, TensorRef};
use optim_core::{AsF32, AsF64, Buf, Dtype, Float};
use safetensors::Dtype as St;

/// A tensor ready to be written: dtype, shape and bytes.
pub struct Owned {
    pub dtype: St,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl safetensors::View for &Owned {
    fn dtype(&self) -> St {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The safetensors dtype of a storage dtype.
pub fn st_dtype(d: Dtype) -> St {
    match d {
        Dtype::F32 => St::F32,
        Dtype::F64 => St::F64,
        Dtype::BF16 => St::BF16,
        Dtype::F16 => St::F16,
    }
}

/// The params' element bytes.
pub fn elems<F: Float>(shape: &[usize], data: &[F]) -> Owned {
    let mut bytes = Vec::with_capacity(std::mem::size_of_val(data));
    put_native(&mut bytes, data);
    Owned {
        dtype: st_dtype(F::DTYPE),
        shape: shape.to_vec(),
        bytes,
    }
}

fn put_native<F: Float>(bytes: &mut Vec<u8>, data: &[F]) {
    match F::DTYPE {
        Dtype::F32 => data
            .iter()
            .for_each(|x| bytes.extend((x.f64() as f32).to_le_bytes())),
        _ => data
            .iter()
            .for_each(|x| bytes.extend(x.f64().to_le_bytes())),
    }
}

/// A state tensor's dtype, shape and bytes.
pub fn tensor<F: Float>(t: TensorRef<'_, F>) -> Owned {
    match t {
        TensorRef::Count(c) => Owned {
            dtype: St::U64,
            shape: vec![],
            bytes: c.to_le_bytes().to_vec(),
        },
        TensorRef::Flag(b) => Owned {
            dtype: St::BOOL,
            shape: vec![],
            bytes: vec![u8::from(b)],
        },
        TensorRef::Bool(b) => Owned {
            dtype: St::BOOL,
            shape: vec![],
            bytes: vec![u8::from(b)],
        },
        TensorRef::Scalar(x) => Owned {
            dtype: St::F64,
            shape: vec![],
            bytes: x.to_le_bytes().to_vec(),
        },
        TensorRef::Elems(shape, data) => elems(shape, data),
        TensorRef::Buf(shape, buf) => {
            let mut bytes = Vec::new();
            let dtype = match buf {
                Buf::Native(v) => {
                    put_native(&mut bytes, v);
                    st_dtype(F::DTYPE)
                }
                Buf::F32(v) => {
                    v.iter().for_each(|x| bytes.extend(x.0.to_le_bytes()));
                    St::F32
                }
                Buf::F64(v) => {
                    v.iter().for_each(|x| bytes.extend(x.0.to_le_bytes()));
                    St::F64
                }
                Buf::BF16(v) => {
                    v.iter()
                        .for_each(|x| bytes.extend(x.to_bits().to_le_bytes()));
                    St::BF16
                }
                Buf::F16(v) => {
                    v.iter()
                        .for_each(|x| bytes.extend(x.to_bits().to_le_bytes()));
                    St::F16
                }
                // Disabled buffers are never visited as tensors.
                Buf::Absent(_) => St::F32,
            };
            Owned {
                dtype,
                shape: shape.to_vec(),
                bytes,
            }
        }
    }
}

/// The dtype and shape a slot expects, for checking before any write.
pub fn expected<F: Float>(t: &TensorRef<'_, F>) -> (St, Vec<usize>) {
    match t {
        TensorRef::Count(_) => (St::U64, vec![]),
        TensorRef::Flag(_) | TensorRef::Bool(_) => (St::BOOL, vec![]),
        TensorRef::Scalar(_) => (St::F64, vec![]),
        TensorRef::Elems(shape, _) => (st_dtype(F::DTYPE), shape.to_vec()),
        TensorRef::Buf(shape, buf) => (buf.dtype().map_or(St::F32, st_dtype), shape.to_vec()),
    }
}

fn chunks<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    bytes
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact yields N bytes"))
}

/// Writes `bytes` (already checked for dtype and length) into the params' elements.
pub fn read_native<F: Float>(bytes: &[u8], out: &mut [F]) {
    match F::DTYPE {
        Dtype::F32 => {
            for (o, c) in out.iter_mut().zip(chunks::<4>(bytes)) {
                *o = F::of(f32::from_le_bytes(c) as f64);
            }
        }
        _ => {
            for (o, c) in out.iter_mut().zip(chunks::<8>(bytes)) {
                *o = F::of(f64::from_le_bytes(c));
            }
        }
    }
}

/// Writes `bytes` (already checked for dtype and length) into a state slot.
pub fn read_into<F: Float>(bytes: &[u8], slot: TensorMut<'_, F>) {
    match slot {
        TensorMut::Count(c) => {
            if let Some(b) = chunks::<8>(bytes).next() {
                *c = u64::from_le_bytes(b);
            }
        }
        TensorMut::Flag(_) => {}
        TensorMut::Bool(b) => *b = bytes.first().is_some_and(|&x| x != 0),
        TensorMut::Scalar(x) => {
            if let Some(b) = chunks::<8>(bytes).next() {
                *x = f64::from_le_bytes(b);
            }
        }
        TensorMut::Elems(_, out) => read_native(bytes, out),
        TensorMut::Buf(_, buf) => match buf {
            Buf::Native(v) => read_native(bytes, v),
            Buf::F32(v) => {
                for (o, c) in v.iter_mut().zip(chunks::<4>(bytes)) {
                    *o = AsF32(f32::from_le_bytes(c));
                }
            }
            Buf::F64(v) => {
                for (o, c) in v.iter_mut().zip(chunks::<8>(bytes)) {
                    *o = AsF64(f64::from_le_bytes(c));
                }
            }
            Buf::BF16(v) => {
                for (o, c) in v.iter_mut().zip(chunks::<2>(bytes)) {
                    *o = half::bf16::from_bits(u16::from_le_bytes(c));
                }
            }
            Buf::F16(v) => {
                for (o, c) in v.iter_mut().zip(chunks::<2>(bytes)) {
                    *o = half::f16::from_bits(u16::from_le_bytes(c));
                }
            }
            Buf::Absent(_) => {}
        },
    }
}
