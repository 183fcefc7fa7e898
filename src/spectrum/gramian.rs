//! The structured path: singular values of every `H_i` from square-root factors of
//! the reachability and observability Gramians of a [`Realization`], never forming
//! `T`.
//!
//! With the standard-form realization (see [`crate::realization`]),
//! `H_i = O_i R_i`. Let `Fr_i` (`N × r`) satisfy `Fr_i Fr_iᵀ = R_i R_iᵀ` (the
//! reachability Gramian of `x_i`) and `Fo_i` (`r' × N`) satisfy
//! `Fo_iᵀ Fo_i = O_iᵀ O_i` (the observability Gramian). Then `R_i = Fr_i Q_rᵀ` and
//! `O_i = Q_o Fo_i` with orthonormal `Q_r`, `Q_o`, so the nonzero singular values
//! of `H_i` are those of the small core `Fo_i Fr_i`. The factors follow
//!
//! ```text
//! forward   Fr_1 = B_0,        Fr_{i+1} = lq([A_i Fr_i , B_i])
//! backward  Fo_{L-1} = C_{L-1}, Fo_i    = qr([C_i ; Fo_{i+1} A_i])
//! ```
//!
//! where `qr(S)` keeps the triangular factor `R` of `S = Q R` once `S` has more rows
//! than `N` (and `lq` is its transpose). Only orthogonal transformations touch the
//! factors, so singular values down to `ε·σ₁` survive; forming the Gramians
//! `P = Fr Frᵀ` would square the condition number and lose everything below
//! `√ε·σ₁`.
//!
//! Cost: `O(N²·(N + p + m))` per step for the factors (`O(N·(p + m))` fewer with a
//! diagonal `A_t`, which is applied as a scaling) plus one `N × N` SVD per requested
//! index: `O(L·N³)` per channel. Memory: the realization plus one `N × N` factor per
//! requested index.

use super::{spectrum_of, Spectrum, SvdBackend};
use crate::error::Result;
use crate::realization::Realization;
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// Spectra of `H_i` for each `i` in `indices` (validated, ascending, unique), each
/// reduced by `reduce`. The factor recursions are sequential; the small SVDs of the
/// cores run in parallel.
pub(crate) fn sweep<T, B, R, F>(real: &Realization<T>, indices: &[usize], backend: &B, reduce: F) -> Result<Vec<R>>
where
    T: Scalar,
    B: SvdBackend,
    R: Send,
    F: Fn(&Spectrum<T>) -> R + Sync + Send,
{
    let (len, p, m, n) = (real.len(), real.outputs(), real.inputs(), real.state_size());
    let hankel_shape = |i: usize| (p * (len - i), m * i);
    let Some(&first) = indices.first() else { return Ok(Vec::new()) };
    if n == 0 {
        return indices
            .iter()
            .map(|&i| Ok(reduce(&spectrum_of(backend, DMatrix::zeros(0, 0), hankel_shape(i))?)))
            .collect();
    }
    let a = real.transition();

    // Backward sweep: observability factors at the requested indices.
    let mut fo: Vec<Option<DMatrix<T>>> = vec![None; indices.len()];
    let mut slot = indices.len();
    let mut f = compress_rows(real.c(len - 1).clone());
    for i in (first..len).rev() {
        if i < len - 1 {
            f = compress_rows(vstack(real.c(i), &a.right_multiply(i, &f)));
        }
        if slot > 0 && indices[slot - 1] == i {
            slot -= 1;
            fo[slot] = Some(f.clone());
        }
    }

    // Forward sweep: reachability factors, and the core Fo_i Fr_i at each index.
    let mut cores = Vec::with_capacity(indices.len());
    let mut fr = compress_cols(real.b(0).clone());
    let mut next = 0;
    for i in 1..len {
        if i > 1 {
            fr = compress_cols(hstack(&a.left_multiply(i - 1, &fr), real.b(i - 1)));
        }
        if next < indices.len() && indices[next] == i {
            cores.push((fo[next].take().expect("filled by the backward sweep") * &fr, i));
            next += 1;
            if next == indices.len() {
                break;
            }
        }
    }
    drop(fo);
    crate::parallel::try_map(&cores, |(core, i)| Ok(reduce(&spectrum_of(backend, core.clone(), hankel_shape(*i))?)))
}

/// `[top ; bottom]`.
fn vstack<T: Scalar>(top: &DMatrix<T>, bottom: &DMatrix<T>) -> DMatrix<T> {
    let mut s = DMatrix::zeros(top.nrows() + bottom.nrows(), top.ncols());
    s.rows_mut(0, top.nrows()).copy_from(top);
    s.rows_mut(top.nrows(), bottom.nrows()).copy_from(bottom);
    s
}

/// `[left , right]`.
fn hstack<T: Scalar>(left: &DMatrix<T>, right: &DMatrix<T>) -> DMatrix<T> {
    let mut s = DMatrix::zeros(left.nrows(), left.ncols() + right.ncols());
    s.columns_mut(0, left.ncols()).copy_from(left);
    s.columns_mut(left.ncols(), right.ncols()).copy_from(right);
    s
}

/// A factor `F` with `FᵀF = SᵀS` and at most `ncols` rows: `R` of `S = QR` when `S`
/// is tall, `S` itself otherwise.
fn compress_rows<T: Scalar>(s: DMatrix<T>) -> DMatrix<T> {
    if s.nrows() > s.ncols() {
        s.qr().unpack_r()
    } else {
        s
    }
}

/// A factor `F` with `FFᵀ = SSᵀ` and at most `nrows` columns.
fn compress_cols<T: Scalar>(s: DMatrix<T>) -> DMatrix<T> {
    if s.ncols() > s.nrows() {
        s.transpose().qr().unpack_r().transpose()
    } else {
        s
    }
}
