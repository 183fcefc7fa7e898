//! The boundary: checked entry points around an operator's kernels.
//!
//! Every call that reaches a kernel of a [`LinearOperator`] goes through here: the
//! channel, the index and the input are checked before, and what the kernel
//! returns (the shape, finiteness and causality of `T`, the sizes of a
//! realization, the length and finiteness of an output) is checked after. Errors
//! name the operator family, the channel and the entry.

use super::{LinearOperator, RealizationInfo};
use crate::error::{EssError, Result};
use crate::planner::DEFAULT_MEMORY_BUDGET;
use crate::realization::Realization;
use crate::scalar::Scalar;
use crate::validate::fmt_shape;
use nalgebra::DMatrix;
use std::borrow::Cow;

/// The checked entry points of every [`LinearOperator`]: what users call.
///
/// Implemented for every operator (it cannot be overridden), so a call with a
/// channel out of range, an input of the wrong length or a non-finite value is an
/// error and never a panic, and an operator whose kernels return something
/// inconsistent is reported instead of measured.
///
/// ```
/// use effective_state_size::prelude::*;
/// let op = FirConvolution::new(&[[1.0, 2.0, 3.0]], 6)?;
/// assert_eq!(op.apply(0, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0])?, vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
/// assert_eq!(op.hankel_block(0, 2)?.shape(), (4, 2));
/// assert!(matches!(op.dense(1), Err(EssError::ChannelOutOfRange { .. })));
/// # Ok::<(), EssError>(())
/// ```
pub trait OperatorExt: LinearOperator {
    /// The dense causal matrix `T` of `channel` (`(p·L) × (m·L)`), validated, as an
    /// owned matrix. Refuses a `T` above the default memory budget (8 GiB); see
    /// [`dense_within`](Self::dense_within).
    fn dense(&self, channel: usize) -> Result<DMatrix<Self::Scalar>> {
        self.dense_within(channel, DEFAULT_MEMORY_BUDGET).map(Cow::into_owned)
    }

    /// The dense matrix of `channel`, borrowed when the operator stores it (as
    /// [`DenseOperator`](crate::DenseOperator) does), validated; default budget.
    fn dense_matrix(&self, channel: usize) -> Result<Cow<'_, DMatrix<Self::Scalar>>> {
        self.dense_within(channel, DEFAULT_MEMORY_BUDGET)
    }

    /// The dense matrix of `channel`, borrowed when the operator stores it,
    /// validated, refused with [`EssError::MemoryBudget`] if it needs more than
    /// `budget` bytes.
    fn dense_within(&self, channel: usize, budget: u64) -> Result<Cow<'_, DMatrix<Self::Scalar>>> {
        check_channel(self, channel)?;
        let bytes = dense_bytes(self);
        if bytes > budget {
            return Err(EssError::MemoryBudget {
                what: format!("the dense matrix T of one channel ({} × {})", self.seq_len(), self.seq_len()),
                required: bytes,
                budget,
                hint: "use the structured path or a smaller L, or raise the budget (`EssOptions::with_memory_budget`)"
                    .into(),
            });
        }
        let t = self.dense_kernel(channel)?;
        validate_dense(self, channel, &t)?;
        Ok(t)
    }

    /// The Hankel block `H_i = T[i·p.., ..i·m]` of `channel`, for `1 ≤ i ≤ L-1`: the
    /// map from the strictly-past inputs `u_0..u_{i-1}` to the outputs
    /// `y_i..y_{L-1}`.
    fn hankel_block(&self, channel: usize, i: usize) -> Result<DMatrix<Self::Scalar>> {
        check_index(self.seq_len(), i)?;
        let t = self.dense_within(channel, DEFAULT_MEMORY_BUDGET)?;
        Ok(slice_hankel(&t, self.block_shape(), self.seq_len(), i))
    }

    /// The state realization of `channel`, validated against what
    /// [`realization_info`](LinearOperator::realization_info) declares, or
    /// `Ok(None)` if the operator has none.
    fn realization(&self, channel: usize) -> Result<Option<Realization<Self::Scalar>>> {
        check_channel(self, channel)?;
        if self.realization_info() == RealizationInfo::None {
            return Ok(None);
        }
        let r = self.realization_kernel(channel)?;
        validate_realization(self, channel, &r)?;
        Ok(Some(r))
    }

    /// `y = T u` for the input `u` of `channel` (`m·L` values, step after step),
    /// computed by the operator's own recurrence, convolution or attention; `p·L`
    /// values out.
    ///
    /// # Errors
    /// A channel out of range, an input of the wrong length or with a non-finite
    /// value, and a non-finite output (an overflow inside the operator).
    fn apply(&self, channel: usize, u: &[Self::Scalar]) -> Result<Vec<Self::Scalar>> {
        check_channel(self, channel)?;
        let (len, b) = (self.seq_len(), self.block_shape());
        crate::validate::check_array("input u", u, &[len, b.inputs], &["L", "m"])?;
        let mut y = vec![<Self::Scalar as num_traits::Zero>::zero(); len * b.outputs];
        self.apply_kernel(channel, u, &mut y)?;
        if let Some(k) = y.iter().position(|v| !v.is_finite_value()) {
            return Err(EssError::NonFinite {
                what: format!("output of the {} operator, channel {channel}", self.family()),
                position: format!("(step {}, output {})", k / b.outputs, k % b.outputs),
                value: y[k].to_f64(),
            });
        }
        Ok(y)
    }
}

impl<O: LinearOperator + ?Sized> OperatorExt for O {}

/// Errors unless `channel < op.channels()`.
pub(crate) fn check_channel<O: LinearOperator + ?Sized>(op: &O, channel: usize) -> Result<()> {
    if channel >= op.channels() {
        return Err(EssError::ChannelOutOfRange { channel, channels: op.channels() });
    }
    Ok(())
}

/// Errors unless `1 ≤ i ≤ L-1`.
pub(crate) fn check_index(len: usize, i: usize) -> Result<()> {
    if len < 2 {
        return Err(EssError::SequenceTooShort { len });
    }
    if i == 0 || i >= len {
        return Err(EssError::IndexOutOfRange { index: i, max: len - 1, len });
    }
    Ok(())
}

/// Bytes of one channel's dense `T`: `(p·L)·(m·L)` scalars (saturating).
pub(crate) fn dense_bytes<O: LinearOperator + ?Sized>(op: &O) -> u64 {
    let (len, b) = (op.seq_len() as u64, op.block_shape());
    (b.outputs as u64 * len)
        .saturating_mul(b.inputs as u64 * len)
        .saturating_mul(std::mem::size_of::<O::Scalar>() as u64)
}

/// Checks a kernel's dense matrix: shape `(p·L) × (m·L)`, finite, causal.
pub(crate) fn validate_dense<O: LinearOperator + ?Sized>(op: &O, channel: usize, t: &DMatrix<O::Scalar>) -> Result<()> {
    let (len, b) = (op.seq_len(), op.block_shape());
    let expected = (b.outputs * len, b.inputs * len);
    if t.shape() != expected {
        return Err(EssError::invalid_operator(
            op.family(),
            channel,
            format!(
                "its dense matrix T has shape {}, expected (p·L, m·L) = {} for L = {len}, p × m = {} × {}",
                fmt_shape(&[t.nrows(), t.ncols()]),
                fmt_shape(&[expected.0, expected.1]),
                b.outputs,
                b.inputs
            ),
        ));
    }
    let (p, m) = (b.outputs, b.inputs);
    for col in 0..t.ncols() {
        for row in 0..t.nrows() {
            let x = t[(row, col)];
            if !x.is_finite_value() {
                return Err(EssError::NonFinite {
                    what: format!("dense matrix T of the {} operator, channel {channel}", op.family()),
                    position: format!("(row {row}, column {col}: output step {}, input step {})", row / p, col / m),
                    value: x.to_f64(),
                });
            }
        }
    }
    check_causal(t, b, channel)
}

/// Errors with the first nonzero entry above the block diagonal of channel `channel`.
pub(crate) fn check_causal<T: Scalar>(t: &DMatrix<T>, b: super::BlockShape, channel: usize) -> Result<()> {
    match first_noncausal(t, b) {
        None => Ok(()),
        Some((row, col)) => Err(EssError::NotCausal {
            channel,
            row,
            col,
            value: t[(row, col)].to_f64(),
            step_out: row / b.outputs,
            step_in: col / b.inputs,
        }),
    }
}

/// The first entry (row by row) above the block diagonal that is nonzero.
fn first_noncausal<T: Scalar>(t: &DMatrix<T>, b: super::BlockShape) -> Option<(usize, usize)> {
    for r in 0..t.nrows() {
        let first_col = (r / b.outputs + 1) * b.inputs;
        for c in first_col..t.ncols() {
            if t[(r, c)] != T::zero() {
                return Some((r, c));
            }
        }
    }
    None
}

/// Checks a kernel's realization against the operator's declared sizes.
pub(crate) fn validate_realization<O: LinearOperator + ?Sized>(
    op: &O,
    channel: usize,
    r: &Realization<O::Scalar>,
) -> Result<()> {
    let (len, b, info) = (op.seq_len(), op.block_shape(), op.realization_info());
    let declared = info.order();
    let found = (r.len(), r.outputs(), r.inputs(), Some(r.state_size()));
    if found != (len, b.outputs, b.inputs, declared) {
        return Err(EssError::invalid_operator(
            op.family(),
            channel,
            format!(
                "its realization has L = {}, p × m = {} × {}, N = {}, but the operator declares L = {len}, p × m = {} × {}, N = {}",
                r.len(),
                r.outputs(),
                r.inputs(),
                r.state_size(),
                b.outputs,
                b.inputs,
                declared.map_or("none".into(), |n| n.to_string())
            ),
        ));
    }
    if matches!(info, RealizationInfo::TimeInvariant { .. }) && !r.is_time_invariant() {
        return Err(EssError::invalid_operator(
            op.family(),
            channel,
            "realization_info() declares a time-invariant realization, but the realization varies with the step \
             (declare RealizationInfo::TimeVarying)",
        ));
    }
    Ok(())
}

/// `T[i·p.., ..i·m]` as an owned matrix.
pub(crate) fn slice_hankel<T: Scalar>(t: &DMatrix<T>, shape: super::BlockShape, len: usize, i: usize) -> DMatrix<T> {
    let (rows, cols) = shape.hankel_shape(len, i);
    t.view((i * shape.outputs, 0), (rows, cols)).into_owned()
}
