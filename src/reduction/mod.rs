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
pub(crate) mod svd;

use crate::error::{EssError, Result};
use crate::ess::{ComputedBy, EssOptions, Measure, Method, Tolerance};
use crate::operator::{BlockShape, LinearOperator, OperatorExt, RealizationInfo};
use crate::planner::{max_hankel_rank, DEFAULT_MEMORY_BUDGET};
use crate::realization::Realization;
use crate::scalar::Scalar;
use balanced::Parts;
use nalgebra::{DMatrix, DVector};
use std::borrow::Cow;

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
}

impl ReduceOptions {
    /// Keep at most `r` states at every cut (`r ≥ 1`).
    pub fn order(r: usize) -> Self {
        Self {
            target: Target::Order(r),
            method: Method::Auto,
            measure_error: false,
            memory_budget: DEFAULT_MEMORY_BUDGET,
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
    /// Also measure `‖T − T_r‖₂` when `T` fits the memory budget (default: off).
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
    /// rounding allowance (see [`crate::distillation`]).
    pub error_bound: f64,
    /// `Σ_i σ_{k_i+1}(H_i)`, the bound in exact arithmetic.
    pub cut_sum: f64,
    /// The rounding allowance included in `error_bound`.
    pub rounding: f64,
    /// `2·Σ_k max_{i : k > k_i} σ_k(H_i)`, the form of Sandberg & Rantzer's bound:
    /// reported, not certified.
    pub classical_bound: f64,
    /// The Eckart–Young lower bound `max_i σ_{r+1}(H_i)`: no operator whose
    /// Hankel blocks have rank at most `r` is closer to `T`.
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
    method: ComputedBy,
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
    /// truncation of the realization) or [`ComputedBy::Dense`] (Hankel blocks).
    pub fn method(&self) -> ComputedBy {
        self.method
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
    let method = match (opts.method, info.order()) {
        (Method::Dense, _) => ComputedBy::Dense,
        (Method::Structured, Some(_)) => ComputedBy::Structured,
        (Method::Structured, None) => return Err(EssError::NoRealization { family: op.family().into() }),
        (_, Some(n)) if n < bound => ComputedBy::Structured,
        _ => ComputedBy::Dense,
    };
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
    check_budget(op, method, info, opts)?;
    let eps_out = <O::Scalar as Scalar>::EPSILON.to_f64();
    let work = |c: usize| -> Result<(Parts, certificate::Bounds, usize)> {
        let r = orders[c];
        let (parts, acc, norm_f, n) = match method {
            ComputedBy::Structured => {
                let real = op
                    .realization(c)
                    .map_err(|e| e.in_channel(c))?
                    .ok_or_else(|| EssError::NoRealization { family: op.family().into() })?
                    .cast::<f64>()?;
                let n = real.state_size();
                let (parts, acc, norm_f) = balanced::truncate(&real, r, KEEP_RELATIVE)?;
                (parts, acc, norm_f, n)
            }
            _ => {
                let t = op.dense_within(c, opts.memory_budget)?.map(|x| x.to_f64());
                let (parts, acc) = hankel::truncate(&t, block.outputs, block.inputs, r, KEEP_RELATIVE)?;
                (parts, acc, t.norm(), bound)
            }
        };
        let order = acc.order();
        Ok((parts, acc.finish(len, n, norm_f, eps_out), order))
    };
    let indices: Vec<usize> = (0..channels).collect();
    let results = match method {
        // Channels in parallel; each one's sweep is sequential.
        ComputedBy::Structured => crate::parallel::try_map(&indices, |&c| work(c))?,
        // One T at a time; the cuts of a channel in parallel.
        _ => indices.iter().map(|&c| work(c)).collect::<Result<Vec<_>>>()?,
    };
    let state = results.iter().map(|r| r.2).max().unwrap_or(0).max(1);
    let mut out = Vec::with_capacity(channels);
    for (c, (parts, b, order)) in results.into_iter().enumerate() {
        let realization = parts.padded(state)?.cast::<O::Scalar>()?;
        let error = if opts.measure_error { measured_error(op, c, &realization, opts.memory_budget)? } else { None };
        out.push(ReducedChannel {
            channel: c,
            realization,
            order,
            error_bound: b.bound,
            cut_sum: b.cut_sum,
            rounding: b.rounding,
            classical_bound: b.classical,
            lower_bound: b.lower,
            error,
        });
    }
    Ok(Reduction { channels: out, method, len, block, state })
}

/// Singular values at or below this fraction of `σ_1(H_i)` are never kept: the
/// balancing divides by their square roots, and below it rounding dominates.
/// They are counted in the bound like any truncated value.
const KEEP_RELATIVE: f64 = 1e-11;

/// Refuses a reduction whose one-channel working set exceeds the budget.
fn check_budget<O: LinearOperator + ?Sized>(
    op: &O,
    method: ComputedBy,
    info: RealizationInfo,
    opts: &ReduceOptions,
) -> Result<()> {
    let (len, b) = (op.seq_len() as u64, op.block_shape());
    let (p, m) = (b.outputs as u64, b.inputs as u64);
    let (what, bytes) = match method {
        ComputedBy::Structured => {
            let n = info.order().unwrap_or(0) as u64;
            // The f64 realization, every observability factor and the projections.
            let per_step = n * n + n * (p + m) + p * m;
            let bytes = len.saturating_mul(per_step + n * n + 2 * n * n).saturating_mul(8);
            ("balanced truncation (one channel's realization and square-root factors at every cut)", bytes)
        }
        _ => {
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
