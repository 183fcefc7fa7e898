//! Delimiter (marker) modulation: how ESS changes across given token positions.
//!
//! The question of the ESS paper's delimiter experiments: does a layer's memory
//! change when a delimiter token (a period, an end-of-text marker, a separator)
//! enters the past? With 0-based token positions and a profile's index `i` the cut
//! between steps `i-1` and `i`:
//!
//! * a **marker** at token position `t`, `1 ≤ t ≤ L-2`;
//! * with a window `w ≥ 1`, *before* is the mean of `ESS_i` over
//!   `i ∈ [t−w+1, t]` (the delimiter is still in the future) and *after* the mean
//!   over `i ∈ [t+1, t+w]` (the delimiter is in the past), indices outside
//!   `1..=L-1` dropped; `Δ_t = after − before`. With `w = 1`:
//!   `Δ_t = ESS_{t+1} − ESS_t`;
//! * the **baseline** is the same `Δ` at every non-marker position `t'`
//!   (`1 ≤ t' ≤ L-2`), pooled over channels (and over the items of a batch):
//!   its mean and population standard deviation (ddof 0);
//! * the **summary** over all (channel, marker) pairs (and items):
//!   `mean_delta`, and `z = (mean_delta − baseline_mean) / baseline_std`, absent
//!   when the standard deviation is 0 or there is no non-marker position.
//!
//! The baseline uses every position, so the profile must hold every index
//! `1..=L-1` ([`Indices::All`](super::Indices::All)).

use super::{Measure, Profile};
use crate::error::{EssError, Result};

/// Marker modulation of one measure (see the [module](self) for the definitions).
///
/// ```
/// use effective_state_size::{ess, DenseOperator};
/// use effective_state_size::nalgebra::DMatrix;
/// // A causal operator whose rows after step 5 ignore everything up to step 5:
/// // the past before the delimiter at t = 5 is forgotten once it is read.
/// let t = DMatrix::from_fn(10, 10, |r, c| {
///     if c > r || (r > 5 && c <= 5) { 0.0 } else { 1.0 / (1.0 + (r as f64 - c as f64).abs()) }
/// });
/// let p = ess::tolerance(&DenseOperator::single(t)?, ess::Tolerance::Relative(1e-9))?;
/// // H_i holds rows ≥ i, columns < i: rows 6.. of columns ..=5 are zero.
/// assert_eq!(p.channel(0), &[1.0, 2.0, 3.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0]);
/// let m = p.marker_modulation(&[5], 1)?;
/// // before = ESS_5 = 1, after = ESS_6 = 0
/// assert_eq!(m.deltas, vec![vec![-1.0]]);
/// assert_eq!(m.mean_delta, -1.0);
/// // Δ at the other positions t' = 1, 2, 3, 4, 6, 7, 8: 1, 1, -1, -1, 1, 1, -1
/// assert_eq!(m.baseline_mean, Some(1.0 / 7.0));
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct MarkerModulation {
    /// The measure the deltas are differences of.
    pub measure: Measure,
    /// The marker positions `t`, in the order given.
    pub positions: Vec<usize>,
    /// The window `w`.
    pub window: usize,
    /// Number of profiles pooled (1 for a single profile, the batch size otherwise).
    pub items: usize,
    /// `deltas[c][k]`: `Δ` of channel `c` at `positions[k]` (the mean over the items
    /// of a batch).
    pub deltas: Vec<Vec<f64>>,
    /// Mean of `Δ` over every (item, channel, marker).
    pub mean_delta: f64,
    /// Mean of `Δ` over every (item, channel, non-marker position); `None` when
    /// every position `1..=L-2` is a marker.
    pub baseline_mean: Option<f64>,
    /// Population standard deviation of the same values.
    pub baseline_std: Option<f64>,
    /// `(mean_delta − baseline_mean) / baseline_std`; `None` when the standard
    /// deviation is 0 or there is no baseline.
    pub z: Option<f64>,
}

/// Marker modulation pooled over several profiles of one layer (the items of a
/// batch of inputs): the positions are shared by every item, each `Δ` is computed
/// on its item's own profile, and the summary and baseline pool over items.
/// [`Profile::marker_modulation`] is the single-profile case.
///
/// # Errors
/// No profile; profiles of differing length, indices, channels or measure
/// ([`EssError::Incompatible`]); no position, a repeated position, or `w = 0`
/// ([`EssError::InvalidParameter`]); a position outside `1..=L-2`
/// ([`EssError::MarkerOutOfRange`]); a profile that lacks an index of `1..=L-1`
/// ([`EssError::IndexNotEvaluated`]).
pub fn marker_modulation(profiles: &[Profile], positions: &[usize], window: usize) -> Result<MarkerModulation> {
    let first = profiles.first().ok_or_else(|| EssError::empty("profiles", "give at least one profile"))?;
    super::batch::check_same_layout("profiles for marker modulation", profiles)?;
    let len = first.seq_len();
    validate(positions, window, len)?;
    // The baseline needs Δ at every position, hence every index 1..=L-1.
    if let Some(missing) = (1..len).find(|&i| first.indices().binary_search(&i).is_err()) {
        return Err(EssError::IndexNotEvaluated {
            what: "marker modulation".into(),
            index: missing,
            hint: format!(
                "the baseline compares every position 1..={}, so evaluate every index (Indices::All)",
                len - 2
            ),
        });
    }
    let channels = first.channels();
    let is_marker = |t: usize| positions.contains(&t);
    let mut deltas = vec![vec![0.0; positions.len()]; channels];
    let (mut marked, mut baseline) = (Vec::new(), Vec::new());
    for p in profiles {
        for (c, row) in deltas.iter_mut().enumerate() {
            // Indices are exactly 1..L, so ESS_i sits at position i - 1.
            let v = &p.values()[c];
            for t in 1..=len - 2 {
                let d = delta(v, t, window, len);
                if is_marker(t) {
                    marked.push(d);
                } else {
                    baseline.push(d);
                }
            }
            for (k, &t) in positions.iter().enumerate() {
                row[k] += delta(v, t, window, len) / profiles.len() as f64;
            }
        }
    }
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let mean_delta = mean(&marked);
    let (baseline_mean, baseline_std) = if baseline.is_empty() {
        (None, None)
    } else {
        let m = mean(&baseline);
        let var = baseline.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / baseline.len() as f64;
        (Some(m), Some(var.sqrt()))
    };
    let z = match (baseline_mean, baseline_std) {
        (Some(m), Some(s)) if s > 0.0 => Some((mean_delta - m) / s),
        _ => None,
    };
    Ok(MarkerModulation {
        measure: first.measure(),
        positions: positions.to_vec(),
        window,
        items: profiles.len(),
        deltas,
        mean_delta,
        baseline_mean,
        baseline_std,
        z,
    })
}

/// Checks the positions and the window for sequence length `len`.
pub(crate) fn validate(positions: &[usize], window: usize, len: usize) -> Result<()> {
    if positions.is_empty() {
        return Err(EssError::param("marker positions", "the list is empty; give at least one position in 1..=L-2"));
    }
    if window == 0 {
        return Err(EssError::param("marker window", "the window must be at least 1"));
    }
    if let Some(&bad) = positions.iter().find(|&&t| t == 0 || t + 2 > len) {
        return Err(EssError::MarkerOutOfRange { position: bad, max: len.saturating_sub(2), len });
    }
    if let Some((k, &t)) = positions.iter().enumerate().find(|(k, t)| positions[..*k].contains(t)) {
        return Err(EssError::param(
            "marker positions",
            format!("position {t} is given twice (again as entry {k}); give each position once"),
        ));
    }
    Ok(())
}

/// `Δ_t` of one channel's full profile `v` (`v[i-1] = ESS_i`).
fn delta(v: &[f64], t: usize, w: usize, len: usize) -> f64 {
    let window_mean = |lo: usize, hi: usize| {
        let (lo, hi) = (lo.max(1), hi.min(len - 1));
        (lo..=hi).map(|i| v[i - 1]).sum::<f64>() / (hi + 1 - lo) as f64
    };
    window_mean(t + 1, t + w) - window_mean((t + 1).saturating_sub(w), t)
}

impl Profile {
    /// Marker (delimiter) modulation of this profile: `Δ = after − before` at each
    /// marker position `t` with window `w`, the baseline over every other position
    /// and the z-score (definitions in [`markers`](crate::ess::markers)). Needs
    /// every index `1..=L-1`.
    ///
    /// # Errors
    /// As [`marker_modulation`].
    pub fn marker_modulation(&self, positions: &[usize], window: usize) -> Result<MarkerModulation> {
        marker_modulation(std::slice::from_ref(self), positions, window)
    }
}
