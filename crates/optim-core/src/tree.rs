//! Parameter trees: the user's own parameter structure, seen as an ordered list of leaves.
//!
//! A leaf is a contiguous row-major block of `F` with a shape. Every leaf has a stable
//! path (`"encoder.w"`) built from field names and map keys; masks, labels, errors and
//! saved state refer to leaves by it. Traversal is by callback with a stack-allocated
//! [`Path`], so walking a tree never allocates.

use crate::{Error, Float};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The path of a node, as a chain of segments on the stack.
#[derive(Clone, Copy)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Name(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// The root of a tree: the empty path.
    pub const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };

    /// The child named `name` (a struct field or map key).
    pub fn field<'b>(&'b self, name: &'b str) -> Path<'b> {
        Path {
            parent: Some(self),
            seg: Seg::Name(name),
        }
    }

    /// The child at position `i` of a sequence.
    pub fn index<'b>(&'b self, i: usize) -> Path<'b> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    fn write(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut wrote = false;
        if let Some(p) = self.parent {
            p.write(out)?;
            wrote = !p.is_root();
        }
        match self.seg {
            Seg::Root => Ok(()),
            Seg::Name(n) => {
                if wrote {
                    out.write_char('.')?;
                }
                out.write_str(n)
            }
            Seg::Index(i) => {
                if wrote {
                    out.write_char('.')?;
                }
                write!(out, "{i}")
            }
        }
    }

    fn is_root(&self) -> bool {
        matches!(self.seg, Seg::Root) && self.parent.is_none_or(|p| p.is_root())
    }

    /// Whether this path spells `s` (its `Display` form, `<root>` for the root),
    /// without allocating or formatting: the segments are compared from the last one
    /// backwards against the end of `s`.
    pub fn matches(&self, s: &str) -> bool {
        if self.is_root() {
            return s == "<root>" || s.is_empty();
        }
        self.match_suffix(s.as_bytes())
            .is_some_and(|rest| rest.is_empty())
    }

    /// Strips this path's spelling from the end of `s`; what is left, or `None`.
    fn match_suffix<'s>(&self, s: &'s [u8]) -> Option<&'s [u8]> {
        let rest = match self.seg {
            Seg::Root => return Some(s),
            Seg::Name(n) => s.strip_suffix(n.as_bytes())?,
            Seg::Index(i) => {
                // The decimal digits of `i`, from the last.
                let mut rest = s;
                let mut i = i;
                loop {
                    let (&d, r) = rest.split_last()?;
                    if d != b'0' + (i % 10) as u8 {
                        return None;
                    }
                    rest = r;
                    i /= 10;
                    if i == 0 {
                        break;
                    }
                }
                rest
            }
        };
        match self.parent {
            Some(p) if !p.is_root() => p.match_suffix(rest.strip_suffix(b".")?),
            _ => Some(rest),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write(&mut s)?;
        if s.is_empty() {
            f.write_str("<root>")
        } else {
            f.write_str(&s)
        }
    }
}

impl fmt::Debug for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({self})")
    }
}

/// The callback of [`Tree::visit`]: path, data, shape.
pub type Visit<'v, F> = dyn FnMut(&Path<'_>, &[F], &[usize]) -> Result<(), Error> + 'v;
/// The callback of [`Tree::visit_mut`].
pub type VisitMut<'v, F> = dyn FnMut(&Path<'_>, &mut [F], &[usize]) -> Result<(), Error> + 'v;
/// The callback of [`Tree::zip_mut`]: path, this tree's leaf, the other tree's leaf.
pub type ZipMut<'v, F> =
    dyn FnMut(&Path<'_>, (&mut [F], &[usize]), (&[F], &[usize])) -> Result<(), Error> + 'v;
/// The callback of [`Tree::zip`].
pub type Zip<'v, F> =
    dyn FnMut(&Path<'_>, (&[F], &[usize]), (&[F], &[usize])) -> Result<(), Error> + 'v;

/// A tree of parameters (or gradients, or updates) with leaves of element type `F`.
///
/// Implemented for `Vec<F>` (one 1-d leaf), [`Tensor<F>`] (one n-d leaf), `F` (a
/// scalar leaf), `BTreeMap<String, T>` (named subtrees, in key order as jax flattens a
/// dict), and user structs through `#[derive(Tree)]`. Leaves are visited in a fixed order.
/// `zip` and `zip_mut` walk two trees of the same type together; when their structure
/// differs (a map key present in one only) they return [`Error::MissingLeaf`].
pub trait Tree<F: Float> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error>;
    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error>;
    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error>;
    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error>;
}

/// Convenience methods on every tree.
pub trait TreeExt<F: Float>: Tree<F> {
    /// Number of leaves.
    fn num_leaves(&self) -> usize {
        let mut n = 0;
        let _ = self.visit(&Path::ROOT, &mut |_, _, _| {
            n += 1;
            Ok(())
        });
        n
    }

    /// Total number of elements over all leaves.
    fn num_elements(&self) -> usize {
        let mut n = 0;
        let _ = self.visit(&Path::ROOT, &mut |_, d, _| {
            n += d.len();
            Ok(())
        });
        n
    }

    /// The leaf paths, in traversal order.
    fn paths(&self) -> Vec<String> {
        let mut v = Vec::new();
        let _ = self.visit(&Path::ROOT, &mut |p, _, _| {
            v.push(p.to_string());
            Ok(())
        });
        v
    }

    /// `(path, shape, data)` for every leaf (allocates; for inspection and tests).
    fn leaves(&self) -> Vec<(String, Vec<usize>, Vec<F>)> {
        let mut v = Vec::new();
        let _ = self.visit(&Path::ROOT, &mut |p, d, s| {
            v.push((p.to_string(), s.to_vec(), d.to_vec()));
            Ok(())
        });
        v
    }

    /// Sets every element to zero.
    fn fill_zero(&mut self) {
        let _ = self.visit_mut(&Path::ROOT, &mut |_, d, _| {
            d.fill(F::zero());
            Ok(())
        });
    }
}

impl<F: Float, T: Tree<F> + ?Sized> TreeExt<F> for T {}

/// Checks that `got`'s shape equals `expected`'s, naming the leaf otherwise.
pub fn check_shape(
    path: &Path<'_>,
    what: &str,
    expected: &[usize],
    got: &[usize],
) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Shape {
            path: path.to_string(),
            what: what.to_string(),
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

impl<F: Float> Tree<F> for Vec<F> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        f(path, self, &[self.len()])
    }
    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        let n = self.len();
        f(path, self, &[n])
    }
    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        f(path, (self, &[self.len()]), (other, &[other.len()]))
    }
    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        let n = self.len();
        f(path, (self, &[n]), (other, &[other.len()]))
    }
}

impl<F: Float> Tree<F> for F {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        f(path, std::slice::from_ref(self), &[])
    }
    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        f(path, std::slice::from_mut(self), &[])
    }
    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        f(
            path,
            (std::slice::from_ref(self), &[]),
            (std::slice::from_ref(other), &[]),
        )
    }
    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        f(
            path,
            (std::slice::from_mut(self), &[]),
            (std::slice::from_ref(other), &[]),
        )
    }
}

impl<F: Float, T: Tree<F>> Tree<F> for BTreeMap<String, T> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        for (k, v) in self {
            v.visit(&path.field(k), f)?;
        }
        Ok(())
    }
    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        for (k, v) in self.iter_mut() {
            v.visit_mut(&path.field(k), f)?;
        }
        Ok(())
    }
    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        check_same_keys(self.keys(), other.keys(), path)?;
        for ((k, a), b) in self.iter().zip(other.values()) {
            a.zip(b, &path.field(k), f)?;
        }
        Ok(())
    }
    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        check_same_keys(self.keys(), other.keys(), path)?;
        for ((k, a), b) in self.iter_mut().zip(other.values()) {
            a.zip_mut(b, &path.field(k), f)?;
        }
        Ok(())
    }
}

fn check_same_keys<'k>(
    mut a: impl Iterator<Item = &'k String>,
    mut b: impl Iterator<Item = &'k String>,
    path: &Path<'_>,
) -> Result<(), Error> {
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ok(()),
            (Some(x), Some(y)) if x == y => {}
            (x, y) => {
                // Keys are sorted: the smaller one is the one the other tree lacks.
                let (key, missing_in) = match (x, y) {
                    (Some(x), Some(y)) if x < y => (x, "second tree"),
                    (Some(_), Some(y)) => (y, "first tree"),
                    (Some(x), None) => (x, "second tree"),
                    (None, Some(y)) => (y, "first tree"),
                    (None, None) => unreachable!("handled above"),
                };
                return Err(Error::MissingLeaf {
                    path: path.field(key).to_string(),
                    missing_in: missing_in.to_string(),
                });
            }
        }
    }
}

/// The element count of `shape`, or `None` when it overflows `usize` (a shape with a
/// zero extent has no elements, however large its other extents).
pub fn numel(shape: &[usize]) -> Option<usize> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// A small owned n-d array: row-major data with a shape. A shape of `[]` is a scalar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Float", try_from = "RawTensor<F>")]
pub struct Tensor<F> {
    shape: Vec<usize>,
    data: Vec<F>,
}

#[derive(Deserialize)]
#[serde(bound = "F: Float")]
struct RawTensor<F> {
    shape: Vec<usize>,
    data: Vec<F>,
}

/// A deserialized tensor is checked as [`Tensor::new`] checks it (serde shows the
/// [`Error::DataLen`] as its message).
impl<F: Float> TryFrom<RawTensor<F>> for Tensor<F> {
    type Error = Error;
    fn try_from(r: RawTensor<F>) -> Result<Self, Error> {
        Tensor::new(r.shape, r.data)
    }
}

impl<F: Float> Tensor<F> {
    /// A tensor from its shape and row-major data; errors when the lengths disagree.
    pub fn new(shape: impl Into<Vec<usize>>, data: impl Into<Vec<F>>) -> Result<Self, Error> {
        let (shape, data) = (shape.into(), data.into());
        let Some(expected) = numel(&shape) else {
            return Err(Error::ShapeOverflow {
                path: "<tensor>".into(),
                shape,
            });
        };
        if expected != data.len() {
            return Err(Error::DataLen {
                path: "<tensor>".into(),
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor of zeros.
    ///
    /// # Panics
    ///
    /// If the shape's element count overflows `usize` (as `vec!` does for a length it
    /// cannot allocate); [`Tensor::new`] returns an error instead.
    pub fn zeros(shape: impl Into<Vec<usize>>) -> Self {
        Self::full(shape, F::zero())
    }

    /// A tensor with every element `value`.
    ///
    /// # Panics
    ///
    /// If the shape's element count overflows `usize`.
    pub fn full(shape: impl Into<Vec<usize>>, value: F) -> Self {
        let shape = shape.into();
        let n = numel(&shape).expect("a shape whose element count fits in usize");
        Tensor {
            shape,
            data: vec![value; n],
        }
    }

    /// A 1-d tensor.
    pub fn vector(data: impl Into<Vec<F>>) -> Self {
        let data = data.into();
        Tensor {
            shape: vec![data.len()],
            data,
        }
    }

    /// A 0-d tensor.
    pub fn scalar(x: F) -> Self {
        Tensor {
            shape: vec![],
            data: vec![x],
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn data(&self) -> &[F] {
        &self.data
    }
    pub fn data_mut(&mut self) -> &mut [F] {
        &mut self.data
    }
    pub fn into_data(self) -> Vec<F> {
        self.data
    }
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl<F: Float> Tree<F> for Tensor<F> {
    fn visit(&self, path: &Path<'_>, f: &mut Visit<'_, F>) -> Result<(), Error> {
        f(path, &self.data, &self.shape)
    }
    fn visit_mut(&mut self, path: &Path<'_>, f: &mut VisitMut<'_, F>) -> Result<(), Error> {
        f(path, &mut self.data, &self.shape)
    }
    fn zip(&self, other: &Self, path: &Path<'_>, f: &mut Zip<'_, F>) -> Result<(), Error> {
        f(path, (&self.data, &self.shape), (&other.data, &other.shape))
    }
    fn zip_mut(
        &mut self,
        other: &Self,
        path: &Path<'_>,
        f: &mut ZipMut<'_, F>,
    ) -> Result<(), Error> {
        f(
            path,
            (&mut self.data, &self.shape),
            (&other.data, &other.shape),
        )
    }
}

/// Named n-d arrays: the map-of-tensors tree.
pub type TensorMap<F> = BTreeMap<String, Tensor<F>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_with_dots_and_match_without_allocating() {
        let root = Path::ROOT;
        let a = root.field("encoder");
        let b = a.field("w");
        let c = b.index(3);
        assert_eq!(b.to_string(), "encoder.w");
        assert_eq!(c.to_string(), "encoder.w.3");
        assert!(b.matches("encoder.w"));
        assert!(!b.matches("encoder.wx"));
        assert!(!b.matches("encoder"));
        assert_eq!(root.to_string(), "<root>");
        assert!(root.matches("<root>"));
        // Matching agrees with the spelling on names, indices and their boundaries.
        let d = root.index(12);
        let dx = d.field("x");
        let dx0 = dx.index(0);
        let e = dx0.index(105);
        for (p, s) in [(&c, "encoder.w.3"), (&d, "12"), (&e, "12.x.0.105")] {
            assert_eq!(p.to_string(), s);
            assert!(p.matches(s), "{s}");
            for bad in [
                format!("{s}0"),
                format!("0{s}"),
                format!(".{s}"),
                s[1..].to_string(),
                s.replace('.', "_"),
            ] {
                if bad == s {
                    continue;
                }
                assert!(!p.matches(&bad), "{s} matched {bad}");
            }
        }
        assert!(!c.matches("encoder.w.30") && !c.matches("encoderw.3"));
    }

    #[test]
    fn map_zip_names_the_missing_key() {
        let mut a: TensorMap<f64> = BTreeMap::new();
        a.insert("b".into(), Tensor::zeros([2]));
        a.insert("w".into(), Tensor::zeros([2]));
        let mut b = a.clone();
        b.remove("b");
        let err = a.zip(&b, &Path::ROOT, &mut |_, _, _| Ok(())).unwrap_err();
        assert_eq!(
            err,
            Error::MissingLeaf {
                path: "b".into(),
                missing_in: "second tree".into()
            }
        );
        let err = b.zip(&a, &Path::ROOT, &mut |_, _, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("`b`"), "{err}");
    }

    #[test]
    fn tensor_rejects_inconsistent_data() {
        assert!(Tensor::<f32>::new([2, 3], vec![0.0; 5]).is_err());
        let bad: Result<Tensor<f32>, _> = serde_json::from_str(r#"{"shape":[2],"data":[1.0]}"#);
        let message = bad.unwrap_err().to_string();
        assert!(
            message.contains("shape [2] needs 2 elements, got 1"),
            "{message}"
        );
    }

    /// Element counts that overflow `usize` are errors (they used to wrap in release
    /// builds, so `[2^32, 2^32]` with no data was accepted as an empty tensor).
    #[test]
    fn tensor_rejects_shapes_whose_count_overflows() {
        for shape in [
            vec![1 << 32, 1 << 32],
            vec![1 << 63, 2],
            vec![usize::MAX, 2, 0],
        ] {
            let zero_count = shape.contains(&0);
            let got = Tensor::<f32>::new(shape.clone(), vec![]);
            if zero_count {
                assert!(got.is_ok(), "{shape:?} has zero elements");
            } else {
                assert!(
                    matches!(&got, Err(Error::ShapeOverflow { shape: s, .. }) if *s == shape),
                    "{shape:?}: {got:?}"
                );
            }
        }
        let json = r#"{"shape":[4294967296,4294967296],"data":[]}"#;
        let message = serde_json::from_str::<Tensor<f32>>(json)
            .unwrap_err()
            .to_string();
        assert!(message.contains("more elements than"), "{message}");
    }
}
