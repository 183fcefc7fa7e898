//! ESS of one layer over a batch of inputs (or of any list of operators that share
//! a layout).

use super::{plan, profiles, EssOptions, Measure, Profile, Progress};
use crate::error::{EssError, Result};
use crate::operator::{BlockShape, Featurizer, LinearOperator};
use crate::scalar::Scalar;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Statistics of a measure over a batch of inputs, per channel and index.
///
/// `mean[c][j]`, `std[c][j]` (population standard deviation), `min[c][j]` and
/// `max[c][j]` describe channel `c` at index `indices[j]` across the inputs;
/// [`items`](Self::items) keeps each input's own profile (what marker modulation
/// of a batch needs).
///
/// ```
/// use effective_state_size::{ess, ess::{BatchProfile, ComputedBy, Measure}};
/// let item = |v: Vec<f64>| ess::Profile::from_values(4, vec![1, 2, 3], Measure::Entropy, ComputedBy::Dense, None, vec![v]);
/// let b = BatchProfile::from_profiles(vec![item(vec![1.0, 2.0, 1.0])?, item(vec![1.0, 1.0, 1.0])?])?;
/// assert_eq!(b.mean, vec![vec![1.0, 1.5, 1.0]]);
/// assert_eq!(b.std, vec![vec![0.0, 0.5, 0.0]]);
/// assert_eq!(b.mean_profile().mean(), 3.5 / 3.0);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
///
/// With the cargo feature `serde` it serialises with every field and its items;
/// deserialising recomputes the statistics from the items and checks them.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "serde_impl::RawBatch"))]
#[non_exhaustive]
pub struct BatchProfile {
    /// Number of inputs.
    pub inputs: usize,
    /// The evaluated indices.
    pub indices: Vec<usize>,
    /// The measure.
    pub measure: Measure,
    /// Mean over inputs.
    pub mean: Vec<Vec<f64>>,
    /// Population standard deviation over inputs.
    pub std: Vec<Vec<f64>>,
    /// Minimum over inputs.
    pub min: Vec<Vec<f64>>,
    /// Maximum over inputs.
    pub max: Vec<Vec<f64>>,
    items: Vec<Profile>,
}

impl BatchProfile {
    /// Aggregates the profiles of the items of a batch (one per input, all of the
    /// same length, block shape, indices, channel count and measure).
    ///
    /// # Errors
    /// No profile ([`EssError::Empty`]) or profiles of differing layouts
    /// ([`EssError::Incompatible`]).
    pub fn from_profiles(items: Vec<Profile>) -> Result<Self> {
        check_same_layout("batch of profiles", &items)?;
        let first = &items[0];
        let (channels, width) = (first.channels(), first.indices().len());
        let n = items.len() as f64;
        let stat = |f: &dyn Fn(&[f64]) -> f64| -> Vec<Vec<f64>> {
            (0..channels)
                .map(|c| {
                    (0..width)
                        .map(|j| {
                            let xs: Vec<f64> = items.iter().map(|p| p.values[c][j]).collect();
                            f(&xs)
                        })
                        .collect()
                })
                .collect()
        };
        let mean = stat(&|xs| xs.iter().sum::<f64>() / n);
        let std = stat(&|xs| {
            let m = xs.iter().sum::<f64>() / n;
            (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt()
        });
        let min = stat(&|xs| xs.iter().copied().fold(f64::INFINITY, f64::min));
        let max = stat(&|xs| xs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        Ok(BatchProfile {
            inputs: items.len(),
            indices: first.indices().to_vec(),
            measure: first.measure(),
            mean,
            std,
            min,
            max,
            items,
        })
    }

    /// Each input's own profile, in batch order.
    pub fn items(&self) -> &[Profile] {
        &self.items
    }

    /// The mean over inputs as a [`Profile`] (so every aggregate of a profile
    /// applies: `mean()`, `total()`, `normalized()`, …). Tolerance-ESS means are
    /// fractional.
    pub fn mean_profile(&self) -> Profile {
        Profile { values: self.mean.clone(), bounds: None, ..self.items[0].clone() }
    }

    /// The population standard deviation over inputs as a [`Profile`].
    pub fn std_profile(&self) -> Profile {
        Profile { values: self.std.clone(), bounds: None, ..self.items[0].clone() }
    }

    /// Marker modulation of the batch: positions shared by every input, `Δ` on
    /// each input's own profile, summary and baseline pooled over the inputs
    /// (see [`marker_modulation`](super::marker_modulation)).
    ///
    /// # Errors
    /// As [`marker_modulation`](super::marker_modulation).
    pub fn marker_modulation(&self, positions: &[usize], window: usize) -> Result<super::MarkerModulation> {
        super::marker_modulation(&self.items, positions, window)
    }
}

/// Errors unless `profiles` is non-empty and every profile has the layout of the
/// first (length, block shape, indices, channel count, measure).
pub(crate) fn check_same_layout(what: &str, profiles: &[Profile]) -> Result<()> {
    let first = profiles.first().ok_or_else(|| EssError::empty(what, "give at least one profile"))?;
    for (k, p) in profiles.iter().enumerate().skip(1) {
        let problem = if p.seq_len != first.seq_len {
            format!("profile {k} has L = {}, profile 0 has L = {}", p.seq_len, first.seq_len)
        } else if p.block != first.block {
            format!("profile {k} has another block shape than profile 0")
        } else if p.indices != first.indices {
            format!("profile {k} was evaluated at other indices than profile 0")
        } else if p.channels() != first.channels() {
            format!("profile {k} has {} channel(s), profile 0 has {}", p.channels(), first.channels())
        } else if p.measure != first.measure {
            format!("profile {k} is {:?}, profile 0 is {:?}", p.measure, first.measure)
        } else {
            continue;
        };
        return Err(EssError::incompatible(what, problem));
    }
    Ok(())
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;

    #[derive(serde::Deserialize)]
    pub(super) struct RawBatch {
        inputs: usize,
        indices: Vec<usize>,
        measure: Measure,
        mean: Vec<Vec<f64>>,
        std: Vec<Vec<f64>>,
        min: Vec<Vec<f64>>,
        max: Vec<Vec<f64>>,
        items: Vec<Profile>,
    }

    impl TryFrom<RawBatch> for BatchProfile {
        type Error = EssError;
        fn try_from(r: RawBatch) -> Result<Self> {
            let b = BatchProfile::from_profiles(r.items)?;
            let close = |a: &[Vec<f64>], b: &[Vec<f64>]| {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| {
                        x.len() == y.len() && x.iter().zip(y).all(|(u, v)| (u - v).abs() <= 1e-9 * u.abs().max(1.0))
                    })
            };
            if r.inputs != b.inputs
                || r.indices != b.indices
                || r.measure != b.measure
                || !close(&r.mean, &b.mean)
                || !close(&r.std, &b.std)
                || !close(&r.min, &b.min)
                || !close(&r.max, &b.max)
            {
                return Err(EssError::incompatible(
                    "serialised batch profile",
                    "its statistics differ from those of its items",
                ));
            }
            Ok(b)
        }
    }
}

/// Featurizes each input, computes `measure` with `opts`, and aggregates over the
/// batch. All inputs must produce operators of the same length and channel count.
///
/// # Errors
/// An empty batch, a featurizer failure ([`EssError::Featurizer`] naming the
/// input), operators of differing shapes, and every error of [`profile`](fn@super::profile).
pub fn over_inputs<T, F, U>(featurizer: &F, inputs: &[U], measure: Measure, opts: &EssOptions) -> Result<BatchProfile>
where
    T: Scalar,
    F: Featurizer<T> + ?Sized,
    U: AsRef<[T]>,
{
    if inputs.is_empty() {
        return Err(EssError::empty("input batch", "give at least one input sequence"));
    }
    let mut items = Vec::with_capacity(inputs.len());
    let mut shape = None;
    for (k, u) in inputs.iter().enumerate() {
        let op =
            featurizer.featurize(u.as_ref()).map_err(|e| EssError::Featurizer { input: k, source: Box::new(e) })?;
        let s = (op.seq_len(), op.channels());
        match shape {
            None => shape = Some(s),
            Some(s0) if s0 != s => {
                return Err(EssError::shape(
                    format!("operator of input {k}"),
                    format!("(L = {}, channels = {}) like input 0", s0.0, s0.1),
                    format!("(L = {}, channels = {})", s.0, s.1),
                ))
            }
            _ => {}
        }
        items.push(super::profile(&op, measure, opts)?);
    }
    BatchProfile::from_profiles(items)
}

/// Several measures of every operator of a batch (the same layer applied to
/// several inputs, e.g. the attention maps of several texts), each from one sweep
/// of singular values per operator, aggregated per measure: one [`BatchProfile`]
/// per measure, in order.
///
/// The progress callback of `opts` sees the whole batch: `done` and `total` count
/// the blocks of every operator.
///
/// ```
/// use effective_state_size::{ess, ess::{EssOptions, Measure, Tolerance}, FirConvolution};
/// let ops = [FirConvolution::new(&[[1.0, 0.5]], 8)?, FirConvolution::new(&[[1.0, 0.5, 0.25]], 8)?];
/// let [tol, ent] = ess::over_operators(&ops, &[Measure::Tolerance(Tolerance::NumericalRank), Measure::Entropy], &EssOptions::default())?
///     .try_into().unwrap();
/// // ESS_4 is k - 1: 1 and 2.
/// assert_eq!((tol.mean[0][3], tol.std[0][3]), (1.5, 0.5));
/// assert_eq!(ent.inputs, 2);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
///
/// # Errors
/// No operator, operators of differing length, block shape or channel count, and
/// every error of [`profiles`]. A cancelled computation reports the blocks done
/// over the whole batch.
pub fn over_operators<O: LinearOperator>(
    ops: &[O],
    measures: &[Measure],
    opts: &EssOptions,
) -> Result<Vec<BatchProfile>> {
    let first = ops.first().ok_or_else(|| EssError::empty("operator batch", "give at least one operator"))?;
    let layout = |o: &O| (o.seq_len(), o.block_shape(), o.channels());
    for (k, o) in ops.iter().enumerate().skip(1) {
        if layout(o) != layout(first) {
            let fmt = |(l, b, c): (usize, BlockShape, usize)| {
                format!("(L = {l}, block {}×{}, channels = {c})", b.outputs, b.inputs)
            };
            return Err(EssError::shape(
                format!("operator {k} of the batch"),
                format!("{} like operator 0", fmt(layout(first))),
                fmt(layout(o)),
            ));
        }
    }
    let per_item = plan(first, opts)?.indices.len() * first.channels();
    let total = per_item * ops.len();
    let cancelled = |done: usize| EssError::Cancelled { done, total };
    let done = Arc::new(AtomicUsize::new(0));
    let mut per_measure: Vec<Vec<Profile>> = vec![Vec::with_capacity(ops.len()); measures.len()];
    for (k, op) in ops.iter().enumerate() {
        let offset = k * per_item;
        let item_opts = match opts.progress_arc() {
            None => opts.clone(),
            Some(cb) => {
                let done = Arc::clone(&done);
                opts.clone().with_progress(move |p: Progress| {
                    let all = offset + p.done;
                    done.fetch_max(all, Ordering::Relaxed);
                    cb(Progress { channel: p.channel, channels: p.channels, done: all, total })
                })
            }
        };
        let ps = profiles(op, measures, &item_opts).map_err(|e| match e {
            EssError::Cancelled { .. } => cancelled(done.load(Ordering::Relaxed)),
            e => e,
        })?;
        for (list, p) in per_measure.iter_mut().zip(ps) {
            list.push(p);
        }
    }
    per_measure.into_iter().map(BatchProfile::from_profiles).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ess::ComputedBy;

    /// Two low-rank profiles with intervals: the batch statistics by hand, and
    /// the mean and standard-deviation profiles carry them (not the first
    /// item's values) and no intervals (those of one item do not bound a mean).
    #[test]
    fn mean_and_std_profiles_are_the_statistics_without_intervals() {
        let item = |v: [f64; 2]| {
            Profile::from_values(5, vec![1, 3], Measure::Entropy, ComputedBy::LowRank, Some(4), vec![v.to_vec()])
                .unwrap()
                .with_bounds(vec![vec![[v[0] - 0.5, v[0] + 0.5], [v[1], v[1]]]])
                .unwrap()
        };
        let batch = BatchProfile::from_profiles(vec![item([1.0, 2.0]), item([3.0, 2.0]), item([2.0, 5.0])]).unwrap();
        assert_eq!(batch.inputs, 3);
        assert_eq!(batch.mean, [vec![2.0, 3.0]]);
        assert_eq!(batch.min, [vec![1.0, 2.0]]);
        assert_eq!(batch.max, [vec![3.0, 5.0]]);
        let std = [(2.0f64 / 3.0).sqrt(), 2f64.sqrt()];
        assert!(batch.std[0].iter().zip(std).all(|(a, b)| (a - b).abs() < 1e-15), "{:?}", batch.std);
        let (mean, sd) = (batch.mean_profile(), batch.std_profile());
        assert_eq!(mean.values(), batch.mean.as_slice());
        assert_eq!(sd.values(), batch.std.as_slice());
        assert!(mean.bounds().is_none() && sd.bounds().is_none());
        assert_eq!((mean.indices(), mean.tss(), mean.seq_len()), (&[1, 3][..], Some(4), 5));
        assert_eq!(batch.items().len(), 3);
    }

    /// The standard deviation is `√(Σ(x − m)²/n)`, summed from the deviations:
    /// values `10⁷ + k_i·2⁻²⁹` (a long sequence's ESS with a small spread; exact
    /// in f64) give it to rounding, checked against exact integer arithmetic
    /// (`9·Σ(x − m)² = Σ(3k_i − Σk)²·2⁻⁵⁸`), where `Σ(x² − m²)`-style sums cancel
    /// to noise.
    #[test]
    fn the_standard_deviation_is_summed_from_the_deviations() {
        let item = |x: f64| {
            Profile::from_values(4, vec![2], Measure::Entropy, ComputedBy::Structured, None, vec![vec![x]]).unwrap()
        };
        let (base, unit) = (1e7, 2f64.powi(-29));
        let k: [i128; 3] = [9_016_345, 38_198_123, 56_870_001];
        let batch = BatchProfile::from_profiles(k.iter().map(|&k| item(base + k as f64 * unit)).collect()).unwrap();
        let total: i128 = k.iter().sum();
        let nine_ss: i128 = k.iter().map(|&k| (3 * k - total) * (3 * k - total)).sum();
        let want = (nine_ss as f64 / 27.0).sqrt() * unit;
        let got = batch.std[0][0];
        assert!((got - want).abs() <= 8.0 * f64::EPSILON * want, "{got} vs {want}");
    }
}
