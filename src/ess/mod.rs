//! Effective state-size: the measures, the planner and the profiles.
//!
//! One-call entry points: [`entropy`], [`tolerance`] and [`singular_values`].
//! The explicit level, [`profiles`] with [`EssOptions`], chooses the indices, the
//! path (dense or structured), the memory budget and computes several measures
//! from one sweep of singular values.
//!
//! ```
//! use effective_state_size::{ess, ess::{EssOptions, Indices, Measure, Path, Tolerance}, FirConvolution};
//! // A length-4 FIR kernel: ESS 3 away from the ends.
//! let op = FirConvolution::new(&[1.0, -0.5, 0.25, 0.125], 1, 4, 64)?;
//! let opts = EssOptions { indices: Indices::Stride(8), path: Path::Dense, ..Default::default() };
//! let [tol, ent] = ess::profiles(&op, &[Measure::Tolerance(Tolerance::NumericalRank), Measure::Entropy], &opts)?
//!     .try_into().unwrap();
//! assert!(tol.channel(0).iter().all(|&v| v == 3.0));
//! assert!(ent.channel(0).iter().all(|&v| v > 1.0 && v <= 3.0));
//! # Ok::<(), effective_state_size::EssError>(())
//! ```

mod batch;
mod indices;
mod measure;
mod profile;

pub use batch::{over_inputs, BatchProfile};
pub use indices::Indices;
pub use measure::{entropy_of, Measure, Tolerance};
pub use profile::{ComputedBy, Profile};

use crate::error::{EssError, Result};
use crate::operator::{check_channel, check_index, LinearOperator};
use crate::spectrum::{self, NalgebraSvd, SvdBackend};

/// Which algorithm computes the singular values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Path {
    /// Structured when the operator offers a realization whose state size `N` is
    /// smaller than the largest Hankel block rank bound `max_i min(p(L-i), m·i)`,
    /// dense otherwise.
    #[default]
    Auto,
    /// Always materialise `T` and take block SVDs.
    Dense,
    /// Always use the realization; an error if the operator has none.
    Structured,
}

/// Options of the explicit entry points.
#[derive(Debug, Clone, PartialEq)]
pub struct EssOptions {
    /// Which indices `i` to evaluate (default: all).
    pub indices: Indices,
    /// Which algorithm (default: [`Path::Auto`]).
    pub path: Path,
    /// Upper bound, in bytes, on the working memory (default 8 GiB): on the dense
    /// path one channel's `T` and its blocks ([`dense_bytes`]), on the structured
    /// path the realizations and factors of the channels in flight
    /// ([`structured_bytes`]). Larger requests fail with [`EssError::MemoryBudget`]
    /// before allocating.
    pub memory_budget: u64,
}

impl Default for EssOptions {
    fn default() -> Self {
        Self { indices: Indices::All, path: Path::Auto, memory_budget: 8 << 30 }
    }
}

/// Entropy-ESS of every channel at every index `1..L`, on the path the planner
/// picks.
///
/// ```
/// use effective_state_size::{ess, LtiStateSpace};
/// // A 2-state SSM has at most 2 effective states.
/// let op = LtiStateSpace::diagonal(&[0.9, 0.5], &[1.0, 1.0], &[1.0, -1.0], 1, 2, 32)?;
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
/// in order), with the default SVD backend.
pub fn profiles<O: LinearOperator + ?Sized>(op: &O, measures: &[Measure], opts: &EssOptions) -> Result<Vec<Profile>> {
    profiles_with_backend(op, measures, opts, &NalgebraSvd::default())
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
    let opts = EssOptions { indices: Indices::List(vec![i]), ..Default::default() };
    let (_, mut values) = singular_value_profile(op, channel, &opts)?;
    Ok(values.pop().unwrap_or_default())
}

/// The path [`Path::Auto`] resolves to for `op` (without computing anything).
pub fn plan<O: LinearOperator + ?Sized>(op: &O, path: Path) -> Result<ComputedBy> {
    match path {
        Path::Dense => Ok(ComputedBy::Dense),
        Path::Structured => match op.realization_order() {
            Some(_) => Ok(ComputedBy::Structured),
            None => Err(EssError::NoRealization { family: op.family().into() }),
        },
        Path::Auto => {
            let (len, b) = (op.seq_len(), op.block_shape());
            let bound = (1..len).map(|i| (b.outputs * (len - i)).min(b.inputs * i)).max().unwrap_or(0);
            Ok(match op.realization_order() {
                Some(n) if n < bound => ComputedBy::Structured,
                _ => ComputedBy::Dense,
            })
        }
    }
}

/// [`profiles`] with a chosen SVD backend.
///
/// Channels run in parallel on the structured path; on the dense path channels run
/// one after another (one `T` in memory at a time) and the indices of a channel run
/// in parallel. Results do not depend on the number of threads.
pub fn profiles_with_backend<O, B>(op: &O, measures: &[Measure], opts: &EssOptions, backend: &B) -> Result<Vec<Profile>>
where
    O: LinearOperator + ?Sized,
    B: SvdBackend,
{
    if measures.is_empty() {
        return Err(EssError::param("measures", "give at least one measure"));
    }
    for m in measures {
        m.validate()?;
    }
    let channels = op.channels();
    if channels == 0 {
        return Err(EssError::empty("operator", "it has no channels"));
    }
    let len = op.seq_len();
    let indices = opts.indices.resolve(len)?;
    let computed_by = plan(op, opts.path)?;
    let reduce = |s: &spectrum::Spectrum<O::Scalar>| measures.iter().map(|m| m.evaluate(s)).collect::<Vec<f64>>();
    check_budget(op, computed_by, indices.len(), opts.memory_budget)?;
    let chans: Vec<usize> = (0..channels).collect();
    let per_channel: Vec<Vec<Vec<f64>>> = match computed_by {
        // One T in memory at a time; the indices of a channel run in parallel.
        ComputedBy::Dense => chans
            .iter()
            .map(|&c| sweep_channel(op, c, &indices, computed_by, backend, reduce))
            .collect::<Result<_>>()?,
        ComputedBy::Structured => {
            crate::parallel::try_map(&chans, |&c| sweep_channel(op, c, &indices, computed_by, backend, reduce))?
        }
    };
    Ok(measures
        .iter()
        .enumerate()
        .map(|(k, &measure)| Profile {
            seq_len: len,
            indices: indices.clone(),
            measure,
            computed_by,
            tss: op.theoretical_state_size(),
            values: per_channel.iter().map(|ch| ch.iter().map(|v| v[k]).collect()).collect(),
        })
        .collect())
}

/// The singular values `σ_1 ≥ σ_2 ≥ …` of `H_i` of one channel at every index
/// `opts.indices` selects, computed on the path `opts.path` resolves to (the
/// structured path returns the at most `N` values that can be nonzero).
///
/// ```
/// use effective_state_size::{ess, ess::{EssOptions, Indices}, LtiStateSpace};
/// let op = LtiStateSpace::diagonal(&[0.5f64], &[1.0], &[1.0], 1, 1, 40)?;
/// let opts = EssOptions { indices: Indices::Middle, ..Default::default() };
/// let (path, sv) = ess::singular_value_profile(&op, 0, &opts)?;
/// assert_eq!(path, ess::ComputedBy::Structured);
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
    check_channel(op, channel)?;
    let indices = opts.indices.resolve(op.seq_len())?;
    let computed_by = plan(op, opts.path)?;
    check_budget(op, computed_by, indices.len(), opts.memory_budget)?;
    let backend = NalgebraSvd::default();
    let values = sweep_channel(op, channel, &indices, computed_by, &backend, |s| s.values())?;
    Ok((computed_by, values))
}

/// Spectra of one channel at `indices` on the chosen path, each reduced by `reduce`.
fn sweep_channel<O, B, R, F>(
    op: &O,
    c: usize,
    indices: &[usize],
    by: ComputedBy,
    backend: &B,
    reduce: F,
) -> Result<Vec<R>>
where
    O: LinearOperator + ?Sized,
    B: SvdBackend,
    R: Send,
    F: Fn(&spectrum::Spectrum<O::Scalar>) -> R + Sync + Send,
{
    match by {
        ComputedBy::Dense => spectrum::dense::sweep(op, c, indices, backend, reduce),
        ComputedBy::Structured => {
            let real = op.realization(c)?.ok_or_else(|| EssError::NoRealization { family: op.family().into() })?;
            check_realization(op, &real)?;
            spectrum::gramian::sweep(&real, indices, backend, reduce)
        }
    }
}

/// Bytes the dense path needs for one channel: `T` plus one block per worker.
pub fn dense_bytes<O: LinearOperator + ?Sized>(op: &O) -> u64 {
    let t = crate::operator::dense_matrix_bytes(op);
    // Blocks are at most a quarter of T; one per worker thread.
    t.saturating_add((t / 4).saturating_mul(workers() as u64))
}

fn workers() -> usize {
    #[cfg(feature = "parallel")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "parallel"))]
    {
        1
    }
}

/// Bytes the structured path may need: per concurrently processed channel, the
/// realization (at worst `L` dense `N × N` transitions) plus one `N × N` factor and
/// one core per evaluated index.
pub fn structured_bytes<O: LinearOperator + ?Sized>(op: &O, evaluated: usize) -> u64 {
    let n = op.realization_order().unwrap_or(0) as u64;
    let (len, b) = (op.seq_len() as u64, op.block_shape());
    let per_step = n.saturating_mul(n + b.outputs as u64 + b.inputs as u64);
    let per_index = 2 * n * n;
    let elems = len.saturating_mul(per_step).saturating_add((evaluated as u64).saturating_mul(per_index));
    let channels = (op.channels().min(workers())) as u64;
    elems.saturating_mul(std::mem::size_of::<O::Scalar>() as u64).saturating_mul(channels)
}

fn check_budget<O: LinearOperator + ?Sized>(op: &O, by: ComputedBy, evaluated: usize, budget: u64) -> Result<()> {
    let required = match by {
        ComputedBy::Dense => dense_bytes(op),
        ComputedBy::Structured => structured_bytes(op, evaluated),
    };
    if required > budget {
        return Err(EssError::MemoryBudget { required, budget });
    }
    Ok(())
}

fn check_realization<O: LinearOperator + ?Sized>(op: &O, r: &crate::Realization<O::Scalar>) -> Result<()> {
    let b = op.block_shape();
    if r.len() != op.seq_len() || r.outputs() != b.outputs || r.inputs() != b.inputs {
        return Err(EssError::shape(
            format!("realization of the {} operator", op.family()),
            format!("L = {}, p × m = {} × {}", op.seq_len(), b.outputs, b.inputs),
            format!("L = {}, p × m = {} × {}", r.len(), r.outputs(), r.inputs()),
        ));
    }
    Ok(())
}
