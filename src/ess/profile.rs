//! ESS profiles and their aggregates ([`crate::theory`] §4).

use super::Measure;
use crate::error::{EssError, Result};
use crate::operator::BlockShape;

/// Which algorithm produced a profile (what [`Method::Auto`](super::Method::Auto) resolved to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ComputedBy {
    /// Singular values of blocks of the materialised `T` (`O(L⁴)` per channel).
    Dense,
    /// Square-root Gramian factors of a state realization (`O(L·N³)` per channel).
    Structured,
    /// Certified low-rank approximations ([`Method::LowRank`](super::Method::LowRank)):
    /// the values carry guaranteed intervals ([`Profile::bounds`]).
    #[cfg_attr(feature = "serde", serde(rename = "lowrank"))]
    LowRank,
}

impl ComputedBy {
    /// `"dense"`, `"structured"` or `"lowrank"`.
    pub fn name(&self) -> &'static str {
        match self {
            ComputedBy::Dense => "dense",
            ComputedBy::Structured => "structured",
            ComputedBy::LowRank => "lowrank",
        }
    }
}

/// ESS values of every channel at the evaluated indices, with aggregates.
///
/// `values[c][j]` is the ESS of channel `c` at index `indices[j]`. Aggregates follow
/// [`crate::theory`] §4: per channel the mean and max over indices; across channels the
/// *average ESS* (mean) and the *total ESS* (sum, which is the ESS of the
/// block-diagonal multi-channel operator for tolerance-ESS); utilization is
/// `ESS / TSS`.
///
/// ```
/// use effective_state_size::{ess, DenseOperator, BlockShape};
/// use nalgebra::DMatrix;
/// let lower = |k: f64| DMatrix::from_fn(4, 4, |r, c| if c < r { k * (r * c + 1) as f64 } else { 0.0 });
/// let op = DenseOperator::new(vec![lower(1.0), lower(2.0)], BlockShape::SISO)?;
/// let p = ess::tolerance(&op, ess::Tolerance::Relative(1e-9))?;
/// assert_eq!(p.indices(), &[1, 2, 3]);
/// assert_eq!(p.total(), vec![2.0, 4.0, 2.0]);
/// assert_eq!(p.average(), vec![1.0, 2.0, 1.0]);
/// assert_eq!(p.channel_max(1)?, 2.0);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
///
/// With the cargo feature `serde`, a profile serialises as an object with the
/// fields `seq_len`, `block`, `indices`, `measure`, `computed_by`, `tss` and
/// `values` (plus `bounds` for a low-rank profile); deserialising validates it like
/// [`from_values`](Self::from_values).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "serde_impl::RawProfile"))]
pub struct Profile {
    pub(crate) seq_len: usize,
    pub(crate) block: BlockShape,
    pub(crate) indices: Vec<usize>,
    pub(crate) measure: Measure,
    pub(crate) computed_by: ComputedBy,
    pub(crate) tss: Option<usize>,
    pub(crate) values: Vec<Vec<f64>>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub(crate) bounds: Option<Vec<Vec<[f64; 2]>>>,
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;

    /// The serialised form, validated on the way in.
    #[derive(serde::Deserialize)]
    pub(super) struct RawProfile {
        seq_len: usize,
        block: BlockShape,
        indices: Vec<usize>,
        measure: Measure,
        computed_by: ComputedBy,
        tss: Option<usize>,
        values: Vec<Vec<f64>>,
        #[serde(default)]
        bounds: Option<Vec<Vec<[f64; 2]>>>,
    }

    impl TryFrom<RawProfile> for Profile {
        type Error = EssError;
        fn try_from(r: RawProfile) -> Result<Self> {
            let p = Profile::from_values(r.seq_len, r.indices, r.measure, r.computed_by, r.tss, r.values)?
                .with_block_shape(r.block)?;
            match r.bounds {
                Some(b) => p.with_bounds(b),
                None => Ok(p),
            }
        }
    }
}

impl Profile {
    /// Assembles a profile from values computed elsewhere (for example chunk by
    /// chunk): `values[c][j]` is the value of channel `c` at `indices[j]`.
    ///
    /// The block shape is `1 × 1` (SISO); set another with
    /// [`with_block_shape`](Self::with_block_shape).
    ///
    /// # Errors
    /// Indices that are not ascending and within `1..seq_len`, an invalid
    /// tolerance, no channels, or a channel whose length differs from `indices`.
    pub fn from_values(
        seq_len: usize,
        indices: Vec<usize>,
        measure: Measure,
        computed_by: ComputedBy,
        tss: Option<usize>,
        values: Vec<Vec<f64>>,
    ) -> Result<Self> {
        measure.validate()?;
        let resolved = super::Indices::List(indices.clone()).resolve(seq_len)?;
        if resolved != indices {
            return Err(EssError::param("profile indices", "indices must be strictly ascending"));
        }
        if values.is_empty() {
            return Err(EssError::empty("profile values", "give at least one channel"));
        }
        if let Some((c, v)) = values.iter().enumerate().find(|(_, v)| v.len() != indices.len()) {
            return Err(EssError::shape(
                format!("values of channel {c}"),
                format!("{} values", indices.len()),
                format!("{} values", v.len()),
            ));
        }
        Ok(Self { seq_len, block: BlockShape::SISO, indices, measure, computed_by, tss, values, bounds: None })
    }

    /// The same profile with guaranteed intervals `bounds[c][j] = [lower, upper]`
    /// (as [`Method::LowRank`](super::Method::LowRank) reports them).
    ///
    /// # Errors
    /// A shape that differs from the values', or an interval that is not finite,
    /// ordered and around its value.
    pub fn with_bounds(mut self, bounds: Vec<Vec<[f64; 2]>>) -> Result<Self> {
        if bounds.len() != self.values.len() || bounds.iter().zip(&self.values).any(|(b, v)| b.len() != v.len()) {
            return Err(EssError::shape(
                "profile bounds",
                format!("{} channels of {} intervals", self.values.len(), self.indices.len()),
                format!("{} channels", bounds.len()),
            ));
        }
        for (c, (b, v)) in bounds.iter().zip(&self.values).enumerate() {
            if let Some(j) =
                b.iter().zip(v).position(|(&[lo, hi], &x)| !(lo.is_finite() && hi.is_finite() && lo <= x && x <= hi))
            {
                return Err(EssError::param(
                    "profile bounds",
                    format!(
                        "channel {c}, index {}: [{}, {}] does not contain the value {}",
                        self.indices[j], b[j][0], b[j][1], v[j]
                    ),
                ));
            }
        }
        self.bounds = Some(bounds);
        Ok(self)
    }

    /// Guaranteed intervals `[lower, upper]` of every value, `[channel][index
    /// position]`, when the profile was computed by
    /// [`Method::LowRank`](super::Method::LowRank); `None` for the dense and
    /// structured paths, whose values are exact up to rounding.
    ///
    /// An interval of width 0 for a tolerance profile means the count is certain;
    /// for entropy the width is what the method reached (see
    /// [`EssOptions::with_interval_width`](super::EssOptions::with_interval_width)).
    pub fn bounds(&self) -> Option<&[Vec<[f64; 2]>]> {
        self.bounds.as_deref()
    }
    /// Lower ends of the intervals of one channel (the values themselves when the
    /// profile has no intervals).
    pub fn lower(&self, channel: usize) -> Result<Vec<f64>> {
        self.end(channel, 0)
    }
    /// Upper ends of the intervals of one channel (the values themselves when the
    /// profile has no intervals).
    pub fn upper(&self, channel: usize) -> Result<Vec<f64>> {
        self.end(channel, 1)
    }
    fn end(&self, channel: usize, k: usize) -> Result<Vec<f64>> {
        let v = self.try_channel(channel)?;
        Ok(match &self.bounds {
            Some(b) => b[channel].iter().map(|x| x[k]).collect(),
            None => v.to_vec(),
        })
    }
    /// Whether each value of one channel is *ambiguous*: for tolerance-ESS, a
    /// singular value may lie on either side of the threshold (lower ≠ upper);
    /// for entropy-ESS, the interval is wider than `width` relative to its lower
    /// end. All `false` without intervals.
    pub fn ambiguous(&self, channel: usize, width: f64) -> Result<Vec<bool>> {
        let (lo, hi) = (self.lower(channel)?, self.upper(channel)?);
        Ok(lo
            .iter()
            .zip(&hi)
            .map(|(&l, &h)| match self.measure {
                Measure::Entropy => h - l > width * l.max(f64::MIN_POSITIVE),
                _ => l != h,
            })
            .collect())
    }

    /// The same profile for an operator with blocks `p × m` (what
    /// [`normalized`](Self::normalized) divides by depends on it).
    ///
    /// # Errors
    /// A zero `p` or `m`.
    pub fn with_block_shape(mut self, block: BlockShape) -> Result<Self> {
        if block.outputs == 0 || block.inputs == 0 {
            return Err(EssError::param(
                "block shape",
                format!("{}×{}: outputs and inputs per step must be at least 1", block.outputs, block.inputs),
            ));
        }
        self.block = block;
        Ok(self)
    }

    /// Sequence length `L`.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }
    /// The evaluated indices `i` (ascending).
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
    /// Block shape `p × m` of the operator.
    pub fn block_shape(&self) -> BlockShape {
        self.block
    }
    /// The measure these values are.
    pub fn measure(&self) -> Measure {
        self.measure
    }
    /// Which path produced the values.
    pub fn computed_by(&self) -> ComputedBy {
        self.computed_by
    }
    /// The operator's theoretical state size, if it has a fixed one.
    pub fn tss(&self) -> Option<usize> {
        self.tss
    }
    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.values.len()
    }
    /// All values, `[channel][index position]`.
    pub fn values(&self) -> &[Vec<f64>] {
        &self.values
    }
    /// The profile of one channel, aligned with [`indices`](Self::indices).
    ///
    /// # Panics
    /// If `channel >= channels()`; see [`try_channel`](Self::try_channel).
    pub fn channel(&self, channel: usize) -> &[f64] {
        &self.values[channel]
    }
    /// The profile of one channel, or an error for a channel out of range.
    pub fn try_channel(&self, channel: usize) -> Result<&[f64]> {
        self.values
            .get(channel)
            .map(Vec::as_slice)
            .ok_or(EssError::ChannelOutOfRange { channel, channels: self.values.len() })
    }
    /// ESS of `channel` at index `i`, if `i` was evaluated.
    pub fn at(&self, channel: usize, i: usize) -> Option<f64> {
        let j = self.indices.binary_search(&i).ok()?;
        self.values.get(channel).map(|v| v[j])
    }
    /// Mean over the evaluated indices of one channel.
    pub fn channel_mean(&self, channel: usize) -> Result<f64> {
        let v = self.try_channel(channel)?;
        Ok(v.iter().sum::<f64>() / v.len() as f64)
    }
    /// Maximum over the evaluated indices of one channel.
    pub fn channel_max(&self, channel: usize) -> Result<f64> {
        Ok(self.try_channel(channel)?.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    }
    /// Per-channel means over indices.
    pub fn channel_means(&self) -> Vec<f64> {
        (0..self.channels()).map(|c| self.channel_mean(c).unwrap_or(f64::NAN)).collect()
    }
    /// Per-channel maxima over indices.
    pub fn channel_maxes(&self) -> Vec<f64> {
        (0..self.channels()).map(|c| self.channel_max(c).unwrap_or(f64::NAN)).collect()
    }
    /// *Average ESS* at each index: the mean over channels.
    pub fn average(&self) -> Vec<f64> {
        let c = self.channels() as f64;
        self.total().into_iter().map(|s| s / c).collect()
    }
    /// *Total ESS* at each index: the sum over channels.
    pub fn total(&self) -> Vec<f64> {
        (0..self.indices.len()).map(|j| self.values.iter().map(|v| v[j]).sum()).collect()
    }
    /// Mean over channels and indices (the mean of [`average`](Self::average)).
    pub fn mean(&self) -> f64 {
        let a = self.average();
        a.iter().sum::<f64>() / a.len() as f64
    }
    /// Maximum over channels and indices.
    pub fn max(&self) -> f64 {
        self.values.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max)
    }
    /// Utilization `ESS / TSS` per channel and index, against `tss`.
    ///
    /// Near 1 means state saturation; far below 1 with a failing task suggests state
    /// collapse.
    pub fn utilization(&self, tss: f64) -> Result<Vec<Vec<f64>>> {
        if !(tss.is_finite() && tss > 0.0) {
            return Err(EssError::param("TSS", format!("{tss}: the theoretical state size must be finite and > 0")));
        }
        Ok(self.values.iter().map(|v| v.iter().map(|x| x / tss).collect()).collect())
    }
    /// Boundary-normalised ESS: `ESS_i / min(p·(L−i), m·i)` per channel and index.
    ///
    /// `min(p·(L−i), m·i)` is the largest rank the shape of `H_i` allows
    /// ([`crate::theory`] §2), so the value is the fraction of the rank that the cut
    /// permits which the operator uses, in `[0, 1]` for tolerance- and entropy-ESS.
    /// It separates the boundary taper (every profile falls towards both ends
    /// because the bound does) from the operator's memory.
    ///
    /// ```
    /// use effective_state_size::{ess, FirConvolution};
    /// // A length-4 FIR kernel: ESS_i = min(3, i, L-i).
    /// let op = FirConvolution::new(&[[1.0, -0.5, 0.25, 0.125]], 8)?;
    /// let p = ess::tolerance(&op, ess::Tolerance::NumericalRank)?;
    /// assert_eq!(p.channel(0), &[1.0, 2.0, 3.0, 3.0, 3.0, 2.0, 1.0]);
    /// // bound min(8 - i, i) = 1, 2, 3, 4, 3, 2, 1
    /// assert_eq!(p.normalized()[0], vec![1.0, 1.0, 1.0, 0.75, 1.0, 1.0, 1.0]);
    /// assert_eq!(p.normalized_mean(), 6.75 / 7.0);
    /// # Ok::<(), effective_state_size::EssError>(())
    /// ```
    pub fn normalized(&self) -> Vec<Vec<f64>> {
        let bounds: Vec<f64> = self.indices.iter().map(|&i| self.rank_bound(i) as f64).collect();
        self.values.iter().map(|v| v.iter().zip(&bounds).map(|(x, b)| x / b).collect()).collect()
    }
    /// Mean of [`normalized`](Self::normalized) over channels and indices.
    pub fn normalized_mean(&self) -> f64 {
        let n = self.normalized();
        let count = n.iter().map(Vec::len).sum::<usize>() as f64;
        n.iter().flatten().sum::<f64>() / count
    }
    /// `min(p·(L−i), m·i)`, the largest rank of `H_i` (at least 1 for `1 ≤ i < L`).
    pub(crate) fn rank_bound(&self, i: usize) -> usize {
        let (rows, cols) = self.block.hankel_shape(self.seq_len, i);
        rows.min(cols).max(1)
    }
    /// Mean utilization: [`mean`](Self::mean) / `tss`.
    pub fn mean_utilization(&self, tss: f64) -> Result<f64> {
        self.utilization(tss)?;
        Ok(self.mean() / tss)
    }
    /// Peak utilization: [`max`](Self::max) / `tss`.
    pub fn max_utilization(&self, tss: f64) -> Result<f64> {
        self.utilization(tss)?;
        Ok(self.max() / tss)
    }
}

/// Approximate equality of profiles (same length, indices, measure and channel
/// count; values within `epsilon` absolute), e.g. to compare an `f32` run with an
/// `f64` run or the dense path with the structured one.
///
/// ```
/// use approx::assert_relative_eq;
/// use effective_state_size::{ess, ess::{EssOptions, Measure, Method}, Dims, LtiStateSpace};
/// let op = LtiStateSpace::diagonal(&[0.9, 0.4], &[1.0, 1.0], &[1.0, -0.5], Dims { channels: 1, len: 32, width: 2 })?;
/// let dense = ess::profile(&op, Measure::Entropy, &EssOptions::default().with_method(Method::Dense))?;
/// let fast = ess::profile(&op, Measure::Entropy, &EssOptions::default().with_method(Method::Structured))?;
/// assert_relative_eq!(dense, fast, max_relative = 1e-9);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
impl approx::AbsDiffEq for Profile {
    type Epsilon = f64;
    fn default_epsilon() -> f64 {
        f64::EPSILON
    }
    fn abs_diff_eq(&self, other: &Self, epsilon: f64) -> bool {
        self.same_layout(other)
            && self.values.iter().flatten().zip(other.values.iter().flatten()).all(|(a, b)| a.abs_diff_eq(b, epsilon))
    }
}

/// Relative comparison of the values, for [`approx::assert_relative_eq!`].
impl approx::RelativeEq for Profile {
    fn default_max_relative() -> f64 {
        f64::EPSILON
    }
    fn relative_eq(&self, other: &Self, epsilon: f64, max_relative: f64) -> bool {
        self.same_layout(other)
            && self
                .values
                .iter()
                .flatten()
                .zip(other.values.iter().flatten())
                .all(|(a, b)| a.relative_eq(b, epsilon, max_relative))
    }
}

impl Profile {
    /// Same length, indices, measure and channel count (the path may differ).
    fn same_layout(&self, other: &Self) -> bool {
        self.seq_len == other.seq_len
            && self.block == other.block
            && self.indices == other.indices
            && self.measure == other.measure
            && self.values.len() == other.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_channels() -> Profile {
        Profile::from_values(
            6,
            vec![1, 3, 5],
            Measure::Entropy,
            ComputedBy::LowRank,
            None,
            vec![vec![1.0, 2.5, 1.5], vec![1.0, 1.0, 1.25]],
        )
        .unwrap()
    }

    /// Intervals must be finite and contain their value (endpoints included).
    #[test]
    fn with_bounds_accepts_intervals_around_each_value_and_nothing_else() {
        let ok = vec![vec![[1.0, 1.0], [2.0, 3.0], [1.5, 1.75]], vec![[0.5, 1.0], [1.0, 1.5], [1.0, 2.0]]];
        let p = two_channels().with_bounds(ok).unwrap();
        assert_eq!(p.lower(0).unwrap(), [1.0, 2.0, 1.5]);
        assert_eq!(p.upper(1).unwrap(), [1.0, 1.5, 2.0]);
        for bad in [[2.6, 3.0], [2.0, 2.4], [f64::NAN, 3.0], [2.0, f64::INFINITY], [3.0, 2.0]] {
            let b = vec![vec![[1.0, 1.0], bad, [1.5, 1.5]], vec![[1.0, 1.0]; 3]];
            let err = two_channels().with_bounds(b).unwrap_err().to_string();
            assert!(err.contains("channel 0, index 3"), "{bad:?}: {err}");
        }
        // Shape errors with intervals that hold their values: a channel one
        // interval short, and one channel missing.
        let exact = vec![[1.0, 1.0], [2.5, 2.5], [1.5, 1.5]];
        let short = vec![exact.clone(), vec![[1.0, 1.0]; 2]];
        let err = two_channels().with_bounds(short).unwrap_err();
        assert!(matches!(err, EssError::ShapeMismatch { .. }), "{err}");
        let err = two_channels().with_bounds(vec![exact]).unwrap_err();
        assert!(matches!(err, EssError::ShapeMismatch { .. }), "{err}");
    }

    /// An entropy value is ambiguous when its interval is wider than `width`
    /// times its lower end (`[2, 2.1]`: width 0.1 = 0.05·2, ambiguous for
    /// `width < 0.05`); a tolerance count when its ends differ at all; nothing
    /// without intervals.
    #[test]
    fn ambiguous_compares_the_width_with_the_lower_end() {
        let bounds = vec![vec![[1.0, 1.0], [2.0, 2.6], [1.5, 1.5]], vec![[1.0, 1.0], [1.0, 1.01], [1.0, 2.0]]];
        let p = two_channels().with_bounds(bounds).unwrap();
        // Channel 0, index 3: 0.6 = 0.3·2 (an absolute width, or one relative to
        // 1/2 = 0.5, would put it at 0.6 or 1.2).
        assert_eq!(p.ambiguous(0, 0.29).unwrap(), [false, true, false]);
        assert_eq!(p.ambiguous(0, 0.31).unwrap(), [false, false, false]);
        assert_eq!(p.ambiguous(0, 0.5).unwrap(), [false, false, false]);
        // Channel 1: widths 0, 0.01 and 1 over a lower end of 1.
        assert_eq!(p.ambiguous(1, 0.0).unwrap(), [false, true, true]);
        assert_eq!(p.ambiguous(1, 0.02).unwrap(), [false, false, true]);
        assert_eq!(two_channels().ambiguous(1, 0.0).unwrap(), [false; 3]);
        let tolerance = Measure::Tolerance(crate::ess::Tolerance::Relative(1e-3));
        let counts =
            Profile::from_values(6, vec![1, 3, 5], tolerance, ComputedBy::LowRank, None, vec![vec![1.0, 2.0, 2.0]])
                .unwrap()
                .with_bounds(vec![vec![[1.0, 1.0], [2.0, 3.0], [2.0, 2.0]]])
                .unwrap();
        assert_eq!(counts.ambiguous(0, 10.0).unwrap(), [false, true, false]);
    }

    /// `approx`'s default tolerances are one ulp-sized ε: values that differ by
    /// less are equal, by more are not.
    #[test]
    fn approx_defaults_are_machine_epsilon() {
        use approx::{AbsDiffEq, RelativeEq};
        assert_eq!(<Profile as AbsDiffEq>::default_epsilon(), f64::EPSILON);
        assert_eq!(<Profile as RelativeEq>::default_max_relative(), f64::EPSILON);
        let (a, mut b) = (two_channels(), two_channels());
        b.values[1][0] += 0.5 * f64::EPSILON;
        assert!(a.abs_diff_eq(&b, <Profile as AbsDiffEq>::default_epsilon()));
        b.values[1][0] += 2.0 * f64::EPSILON;
        assert!(!a.abs_diff_eq(&b, <Profile as AbsDiffEq>::default_epsilon()));
        // The relative comparison looks at the values too, not only the layout.
        assert!(a.relative_eq(&a.clone(), f64::EPSILON, f64::EPSILON));
        assert!(!a.relative_eq(&b, f64::EPSILON, f64::EPSILON));
        assert!(a.relative_eq(&b, f64::EPSILON, 1e-12));
        // Same values and length, another measure or other indices: not equal.
        let values = vec![vec![1.0, 2.5, 1.5], vec![1.0, 1.0, 1.25]];
        let tolerance = Measure::Tolerance(crate::ess::Tolerance::Relative(1e-3));
        let other_measure =
            Profile::from_values(6, vec![1, 3, 5], tolerance, ComputedBy::LowRank, None, values.clone());
        let other_indices = Profile::from_values(6, vec![1, 2, 5], Measure::Entropy, ComputedBy::LowRank, None, values);
        for other in [other_measure.unwrap(), other_indices.unwrap()] {
            assert!(!a.abs_diff_eq(&other, 1.0));
            assert!(!a.relative_eq(&other, 1.0, 1.0));
        }
    }
}
