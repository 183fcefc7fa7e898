//! The singular value decomposition *with vectors* that the reduction needs,
//! checked before it is trusted.
//!
//! nalgebra's SVD with vectors returns wrong singular values on some all-ones
//! shapes (see `docs/theory.md` and the crate's numerics notes), so its result is
//! accepted only when it passes the residual test
//! `‖M·V − U·Σ‖_F ≤ tol·‖M‖_F` with `‖UᵀU − I‖, ‖VᵀV − I‖ ≤ tol`; otherwise, or
//! when it does not converge, the crate's one-sided Jacobi SVD
//! ([`crate::spectrum::jacobi_svd`]) is used, which is slower but verified.

use crate::error::Result;
use nalgebra::DMatrix;

/// `M = U·diag(s)·Vᵀ` with `s` descending, `U` (`rows × k`) and `V` (`cols × k`),
/// `k = min(rows, cols)`.
#[derive(Debug, Clone)]
pub(crate) struct Svd {
    pub u: DMatrix<f64>,
    pub s: Vec<f64>,
    pub v: DMatrix<f64>,
}

/// The decomposition of `m` (finite entries), by nalgebra when its result checks
/// out and by one-sided Jacobi otherwise.
pub(crate) fn svd(m: &DMatrix<f64>) -> Result<Svd> {
    let (rows, cols) = m.shape();
    let k = rows.min(cols);
    if k == 0 {
        return Ok(Svd { u: DMatrix::zeros(rows, 0), s: Vec::new(), v: DMatrix::zeros(cols, 0) });
    }
    crate::validate::check_matrix_finite("matrix to decompose", m)?;
    if m.amax() == 0.0 {
        return Ok(Svd { u: DMatrix::identity(rows, k), s: vec![0.0; k], v: DMatrix::identity(cols, k) });
    }
    // Exact power-of-two rescaling keeps entries near 1.
    let e = crate::scalar::exponent_of(m.amax());
    let scaled = m.map(|x| crate::scalar::ldexp(x, -e));
    let iterations = 100 + 30 * k * k;
    let fast = nalgebra::linalg::SVD::try_new(scaled.clone(), true, true, f64::EPSILON, iterations)
        .and_then(|d| Some((d.u?, d.singular_values, d.v_t?)))
        .map(|(u, s, vt)| sorted(u, s.as_slice().to_vec(), vt.transpose()));
    let mut out = match fast {
        Some(d) if passes(&scaled, &d) => d,
        _ => {
            let j = crate::spectrum::jacobi_svd(&scaled)?;
            Svd { u: j.u, s: j.singular_values, v: j.v }
        }
    };
    for x in &mut out.s {
        *x = crate::scalar::ldexp(*x, e);
    }
    Ok(out)
}

/// Sorts the triplets by descending singular value (nalgebra's are unordered and
/// may carry a sign).
fn sorted(u: DMatrix<f64>, s: Vec<f64>, v: DMatrix<f64>) -> Svd {
    let mut order: Vec<usize> = (0..s.len()).collect();
    order.sort_by(|&a, &b| s[b].abs().total_cmp(&s[a].abs()));
    let mut u2 = DMatrix::zeros(u.nrows(), s.len());
    let mut v2 = DMatrix::zeros(v.nrows(), s.len());
    let mut s2 = Vec::with_capacity(s.len());
    for (j, &o) in order.iter().enumerate() {
        let sign = if s[o] < 0.0 { -1.0 } else { 1.0 };
        u2.set_column(j, &(u.column(o) * sign));
        v2.set_column(j, &v.column(o));
        s2.push(s[o].abs());
    }
    Svd { u: u2, s: s2, v: v2 }
}

/// The residual and orthogonality test.
fn passes(m: &DMatrix<f64>, d: &Svd) -> bool {
    let k = d.s.len();
    let tol = 64.0 * f64::EPSILON * (m.nrows().max(m.ncols()) as f64).sqrt();
    let norm = m.norm();
    let mut us = d.u.clone();
    for (j, &s) in d.s.iter().enumerate() {
        us.column_mut(j).scale_mut(s);
    }
    let residual = (m * &d.v - us).norm();
    let id = DMatrix::<f64>::identity(k, k);
    let ou = (d.u.transpose() * &d.u - &id).amax();
    let ov = (d.v.transpose() * &d.v - &id).amax();
    residual.is_finite() && residual <= tol * norm && ou <= tol && ov <= tol
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// `sorted` orders by magnitude and moves a negative value's sign into `U`,
    /// so the triplets still reproduce `U·diag(s)·Vᵀ`.
    #[test]
    fn sorted_moves_signs_into_u_and_keeps_the_product() {
        let u = DMatrix::from_row_slice(3, 3, &[1.0, 2.0, 0.0, 0.0, 1.0, -1.0, 3.0, 0.5, 1.0]);
        let v = DMatrix::from_row_slice(2, 3, &[0.5, -1.0, 2.0, 1.0, 1.5, -0.5]);
        let s = vec![-2.0, 3.0, 0.5];
        let product = |u: &DMatrix<f64>, s: &[f64], v: &DMatrix<f64>| {
            u * DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(s)) * v.transpose()
        };
        let before = product(&u, &s, &v);
        let d = sorted(u.clone(), s, v.clone());
        assert_eq!(d.s, [3.0, 2.0, 0.5]);
        assert_eq!(d.u.column(1), -u.column(0));
        assert!((product(&d.u, &d.s, &d.v) - before).amax() <= 1e-15);
    }

    /// A `3 × 2` matrix and nalgebra's decomposition of it, sorted.
    fn small_matrix_and_its_decomposition() -> (DMatrix<f64>, Svd) {
        let m = DMatrix::from_row_slice(3, 2, &[2.0, 0.5, -1.0, 1.0, 0.25, 3.0]);
        let d = m.clone().svd(true, true);
        let good = sorted(d.u.unwrap(), d.singular_values.as_slice().to_vec(), d.v_t.unwrap().transpose());
        (m, good)
    }

    /// `passes` accepts a decomposition whose residual and both orthogonality
    /// defects are within the tolerance, and refuses one with any of the three
    /// off by 1 %.
    #[test]
    fn passes_checks_the_residual_and_both_orthogonalities() {
        let (m, good) = small_matrix_and_its_decomposition();
        assert!(passes(&m, &good));
        let mut bad_s = good.clone();
        bad_s.s[0] *= 1.01;
        let mut bad_u = good.clone();
        bad_u.u.column_mut(1).scale_mut(1.01);
        bad_u.s[1] /= 1.01;
        let mut bad_v = good.clone();
        bad_v.v.column_mut(1).scale_mut(1.01);
        for (what, d) in [("σ", bad_s), ("U", bad_u), ("V", bad_v)] {
            assert!(!passes(&m, &d), "{what} off by 1 % passed");
        }
    }

    /// The residual allowance is `64·ε·√max(rows, cols)·‖M‖_F`, at any scale of
    /// `M`: a decomposition with `σ₁` off by half of it passes, one off by twice
    /// it fails, for `M` scaled by `2^-40`, `1` and `2^40`.
    #[test]
    fn the_residual_allowance_is_relative_and_follows_the_documented_formula() {
        let (base, good) = small_matrix_and_its_decomposition();
        for e in [-40, 0, 40] {
            let scale = 2f64.powi(e);
            let m = &base * scale;
            let allowance = 64.0 * f64::EPSILON * 3f64.sqrt() * m.norm();
            // ‖M·V − U·Σ'‖_F = |δ|·‖u₁‖ = |δ| (up to the exact decomposition's own
            // residual, below ε·‖M‖) when σ₁ moves by δ.
            for (factor, ok) in [(0.5, true), (2.0, false)] {
                let mut d = good.clone();
                d.s.iter_mut().for_each(|s| *s *= scale);
                d.s[0] += factor * allowance;
                assert_eq!(passes(&m, &d), ok, "scale 2^{e}, σ₁ off by {factor} allowance");
            }
        }
    }

    fn check(m: &DMatrix<f64>, d: &Svd) {
        let values = m.clone().singular_values();
        let mut values: Vec<f64> = values.iter().copied().collect();
        values.sort_by(|a, b| b.total_cmp(a));
        let scale = values[0].max(f64::MIN_POSITIVE);
        for (a, b) in values.iter().zip(&d.s) {
            assert!((a - b).abs() <= 1e-12 * scale, "σ: {a} vs {b}");
        }
        assert!(d.s.windows(2).all(|w| w[0] >= w[1]));
        let mut us = d.u.clone();
        for (j, &s) in d.s.iter().enumerate() {
            us.column_mut(j).scale_mut(s);
        }
        assert!((us * d.v.transpose() - m).norm() <= 1e-12 * scale * 10.0);
    }

    #[test]
    fn all_ones_shapes_and_random_matrices() {
        for r in 1..=12 {
            for c in 1..=12 {
                let m = DMatrix::from_element(r, c, 1.0);
                check(&m, &svd(&m).unwrap());
            }
        }
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..40 {
            let (r, c) = (rng.random_range(1..10), rng.random_range(1..10));
            let m = DMatrix::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0) * 1e-200);
            check(&m, &svd(&m).unwrap());
        }
        let z = DMatrix::<f64>::zeros(3, 2);
        assert_eq!(svd(&z).unwrap().s, vec![0.0, 0.0]);
    }
}
