//! The dense path: the singular values of every requested block
//! `H_i = T[i·p.., ..i·m]` of a materialised, validated `T`.
//!
//! The blocks are not decomposed one by one: [`nested::sweep_factors`] carries a
//! square triangular factor with the singular values of `H_i` along chains of
//! indices (updates only), and the backend decomposes that `r × r` factor,
//! `r = min(p(L-i), m·i)`. Cost per channel: `Σ_i 8r³/3 = O(L⁴)` flops over all
//! indices (half of an SVD of every block), `O(L²)` memory for `T` plus one
//! factor per chain in flight.
//!
//! [`nested::sweep_factors`]: super::nested::sweep_factors

use super::nested::{sweep_factors_limited, Factor};
use super::{spectrum_of, Spectrum, SvdBackend};
use crate::error::Result;
use crate::operator::BlockShape;
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// Spectra of `H_i` of `t` for each `i` in `indices` (validated), each reduced by
/// `reduce`, in the order of `indices`. At most `in_flight` chains run at the
/// same time (the results do not depend on it). An error from `reduce` (the
/// planner's progress callback cancelling) stops the sweep.
pub(crate) fn sweep<T, R, F>(
    t: &DMatrix<T>,
    shape: BlockShape,
    len: usize,
    indices: &[usize],
    backend: &dyn SvdBackend,
    in_flight: usize,
    reduce: &F,
) -> Result<Vec<R>>
where
    T: Scalar,
    R: Send,
    F: Fn(&Spectrum<T>) -> Result<R> + Sync,
{
    sweep_factors_limited(t, shape, len, indices, in_flight, &|_: &mut (), f: Factor<'_, T>| {
        let block = shape.hankel_shape(len, f.index);
        reduce(&spectrum_of(backend, f.r.clone(), block)?.shifted(f.exponent))
    })
}
