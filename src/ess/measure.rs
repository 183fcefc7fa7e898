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
            Tolerance::Absolute(tau) => tau * 2f64.powi(-exponent),
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
    let max = sigma.iter().fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
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
}
