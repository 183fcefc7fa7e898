//! The low-rank method for time-invariant convolutions: certified spectra of
//! every `H_i` from one global factorisation of the kernel's Hankel matrix.
//!
//! For `T[t,s] = h_{t−s}` (SISO), reversing the columns of `H_i` gives
//! `H_i ≅ 𝓗[0..L−i, 0..i]` with `𝓗[a,c] = g_{a+c}`, `g_k = h_{k+1}`: every block
//! is a corner of one `(L−1) × (L−1)` Hankel matrix `𝓗`. A randomized range
//! finder (one power iteration, products with `𝓗` formed row block by row block,
//! never the whole matrix) gives an orthonormal `Q` (`n × k`) and `W = 𝓗 Q`, and
//! every block is approximated by the corner of `Q Wᵀ`:
//!
//! ```text
//! Ĥ_i = Q[0..m] W[0..i]ᵀ,   m = L − i,   σ(Ĥ_i) = σ(R_Q(m) R_W(i)ᵀ)
//! ```
//!
//! with `R_Q(m)`, `R_W(i)` the `k × k` triangular factors of the prefixes, carried
//! by Givens row updates (stored every `s ≈ √L` rows and recomputed in between,
//! so memory is `O((L/s + s)·k²)`). The certificate is exact arithmetic on the
//! residual `E = 𝓗 − Q Wᵀ`: every entry with `a + c ≤ L − 2` lies in the corners
//! of the indices `c < i ≤ L − 1 − a`, so one pass over the residual (row block
//! by row block, as a matrix product) with a difference array gives
//! `‖H_i − Ĥ_i‖_F² = Σ_{a<m, c<i} E[a,c]²` for every `i` at once. Weyl and
//! Mirsky then bound the true values ([`Spectrum::radius`]).
//!
//! Cost: `O(L²·k)` for the products and the residual pass, `O(L·k³)` for the
//! cores of all `L − 1` indices; memory `O(L·k)`. When some requested index is
//! not resolved at rank `k`, the rank doubles, up to a cap.

use super::lowrank::Target;
use super::Spectrum;
use crate::error::Result;
use crate::scalar::Scalar;
use nalgebra::DMatrix;

const U: f64 = f64::EPSILON / 2.0;
/// Consecutive indices `i` handled together on the kernel path.
const SEGMENT: usize = 32;
/// Rows of `𝓗` formed at a time.
const ROW_BLOCK: usize = 256;

/// The largest rank tried on the kernel path (memory `O(L·k)`).
pub(crate) const MAX_RANK: usize = 256;

/// Bytes the kernel path needs at most for a length-`len` kernel.
pub(crate) fn bytes(len: usize) -> u64 {
    let n = len as u64;
    let k = MAX_RANK.min(len) as u64;
    let s = checkpoint_stride(len) as u64;
    // Q and W, row blocks (two in flight per thread), checkpoints and one segment of factors.
    (2 * n * k + 4 * ROW_BLOCK as u64 * n + 2 * (n / s + 2) * k * k + (SEGMENT as u64 + 2) * k * k + 4 * n) * 8
}

fn checkpoint_stride(len: usize) -> usize {
    ((len as f64).sqrt().ceil() as usize).max(16)
}

/// `Y = 𝓗 V` for the `n × n` Hankel matrix of `g` (`2n − 1` values), row block
/// by row block.
fn hankel_mul(g: &[f64], v: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let n = v.nrows();
    let blocks: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
    let parts = crate::parallel::try_map(&blocks, |&a0| {
        let rows = ROW_BLOCK.min(n - a0);
        let block = DMatrix::from_fn(rows, n, |a, c| g.get(a0 + a + c).copied().unwrap_or(0.0));
        Ok(block * v)
    })?;
    let mut y = DMatrix::zeros(n, v.ncols());
    for (&a0, p) in blocks.iter().zip(parts) {
        y.rows_mut(a0, p.nrows()).copy_from(&p);
    }
    Ok(y)
}

/// `Σ_{a<L−i, c<i} (𝓗 − Q Wᵀ)[a,c]²` for `i = 0..=L−1` (entry 0 unused), and the
/// total mass (for the rounding allowance).
fn corner_residuals(g: &[f64], q: &DMatrix<f64>, w: &DMatrix<f64>, len: usize) -> Result<(Vec<f64>, f64)> {
    let n = q.nrows();
    let blocks: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
    let wt = w.transpose();
    let parts = crate::parallel::try_map(&blocks, |&a0| {
        let rows = ROW_BLOCK.min(n - a0);
        // Only columns c < n − a0 can lie in a corner (a + c ≤ L − 2 = n − 1).
        let cols = n - a0;
        let mut e = DMatrix::from_fn(rows, cols, |a, c| g.get(a0 + a + c).copied().unwrap_or(0.0));
        e.gemm(-1.0, &q.rows(a0, rows), &wt.columns(0, cols), 1.0);
        let mut diff = vec![0.0f64; len + 1];
        let mut mass = 0.0f64;
        for a in 0..rows {
            let row = a0 + a;
            // Entry (row, c) counts for i in c+1 ..= L−1−row.
            for c in 0..(n - row) {
                let x = e[(a, c)];
                let x2 = x * x;
                diff[c + 1] += x2;
                diff[len - row] -= x2;
                mass += x2;
            }
        }
        Ok((diff, mass))
    })?;
    let mut diff = vec![0.0f64; len + 1];
    let mut mass = 0.0;
    for (p, m) in parts {
        mass += m;
        for (d, x) in diff.iter_mut().zip(p) {
            *d += x;
        }
    }
    let mut acc = 0.0;
    let mut out = vec![0.0; len];
    for i in 1..len {
        acc += diff[i];
        out[i] = acc.max(0.0);
    }
    Ok((out, mass))
}

/// Adds row `w` to the upper-triangular `r` (`k × k`) with Givens rotations.
fn add_row(r: &mut DMatrix<f64>, w: &[f64]) {
    let k = r.nrows();
    let mut w = w.to_vec();
    for j in 0..k {
        let (a, b) = (r[(j, j)], w[j]);
        if b == 0.0 {
            continue;
        }
        let h = a.hypot(b);
        let (c, s) = (a / h, b / h);
        r[(j, j)] = h;
        w[j] = 0.0;
        for l in j + 1..k {
            let (x, y) = (r[(j, l)], w[l]);
            r[(j, l)] = c * x + s * y;
            w[l] = c * y - s * x;
        }
    }
}

/// Triangular factors of the prefixes `X[0..t]` for `t = keep ..= to`, walking
/// from the factor `start` of `X[0..from]` (`from ≤ keep`).
fn prefix_factors(x: &DMatrix<f64>, start: &DMatrix<f64>, from: usize, keep: usize, to: usize) -> Vec<DMatrix<f64>> {
    let mut r = start.clone();
    let mut out = Vec::with_capacity(to + 1 - keep);
    if from == keep {
        out.push(r.clone());
    }
    for t in from..to {
        let row: Vec<f64> = x.row(t).iter().copied().collect();
        add_row(&mut r, &row);
        if t + 1 >= keep {
            out.push(r.clone());
        }
    }
    out
}

/// Factors of `X[0..t]` at `t = 0, s, 2s, …` (up to `n`).
fn checkpoints(x: &DMatrix<f64>, s: usize) -> Vec<DMatrix<f64>> {
    let (n, k) = x.shape();
    let mut r = DMatrix::zeros(k, k);
    let mut out = vec![r.clone()];
    for t in 0..n {
        let row: Vec<f64> = x.row(t).iter().copied().collect();
        add_row(&mut r, &row);
        if (t + 1) % s == 0 {
            out.push(r.clone());
        }
    }
    out
}

/// `g` followed by `n − 1` more values, so that the whole `n × n` Hankel matrix
/// `𝓗[a,c] = g_{a+c}` is defined.
///
/// No corner ever reads an entry with `a + c ≥ n`, so any continuation is
/// correct (the certificate measures the residual on the corners only); but
/// zeros would cut `𝓗` along its anti-diagonal and make it full rank. The
/// continuation is a linear predictor fitted to `g` (ridge-regularised least
/// squares, order `≤ 128`): exact for a sum of up to 128 exponential modes, which
/// keeps `𝓗` of low rank; it stops (zeros from there on) if it would grow beyond
/// twice the largest `|g_k|`.
fn extend(g: &[f64]) -> Vec<f64> {
    let n = g.len();
    let order = (n / 4).min(128);
    let mut out = g.to_vec();
    out.reserve(n.saturating_sub(1));
    if order == 0 {
        out.resize((2 * n).saturating_sub(1), 0.0);
        return out;
    }
    // Normal equations of g_t ≈ Σ_j a_j g_{t−j}, t = order..n.
    let mut ata = DMatrix::<f64>::zeros(order, order);
    let mut atb = nalgebra::DVector::<f64>::zeros(order);
    for t in order..n {
        let row = nalgebra::DVector::from_fn(order, |j, _| g[t - 1 - j]);
        ata.ger(1.0, &row, &row, 1.0);
        atb.axpy(g[t], &row, 1.0);
    }
    let ridge = 1e-12 * ata.trace().max(f64::MIN_POSITIVE) / order as f64;
    for j in 0..order {
        ata[(j, j)] += ridge;
    }
    let coef = match ata.cholesky() {
        Some(c) => c.solve(&atb),
        None => {
            out.resize((2 * n).saturating_sub(1), 0.0);
            return out;
        }
    };
    let limit = 2.0 * g.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    while out.len() < (2 * n).saturating_sub(1) {
        let t = out.len();
        let next: f64 = (0..order).map(|j| coef[j] * out[t - 1 - j]).sum();
        if !next.is_finite() || next.abs() > limit {
            out.resize((2 * n).saturating_sub(1), 0.0);
            break;
        }
        out.push(next);
    }
    out
}

/// Certified spectra of `H_i` for the requested `indices` of the SISO convolution
/// with kernel `h` (`h.len() ≤ len`, zero beyond), in the order of `indices`.
pub(crate) fn sweep<T: Scalar>(
    h: &[f64],
    len: usize,
    indices: &[usize],
    target: &Target<'_>,
) -> Result<Vec<Spectrum<T>>> {
    crate::validate::check_finite("convolution kernel", h, &[h.len()])?;
    let n = len.saturating_sub(1);
    let mut g: Vec<f64> = (0..n).map(|k| h.get(k + 1).copied().unwrap_or(0.0)).collect();
    let max = g.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let shape = |i: usize| (len - i, i);
    if max == 0.0 {
        return Ok(indices.iter().map(|&i| Spectrum::certified(vec![T::zero()], 0, shape(i), 0.0)).collect());
    }
    let exponent = crate::scalar::exponent_of(max);
    g.iter_mut().for_each(|x| *x = crate::scalar::ldexp(*x, -exponent));
    let g = extend(&g);
    let cap = target.max_rank.unwrap_or(MAX_RANK).clamp(1, MAX_RANK).min(n);
    let mut k = 32.min(cap);
    loop {
        let spectra = at_rank::<T>(&g, len, indices, k, exponent)?;
        let unresolved = spectra.iter().any(|s| !target.resolved(s));
        if !unresolved || k >= cap {
            return Ok(spectra);
        }
        k = (2 * k).min(cap);
    }
}

/// The radius of one block's certified values, with `e = ‖H_i − Ĥ_i‖_F²` (the
/// residual pass's value), `mass` the squared norm of the residual pass's
/// terms, `‖core‖_F`, `n = L − 1` and the rank `k`:
///
/// ```text
/// √(e + 8u·(n + 10)·mass + (16u·(k + 2)·‖core‖_F)²) + 16u·k·‖core‖_F  (+ ε_T·‖core‖_F for f32)
/// ```
///
/// the rounding of the residual's sums of squares (`n` terms per entry), of the
/// core's products and factors (`k` terms), and for `f32` the storage of the
/// values in `T`.
fn radius<T: Scalar>(e: f64, mass: f64, norm: f64, n: usize, k: usize) -> f64 {
    let allowance = 8.0 * U * (n as f64 + 10.0) * mass + (16.0 * U * (k as f64 + 2.0) * norm).powi(2);
    let radius = (e + allowance).sqrt() + 16.0 * U * (k as f64) * norm;
    let rounding = if T::EPSILON.to_f64() > f64::EPSILON { T::EPSILON.to_f64() * norm } else { 0.0 };
    radius + rounding
}

fn at_rank<T: Scalar>(g: &[f64], len: usize, indices: &[usize], k: usize, exponent: i32) -> Result<Vec<Spectrum<T>>> {
    let n = len - 1;
    let omega = crate::random::uniform_matrix(n, k, 0x5eed ^ k as u64);
    // One power iteration: Q = orth(𝓗 orth(𝓗 Ω)) (𝓗 is symmetric).
    let y = super::lowrank::orth(hankel_mul(g, &omega)?);
    let q = super::lowrank::orth(hankel_mul(g, &y)?);
    let w = hankel_mul(g, &q)?;
    let (residual, mass) = corner_residuals(g, &q, &w, len)?;
    let s = checkpoint_stride(len);
    let cq = checkpoints(&q, s);
    let cw = checkpoints(&w, s);
    // Blocks of requested indices with i in [b·B, (b+1)·B): W's prefix factor is
    // walked up through the block, Q's (m = L − i runs down) are computed from the
    // checkpoint below and the block's at most B + 1 kept.
    let mut segments: Vec<(usize, usize)> = Vec::new(); // positions [a, b) in `indices`
    let mut start = 0;
    for j in 1..=indices.len() {
        if j == indices.len() || indices[j] / SEGMENT != indices[start] / SEGMENT {
            segments.push((start, j));
            start = j;
        }
    }
    let per_segment = crate::parallel::try_map(&segments, |&(a, b)| {
        let (lo, hi) = (indices[a], indices[b - 1]);
        let (m_lo, m_hi) = (len - hi, len - lo);
        let c = m_lo / s;
        let qs = prefix_factors(&q, &cq[c], c * s, m_lo, m_hi);
        let q_factor = |m: usize| &qs[m - m_lo];
        let cw_at = lo / s;
        let mut rw = cw[cw_at].clone();
        let mut t = cw_at * s;
        let mut out = Vec::with_capacity(b - a);
        for &i in &indices[a..b] {
            while t < i {
                let row: Vec<f64> = w.row(t).iter().copied().collect();
                add_row(&mut rw, &row);
                t += 1;
            }
            let core = q_factor(len - i) * rw.transpose();
            let norm = core.norm();
            let sv = super::singular_values(&super::NalgebraSvd::default(), core)?;
            out.push(Spectrum::certified(
                sv.into_iter().map(T::cast).collect(),
                exponent,
                (len - i, i),
                radius::<T>(residual[i], mass, norm, n, k),
            ));
        }
        Ok(out)
    })?;
    Ok(per_segment.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ess::{Measure, Tolerance};

    /// The radius formula by hand, with `u = 2⁻⁵³` and inputs chosen so that
    /// every term is a power of two: `n = 6`, `k = 2`, `mass = 2⁵⁰`,
    /// `‖core‖ = 2⁴⁷`, `e = 8` give `8u·16·2⁵⁰ = 16`, `(16u·4·2⁴⁷)² = 1`,
    /// `√(8 + 16 + 1) = 5` and `16u·2·2⁴⁷ = 0.5`: a radius of 5.5, and
    /// `5.5 + 2⁻²³·2⁴⁷` for `f32`.
    #[test]
    fn the_radius_is_the_documented_formula() {
        let (mass, norm) = (2f64.powi(50), 2f64.powi(47));
        assert_eq!(radius::<f64>(8.0, mass, norm, 6, 2), 5.5);
        assert_eq!(radius::<f32>(8.0, mass, norm, 6, 2), 5.5 + 2f64.powi(24));
        // Each input on its own: the residual, the mass, and the core's norm.
        assert_eq!(radius::<f64>(8.0 + 11.0, mass, norm, 6, 2), 6.5);
        assert_eq!(radius::<f64>(8.0, 2.0 * mass, norm, 6, 2), (8.0f64 + 32.0 + 1.0).sqrt() + 0.5);
        // k = 6: (16u·8·2⁴⁷)² = 4 and 16u·6·2⁴⁷ = 1.5, so √(5 + 16 + 4) + 1.5.
        assert_eq!(radius::<f64>(5.0, mass, norm, 6, 6), 6.5);
        // n = 22: 8u·32·2⁵⁰ = 32, so √(8 + 32 + 1) + 0.5.
        assert_eq!(radius::<f64>(8.0, mass, norm, 22, 2), 41f64.sqrt() + 0.5);
        assert_eq!(radius::<f64>(0.0, 0.0, 0.0, 6, 2), 0.0);
    }

    /// With a zero approximation the residual is the Hankel matrix itself: the
    /// value at `i` is the squared norm of its corner (`L − i` rows, `i`
    /// columns, entry `(r, c)` = `g[r + c]`), and the mass is the squared norm of
    /// its upper-left triangle.
    #[test]
    fn corner_residuals_of_a_zero_approximation_are_the_corner_norms() {
        let len = 40;
        let n = len - 1;
        let g: Vec<f64> = (0..2 * n - 1).map(|j| (j as f64 * 0.37).sin() + 0.1).collect();
        let zero = DMatrix::zeros(n, 3);
        let (out, mass) = corner_residuals(&g, &zero, &zero, len).unwrap();
        assert_eq!(out.len(), len);
        for (i, &got) in out.iter().enumerate().skip(1) {
            let want: f64 = (0..len - i).flat_map(|r| (0..i).map(move |c| r + c)).map(|j| g[j] * g[j]).sum();
            assert!((got - want).abs() <= 1e-12 * want, "i = {i}: {got} vs {want}");
        }
        let total: f64 = (0..n).flat_map(|r| (0..n - r).map(move |c| r + c)).map(|j| g[j] * g[j]).sum();
        assert!((mass - total).abs() <= 1e-12 * total, "{mass} vs {total}");
    }

    /// The kernel path's memory bound by hand (`k = min(256, L)`, checkpoint
    /// stride `max(⌈√L⌉, 16)`, row blocks of 256, segments of 32): `Q` and `W`
    /// (`2Lk`), four row blocks (`4·256·L`), the checkpoints (`2·(L/s + 2)·k²`),
    /// one segment of factors (`34·k²`) and four length-`L` vectors, in `f64`.
    #[test]
    fn memory_bound_by_hand() {
        // L = 100: k = 100, s = 16.
        assert_eq!(bytes(100), (20_000 + 102_400 + 160_000 + 340_000 + 400) * 8);
        // L = 1000: k = 256, s = 32.
        assert_eq!(bytes(1000), (512_000 + 1_024_000 + 4_325_376 + 2_228_224 + 4_000) * 8);
    }

    /// The continuation of a sum of three exponential modes (one of them
    /// oscillating) is that sum itself: the fitted linear predictor is exact.
    #[test]
    fn the_continuation_of_a_sum_of_modes_is_the_sum() {
        let g_at = |t: usize| {
            let t = t as f64;
            0.9f64.powf(t) - 0.4 * 0.7f64.powf(t) + 0.3 * 0.95f64.powf(t) * (0.5 * t).cos()
        };
        for n in [40usize, 200] {
            let g: Vec<f64> = (0..n).map(g_at).collect();
            let out = extend(&g);
            assert_eq!(out.len(), 2 * n - 1);
            assert_eq!(&out[..n], &g[..]);
            for (t, &x) in out.iter().enumerate().skip(n) {
                assert!((x - g_at(t)).abs() <= 1e-8 * g_at(t).abs().max(1e-3), "n = {n}, t = {t}: {x} vs {}", g_at(t));
            }
        }
        // A growing mode is continued until it passes twice the largest |g_k|,
        // then cut to zeros: 1.1^t up to t = 46 (1.1^47 > 2·1.1^39).
        let g: Vec<f64> = (0..40).map(|t| 1.1f64.powi(t)).collect();
        let out = extend(&g);
        assert_eq!(out.len(), 79, "cut to zeros at the full length 2n − 1");
        assert_eq!(&out[..40], &g[..]);
        for (t, &x) in out.iter().enumerate().skip(40) {
            let want = if t <= 46 { 1.1f64.powi(t as i32) } else { 0.0 };
            assert!((x - want).abs() <= 1e-8 * want, "t = {t}: {x} vs {want}");
        }
        // Too short to fit (order n/4 = 0): zeros.
        assert_eq!(extend(&[1.0, 0.5, 0.25]), vec![1.0, 0.5, 0.25, 0.0, 0.0]);
        // Entries near 1e200, whose squares overflow the normal equations (no
        // factorisation): zeros after g, at the full length 2n − 1.
        let g: Vec<f64> = (0..20).map(|t| 1e200 * 0.9f64.powi(t)).collect();
        let out = extend(&g);
        assert_eq!(out.len(), 39);
        assert_eq!(&out[..20], &g[..]);
        assert!(out[20..].iter().all(|&x| x == 0.0), "{:?}", &out[20..]);
    }

    #[test]
    fn corners_match_dense_blocks() {
        let len = 300;
        // A kernel with three decaying modes (four states) plus noise at 1e-7, and
        // the same without noise: every block has rank 4 up to rounding, so what
        // the approximation leaves out is rounding and the radius is the allowance.
        for noise in [1e-7, 0.0] {
            corners_match_dense_blocks_of(len, noise);
        }
    }

    /// A kernel of twenty slowly damped oscillations has Hankel blocks of rank
    /// 40 away from the ends: rank 32, the first tried, cannot resolve them, and
    /// the search doubles the rank once, to 64, which does; the intervals hold
    /// the dense values.
    #[test]
    fn blocks_beyond_the_first_rank_double_it() {
        let len = 300;
        let h: Vec<f64> = (0..len)
            .map(|t| {
                let t = t as f64;
                (1..=20).map(|j| 0.995f64.powf(t) * (0.15 * j as f64 * t).cos()).sum()
            })
            .collect();
        let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
        let target = Target { measures: &measures, entropy_width: 1e-3, max_rank: None };
        let indices: Vec<usize> = (60..=240).step_by(30).collect();
        let spectra = sweep::<f64>(&h, len, &indices, &target).unwrap();
        for (&i, s) in indices.iter().zip(&spectra) {
            let (_, exact) = dense_block_within(&h, len, i, s, &measures);
            let rank = exact.values().iter().filter(|&&v| v > 1e-10 * exact.values()[0]).count();
            assert_eq!(rank, 40, "i={i}: the fixture's rank");
            assert!(target.resolved(s), "i={i} unresolved");
            assert_eq!(s.scaled().len(), 64, "i={i}: the rank reached");
        }
    }

    /// The block `H_i` of the convolution with kernel `h` and its exact spectrum
    /// (nalgebra's SVD, values descending), after checking that every measure's
    /// interval from `s` holds the exact value.
    fn dense_block_within(
        h: &[f64],
        len: usize,
        i: usize,
        s: &Spectrum<f64>,
        measures: &[Measure],
    ) -> (DMatrix<f64>, Spectrum<f64>) {
        let block = DMatrix::from_fn(len - i, i, |a, b| h[i + a - b]);
        let mut exact = block.singular_values().as_slice().to_vec();
        exact.sort_by(|a, b| b.total_cmp(a));
        let e = Spectrum::from_parts(exact, 0, (len - i, i));
        for m in measures {
            let (lo, hi) = m.bounds(s);
            let v = m.evaluate(&e);
            assert!(lo <= v && v <= hi, "i={i} {m:?}: {v} not in [{lo}, {hi}]");
        }
        (block, e)
    }

    fn corners_match_dense_blocks_of(len: usize, noise: f64) {
        let h: Vec<f64> = (0..len)
            .map(|t| {
                let t = t as f64;
                0.9f64.powf(t) + 0.5 * 0.97f64.powf(t) * (0.3 * t).cos() - 0.2 * 0.8f64.powf(t)
                    + noise * ((t * 7.31).sin() * 43758.5453).fract()
            })
            .collect();
        let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
        let target = Target { measures: &measures, entropy_width: 1e-3, max_rank: None };
        let indices: Vec<usize> = (1..len).step_by(7).collect();
        let spectra = sweep::<f64>(&h, len, &indices, &target).unwrap();
        for (&i, s) in indices.iter().zip(&spectra) {
            let (block, e) = dense_block_within(&h, len, i, s, &measures);
            assert!(target.resolved(s), "i={i} unresolved");
            // The radius is about what the rank-k approximation leaves out.
            // The first rank tried (32) resolves every index: no doubling.
            let k = s.scaled().len();
            assert!(k <= 32, "i={i}: rank {k}");
            let tail = e.values().iter().skip(k).map(|x| x * x).sum::<f64>().sqrt();
            let delta = s.radius().unwrap() * 2f64.powi(s.exponent());
            assert!(
                delta >= tail && delta <= 2.0 * tail + 1e-5 * block.norm(),
                "noise {noise:e}, i={i}: δ = {delta}, tail {tail}"
            );
        }
    }
}
