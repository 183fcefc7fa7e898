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
    if let Some(flat) = data.iter().position(|x| !x.is_finite_value()) {
        let idx = unravel(flat, dims);
        return Err(EssError::NonFinite { what: what.into(), position: fmt_shape(&idx), value: data[flat].to_f64() });
    }
    Ok(())
}

/// [`check_finite`] with the description built only when a value is not finite
/// (for checks repeated at every step).
pub(crate) fn check_finite_lazy<T: Scalar>(what: impl FnOnce() -> String, data: &[T], dims: &[usize]) -> Result<()> {
    if data.iter().all(|x| x.is_finite_value()) {
        return Ok(());
    }
    check_finite(&what(), data, dims)
}

/// [`check_matrix_finite`] with the description built only when a value is not
/// finite (for checks repeated at every step).
pub(crate) fn check_matrix_finite_lazy<T: Scalar>(what: impl FnOnce() -> String, m: &DMatrix<T>) -> Result<()> {
    if m.as_slice().iter().all(|x| x.is_finite_value()) {
        return Ok(());
    }
    check_matrix_finite(&what(), m)
}

/// Reports the first non-finite entry of a matrix as `(row, col)`.
pub(crate) fn check_matrix_finite<T: Scalar>(what: &str, m: &DMatrix<T>) -> Result<()> {
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
