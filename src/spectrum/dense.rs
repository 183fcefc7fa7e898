//! The dense path: the singular values of every requested block
//! `H_i = T[i·p.., ..i·m]` of a materialised, validated `T`.
//!
//! Cost per channel: `Σ_i O((L-i)·i·min(i, L-i)) = O(L⁴)` time over all indices,
//! `O(L²)` memory for `T` plus the blocks being decomposed.

use super::{spectrum_of, Spectrum, SvdBackend};
use crate::error::Result;
use crate::operator::BlockShape;
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// Spectra of `H_i` of `t` for each `i` in `indices` (validated), each reduced by
/// `reduce`. Indices are processed in parallel.
pub(crate) fn sweep<T, R, F>(
    t: &DMatrix<T>,
    shape: BlockShape,
    len: usize,
    indices: &[usize],
    backend: &dyn SvdBackend,
    reduce: &F,
) -> Result<Vec<R>>
where
    T: Scalar,
    R: Send,
    F: Fn(&Spectrum<T>) -> R + Sync + Send,
{
    crate::parallel::try_map(indices, |&i| {
        let (rows, cols) = shape.hankel_shape(len, i);
        let block = t.view((i * shape.outputs, 0), (rows, cols)).into_owned();
        Ok(reduce(&spectrum_of(backend, block, (rows, cols))?))
    })
}
