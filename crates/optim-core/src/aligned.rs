//! [`AVec`]: the storage of a state buffer, aligned to a cache line (64 bytes), and a
//! buffer of 2 MiB or more aligned to 2 MiB and advised as a transparent huge page on
//! Linux (`madvise(MADV_HUGEPAGE)`, which the kernel honours in its `madvise` THP mode).
//! A `Vec` from the system allocator starts 16 bytes into a page for large sizes, so
//! every other 32-byte vector load of a streaming kernel straddles two cache lines.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Buffers at least this large are aligned to it and advised as huge pages.
pub const HUGE: usize = 2 << 20;
/// The alignment of every other buffer: a cache line.
pub const LINE: usize = 64;

/// A fixed-length, aligned buffer of `Copy` elements (see the module docs). Serialized
/// as a sequence, like a `Vec`.
pub struct AVec<T> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: `AVec` owns its elements like a `Vec`.
unsafe impl<T: Send> Send for AVec<T> {}
// SAFETY: as above; shared access only reads.
unsafe impl<T: Sync> Sync for AVec<T> {}

/// How state buffers are placed: `OPTIM_STATE_ALIGN=line` (64 bytes, no huge pages) or
/// `none` (the element's own alignment, as a `Vec`) turn the default (`huge`) off, to
/// measure what each gives (`cargo bench --bench step` under each). Read once.
fn mode() -> u8 {
    static MODE: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("OPTIM_STATE_ALIGN").as_deref() {
        Ok("none") => 0,
        Ok("line") => 1,
        Ok("huge") | Err(_) => 2,
        Ok(other) => {
            crate::exec::unknown_setting("OPTIM_STATE_ALIGN", other, "huge, line, none");
            2
        }
    })
}

fn layout<T>(len: usize) -> Option<Layout> {
    let bytes = len.checked_mul(std::mem::size_of::<T>())?;
    if bytes == 0 {
        return None;
    }
    let align = match mode() {
        0 => 1,
        1 => LINE,
        _ if bytes >= HUGE => HUGE,
        _ => LINE,
    }
    .max(std::mem::align_of::<T>());
    Layout::from_size_align(bytes, align).ok()
}

impl<T: Copy> AVec<T> {
    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let v = Self::uninit(len);
        // SAFETY: `uninit` allocated `len` elements (or none for an empty buffer).
        unsafe {
            for i in 0..len {
                v.ptr.as_ptr().add(i).write(value);
            }
        }
        v
    }

    /// A copy of `src`.
    pub fn from_slice(src: &[T]) -> Self {
        let v = Self::uninit(src.len());
        // SAFETY: `uninit` allocated `src.len()` elements that do not overlap `src`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), v.ptr.as_ptr(), src.len()) };
        v
    }
}

impl<T> AVec<T> {
    /// Room for `len` elements, not yet written.
    fn uninit(len: usize) -> Self {
        if std::mem::size_of::<T>() == 0 {
            return AVec {
                ptr: NonNull::dangling(),
                len,
            };
        }
        let Some(l) = layout::<T>(len) else {
            if len == 0 {
                return AVec {
                    ptr: NonNull::dangling(),
                    len,
                };
            }
            // A length whose bytes overflow cannot be allocated.
            handle_alloc_error(Layout::new::<T>());
        };
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(l) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            handle_alloc_error(l);
        };
        advise(raw, l);
        AVec { ptr, len }
    }
}

#[cfg(target_os = "linux")]
fn advise(raw: *mut u8, l: Layout) {
    if l.align() == HUGE {
        // SAFETY: the range is the allocation just made; the advice only changes how the
        // kernel backs it, and a refusal (THP disabled) is harmless.
        unsafe {
            libc::madvise(raw.cast(), l.size(), libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_: *mut u8, _: Layout) {}

impl<T> Drop for AVec<T> {
    fn drop(&mut self) {
        if std::mem::size_of::<T>() == 0 {
            return;
        }
        if let Some(l) = layout::<T>(self.len) {
            // SAFETY: allocated by `uninit` with this same layout.
            unsafe { dealloc(self.ptr.as_ptr().cast(), l) };
        }
    }
}

impl<T> Deref for AVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialized elements (or a dangling, aligned pointer for none).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for AVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as above, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Clone> Clone for AVec<T> {
    fn clone(&self) -> Self {
        let v = Self::uninit(self.len);
        for (i, x) in self.iter().enumerate() {
            // SAFETY: `uninit` allocated `self.len` elements.
            unsafe { v.ptr.as_ptr().add(i).write(x.clone()) };
        }
        v
    }
}

impl<T: fmt::Debug> fmt::Debug for AVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: PartialEq> PartialEq for AVec<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: PartialEq> PartialEq<[T]> for AVec<T> {
    fn eq(&self, other: &[T]) -> bool {
        **self == *other
    }
}

impl<T: PartialEq, const N: usize> PartialEq<[T; N]> for AVec<T> {
    fn eq(&self, other: &[T; N]) -> bool {
        **self == other[..]
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for AVec<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        **self == other[..]
    }
}

impl<T: Copy> From<Vec<T>> for AVec<T> {
    fn from(v: Vec<T>) -> Self {
        Self::from_slice(&v)
    }
}

impl<T: Copy> From<&[T]> for AVec<T> {
    fn from(v: &[T]) -> Self {
        Self::from_slice(v)
    }
}

impl<T: Serialize> Serialize for AVec<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, T: Deserialize<'de> + Copy> Deserialize<'de> for AVec<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(|v| Self::from_slice(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_behave_like_slices() {
        if mode() != 2 {
            return;
        }
        for len in [0usize, 1, 3, 1000, HUGE / 4 + 5] {
            let mut v = AVec::filled(len, 1.5f32);
            assert_eq!(v.len(), len);
            if len > 0 {
                let align = if len * 4 >= HUGE { HUGE } else { LINE };
                assert_eq!(v.as_ptr() as usize % align, 0, "len {len}");
                v[len - 1] = 2.0;
                assert_eq!(v[len - 1], 2.0);
            }
            let w = v.clone();
            assert_eq!(v, w);
            let json = serde_json::to_string(&w).expect("serializes");
            let back: AVec<f32> = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, w);
        }
        assert_eq!(AVec::from(vec![1u16, 2]), [1u16, 2]);
    }
}
