//! Causal linear operators `y = T u`, one module per family.
//!
//! Every family implements [`LinearOperator`]: it knows its sequence length `L`,
//! its number of independent channels (heads or channels), its block shape
//! `p × m`, its dense causal matrix per channel, its Hankel blocks
//! `H_i = T[i·p.., ..i·m]`, its theoretical state size (TSS) and, where it has one,
//! a state [`Realization`] that the structured path uses instead of `T`.
//!
//! # Conventions
//! * Sequences are stored row-major, one step after another: an input of one
//!   channel is a slice of `m·L` values `u_0, u_1, …` (each `u_t` has `m` entries);
//!   the output has `p·L` values.
//! * Multi-channel tensors are row-major `(channels, L, …)`.
//! * Recurrences read their state *after* the update at the same step (Mamba's
//!   convention), so `T[t,t] = C_t B_t`.

mod attention;
mod convolution;
mod dense;
mod featurizer;
mod linear_attention;
mod state_space;
mod tensor;

pub use attention::{AttentionBias, SoftmaxAttention};
pub use convolution::{FirConvolution, GatedConvolution, LongConvolution};
pub use dense::DenseOperator;
pub use featurizer::Featurizer;
pub use linear_attention::{DecayedLinearAttention, DeltaNet, GatedLinearAttention, LinearAttention};
pub use linear_attention::{FeatureFn, FeatureMap};
pub use state_space::{zoh_diagonal, zoh_discretize, LtiStateSpace, MambaChannels, Ssd, TimeVaryingStateSpace};

use crate::error::{EssError, Result};
use crate::realization::Realization;
use crate::scalar::Scalar;
use nalgebra::DMatrix;
use std::borrow::Cow;

/// Shape of one block `T_{t,s}` of a causal operator: `p` outputs × `m` inputs per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockShape {
    /// Outputs per step, `p`.
    pub outputs: usize,
    /// Inputs per step, `m`.
    pub inputs: usize,
}

impl BlockShape {
    /// The single-input single-output block `1 × 1`.
    pub const SISO: BlockShape = BlockShape { outputs: 1, inputs: 1 };

    /// Shape `(p·(L-i)) × (m·i)` of the Hankel block `H_i` (zero rows for `i ≥ L`).
    pub fn hankel_shape(&self, len: usize, i: usize) -> (usize, usize) {
        (self.outputs * len.saturating_sub(i), self.inputs * i)
    }
}

/// A batch of causal linear sequence operators (one per channel) sharing a length
/// `L` and block shape `p × m`.
///
/// Only [`seq_len`](Self::seq_len), [`channels`](Self::channels),
/// [`dense`](Self::dense), [`theoretical_state_size`](Self::theoretical_state_size)
/// and [`family`](Self::family) are required. The defaults slice Hankel blocks from
/// the dense matrix, apply the operator as `T·u`, and offer no realization.
///
/// ```
/// use effective_state_size::{DenseOperator, LinearOperator};
/// // T = tril(ones(3,3)): a running sum.
/// let t = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0];
/// let op = DenseOperator::from_row_major(&t, 3, 3)?;
/// assert_eq!(op.hankel_block(0, 1)?.shape(), (2, 1));
/// assert_eq!(op.apply(0, &[1.0, 2.0, 3.0])?, vec![1.0, 3.0, 6.0]);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub trait LinearOperator: Sync {
    /// The scalar type of the operator's entries.
    type Scalar: Scalar;

    /// Sequence length `L`.
    fn seq_len(&self) -> usize;

    /// Number of independent channels (heads or channels), each its own operator.
    fn channels(&self) -> usize;

    /// Block shape `p × m` of one step (`1 × 1` unless overridden).
    fn block_shape(&self) -> BlockShape {
        BlockShape::SISO
    }

    /// Short name of the operator family, e.g. `"softmax attention"`.
    fn family(&self) -> &'static str;

    /// The dense causal matrix `T` of `channel`, of size `(p·L) × (m·L)`, with
    /// `y = T u`.
    fn dense(&self, channel: usize) -> Result<DMatrix<Self::Scalar>>;

    /// The dense matrix of `channel`, borrowed when the operator already stores it
    /// (as [`DenseOperator`] does), computed by [`dense`](Self::dense) otherwise.
    /// The dense path reads `T` through this, so a stored matrix is never copied.
    fn dense_matrix(&self, channel: usize) -> Result<Cow<'_, DMatrix<Self::Scalar>>> {
        self.dense(channel).map(Cow::Owned)
    }

    /// The Hankel block `H_i = T[i·p.., ..i·m]` of `channel`, for `1 ≤ i ≤ L-1`:
    /// the map from the strictly-past inputs `u_0..u_{i-1}` to the outputs
    /// `y_i..y_{L-1}`. The default slices [`dense`](Self::dense).
    fn hankel_block(&self, channel: usize, i: usize) -> Result<DMatrix<Self::Scalar>> {
        check_channel(self, channel)?;
        check_index(self.seq_len(), i)?;
        let t = self.dense_matrix(channel)?;
        Ok(slice_hankel(&t, self.block_shape(), self.seq_len(), i))
    }

    /// Theoretical state size (TSS): an upper bound on `rank(H_i)` for every `i`
    /// (and every input, for input-varying layers). `None` when no fixed bound
    /// exists (softmax attention, long convolutions), where the bound is
    /// `min(p·(L-i), m·i)`.
    fn theoretical_state_size(&self) -> Option<usize>;

    /// The state dimension `N` of the realization [`realization`](Self::realization)
    /// would return, without building it. `None` if the operator has none.
    fn realization_order(&self) -> Option<usize> {
        None
    }

    /// A state realization of `channel` (see [`Realization`]) for the structured
    /// path, or `Ok(None)` if the operator has none.
    fn realization(&self, channel: usize) -> Result<Option<Realization<Self::Scalar>>> {
        check_channel(self, channel)?;
        Ok(None)
    }

    /// Applies the operator of `channel` to an input `u` (`m·L` values, step after
    /// step) and returns `y = T u` (`p·L` values). Families override this with their
    /// own recurrence, convolution or attention computation; the default multiplies
    /// by [`dense`](Self::dense).
    fn apply(&self, channel: usize, u: &[Self::Scalar]) -> Result<Vec<Self::Scalar>> {
        check_channel(self, channel)?;
        check_input(self, u)?;
        let t = self.dense(channel)?;
        let y = t * nalgebra::DVector::from_column_slice(u);
        Ok(y.as_slice().to_vec())
    }
}

/// Errors unless `channel < op.channels()`.
pub(crate) fn check_channel<O: LinearOperator + ?Sized>(op: &O, channel: usize) -> Result<()> {
    if channel >= op.channels() {
        return Err(EssError::ChannelOutOfRange { channel, channels: op.channels() });
    }
    Ok(())
}

/// The largest dense matrix a family materialises on request: 8 GiB, the default
/// [`EssOptions::memory_budget`](crate::ess::EssOptions). A larger `T` is refused
/// with [`EssError::MemoryBudget`] instead of failing in the allocator.
pub const DENSE_LIMIT_BYTES: u64 = 8 << 30;

/// Bytes of one channel's dense `T`: `(p·L)·(m·L)` scalars (saturating).
pub(crate) fn dense_matrix_bytes<O: LinearOperator + ?Sized>(op: &O) -> u64 {
    let (len, b) = (op.seq_len() as u64, op.block_shape());
    (b.outputs as u64 * len)
        .saturating_mul(b.inputs as u64 * len)
        .saturating_mul(std::mem::size_of::<O::Scalar>() as u64)
}

/// Errors if one channel's dense `T` would exceed [`DENSE_LIMIT_BYTES`].
pub(crate) fn check_dense_size<O: LinearOperator + ?Sized>(op: &O) -> Result<()> {
    let bytes = dense_matrix_bytes(op);
    if bytes > DENSE_LIMIT_BYTES {
        return Err(EssError::MemoryBudget { required: bytes, budget: DENSE_LIMIT_BYTES });
    }
    Ok(())
}

/// Flattens per-channel matrices (each `L × d`, e.g. one head's queries) into the
/// row-major `(channels, L, d)` buffer the family constructors take, returning
/// `(data, channels, L, d)`.
///
/// ```
/// use effective_state_size::{operator::stack_matrices, SoftmaxAttention};
/// use nalgebra::DMatrix;
/// let q = vec![DMatrix::from_fn(6, 2, |t, j| (t + j) as f64 * 0.1); 2];
/// let k = vec![DMatrix::from_fn(6, 2, |t, j| (t * j) as f64 * 0.2); 2];
/// let (qd, heads, len, d) = stack_matrices(&q)?;
/// let (kd, ..) = stack_matrices(&k)?;
/// let op = SoftmaxAttention::new(&qd, &kd, heads, len, d)?;
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub fn stack_matrices<T: Scalar>(matrices: &[DMatrix<T>]) -> Result<(Vec<T>, usize, usize, usize)> {
    let first = matrices.first().ok_or_else(|| EssError::empty("matrices", "give one (L × d) matrix per channel"))?;
    let (len, d) = first.shape();
    let mut data = Vec::with_capacity(matrices.len() * len * d);
    for (c, m) in matrices.iter().enumerate() {
        if m.shape() != (len, d) {
            return Err(EssError::shape(
                format!("matrix of channel {c}"),
                crate::validate::fmt_shape(&[len, d]),
                crate::validate::fmt_shape(&[m.nrows(), m.ncols()]),
            ));
        }
        for t in 0..len {
            data.extend(m.row(t).iter().copied());
        }
    }
    Ok((data, matrices.len(), len, d))
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

/// Errors unless `u` has `m·L` finite values.
pub(crate) fn check_input<O: LinearOperator + ?Sized>(op: &O, u: &[O::Scalar]) -> Result<()> {
    let (len, m) = (op.seq_len(), op.block_shape().inputs);
    crate::validate::check_array("input u", u, &[len, m], &["L", "m"])
}

/// `T[i·p.., ..i·m]` as an owned matrix.
pub(crate) fn slice_hankel<T: Scalar>(t: &DMatrix<T>, shape: BlockShape, len: usize, i: usize) -> DMatrix<T> {
    let (rows, cols) = shape.hankel_shape(len, i);
    t.view((i * shape.outputs, 0), (rows, cols)).into_owned()
}
