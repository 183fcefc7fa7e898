//! The fast path for time-invariant convolutions: a time-invariant reduced model
//! of the kernel by Ho–Kalman / Kung's method on the kernel's Hankel matrix, and
//! its certificate `‖T − T_r‖₂ ≤ ‖h − h_r‖₁` (see [`crate::distillation`] §2b).
//!
//! For `T[t,s] = h_{t-s}` (`L` steps, `h_j = 0` for `j ≥ k`):
//!
//! 1. `n` = the number of leading taps used: `k`, less the longest tail whose
//!    `ℓ₁` norm is at most `ε·‖h_{1..}‖₁` (exact zeros of a short or decaying
//!    kernel). `K[a,b] = h_{a+b+1}`, `a < ⌈n/2⌉`, `b < ⌊n/2⌋`: the top-left block
//!    of the middle Hankel block `H_{⌊L/2⌋}` of `T` (all of it when `n = L`).
//! 2. The leading `r + 1` singular triplets of `K`: every one when
//!    `min(rows, cols) ≤ 160`, else by subspace iteration with Rayleigh–Ritz
//!    (`s = r + 1 + max(8, r/2)` vectors, QR after every product, until the
//!    residual `‖Kᵀ ũ_j − σ_j ṽ_j‖ ≤ 1e-10·σ_1` for the kept triplets, at most 200
//!    iterations). `K` is formed (`⌈n/2⌉·⌊n/2⌋` values) and multiplied by GEMM.
//! 3. Kung: `O = U_r Σ_r^{1/2}`, `C` = its first row, `B = Σ_r^{1/2} V_r[0,:]ᵀ`,
//!    `A = O_{0..rows-1}⁺ O_{1..rows}` (least squares, by a checked SVD), `D = h_0`.
//! 4. The certificate is computed *afterwards*, from the model as it is returned
//!    (after rounding to the operator's type): `h_r[j] = C A^{j-1} B` for
//!    `j < L`, `‖h − h_r‖₁`, and a first-order bound on the rounding of that
//!    recurrence. It does not depend on the accuracy of step 2.
//!
//! The Ritz values are singular values of `QᵀKP` with orthonormal `Q`, `P`, so
//! `σ_{r+1}` of it is at most `σ_{r+1}(K) ≤ σ_{r+1}(H_{⌊L/2⌋})`: a valid
//! Eckart–Young lower bound, at the middle cut only.

use super::svd::svd;
use crate::error::Result;
use nalgebra::{DMatrix, DVector};

/// Below this `min(rows, cols)` the Hankel matrix is decomposed in full.
const FULL_SVD_UP_TO: usize = 160;
/// The residual at which the subspace iteration stops, relative to `σ_1`.
const RESIDUAL_TOL: f64 = 1e-10;
/// The iteration limit of the subspace iteration.
const MAX_ITERATIONS: usize = 200;

/// A time-invariant reduced model of one kernel and what its computation found.
#[derive(Debug, Clone)]
pub(crate) struct KernelModel {
    /// `A` (`kept × kept`), `B` (`kept × 1`), `C` (`1 × kept`), `D` (`1 × 1`).
    pub a: DMatrix<f64>,
    pub b: DMatrix<f64>,
    pub c: DMatrix<f64>,
    pub d: DMatrix<f64>,
    /// States kept.
    pub kept: usize,
    /// `σ_{r+1}` of the Ritz matrix: a lower bound on `σ_{r+1}(H_{⌊L/2⌋})`.
    pub lower: f64,
    /// The shape of the kernel Hankel matrix `K`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub shape: (usize, usize),
    /// The final relative residual of the kept triplets (0 for a full SVD).
    #[cfg_attr(not(test), allow(dead_code))]
    pub residual: f64,
    /// Subspace iterations (0 for a full SVD).
    #[cfg_attr(not(test), allow(dead_code))]
    pub iterations: usize,
}

/// The number of leading taps the Hankel matrix uses (at least 1).
pub(crate) fn extent(h: &[f64]) -> usize {
    let total: f64 = h.iter().skip(1).map(|x| x.abs()).sum();
    let mut n = h.len();
    let mut tail = 0.0;
    while n > 1 {
        let x = h[n - 1].abs();
        if tail + x > f64::EPSILON * total {
            break;
        }
        tail += x;
        n -= 1;
    }
    n
}

/// The shape `(⌈n/2⌉, ⌊n/2⌋)` of the kernel Hankel matrix for `n` taps.
pub(crate) fn hankel_shape(n: usize) -> (usize, usize) {
    (n - n / 2, n / 2)
}

/// Reduces the kernel `h` (finite, `h.len() ≥ 1`) to at most `r` states; singular
/// values at or below `keep_rel·σ_1(K)` are never kept.
pub(crate) fn realize(h: &[f64], r: usize, keep_rel: f64) -> Result<KernelModel> {
    let n = extent(h);
    let d = DMatrix::from_element(1, 1, h[0]);
    let (rows, cols) = hankel_shape(n);
    let empty = |lower: f64, residual: f64, iterations: usize| KernelModel {
        a: DMatrix::zeros(0, 0),
        b: DMatrix::zeros(0, 1),
        c: DMatrix::zeros(1, 0),
        d: d.clone(),
        kept: 0,
        lower,
        shape: (rows, cols),
        residual,
        iterations,
    };
    if cols == 0 {
        return Ok(empty(0.0, 0.0, 0));
    }
    let k = DMatrix::from_fn(rows, cols, |a, b| h[a + b + 1]);
    let t = top_triplets(&k, r, keep_rel)?;
    let s1 = t.s.first().copied().unwrap_or(0.0);
    let kept = t.s.iter().take(r).take_while(|&&s| s > keep_rel * s1 && s > 0.0).count();
    let lower = t.s.get(r).copied().unwrap_or(0.0);
    if kept == 0 {
        return Ok(empty(lower, t.residual, t.iterations));
    }
    let sqrt: Vec<f64> = t.s[..kept].iter().map(|s| s.sqrt()).collect();
    let mut o = t.u.columns(0, kept).into_owned();
    for (j, f) in sqrt.iter().enumerate() {
        o.column_mut(j).scale_mut(*f);
    }
    let c = o.rows(0, 1).into_owned();
    let b = DMatrix::from_fn(kept, 1, |j, _| sqrt[j] * t.v[(0, j)]);
    let a = if rows >= 2 {
        let up = o.rows(0, rows - 1).into_owned();
        let down = o.rows(1, rows - 1).into_owned();
        least_squares(&up, &down)?
    } else {
        DMatrix::zeros(kept, kept)
    };
    Ok(KernelModel { a, b, c, d, kept, lower, shape: (rows, cols), residual: t.residual, iterations: t.iterations })
}

/// `X` minimising `‖M X − Y‖_F` (minimum norm), by a checked SVD of `M`.
fn least_squares(m: &DMatrix<f64>, y: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let d = svd(m)?;
    let s1 = d.s.first().copied().unwrap_or(0.0);
    let cut = s1 * f64::EPSILON * m.nrows().max(m.ncols()) as f64;
    let mut uty = d.u.tr_mul(y);
    for (j, &s) in d.s.iter().enumerate() {
        if s > cut {
            uty.row_mut(j).unscale_mut(s);
        } else {
            uty.row_mut(j).fill(0.0);
        }
    }
    Ok(&d.v * uty)
}

/// Leading singular triplets: `u` (`rows × s`), `s` descending, `v` (`cols × s`).
struct Triplets {
    u: DMatrix<f64>,
    s: Vec<f64>,
    v: DMatrix<f64>,
    residual: f64,
    iterations: usize,
}

/// An orthonormal basis of the columns of `m` (thin Householder QR).
fn orth(m: DMatrix<f64>) -> DMatrix<f64> {
    m.qr().q()
}

/// Deterministic uniform numbers in `[-1, 1)`: the SplitMix64 stream from the
/// state `φ` ([`crate::random`]).
fn start_block(rows: usize, cols: usize) -> DMatrix<f64> {
    crate::random::SplitMix64::from_state(0x9E37_79B9_7F4A_7C15).matrix(rows, cols)
}

/// The leading `r + 1` (or more) singular triplets of `k` (`rows ≥ cols ≥ 1`).
fn top_triplets(k: &DMatrix<f64>, r: usize, keep_rel: f64) -> Result<Triplets> {
    let (rows, cols) = k.shape();
    let dim = (r + 1 + (r / 2).max(8)).min(cols);
    if cols <= FULL_SVD_UP_TO || 2 * dim >= cols {
        let d = svd(k)?;
        return Ok(Triplets { u: d.u, s: d.s, v: d.v, residual: 0.0, iterations: 0 });
    }
    let mut q = orth(k * start_block(cols, dim));
    let mut ritz: Option<(super::svd::Svd, DMatrix<f64>)> = None;
    let mut residual = f64::INFINITY;
    let mut iterations = 0;
    for it in 0..=MAX_ITERATIONS {
        let z = k.tr_mul(&q);
        if let Some((d, p)) = &ritz {
            // ‖Kᵀ(Q u_j) − σ_j P v_j‖ for the triplets that would be kept.
            let s1 = d.s[0].max(f64::MIN_POSITIVE);
            let zu = &z * &d.u;
            let pv = p * &d.v;
            residual = (0..r.min(dim))
                .filter(|&j| d.s[j] > keep_rel * s1)
                .map(|j| (zu.column(j) - pv.column(j) * d.s[j]).norm() / s1)
                .fold(0.0, f64::max);
            if residual <= RESIDUAL_TOL || it == MAX_ITERATIONS {
                break;
            }
        }
        iterations = it + 1;
        let p = orth(z);
        let w = k * &p;
        q = orth(w.clone());
        let b = q.tr_mul(&w);
        ritz = Some((svd(&b)?, p));
    }
    let (d, p) = ritz.expect("at least one iteration");
    debug_assert_eq!(q.ncols(), dim);
    let _ = rows;
    Ok(Triplets { u: &q * &d.u, s: d.s, v: p * &d.v, residual, iterations })
}

/// `‖h − h_r‖₁` over the first `len` taps (`h_j = 0` beyond `h.len()`) for the
/// model `(a, b, c, d)` with `h_r[0] = D`, `h_r[j] = C A^{j-1} B`, and a
/// first-order bound on the rounding of that computation: `(l1, rounding)`.
///
/// The rounding bound follows `ĥ_j = fl(C x̂_j)`, `x̂_{j+1} = fl(A x̂_j)`:
/// `|fl(C x̂) − C x̂| ≤ γ_n ‖C‖‖x̂‖`, `‖fl(A x̂) − A x̂‖ ≤ γ_n ‖A‖_F ‖x̂‖`, so the
/// state error obeys `e_{j+1} ≤ ‖A‖₂ e_j + γ_n ‖A‖_F ‖x̂_j‖` and each tap is off by
/// at most `‖C‖ e_j + γ_n ‖C‖ ‖x̂_j‖`; the sum of `len` terms adds `(len + 2)·ε`
/// relative. Here `γ_n = (n + 1)·unit/(1 − (n + 1)·unit)`, `‖A‖₂` is taken `10⁻¹²`
/// relative above its computed value (the SVD's own rounding), and the sum of
/// the terms is doubled (the second-order terms a first-order bound leaves out).
/// `unit`: the unit roundoff of the arithmetic the model is run in
/// (`ε` of the operator's type, at least `ε_{f64}`), so that the bound also covers
/// `T_r` as computed in that type.
pub(crate) fn certify(
    h: &[f64],
    len: usize,
    a: &DMatrix<f64>,
    b: &DMatrix<f64>,
    c: &DMatrix<f64>,
    d: f64,
    unit: f64,
) -> Result<(f64, f64)> {
    let n = a.nrows();
    let eps = f64::EPSILON;
    let unit = unit.max(eps);
    let gamma = ((n + 1) as f64 * unit) / (1.0 - (n + 1) as f64 * unit);
    let a2 = if n == 0 { 0.0 } else { super::certificate::spectral_norm(a)? * (1.0 + 1e-12) };
    let (af, cn) = (a.norm(), c.norm());
    let mut l1 = (h[0] - d).abs();
    let mut rounding = 0.0;
    let mut e = 0.0;
    let mut x: DVector<f64> = if n == 0 { DVector::zeros(0) } else { b.column(0).into_owned() };
    for j in 1..len {
        let hr = if n == 0 { 0.0 } else { (c * &x)[0] };
        l1 += (h.get(j).copied().unwrap_or(0.0) - hr).abs();
        let xn = x.norm();
        rounding += cn * e + gamma * cn * xn;
        e = a2 * e + gamma * af * xn;
        if n > 0 {
            x = a * x;
        }
    }
    rounding += l1 * (len as f64 + 2.0) * eps;
    Ok((l1, 2.0 * rounding))
}

/// `y = T x` for the causal convolution with kernel `h` (`O(L·k)`).
pub(crate) fn convolve(h: &[f64], x: &[f64]) -> Vec<f64> {
    (0..x.len()).map(|t| (0..h.len().min(t + 1)).map(|j| h[j] * x[t - j]).sum()).collect()
}

/// `z = Tᵀ y` for the same convolution: `z_s = Σ_{t ≥ s} h_{t-s} y_t`.
pub(crate) fn convolve_transpose(h: &[f64], y: &[f64]) -> Vec<f64> {
    let len = y.len();
    (0..len).map(|s| (0..h.len().min(len - s)).map(|j| h[j] * y[s + j]).sum()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a matrix whose singular values decay slowly (about 0.85 per index), one
    /// step of subspace iteration is not enough: the iteration runs until the
    /// kept triplets' residual is below its tolerance, and their values then
    /// agree with a full SVD to 1e-9 relative.
    /// The start block is the SplitMix64 stream from the state `φ`, filled
    /// column by column: from state 0 that stream's first output is the
    /// reference generator's, so these are its second and third.
    #[test]
    fn the_start_block_is_the_splitmix64_stream_from_phi() {
        let b = start_block(1, 2);
        let want = [0x6E78_9E6A_A1B9_65F4u64, 0x06C4_5D18_8009_454F].map(crate::random::symmetric);
        assert_eq!(b.as_slice(), &want[..]);
        assert!(b.iter().all(|x| (-1.0..1.0).contains(x)));
    }

    #[test]
    fn the_subspace_iteration_runs_until_the_kept_triplets_converge() {
        let (rows, cols, r) = (260, 200, 6);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let k = DMatrix::from_fn(rows, cols, |_, c| next() * 0.85f64.powi(c as i32));
        let t = top_triplets(&k, r, 1e-11).unwrap();
        assert!(t.iterations > 1, "{} iteration(s)", t.iterations);
        assert!(t.residual <= RESIDUAL_TOL, "{:e}", t.residual);
        let full = k.singular_values();
        for j in 0..r {
            assert!((t.s[j] - full[j]).abs() <= 1e-9 * full[j], "σ_{j}: {} vs {}", t.s[j], full[j]);
        }
        // The stopping rule is relative to σ_1: the same iterations and residual
        // at any scale (a power of two scales every step exactly).
        for e in [-40, 40] {
            let ts = top_triplets(&(&k * 2f64.powi(e)), r, 1e-11).unwrap();
            assert_eq!((ts.iterations, ts.residual), (t.iterations, t.residual), "K·2^{e}");
        }
    }

    #[test]
    fn a_sum_of_exponentials_is_recovered_and_the_subspace_iteration_agrees_with_the_full_svd() {
        let len = 1200;
        let h: Vec<f64> = (0..len)
            .map(|j| {
                let x = j as f64;
                if j == 0 {
                    0.7
                } else {
                    0.98f64.powf(x) * (0.1 * x).cos() - 0.5 * 0.9f64.powf(x) + 0.3 * (-0.95f64).powf(x)
                }
            })
            .collect();
        let m = realize(&h, 6, 1e-11).unwrap();
        assert!(m.iterations > 0, "the subspace iteration ran");
        assert!(m.residual <= RESIDUAL_TOL, "converged: {:e}", m.residual);
        assert_eq!(m.kept, 4, "rank 4: a complex pair and two real modes");
        let (l1, rounding) = certify(&h, len, &m.a, &m.b, &m.c, m.d[(0, 0)], f64::EPSILON).unwrap();
        assert!(l1 <= 1e-9 && rounding <= 1e-9, "{l1:e} {rounding:e}");
        assert!(m.lower <= 1e-10);
        // Against the full SVD of K at a smaller, truncated order.
        let m3 = realize(&h, 3, 1e-11).unwrap();
        let (rows, cols) = m3.shape;
        let k = DMatrix::from_fn(rows, cols, |a, b| h[a + b + 1]);
        let full = k.singular_values();
        assert!((m3.lower - full[3]).abs() <= 1e-8 * full[0], "{} vs {}", m3.lower, full[3]);
    }

    /// The rounding bound is the documented one, term by term, on two systems
    /// small enough to follow by hand (every state and tap exact in binary):
    /// `A = 0.5`, `B = 1`, `C = 2`, `D = 0.25` over five taps with `unit = 2⁻¹⁰`
    /// (so `γ₁ = 2·2⁻¹⁰/(1 − 2·2⁻¹⁰) = 1/511`), and a model with no state.
    #[test]
    fn the_rounding_bound_is_the_documented_one() {
        let m = |r: usize, c: usize, v: &[f64]| DMatrix::from_row_slice(r, c, v);
        // Taps of the model: D = 0.25, then C·A^{j−1}·B = 2, 1, 0.5, 0.25.
        // The kernel: 0.375, 2, 1.5, 0.5 and zero beyond, so
        // ‖h − h_r‖₁ = 0.125 + 0 + 0.5 + 0 + 0.25 = 0.875 over five taps.
        let h = [0.375, 2.0, 1.5, 0.5];
        let unit = 2f64.powi(-10);
        let (l1, rounding) = certify(&h, 5, &m(1, 1, &[0.5]), &m(1, 1, &[1.0]), &m(1, 1, &[2.0]), 0.25, unit).unwrap();
        assert_eq!(l1, 0.875);
        // States x̂_j = 1, 0.5, 0.25, 0.125 (j = 1..4); ‖A‖_F = 0.5, ‖C‖ = 2.
        // Errors e_1 = 0, e_{j+1} = a₂·e_j + γ·0.5·x̂_j with a₂ = 0.5·(1 + 1e-12);
        // tap terms 2·e_j + γ·2·x̂_j. Summed by hand:
        //   j = 1: 2γ              e_2 = γ/2
        //   j = 2: γ + γ           e_3 = γ·(a₂/2 + 1/4)
        //   j = 3: γ·(a₂ + 1)      e_4 = γ·(a₂²/2 + a₂/4 + 1/8)
        //   j = 4: γ·(a₂² + a₂/2 + 1/2)
        // in all γ·(5.5 + 1.5·a₂ + a₂²); then ℓ₁·(L + 2)·ε = 0.875·7·ε; doubled.
        let gamma = 1.0 / 511.0;
        let a2 = 0.5 * (1.0 + 1e-12);
        let expected = 2.0 * (gamma * (5.5 + 1.5 * a2 + a2 * a2) + 0.875 * 7.0 * f64::EPSILON);
        assert!((rounding - expected).abs() <= 1e-15 * expected, "{rounding:e} vs {expected:e}");
        // (The 1e-12 margin on ‖A‖₂ moves the bound by about 2e-13 relative, far
        // above the tolerance: the margin is pinned too.)
        // A unit below f64's ε is raised to ε: γ₁ = 2ε/(1 − 2ε).
        let (_, r64) = certify(&h, 5, &m(1, 1, &[0.5]), &m(1, 1, &[1.0]), &m(1, 1, &[2.0]), 0.25, 1e-30).unwrap();
        let g64 = 2.0 * f64::EPSILON / (1.0 - 2.0 * f64::EPSILON);
        let e64 = 2.0 * (g64 * (5.5 + 1.5 * a2 + a2 * a2) + 0.875 * 7.0 * f64::EPSILON);
        assert!((r64 - e64).abs() <= 1e-15 * e64, "{r64:e} vs {e64:e}");
        // No state: every tap after the first is 0, so ℓ₁ = |1 − 0.5| + 0.25 = 0.75
        // over three taps and only the summation term is left, 2·0.75·5·ε.
        let (l1, rounding) =
            certify(&[1.0, 0.25], 3, &DMatrix::zeros(0, 0), &DMatrix::zeros(0, 1), &DMatrix::zeros(1, 0), 0.5, unit)
                .unwrap();
        assert_eq!(l1, 0.75);
        assert_eq!(rounding, 2.0 * 0.75 * 5.0 * f64::EPSILON);
    }

    #[test]
    fn convolution_and_its_transpose() {
        let h = [1.0, 2.0, -1.0];
        let x = [1.0, 0.5, 0.0, -2.0];
        let t = DMatrix::from_fn(4, 4, |t, s| if t >= s && t - s < 3 { h[t - s] } else { 0.0 });
        let y = convolve(&h, &x);
        let expect = &t * DVector::from_column_slice(&x);
        assert_eq!(y, expect.as_slice());
        let z = convolve_transpose(&h, &x);
        let expect = t.tr_mul(&DVector::from_column_slice(&x));
        assert_eq!(z, expect.as_slice());
        assert_eq!(extent(&[1.0, 2.0, 0.0, 0.0]), 2);
        assert_eq!(extent(&[1.0, 0.0, 0.0]), 1);
    }

    /// Trailing taps are dropped while their summed magnitude stays at or below
    /// `ε·Σ_{k≥1} |h_k|` (the Markov parameters' mass; `h_0` is the feedthrough
    /// and does not count), whatever the kernel's scale.
    #[test]
    fn extent_drops_a_tail_below_eps_times_the_markov_mass() {
        let eps = f64::EPSILON;
        // Mass 2e6: a tail of 2e-12 < ε·2e6 ≈ 4.4e-10 goes, at any scale of h.
        for scale in [1.0, 1e-200, 1e200] {
            let h: Vec<f64> = [5.0, 1e6, -1e6, 1e-12, -1e-12].iter().map(|x| x * scale).collect();
            assert_eq!(extent(&h), 3, "scale {scale:e}");
        }
        // A mass of 1e-6: ε·1e-6 ≈ 2.2e-22, so a tail of 1e-18 stays.
        assert_eq!(extent(&[1.0, 1e-6, 1e-18]), 3);
        // h_0 does not count: a huge feedthrough keeps the unit tap.
        assert_eq!(extent(&[1e20, 1.0, 1e-17]), 2);
        // Exactly at the limit the tap goes (the test is `> ε·mass`); just above, it stays.
        let mass = 1.0 + eps;
        assert_eq!(extent(&[0.0, 1.0, eps]), 2, "a tail of ε against a mass of {mass}");
        assert_eq!(extent(&[0.0, 1.0, 0.75 * eps, 0.75 * eps]), 3);
    }
}
