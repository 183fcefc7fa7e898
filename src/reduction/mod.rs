//! Distillation: reduce any operator to a small recurrence that reproduces it,
//! with a certified error (see [`crate::distillation`] for the mathematics, the
//! theorem and the measured tables).
//!
//! [`reduce`] returns, per channel, a [`Realization`] of at most `r` states per
//! cut, its order, an a-priori bound on `‖T − T_r‖₂`, the Eckart–Young lower
//! bound `max_i σ_{r+1}(H_i)` and, when `T` can be formed, the measured error.
//!
//! * Operators with a realization (every recurrent family, LTI and time-varying)
//!   are reduced by finite-horizon time-varying **balanced truncation** from the
//!   square-root Gramian factors of the structured path (`balanced`): `O(L·N³)`
//!   per channel, `T` never formed.
//! * Operators without one (softmax attention, long and gated convolutions, any
//!   [`DenseOperator`](crate::DenseOperator)) get a balanced time-varying
//!   realization from their **Hankel blocks** (`hankel`, Ho–Kalman / Dewilde–van
//!   der Veen), truncated the same way: `O(L⁴)` per channel.
//! * Time-invariant convolutions ([`LongConvolution`](crate::LongConvolution),
//!   and [`FirConvolution`](crate::FirConvolution) with more than 64 taps; any
//!   operator declaring [`LinearOperator::convolution_taps`]) get a
//!   **time-invariant** model of their kernel (`kernel`, Ho–Kalman / Kung on the
//!   kernel's Hankel matrix) certified by `‖T − T_r‖₂ ≤ ‖h − h_r‖₁`: about
//!   `O(L²·r)` per channel, seconds at `L = 4096`. [`Reduction::algorithm`] says
//!   which of the three ran.
//!
//! The reduction is computed in `f64` whatever the operator's scalar type and
//! returned in that type. The result, a [`Reduction`], is itself a
//! [`LinearOperator`]: it can be applied, profiled and reduced again.
//!
//! ```
//! use effective_state_size::prelude::*;
//! use effective_state_size::reduction::{reduce, ReduceOptions};
//! // A 4-state diagonal SSM, reduced to 2 states.
//! let op = LtiStateSpace::diagonal(&[0.9, 0.5, 0.2, -0.1], &[1.0; 4], &[1.0, 0.5, 0.25, 0.1],
//!     Dims { channels: 1, len: 32, width: 4 })?;
//! let red = reduce(&op, &ReduceOptions::order(2).with_measured_error(true))?;
//! let ch = &red.channels()[0];
//! let error = ch.error.expect("L = 32: T is formed");
//! assert!(ch.lower_bound <= error + 1e-12 && error <= ch.error_bound);
//! // The reduced model is an operator: apply it, profile it.
//! let y = red.apply(0, &[1.0; 32])?;
//! assert_eq!(y.len(), 32);
//! assert!(ess::tolerance(&red, Tolerance::NumericalRank)?.max() <= 2.0);
//! # Ok::<(), EssError>(())
//! ```

pub(crate) mod balanced;
mod certificate;
pub(crate) mod hankel;
pub(crate) mod kernel;
pub(crate) mod svd;

use crate::error::{EssError, Result};
use crate::ess::{ComputedBy, EssOptions, Measure, Method, Tolerance};
use crate::operator::{BlockShape, LinearOperator, OperatorExt, RealizationInfo};
use crate::planner::{max_hankel_rank, DEFAULT_MEMORY_BUDGET};
use crate::realization::{Realization, Steps, Transition};
use crate::scalar::Scalar;
use balanced::Parts;
use nalgebra::{DMatrix, DVector};
use std::borrow::Cow;

/// Which reduction algorithm runs (see the module docs); reported by
/// [`Reduction::algorithm`] and forced by [`ReduceOptions::with_algorithm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Finite-horizon time-varying balanced truncation of the operator's
    /// realization (`O(L·N³)`); [`ComputedBy::Structured`].
    BalancedTruncation,
    /// The balanced time-varying realization of the Hankel blocks of the dense
    /// `T` (`O(L⁴)`); [`ComputedBy::Dense`].
    HankelBlocks,
    /// A time-invariant model of a convolution kernel by Ho–Kalman / Kung on the
    /// kernel's Hankel matrix, certified by `‖h − h_r‖₁` (`O(L²·r)`); reported as
    /// [`ComputedBy::Dense`] by [`Reduction::method`] (no realization is used).
    ConvolutionKernel,
}

impl Algorithm {
    /// `"balanced truncation"`, `"hankel blocks"` or `"convolution kernel"`.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::BalancedTruncation => "balanced truncation",
            Algorithm::HankelBlocks => "hankel blocks",
            Algorithm::ConvolutionKernel => "convolution kernel",
        }
    }
}

/// Realizations of order at least this are not balanced-truncated when the
/// operator is a time-invariant convolution: the kernel path is cheaper.
const KERNEL_PATH_MIN_ORDER: usize = 64;

/// How many states to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Target {
    /// At most `r` states at every cut.
    Order(usize),
    /// Per channel, the largest tolerance-ESS over the cuts, `max_i #{k : σ_k(H_i) > τ}`:
    /// the smallest order that keeps every singular value above the tolerance.
    Tolerance(Tolerance),
}

/// Options of [`reduce`], set with builder methods.
///
/// ```
/// use effective_state_size::ess::{Method, Tolerance};
/// use effective_state_size::reduction::{ReduceOptions, Target};
/// let opts = ReduceOptions::tolerance(Tolerance::Relative(1e-3))
///     .with_measured_error(true)
///     .with_method(Method::Auto)
///     .with_memory_budget(1 << 30);
/// assert_eq!(opts.target(), Target::Tolerance(Tolerance::Relative(1e-3)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReduceOptions {
    target: Target,
    method: Method,
    measure_error: bool,
    memory_budget: u64,
    algorithm: Option<Algorithm>,
}

impl ReduceOptions {
    /// Keep at most `r` states at every cut (`r ≥ 1`).
    pub fn order(r: usize) -> Self {
        Self {
            target: Target::Order(r),
            method: Method::Auto,
            measure_error: false,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            algorithm: None,
        }
    }
    /// Keep every singular value above `tol` (the order is the largest
    /// tolerance-ESS over the cuts).
    pub fn tolerance(tol: Tolerance) -> Self {
        Self { target: Target::Tolerance(tol), ..Self::order(1) }
    }
    /// [`Method::Structured`]: balanced truncation of the realization;
    /// [`Method::Dense`]: the realization from the Hankel blocks of `T`;
    /// [`Method::Auto`] (default): structured when the operator has a
    /// realization whose order is below the largest possible block rank.
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }
    /// Forces an [`Algorithm`] (default: chosen from the method and the operator:
    /// [`Algorithm::ConvolutionKernel`] under [`Method::Auto`] for a time-invariant
    /// convolution without a realization or with one of order ≥ 64). Takes
    /// precedence over [`with_method`](Self::with_method).
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }
    /// The forced algorithm, if any.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }
    /// Also measure `‖T − T_r‖₂` when `T` fits the memory budget (default: off;
    /// on the convolution-kernel path at any `L`, through `apply`).
    pub fn with_measured_error(mut self, on: bool) -> Self {
        self.measure_error = on;
        self
    }
    /// The working-memory budget in bytes (default 8 GiB).
    pub fn with_memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = bytes;
        self
    }
    /// The target.
    pub fn target(&self) -> Target {
        self.target
    }
    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }
    /// Whether the error is measured.
    pub fn measures_error(&self) -> bool {
        self.measure_error
    }
    /// The memory budget in bytes.
    pub fn memory_budget(&self) -> u64 {
        self.memory_budget
    }
}

/// One reduced channel and its certificate.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReducedChannel<T: Scalar> {
    /// The channel of the original operator.
    pub channel: usize,
    /// The reduced recurrence (standard form), padded with zero states to the
    /// reduction's common state size.
    pub realization: Realization<T>,
    /// The channel's order: the largest number of states kept at a cut.
    pub order: usize,
    /// The certified a-priori bound on `‖T − T_r‖₂`: `Σ_i σ_{k_i+1}(H_i)` plus the
    /// rounding allowance (see [`crate::distillation`]); on the
    /// convolution-kernel path, `‖h − h_r‖₁` plus the rounding of `h_r`.
    pub error_bound: f64,
    /// `Σ_i σ_{k_i+1}(H_i)`, the bound in exact arithmetic (on the
    /// convolution-kernel path, `‖h − h_r‖₁` over the `L` taps).
    pub cut_sum: f64,
    /// The rounding allowance included in `error_bound`.
    pub rounding: f64,
    /// `2·Σ_k max_{i : k > k_i} σ_k(H_i)`, the form of Sandberg & Rantzer's bound:
    /// reported, not certified. `NaN` on the convolution-kernel path (not a
    /// balanced truncation).
    pub classical_bound: f64,
    /// The Eckart–Young lower bound `max_i σ_{r+1}(H_i)`: no operator whose
    /// Hankel blocks have rank at most `r` is closer to `T`. On the
    /// convolution-kernel path, a lower bound on `σ_{r+1}` of the middle block
    /// `H_{⌊L/2⌋}` only (still a valid lower bound on the error).
    pub lower_bound: f64,
    /// The measured `‖T − T_r‖₂`, when requested and `T` fits the budget.
    pub error: Option<f64>,
}

/// The result of [`reduce`]: one [`ReducedChannel`] per channel. It is a
/// [`LinearOperator`] (the reduced layer), so it can be applied, profiled and
/// reduced again.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction<T: Scalar> {
    channels: Vec<ReducedChannel<T>>,
    algorithm: Algorithm,
    len: usize,
    block: BlockShape,
    state: usize,
}

impl<T: Scalar> Reduction<T> {
    /// The reduced channels, in channel order.
    pub fn channels(&self) -> &[ReducedChannel<T>] {
        &self.channels
    }
    /// How the reduction was computed: [`ComputedBy::Structured`] (balanced
    /// truncation of the realization) or [`ComputedBy::Dense`] (Hankel blocks,
    /// or the convolution kernel: see [`algorithm`](Self::algorithm)).
    pub fn method(&self) -> ComputedBy {
        match self.algorithm {
            Algorithm::BalancedTruncation => ComputedBy::Structured,
            _ => ComputedBy::Dense,
        }
    }
    /// The algorithm that ran.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    /// The common state size of the reduced realizations (the largest channel
    /// order, at least 1).
    pub fn state_size(&self) -> usize {
        self.state
    }
}

impl<T: Scalar> LinearOperator for Reduction<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        self.channels.len()
    }
    fn block_shape(&self) -> BlockShape {
        self.block
    }
    fn family(&self) -> &'static str {
        "reduced realization"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: self.state }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        Ok(Cow::Owned(self.channels[channel].realization.dense()))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        Ok(self.channels[channel].realization.clone())
    }
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        y.copy_from_slice(&self.channels[channel].realization.apply(u)?);
        Ok(())
    }
}

/// Reduces every channel of `op` as `opts` directs (see the module docs).
///
/// # Errors
/// * [`EssError::InvalidParameter`] for order 0 or an order above the
///   operator's size (`min(N, max_i min(p(L-i), m·i))`), and
///   [`EssError::InvalidTolerance`] for an invalid tolerance or one that keeps
///   no state in any channel; each message names the fix.
/// * [`EssError::SequenceTooShort`] for `L < 2`, [`EssError::NoRealization`]
///   when [`Method::Structured`] is forced on an operator without one,
///   [`EssError::MemoryBudget`] when one channel's work does not fit.
/// * Every error of the operator's checked kernels (non-finite values, …).
pub fn reduce<O: LinearOperator + ?Sized>(op: &O, opts: &ReduceOptions) -> Result<Reduction<O::Scalar>> {
    let (len, block, channels) = (op.seq_len(), op.block_shape(), op.channels());
    if channels == 0 {
        return Err(EssError::empty("operator", "it has no channels"));
    }
    if len < 2 {
        return Err(EssError::SequenceTooShort { len });
    }
    let info = op.realization_info();
    let bound = max_hankel_rank(len, block);
    let size = info.order().map_or(bound, |n| n.min(bound));
    let conv = op.convolution_taps().filter(|_| block == BlockShape::SISO);
    let algorithm = match (opts.algorithm, opts.method, info.order()) {
        (Some(Algorithm::ConvolutionKernel), ..) if conv.is_none() => {
            return Err(EssError::param(
                "algorithm",
                format!(
                    "the convolution-kernel algorithm needs a time-invariant SISO convolution, and this {} operator is not one: use Method::Auto",
                    op.family()
                ),
            ))
        }
        (Some(Algorithm::BalancedTruncation), _, None) => {
            return Err(EssError::NoRealization { family: op.family().into() })
        }
        (_, Method::LowRank, _) => {
            return Err(EssError::param(
                "method",
                "Method::LowRank certifies ESS profiles; reduction has no low-rank method of its own (the convolution-kernel algorithm is already O(L·k²)): use Method::Auto",
            ))
        }
        (Some(a), ..) => a,
        (None, Method::Dense, _) => Algorithm::HankelBlocks,
        (None, Method::Structured, Some(_)) => Algorithm::BalancedTruncation,
        (None, Method::Structured, None) => return Err(EssError::NoRealization { family: op.family().into() }),
        (None, _, n) if conv.is_some() && n.is_none_or(|n| n >= KERNEL_PATH_MIN_ORDER) => Algorithm::ConvolutionKernel,
        (None, _, Some(n)) if n < bound => Algorithm::BalancedTruncation,
        _ => Algorithm::HankelBlocks,
    };
    let method = if algorithm == Algorithm::BalancedTruncation { ComputedBy::Structured } else { ComputedBy::Dense };
    // The order of every channel.
    let orders: Vec<usize> = match opts.target {
        Target::Order(0) => {
            return Err(EssError::param(
                "order",
                "order 0 keeps no state: ask for at least 1 (or a tolerance instead of an order)",
            ))
        }
        Target::Order(r) if r > size => {
            return Err(EssError::param(
                "order",
                format!(
                    "order {r} is above this {} operator's size {size} (its largest possible Hankel rank{}): ask for an order between 1 and {size}",
                    op.family(),
                    info.order().map_or(String::new(), |n| format!(" and its state size N = {n}"))
                ),
            ))
        }
        Target::Order(r) => vec![r; channels],
        Target::Tolerance(tol) => {
            tol.validate()?;
            let ess_method = if method == ComputedBy::Structured { Method::Structured } else { Method::Dense };
            let opts_ess = EssOptions::default().with_method(ess_method).with_memory_budget(opts.memory_budget);
            let profile = crate::ess::profile(op, Measure::Tolerance(tol), &opts_ess)?;
            let orders: Vec<usize> = profile.channel_maxes().iter().map(|&v| v as usize).collect();
            if orders.iter().all(|&r| r == 0) {
                return Err(EssError::InvalidTolerance {
                    value: tol.value().unwrap_or(f64::NAN),
                    reason: format!(
                        "the {} tolerance keeps no state: every singular value of every Hankel block is at or below it; lower the tolerance or give an order",
                        tol.mode_name()
                    ),
                });
            }
            orders
        }
    };
    check_budget(op, algorithm, info, opts)?;
    let eps_out = <O::Scalar as Scalar>::EPSILON.to_f64();
    let work = |c: usize| -> Result<Channel> {
        let r = orders[c];
        match algorithm {
            Algorithm::ConvolutionKernel => kernel_channel::<O::Scalar>(op, c, r),
            Algorithm::BalancedTruncation => {
                let real = op
                    .realization(c)
                    .map_err(|e| e.in_channel(c))?
                    .ok_or_else(|| EssError::NoRealization { family: op.family().into() })?
                    .cast::<f64>()?;
                let n = real.state_size();
                let (parts, acc, norm_f) = balanced::truncate(&real, r, KEEP_RELATIVE)?;
                let order = acc.order();
                Ok(Channel {
                    model: Model::Varying(parts),
                    bounds: acc.finish(len, n, norm_f, eps_out),
                    order,
                    kernel: None,
                })
            }
            Algorithm::HankelBlocks => {
                let t = op.dense_within(c, opts.memory_budget)?.map(|x| x.to_f64());
                let (parts, acc) = hankel::truncate(&t, block.outputs, block.inputs, r, KEEP_RELATIVE)?;
                let order = acc.order();
                Ok(Channel {
                    model: Model::Varying(parts),
                    bounds: acc.finish(len, bound, t.norm(), eps_out),
                    order,
                    kernel: None,
                })
            }
        }
    };
    let indices: Vec<usize> = (0..channels).collect();
    let results = match algorithm {
        // One T at a time; the cuts of a channel in parallel.
        Algorithm::HankelBlocks => indices.iter().map(|&c| work(c)).collect::<Result<Vec<_>>>()?,
        // Channels in parallel; each one's work is sequential.
        _ => crate::parallel::try_map(&indices, |&c| work(c))?,
    };
    let state = results.iter().map(|r| r.order).max().unwrap_or(0).max(1);
    let mut out = Vec::with_capacity(channels);
    for (c, ch) in results.into_iter().enumerate() {
        let realization = ch.model.padded(len, state)?.cast::<O::Scalar>()?;
        let error = match (&ch.kernel, opts.measure_error) {
            (_, false) => None,
            (Some(h), true) if len > EXACT_MEASURE_UP_TO => Some(measured_convolution_error(h, &realization)?),
            _ => measured_error(op, c, &realization, opts.memory_budget)?,
        };
        let b = ch.bounds;
        out.push(ReducedChannel {
            channel: c,
            realization,
            order: ch.order,
            error_bound: b.bound,
            cut_sum: b.cut_sum,
            rounding: b.rounding,
            classical_bound: b.classical,
            lower_bound: b.lower,
            error,
        });
    }
    Ok(Reduction { channels: out, algorithm, len, block, state })
}

/// One reduced channel before padding: its model, certificate and order, and
/// the kernel (in `f64`) on the convolution-kernel path.
struct Channel {
    model: Model,
    bounds: certificate::Bounds,
    order: usize,
    kernel: Option<Vec<f64>>,
}

/// A reduced model: per-step parts, or one time-invariant `(A, B, C, D)`.
enum Model {
    Varying(Parts),
    Invariant { a: DMatrix<f64>, b: DMatrix<f64>, c: DMatrix<f64>, d: DMatrix<f64> },
}

impl Model {
    /// The realization with `order` states (zero states padded), length `len`.
    fn padded(self, len: usize, order: usize) -> Result<Realization<f64>> {
        match self {
            Model::Varying(parts) => parts.padded(order),
            Model::Invariant { a, b, c, d } => {
                let order = order.max(1);
                let pad = |m: &DMatrix<f64>, rows: usize, cols: usize| {
                    let mut out = DMatrix::zeros(rows, cols);
                    out.view_mut((0, 0), m.shape()).copy_from(m);
                    out
                };
                Realization::new(
                    len,
                    Transition::Dense(Steps::Constant(pad(&a, order, order))),
                    Steps::Constant(pad(&b, order, 1)),
                    Steps::Constant(pad(&c, 1, order)),
                )?
                .with_feedthrough(Steps::Constant(d))
            }
        }
    }
}

/// The convolution-kernel path for channel `c`: Kung's model of the kernel,
/// rounded to the operator's type, then certified as returned.
fn kernel_channel<S: Scalar>(op: &(impl LinearOperator<Scalar = S> + ?Sized), c: usize, r: usize) -> Result<Channel> {
    let len = op.seq_len();
    let taps = op.convolution_taps().unwrap_or(0);
    let h = op.convolution_kernel(c).map_err(|e| e.in_channel(c))?;
    if h.is_empty() || h.len() != taps || taps > len {
        return Err(EssError::invalid_operator(
            op.family(),
            c,
            format!(
                "convolution_kernel returned {} taps, but convolution_taps() declares {taps} (between 1 and L = {len})",
                h.len()
            ),
        ));
    }
    crate::validate::check_finite(&format!("convolution kernel of channel {c}"), &h, &[h.len()])?;
    let h: Vec<f64> = h.iter().map(|x| x.to_f64()).collect();
    let m = kernel::realize(&h, r, KEEP_RELATIVE)?;
    // The certificate is about the model as returned, in the operator's type.
    let round = |x: &DMatrix<f64>| x.map(|v| S::cast(v).to_f64());
    let (a, b, cm, d) = (round(&m.a), round(&m.b), round(&m.c), round(&m.d));
    let (l1, rounding) = kernel::certify(&h, len, &a, &b, &cm, d[(0, 0)], S::EPSILON.to_f64())?;
    let bounds =
        certificate::Bounds { bound: l1 + rounding, cut_sum: l1, classical: f64::NAN, lower: m.lower, rounding };
    Ok(Channel { model: Model::Invariant { a, b, c: cm, d }, bounds, order: m.kept, kernel: Some(h) })
}

/// Up to this `L` the measured error is taken from every singular value of the
/// formed difference (see [`measured_error`]).
const EXACT_MEASURE_UP_TO: usize = 1024;

/// `‖T − T_r‖₂` of a convolution with kernel `h` (in `f64`) by power iteration,
/// `T` applied as a direct convolution (`O(L·k)`) and `T_r` through its
/// recurrence and adjoint (`O(L·r²)`); `T` is never formed.
fn measured_convolution_error<T: Scalar>(h: &[f64], reduced: &Realization<T>) -> Result<f64> {
    let r = reduced.cast::<f64>()?;
    let len = r.len();
    let apply = |x: &DVector<f64>| {
        let y = kernel::convolve(h, x.as_slice());
        let yr = r.apply(x.as_slice())?;
        Ok(DVector::from_iterator(len, y.iter().zip(&yr).map(|(a, b)| a - b)))
    };
    let apply_t = |y: &DVector<f64>| {
        let z = kernel::convolve_transpose(h, y.as_slice());
        let zr = r.apply_transpose(y.as_slice());
        Ok(DVector::from_iterator(len, z.iter().zip(&zr).map(|(a, b)| a - b)))
    };
    certificate::power_iteration(len, apply, apply_t)
}

/// Singular values at or below this fraction of `σ_1(H_i)` are never kept: the
/// balancing divides by their square roots, and below it rounding dominates.
/// They are counted in the bound like any truncated value.
const KEEP_RELATIVE: f64 = 1e-11;

/// Refuses a reduction whose one-channel working set exceeds the budget.
fn check_budget<O: LinearOperator + ?Sized>(
    op: &O,
    algorithm: Algorithm,
    info: RealizationInfo,
    opts: &ReduceOptions,
) -> Result<()> {
    let (len, b) = (op.seq_len() as u64, op.block_shape());
    let (p, m) = (b.outputs as u64, b.inputs as u64);
    let (what, bytes) = match algorithm {
        Algorithm::BalancedTruncation => {
            let n = info.order().unwrap_or(0) as u64;
            // The f64 realization, every observability factor and the projections.
            let per_step = n * n + n * (p + m) + p * m;
            let bytes = len.saturating_mul(per_step + n * n + 2 * n * n).saturating_mul(8);
            ("balanced truncation (one channel's realization and square-root factors at every cut)", bytes)
        }
        Algorithm::ConvolutionKernel => {
            let taps = op.convolution_taps().unwrap_or(0).min(op.seq_len()) as u64;
            let (rows, cols) = (taps - taps / 2, taps / 2);
            // K and up to two working copies (the full SVD of a small K; the
            // subspace iteration's blocks are far smaller).
            let bytes = rows.saturating_mul(cols).saturating_mul(3 * 8);
            ("the convolution-kernel path (one channel's kernel Hankel matrix in f64)", bytes)
        }
        Algorithm::HankelBlocks => {
            let t = (p * len).saturating_mul(m * len).saturating_mul(8);
            (
                "the Hankel-block realization (one channel's T in f64 and the blocks being decomposed)",
                t.saturating_mul(3),
            )
        }
    };
    if bytes > opts.memory_budget {
        return Err(EssError::MemoryBudget {
            what: what.into(),
            required: bytes,
            budget: opts.memory_budget,
            hint:
                "raise the budget (`ReduceOptions::with_memory_budget`), shorten L, or reduce fewer channels at a time"
                    .into(),
        });
    }
    Ok(())
}

/// `‖T − T_r‖₂` of channel `c` when `T` fits the budget: from every singular
/// value of the difference for small sizes, by power iteration through the
/// realization's recurrence (and its adjoint) otherwise.
fn measured_error<O: LinearOperator + ?Sized>(
    op: &O,
    c: usize,
    reduced: &Realization<O::Scalar>,
    budget: u64,
) -> Result<Option<f64>> {
    let t_bytes = crate::operator::dense_bytes(op).saturating_mul(8 / std::mem::size_of::<O::Scalar>() as u64);
    if t_bytes.saturating_mul(2) > budget {
        return Ok(None);
    }
    let t = op.dense_within(c, budget)?.map(|x| x.to_f64());
    let r = reduced.cast::<f64>()?;
    if t.nrows().max(t.ncols()) <= 1024 {
        return Ok(Some(certificate::spectral_norm(&(t - r.dense()))?));
    }
    let apply = |x: &DVector<f64>| Ok(&t * x - DVector::from_vec(r.apply(x.as_slice())?));
    let apply_t = |y: &DVector<f64>| Ok(t.tr_mul(y) - DVector::from_vec(r.apply_transpose(y.as_slice())));
    certificate::power_iteration(t.ncols(), apply, apply_t).map(Some)
}
