//! The planner: which algorithm computes the singular values, how much memory it
//! needs, whether that fits the budget, and the sweep that runs it.
//!
//! [`plan`] turns an operator and [`EssOptions`] into an inspectable [`Plan`]
//! without computing anything (and without looping over `L`); the entry points of
//! [`ess`](crate::ess) then execute it.
//!
//! # Method choice
//! [`Method::Auto`] picks the structured path when the operator declares a
//! realization whose order `N` is smaller than the largest rank any Hankel block
//! can have, `r_max = max_{1≤i≤L-1} min(p(L-i), m·i)` ([`max_hankel_rank`], closed
//! form), and the dense path otherwise. It never picks [`Method::LowRank`]: the
//! certified low-rank method ([`crate::lowrank`]) runs only when asked for. It
//! takes the kernel path (one factorisation of the kernel's Hankel matrix, `T`
//! never formed) for a SISO operator declaring a time-invariant convolution
//! kernel, and otherwise works on the nested-block factors of the dense `T`.
//!
//! # Memory
//! One budget ([`EssOptions::with_memory_budget`], default
//! [`DEFAULT_MEMORY_BUDGET`]) bounds the working memory of a whole call:
//! * dense path: one channel's `T` (`(p·L)·(m·L)` scalars) plus, per chain of
//!   indices in flight (see `spectrum::nested`: a few chains per channel, run in
//!   parallel), the largest requested block `p(L-i)·m·i` (copied for a fresh
//!   QR) and three square matrices of order `r_max = min(p(L-i), m·i)` (the
//!   QR's factor, the visitor's copy and the held first factor of a pair: the
//!   backend gets the factors of two indices at a time; while walking, the
//!   running factor and three copies, at most as much);
//! * structured path: per channel in flight, its realization (counted once when it
//!   is time-invariant) and the checkpointed factors: about `3·√count` factors of
//!   `N × N` for `count` requested indices (see `spectrum::gramian`), so
//!   `O(√L·N²)` besides the realization;
//! * low-rank method: one channel's `T` in `f64` and one square block factor with
//!   its basis, or, on the kernel path, the factorisation `Q`, `W` (`L × k`, `k ≤ 256`),
//!   the row blocks of the Hankel matrix and the checkpointed prefix factors.
//!
//! [`Plan::bytes`] is the least a call needs: one `T` and one chain, or one
//! channel. The call is refused when that exceeds the budget; otherwise the
//! number of blocks or channels processed in parallel is capped so that the total
//! stays within the budget. The decision therefore does not depend on the number
//! of threads: more cores never cause a refusal.

use crate::error::{EssError, Result};
use crate::ess::{ComputedBy, EssOptions, Measure, Method, Progress};
use crate::operator::{BlockShape, LinearOperator, OperatorExt, RealizationInfo};
use crate::scalar::Scalar;
use crate::spectrum::{self, Spectrum};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The default memory budget: 8 GiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 8 << 30;

/// What [`plan`] decided, before anything is computed.
///
/// ```
/// use effective_state_size::{ess, ess::{ComputedBy, EssOptions, Indices}, Dims, LtiStateSpace};
/// let op = LtiStateSpace::diagonal(&[0.5], &[1.0], &[1.0], Dims { channels: 1, len: 1_000_000_000, width: 1 })?;
/// let plan = ess::plan(&op, &EssOptions::default().with_indices(Indices::Middle))?;
/// assert_eq!(plan.method, ComputedBy::Structured);
/// assert_eq!(plan.indices, vec![500_000_000]);
/// assert!(plan.bytes < 1024); // a time-invariant realization is stored once
/// println!("{}", plan.reason);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// The algorithm that will run.
    pub method: ComputedBy,
    /// The Hankel indices `i` that will be evaluated (ascending).
    pub indices: Vec<usize>,
    /// The least working memory in bytes: one channel's `T` and one chain of
    /// indices (its largest requested block and factors; dense), or one channel's
    /// realization and factors (structured).
    pub bytes: u64,
    /// The memory budget in force.
    pub budget: u64,
    /// Why this method was chosen, in words.
    pub reason: String,
}

/// `max_{1≤i≤L-1} min(p·(L-i), m·i)`: the largest rank a Hankel block of a
/// length-`len` operator with blocks `p × m` can have (0 for `len < 2`), in
/// closed form.
///
/// ```
/// use effective_state_size::{planner::max_hankel_rank, BlockShape};
/// assert_eq!(max_hankel_rank(10, BlockShape::SISO), 5);
/// assert_eq!(max_hankel_rank(7, BlockShape { outputs: 2, inputs: 1 }), 4); // i = 4: min(6, 4)
/// assert_eq!(max_hankel_rank(usize::MAX / 2, BlockShape::SISO), usize::MAX / 4);
/// ```
pub fn max_hankel_rank(len: usize, b: BlockShape) -> usize {
    if len < 2 {
        return 0;
    }
    let (l, p, m) = (len as u128, b.outputs as u128, b.inputs as u128);
    // min(p(L-i), m·i) rises until i* = pL/(p+m) and falls after it: the maximum
    // over integers is at ⌊i*⌋ or ⌈i*⌉, clamped to 1..L-1.
    let at = |i: u128| (p * (l - i)).min(m * i);
    let lo = (p * l / (p + m).max(1)).clamp(1, l - 1);
    let best = at(lo).max(at((lo + 1).min(l - 1)));
    usize::try_from(best).unwrap_or(usize::MAX)
}

/// Plans the computation of ESS for `op` under `opts`: resolves the indices, picks
/// the method and checks the memory budget. Computes nothing and costs `O(1)` in
/// `L` (plus the length of the index list).
///
/// # Errors
/// [`EssError::SequenceTooShort`] and index errors from [`Indices::resolve`](crate::ess::Indices::resolve),
/// [`EssError::Empty`] for an operator without channels,
/// [`EssError::NoRealization`] when [`Method::Structured`] is forced on an operator
/// without a realization, and [`EssError::MemoryBudget`] when even one unit of
/// work exceeds the budget.
pub fn plan<O: LinearOperator + ?Sized>(op: &O, opts: &EssOptions) -> Result<Plan> {
    if op.channels() == 0 {
        return Err(EssError::empty("operator", "it has no channels"));
    }
    let (len, b) = (op.seq_len(), op.block_shape());
    // The index list and one value per index, channel and measure: checked before
    // the list is built (Indices::All at L = 4e9 would need 32 GB).
    let count = opts.indices().count(len)? as u64;
    let listing = count.saturating_mul(8).saturating_mul(2 + op.channels() as u64);
    if listing > opts.memory_budget() {
        return Err(EssError::MemoryBudget {
            what: format!("the list of {count} indices and their values"),
            required: listing,
            budget: opts.memory_budget(),
            hint: "evaluate fewer indices (`Indices::Stride`, `Indices::Middle`, `Indices::List`), or raise the budget with `EssOptions::with_memory_budget`".into(),
        });
    }
    let indices = opts.indices().resolve(len)?;
    let info = op.realization_info();
    let bound = max_hankel_rank(len, b);
    let (method, reason) = match (opts.method(), info.order()) {
        (Method::Dense, _) => (ComputedBy::Dense, "the dense path was requested".to_string()),
        (Method::Structured, Some(n)) => {
            (ComputedBy::Structured, format!("the structured path was requested (realization of order N = {n})"))
        }
        (Method::Structured, None) => return Err(EssError::NoRealization { family: op.family().into() }),
        (Method::Auto, Some(n)) if n < bound => (
            ComputedBy::Structured,
            format!("the operator has a realization of order N = {n} < max_i min(p(L-i), m·i) = {bound}: O(L·N³) per channel instead of O(L⁴)"),
        ),
        (Method::Auto, Some(n)) => (
            ComputedBy::Dense,
            format!("the realization's order N = {n} is not below the largest possible block rank {bound}: the dense path is cheaper"),
        ),
        (Method::Auto, None) => (ComputedBy::Dense, "the operator has no state realization".to_string()),
        (Method::LowRank, _) if kernel_path(op) => (
            ComputedBy::LowRank,
            "the low-rank method was requested: one certified factorisation of the convolution kernel's Hankel matrix, O(L²·k) per channel".to_string(),
        ),
        (Method::LowRank, _) => (
            ComputedBy::LowRank,
            "the low-rank method was requested: certified subspace iteration on the nested-block factors of T, O(L²·k) per index".to_string(),
        ),
    };
    let budget = opts.memory_budget();
    let scalar = std::mem::size_of::<O::Scalar>() as u64;
    let bytes = match method {
        ComputedBy::Dense => {
            crate::operator::dense_bytes(op).saturating_add(dense_chain_bytes(&indices, len, b, scalar))
        }
        ComputedBy::Structured => structured_channel_bytes(info, len, b, indices.len(), scalar),
        ComputedBy::LowRank if kernel_path(op) => crate::spectrum::lowrank_hankel::bytes(len),
        // T, its f64 copy, and one chain with the method's working matrices.
        ComputedBy::LowRank => {
            let t = crate::operator::dense_bytes(op);
            let t64 = t.saturating_mul(8) / scalar.max(1);
            t.saturating_add(t64).saturating_add(lowrank_chain_bytes(&indices, len, b))
        }
    };
    if bytes > budget {
        let (what, hint) = match method {
            ComputedBy::Dense => (
                format!("the dense path (T of one channel, L = {len}, its largest requested block and factors)"),
                match info.order() {
                    Some(_) => "this operator has a realization: use `Method::Structured` (or `Method::Auto`), or raise the budget with `EssOptions::with_memory_budget`".to_string(),
                    None => "T is formed whole, so fewer indices hardly help: shorten L, or raise the budget with `EssOptions::with_memory_budget`".to_string(),
                },
            ),
            ComputedBy::Structured => (
                format!("the structured path (one channel's realization and factors, L = {len})"),
                "the realization dominates (the factors are checkpointed, O(√count)): shorten L, or raise the budget with `EssOptions::with_memory_budget`; fewer indices (`Indices::Stride`) save little".to_string(),
            ),
            _ => (
                format!("the low-rank method (one channel's T or kernel factorisation, L = {len})"),
                "shorten L, or raise the budget with `EssOptions::with_memory_budget`".to_string(),
            ),
        };
        return Err(EssError::MemoryBudget { what, required: bytes, budget, hint });
    }
    Ok(Plan { method, indices, bytes, budget, reason })
}

/// Whether the low-rank method takes the kernel path: a SISO operator declaring a
/// time-invariant convolution kernel.
fn kernel_path<O: LinearOperator + ?Sized>(op: &O) -> bool {
    op.convolution_taps().is_some() && op.block_shape() == BlockShape::SISO
}

/// How many chains of `chain` bytes fit in `budget` beside `t_bytes` (at least
/// one: the plan has already checked that one does).
fn chains_that_fit(budget: u64, t_bytes: u64, chain: u64) -> usize {
    usize::try_from((budget.saturating_sub(t_bytes) / chain.max(1)).max(1)).unwrap_or(usize::MAX)
}

/// Bytes one chain of the dense path needs besides `T`: the largest requested
/// block (copied for a fresh QR, with the QR's `r_max × r_max` factor) or, while
/// walking, the running factor; besides it, up to three square matrices of the
/// largest order `r_max = min(rows, cols)` (the copy the visitor sees, the held
/// first factor of a pair and the pair's second one, which the backend
/// decomposes in place), plus one incoming row.
fn dense_chain_bytes(indices: &[usize], len: usize, b: BlockShape, scalar: u64) -> u64 {
    chain_bytes(indices, len, b, scalar, 3)
}

/// Bytes of one chain of nested factors whose visitor keeps `copies` square
/// matrices of order `r_max` besides the running factor. Fresh QR: the block,
/// its factor and `copies − 1` copies (the pair's second one is not made then);
/// at a visit: the running factor and `copies` copies. block ≥ square, so
/// `block + copies · square + row` bounds both.
fn chain_bytes(indices: &[usize], len: usize, b: BlockShape, scalar: u64, copies: u64) -> u64 {
    let largest = largest_block(indices, len, b);
    let order = largest_order(indices, len, b);
    let square = order.saturating_mul(order);
    largest.saturating_add(square.saturating_mul(copies)).saturating_add(order).saturating_mul(scalar)
}

/// Bytes one chain of the low-rank method needs besides `T`: a chain of nested
/// factors in `f64` with two copies of the factor (the visible one and the one
/// the visitor works on), plus the scaled factor, its transpose and the
/// bases (`r × k`, `k ≤ r`).
fn lowrank_chain_bytes(indices: &[usize], len: usize, b: BlockShape) -> u64 {
    let order = largest_order(indices, len, b);
    chain_bytes(indices, len, b, 8, 2).saturating_add(order.saturating_mul(order).saturating_mul(5 * 8))
}

/// `r_max`: the largest `min(rows, cols)` of the requested blocks `H_i`.
fn largest_order(indices: &[usize], len: usize, b: BlockShape) -> u64 {
    indices
        .iter()
        .map(|&i| {
            let (r, c) = b.hankel_shape(len, i);
            r.min(c) as u64
        })
        .max()
        .unwrap_or(0)
}

/// Scalars in the largest of the requested blocks `H_i`.
fn largest_block(indices: &[usize], len: usize, b: BlockShape) -> u64 {
    indices
        .iter()
        .map(|&i| {
            let (r, c) = b.hankel_shape(len, i);
            (r as u64).saturating_mul(c as u64)
        })
        .max()
        .unwrap_or(0)
}

/// Bytes one channel needs on the structured path: its realization (once if
/// time-invariant, per step otherwise), a diagonal copy of a time-varying `A_t`
/// (made when dense-stored transitions turn out to be diagonal), and the
/// checkpointed factors: with `K = ⌈√count⌉` indices per checkpoint, `⌈count/K⌉`
/// checkpoints plus `4K` factors (`Fo_i`, `Gr_i` of one group in each of the walk's
/// two chains, which run at the same time; `2K` for a single group), each `N × N`
/// scalars and `N` exponents, plus the running factors and per-worker scratch.
fn structured_channel_bytes(info: RealizationInfo, len: usize, b: BlockShape, evaluated: usize, scalar: u64) -> u64 {
    let n = info.order().unwrap_or(0) as u64;
    let (p, m) = (b.outputs as u64, b.inputs as u64);
    let per_step = n.saturating_mul(n).saturating_add(n.saturating_mul(p + m)).saturating_add(p * m);
    let (steps, diagonal_copy) = match info {
        RealizationInfo::TimeInvariant { .. } => (1, 0),
        _ => (len as u64, (len as u64).saturating_mul(n)),
    };
    let realization = per_step.saturating_mul(steps).saturating_add(diagonal_copy).saturating_mul(scalar);
    let k = crate::spectrum::gramian::group_size(evaluated) as u64;
    // Both chains hold a group once there are two groups; a single group is
    // the upper chain's alone.
    let groups = (evaluated as u64).div_ceil(k);
    let stored = groups.saturating_add(if groups >= 2 { 4 * k } else { 2 * k });
    // One factor: N² scalars, N exponents (16 bytes each) and its vector headers.
    let factor = n.saturating_mul(n).saturating_mul(scalar).saturating_add(16 * n + 128);
    // Two running factors, the core, the SVD workspace and the per-step scratch.
    let scratch = (4 * n * n + 8 * n + n * (p + m)).saturating_mul(scalar);
    realization.saturating_add(stored.saturating_mul(factor)).saturating_add(scratch)
}

/// Progress bookkeeping shared by the workers of one call.
struct Tracker<'a> {
    opts: &'a EssOptions,
    done: AtomicUsize,
    total: usize,
    channels: usize,
    stop: AtomicBool,
}

impl Tracker<'_> {
    fn check(&self) -> Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(EssError::Cancelled { done: self.done.load(Ordering::Relaxed), total: self.total });
        }
        Ok(())
    }
    /// Records `n` finished blocks of `channel` and asks the callback whether to go on.
    fn advance(&self, channel: usize, n: usize) -> Result<()> {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(cb) = self.opts.progress_callback() {
            let p = Progress { channel, channels: self.channels, done, total: self.total };
            if let ControlFlow::Break(()) = cb(p) {
                self.stop.store(true, Ordering::Relaxed);
            }
        }
        self.check()
    }
}

/// Runs `plan` on the given channels: the spectrum of every requested `H_i`,
/// reduced by `reduce`, as `[channel][index position]`.
pub(crate) fn execute<O, R, F>(
    op: &O,
    plan: &Plan,
    opts: &EssOptions,
    channels: &[usize],
    measures: &[Measure],
    reduce: F,
) -> Result<Vec<Vec<R>>>
where
    O: LinearOperator + ?Sized,
    R: Send,
    F: Fn(&Spectrum<O::Scalar>) -> R + Sync + Send,
{
    let tracker = Tracker {
        opts,
        done: AtomicUsize::new(0),
        total: channels.len() * plan.indices.len(),
        channels: op.channels(),
        stop: AtomicBool::new(false),
    };
    let backend = opts.backend();
    let (len, b) = (op.seq_len(), op.block_shape());
    match plan.method {
        ComputedBy::Dense => {
            // One T at a time; the chains of a channel in parallel, as many as fit.
            let chain_bytes = dense_chain_bytes(&plan.indices, len, b, std::mem::size_of::<O::Scalar>() as u64);
            let t_bytes = crate::operator::dense_bytes(op);
            let fit = chains_that_fit(plan.budget, t_bytes, chain_bytes);
            channels
                .iter()
                .map(|&c| {
                    tracker.check()?;
                    let t = op.dense_within(c, plan.budget)?;
                    spectrum::dense::sweep(&t, b, len, &plan.indices, backend, fit, &|s: &Spectrum<O::Scalar>| {
                        let value = reduce(s);
                        tracker.advance(c, 1)?;
                        Ok(value)
                    })
                })
                .collect()
        }
        ComputedBy::Structured => {
            let per_channel = plan.bytes.max(1);
            let fit = ((plan.budget / per_channel).max(1) as usize).min(channels.len().max(1));
            let mut out = Vec::with_capacity(channels.len());
            for group in channels.chunks(fit) {
                out.extend(crate::parallel::try_map(group, |&c| {
                    tracker.check()?;
                    let real = op
                        .realization(c)
                        .map_err(|e| e.in_channel(c))?
                        .ok_or_else(|| EssError::NoRealization { family: op.family().into() })?;
                    let values = spectrum::gramian::sweep(&real, &plan.indices, backend, &reduce)
                        .map_err(|e| e.in_channel(c))?;
                    tracker.advance(c, plan.indices.len())?;
                    Ok(values)
                })?);
            }
            Ok(out)
        }
        ComputedBy::LowRank => {
            if !(opts.interval_width().is_finite() && opts.interval_width() > 0.0) {
                return Err(EssError::param(
                    "interval width",
                    format!("{} must be finite and > 0", opts.interval_width()),
                ));
            }
            if opts.max_rank() == Some(0) {
                return Err(EssError::param("max rank", "a rank cap must be at least 1 (or None for no cap)"));
            }
            let target = crate::spectrum::lowrank::Target {
                measures,
                entropy_width: opts.interval_width(),
                max_rank: opts.max_rank(),
            };
            channels
                .iter()
                .map(|&c| {
                    tracker.check()?;
                    let spectra: Vec<Spectrum<O::Scalar>> = if kernel_path(op) {
                        let h = op.convolution_kernel(c).map_err(|e| e.in_channel(c))?;
                        if h.is_empty() || h.len() > len {
                            return Err(EssError::invalid_operator(
                                op.family(),
                                c,
                                format!("convolution_kernel returned {} taps (expected 1..={len})", h.len()),
                            ));
                        }
                        let h: Vec<f64> = h.iter().map(|x| x.to_f64()).collect();
                        spectrum::lowrank_hankel::sweep(&h, len, &plan.indices, &target).map_err(|e| e.in_channel(c))?
                    } else {
                        let t = op.dense_within(c, plan.budget)?;
                        let t = t.map(|x| x.to_f64());
                        let t_bytes = crate::operator::dense_bytes(op).saturating_mul(2);
                        let chain = lowrank_chain_bytes(&plan.indices, len, b);
                        let fit = chains_that_fit(plan.budget, t_bytes, chain);
                        spectrum::lowrank::sweep(&t, b, len, &plan.indices, &target, backend, fit, &|_| {})?
                    };
                    tracker.advance(c, plan.indices.len())?;
                    Ok(spectra.iter().map(&reduce).collect())
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chains_that_fit;

    /// The budget left beside `T`, divided by one chain's bytes, rounded down;
    /// at least one chain (the plan has checked that one fits), and nothing
    /// divides by zero.
    #[test]
    fn chains_that_fit_divide_what_is_left_beside_t() {
        assert_eq!(chains_that_fit(1_000 + 10 * 70, 1_000, 70), 10);
        assert_eq!(chains_that_fit(1_000 + 10 * 70 + 69, 1_000, 70), 10);
        assert_eq!(chains_that_fit(1_000 + 3 * 70 + 1, 1_000, 70), 3);
        assert_eq!(chains_that_fit(1_050, 1_000, 70), 1);
        assert_eq!(chains_that_fit(500, 1_000, 70), 1);
        assert_eq!(chains_that_fit(1_000, 0, 0), 1_000);
    }
}
