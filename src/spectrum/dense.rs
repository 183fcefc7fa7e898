//! The dense path: materialise `T` once per channel, then take the singular values
//! of every requested block `H_i = T[i·p.., ..i·m]`.
//!
//! Cost per channel: `Σ_i O((L-i)·i·min(i, L-i)) = O(L⁴)` time over all indices,
//! `O(L²)` memory for `T` plus one block per worker thread.

use super::{spectrum_of, Spectrum, SvdBackend};
use crate::error::Result;
use crate::operator::{slice_hankel, LinearOperator};

/// Spectra of `H_i` for each `i` in `indices` (already validated) of one channel,
/// each reduced by `reduce`. Indices are processed in parallel.
pub(crate) fn sweep<O, B, R, F>(op: &O, channel: usize, indices: &[usize], backend: &B, reduce: F) -> Result<Vec<R>>
where
    O: LinearOperator + ?Sized,
    B: SvdBackend,
    R: Send,
    F: Fn(&Spectrum<O::Scalar>) -> R + Sync + Send,
{
    let t = op.dense_matrix(channel)?;
    let (shape, len) = (op.block_shape(), op.seq_len());
    crate::parallel::try_map(indices, |&i| {
        let block = slice_hankel(&t, shape, len, i);
        let hankel_shape = block.shape();
        Ok(reduce(&spectrum_of(backend, block, hankel_shape)?))
    })
}
