//! The two numerical forms of ESS, evaluated on the spectrum of one block.

use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use crate::spectrum::Spectrum;

/// The threshold of tolerance-ESS `#{k : σ_k > threshold}` (strictly greater, as in
/// NumPy, PyTorch and nalgebra).
///
/// ```
/// use effective_state_size::ess::Tolerance;
/// let s = [4.0, 1.0, 1e-3, 1e-20];
/// assert_eq!(Tolerance::Absolute(0.5).count(&s, (4, 4))?, 2);
/// assert_eq!(Tolerance::Relative(1e-4).count(&s, (4, 4))?, 3);
/// assert_eq!(Tolerance::NumericalRank.count(&s, (4, 4))?, 3);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Tolerance {
    /// `σ_k > τ`, with `τ > 0`. Depends on the operator's scale.
    Absolute(f64),
    /// `σ_k > τ·σ_1`, with `0 < τ < 1`. Scale-invariant; `1e-3` is a common choice
    /// for learned operators, and it should stay well above the working precision
    /// (`≥ 1e-5` in `f32`, `≥ 1e-12` in `f64`).
    Relative(f64),
    /// `σ_k > σ_1 · max(rows, cols) · ε` with `ε` the machine epsilon of the
    /// operator's scalar type: the numerical rank of LAPACK-based tools (NumPy's
    /// `matrix_rank` default).
    NumericalRank,
}

impl Tolerance {
    /// Errors unless the tolerance is finite and in its valid range.
    pub fn validate(&self) -> Result<()> {
        let bad = |value: f64, reason: &str| Err(EssError::InvalidTolerance { value, reason: reason.into() });
        match *self {
            Tolerance::Absolute(x) if !(x.is_finite() && x > 0.0) => {
                bad(x, "an absolute tolerance must be finite and > 0 (to count exact nonzeros use a tiny value such as 1e-300, knowing it counts rounding noise)")
            }
            Tolerance::Relative(x) if !(x.is_finite() && x > 0.0 && x < 1.0) => {
                bad(x, "a relative tolerance must lie in (0, 1): it multiplies the largest singular value")
            }
            _ => Ok(()),
        }
    }

    /// The name used in reports: `"absolute"`, `"relative"` or `"numerical_rank"`.
    pub fn mode_name(&self) -> &'static str {
        match self {
            Tolerance::Absolute(_) => "absolute",
            Tolerance::Relative(_) => "relative",
            Tolerance::NumericalRank => "numerical_rank",
        }
    }

    /// The value `τ`, if the mode has one.
    pub fn value(&self) -> Option<f64> {
        match *self {
            Tolerance::Absolute(x) | Tolerance::Relative(x) => Some(x),
            Tolerance::NumericalRank => None,
        }
    }

    /// Counts the singular values of a block of shape `(rows, cols)` above the
    /// threshold. `sigma` must be in descending order.
    pub fn count<T: Scalar>(&self, sigma: &[T], (rows, cols): (usize, usize)) -> Result<usize> {
        self.validate()?;
        Ok(self.count_scaled(sigma, 0, (rows, cols)))
    }

    /// Counts `σ_k = s_k·2^e > threshold` for descending `s`.
    pub(crate) fn count_scaled<T: Scalar>(&self, s: &[T], exponent: i32, (rows, cols): (usize, usize)) -> usize {
        let Some(first) = s.first() else { return 0 };
        let s1 = first.to_f64();
        let threshold = match *self {
            // τ·2^-e exactly (2f64.powi(-e) is 0 or ∞ beyond ±1023 and not exact
            // below -1022); 0 or ∞ here mean every σ_k is above or below τ.
            Tolerance::Absolute(tau) => crate::scalar::ldexp(tau, exponent.saturating_neg()),
            Tolerance::Relative(tau) => tau * s1,
            Tolerance::NumericalRank => s1 * rows.max(cols) as f64 * T::EPSILON.to_f64(),
        };
        s.iter().take_while(|x| x.to_f64() > threshold).count()
    }
}

/// Entropy-ESS of singular values `σ` (any order):
/// `exp(-Σ p_k ln p_k)` with `p_k = σ_k / Σ_j σ_j`, `0·ln 0 = 0`, and 0 when every
/// `σ_k` is 0 (Roy & Vetterli's effective rank). Scale-invariant, and
/// `1 ≤ value ≤ #{σ_k > 0}` for a nonzero block.
///
/// ```
/// use effective_state_size::ess::entropy_of;
/// assert!((entropy_of(&[2.0, 2.0, 2.0]) - 3.0).abs() < 1e-12);
/// assert_eq!(entropy_of(&[0.0f32, 0.0]), 0.0);
/// ```
pub fn entropy_of<T: Scalar>(sigma: &[T]) -> f64 {
    let max = crate::scalar::max_abs(sigma);
    if max == 0.0 || !max.is_finite() {
        return 0.0;
    }
    // Divide by the largest value first so that neither the sum nor the logs overflow.
    let sum: f64 = sigma.iter().map(|x| x.to_f64().abs() / max).sum();
    let h: f64 = sigma.iter().map(|x| x.to_f64().abs() / max / sum).filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum();
    h.exp()
}

/// Which number to compute from each block's singular values.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Measure {
    /// Entropy-ESS ([`entropy_of`]).
    Entropy,
    /// Tolerance-ESS with the given threshold.
    Tolerance(Tolerance),
}

impl Measure {
    /// The name used in reports: `"entropy"` or `"tolerance"`.
    pub fn name(&self) -> &'static str {
        match self {
            Measure::Entropy => "entropy",
            Measure::Tolerance(_) => "tolerance",
        }
    }

    /// Errors for an invalid tolerance.
    pub fn validate(&self) -> Result<()> {
        match self {
            Measure::Entropy => Ok(()),
            Measure::Tolerance(t) => t.validate(),
        }
    }

    /// The measure of one block's spectrum.
    pub fn evaluate<T: Scalar>(&self, spectrum: &Spectrum<T>) -> f64 {
        match self {
            Measure::Entropy => entropy_of(spectrum.scaled()),
            Measure::Tolerance(t) => {
                t.count_scaled(spectrum.scaled(), spectrum.exponent(), spectrum.block_shape()) as f64
            }
        }
    }

    /// A guaranteed interval `[lower, upper]` for the measure of `H_i`, given a
    /// certified spectrum (see [`Spectrum::radius`]); `[v, v]` with
    /// `v = `[`evaluate`](Self::evaluate) for an exact one.
    ///
    /// With stored values `ŝ_1 ≥ … ≥ ŝ_k`, radius `δ` and `r = min(rows, cols)`:
    /// * tolerance: the threshold `θ` lies in `[θ⁻, θ⁺]` (for relative modes
    ///   `σ_1 ∈ [ŝ_1 − δ, ŝ_1 + δ]`); `lower = #{j : ŝ_j − δ > θ⁺}` and
    ///   `upper = #{j ≤ k : ŝ_j + δ > θ⁻} + min(r − k, ⌊δ²/θ⁻²⌋)`, because the
    ///   values the approximation misses have squares summing to at most `δ²`;
    /// * entropy: with `p = σ/Σσ` and `q = ŝ/Σŝ`, Mirsky's inequality gives
    ///   `‖σ − ŝ‖₁ ≤ √r·δ`, hence `t = ½‖p − q‖₁ ≤ √r·δ/Σŝ`, and Audenaert's
    ///   continuity bound `|H(p) − H(q)| ≤ t·ln(r − 1) + h(t)` (`h` the binary
    ///   entropy, valid for `t ≤ 1 − 1/r`) brackets `exp H(p)`, clipped to `[1, r]`
    ///   (or `[0, r]` when the block may be zero).
    ///
    /// ```
    /// use effective_state_size::ess::Measure;
    /// # use effective_state_size::ess::Tolerance;
    /// // Exact spectra give a zero-width interval.
    /// let p = effective_state_size::ess::entropy(&effective_state_size::FirConvolution::new(&[[1.0, 0.5]], 8)?)?;
    /// assert_eq!(p.bounds(), None);
    /// # Ok::<(), effective_state_size::EssError>(())
    /// ```
    pub fn bounds<T: Scalar>(&self, spectrum: &Spectrum<T>) -> (f64, f64) {
        let Some(delta) = spectrum.radius() else {
            let v = self.evaluate(spectrum);
            return (v, v);
        };
        let s: Vec<f64> = spectrum.scaled().iter().map(|x| x.to_f64()).collect();
        let r = spectrum.rank_bound();
        match self {
            Measure::Tolerance(t) => {
                let (rows, cols) = spectrum.block_shape();
                t.count_bounds(&s, delta, spectrum.exponent(), (rows, cols), T::EPSILON.to_f64())
            }
            Measure::Entropy => entropy_bounds(&s, delta, r),
        }
    }
}

impl Tolerance {
    /// Bounds on the count for certified scaled values `s` (descending) with radius
    /// `delta` (see [`Measure::bounds`]).
    pub(crate) fn count_bounds(
        &self,
        s: &[f64],
        delta: f64,
        exponent: i32,
        (rows, cols): (usize, usize),
        eps: f64,
    ) -> (f64, f64) {
        let r = rows.min(cols);
        let s1 = s.first().copied().unwrap_or(0.0);
        let (s1_lo, s1_hi) = ((s1 - delta).max(0.0), s1 + delta);
        let (lo_thr, hi_thr) = match *self {
            Tolerance::Absolute(tau) => {
                let t = crate::scalar::ldexp(tau, exponent.saturating_neg());
                (t, t)
            }
            Tolerance::Relative(tau) => (tau * s1_lo, tau * s1_hi),
            Tolerance::NumericalRank => {
                let f = rows.max(cols) as f64 * eps;
                (f * s1_lo, f * s1_hi)
            }
        };
        let lower = s.iter().filter(|&&x| x - delta > hi_thr).count();
        let head = s.iter().filter(|&&x| x + delta > lo_thr).count();
        let missing = r.saturating_sub(s.len());
        let tail = if lo_thr > 0.0 {
            let q = (delta / lo_thr).powi(2);
            if q >= missing as f64 {
                missing
            } else {
                q.floor() as usize
            }
        } else if delta > 0.0 {
            missing
        } else {
            0
        };
        (lower as f64, (head + tail).min(r) as f64)
    }
}

/// Bounds on the entropy-ESS of `σ` given the scaled values `s` of a rank-`k`
/// approximation with `‖σ − s‖₂ ≤ delta` and `r` values in all (see
/// [`Measure::bounds`]).
pub(crate) fn entropy_bounds(s: &[f64], delta: f64, r: usize) -> (f64, f64) {
    let max = s.first().copied().unwrap_or(0.0);
    let may_be_zero = max <= delta;
    let floor = if may_be_zero { 0.0 } else { 1.0 };
    let r_f = r.max(1) as f64;
    let sum: f64 = s.iter().sum();
    if sum <= 0.0 || r <= 1 {
        return (if r <= 1 && !may_be_zero { 1.0 } else { 0.0 }, if r == 0 { 0.0 } else { r_f.max(floor) });
    }
    let nominal = entropy_of(s).ln();
    let t = (r_f.sqrt() * delta / sum).min(1.0);
    let b = if t <= 1.0 - 1.0 / r_f {
        let h = if t > 0.0 { -t * t.ln() - (1.0 - t) * (-t).ln_1p() } else { 0.0 };
        t * (r_f - 1.0).ln() + h
    } else {
        f64::INFINITY
    };
    // A little slack for the rounding of the nominal entropy itself.
    let b = b + 1e-12 * (1.0 + nominal.abs());
    let lo = (nominal - b).max(0.0).exp().max(floor);
    let hi = (nominal + b).min(r_f.ln()).exp().min(r_f);
    (if may_be_zero { 0.0 } else { lo.min(hi) }, hi.max(floor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::ldexp;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Descending scaled values `s_1 ∈ [0.5, 2)`, `s_k = s_1·10^-u_k` with
    /// `u_k ∈ [0, 30]`, and two exact zeros at the end.
    fn spectrum<T: Scalar>(rng: &mut StdRng, k: usize) -> Vec<T> {
        let s1: f64 = rng.random_range(0.5..2.0);
        let mut u: Vec<f64> = (0..k).map(|_| rng.random_range(0.0..30.0)).collect();
        u.sort_by(f64::total_cmp);
        u[0] = 0.0;
        let mut s: Vec<T> = u.iter().map(|&u| T::cast(s1 * 10f64.powf(-u))).collect();
        s.extend([T::zero(), T::zero()]);
        s
    }

    /// `#{k : log2 σ_k > log2 threshold}` with `σ_k = s_k·2^e`, written directly in
    /// the log domain (no scaled threshold, no overflow), or `None` when some
    /// `σ_k` lies within 1e-9 (in log2) of the threshold.
    fn direct_count<T: Scalar>(s: &[T], e: i32, log2_threshold: f64) -> Option<usize> {
        let mut count = 0;
        for x in s {
            let x = x.to_f64();
            if x == 0.0 {
                continue;
            }
            let l = x.log2() + f64::from(e);
            if (l - log2_threshold).abs() < 1e-9 {
                return None;
            }
            count += usize::from(l > log2_threshold);
        }
        Some(count)
    }

    /// The exponents tried: around the edges of both types' ranges and beyond.
    const EXPONENTS: [i32; 19] = [
        -1200, -1100, -1075, -1074, -1023, -1022, -1000, -999, -150, -126, 0, 127, 128, 999, 1000, 1023, 1024, 1100,
        1200,
    ];

    fn check_all_modes<T: Scalar>(seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut checked = 0;
        for trial in 0..40 {
            let k = rng.random_range(1..=12);
            let s = spectrum::<T>(&mut rng, k);
            let shape = (rng.random_range(1..=300), rng.random_range(1..=300));
            let log2_s1 = s[0].to_f64().log2();
            for &e in &EXPONENTS {
                let what = format!("{} trial {trial} e = {e}", T::NAME);
                // Absolute: thresholds between consecutive σ's and random ones
                // across the whole f64 range (subnormal τ included).
                let mut taus: Vec<f64> = s
                    .windows(2)
                    .filter(|w| w[1] > T::zero())
                    .map(|w| f64::from(e) + 0.5 * (w[0].to_f64().log2() + w[1].to_f64().log2()))
                    .collect();
                taus.extend((0..6).map(|_| rng.random_range(-1074.0..1023.9)));
                for log2_tau in taus {
                    let tau = log2_tau.exp2();
                    if !(tau > 0.0 && tau.is_finite()) {
                        continue;
                    }
                    let Some(expect) = direct_count(&s, e, tau.log2()) else { continue };
                    let t = Tolerance::Absolute(tau);
                    assert_eq!(t.count_scaled(&s, e, shape), expect, "{what}: absolute τ = {tau:e}");
                    // The same σ's stored with another split between s and e.
                    for k in [-40, 40] {
                        let shifted: Vec<T> = s.iter().map(|&x| ldexp(x, k)).collect();
                        assert_eq!(
                            t.count_scaled(&shifted, e - k, shape),
                            expect,
                            "{what}: absolute τ = {tau:e}, shift {k}"
                        );
                    }
                    checked += 1;
                }
                for tau in [0.5f64, 1e-3, 1e-6, 1e-9, 1e-12, 1e-15] {
                    if let Some(expect) = direct_count(&s, e, f64::from(e) + log2_s1 + tau.log2()) {
                        assert_eq!(
                            Tolerance::Relative(tau).count_scaled(&s, e, shape),
                            expect,
                            "{what}: relative {tau}"
                        );
                        checked += 1;
                    }
                }
                let log2_thr =
                    f64::from(e) + log2_s1 + (shape.0.max(shape.1) as f64).log2() + T::EPSILON.to_f64().log2();
                if let Some(expect) = direct_count(&s, e, log2_thr) {
                    assert_eq!(Tolerance::NumericalRank.count_scaled(&s, e, shape), expect, "{what}: numerical rank");
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000, "only {checked} comparisons");
    }

    #[test]
    fn tolerance_counts_at_extreme_exponents_f64() {
        check_all_modes::<f64>(11);
    }

    #[test]
    fn tolerance_counts_at_extreme_exponents_f32() {
        check_all_modes::<f32>(12);
    }

    #[test]
    fn measures_of_a_spectrum_use_its_exponent() {
        // σ = (1.5, 0.75, 3e-9)·2^1000: an absolute τ of 1e300 ≈ 2^996.6 keeps two.
        let s = Spectrum::from_parts(vec![1.5f64, 0.75, 3e-9], 1000, (4, 4));
        assert_eq!(Measure::Tolerance(Tolerance::Absolute(1e300)).evaluate(&s), 2.0);
        assert_eq!(Measure::Tolerance(Tolerance::Absolute(f64::MAX)).evaluate(&s), 0.0); // 2^1024 > σ_1
        assert_eq!(Measure::Tolerance(Tolerance::Relative(1e-6)).evaluate(&s), 2.0);
        assert_eq!(Measure::Tolerance(Tolerance::NumericalRank).evaluate(&s), 3.0);
        // 2^-1074·(1.5, …) vs the smallest τ: only values above it count.
        let s = Spectrum::from_parts(vec![1.5f64, 0.75, 0.25], -1074, (4, 4));
        assert_eq!(Measure::Tolerance(Tolerance::Absolute(f64::from_bits(1))).evaluate(&s), 1.0);
        let s = Spectrum::from_parts(vec![1.5f32, 0.75], -2000, (2, 2));
        assert_eq!(Measure::Tolerance(Tolerance::Absolute(f64::from_bits(1))).evaluate(&s), 0.0);
        let s = Spectrum::from_parts(vec![1.5f32, 1e-30], 2000, (2, 2));
        assert_eq!(Measure::Tolerance(Tolerance::Absolute(f64::MAX)).evaluate(&s), 2.0);
        // Entropy is scale-free.
        let a = Spectrum::from_parts(vec![1.0f64, 0.5, 0.25], -1100, (3, 3));
        let b = Spectrum::from_parts(vec![1.0f64, 0.5, 0.25], 1100, (3, 3));
        assert_eq!(Measure::Entropy.evaluate(&a), Measure::Entropy.evaluate(&b));
    }

    #[test]
    fn measure_names_are_the_report_keys() {
        assert_eq!(Measure::Entropy.name(), "entropy");
        assert_eq!(Measure::Tolerance(Tolerance::Relative(1e-3)).name(), "tolerance");
        assert_eq!(Measure::Tolerance(Tolerance::NumericalRank).name(), "tolerance");
    }

    /// `count_bounds` by hand: `lower = #{s_j − δ > θ⁺}`, `upper = #{s_j + δ > θ⁻}`
    /// plus `min(r − k, ⌊δ²/θ⁻²⌋)` for the values the approximation misses, with
    /// `θ± = τ·(s_1 ± δ)` (relative), `θ± = τ·2^-e` (absolute) or
    /// `max(rows, cols)·ε·(s_1 ± δ)` (numerical rank).
    #[test]
    fn count_bounds_by_hand() {
        let rel = Tolerance::Relative(0.1);
        // θ⁻ = 0.099, θ⁺ = 0.101: 0.11 − δ = 0.10 ≤ θ⁺ (not certain), 0.09 + δ = 0.10 > θ⁻.
        assert_eq!(rel.count_bounds(&[1.0, 0.5, 0.11, 0.09], 0.01, 0, (4, 4), f64::EPSILON), (2.0, 4.0));
        // Exact binary ties: x − δ = θ and x + δ = θ are not above it.
        let abs = Tolerance::Absolute(0.5);
        assert_eq!(abs.count_bounds(&[1.0, 0.75, 0.25], 0.25, 0, (3, 3), f64::EPSILON), (1.0, 2.0));
        // The absolute threshold is in the spectrum's scale: 2^-e·τ.
        assert_eq!(abs.count_bounds(&[1.0, 0.75, 0.25], 0.0, 2, (3, 3), f64::EPSILON), (3.0, 3.0));
        // Missing values: r − k = 2 of them, at most ⌊δ²/θ⁻²⌋ can exceed θ⁻.
        let tau = Tolerance::Absolute(0.25);
        assert_eq!(tau.count_bounds(&[1.0, 0.5], 0.1, 0, (4, 4), f64::EPSILON), (2.0, 2.0)); // ⌊0.16⌋ = 0
        assert_eq!(tau.count_bounds(&[1.0, 0.5], 0.3, 0, (4, 4), f64::EPSILON), (1.0, 3.0)); // ⌊1.44⌋ = 1
        assert_eq!(tau.count_bounds(&[1.0, 0.5], 0.6, 0, (4, 4), f64::EPSILON), (1.0, 4.0)); // ⌊5.76⌋ ≥ 2
                                                                                             // A zero threshold: every missing value may count when δ > 0, none when δ = 0.
        assert_eq!(rel.count_bounds(&[0.0, 0.0], 0.0, 0, (4, 4), f64::EPSILON), (0.0, 0.0));
        assert_eq!(rel.count_bounds(&[0.0, 0.0], 0.5, 0, (4, 4), f64::EPSILON), (0.0, 4.0));
        // Numerical rank: θ± = max(rows, cols)·ε·(s_1 ± δ), here ε = 2^-4 and 8 × 2 blocks.
        let nr = Tolerance::NumericalRank;
        // θ⁻ = 0.5·(1 − 0.125) = 0.4375, θ⁺ = 0.5·1.125 = 0.5625.
        assert_eq!(nr.count_bounds(&[1.0, 0.5], 0.125, 0, (8, 2), 0.0625), (1.0, 2.0));
        assert_eq!(nr.count_bounds(&[1.0, 0.3], 0.125, 0, (8, 2), 0.0625), (1.0, 1.0));
        // 0.375 + δ = 0.5 lies between θ⁻ = 0.4375 and 0.5/0.875: it may count.
        assert_eq!(nr.count_bounds(&[1.0, 0.375], 0.125, 0, (8, 2), 0.0625), (1.0, 2.0));
    }

    #[test]
    fn entropy_bounds_by_hand() {
        // Exact (δ = 0): both ends are exp(H) of the values.
        let (lo, hi) = entropy_bounds(&[1.0, 1.0], 0.0, 2);
        assert!((lo - 2.0).abs() < 1e-9 && (hi - 2.0).abs() < 1e-9, "{lo} {hi}");
        // ... widened by the rounding slack 1e-12·(1 + H) in log terms (the upper
        // end clipped at ln r), so the exact value 2 lies inside.
        assert!(lo < 2.0 && 2.0 <= hi, "{lo} {hi}");
        let slack = 1e-12 * (1.0 + 2f64.ln());
        assert!(((hi / lo).ln() - slack).abs() < 1e-14, "{lo} {hi}");
        // Beyond the bound's range (t > 1 − 1/r) nothing is known but [1, r].
        let delta = 0.7 * 1.5 / 2f64.sqrt(); // t = √2·δ/1.5 = 0.7 > 1/2
        assert_eq!(entropy_bounds(&[1.0, 0.5], delta, 2), (1.0, 2.0));
        // One value that may be zero (s_1 ≤ δ): [0, 1]; one that cannot: [1, 1].
        assert_eq!(entropy_bounds(&[0.1], 0.2, 1), (0.0, 1.0));
        assert_eq!(entropy_bounds(&[0.5], 0.2, 1), (1.0, 1.0));
        // Nothing nonzero: [0, r].
        assert_eq!(entropy_bounds(&[0.0, 0.0], 0.5, 3), (0.0, 3.0));
        // Audenaert: |H − H'| ≤ t·ln(r − 1) + h(t), t = √r·δ/Σs ≤ 1 − 1/r.
        let (s, delta, r) = ([1.0, 0.5, 0.25], 0.01, 3usize);
        let t = (r as f64).sqrt() * delta / 1.75;
        let b = t * 2f64.ln() - t * t.ln() - (1.0 - t) * (1.0 - t).ln();
        let p: Vec<f64> = s.iter().map(|x| x / 1.75).collect();
        let h: f64 = -p.iter().map(|p| p * p.ln()).sum::<f64>();
        let (lo, hi) = entropy_bounds(&s, delta, r);
        assert!((lo - (h - b).exp()).abs() < 1e-9 && (hi - (h + b).exp()).abs() < 1e-9, "{lo} {hi}");
        // The same three values of a rank-100 block: t = 0.02 lies between 1/r and
        // 1 − 1/r, where the bound still applies, with ln(r − 1) = ln 99.
        let (r, t) = (100usize, 0.02);
        let delta = t * 1.75 / 10.0;
        let b = t * 99f64.ln() - t * t.ln() - (1.0 - t) * (1.0 - t).ln();
        let (lo, hi) = entropy_bounds(&s, delta, r);
        assert!((lo - (h - b).exp()).abs() < 1e-9 && (hi - (h + b).exp()).abs() < 1e-9, "{lo} {hi}");
    }
}
