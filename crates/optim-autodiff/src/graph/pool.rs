//! The buffer pool: every value and gradient buffer is taken from the graph's pool and
//! goes back to it ([`Graph::reset`], [`Graph::recycle`], the end of the backward pass),
//! so a graph rebuilt on the same `Graph` allocates no tensor storage in steady state.

use super::tape::{fresh_id, Graph};
use optim_core::{Float, TensorMap};

/// Takes a buffer of length `n` filled with `fill` from `pool`, or allocates one. The
/// pooled buffer taken is the smallest that fits, so that small values do not use up
/// the buffers that large ones need.
pub(super) fn take_buf<F: Float>(pool: &mut Vec<Vec<F>>, n: usize, fill: F) -> Vec<F> {
    let mut v = take_raw(pool, n);
    v.resize(n, fill);
    v
}

/// Takes an empty pooled buffer with capacity for `n` elements (best fit), or allocates.
fn take_raw<F>(pool: &mut Vec<Vec<F>>, n: usize) -> Vec<F> {
    let pos = pool
        .iter()
        .enumerate()
        .filter(|(_, b)| b.capacity() >= n)
        .min_by_key(|(_, b)| b.capacity())
        .map(|(i, _)| i);
    let mut v = match pos {
        Some(p) => pool.swap_remove(p),
        None => Vec::with_capacity(n),
    };
    v.clear();
    v
}

/// A pooled copy of `data`.
pub(super) fn copy_buf<F: Float>(pool: &mut Vec<Vec<F>>, data: &[F]) -> Vec<F> {
    let mut v = take_raw(pool, data.len());
    v.extend_from_slice(data);
    v
}

impl<F: Float> Graph<F> {
    /// Forgets every recorded value and parameter but keeps their buffers for reuse.
    /// Variables made before the reset become invalid.
    pub fn reset(&mut self) {
        self.id = fresh_id();
        self.params.clear();
        for node in self.nodes.drain(..) {
            self.pool.push(node.data);
        }
    }

    /// Takes back the buffers of a gradient tree that [`backward`](Graph::backward)
    /// returned, for the next graph to reuse: a training loop that hands its gradients
    /// back after the optimizer step allocates no tensor storage in steady state.
    pub fn recycle(&mut self, grads: TensorMap<F>) {
        self.pool.extend(grads.into_values().map(|t| t.into_data()));
    }
}
