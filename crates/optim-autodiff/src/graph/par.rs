//! The threading of elementwise work, as optim's steps do it (`optim_core::exec`): a
//! slice of at least two chunks of `CHUNK` elements is cut into chunks run on rayon's
//! current pool; a smaller one runs inline. Each output element is computed from its own
//! inputs, so the result does not depend on the thread count.

use optim_core::exec::CHUNK;
use rayon::prelude::*;

fn parallel(n: usize) -> bool {
    n >= 2 * CHUNK && rayon::current_num_threads() > 1
}

/// `f(out_chunk, a_chunk)` over matching chunks of `out` and `a`.
pub(super) fn zip2<F: Send + Sync>(out: &mut [F], a: &[F], f: impl Fn(&mut [F], &[F]) + Sync) {
    if parallel(out.len()) {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .for_each(|(o, a)| f(o, a));
    } else {
        f(out, a);
    }
}

/// `f(out_chunk, a_chunk, b_chunk)` over matching chunks.
pub(super) fn zip3<F: Send + Sync>(
    out: &mut [F],
    a: &[F],
    b: &[F],
    f: impl Fn(&mut [F], &[F], &[F]) + Sync,
) {
    if parallel(out.len()) {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK))
            .for_each(|((o, a), b)| f(o, a, b));
    } else {
        f(out, a, b);
    }
}

/// `f(out_chunk, a_chunk, b_chunk, c_chunk)` over matching chunks.
pub(super) fn zip4<F: Send + Sync>(
    out: &mut [F],
    a: &[F],
    b: &[F],
    c: &[F],
    f: impl Fn(&mut [F], &[F], &[F], &[F]) + Sync,
) {
    if parallel(out.len()) {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK))
            .zip(c.par_chunks(CHUNK))
            .for_each(|(((o, a), b), c)| f(o, a, b, c));
    } else {
        f(out, a, b, c);
    }
}
