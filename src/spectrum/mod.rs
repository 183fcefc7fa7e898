//! Singular values of Hankel blocks: the backend trait, the dense path and the
//! structured (Gramian square-root) path.
//!
//! * [`SvdBackend`] computes the singular values of one matrix; [`BidiagonalSvd`]
//!   (the crate's own) is the default, [`NalgebraSvd`] the alternative. The crate never asks for singular vectors (nalgebra returns wrong
//!   values with vectors on some all-ones shapes) and always bounds the iteration
//!   count (nalgebra's unbounded form never returns on NaN).
//! * [`singular_values`] wraps any backend with the checks every caller needs:
//!   empty blocks, non-finite entries, and an exact power-of-two rescaling so that
//!   blocks at 1e-300 or 1e300 neither underflow nor overflow.
//! * `dense` sweeps the blocks `H_i` of a materialised `T`: `O(L⁴)` per channel.
//! * `gramian` sweeps square-root Gramian factors of a [`Realization`]:
//!   `O(L·N³)` per channel, `T` never formed.
//! * [`jacobi_svd`] computes singular *vectors* too (one-sided Jacobi, verified by
//!   its residual), for the gradients of [`crate::ess::gradient`].
//!
//! [`Realization`]: crate::realization::Realization

mod bidiag;
#[cfg(test)]
mod convergence_tests;
pub(crate) mod dense;
mod dqds;
pub(crate) mod gramian;
mod householder;
mod jacobi;
mod lanes;
pub(crate) mod lowrank;
pub(crate) mod lowrank_hankel;
pub(crate) mod nested;
pub(crate) mod small_svd;

pub use bidiag::BidiagonalSvd;
pub use jacobi::{jacobi_svd, Svd};

use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// Computes the singular values of a matrix: the one algorithm every ESS measure
/// is built on.
///
/// Implementations receive a finite, non-empty matrix whose largest entry has
/// magnitude in `[0.5, 1)` (see [`singular_values`]) and return its
/// `min(rows, cols)` singular values in any order. The trait is object-safe:
/// [`EssOptions::with_backend`](crate::ess::EssOptions::with_backend) takes any
/// `Arc<dyn SvdBackend>`.
///
/// ```
/// use effective_state_size::spectrum::{NalgebraSvd, SvdBackend};
/// use std::sync::Arc;
/// let backend: Arc<dyn SvdBackend> = Arc::new(NalgebraSvd::default());
/// let s = backend.singular_values_f64(nalgebra::DMatrix::from_diagonal_element(2, 2, 0.5))?;
/// assert_eq!(s, vec![0.5, 0.5]);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub trait SvdBackend: Send + Sync + std::fmt::Debug {
    /// The singular values of an `f64` block (values only, any order).
    fn singular_values_f64(&self, block: DMatrix<f64>) -> Result<Vec<f64>>;
    /// The singular values of an `f32` block (values only, any order).
    fn singular_values_f32(&self, block: DMatrix<f32>) -> Result<Vec<f32>>;
    /// The singular values of two independent `f64` blocks, `(σ(a), σ(b))`. The
    /// dense path hands over the factors of neighbouring indices two at a time,
    /// so that a backend can overlap the two computations
    /// ([`BidiagonalSvd`] interleaves their dqds sweeps); by default they are
    /// decomposed one after the other with
    /// [`singular_values_f64`](Self::singular_values_f64).
    fn singular_values_pair_f64(&self, a: DMatrix<f64>, b: DMatrix<f64>) -> Result<(Vec<f64>, Vec<f64>)> {
        Ok((self.singular_values_f64(a)?, self.singular_values_f64(b)?))
    }
    /// [`singular_values_pair_f64`](Self::singular_values_pair_f64) for `f32`
    /// blocks.
    fn singular_values_pair_f32(&self, a: DMatrix<f32>, b: DMatrix<f32>) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.singular_values_f32(a)?, self.singular_values_f32(b)?))
    }
    /// Whether the structured path may compute the singular values of its small
    /// square cores (`N × N`, one per index) with the crate's own allocation-free
    /// Golub–Kahan kernel instead of this backend (same guarantee: values only,
    /// every `σ_k` to within a small multiple of `ε·σ_1`). `false` by default, so
    /// that a custom backend sees every block; [`NalgebraSvd`] and [`BidiagonalSvd`] allow it.
    fn allows_builtin_core_kernel(&self) -> bool {
        false
    }
}

/// nalgebra's one-sided Golub–Kahan SVD, values only, with a bounded iteration
/// count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalgebraSvd {
    /// Iteration limit per block as a multiple of `min(rows, cols)²` (plus 100);
    /// LAPACK's `dbdsqr` uses 6.
    pub iterations_per_square: usize,
}

impl Default for NalgebraSvd {
    fn default() -> Self {
        Self { iterations_per_square: 30 }
    }
}

impl SvdBackend for NalgebraSvd {
    fn singular_values_f64(&self, block: DMatrix<f64>) -> Result<Vec<f64>> {
        self.values(block)
    }
    fn singular_values_f32(&self, block: DMatrix<f32>) -> Result<Vec<f32>> {
        self.values(block)
    }
    fn allows_builtin_core_kernel(&self) -> bool {
        true
    }
}

impl NalgebraSvd {
    fn values<T: Scalar>(&self, block: DMatrix<T>) -> Result<Vec<T>> {
        let (rows, cols) = block.shape();
        let k = rows.min(cols);
        let iterations = 100 + self.iterations_per_square.saturating_mul(k.saturating_mul(k));
        let svd = nalgebra::linalg::SVD::try_new_unordered(block, false, false, T::EPSILON, iterations)
            .ok_or(EssError::NoConvergence { rows, cols, iterations })?;
        Ok(svd.singular_values.as_slice().to_vec())
    }
}

/// The singular values of one Hankel block `H_i`, stored as `σ_k = s_k · 2^e` with
/// the `s_k` in descending order and `s_1 < 2·√(rows·cols)` so that no value
/// overflows or underflows whatever the operator's scale.
///
/// `rows × cols` is the shape of `H_i` itself. The structured path stores only the
/// (at most `N`) values that can be nonzero; the remaining ones are zero.
///
/// The low-rank method ([`Method::LowRank`](crate::ess::Method::LowRank)) stores
/// the singular values `ŝ_k` of a rank-`k` approximation `Ĥ_i` and a
/// [`radius`](Self::radius) `δ ≥ ‖H_i − Ĥ_i‖_F`: then every true value lies in
/// `[ŝ_k − δ, ŝ_k + δ]` (Weyl), the missing ones (`ŝ_k = 0` for `k >` the stored
/// count) are at most `δ`, and `Σ_k (σ_k − ŝ_k)² ≤ δ²` (Mirsky).
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum<T: Scalar> {
    scaled: Vec<T>,
    exponent: i32,
    rows: usize,
    cols: usize,
    radius: Option<f64>,
}

impl<T: Scalar> Spectrum<T> {
    /// The singular values `σ_1 ≥ σ_2 ≥ …` (may overflow to ∞ only if `σ_1` itself
    /// exceeds the type's range).
    pub fn values(&self) -> Vec<T> {
        let mut m = DMatrix::from_vec(self.scaled.len(), 1, self.scaled.clone());
        scale_pow2(&mut m, self.exponent);
        m.as_slice().to_vec()
    }
    /// The values divided by `2^e` (scale-free, descending).
    pub fn scaled(&self) -> &[T] {
        &self.scaled
    }
    /// The power of two `e` with `σ_k = scaled_k · 2^e`.
    pub fn exponent(&self) -> i32 {
        self.exponent
    }
    /// Shape `(rows, cols)` of the block `H_i` these values belong to.
    pub fn block_shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// The same values multiplied by `2^e` (exact).
    #[allow(dead_code)] // used by the structured path's factor scaling
    pub(crate) fn shifted(mut self, e: i32) -> Self {
        self.exponent += e;
        self
    }
    /// The certificate of a low-rank spectrum: `δ` in the scaled units of
    /// [`scaled`](Self::scaled) (so `δ·2^e` in the operator's units) with
    /// `‖H_i − Ĥ_i‖_F ≤ δ·2^e`; `None` when the values are those of `H_i` itself
    /// (dense and structured paths, exact up to rounding).
    pub fn radius(&self) -> Option<f64> {
        self.radius
    }
    /// `min(rows, cols)`: how many singular values `H_i` has.
    pub fn rank_bound(&self) -> usize {
        self.rows.min(self.cols)
    }
    /// A certified spectrum: descending scaled values, exponent, shape of `H_i`
    /// and radius (see [`radius`](Self::radius)).
    pub(crate) fn certified(scaled: Vec<T>, exponent: i32, (rows, cols): (usize, usize), radius: f64) -> Self {
        Self { scaled, exponent, rows, cols, radius: Some(radius) }
    }
    /// The largest singular value in `f64`.
    pub fn largest(&self) -> f64 {
        self.scaled.first().map_or(0.0, |s| crate::scalar::ldexp(s.to_f64(), self.exponent))
    }
    /// A spectrum from its parts (tests of the measures).
    #[cfg(test)]
    pub(crate) fn from_parts(scaled: Vec<T>, exponent: i32, (rows, cols): (usize, usize)) -> Self {
        Self { scaled, exponent, rows, cols, radius: None }
    }
}

/// The spectrum of `block` (of Hankel shape `rows × cols`) computed by `backend`.
///
/// The block is multiplied by a power of two that brings its largest entry into
/// `[0.5, 1)` (exact in floating point) before the backend sees it.
///
/// # Errors
/// [`EssError::NonFinite`] for NaN/∞ entries; the backend's errors.
pub(crate) fn spectrum_of<T: Scalar>(
    backend: &dyn SvdBackend,
    block: DMatrix<T>,
    shape: (usize, usize),
) -> Result<Spectrum<T>> {
    match scaled_for_backend(block, shape)? {
        Scaled::Known(spectrum) => Ok(spectrum),
        Scaled::Block(block, exponent) => Ok(sorted(T::singular_values_by(backend, block)?, exponent, shape)),
    }
}

/// [`spectrum_of`] two blocks, handed to the backend together
/// ([`SvdBackend::singular_values_pair_f64`]) when both need it.
pub(crate) fn spectra_of_pair<T: Scalar>(
    backend: &dyn SvdBackend,
    (a, shape_a): (DMatrix<T>, (usize, usize)),
    (b, shape_b): (DMatrix<T>, (usize, usize)),
) -> Result<(Spectrum<T>, Spectrum<T>)> {
    match (scaled_for_backend(a, shape_a)?, scaled_for_backend(b, shape_b)?) {
        (Scaled::Block(a, xa), Scaled::Block(b, xb)) => {
            let (sa, sb) = T::singular_value_pairs_by(backend, a, b)?;
            Ok((sorted(sa, xa, shape_a), sorted(sb, xb, shape_b)))
        }
        (a, b) => {
            let alone = |scaled, shape| match scaled {
                Scaled::Known(spectrum) => Ok(spectrum),
                Scaled::Block(block, exponent) => Ok(sorted(T::singular_values_by(backend, block)?, exponent, shape)),
            };
            Ok((alone(a, shape_a)?, alone(b, shape_b)?))
        }
    }
}

/// A block ready for the backend, or its spectrum when that needs no backend.
enum Scaled<T: Scalar> {
    /// Empty or zero.
    Known(Spectrum<T>),
    /// The block times `2^-exponent`, largest entry in `[0.5, 1)`.
    Block(DMatrix<T>, i32),
}

/// Checks `block` and scales it exactly to largest entry in `[0.5, 1)`.
fn scaled_for_backend<T: Scalar>(mut block: DMatrix<T>, (rows, cols): (usize, usize)) -> Result<Scaled<T>> {
    let k = block.nrows().min(block.ncols());
    if k == 0 {
        return Ok(Scaled::Known(Spectrum { scaled: Vec::new(), exponent: 0, rows, cols, radius: None }));
    }
    crate::validate::check_matrix_finite("Hankel block", &block)?;
    let max = crate::scalar::max_abs(block.as_slice());
    if max == 0.0 {
        return Ok(Scaled::Known(Spectrum { scaled: vec![T::zero(); k], exponent: 0, rows, cols, radius: None }));
    }
    let exponent = crate::scalar::exponent_of(max);
    scale_pow2(&mut block, -exponent);
    Ok(Scaled::Block(block, exponent))
}

/// The backend's values as a spectrum: absolute values, descending.
fn sorted<T: Scalar>(mut s: Vec<T>, exponent: i32, (rows, cols): (usize, usize)) -> Spectrum<T> {
    for v in s.iter_mut() {
        *v = v.abs();
    }
    s.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    Spectrum { scaled: s, exponent, rows, cols, radius: None }
}

/// Singular values of any matrix in descending order, computed by `backend` with
/// the same safeguards as the ESS sweeps (empty → none, zero → zeros, NaN/∞ → error,
/// exact power-of-two rescaling).
///
/// ```
/// use effective_state_size::spectrum::{singular_values, NalgebraSvd};
/// use nalgebra::DMatrix;
/// let s = singular_values(&NalgebraSvd::default(), DMatrix::from_diagonal_element(3, 3, 1e300))?;
/// assert_eq!(s, vec![1e300; 3]);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub fn singular_values<T: Scalar>(backend: &dyn SvdBackend, block: DMatrix<T>) -> Result<Vec<T>> {
    let shape = block.shape();
    Ok(spectrum_of(backend, block, shape)?.values())
}

/// Multiplies by `2^e` exactly (unless the result overflows or underflows).
pub(crate) fn scale_pow2<T: Scalar>(m: &mut DMatrix<T>, e: i32) {
    if e == 0 {
        return;
    }
    match crate::scalar::pow2::<T>(e) {
        Some(f) => *m *= f,
        None => m.apply(|x| *x = crate::scalar::ldexp(*x, e)),
    }
}
