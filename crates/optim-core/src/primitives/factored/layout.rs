//! The layout of a factored leaf: which two axes optax factors, and the leaf seen as
//! `[A, n_a, B, n_b, C]` around them, walked in contiguous runs (see "Passes over a leaf"
//! in `mod.rs`).

/// How a factored leaf is laid out: its shape seen as `[A, n_a, B, n_b, C]`, where `a < b`
/// are the two factored axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) outer: usize,
    pub(super) na: usize,
    pub(super) mid: usize,
    pub(super) nb: usize,
    pub(super) inner: usize,
    /// Whether axis `a` is the largest one (`d0` in optax), so that the row statistic
    /// (reduced over `d0`) is the leaf reduced over `a`.
    pub(super) row_over_a: bool,
}

impl Layout {
    /// optax's `_factored_dims`: the two largest axes of a leaf of rank >= 2 when the
    /// smaller of them has at least `min_dim` elements. Ties keep the axis order, as
    /// numpy's `argsort` does on short shapes: the later axis counts as the larger.
    ///
    /// A leaf with no elements is never factored (it keeps an empty `v`): with
    /// `min_dim_size_to_factor = 0` optax would factor `[2^40, 0]` into a 2^40-entry
    /// statistic that no element ever reads (its mean over the empty axis is NaN).
    pub(super) fn of(shape: &[usize], factored: bool, min_dim: usize) -> Option<Layout> {
        if !factored || shape.len() < 2 || shape.contains(&0) {
            return None;
        }
        // The last and second-to-last axes of a stable ascending sort by size: among
        // equal sizes the later axis wins. No allocation: this runs at every step.
        let largest_except = |skip: usize| {
            (0..shape.len())
                .filter(|&i| i != skip)
                .fold(None, |best: Option<usize>, i| match best {
                    Some(b) if shape[b] > shape[i] => Some(b),
                    _ => Some(i),
                })
                .unwrap_or(0)
        };
        let d0 = largest_except(usize::MAX);
        let d1 = largest_except(d0);
        if shape[d1] < min_dim {
            return None;
        }
        let (a, b) = (d0.min(d1), d0.max(d1));
        let prod = |r: std::ops::Range<usize>| shape[r].iter().product::<usize>();
        Some(Layout {
            outer: prod(0..a),
            na: shape[a],
            mid: prod(a + 1..b),
            nb: shape[b],
            inner: prod(b + 1..shape.len()),
            row_over_a: d0 == a,
        })
    }

    /// Length of the leaf reduced over axis `a`.
    pub(super) fn len_a(&self) -> usize {
        self.outer * self.mid * self.nb * self.inner
    }
    /// Length of the leaf reduced over axis `b`.
    pub(super) fn len_b(&self) -> usize {
        self.outer * self.na * self.mid * self.inner
    }
    pub(super) fn row_len(&self) -> usize {
        if self.row_over_a {
            self.len_a()
        } else {
            self.len_b()
        }
    }
    pub(super) fn col_len(&self) -> usize {
        if self.row_over_a {
            self.len_b()
        } else {
            self.len_a()
        }
    }

    /// The number of runs of `n_b * C` elements.
    pub(super) fn runs(&self) -> usize {
        self.outer * self.na * self.mid
    }

    /// The offsets of run `r`'s entries in the arrays reduced over `a` and over `b`, as
    /// [`runs_in`](Self::runs_in) gives them for the `r`-th run.
    #[inline(always)]
    pub(super) fn offsets(&self, r: usize) -> (usize, usize) {
        let (x, y) = (r / (self.na * self.mid), r % self.mid);
        ((x * self.mid + y) * self.nb * self.inner, r * self.inner)
    }

    /// The number of blocks of the index `i` along axis a that the sums over a are
    /// added in (a partial sum per block, then the blocks in order): one for a leaf under
    /// two chunks, the plain order; up to 8 for a larger one, whatever the thread count,
    /// so that a parallel step runs the blocks on its threads and a sequential step adds
    /// the same partial sums in the same order.
    pub(super) fn a_blocks(&self) -> usize {
        if self.runs() * self.nb * self.inner < 2 * crate::exec::CHUNK {
            1
        } else {
            self.na.min(8)
        }
    }

    /// The indices along axis a of block `k` of `blocks`.
    pub(super) fn block_rows(&self, k: usize, blocks: usize) -> std::ops::Range<usize> {
        k * self.na / blocks..(k + 1) * self.na / blocks
    }

    /// Every contiguous run of `n_b * C` elements whose index along axis a is in `rows`,
    /// in memory order for each `x`: `(start, a_off, b_off)`, its offset in the leaf and
    /// the offsets of its entries in the arrays reduced over `a` (a run of `n_b * C`) and
    /// over `b` (a run of `C`).
    #[inline(always)]
    pub(super) fn runs_in(
        &self,
        rows: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let run = self.nb * self.inner;
        (0..self.outer).flat_map(move |x| {
            rows.clone().flat_map(move |i| {
                (0..self.mid).map(move |y| {
                    let start = ((x * self.na + i) * self.mid + y) * run;
                    let a_off = (x * self.mid + y) * run;
                    let b_off = ((x * self.na + i) * self.mid + y) * self.inner;
                    (start, a_off, b_off)
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_the_two_largest_axes_as_optax_does() {
        assert_eq!(Layout::of(&[5], true, 1), None);
        assert_eq!(
            Layout::of(&[256, 130], true, 128).map(|l| l.row_over_a),
            Some(true)
        );
        assert_eq!(
            Layout::of(&[130, 256], true, 128).map(|l| l.row_over_a),
            Some(false)
        );
        assert_eq!(Layout::of(&[256, 127], true, 128), None);
        assert_eq!(Layout::of(&[256, 130], false, 128), None);
        // Rank 3: the two largest axes, wherever they are; ties go to the later axis.
        let l = Layout::of(&[3, 7, 5], true, 2).unwrap();
        assert_eq!(
            (l.outer, l.na, l.mid, l.nb, l.inner, l.row_over_a),
            (3, 7, 1, 5, 1, true)
        );
        let l = Layout::of(&[7, 2, 5], true, 2).unwrap();
        assert_eq!(
            (l.outer, l.na, l.mid, l.nb, l.inner, l.row_over_a),
            (1, 7, 2, 5, 1, true)
        );
        let l = Layout::of(&[4, 4], true, 2).unwrap();
        assert!(
            !l.row_over_a,
            "equal sizes: numpy's argsort puts axis 1 last, so d0 = 1"
        );
        let l = Layout::of(&[5, 5, 5], true, 2).unwrap();
        assert_eq!((l.outer, l.na, l.nb, l.row_over_a), (5, 5, 5, false));
        // Row statistic: the shape without d0; column: without d1.
        let l = Layout::of(&[2, 6, 3, 5], true, 2).unwrap();
        assert_eq!((l.row_len(), l.col_len()), (2 * 3 * 5, 2 * 6 * 3));
    }
}
