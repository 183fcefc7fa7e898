//! Singular values (only) of a small square matrix: Golub–Kahan–Reinsch, written
//! for the structured path's `N × N` cores, allocation-free on caller-owned
//! buffers.
//!
//! 1. **Bidiagonalization** `M = U·B·Vᵀ` by alternating left and right Householder
//!    reflections (LAPACK `dlarfg` form: `v₀ = 1`, `τ ∈ [1, 2]`, so no reflector
//!    is built from a squared small norm), `8/3·n³` flops, `U`, `V` never formed.
//! 2. **Bidiagonal QR** (Golub & Van Loan, Algorithm 8.6.2; the bulge chase of
//!    LAPACK `dbdsqr`): implicit-shift QR sweeps with the smaller singular value of
//!    the trailing `2 × 2` as shift (LAPACK `dlas2`, no squaring); an off-diagonal
//!    `e_k` is negligible when `|e_k| ≤ max(ε·(|d_k| + |d_{k+1}|), ε·‖B‖)`, a
//!    diagonal `d_k` when `|d_k| ≤ ε·‖B‖`, in which case the row (or the last
//!    column) is rotated out so that the block splits. Each such decision
//!    perturbs `B` by at most `ε·‖B‖`, the size of the bidiagonalization's own
//!    backward error (LAPACK's absolute-accuracy criterion); values far below
//!    `ε·σ₁` are not refined further, which saves sweeps on the many tiny values
//!    of a fast-decaying Hankel spectrum. `O(n²)` flops in all.
//!
//! Only orthogonal transformations touch the matrix, so each computed `σ_k` is
//! within a small multiple of `ε·σ_1` of the exact one (absolute accuracy, as
//! LAPACK's `dgesvd`): every value down to `ε·σ_1` is resolved, which is what
//! tolerance-ESS and entropy-ESS need. No Gram matrix is formed.
//!
//! The caller hands in a finite matrix whose largest entry is at most a few units
//! in magnitude (the structured path normalises each core to `[0.5, 1)`).

use crate::error::{EssError, Result};
use crate::scalar::Scalar;

/// `√(f² + g²)` without overflow (entries are at most a few units) and without
/// losing tiny arguments to underflow.
#[inline]
fn norm2<T: Scalar>(f: T, g: T) -> T {
    let m = f.abs().max(g.abs());
    if m > T::cast(1.0 / (1u64 << 60) as f64) {
        (f * f + g * g).sqrt()
    } else {
        f.hypot(g)
    }
}

/// `(c, s, r)` with `[c s; -s c]·[f; g] = [r; 0]` (`c = 1, s = 0` for `g = 0`).
#[inline]
fn givens<T: Scalar>(f: T, g: T) -> (T, T, T) {
    if g == T::zero() {
        return (T::one(), T::zero(), f);
    }
    if f == T::zero() {
        return (T::zero(), T::one(), g);
    }
    let r = norm2(f, g);
    let inv = T::one() / r;
    if inv.is_finite_value() {
        (f * inv, g * inv, r)
    } else {
        // r is subnormal: 1/r overflows, divide instead.
        (f / r, g / r, r)
    }
}

/// The smaller singular value of `[f g; 0 h]` (LAPACK `dlas2`).
fn smaller_sv_2x2<T: Scalar>(f: T, g: T, h: T) -> T {
    let (fa, ga, ha) = (f.abs(), g.abs(), h.abs());
    let (fhmn, fhmx) = (fa.min(ha), fa.max(ha));
    let (one, two) = (T::one(), T::cast(2.0));
    if fhmn == T::zero() {
        return T::zero();
    }
    if ga < fhmx {
        let as_ = one + fhmn / fhmx;
        let at = (fhmx - fhmn) / fhmx;
        let au = (ga / fhmx) * (ga / fhmx);
        let c = two / ((as_ * as_ + au).sqrt() + (at * at + au).sqrt());
        fhmn * c
    } else {
        let au = fhmx / ga;
        if au == T::zero() {
            return (fhmn * fhmx) / ga;
        }
        let as_ = one + fhmn / fhmx;
        let at = (fhmx - fhmn) / fhmx;
        let c = one / ((one + (as_ * au) * (as_ * au)).sqrt() + (one + (at * au) * (at * au)).sqrt());
        let s = (fhmn * c) * au;
        s + s
    }
}

/// The smallest positive normal number of `T`.
#[inline]
fn smallest_normal<T: Scalar>() -> T {
    let (lo, _) = crate::scalar::normal_exponents::<T>();
    crate::scalar::pow2::<T>(lo).unwrap_or(T::zero())
}

/// Euclidean norm of `x`, exact to rounding even when the squares underflow.
#[inline]
fn norm<T: Scalar>(x: &[T]) -> T {
    let ss = x.iter().fold(T::zero(), |acc, &v| acc + v * v);
    // Squares below the smallest normal number lose bits: rescale exactly then.
    let safe = T::cast(x.len() as f64) * smallest_normal::<T>() / T::EPSILON;
    if ss > safe {
        return ss.sqrt();
    }
    let m = x.iter().fold(T::zero(), |m, &v| m.max(v.abs()));
    if m == T::zero() {
        return T::zero();
    }
    // ldexp per value: 2^-e alone may overflow when the values are subnormal.
    let e = crate::scalar::exponent_of(m.to_f64());
    let ss = x.iter().fold(T::zero(), |acc, &v| {
        let w = crate::scalar::ldexp(v, -e);
        acc + w * w
    });
    crate::scalar::ldexp(ss.sqrt(), e)
}

/// Reusable buffers for [`singular_values`].
#[derive(Debug, Clone)]
pub(crate) struct Workspace<T> {
    d: Vec<T>,
    e: Vec<T>,
    v: Vec<T>,
    s: Vec<T>,
}

impl<T> Default for Workspace<T> {
    fn default() -> Self {
        Self { d: Vec::new(), e: Vec::new(), v: Vec::new(), s: Vec::new() }
    }
}

/// The singular values of the `n × n` column-major matrix `a` (overwritten), in
/// no particular order, into `out` (`n` values, nonnegative).
///
/// # Errors
/// [`EssError::NoConvergence`] when the bidiagonal QR needs more than
/// `max_sweeps` sweeps.
pub(crate) fn singular_values<T: Scalar>(
    a: &mut [T],
    n: usize,
    ws: &mut Workspace<T>,
    out: &mut Vec<T>,
    max_sweeps: usize,
) -> Result<()> {
    debug_assert_eq!(a.len(), n * n);
    out.clear();
    if n == 0 {
        return Ok(());
    }
    let Workspace { d, e, v, s } = ws;
    d.clear();
    d.resize(n, T::zero());
    e.clear();
    e.resize(n.saturating_sub(1), T::zero());
    v.clear();
    v.resize(n, T::zero());
    s.clear();
    s.resize(n, T::zero());
    bidiagonalize(a, n, d, e, v, s);
    bidiagonal_qr(d, e, max_sweeps).ok_or(EssError::NoConvergence { rows: n, cols: n, iterations: max_sweeps })?;
    out.extend(d.iter().map(|x| x.abs()));
    Ok(())
}

/// `M = U·B·Vᵀ`: the diagonal of `B` into `d`, its superdiagonal into `e`;
/// `v` and `s` are scratch (`n` values each).
fn bidiagonalize<T: Scalar>(a: &mut [T], n: usize, d: &mut [T], e: &mut [T], v: &mut [T], s: &mut [T]) {
    for k in 0..n {
        // Left reflector: zeros column k below the diagonal (column-major: contiguous).
        let (head, tail) = a.split_at_mut((k + 1) * n);
        let col = &mut head[k * n + k..];
        let (beta, tau) = reflect(col);
        d[k] = beta;
        if tau != T::zero() {
            // Apply I - τ·u·uᵀ (u = [1; col[1..]]) to the columns right of k.
            let u = &col[1..];
            for c in tail.chunks_exact_mut(n) {
                let c = &mut c[k..];
                let w = c[0] + dot(&c[1..], u);
                let tw = tau * w;
                c[0] -= tw;
                for (x, &y) in c[1..].iter_mut().zip(u) {
                    *x -= tw * y;
                }
            }
        }
        if k + 1 >= n {
            break;
        }
        // Right reflector: zeros row k right of the superdiagonal.
        let m = n - k - 1;
        for (j, x) in v[..m].iter_mut().enumerate() {
            *x = a[(k + 1 + j) * n + k];
        }
        let (beta, tau) = reflect(&mut v[..m]);
        e[k] = beta;
        if tau != T::zero() {
            // Rows k+1.. of columns k+1..: s_r = Σ_j a[r, k+1+j]·u_j, then
            // a[r, k+1+j] -= τ·u_j·s_r (u_0 = 1).
            v[0] = T::one();
            let s = &mut s[..m];
            s.copy_from_slice(&a[(k + 1) * n + k + 1..(k + 2) * n]);
            for (j, &uj) in v[..m].iter().enumerate().skip(1) {
                let c = &a[(k + 1 + j) * n + k + 1..(k + 2 + j) * n];
                for (acc, &x) in s.iter_mut().zip(c) {
                    *acc += x * uj;
                }
            }
            for (j, &uj) in v[..m].iter().enumerate() {
                let c = &mut a[(k + 1 + j) * n + k + 1..(k + 2 + j) * n];
                let f = tau * uj;
                for (x, &sr) in c.iter_mut().zip(s.iter()) {
                    *x -= f * sr;
                }
            }
        }
    }
}

/// `Σ x_k·y_k` with four independent partial sums (a fixed order: results do
/// not depend on anything but the inputs).
#[inline]
pub(crate) fn dot<T: Scalar>(x: &[T], y: &[T]) -> T {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [T::zero(); 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        acc[0] += a[0] * b[0];
        acc[1] += a[1] * b[1];
        acc[2] += a[2] * b[2];
        acc[3] += a[3] * b[3];
    }
    let mut tail = T::zero();
    for (&a, &b) in xr.iter().zip(yr) {
        tail += a * b;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Householder reflector of `x` (LAPACK `dlarfg`): `(I - τ·u·uᵀ)·x = β·e₁` with
/// `u = [1; x[1..]/(x₀ - β)]`, the tail of `u` stored over `x[1..]`. Returns
/// `(β, τ)`; `τ = 0` (the identity) when `x[1..]` is zero.
fn reflect<T: Scalar>(x: &mut [T]) -> (T, T) {
    if x.len() == 1 {
        return (x[0], T::zero());
    }
    let tail = norm(&x[1..]);
    if tail == T::zero() {
        return (x[0], T::zero());
    }
    // A tiny vector (its norm near the subnormal range, where 1/(x₀ - β) would
    // overflow): scale it by an exact power of two first (LAPACK rescales too);
    // u and τ do not depend on the scale, β is scaled back.
    let m = x.iter().fold(T::zero(), |m, &v| m.max(v.abs()));
    let tiny = smallest_normal::<T>() / T::EPSILON;
    let mut back = 0;
    if m < tiny {
        back = crate::scalar::exponent_of(m.to_f64());
        x.iter_mut().for_each(|v| *v = crate::scalar::ldexp(*v, -back));
    }
    let (x0, tail) = if back == 0 { (x[0], tail) } else { (x[0], norm(&x[1..])) };
    let nrm = norm2(x0, tail);
    let beta = if x0 >= T::zero() { -nrm } else { nrm };
    let tau = (beta - x0) / beta;
    let scale = T::one() / (x0 - beta);
    for y in x[1..].iter_mut() {
        *y *= scale;
    }
    (if back == 0 { beta } else { crate::scalar::ldexp(beta, back) }, tau)
}

/// Singular values of the upper bidiagonal `(d, e)`, into `|d|`. `None` when
/// more than `max_sweeps` QR sweeps were needed.
fn bidiagonal_qr<T: Scalar>(d: &mut [T], e: &mut [T], max_sweeps: usize) -> Option<()> {
    let n = d.len();
    if n <= 1 {
        return Some(());
    }
    let eps = T::EPSILON;
    let anorm = d.iter().chain(e.iter()).fold(T::zero(), |m, &x| m.max(x.abs()));
    let small_d = eps * anorm;
    let mut sweeps = 0usize;
    let mut hi = n - 1;
    loop {
        // Deflate converged values at the bottom.
        while hi > 0 {
            let k = hi - 1;
            if e[k].abs() <= (eps * (d[k].abs() + d[hi].abs())).max(small_d) {
                e[k] = T::zero();
                hi -= 1;
            } else {
                break;
            }
        }
        if hi == 0 {
            return Some(());
        }
        // The unreduced block lo..=hi (e[lo..hi] nonzero).
        let mut lo = hi - 1;
        while lo > 0 {
            let k = lo - 1;
            if e[k].abs() <= (eps * (d[k].abs() + d[lo].abs())).max(small_d) {
                e[k] = T::zero();
                break;
            }
            lo -= 1;
        }
        sweeps += 1;
        if sweeps > max_sweeps {
            return None;
        }
        // A negligible diagonal entry: rotate its off-diagonal out (splits the block).
        if let Some(k) = (lo..=hi).find(|&k| d[k].abs() <= small_d) {
            d[k] = T::zero();
            if k < hi {
                // Row k: chase e[k] to the right with row rotations against rows j > k.
                let mut f = e[k];
                e[k] = T::zero();
                for j in k + 1..=hi {
                    let (c, s, r) = givens(d[j], f);
                    d[j] = r;
                    if j < hi {
                        f = -s * e[j];
                        e[j] = c * e[j];
                    }
                }
            } else {
                // Last column: chase e[hi-1] upwards with column rotations.
                let mut f = e[hi - 1];
                e[hi - 1] = T::zero();
                for j in (lo..hi).rev() {
                    let (c, s, r) = givens(d[j], f);
                    d[j] = r;
                    if j > lo {
                        f = -s * e[j - 1];
                        e[j - 1] = c * e[j - 1];
                    }
                }
            }
            continue;
        }
        // Shift: the smaller singular value of the trailing 2 × 2; none when it is
        // negligible against the top of the block (zero-shift QR then).
        let mut shift = smaller_sv_2x2(d[hi - 1], e[hi - 1], d[hi]);
        let top = d[lo].abs();
        if top > T::zero() && (shift / top) * (shift / top) < eps {
            shift = T::zero();
        }
        let sign = if d[lo] >= T::zero() { T::one() } else { -T::one() };
        let mut f = (d[lo].abs() - shift) * (sign + shift / d[lo]);
        let mut g = e[lo];
        for i in lo..hi {
            let (cr, sr, r) = givens(f, g);
            if i > lo {
                e[i - 1] = r;
            }
            f = cr * d[i] + sr * e[i];
            e[i] = cr * e[i] - sr * d[i];
            g = sr * d[i + 1];
            d[i + 1] = cr * d[i + 1];
            let (cl, sl, r) = givens(f, g);
            d[i] = r;
            f = cl * e[i] + sl * d[i + 1];
            d[i + 1] = cl * d[i + 1] - sl * e[i];
            if i + 1 < hi {
                g = sl * e[i + 1];
                e[i + 1] = cl * e[i + 1];
            }
        }
        e[hi - 1] = f;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn reference(m: &DMatrix<f64>) -> Vec<f64> {
        let mut s: Vec<f64> = m.singular_values().iter().copied().collect();
        s.sort_by(|a, b| b.total_cmp(a));
        s
    }

    fn ours<T: Scalar>(m: &DMatrix<T>) -> Vec<f64> {
        let n = m.nrows();
        let mut a = m.as_slice().to_vec();
        let (mut ws, mut out) = (Workspace::default(), Vec::new());
        singular_values(&mut a, n, &mut ws, &mut out, 100 + 30 * n * n).unwrap();
        let mut s: Vec<f64> = out.iter().map(|x| x.to_f64()).collect();
        s.sort_by(|a, b| b.total_cmp(a));
        s
    }

    #[test]
    fn matches_nalgebra_on_random_graded_and_singular_matrices() {
        let mut rng = StdRng::seed_from_u64(11);
        for trial in 0..400 {
            let n = rng.random_range(1..=20);
            let kind = trial % 5;
            let m = DMatrix::from_fn(n, n, |i, j| {
                let x: f64 = rng.random_range(-1.0..1.0);
                match kind {
                    0 => x,
                    // graded columns: σ spread over 2^±60
                    1 => x * 2f64.powi(-(6 * j as i32)),
                    // rank deficient (rank ≤ n/2 by construction below)
                    2 => x,
                    // triangular
                    3 if i > j => 0.0,
                    // tiny entries mixed with O(1) ones
                    4 if (i + j) % 3 == 0 => x * 1e-200,
                    _ => x,
                }
            });
            let m = if kind == 2 && n > 1 {
                let k = n / 2;
                let l = m.columns(0, k).into_owned();
                let r = DMatrix::from_fn(k, n, |_, _| rng.random_range(-1.0..1.0));
                l * r
            } else {
                m
            };
            let m = &m / m.amax().max(f64::MIN_POSITIVE);
            let (want, got) = (reference(&m), ours(&m));
            for (k, (x, y)) in want.iter().zip(&got).enumerate() {
                assert!(
                    (x - y).abs() <= 8.0 * n as f64 * f64::EPSILON * want[0],
                    "trial {trial} σ_{k}: {x:e} vs {y:e}"
                );
            }
        }
    }

    #[test]
    fn tiny_and_subnormal_remainders_do_not_break_the_reflectors() {
        // A rank-one matrix plus subnormal noise (as the core of a system with
        // identical states): no NaN, no lost convergence.
        for noise in [1e-310f64, 5e-324, 1e-300, 1e-160, 0.0] {
            let mut m = DMatrix::from_fn(8, 8, |i, j| 0.5 / (1.0 + i as f64 + j as f64 * 0.0));
            for k in 0..8 {
                m[(k, (3 * k + 1) % 8)] += noise * (k as f64 - 3.5);
            }
            let s = ours(&m);
            assert!(s.iter().all(|x| x.is_finite()), "{noise:e}: {s:?}");
            let want = reference(&m);
            assert!((s[0] - want[0]).abs() <= 1e-14 * want[0] && s[1] <= 1e-14 * want[0], "{noise:e}: {s:?}");
        }
        let s = ours(&DMatrix::from_row_slice(2, 2, &[1e-310f64, 2e-310, 0.0, 3e-310]));
        assert!(s.iter().all(|x| x.is_finite() && *x > 0.0), "{s:?}");
        // The core that once produced NaN (a Mamba layer whose states are all
        // alike): O(1), 1e-16, 1e-32, … down to the smallest subnormals.
        let mut m = DMatrix::<f64>::zeros(8, 8);
        for (k, &v) in [
            0.9983352757296106,
            1.2122849477927539e-16,
            2.307268562478893e-32,
            2.780548072266581e-277,
            5.595963423849442e-293,
            4.91270489461552e-309,
            1e-323,
            5e-324,
            2.143651309954252e-16,
            2.974913801348861e-32,
            5.66197336891312e-48,
            6.823388222843745e-293,
            1.3732339786750453e-308,
        ]
        .iter()
        .enumerate()
        {
            m[(k / 8, k % 8)] = v;
        }
        m[(2, 0)] = 1.0199704461767512e-31;
        m[(3, 0)] = 1.509859565043498e-47;
        m[(4, 0)] = 2.5e-323;
        m[(7, 0)] = 5e-324;
        let s = ours(&m);
        assert!(s.iter().all(|x| x.is_finite()), "{s:?}");
        assert!((s[0] - reference(&m)[0]).abs() <= 1e-15, "{s:?}");
    }

    #[test]
    fn special_matrices() {
        for n in 1..=12 {
            assert!(ours(&DMatrix::<f64>::zeros(n, n)).iter().all(|&x| x == 0.0));
            assert!(ours(&DMatrix::<f64>::identity(n, n)).iter().all(|&x| (x - 1.0).abs() < 1e-15));
            let ones = ours(&DMatrix::<f64>::from_element(n, n, 1.0));
            assert!((ones[0] - n as f64).abs() < 1e-13 && ones[1..].iter().all(|&x| x < 1e-14));
            // A Jordan-like bidiagonal with tiny diagonal: zero-diagonal handling.
            let mut j = DMatrix::<f64>::zeros(n, n);
            for k in 0..n - 1 {
                j[(k, k + 1)] = 1.0;
            }
            let s = ours(&j);
            assert!(s[..n - 1].iter().all(|&x| (x - 1.0).abs() < 1e-14) && s[n - 1] == 0.0, "{s:?}");
        }
        let s = ours(&DMatrix::from_row_slice(2, 2, &[0.5f32, 0.25, 0.0, 1e-30]));
        assert!((s[0] - 0.5590169943749475).abs() < 1e-6 && s[1] < 1e-7);
    }
}
