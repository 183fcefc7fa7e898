//! Causal linear operators `y = T u`, one module per family.
//!
//! Every family implements [`LinearOperator`]: it declares its sequence length
//! `L`, its number of independent channels (heads or channels), its block shape
//! `p × m`, its theoretical state size (TSS) and whether it has a state
//! [`Realization`], and it provides *kernels*: its dense causal matrix per channel,
//! its own way of applying itself to an input, and (where it has one) its
//! realization. Kernels are called only with a valid channel and a validated
//! input; everything they return is checked once, at the boundary, by the
//! entry points of [`OperatorExt`] (implemented for every operator) and by the
//! planner. A kernel never needs to check its arguments.
//!
//! # Conventions
//! * Sequences are stored row-major, one step after another: an input of one
//!   channel is a slice of `m·L` values `u_0, u_1, …` (each `u_t` has `m` entries);
//!   the output has `p·L` values.
//! * Multi-channel tensors are row-major `(channels, L, width)`, with the sizes
//!   given as a [`Dims`] by name, so that a swapped size cannot go unnoticed.
//! * Recurrences read their state *after* the update at the same step (Mamba's
//!   convention), so `T[t,t] = C_t B_t` (see [`crate::theory`] §3).

mod attention;
mod checked;
mod convolution;
mod dense;
mod featurizer;
mod linear_attention;
mod state_space;
mod tensor;

pub use attention::{AttentionBias, SoftmaxAttention};
pub use checked::OperatorExt;
pub use convolution::{FirConvolution, GatedConvolution, LongConvolution};
pub use dense::DenseOperator;
pub use featurizer::Featurizer;
pub use linear_attention::{DecayedLinearAttention, DeltaNet, GatedLinearAttention, LinearAttention};
pub use linear_attention::{FeatureFn, FeatureMap};
pub use state_space::{zoh_diagonal, zoh_discretize, LtiStateSpace, MambaChannels, Ssd, TimeVaryingStateSpace};

pub(crate) use checked::{check_causal, check_channel, check_index, dense_bytes};

use crate::error::{EssError, Result};
use crate::realization::Realization;
use crate::scalar::Scalar;
use nalgebra::DMatrix;
use std::borrow::Cow;

/// Shape of one block `T_{t,s}` of a causal operator: `p` outputs × `m` inputs per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// The sizes of a family's row-major parameter tensors `(channels, L, width)`,
/// given by name so that a swap is visible at the call site.
///
/// `width` is what one step of one channel carries: the head dimension `d` for
/// attention and the linear-attention family, the state size `N` for state spaces.
/// Each constructor documents the layout of every tensor it takes.
///
/// ```
/// use effective_state_size::{Dims, SoftmaxAttention};
/// let dims = Dims { channels: 2, len: 8, width: 4 };
/// let q = vec![0.1; dims.channels * dims.len * dims.width];
/// let op = SoftmaxAttention::new(&q, &q, dims)?;
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    /// Channels or heads: independent operators.
    pub channels: usize,
    /// Sequence length `L`.
    pub len: usize,
    /// Per-step width: head dimension `d` or state size `N`.
    pub width: usize,
}

impl Dims {
    /// Errors unless every size is at least 1; `what` names the operator.
    pub(crate) fn check(&self, what: &str, width_name: &str) -> Result<()> {
        if self.channels == 0 || self.len == 0 || self.width == 0 {
            return Err(EssError::empty(
                what,
                format!(
                    "need channels, L and {width_name} ≥ 1 (received channels = {}, L = {}, {width_name} = {})",
                    self.channels, self.len, self.width
                ),
            ));
        }
        Ok(())
    }
}

/// Whether an operator has a state realization, and of what kind: what the planner
/// needs to know before building anything.
///
/// `order` is the state dimension `N` of the [`Realization`] that
/// [`LinearOperator::realization_kernel`] returns. A *time-invariant* realization
/// stores each of `A`, `B`, `C`, `D` once, so its memory does not grow with `L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RealizationInfo {
    /// No realization: only the dense path applies.
    None,
    /// A realization whose `A`, `B`, `C`, `D` are the same at every step.
    TimeInvariant {
        /// State dimension `N`.
        order: usize,
    },
    /// A realization whose parts may change with the step.
    TimeVarying {
        /// State dimension `N`.
        order: usize,
    },
}

impl RealizationInfo {
    /// The state dimension `N`, if there is a realization.
    pub fn order(&self) -> Option<usize> {
        match *self {
            RealizationInfo::None => None,
            RealizationInfo::TimeInvariant { order } | RealizationInfo::TimeVarying { order } => Some(order),
        }
    }
}

/// A batch of causal linear sequence operators (one per channel) sharing a length
/// `L` and block shape `p × m`: the trait a layer implements to be measured.
///
/// # Implementing it
/// Declare the sizes ([`seq_len`](Self::seq_len), [`channels`](Self::channels),
/// [`block_shape`](Self::block_shape)), a [`family`](Self::family) name, the
/// [`theoretical_state_size`](Self::theoretical_state_size) and the
/// [`realization_info`](Self::realization_info) (required, so that a realization
/// cannot be forgotten). Then provide the kernels:
///
/// * [`dense_kernel`](Self::dense_kernel) (required): the `(p·L) × (m·L)` causal
///   matrix `T` of one channel.
/// * [`realization_kernel`](Self::realization_kernel): the state realization, when
///   `realization_info` says there is one (the default is an error).
/// * [`apply_kernel`](Self::apply_kernel): `y = T u` by the layer's own recurrence
///   or convolution (the default multiplies by the dense matrix).
///
/// Kernels are called with `channel < channels()` and, for `apply_kernel`, an input
/// of `m·L` finite values and an output buffer of `p·L` zeros; they need not check
/// either. What they return is validated before use (shape, finiteness, causality,
/// the realization's sizes), with errors naming the channel and the entry. Users
/// call the checked methods of [`OperatorExt`] (`dense`, `apply`, `realization`,
/// `hankel_block`), implemented for every `LinearOperator`, and can compare the
/// kernels with each other with [`ess::verify`](crate::ess::verify).
///
/// ```
/// use effective_state_size::prelude::*;
/// use effective_state_size::nalgebra::DMatrix;
/// use std::borrow::Cow;
///
/// /// A running mean: y_t = (u_0 + … + u_t) / (t + 1).
/// struct RunningMean { len: usize }
///
/// impl LinearOperator for RunningMean {
///     type Scalar = f64;
///     fn seq_len(&self) -> usize { self.len }
///     fn channels(&self) -> usize { 1 }
///     fn family(&self) -> &'static str { "running mean" }
///     fn theoretical_state_size(&self) -> Option<usize> { Some(1) }
///     fn realization_info(&self) -> RealizationInfo { RealizationInfo::None }
///     fn dense_kernel(&self, _channel: usize) -> Result<Cow<'_, DMatrix<f64>>, EssError> {
///         Ok(Cow::Owned(DMatrix::from_fn(self.len, self.len, |t, s| if s <= t { 1.0 / (t + 1) as f64 } else { 0.0 })))
///     }
/// }
///
/// let op = RunningMean { len: 16 };
/// assert!(op.apply(0, &[2.0; 16])?.iter().all(|y| (y - 2.0).abs() < 1e-15));
/// assert_eq!(ess::tolerance(&op, ess::Tolerance::Relative(1e-9))?.max(), 1.0);
/// assert!(op.apply(3, &[2.0; 16]).is_err()); // no channel 3: an error, not a panic
/// # Ok::<(), EssError>(())
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

    /// Short name of the operator family, e.g. `"softmax attention"`, for messages
    /// and reports.
    fn family(&self) -> &'static str;

    /// Theoretical state size (TSS): an upper bound on `rank(H_i)` for every `i`
    /// (and every input, for input-varying layers). `None` when no fixed bound
    /// exists (softmax attention, long convolutions), where the bound is
    /// `min(p·(L-i), m·i)`.
    fn theoretical_state_size(&self) -> Option<usize>;

    /// Whether [`realization_kernel`](Self::realization_kernel) returns a
    /// realization, and its order and kind. Required: an operator states whether it
    /// has a realization; the planner never builds one to find out.
    fn realization_info(&self) -> RealizationInfo;

    /// Kernel: the dense causal matrix `T` of `channel`, of size `(p·L) × (m·L)`,
    /// with `y = T u`; borrowed when the operator stores it.
    ///
    /// Called only with `channel < channels()` and after the memory budget was
    /// checked. The result is validated (shape, finite entries, causality).
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<Self::Scalar>>>;

    /// Kernel: a state realization of `channel` in the standard form of
    /// [`Realization`], of the order and kind [`realization_info`](Self::realization_info)
    /// declares. Called only with `channel < channels()` and only when
    /// `realization_info` is not [`RealizationInfo::None`]; the result's sizes are
    /// validated. The default is an error saying the kernel is missing.
    fn realization_kernel(&self, channel: usize) -> Result<Realization<Self::Scalar>> {
        Err(EssError::invalid_operator(
            self.family(),
            channel,
            format!(
                "realization_info() declares {:?} but realization_kernel is not implemented",
                self.realization_info()
            ),
        ))
    }

    /// `Some(k)` when every channel is a *time-invariant* causal SISO convolution,
    /// `T[t,s] = h_{t-s}` for `0 ≤ t-s < k` and 0 otherwise (`k ≤ L` taps), whose
    /// kernel [`convolution_kernel`](Self::convolution_kernel) returns; `None` (the
    /// default) otherwise. [`reduce`](crate::reduction::reduce) uses it to take the
    /// fast path for convolutions (a time-invariant model of the kernel, see
    /// [`crate::distillation`]). [`LongConvolution`] and
    /// [`FirConvolution`] declare it.
    fn convolution_taps(&self) -> Option<usize> {
        None
    }

    /// Kernel: the taps `h_0, …, h_{k-1}` of `channel` when
    /// [`convolution_taps`](Self::convolution_taps) is `Some(k)`. Called only with
    /// `channel < channels()`; the result's length and finiteness are checked by its
    /// users. The default is an error saying the kernel is missing.
    fn convolution_kernel(&self, channel: usize) -> Result<Vec<Self::Scalar>> {
        Err(EssError::invalid_operator(
            self.family(),
            channel,
            format!(
                "convolution_taps() declares {:?} but convolution_kernel is not implemented",
                self.convolution_taps()
            ),
        ))
    }

    /// Kernel: writes `y = T u` of `channel` into `y` (`p·L` zeros on entry) for the
    /// input `u` (`m·L` finite values, step after step). Families run their own
    /// recurrence, convolution or attention here; the default multiplies by
    /// [`dense_kernel`](Self::dense_kernel). The output is checked to be finite.
    fn apply_kernel(&self, channel: usize, u: &[Self::Scalar], y: &mut [Self::Scalar]) -> Result<()> {
        let t = self.dense_kernel(channel)?;
        let (rows, cols) = t.shape();
        if (rows, cols) != (y.len(), u.len()) {
            return Err(EssError::invalid_operator(
                self.family(),
                channel,
                format!("dense_kernel returned a {rows}×{cols} matrix, expected {}×{}", y.len(), u.len()),
            ));
        }
        let out = &*t * nalgebra::DVector::from_column_slice(u);
        y.copy_from_slice(out.as_slice());
        Ok(())
    }
}

/// Per-channel matrices flattened into the row-major `(channels, L, width)` buffer
/// the family constructors take (see [`stack_matrices`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Stacked<T> {
    /// The values, row-major `(channels, L, width)`.
    pub data: Vec<T>,
    /// The sizes.
    pub dims: Dims,
}

/// Flattens per-channel matrices (each `L × width`, e.g. one head's queries) into
/// the row-major `(channels, L, width)` buffer the family constructors take.
///
/// ```
/// use effective_state_size::{operator::stack_matrices, SoftmaxAttention};
/// use nalgebra::DMatrix;
/// let q = vec![DMatrix::from_fn(6, 2, |t, j| (t + j) as f64 * 0.1); 2];
/// let k = vec![DMatrix::from_fn(6, 2, |t, j| (t * j) as f64 * 0.2); 2];
/// let (q, k) = (stack_matrices(&q)?, stack_matrices(&k)?);
/// let op = SoftmaxAttention::new(&q.data, &k.data, q.dims)?;
/// assert_eq!(q.dims.channels, 2);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub fn stack_matrices<T: Scalar>(matrices: &[DMatrix<T>]) -> Result<Stacked<T>> {
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
    Ok(Stacked { data, dims: Dims { channels: matrices.len(), len, width: d } })
}
