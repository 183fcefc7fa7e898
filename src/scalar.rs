//! The crate's scalar trait: the floating-point types ESS can be computed in.
//!
//! [`Scalar`] is implemented for `f32` and `f64`. It bundles nalgebra's
//! [`nalgebra::RealField`] (so matrices of it can be factorised) with the
//! few conversions the crate needs, and is sealed: the numerical thresholds used
//! throughout (for example [`Tolerance::NumericalRank`](crate::ess::Tolerance)) depend on
//! the machine epsilon of a known IEEE type.

use nalgebra::RealField;

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
}

macro_rules! impl_scalar {
    ($t:ty) => {
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
        }
    };
}

impl_scalar!(f32);
impl_scalar!(f64);
