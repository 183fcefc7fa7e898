//! Crate-internal argument checks shared by every constructor.

use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// Formats a shape as `(a, b, c)`.
pub(crate) fn fmt_shape(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("({})", parts.join(", "))
}

/// Checks that a row-major buffer holds exactly `prod(dims)` values, none of them
/// non-finite. `names` labels the axes in messages, e.g. `["heads", "L", "d"]`.
pub(crate) fn check_array<T: Scalar>(what: &str, data: &[T], dims: &[usize], names: &[&str]) -> Result<()> {
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let labelled: Vec<String> = names.iter().zip(dims).map(|(n, d)| format!("{n}={d}")).collect();
    match expected {
        Some(n) if n == data.len() => {}
        _ => {
            return Err(EssError::shape(
                what,
                format!(
                    "({}) = {} values, row-major",
                    labelled.join(", "),
                    expected.map_or("overflow".into(), |n| n.to_string())
                ),
                format!("{} values", data.len()),
            ))
        }
    }
    check_finite(what, data, dims)
}

/// Multi-index of flat position `flat` in a row-major array of shape `dims`.
fn unravel(flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0usize; dims.len()];
    let mut rem = flat;
    for (k, &d) in dims.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = rem % d;
            rem /= d;
        }
    }
    idx
}

/// Reports the first non-finite entry of a row-major buffer with its multi-index.
pub(crate) fn check_finite<T: Scalar>(what: &str, data: &[T], dims: &[usize]) -> Result<()> {
    if all_finite(data) {
        return Ok(());
    }
    if let Some(flat) = data.iter().position(|x| !x.is_finite_value()) {
        let idx = unravel(flat, dims);
        return Err(EssError::NonFinite { what: what.into(), position: fmt_shape(&idx), value: data[flat].to_f64() });
    }
    Ok(())
}

/// `true` when no value is NaN or ±∞, without a branch per value: `x·0` is `0`
/// for a finite `x` and NaN otherwise, and NaN survives the sums (eight
/// independent ones, so the loop vectorizes). The callers locate the culprit
/// only when this fails.
pub(crate) fn all_finite<T: Scalar>(data: &[T]) -> bool {
    let mut acc = [T::zero(); 8];
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] += c[l] * T::zero();
        }
    }
    let tail = chunks.remainder().iter().fold(T::zero(), |a, &x| a + x * T::zero());
    acc.iter().fold(tail, |a, &x| a + x).is_finite_value()
}

/// [`check_finite`] with the description built only when a value is not finite
/// (for checks repeated at every step).
pub(crate) fn check_finite_lazy<T: Scalar>(what: impl FnOnce() -> String, data: &[T], dims: &[usize]) -> Result<()> {
    if all_finite(data) {
        return Ok(());
    }
    check_finite(&what(), data, dims)
}

/// [`check_matrix_finite`] with the description built only when a value is not
/// finite (for checks repeated at every step).
pub(crate) fn check_matrix_finite_lazy<T: Scalar>(what: impl FnOnce() -> String, m: &DMatrix<T>) -> Result<()> {
    if all_finite(m.as_slice()) {
        return Ok(());
    }
    check_matrix_finite(&what(), m)
}

/// Reports the first non-finite entry of a matrix as `(row, col)`.
pub(crate) fn check_matrix_finite<T: Scalar>(what: &str, m: &DMatrix<T>) -> Result<()> {
    if all_finite(m.as_slice()) {
        return Ok(());
    }
    for c in 0..m.ncols() {
        for r in 0..m.nrows() {
            let x = m[(r, c)];
            if !x.is_finite_value() {
                return Err(EssError::NonFinite {
                    what: what.into(),
                    position: format!("({r}, {c})"),
                    value: x.to_f64(),
                });
            }
        }
    }
    Ok(())
}

/// Checks that every value lies in `[lo, hi]`.
pub(crate) fn check_range<T: Scalar>(what: &str, data: &[T], dims: &[usize], lo: f64, hi: f64) -> Result<()> {
    if let Some(flat) = data.iter().position(|x| x.to_f64() < lo || x.to_f64() > hi) {
        let idx = unravel(flat, dims);
        return Err(EssError::param(
            what,
            format!("value {} at {} is outside the valid range [{lo}, {hi}]", data[flat], fmt_shape(&idx)),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length up to 20 (whole chunks of 8 and every remainder), every
    /// position, each kind of non-finite value, in f64 and f32.
    #[test]
    fn all_finite_finds_any_non_finite_value_anywhere() {
        fn check<T: Scalar>(bad: [T; 3], big: T) {
            for len in 0..20 {
                let mut v: Vec<T> = (0..len).map(|k| if k % 3 == 0 { big } else { T::cast(k as f64 - 7.5) }).collect();
                assert!(all_finite(&v), "len {len}: finite values only");
                for pos in 0..len {
                    for &b in &bad {
                        let keep = v[pos];
                        v[pos] = b;
                        assert!(!all_finite(&v), "len {len}: {} at {pos} missed", b.to_f64());
                        let err = check_finite("x", &v, &[len]).unwrap_err().to_string();
                        assert!(err.contains(&format!("({pos})")), "{err}");
                        v[pos] = keep;
                    }
                }
            }
        }
        check([f64::NAN, f64::INFINITY, f64::NEG_INFINITY], f64::MAX);
        check([f32::NAN, f32::INFINITY, f32::NEG_INFINITY], f32::MAX);
    }
}
