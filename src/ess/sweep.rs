//! Tolerance sweeps: tolerance-ESS for many thresholds from one sweep of singular
//! values.
//!
//! For each block `H_i` the singular values are computed once; every threshold
//! `τ_k` then only counts `#{σ > threshold(τ_k)}`. Within one mode the count is
//! non-increasing in `τ` ([`crate::theory`] §2), so a sweep shows how much of a
//! count is robust structure and how much sits near the threshold.

use super::{profiles, EssOptions, Measure, Profile, Tolerance};
use crate::error::{EssError, Result};
use crate::operator::LinearOperator;

/// Tolerance-ESS at several thresholds: one [`Profile`] per threshold, in the
/// order given.
///
/// ```
/// use effective_state_size::{ess, ess::{EssOptions, Tolerance}, Dims, LtiStateSpace};
/// // Two modes with very different weights: a tight threshold sees both.
/// let op = LtiStateSpace::diagonal(&[0.9, 0.5], &[1.0, 1e-3], &[1.0, 1.0], Dims { channels: 1, len: 32, width: 2 })?;
/// let taus = [Tolerance::Relative(1e-1), Tolerance::Relative(1e-6)];
/// let sweep = ess::tolerance_sweep(&op, &taus, &EssOptions::default())?;
/// let points = sweep.points();
/// assert_eq!((points[0].max, points[1].max), (1.0, 2.0));
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ToleranceSweep {
    profiles: Vec<Profile>,
}

/// One threshold of a sweep, summarised: the statistics of tolerance-ESS over
/// channels and indices.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SweepPoint {
    /// The threshold.
    pub tolerance: Tolerance,
    /// Mean over channels and indices.
    pub mean: f64,
    /// Maximum over channels and indices.
    pub max: f64,
    /// Per-channel mean over indices.
    pub channel_mean: Vec<f64>,
}

impl ToleranceSweep {
    /// A sweep from profiles computed elsewhere (for example the batch means of
    /// [`over_operators`](super::over_operators)): each must be a tolerance-ESS
    /// profile, all of one layout.
    ///
    /// # Errors
    /// No profile (an empty sweep), a profile of another measure, or differing
    /// layouts.
    pub fn from_profiles(profiles: Vec<Profile>) -> Result<Self> {
        if profiles.is_empty() {
            return Err(EssError::empty("tolerance sweep", "give at least one tolerance"));
        }
        if let Some((k, p)) = profiles.iter().enumerate().find(|(_, p)| !matches!(p.measure(), Measure::Tolerance(_))) {
            return Err(EssError::incompatible(
                "tolerance sweep",
                format!("profile {k} is {:?}, not tolerance-ESS", p.measure()),
            ));
        }
        for p in &profiles[1..] {
            let (a, b) = (&profiles[0], p);
            if a.seq_len() != b.seq_len() || a.indices() != b.indices() || a.channels() != b.channels() {
                return Err(EssError::incompatible("tolerance sweep", "profiles of differing layouts"));
            }
        }
        Ok(Self { profiles })
    }

    /// The thresholds, in order.
    pub fn tolerances(&self) -> Vec<Tolerance> {
        self.profiles
            .iter()
            .filter_map(|p| match p.measure() {
                Measure::Tolerance(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// The profile of each threshold, in order.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Mean, maximum and per-channel mean of each threshold, in order.
    pub fn points(&self) -> Vec<SweepPoint> {
        self.tolerances()
            .into_iter()
            .zip(&self.profiles)
            .map(|(tolerance, p)| SweepPoint {
                tolerance,
                mean: p.mean(),
                max: p.max(),
                channel_mean: p.channel_means(),
            })
            .collect()
    }
}

/// Tolerance-ESS of `op` at every threshold of `tolerances`, from one sweep of
/// singular values (each block is decomposed once, whatever the number of
/// thresholds). Thresholds of different modes may be mixed.
///
/// # Errors
/// An empty list ([`EssError::Empty`]), an invalid threshold
/// ([`EssError::InvalidTolerance`]: non-positive, non-finite, or a relative one
/// outside `(0, 1)`), and every error of [`profiles`].
pub fn tolerance_sweep<O: LinearOperator + ?Sized>(
    op: &O,
    tolerances: &[Tolerance],
    opts: &EssOptions,
) -> Result<ToleranceSweep> {
    if tolerances.is_empty() {
        return Err(EssError::empty("tolerance sweep", "give at least one tolerance"));
    }
    let measures: Vec<Measure> = tolerances.iter().map(|&t| Measure::Tolerance(t)).collect();
    ToleranceSweep::from_profiles(profiles(op, &measures, opts)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ess::{profiles, EssOptions, Indices};
    use crate::FirConvolution;

    fn tol(kernels: &[[f64; 3]], len: usize, indices: Indices) -> Profile {
        let op = FirConvolution::new(kernels, len).unwrap();
        let opts = EssOptions::default().with_indices(indices);
        profiles(&op, &[Measure::Tolerance(Tolerance::Relative(1e-3))], &opts).unwrap().remove(0)
    }

    /// Each part of the layout on its own makes profiles incompatible.
    #[test]
    fn profiles_must_agree_in_length_indices_and_channels() {
        let base = tol(&[[1.0, 0.5, 0.25]], 8, Indices::List(vec![2, 4]));
        let same = tol(&[[1.0, -0.5, 0.25]], 8, Indices::List(vec![2, 4]));
        let sweep = ToleranceSweep::from_profiles(vec![base.clone(), same]).unwrap();
        // A length-3 FIR kernel has ESS 2 at i = 2 and 4 of L = 8 (k − 1, both
        // blocks at least 2 × 2), at either threshold.
        let points = sweep.points();
        assert_eq!(points.len(), 2);
        for pt in points {
            assert_eq!(pt.tolerance, Tolerance::Relative(1e-3));
            assert_eq!((pt.mean, pt.max, pt.channel_mean), (2.0, 2.0, vec![2.0]));
        }
        let longer = tol(&[[1.0, 0.5, 0.25]], 9, Indices::List(vec![2, 4]));
        let other_indices = tol(&[[1.0, 0.5, 0.25]], 8, Indices::List(vec![2, 5]));
        let two_channels = tol(&[[1.0, 0.5, 0.25], [1.0, 0.0, 0.5]], 8, Indices::List(vec![2, 4]));
        for (what, p) in [("length", longer), ("indices", other_indices), ("channels", two_channels)] {
            let err = ToleranceSweep::from_profiles(vec![base.clone(), p]).unwrap_err();
            assert!(err.to_string().contains("differing layouts"), "{what}: {err}");
        }
    }
}
