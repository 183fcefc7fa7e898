//! A user-given causal matrix.

use super::{check_causal, check_channel, BlockShape, LinearOperator, RealizationInfo};
use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use crate::validate::{check_matrix_finite, fmt_shape};
use nalgebra::DMatrix;

/// An operator given by its dense causal matrices, one per channel.
///
/// Each channel's matrix `T` is `(p·L) × (m·L)` and block lower-triangular: the
/// block `T_{t,s}` (rows `t·p..(t+1)·p`, columns `s·m..(s+1)·m`) is zero for `s > t`.
/// Construction validates the shape, that every entry is finite, and causality
/// ([`new`](Self::new)); [`from_causal_part`](Self::from_causal_part) instead zeroes
/// the strictly-upper block part on purpose (for example to read an exported
/// attention map whose masked entries hold garbage).
///
/// TSS: unknown (`None`); the bound `min(p·(L-i), m·i)` always holds.
///
/// ```
/// use effective_state_size::{ess, DenseOperator};
/// use nalgebra::DMatrix;
/// // tril(u vᵀ) has rank-one Hankel blocks.
/// let t = DMatrix::from_fn(6, 6, |r, c| if c <= r { (r + 1) as f64 * (c + 2) as f64 } else { 0.0 });
/// let op = DenseOperator::single(t)?;
/// let profile = ess::tolerance(&op, ess::Tolerance::Relative(1e-10))?;
/// assert_eq!(profile.channel(0), &[1.0; 5]);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DenseOperator<T: Scalar> {
    matrices: Vec<DMatrix<T>>,
    block: BlockShape,
    len: usize,
}

impl<T: Scalar> DenseOperator<T> {
    /// One SISO channel from a square causal matrix.
    pub fn single(matrix: DMatrix<T>) -> Result<Self> {
        Self::new(vec![matrix], BlockShape::SISO)
    }

    /// One SISO channel from a row-major `rows × cols` buffer (`rows == cols == L`).
    pub fn from_row_major(data: &[T], rows: usize, cols: usize) -> Result<Self> {
        Self::new(Self::matrices_from_row_major(data, 1, rows, cols)?, BlockShape::SISO)
    }

    /// Several channels, each `(p·L) × (m·L)`, checked to be causal.
    ///
    /// # Errors
    /// [`EssError::Empty`] without channels or with `L = 0`,
    /// [`EssError::ShapeMismatch`] when a matrix is not `(p·L) × (m·L)` or channels
    /// differ, [`EssError::NonFinite`] for NaN/∞ entries and [`EssError::NotCausal`]
    /// naming the first entry above the block diagonal.
    pub fn new(matrices: Vec<DMatrix<T>>, block: BlockShape) -> Result<Self> {
        let op = Self::unchecked(matrices, block)?;
        for (channel, t) in op.matrices.iter().enumerate() {
            check_causal(t, block, channel)?;
        }
        Ok(op)
    }

    /// Like [`new`](Self::new) but keeps only the causal (block lower-triangular)
    /// part of each matrix, setting every block `T_{t,s}` with `s > t` to zero.
    pub fn from_causal_part(matrices: Vec<DMatrix<T>>, block: BlockShape) -> Result<Self> {
        let mut op = Self::unchecked(matrices, block)?;
        for t in &mut op.matrices {
            for c in 0..t.ncols() {
                for r in 0..t.nrows() {
                    if c / block.inputs > r / block.outputs {
                        t[(r, c)] = T::zero();
                    }
                }
            }
        }
        Ok(op)
    }

    /// Splits a row-major `(channels, rows, cols)` buffer into matrices for
    /// [`new`](Self::new) or [`from_causal_part`](Self::from_causal_part).
    pub fn matrices_from_row_major(data: &[T], channels: usize, rows: usize, cols: usize) -> Result<Vec<DMatrix<T>>> {
        crate::validate::check_array("dense operator", data, &[channels, rows, cols], &["channels", "rows", "cols"])?;
        let per = rows * cols;
        Ok((0..channels).map(|c| DMatrix::from_row_slice(rows, cols, &data[c * per..(c + 1) * per])).collect())
    }

    fn unchecked(matrices: Vec<DMatrix<T>>, block: BlockShape) -> Result<Self> {
        if block.outputs == 0 || block.inputs == 0 {
            return Err(EssError::param(
                "block shape",
                format!("p × m = {} × {}: both must be at least 1", block.outputs, block.inputs),
            ));
        }
        let first =
            matrices.first().ok_or_else(|| EssError::empty("dense operator", "pass at least one channel matrix"))?;
        let (rows, cols) = first.shape();
        if rows == 0 || cols == 0 {
            return Err(EssError::empty("dense operator", "each channel needs a (p·L) × (m·L) matrix with L ≥ 1"));
        }
        let len = rows / block.outputs;
        if rows % block.outputs != 0 || cols % block.inputs != 0 || cols / block.inputs != len {
            let l = (rows / block.outputs).max(1);
            return Err(EssError::shape(
                format!("dense operator with {}×{} blocks", block.outputs, block.inputs),
                format!("(p·L, m·L), e.g. {} for L = {l}", fmt_shape(&[block.outputs * l, block.inputs * l])),
                fmt_shape(&[rows, cols]),
            ));
        }
        for (c, t) in matrices.iter().enumerate() {
            if t.shape() != (rows, cols) {
                return Err(EssError::shape(
                    format!("channel {c} of the dense operator"),
                    fmt_shape(&[rows, cols]),
                    fmt_shape(&[t.nrows(), t.ncols()]),
                ));
            }
            check_matrix_finite(&format!("channel {c} of the dense operator"), t)?;
        }
        Ok(Self { matrices, block, len })
    }

    /// The matrix of `channel`, borrowed.
    pub fn matrix(&self, channel: usize) -> Result<&DMatrix<T>> {
        check_channel(self, channel)?;
        Ok(&self.matrices[channel])
    }

    /// Block-diagonal assembly of all channels: one operator whose `y_t` stacks the
    /// channels' outputs, with block shape `(C·p) × (C·m)`. Its ESS equals the
    /// channels' *total* ESS ([`crate::theory`] §4).
    pub fn block_diagonal(&self) -> DenseOperator<T> {
        let (c, p, m, l) = (self.matrices.len(), self.block.outputs, self.block.inputs, self.len);
        let mut big = DMatrix::zeros(c * p * l, c * m * l);
        for (k, t) in self.matrices.iter().enumerate() {
            for ts in 0..l {
                for ss in 0..=ts {
                    for a in 0..p {
                        for b in 0..m {
                            big[(ts * c * p + k * p + a, ss * c * m + k * m + b)] = t[(ts * p + a, ss * m + b)];
                        }
                    }
                }
            }
        }
        DenseOperator { matrices: vec![big], block: BlockShape { outputs: c * p, inputs: c * m }, len: l }
    }
}

impl<T: Scalar> LinearOperator for DenseOperator<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        self.matrices.len()
    }
    fn block_shape(&self) -> BlockShape {
        self.block
    }
    fn family(&self) -> &'static str {
        "dense"
    }
    fn dense_kernel(&self, channel: usize) -> Result<std::borrow::Cow<'_, DMatrix<T>>> {
        Ok(std::borrow::Cow::Borrowed(&self.matrices[channel]))
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        None
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::None
    }
}
