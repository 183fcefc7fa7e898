//! The crate's scalar trait: the floating-point types ESS can be computed in.
//!
//! [`Scalar`] is implemented for `f32` and `f64`. It bundles nalgebra's
//! [`nalgebra::RealField`] (so matrices of it can be factorised) with the
//! few conversions the crate needs, and is sealed: the numerical thresholds used
//! throughout (for example [`Tolerance::NumericalRank`](crate::ess::Tolerance)) depend on
//! the machine epsilon of a known IEEE type.

use crate::error::Result;
use crate::spectrum::SvdBackend;
use nalgebra::{DMatrix, RealField};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A real IEEE floating-point type: `f32` or `f64`.
///
/// Everything in the crate is generic over it. Results computed in `f32` agree with
/// those computed in `f64` to within `f32` precision (see `tests/suite/scalar.rs`).
///
/// ```
/// use effective_state_size::Scalar;
/// assert_eq!(<f32 as Scalar>::EPSILON, f32::EPSILON);
/// assert_eq!(f64::cast(0.5).to_f64(), 0.5);
/// ```
pub trait Scalar:
    RealField + Copy + Send + Sync + std::fmt::Debug + std::fmt::Display + sealed::Sealed + 'static
{
    /// Machine epsilon `ε` (distance from 1 to the next larger number).
    const EPSILON: Self;
    /// The largest finite value.
    const LARGEST: Self;
    /// The type's name, `"f32"` or `"f64"`, for messages.
    const NAME: &'static str;
    /// Converts from `f64`, rounding to nearest.
    fn cast(x: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// `true` unless the value is NaN or ±∞.
    fn is_finite_value(self) -> bool;
    /// The singular values of `block` from `backend`, dispatched to the backend's
    /// method for this type (so that [`SvdBackend`] stays object-safe).
    fn singular_values_by(backend: &dyn SvdBackend, block: DMatrix<Self>) -> Result<Vec<Self>>;
    /// The singular values of two blocks from `backend` (its pair method for
    /// this type).
    fn singular_value_pairs_by(
        backend: &dyn SvdBackend,
        a: DMatrix<Self>,
        b: DMatrix<Self>,
    ) -> Result<(Vec<Self>, Vec<Self>)>;
}

macro_rules! impl_scalar {
    ($t:ty, $svd:ident, $pair:ident) => {
        impl Scalar for $t {
            const EPSILON: Self = <$t>::EPSILON;
            const LARGEST: Self = <$t>::MAX;
            const NAME: &'static str = stringify!($t);
            fn cast(x: f64) -> Self {
                // f64 → f32 rounds to nearest (overflowing to ±∞), f64 → f64 is exact.
                num_traits::AsPrimitive::<$t>::as_(x)
            }
            fn to_f64(self) -> f64 {
                num_traits::AsPrimitive::<f64>::as_(self)
            }
            fn is_finite_value(self) -> bool {
                num_traits::Float::is_finite(self)
            }
            fn singular_values_by(backend: &dyn SvdBackend, block: DMatrix<Self>) -> Result<Vec<Self>> {
                backend.$svd(block)
            }
            fn singular_value_pairs_by(
                backend: &dyn SvdBackend,
                a: DMatrix<Self>,
                b: DMatrix<Self>,
            ) -> Result<(Vec<Self>, Vec<Self>)> {
                backend.$pair(a, b)
            }
        }
    };
}

impl_scalar!(f32, singular_values_f32, singular_values_pair_f32);
impl_scalar!(f64, singular_values_f64, singular_values_pair_f64);

/// The exponents `k` for which `2^k` is a normal number of `T`: `-126..=127` in
/// `f32`, `-1022..=1023` in `f64`.
#[inline]
pub(crate) fn normal_exponents<T: Scalar>() -> (i32, i32) {
    // `Scalar` is sealed: f32 is the only 4-byte implementation.
    if std::mem::size_of::<T>() == 4 {
        (f32::MIN_EXP - 1, f32::MAX_EXP - 1)
    } else {
        (f64::MIN_EXP - 1, f64::MAX_EXP - 1)
    }
}

/// `(lo, hi)` with `2^lo` the smallest positive (subnormal) value of `T` and
/// `2^hi` its largest power of two: `(-149, 127)` in `f32`, `(-1074, 1023)` in `f64`.
pub(crate) fn exponent_range<T: Scalar>() -> (i32, i32) {
    let (lo, hi) = normal_exponents::<T>();
    let digits = if std::mem::size_of::<T>() == 4 { f32::MANTISSA_DIGITS } else { f64::MANTISSA_DIGITS };
    (lo - (digits as i32 - 1), hi)
}

/// `2^k` as an `f64`, for `k` in `-1022..=1023` (built from its bits: exact).
#[inline]
fn pow2_f64(k: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `2^k` if it is a normal number of `T`, so that `x * pow2(k)` is `x · 2^k`
/// correctly rounded (exact unless the result is subnormal).
#[inline]
pub(crate) fn pow2<T: Scalar>(k: i32) -> Option<T> {
    let (lo, hi) = normal_exponents::<T>();
    (lo..=hi).contains(&k).then(|| T::cast(pow2_f64(k)))
}

/// `x · 2^k`: one multiplication when `2^k` is a normal number of `T`, otherwise
/// a few (exact unless the result overflows or underflows; stops early at 0 or ∞).
pub(crate) fn ldexp<T: Scalar>(mut x: T, mut k: i32) -> T {
    let (lo, hi) = normal_exponents::<T>();
    while k != 0 && x != T::zero() && x.is_finite_value() {
        let step = k.clamp(lo, hi);
        x *= T::cast(pow2_f64(step));
        k -= step;
    }
    x
}

/// The exponent `e` with `max_abs · 2^-e` in `[0.5, 1)` (read from the bits, so
/// exact for every finite value including subnormals); 0 for 0 or a non-finite
/// value.
#[inline]
pub(crate) fn exponent_of(max_abs: f64) -> i32 {
    let bits = max_abs.to_bits() & !(1u64 << 63);
    match (bits >> 52) as i32 {
        // Zero, or subnormal: scale into the normal range first (exact).
        0 if bits == 0 => 0,
        0 => ((f64::from_bits(bits) * pow2_f64(64)).to_bits() >> 52) as i32 - 1022 - 64,
        // ±∞ and NaN.
        0x7ff => 0,
        biased => biased - 1022,
    }
}

/// The largest magnitude `max_k |x_k|` (`0` for none; NaN entries are skipped,
/// as by [`f64::max`]). Eight independent maxima, so the loop vectorizes; a
/// single running maximum would wait on the previous comparison at every entry.
pub(crate) fn max_abs<T: Scalar>(values: &[T]) -> f64 {
    let mut acc = [T::zero(); 8];
    let mut chunks = values.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            let a = c[l].abs();
            acc[l] = if a > acc[l] { a } else { acc[l] };
        }
    }
    let tail = chunks.remainder().iter().fold(T::zero(), |m, x| {
        let a = x.abs();
        if a > m {
            a
        } else {
            m
        }
    });
    acc.iter().fold(tail.to_f64(), |m, x| m.max(x.to_f64()))
}

/// Multiplies every value by `2^-e` where `e` = [`exponent_of`] their largest
/// magnitude, and returns `e`: afterwards the largest magnitude lies in `[0.5, 1)`.
pub(crate) fn normalize_pow2<T: Scalar>(values: &mut [T]) -> i32 {
    let max = max_abs(values);
    let e = exponent_of(max);
    if e != 0 {
        for v in values.iter_mut() {
            *v = ldexp(*v, -e);
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The normal powers of two are `2^-126..=2^127` in `f32` and
    /// `2^-1022..=2^1023` in `f64`; just outside, `pow2` declines.
    #[test]
    fn normal_exponents_are_the_types_own() {
        assert_eq!(normal_exponents::<f32>(), (-126, 127));
        assert_eq!(normal_exponents::<f64>(), (-1022, 1023));
        assert_eq!(pow2::<f32>(-126), Some(f32::MIN_POSITIVE));
        assert_eq!((pow2::<f32>(-127), pow2::<f32>(128)), (None, None));
        assert_eq!(pow2::<f64>(1023), Some(2f64.powi(1023)));
        assert_eq!((pow2::<f64>(-1023), pow2::<f64>(1024)), (None, None));
        assert_eq!(exponent_range::<f32>(), (-149, 127));
        assert_eq!(exponent_range::<f64>(), (-1074, 1023));
    }

    #[test]
    fn exponent_of_is_exact_at_every_binade() {
        for k in -1074..=1023 {
            assert_eq!(exponent_of(ldexp(1.0f64, k)), k + 1, "2^{k}");
        }
        // The largest value below each power of two (where log2 would round up).
        for k in -1073..=1023 {
            let below = f64::from_bits(ldexp(1.0f64, k).to_bits() - 1);
            assert_eq!(exponent_of(below), k, "just below 2^{k}");
            if k >= -1021 {
                assert!((0.5..1.0).contains(&ldexp(below, -k)), "{below:e}");
            }
        }
        assert_eq!(exponent_of(0.0), 0);
        assert_eq!(exponent_of(f64::INFINITY), 0);
        assert_eq!(exponent_of(f64::NAN), 0);
        assert_eq!(exponent_of(-3.0), 2);
    }

    #[test]
    fn ldexp_is_exact_across_the_range() {
        assert_eq!(ldexp(1.5f64, 1023), 1.5 * 2f64.powi(1023));
        assert_eq!(ldexp(f64::from_bits(1), 1074 + 1023), 2f64.powi(1023));
        assert_eq!(ldexp(2f64.powi(1023), -1074 - 1023), f64::from_bits(1));
        assert_eq!(ldexp(f32::from_bits(1), 149 + 127), 2f32.powi(127));
        assert_eq!(ldexp(0.75f32, -130), 0.75 * 2f32.powi(-130));
        assert_eq!(ldexp(1.0f32, 128), f32::INFINITY);
        assert_eq!(ldexp(1.0f64, -1100), 0.0);
        // Huge shifts stop early.
        assert_eq!(ldexp(1.0f64, i32::MIN / 2), 0.0);
        assert_eq!(ldexp(-1.0f64, i32::MAX / 2), f64::NEG_INFINITY);
        assert_eq!(pow2::<f32>(127), Some(2f32.powi(127)));
        assert_eq!(pow2::<f32>(128), None);
        assert_eq!(pow2::<f32>(-127), None);
        assert_eq!(pow2::<f64>(-1022), Some(f64::MIN_POSITIVE));
        assert_eq!(exponent_range::<f32>(), (-149, 127));
        assert_eq!(exponent_range::<f64>(), (-1074, 1023));
        assert_eq!(ldexp(1.0f32, -149), f32::from_bits(1));
    }

    #[test]
    fn normalize_pow2_brings_the_largest_value_into_half_one() {
        for scale in [1e-310f64, 1e-300, 1.0, 1e300, f64::MAX] {
            let mut v = [scale, -scale / 3.0, 0.0];
            let e = normalize_pow2(&mut v);
            assert!((0.5..1.0).contains(&v[0].abs()), "{scale:e}: {v:?}");
            assert_eq!(ldexp(v[0], e), scale);
        }
    }
}
