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
/// those computed in `f64` to within `f32` precision (see `tests/scalar.rs`).
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
}

macro_rules! impl_scalar {
    ($t:ty, $svd:ident) => {
        impl Scalar for $t {
            const EPSILON: Self = <$t>::EPSILON;
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
        }
    };
}

impl_scalar!(f32, singular_values_f32);
impl_scalar!(f64, singular_values_f64);

/// `x · 2^k`, in steps that stay representable in `f32` (exact unless the result
/// overflows or underflows).
pub(crate) fn ldexp<T: Scalar>(mut x: T, mut k: i32) -> T {
    while k != 0 {
        let step = k.clamp(-100, 100);
        x *= T::cast(2f64.powi(step));
        k -= step;
    }
    x
}

/// The exponent `e` with `max_abs · 2^-e` in `[0.5, 1)`, 0 for 0 (or a non-finite value).
pub(crate) fn exponent_of(max_abs: f64) -> i32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs.log2().floor() as i32 + 1
    } else {
        0
    }
}

/// Multiplies every value by `2^-e` where `e` = [`exponent_of`] their largest
/// magnitude, and returns `e`: afterwards the largest magnitude lies in `[0.5, 1)`.
pub(crate) fn normalize_pow2<T: Scalar>(values: &mut [T]) -> i32 {
    let max = values.iter().fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
    let e = exponent_of(max);
    if e != 0 {
        for v in values.iter_mut() {
            *v = ldexp(*v, -e);
        }
    }
    e
}
