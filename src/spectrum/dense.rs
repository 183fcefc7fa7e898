//! The dense path: the singular values of every requested block
//! `H_i = T[i·p.., ..i·m]` of a materialised, validated `T`.
//!
//! The blocks are not decomposed one by one: [`nested::sweep_factor_pairs`]
//! carries a square triangular factor with the singular values of `H_i` along
//! chains of indices (updates only), and the backend decomposes that `r × r`
//! factor, `r = min(p(L-i), m·i)`, two indices at a time
//! ([`SvdBackend::singular_values_pair_f64`]: [`BidiagonalSvd`] interleaves the
//! two dqds sweeps, whose division chains would otherwise leave the core idle).
//! Cost per channel: `Σ_i 8r³/3 = O(L⁴)` flops over all indices (half of an SVD
//! of every block), `O(L²)` memory for `T` plus four factors per chain in flight.
//!
//! [`nested::sweep_factor_pairs`]: super::nested::sweep_factor_pairs
//! [`BidiagonalSvd`]: super::BidiagonalSvd

use super::nested::{sweep_factor_pairs, OwnedFactor};
use super::{spectra_of_pair, spectrum_of, Spectrum, SvdBackend};
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
    sweep_factor_pairs(t, shape, len, indices, in_flight, &|a: OwnedFactor<T>, b: Option<OwnedFactor<T>>| {
        let (xa, shape_a) = (a.exponent, shape.hankel_shape(len, a.index));
        match b {
            None => Ok((reduce(&spectrum_of(backend, a.r, shape_a)?.shifted(xa))?, None)),
            Some(b) => {
                let (xb, shape_b) = (b.exponent, shape.hankel_shape(len, b.index));
                let (sa, sb) = spectra_of_pair(backend, (a.r, shape_a), (b.r, shape_b))?;
                Ok((reduce(&sa.shifted(xa))?, Some(reduce(&sb.shifted(xb))?)))
            }
        }
    })
}
