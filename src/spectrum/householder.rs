//! Blocked Householder QR of tall matrices: the triangular factor `R` and the
//! thin orthonormal factor `Q`, mostly in matrix–matrix products.
//!
//! # Algorithm
//! `A` (`m × n`, `k = min(m, n)`) is reduced to `R = Qᵀ A` by reflectors
//! `H_j = I − τ_j v_j v_jᵀ` (`v_j` zero above row `j`, one at row `j`; the rest is
//! stored below the diagonal of `A`, `R` on and above it). The columns go in
//! panels of [`PANEL`]: each panel is reduced one column at a time (a reflector
//! applied to four columns per pass), its reflectors are gathered into the
//! compact WY form `H_{j0} ⋯ H_{j0+b−1} = I − V T Vᵀ` (`T` upper triangular,
//! LAPACK's `dlarft`), and the columns right of the panel are updated with two
//! matrix products, `A₂ ← A₂ − V (Tᵀ (Vᵀ A₂))` (LAPACK's `dgeqrf`). The thin
//! `Q = H_0 ⋯ H_{k−1} [I_k; 0]` is formed the same way, panels in reverse
//! (`dorgqr`). `2mn² − 2n³/3` flops for `R`, as many again for `Q`; backward
//! stable like any Householder QR (Golub & Van Loan, *Matrix Computations*,
//! §5.2.3).
//!
//! The reflectors assume entries well inside the range (their norms are sums of
//! squares): callers scale by a power of two first, as every caller here does.
//!
//! The blocked products run in nalgebra's matrix multiplication, whose kernel is
//! chosen per CPU, so their last bits may differ between machines: the low-rank
//! method uses them (its products already do). The dense path, which promises
//! bitwise the same results everywhere, uses the unblocked form
//! ([`factorize_in_place_unblocked`]): the same reflectors, in the crate's own
//! loops.

use super::bidiag::{dot, householder};
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// Columns per panel.
const PANEL: usize = 32;

/// A matrix overwritten by its reflectors (below the diagonal) and `R` (on and
/// above it), with the reflectors' `τ`.
pub(crate) struct Factored<T: Scalar> {
    a: DMatrix<T>,
    tau: Vec<T>,
}

/// Householder QR of `a` (see the module doc).
pub(crate) fn factorize<T: Scalar>(mut a: DMatrix<T>) -> Factored<T> {
    let tau = factorize_in_place(&mut a);
    Factored { a, tau }
}

/// Overwrites `a` by its reflectors and `R`; returns the `τ`. The products go
/// through nalgebra's matrix multiplication (matrixmultiply), whose kernel —
/// and so the last bits of the result — is chosen for the CPU at run time: for
/// the low-rank method, whose products already do. The dense path uses
/// [`factorize_in_place_unblocked`].
pub(crate) fn factorize_in_place<T: Scalar>(a: &mut DMatrix<T>) -> Vec<T> {
    let (m, n) = a.shape();
    let k = m.min(n);
    let mut tau = vec![T::zero(); k];
    for j0 in (0..k).step_by(PANEL) {
        let b = PANEL.min(k - j0);
        reduce_columns(a, j0, j0 + b, j0 + b, &mut tau);
        if j0 + b < n {
            let (v, t) = block_reflector(a, j0, b, &tau[j0..j0 + b]);
            // A₂ ← A₂ − V (Tᵀ (Vᵀ A₂)) on rows j0.., columns j0 + b...
            let mut a2 = a.view_mut((j0, j0 + b), (m - j0, n - j0 - b));
            let mut w = DMatrix::zeros(b, n - j0 - b);
            w.gemm(T::one(), &v.transpose(), &a2, T::zero());
            let tw = t.transpose() * &w;
            a2.gemm(-T::one(), &v, &tw, T::one());
        }
    }
    tau
}

/// [`factorize_in_place`] one reflector at a time (applied to four columns per
/// pass), in the crate's own loops: bitwise the same result on every machine,
/// as the dense path promises (and, inside a [`crate::simd::Kernel`], the same
/// with any vector width).
#[inline(always)]
pub(crate) fn factorize_in_place_unblocked<T: Scalar>(a: &mut DMatrix<T>) -> Vec<T> {
    let (m, n) = a.shape();
    let mut tau = vec![T::zero(); m.min(n)];
    reduce_columns(a, 0, m.min(n), n, &mut tau);
    tau
}

/// Reduces columns `from..to` one at a time, each reflector applied to the
/// columns after it up to `until`; `τ_j` into `tau[j]`.
#[inline(always)]
fn reduce_columns<T: Scalar>(a: &mut DMatrix<T>, from: usize, to: usize, until: usize, tau: &mut [T]) {
    let m = a.nrows();
    let data = a.as_mut_slice();
    for j in from..to {
        let (beta, t) = householder(&mut data[j * m + j..(j + 1) * m]);
        tau[j] = t;
        let (head, tail) = data.split_at_mut((j + 1) * m);
        reflect_columns(&head[j * m + j..(j + 1) * m], t, &mut tail[..(until - j - 1) * m], j);
        // `householder` leaves v_j[0] = 1 in place; store β there instead.
        head[j * m + j] = beta;
    }
}

impl<T: Scalar> Factored<T> {
    /// The `k × n` upper-triangular (trapezoidal when `m < n`) factor `R`.
    pub(crate) fn r(&self) -> DMatrix<T> {
        r_of(&self.a)
    }

    /// The thin `m × k` factor `Q` with orthonormal columns (`A = Q R`).
    pub(crate) fn thin_q(&self) -> DMatrix<T> {
        let (m, n) = self.a.shape();
        let k = m.min(n);
        let mut q = DMatrix::identity(m, k);
        let panels: Vec<usize> = (0..k).step_by(PANEL).collect();
        for &j0 in panels.iter().rev() {
            let b = PANEL.min(k - j0);
            let (v, t) = block_reflector(&self.a, j0, b, &self.tau[j0..j0 + b]);
            // Q[j0.., j0..] ← (I − V T Vᵀ) Q[j0.., j0..]: columns left of j0 are
            // still zero in these rows.
            let mut q2 = q.view_mut((j0, j0), (m - j0, k - j0));
            let mut w = DMatrix::zeros(b, k - j0);
            w.gemm(T::one(), &v.transpose(), &q2, T::zero());
            let tw = &t * &w;
            q2.gemm(-T::one(), &v, &tw, T::one());
        }
        q
    }
}

/// The `k × n` upper part of a factored matrix, zeros below the diagonal.
pub(crate) fn r_of<T: Scalar>(a: &DMatrix<T>) -> DMatrix<T> {
    let (m, n) = a.shape();
    DMatrix::from_fn(m.min(n), n, |i, j| if i <= j { a[(i, j)] } else { T::zero() })
}

/// `x ← (I − τ u uᵀ) x` for each column `x` (rows `row..` of the `m`-long
/// columns in `cols`), four columns per pass over `u`.
#[inline(always)]
fn reflect_columns<T: Scalar>(u: &[T], tau: T, cols: &mut [T], row: usize) {
    if tau == T::zero() || cols.is_empty() {
        return;
    }
    let m = row + u.len();
    let mut chunks = cols.chunks_exact_mut(4 * m);
    for quad in &mut chunks {
        let (c0, rest) = quad.split_at_mut(m);
        let (c1, rest) = rest.split_at_mut(m);
        let (c2, c3) = rest.split_at_mut(m);
        let (c0, c1, c2, c3) = (&mut c0[row..], &mut c1[row..], &mut c2[row..], &mut c3[row..]);
        let mut acc = [T::zero(); 4];
        for ((((ui, x0), x1), x2), x3) in u.iter().zip(&*c0).zip(&*c1).zip(&*c2).zip(&*c3) {
            acc[0] += *ui * *x0;
            acc[1] += *ui * *x1;
            acc[2] += *ui * *x2;
            acc[3] += *ui * *x3;
        }
        let f = acc.map(|a| -tau * a);
        for ((((ui, x0), x1), x2), x3) in u.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
            *x0 += f[0] * *ui;
            *x1 += f[1] * *ui;
            *x2 += f[2] * *ui;
            *x3 += f[3] * *ui;
        }
    }
    for col in chunks.into_remainder().chunks_exact_mut(m) {
        let col = &mut col[row..];
        let f = -tau * dot(u, col);
        for (x, ui) in col.iter_mut().zip(u) {
            *x += f * *ui;
        }
    }
}

/// The panel's `V` (`(m − j0) × b`, unit diagonal, zeros above) and the upper
/// triangular `T` with `H_{j0} ⋯ H_{j0+b−1} = I − V T Vᵀ`:
/// `T_jj = τ_j`, `T[..j, j] = −τ_j T[..j, ..j] (V[:, ..j]ᵀ v_j)`.
fn block_reflector<T: Scalar>(a: &DMatrix<T>, j0: usize, b: usize, tau: &[T]) -> (DMatrix<T>, DMatrix<T>) {
    let m = a.nrows();
    let v = DMatrix::from_fn(m - j0, b, |i, j| match i.cmp(&j) {
        std::cmp::Ordering::Less => T::zero(),
        std::cmp::Ordering::Equal => T::one(),
        std::cmp::Ordering::Greater => a[(j0 + i, j0 + j)],
    });
    let mut vtv = DMatrix::zeros(b, b);
    vtv.gemm(T::one(), &v.transpose(), &v, T::zero());
    let mut t = DMatrix::zeros(b, b);
    for j in 0..b {
        t[(j, j)] = tau[j];
        for i in 0..j {
            let s: T = (i..j).fold(T::zero(), |s, l| s + t[(i, l)] * vtv[(l, j)]);
            t[(i, j)] = -tau[j] * s;
        }
    }
    (v, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::uniform_matrix;

    /// Against the definition on shapes around the panel width, tall, square and
    /// wide: `Q R = A`, `QᵀQ = I`, `R` upper triangular, and `R` within rounding
    /// of nalgebra's (up to the signs of its rows).
    #[test]
    fn q_times_r_is_the_matrix_and_q_is_orthonormal() {
        for (m, n) in [(1, 1), (5, 3), (40, 31), (64, 32), (65, 33), (200, 70), (97, 97), (30, 50), (300, 112)] {
            let a = uniform_matrix(m, n, (m * 1000 + n) as u64);
            let f = factorize(a.clone());
            let (q, r) = (f.thin_q(), f.r());
            let k = m.min(n);
            assert_eq!((q.shape(), r.shape()), ((m, k), (k, n)));
            let scale = a.norm();
            assert!((&q * &r - &a).norm() <= 1e-14 * scale * (m as f64), "{m}x{n}: QR ≠ A");
            assert!((q.tr_mul(&q) - DMatrix::identity(k, k)).norm() <= 1e-14 * (m as f64), "{m}x{n}: QᵀQ ≠ I");
            // Qᵀ A is R: upper triangular up to rounding.
            let qta = q.tr_mul(&a);
            let below = (0..k).flat_map(|i| (0..i.min(n)).map(move |j| (i, j))).map(|(i, j)| qta[(i, j)].abs());
            assert!(below.fold(0.0, f64::max) <= 1e-14 * scale * (m as f64), "{m}x{n}: QᵀA not triangular");
            // The unblocked form gives the same R (up to rounding).
            let mut b = a.clone();
            factorize_in_place_unblocked(&mut b);
            assert!((r_of(&b) - &r).norm() <= 1e-14 * scale * (m as f64), "{m}x{n}: unblocked R differs");
            let theirs = a.clone().qr().r();
            for i in 0..k {
                let sign = if (r[(i, i)] >= 0.0) == (theirs[(i, i)] >= 0.0) { 1.0 } else { -1.0 };
                let diff = (r.row(i) - theirs.row(i) * sign).norm();
                assert!(diff <= 1e-13 * scale, "{m}x{n} row {i}: {diff:e}");
            }
        }
    }

    /// A zero column (τ = 0, no reflection) and a rank-deficient matrix.
    #[test]
    fn zero_columns_and_rank_deficiency() {
        let mut a = uniform_matrix(50, 40, 7);
        a.column_mut(3).fill(0.0);
        let dup = a.column(5).into_owned();
        a.column_mut(36).copy_from(&dup);
        let f = factorize(a.clone());
        let (q, r) = (f.thin_q(), f.r());
        assert!((&q * &r - &a).norm() <= 1e-13 * a.norm());
        assert!((q.tr_mul(&q) - DMatrix::identity(40, 40)).norm() <= 1e-13);
        assert_eq!(r[(3, 3)], 0.0);
    }
}
