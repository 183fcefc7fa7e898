//! Singular value decomposition with vectors by one-sided Jacobi rotations.
//!
//! nalgebra's SVD returns wrong singular values on some shapes when it is asked
//! for singular vectors (all-ones matrices among them; see NUMERICS in the
//! design notes), so the gradients of [`crate::ess::gradient`] do not use it. The
//! one-sided Jacobi method (Hestenes) rotates pairs of columns of `A` until all
//! columns are mutually orthogonal: `A V = U Σ`. It is simple, converges
//! quadratically, and computes every singular value to high *relative* accuracy
//! (Demmel & Veselić, 1992), which the closed-form gradients need because they
//! involve `ln σ_k` and `1/σ_k`.

use super::scale_pow2;
use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// A thin singular value decomposition `A = U diag(σ) Vᵀ` of an `m × n` matrix
/// with `k = min(m, n)` triplets.
///
/// `singular_values` are descending; column `j` of `u` (`m × k`) and of `v`
/// (`n × k`) belong to `σ_j`. For `σ_j` at the rounding level
/// (`σ_j ≤ max(m, n)·ε·‖A‖_F`) the column of `u` is zero: such a value is a zero
/// moved by rounding and has no meaningful direction.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Svd<T: Scalar> {
    /// Left singular vectors, `m × k`.
    pub u: DMatrix<T>,
    /// `σ_1 ≥ … ≥ σ_k ≥ 0`.
    pub singular_values: Vec<T>,
    /// Right singular vectors, `n × k`.
    pub v: DMatrix<T>,
    /// The largest residual `max_j max(‖A v_j − σ_j u_j‖, ‖Aᵀ u_j − σ_j v_j‖) / σ_1`
    /// over the triplets above the rounding level (0 for a zero matrix), measured
    /// after the decomposition in `f64`.
    pub residual: f64,
}

/// Largest number of sweeps before giving up (convergence takes 5–12 in practice).
const MAX_SWEEPS: usize = 80;

/// The thin SVD of `a` with singular vectors, by one-sided Jacobi, computed in
/// `f64` whatever `T` is, and verified: the residual `‖A v − σ u‖` of every triplet
/// is measured and returned.
///
/// ```
/// use effective_state_size::spectrum::jacobi_svd;
/// use nalgebra::DMatrix;
/// // The all-ones 5×3 matrix: σ = (√15, 0, 0), u = 1/√5, v = 1/√3.
/// let svd = jacobi_svd(&DMatrix::from_element(5, 3, 1.0))?;
/// assert!((svd.singular_values[0] - 15f64.sqrt()).abs() < 1e-14);
/// assert!(svd.singular_values[1] < 1e-15 && svd.residual < 1e-14);
/// assert!((svd.u[(0, 0)].abs() - 5f64.sqrt().recip()).abs() < 1e-15);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
///
/// # Errors
/// [`EssError::NonFinite`] for NaN/∞ entries, [`EssError::NoConvergence`] if the
/// rotations have not converged after 80 sweeps.
pub fn jacobi_svd<T: Scalar>(a: &DMatrix<T>) -> Result<Svd<T>> {
    crate::validate::check_matrix_finite("matrix", a)?;
    let (m, n) = a.shape();
    let k = m.min(n);
    if k == 0 {
        return Ok(Svd { u: DMatrix::zeros(m, 0), singular_values: vec![], v: DMatrix::zeros(n, 0), residual: 0.0 });
    }
    // Work on a power-of-two rescaled f64 copy with at least as many rows as
    // columns (transpose a wide matrix and swap U and V at the end).
    let mut w: DMatrix<f64> = a.map(|x| x.to_f64());
    let max = w.iter().fold(0.0f64, |acc, x| acc.max(x.abs()));
    if max == 0.0 {
        return Ok(Svd {
            u: DMatrix::zeros(m, k),
            singular_values: vec![T::zero(); k],
            v: DMatrix::identity(n, k).map(T::cast),
            residual: 0.0,
        });
    }
    let e = crate::scalar::exponent_of(max);
    scale_pow2(&mut w, -e);
    let wide = m < n;
    if wide {
        w = w.transpose();
    }
    let (rows, cols) = w.shape();
    let (us, s, vs) =
        one_sided_jacobi(w).ok_or(EssError::NoConvergence { rows: m, cols: n, iterations: MAX_SWEEPS })?;
    let (u, v) = if wide { (vs, us) } else { (us, vs) };
    debug_assert_eq!((rows.min(cols), u.ncols()), (k, k));
    // Verify on the rescaled matrix (the scale cancels in the relative residual).
    let mut scaled: DMatrix<f64> = a.map(|x| x.to_f64());
    scale_pow2(&mut scaled, -e);
    let s1 = s[0];
    let mut residual = 0.0f64;
    let negligible = negligible_norm(&scaled);
    if s1 > 0.0 {
        // Noise-level triplets (u_j = 0) have no direction to verify.
        for j in (0..k).filter(|&j| s[j] > negligible) {
            let r1 = (&scaled * v.column(j) - u.column(j) * s[j]).norm();
            let r2 = (scaled.transpose() * u.column(j) - v.column(j) * s[j]).norm();
            residual = residual.max(r1.max(r2) / s1);
        }
    }
    let mut sigma = DMatrix::from_vec(k, 1, s);
    scale_pow2(&mut sigma, e);
    Ok(Svd {
        u: u.map(T::cast),
        singular_values: sigma.iter().map(|&x| T::cast(x)).collect(),
        v: v.map(T::cast),
        residual,
    })
}

/// One-sided Jacobi on a tall (or square) `m × n` matrix, `m ≥ n`: returns
/// `(U m×n, σ descending, V n×n)` or `None` without convergence.
fn one_sided_jacobi(mut a: DMatrix<f64>) -> Option<(DMatrix<f64>, Vec<f64>, DMatrix<f64>)> {
    let (m, n) = a.shape();
    let mut v = DMatrix::<f64>::identity(n, n);
    // Columns count as orthogonal when their cosine is below the rounding error
    // of the inner product, about m·ε.
    let tol = f64::EPSILON * m as f64;
    // Columns at the level of rounding noise (norm ≤ max(m, n)·ε·‖A‖_F, the
    // numerical-rank level) are never rotated: their direction is noise, and
    // rotating them would never converge.
    let negligible = negligible_norm(&a);
    let negligible2 = negligible * negligible;
    let mut converged = false;
    for _ in 0..MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..n.saturating_sub(1) {
            for q in p + 1..n {
                let (mut alpha, mut beta, mut gamma) = (0.0, 0.0, 0.0);
                for i in 0..m {
                    let (x, y) = (a[(i, p)], a[(i, q)]);
                    alpha += x * x;
                    beta += y * y;
                    gamma += x * y;
                }
                if gamma == 0.0
                    || alpha <= negligible2
                    || beta <= negligible2
                    || gamma.abs() <= tol * alpha.sqrt() * beta.sqrt()
                {
                    continue;
                }
                rotated = true;
                // The rotation that zeroes the (p, q) entry of AᵀA.
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for i in 0..m {
                    let (x, y) = (a[(i, p)], a[(i, q)]);
                    a[(i, p)] = c * x - s * y;
                    a[(i, q)] = s * x + c * y;
                }
                for i in 0..n {
                    let (x, y) = (v[(i, p)], v[(i, q)]);
                    v[(i, p)] = c * x - s * y;
                    v[(i, q)] = s * x + c * y;
                }
            }
        }
        if !rotated {
            converged = true;
            break;
        }
    }
    if !converged {
        return None;
    }
    let norms: Vec<f64> = (0..n).map(|j| a.column(j).norm()).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| norms[y].total_cmp(&norms[x]));
    let mut u = DMatrix::zeros(m, n);
    let mut vs = DMatrix::zeros(n, n);
    let mut s = Vec::with_capacity(n);
    for (j, &src) in order.iter().enumerate() {
        let sigma = norms[src];
        s.push(sigma);
        if sigma > negligible {
            u.set_column(j, &(a.column(src) / sigma));
        }
        vs.set_column(j, &v.column(src));
    }
    Some((u, s, vs))
}

/// `max(m, n)·ε·‖A‖_F`: column norms at or below it are rounding noise.
fn negligible_norm(a: &DMatrix<f64>) -> f64 {
    f64::EPSILON * a.nrows().max(a.ncols()) as f64 * a.norm()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reported residual is the one measured from the returned triplets
    /// (positive: rounding leaves some), and a zero matrix has zero vectors `u`.
    #[test]
    fn the_residual_is_measured_and_zero_columns_stay_zero() {
        let a = DMatrix::from_fn(6, 4, |r, c| ((r * 7 + c * 3) % 5) as f64 - 1.7 + 0.1 * (r * c) as f64);
        let svd = jacobi_svd(&a).unwrap();
        let s1 = svd.singular_values[0];
        let mut worst = 0f64;
        for j in 0..4 {
            let (u, v, s) = (svd.u.column(j), svd.v.column(j), svd.singular_values[j]);
            worst = worst.max((&a * v - u * s).norm().max((a.transpose() * u - v * s).norm()) / s1);
        }
        assert!(svd.residual > 0.0 && svd.residual < 1e-14, "{}", svd.residual);
        assert!(worst < 1e-14 && (svd.residual - worst).abs() < 1e-14, "{} vs {worst}", svd.residual);
        for a in [DMatrix::<f64>::zeros(3, 2), DMatrix::zeros(2, 3)] {
            let svd = jacobi_svd(&a).unwrap();
            assert!(svd.u.iter().all(|x| *x == 0.0) && svd.singular_values.iter().all(|x| *x == 0.0));
            assert_eq!(svd.residual, 0.0);
        }
    }

    /// A column whose norm is at most `max(m, n)·ε·‖A‖_F` is rounding noise: its
    /// value is kept but its `u` is zero, at any scale. The matrix is
    /// `16 × 2`: a column of `s` and an orthogonal column `±c·ε·s`, norms `4s`
    /// and `4c·ε·s`; after the scaling to a largest entry of `0.5`, `‖A‖_F ≈ 2`
    /// and the noise level is `16·ε·2 = 32ε` against a second column of `2c·ε`:
    /// noise for `c = 8`, kept for `c = 32`.
    #[test]
    fn columns_at_the_noise_level_get_zero_vectors_at_any_scale() {
        let eps = f64::EPSILON;
        for e in [-300, -20, 0, 20, 300] {
            let s = 2f64.powi(e);
            let a =
                |c: f64| DMatrix::from_fn(16, 2, |r, k| if k == 0 { s } else { c * eps * s * (-1f64).powi(r as i32) });
            let noise = jacobi_svd(&a(8.0)).unwrap();
            assert_eq!(noise.singular_values, vec![4.0 * s, 32.0 * eps * s], "2^{e}");
            assert!(noise.u.column(1).iter().all(|x| *x == 0.0), "2^{e}: {}", noise.u);
            let kept = jacobi_svd(&a(32.0)).unwrap();
            assert!((kept.u.column(1).norm() - 1.0).abs() < 1e-12, "2^{e}: {}", kept.u);
        }
    }
}
