//! Element types, storage dtypes and per-leaf state buffers.
//!
//! Arithmetic always happens in the params' element type `F` (f32 or f64). A state
//! buffer may be *stored* in another dtype (the seed's `mu_dtype` / `accumulator_dtype`):
//! each element is loaded into `F`, updated, and rounded to the storage dtype when written.

pub use crate::aligned::AVec;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt::{Debug, Display};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The element type of params, gradients and updates: `f32` or `f64`.
pub trait Float:
    num_traits::Float
    + sealed::Sealed
    + Store<Self>
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + Serialize
    + DeserializeOwned
    + 'static
{
    /// The dtype of this element type.
    const DTYPE: Dtype;
    /// Converts from f64, rounding to nearest.
    fn of(x: f64) -> Self;
    /// Converts to f64 exactly.
    fn f64(self) -> f64;
}

impl Float for f32 {
    const DTYPE: Dtype = Dtype::F32;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const DTYPE: Dtype = Dtype::F64;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
}

/// A storage dtype for optimizer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dtype {
    #[serde(rename = "float32")]
    F32,
    #[serde(rename = "float64")]
    F64,
    #[serde(rename = "bfloat16")]
    BF16,
    #[serde(rename = "float16")]
    F16,
}

impl Dtype {
    /// The name numpy and jax use for this dtype (`"bfloat16"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::BF16 => "bfloat16",
            Dtype::F16 => "float16",
        }
    }

    /// Parses numpy's dtype names (`"float32"`, `"bfloat16"`, ...).
    pub fn parse(name: &str) -> Option<Dtype> {
        Some(match name {
            "float32" | "f32" => Dtype::F32,
            "float64" | "f64" => Dtype::F64,
            "bfloat16" | "bf16" => Dtype::BF16,
            "float16" | "f16" => Dtype::F16,
            _ => return None,
        })
    }
}

impl Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How one element of a state buffer is kept in memory.
///
/// `load` widens to the arithmetic type `F`; `store` rounds to nearest (ties to even).
pub trait Store<F: Copy>: Copy + Send + Sync + 'static {
    fn load(self) -> F;
    fn store(x: F) -> Self;

    /// Stores 16 consecutive elements, as [`Store::store`] does each. The generated
    /// loops of the [`Simd::Avx512Bf16`](crate::exec::Simd::Avx512Bf16) build call it,
    /// so that bf16 state narrows 16 f32 lanes in one instruction.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, DQ and BF16 (what that build requires).
    #[inline(always)]
    unsafe fn store_16(src: &[F; 16], dst: &mut [Self; 16]) {
        store_each(src, dst);
    }
}

/// [`Store::store_16`] one element at a time.
#[inline(always)]
fn store_each<F: Copy, S: Store<F>>(src: &[F; 16], dst: &mut [S; 16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = S::store(s);
    }
}

impl<F: Float> Store<F> for F {
    #[inline(always)]
    fn load(self) -> F {
        self
    }
    #[inline(always)]
    fn store(x: F) -> Self {
        x
    }
}

/// bfloat16 as the upper half of an f32: widening is a shift, exact.
#[inline(always)]
fn bf16_to_f32(b: half::bf16) -> f32 {
    f32::from_bits((b.to_bits() as u32) << 16)
}

/// f32 to bfloat16, rounding to nearest with ties to even, NaN kept quiet: the bits
/// `half::bf16::from_f32` gives (the tests below compare on a sample of patterns; this
/// form agreed on all 2^32), as one add and a shift plus a select for NaN, so a loop of
/// them vectorizes into a few instructions per lane: adding 0x7FFF plus the
/// kept half's lowest bit carries into the kept half exactly when the dropped half is
/// over one half, or exactly one half with an odd kept half. (`half::bf16::from_f64`,
/// which f32 state went through before, rounds a few values near the smallest normal
/// numbers, around 1e-38, down where round-to-nearest goes up.)
#[inline(always)]
pub(crate) fn f32_to_bf16(x: f32) -> half::bf16 {
    let b = x.to_bits();
    let r = b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16;
    let q = (b >> 16) | 0x0040;
    // Selected in 32-bit lanes and narrowed once (a float compare and a blend, then one
    // pack per 8 lanes): narrowing `r`, `q` and the mask separately made three packs.
    half::bf16::from_bits((if x.is_nan() { q } else { r }) as u16)
}

impl<F: Float> Store<F> for half::bf16 {
    #[inline(always)]
    fn load(self) -> F {
        // Exact in f32, hence in f64.
        F::of(bf16_to_f32(self) as f64)
    }
    #[inline(always)]
    fn store(x: F) -> Self {
        if F::DTYPE == Dtype::F32 {
            // `x` is an f32: the widening and narrowing below are exact.
            f32_to_bf16(x.f64() as f32)
        } else {
            half::bf16::from_f64(x.f64())
        }
    }
    #[inline(always)]
    unsafe fn store_16(src: &[F; 16], dst: &mut [Self; 16]) {
        #[cfg(target_arch = "x86_64")]
        if F::DTYPE == Dtype::F32 {
            // `F` is f32: the conversions compile to nothing.
            let x: [f32; 16] = core::array::from_fn(|i| src[i].f64() as f32);
            // SAFETY: the caller's contract.
            unsafe { f32x16_to_bf16(&x, dst) };
            return;
        }
        store_each(src, dst);
    }
}

/// [`f32_to_bf16`] of 16 lanes, in one `vcvtneps2bf16` (AVX512_BF16): it rounds to
/// nearest even and keeps NaNs quiet as `f32_to_bf16` does, bit for bit, except that it
/// reads subnormal inputs as zero. A block with a subnormal lane (one `vfpclassps`)
/// takes the software rounding instead, so the bits never depend on the build. The
/// software narrowing takes 8 vector instructions per 16 lanes (the rounding add, the
/// NaN select, the narrowing store); this takes 4 (class test, mask test, convert,
/// store). A bf16-state Adam step whose state stays in cache (1e6 elements) takes 0.83
/// of the AVX-512 build's time; where memory is the limit (1e7, 5e7) it gains nothing
/// measurable (`benches/HISTORY.md`).
///
/// Not a `#[target_feature]` function: one was not inlined into the loops (a call per
/// block made the step slower than the software rounding), while the intrinsics are,
/// once this function is inlined into a build that has the features.
///
/// # Safety
/// The CPU has AVX-512 F, DQ and BF16.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn f32x16_to_bf16(x: &[f32; 16], dst: &mut [half::bf16; 16]) {
    use core::arch::x86_64::*;
    // SAFETY: the caller's contract; both arrays are 16 elements, and the load and
    // store are unaligned ones.
    unsafe {
        let v = _mm512_loadu_ps(x.as_ptr());
        // Class 0x20: subnormal, of either sign.
        if _mm512_fpclass_ps_mask::<0x20>(v) == 0 {
            let h: __m256i = core::mem::transmute(_mm512_cvtneps_pbh(v));
            _mm256_storeu_si256(dst.as_mut_ptr().cast(), h);
        } else {
            for (d, &s) in dst.iter_mut().zip(x) {
                *d = f32_to_bf16(s);
            }
        }
    }
}

impl<F: Float> Store<F> for half::f16 {
    #[inline(always)]
    fn load(self) -> F {
        F::of(self.to_f64())
    }
    #[inline(always)]
    fn store(x: F) -> Self {
        half::f16::from_f64(x.f64())
    }
}

/// An f32 storage slot for state whose arithmetic type is another float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AsF32(pub f32);

/// An f64 storage slot for state whose arithmetic type is another float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AsF64(pub f64);

impl<F: Float> Store<F> for AsF32 {
    #[inline(always)]
    fn load(self) -> F {
        F::of(self.0 as f64)
    }
    #[inline(always)]
    fn store(x: F) -> Self {
        AsF32(x.f64() as f32)
    }
}

impl<F: Float> Store<F> for AsF64 {
    #[inline(always)]
    fn load(self) -> F {
        F::of(self.0)
    }
    #[inline(always)]
    fn store(x: F) -> Self {
        AsF64(x.f64())
    }
}

/// The slot of a disabled state buffer (e.g. `sgd` without momentum): zero-sized,
/// it reads as zero and forgets what is written, so a `Vec<Absent>` costs no memory.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Absent;

impl<F: Float> Store<F> for Absent {
    #[inline(always)]
    fn load(self) -> F {
        F::zero()
    }
    #[inline(always)]
    fn store(_: F) -> Self {
        Absent
    }
}

/// One leaf's worth of a state buffer, in its storage dtype, in aligned memory
/// ([`AVec`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float")]
pub enum Buf<F> {
    /// Stored in the params' own element type.
    Native(AVec<F>),
    F32(AVec<AsF32>),
    F64(AVec<AsF64>),
    BF16(AVec<half::bf16>),
    F16(AVec<half::f16>),
    /// A disabled buffer of this many elements: no memory, reads as zero.
    Absent(usize),
}

impl<F: Float> Buf<F> {
    /// A buffer of `len` elements, all `value`, stored as `dtype` (`None`: the params' dtype).
    pub fn filled(len: usize, value: F, dtype: Option<Dtype>) -> Self {
        match dtype {
            None => Buf::Native(AVec::filled(len, value)),
            Some(d) if d == F::DTYPE => Buf::Native(AVec::filled(len, value)),
            Some(Dtype::F32) => Buf::F32(AVec::filled(len, Store::<F>::store(value))),
            Some(Dtype::F64) => Buf::F64(AVec::filled(len, Store::<F>::store(value))),
            Some(Dtype::BF16) => Buf::BF16(AVec::filled(len, Store::<F>::store(value))),
            Some(Dtype::F16) => Buf::F16(AVec::filled(len, Store::<F>::store(value))),
        }
    }

    /// A copy of `data`, stored as `dtype` (`None`: the params' dtype), each element
    /// rounded to it.
    pub fn copied(data: &[F], dtype: Option<Dtype>) -> Self {
        fn conv<F: Float, S: Store<F>>(data: &[F]) -> AVec<S> {
            let v: Vec<S> = data.iter().map(|&x| S::store(x)).collect();
            AVec::from(v)
        }
        match dtype {
            None => Buf::Native(AVec::from_slice(data)),
            Some(d) if d == F::DTYPE => Buf::Native(AVec::from_slice(data)),
            Some(Dtype::F32) => Buf::F32(conv(data)),
            Some(Dtype::F64) => Buf::F64(conv(data)),
            Some(Dtype::BF16) => Buf::BF16(conv(data)),
            Some(Dtype::F16) => Buf::F16(conv(data)),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Buf::Native(v) => v.len(),
            Buf::F32(v) => v.len(),
            Buf::F64(v) => v.len(),
            Buf::BF16(v) => v.len(),
            Buf::F16(v) => v.len(),
            Buf::Absent(n) => *n,
        }
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The storage dtype, or `None` for a disabled buffer.
    pub fn dtype(&self) -> Option<Dtype> {
        match self {
            Buf::Native(_) => Some(F::DTYPE),
            Buf::F32(_) => Some(Dtype::F32),
            Buf::F64(_) => Some(Dtype::F64),
            Buf::BF16(_) => Some(Dtype::BF16),
            Buf::F16(_) => Some(Dtype::F16),
            Buf::Absent(_) => None,
        }
    }

    /// Element `i`, widened to `F` (zero for a disabled buffer).
    pub fn get(&self, i: usize) -> F {
        match self {
            Buf::Native(v) => v[i],
            Buf::F32(v) => v[i].load(),
            Buf::F64(v) => v[i].load(),
            Buf::BF16(v) => v[i].load(),
            Buf::F16(v) => v[i].load(),
            Buf::Absent(_) => F::zero(),
        }
    }

    /// All elements widened to `F` (allocates; for inspection and tests).
    pub fn to_vec(&self) -> Vec<F> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_is_halfs_on_every_interesting_pattern() {
        // Every pattern whose low 16 bits are around the rounding boundary, for a spread
        // of high halves (signs, exponents, NaN, infinity, subnormals), plus a
        // pseudo-random sample of all 2^32 patterns.
        let mut highs: Vec<u32> = (0..=0xFFFFu32).step_by(97).collect();
        highs.extend([
            0x0000, 0x0001, 0x007F, 0x0080, 0x7F7F, 0x7F80, 0x7FC0, 0x7FFF, 0x8000, 0xFF80, 0xFFFF,
        ]);
        let lows = [
            0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xBFFF, 0xC000, 0xFFFF,
        ];
        let check = |b: u32| {
            let x = f32::from_bits(b);
            let ours = f32_to_bf16(x);
            let half = half::bf16::from_f32(x);
            assert_eq!(ours.to_bits(), half.to_bits(), "{b:#010x}");
            assert_eq!(bf16_to_f32(ours).to_bits(), ours.to_f32().to_bits());
        };
        for &h in &highs {
            for &l in &lows {
                check((h << 16) | l);
            }
        }
        let mut s = 0x9E37_79B9u32;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            check(s);
        }
    }

    /// The hardware narrowing of 16 lanes against the software one, on every pattern
    /// of the test above, in blocks that mix subnormal lanes (software path) with
    /// others and blocks that have none (the instruction).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_hardware_bf16_narrowing_gives_the_software_bits() {
        use std::is_x86_feature_detected as has;
        if !(has!("avx512f") && has!("avx512dq") && has!("avx512bf16")) {
            eprintln!("this CPU has no AVX512_BF16: nothing to compare");
            return;
        }
        let mut patterns: Vec<u32> = Vec::new();
        for h in (0..=0xFFFFu32).step_by(7) {
            for l in [0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xC000, 0xFFFF] {
                patterns.push((h << 16) | l);
            }
        }
        let mut s = 0x9E37_79B9u32;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            patterns.push(s);
        }
        let subnormal = |b: u32| b & 0x7F80_0000 == 0 && b & 0x007F_FFFF != 0;
        let (mut fast, mut slow) = (0, 0);
        for block in patterns.chunks_exact(16) {
            let x: [f32; 16] = core::array::from_fn(|i| f32::from_bits(block[i]));
            let mut got = [half::bf16::ZERO; 16];
            // SAFETY: the CPU has the features, checked above.
            unsafe { f32x16_to_bf16(&x, &mut got) };
            for (&x, g) in x.iter().zip(got) {
                assert_eq!(
                    g.to_bits(),
                    f32_to_bf16(x).to_bits(),
                    "{:#010x}",
                    x.to_bits()
                );
            }
            if block.iter().any(|&b| subnormal(b)) {
                slow += 1;
            } else {
                fast += 1;
            }
        }
        assert!(
            fast > 1000 && slow > 100,
            "both paths ran: {fast} and {slow} blocks"
        );
    }
}
