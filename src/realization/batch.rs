//! Several channels' realizations as one operator.

use super::{FlatTransition, Realization, StepMatrices};
use crate::error::{EssError, Result};
use crate::operator::{BlockShape, LinearOperator, RealizationInfo};
use crate::scalar::Scalar;
use nalgebra::DMatrix;
use std::borrow::Cow;

/// One [`Realization`] per channel, all of the same length, block shape and
/// state size: a layer given by its recurrences (a reduced model read back from
/// a file, parameters exported from a model). The structured path applies.
///
/// ```
/// use effective_state_size::prelude::*;
/// use effective_state_size::realization::RealizationBatch;
/// // Two channels, L = 5, a diagonal A (C, L, N), B (C, L, N, 1), C (C, L, 1, N).
/// let (c, l, n) = (2, 5, 3);
/// let a = vec![0.5; c * l * n];
/// let b = vec![1.0; c * l * n];
/// let cc = vec![1.0; c * l * n];
/// let op = RealizationBatch::from_tensors(&a, &[c, l, n], &b, &cc, None, BlockShape::SISO)?;
/// assert_eq!((op.channels(), op.seq_len()), (2, 5));
/// assert_eq!(ess::tolerance(&op, Tolerance::NumericalRank)?.max(), 1.0); // identical states
/// # Ok::<(), EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RealizationBatch<T: Scalar> {
    channels: Vec<Realization<T>>,
}

impl<T: Scalar> RealizationBatch<T> {
    /// The channels' realizations (at least one; the same `L`, `p × m` and `N`).
    pub fn new(channels: Vec<Realization<T>>) -> Result<Self> {
        let first = channels.first().ok_or_else(|| EssError::empty("realizations", "give one per channel"))?;
        let key = |r: &Realization<T>| (r.len(), r.outputs(), r.inputs(), r.state_size());
        if let Some((c, r)) = channels.iter().enumerate().find(|(_, r)| key(r) != key(first)) {
            let (l, p, m, n) = key(first);
            let (l2, p2, m2, n2) = key(r);
            return Err(EssError::shape(
                format!("realization of channel {c}"),
                format!("(L={l}, p={p}, m={m}, N={n}) as channel 0"),
                format!("(L={l2}, p={p2}, m={m2}, N={n2})"),
            ));
        }
        Ok(Self { channels })
    }

    /// From row-major tensors in the standard form `x_{t+1} = A_t x_t + B_t u_t`,
    /// `y_t = C_t x_t + D_t u_t`: `a` of shape `a_shape`, either `(C, L, N, N)` or
    /// diagonal `(C, L, N)`; `b` `(C, L, N, m)`, `c` `(C, L, p, N)`, `d` (optional)
    /// `(C, L, p, m)`, with `p × m` given by `block`. Each channel's parts are
    /// copied once, into its realization's storage (one buffer per part).
    ///
    /// # Errors
    /// A shape that is not one of the above (the expected one is named), an
    /// empty dimension, or a non-finite entry (named with its position).
    pub fn from_tensors(
        a: &[T],
        a_shape: &[usize],
        b: &[T],
        c: &[T],
        d: Option<&[T]>,
        block: BlockShape,
    ) -> Result<Self> {
        let (diagonal, ch, len, n) = match *a_shape {
            [ch, len, n] => (true, ch, len, n),
            [ch, len, n, n2] if n == n2 => (false, ch, len, n),
            _ => {
                return Err(EssError::shape(
                    "A",
                    "(C, L, N, N), or (C, L, N) for a diagonal A",
                    crate::validate::fmt_shape(a_shape),
                ))
            }
        };
        let (p, m) = (block.outputs, block.inputs);
        if ch == 0 || len == 0 || n == 0 || p == 0 || m == 0 {
            return Err(EssError::empty("realization tensors", "C, L, N, p and m must all be at least 1"));
        }
        let step_a = if diagonal { n } else { n * n };
        crate::validate::check_array("A", a, &[ch, len, step_a], &["C", "L", if diagonal { "N" } else { "N·N" }])?;
        crate::validate::check_array("B", b, &[ch, len, n, m], &["C", "L", "N", "m"])?;
        crate::validate::check_array("C", c, &[ch, len, p, n], &["C", "L", "p", "N"])?;
        if let Some(d) = d {
            crate::validate::check_array("D", d, &[ch, len, p, m], &["C", "L", "p", "m"])?;
        }
        // Each part of channel `k` is its `len` steps, row-major, copied once
        // into the realization's flat (column-major) storage.
        let channels = (0..ch)
            .map(|k| {
                let part = |x: &[T], rows: usize, cols: usize| {
                    let size = len * rows * cols;
                    StepMatrices::from_row_major(len, rows, cols, &x[k * size..(k + 1) * size])
                };
                let a = if diagonal {
                    FlatTransition::Diagonal(part(a, n, 1))
                } else {
                    FlatTransition::Dense(part(a, n, n))
                };
                Realization::from_flat(len, a, part(b, n, m), part(c, p, n), d.map(|d| part(d, p, m)))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(channels)
    }

    /// The realizations, one per channel.
    pub fn realizations(&self) -> &[Realization<T>] {
        &self.channels
    }
}

impl<T: Scalar> LinearOperator for RealizationBatch<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.channels[0].len()
    }
    fn channels(&self) -> usize {
        self.channels.len()
    }
    fn block_shape(&self) -> BlockShape {
        BlockShape { outputs: self.channels[0].outputs(), inputs: self.channels[0].inputs() }
    }
    fn family(&self) -> &'static str {
        "realization"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.channels[0].state_size())
    }
    fn realization_info(&self) -> RealizationInfo {
        let order = self.channels[0].state_size();
        if self.channels.iter().all(Realization::is_time_invariant) {
            RealizationInfo::TimeInvariant { order }
        } else {
            RealizationInfo::TimeVarying { order }
        }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        Ok(Cow::Owned(self.channels[channel].dense()))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        Ok(self.channels[channel].clone())
    }
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        y.copy_from_slice(&self.channels[channel].apply(u)?);
        Ok(())
    }
}
