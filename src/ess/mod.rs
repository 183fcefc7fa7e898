//! Effective state-size: the measures, the entry points and the profiles.
//!
//! One-call entry points: [`entropy`], [`tolerance`] and [`singular_values`].
//! The explicit level, [`profiles`] with [`EssOptions`], chooses the indices, the
//! method (dense or structured), the memory budget, the SVD backend and a progress
//! callback, and computes several measures from one sweep of singular values.
//! [`plan`] shows what a call would do without doing it; [`verify`](fn@verify) checks a
//! user-written operator's kernels against each other.
//!
//! The analyses of the ESS paper build on profiles: [`markers`] (delimiter
//! modulation, [`Profile::marker_modulation`]), batches of inputs
//! ([`over_operators`], [`over_inputs`], [`BatchProfile`]), [`tolerance_sweep`]
//! (many thresholds from one sweep), boundary-normalised ESS
//! ([`Profile::normalized`]) and [`gradient`] (ESS as a training signal).
//!
//! ```
//! use effective_state_size::{ess, ess::{EssOptions, Indices, Measure, Method, Tolerance}, FirConvolution};
//! // A length-4 FIR kernel: ESS 3 away from the ends.
//! let op = FirConvolution::new(&[[1.0, -0.5, 0.25, 0.125]], 64)?;
//! let opts = EssOptions::default().with_indices(Indices::Stride(8)).with_method(Method::Dense);
//! let [tol, ent] = ess::profiles(&op, &[Measure::Tolerance(Tolerance::NumericalRank), Measure::Entropy], &opts)?
//!     .try_into().unwrap();
//! assert!(tol.channel(0).iter().all(|&v| v == 3.0));
//! assert!(ent.channel(0).iter().all(|&v| v > 1.0 && v <= 3.0));
//! # Ok::<(), effective_state_size::EssError>(())
//! ```

mod batch;
pub mod gradient;
mod indices;
pub mod markers;
mod measure;
mod options;
mod profile;
mod sweep;
mod verify;

pub use crate::planner::{plan, Plan};
/// Distillation, re-exported here next to the other entry points: see [`crate::reduction`].
pub use crate::reduction::{reduce, ReduceOptions};
pub use batch::{over_inputs, over_operators, BatchProfile};
pub use indices::Indices;
pub use markers::{marker_modulation, MarkerModulation};
pub use measure::{entropy_of, Measure, Tolerance};
pub use options::{EssOptions, Method, Progress, ProgressFn, DEFAULT_INTERVAL_WIDTH};
pub use profile::{ComputedBy, Profile};
pub use sweep::{tolerance_sweep, SweepPoint, ToleranceSweep};
pub use verify::{verify, Verification};

use crate::error::{EssError, Result};
use crate::operator::{check_index, LinearOperator};

/// Entropy-ESS of every channel at every index `1..L`, on the path the planner
/// picks.
///
/// ```
/// use effective_state_size::{ess, Dims, LtiStateSpace};
/// // A 2-state SSM has at most 2 effective states.
/// let op = LtiStateSpace::diagonal(&[0.9, 0.5], &[1.0, 1.0], &[1.0, -1.0], Dims { channels: 1, len: 32, width: 2 })?;
/// let p = ess::entropy(&op)?;
/// assert!(p.max() <= 2.0 + 1e-12);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub fn entropy<O: LinearOperator + ?Sized>(op: &O) -> Result<Profile> {
    profile(op, Measure::Entropy, &EssOptions::default())
}

/// Tolerance-ESS `#{k : σ_k(H_i) > threshold}` of every channel at every index.
pub fn tolerance<O: LinearOperator + ?Sized>(op: &O, tol: Tolerance) -> Result<Profile> {
    profile(op, Measure::Tolerance(tol), &EssOptions::default())
}

/// One measure with explicit options.
pub fn profile<O: LinearOperator + ?Sized>(op: &O, measure: Measure, opts: &EssOptions) -> Result<Profile> {
    let mut v = profiles(op, &[measure], opts)?;
    Ok(v.remove(0))
}

/// Several measures from one sweep of singular values (one profile per measure,
/// in order).
///
/// On the dense path channels run one after another (one `T` in memory at a time)
/// and the indices of a channel in parallel; on the structured path channels run
/// in parallel. Results do not depend on the number of threads.
///
/// # Errors
/// No measure, an invalid tolerance, and every error of [`plan`] and of the
/// operator's validated kernels.
pub fn profiles<O: LinearOperator + ?Sized>(op: &O, measures: &[Measure], opts: &EssOptions) -> Result<Vec<Profile>> {
    if measures.is_empty() {
        return Err(EssError::param("measures", "give at least one measure"));
    }
    for m in measures {
        m.validate()?;
    }
    let plan = plan(op, opts)?;
    let channels: Vec<usize> = (0..op.channels()).collect();
    let certified = plan.method == ComputedBy::LowRank;
    let k = measures.len();
    // Per index: the k values, then (low-rank method) k intervals.
    let width = if certified { 3 * k } else { k };
    let fill = |s: &crate::spectrum::Spectrum<O::Scalar>, out: &mut [f64]| {
        for (j, m) in measures.iter().enumerate() {
            out[j] = m.evaluate(s);
            if certified {
                let (lo, hi) = m.bounds(s);
                out[k + 2 * j] = lo;
                out[k + 2 * j + 1] = hi;
            }
        }
    };
    let flat = match width {
        1 => flat_results::<1, O, _>(op, &plan, opts, &channels, measures, fill)?,
        2 => flat_results::<2, O, _>(op, &plan, opts, &channels, measures, fill)?,
        3 => flat_results::<3, O, _>(op, &plan, opts, &channels, measures, fill)?,
        4 => flat_results::<4, O, _>(op, &plan, opts, &channels, measures, fill)?,
        6 => flat_results::<6, O, _>(op, &plan, opts, &channels, measures, fill)?,
        _ => crate::planner::execute(op, &plan, opts, &channels, measures, |s| {
            let mut v = vec![0.0; width];
            fill(s, &mut v);
            v
        })?
        .into_iter()
        .map(|ch| ch.into_iter().flatten().collect())
        .collect(),
    };
    // De-interleave channel by channel, freeing each channel's results as it goes.
    let mut values: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(channels.len()); k];
    let mut bounds: Vec<Vec<Vec<[f64; 2]>>> = vec![Vec::with_capacity(channels.len()); if certified { k } else { 0 }];
    for ch in flat {
        for (j, v) in values.iter_mut().enumerate() {
            v.push(ch.iter().skip(j).step_by(width).copied().collect());
        }
        for (j, b) in bounds.iter_mut().enumerate() {
            b.push(ch.chunks_exact(width).map(|x| [x[k + 2 * j], x[k + 2 * j + 1]]).collect());
        }
    }
    let mut bounds = bounds.into_iter();
    Ok(measures
        .iter()
        .zip(values)
        .map(|(&measure, values)| Profile {
            seq_len: op.seq_len(),
            block: op.block_shape(),
            indices: plan.indices.clone(),
            measure,
            computed_by: plan.method,
            tss: op.theoretical_state_size(),
            values,
            bounds: bounds.next(),
        })
        .collect())
}

/// Runs the sweep with a fixed-size result per index (`W` numbers, no allocation
/// per index: a 64-channel, `L = 65,536` profile keeps 16 bytes per index and
/// channel instead of a vector each) and returns them flat per channel.
fn flat_results<const W: usize, O, F>(
    op: &O,
    plan: &Plan,
    opts: &EssOptions,
    channels: &[usize],
    measures: &[Measure],
    fill: F,
) -> Result<Vec<Vec<f64>>>
where
    O: LinearOperator + ?Sized,
    F: Fn(&crate::spectrum::Spectrum<O::Scalar>, &mut [f64]) + Sync + Send,
{
    let per_channel = crate::planner::execute(op, plan, opts, channels, measures, |s| {
        let mut a = [0.0; W];
        fill(s, &mut a);
        a
    })?;
    Ok(per_channel.into_iter().map(Vec::into_flattened).collect())
}

/// The singular values `σ_1 ≥ σ_2 ≥ …` of `H_i` of one channel, on the path the
/// planner picks: all `min(rows, cols)` values from a dense block SVD, or the at
/// most `N` values that can be nonzero from the structured path (so a long
/// recurrent operator never materialises `T`).
///
/// ```
/// use effective_state_size::{ess, DenseOperator};
/// let t = [1.0, 0.0, 0.0, 3.0, 1.0, 0.0, 4.0, 0.0, 1.0];
/// let op = DenseOperator::from_row_major(&t, 3, 3)?;
/// assert_eq!(ess::singular_values(&op, 0, 1)?, vec![5.0]); // |(3, 4)| = 5
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub fn singular_values<O: LinearOperator + ?Sized>(op: &O, channel: usize, i: usize) -> Result<Vec<O::Scalar>> {
    check_index(op.seq_len(), i)?;
    let opts = EssOptions::default().with_indices(Indices::List(vec![i]));
    let (_, mut values) = singular_value_profile(op, channel, &opts)?;
    Ok(values.pop().unwrap_or_default())
}

/// The singular values `σ_1 ≥ σ_2 ≥ …` of `H_i` of one channel at every index
/// `opts` selects, computed as `opts` directs (method, budget, backend, progress;
/// the structured path returns the at most `N` values that can be nonzero).
///
/// ```
/// use effective_state_size::{ess, ess::{EssOptions, Indices}, Dims, LtiStateSpace};
/// let op = LtiStateSpace::diagonal(&[0.5f64], &[1.0], &[1.0], Dims { channels: 1, len: 40, width: 1 })?;
/// let (method, sv) = ess::singular_value_profile(&op, 0, &EssOptions::default().with_indices(Indices::Middle))?;
/// assert_eq!(method, ess::ComputedBy::Structured);
/// // T[t,s] = 0.5^(t-s): H_i = (0.5, 0.25, …)ᵀ(…, 0.25, 0.5, 1), rank one with
/// // σ_1 = √(1/3)·√(4/3) = 2/3 for a long sequence.
/// assert_eq!(sv[0].len(), 1);
/// assert!((sv[0][0] - 2.0 / 3.0).abs() < 1e-9);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub fn singular_value_profile<O: LinearOperator + ?Sized>(
    op: &O,
    channel: usize,
    opts: &EssOptions,
) -> Result<(ComputedBy, Vec<Vec<O::Scalar>>)> {
    crate::operator::check_channel(op, channel)?;
    let plan = plan(op, opts)?;
    let mut values = crate::planner::execute(op, &plan, opts, &[channel], &[Measure::Entropy], |s| s.values())?;
    Ok((plan.method, values.pop().unwrap_or_default()))
}
