//! Singular values (only) of a small square matrix: Golub–Kahan–Reinsch, written
//! for the structured path's `N × N` cores, allocation-free on caller-owned
//! buffers.
//!
//! 1. **Bidiagonalization** `M = U·B·Vᵀ` by alternating left and right Householder
//!    reflections (LAPACK `dlarfg` form: `v₀ = 1`, `τ ∈ [1, 2]`, so no reflector
//!    is built from a squared small norm), `8/3·n³` flops, `U`, `V` never formed.
//!    The passes are fused so that each trailing column is read twice per step
//!    instead of four times: with the right reflector `(τ_r, v)` of step `k-1`
//!    still pending and `s = A·v` accumulated by the previous pass, pass A
//!    computes `w_j = uᵀ·(a_j − τ_r·v_j·s) = uᵀ·a_j − τ_r·v_j·(uᵀ·s)` for the left
//!    reflector `(τ_l, u)` of step `k` (read only), which gives row `k` after
//!    both updates and so the right reflector `(τ_r', v')` of step `k`; pass B
//!    then applies `a_j ← a_j − τ_r·v_j·s − τ_l·w_j·u` and accumulates
//!    `s' = A·v'`. Splitting `uᵀ·(a_j − τ_r·v_j·s)` changes the rounding errors
//!    only by `O(ε)·(‖a_j‖ + |τ_r·v_j|·‖s‖) = O(ε·‖M‖)`, the normwise backward
//!    error of any Householder step (LAPACK's blocked `dlabrd` splits the same
//!    way). The matrix is copied column-major with a leading dimension padded to
//!    a multiple of 4, both passes take the trailing columns in pairs (one loop
//!    overhead per pair, each column's sums in the same order as alone), and the
//!    loops run over whole chunks of 4 rows from the aligned row at or above the
//!    first live one, so they vectorize without remainder loops: `u` is zero
//!    outside its support, the padding rows stay zero, and the dead rows above
//!    the live block are only ever transformed orthogonally (they stay bounded
//!    and are never read with a nonzero weight). Each reflector (a square root
//!    and two divisions) must be finished before the pass that applies it, so
//!    two cores given together ([`singular_values_in_place_pair`]) are reduced
//!    in interleaved phases, the second one phase behind the first: the core
//!    works on one matrix's pass while the other's reflector is computed, each
//!    matrix's operations in their order alone (bitwise the same results).
//! 2. **dqds** on the bidiagonal ([`super::dqds`], as [`super::BidiagonalSvd`]):
//!    every value to high relative accuracy, a division chain per sweep; two
//!    cores given together ([`singular_values_in_place_pair`], as the
//!    structured path hands them over) have their sweeps interleaved, with
//!    bitwise the same values. Where dqds declines (an exactly zero entry, or too
//!    many sweeps), the dense path's **bidiagonal QR** takes over
//!    ([`super::bidiag`]: implicit-shift Golub–Kahan sweeps with a Wilkinson
//!    shift on the bidiagonal scaled to `[0.5, 1)`, a negligible entry set to
//!    zero, a negligible diagonal entry's row or column rotated out); each such
//!    decision perturbs `B` by at most `ε·‖B‖`, the size of the
//!    bidiagonalization's own backward error. `O(n)` flops per sweep.
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

/// Rows are processed in chunks of this many (the padded leading dimension is a
/// multiple of it, so the inner loops have no remainder and vectorize).
const LANES: usize = 4;

/// Reusable buffers for [`singular_values_in_place`].
#[derive(Debug, Clone)]
pub(crate) struct Workspace<T> {
    d: Vec<T>,
    e: Vec<T>,
    /// The matrix, column-major with a padded leading dimension.
    x: Vec<T>,
    /// The left reflector (zero outside its support), the pending right
    /// update's `A·v` and the one being accumulated.
    u: Vec<T>,
    s: Vec<T>,
    s_next: Vec<T>,
    /// The right reflector, the left reflector's `uᵀ·A`, and row `k`.
    v: Vec<T>,
    w: Vec<T>,
    row: Vec<T>,
    /// dqds's arrays.
    dqds: super::dqds::DqdsBuffers<T>,
}

impl<T> Default for Workspace<T> {
    fn default() -> Self {
        Self {
            d: Vec::new(),
            e: Vec::new(),
            x: Vec::new(),
            u: Vec::new(),
            s: Vec::new(),
            s_next: Vec::new(),
            v: Vec::new(),
            w: Vec::new(),
            row: Vec::new(),
            dqds: super::dqds::DqdsBuffers::default(),
        }
    }
}

/// Clears `buf` and fills it with `len` zeros (no allocation once large enough).
fn zeroed<T: Scalar>(buf: &mut Vec<T>, len: usize) {
    buf.clear();
    buf.resize(len, T::zero());
}

/// The leading dimension of the kernel's matrix buffer for order `n`: `n`
/// rounded up to a multiple of [`LANES`].
pub(crate) fn leading_dimension(n: usize) -> usize {
    n.next_multiple_of(LANES)
}

impl<T: Scalar> Workspace<T> {
    /// The matrix buffer for order `n`, zero-filled: column `j` of the matrix is
    /// `[j·ld, j·ld + n)` with `ld = leading_dimension(n)`, and the padding rows
    /// `n..ld` of every column must stay zero. Fill it, then call
    /// [`singular_values_in_place`].
    pub(crate) fn matrix(&mut self, n: usize) -> &mut [T] {
        zeroed(&mut self.x, leading_dimension(n) * n);
        &mut self.x
    }

    /// The matrix buffer as last filled through [`matrix`](Self::matrix).
    pub(crate) fn matrix_filled(&mut self) -> &mut [T] {
        &mut self.x
    }
}

/// The singular values of the `n × n` column-major matrix `a`, in no particular
/// order, into `out` (`n` values, nonnegative).
///
/// # Errors
/// [`EssError::NoConvergence`] when the bidiagonal QR needs more than
/// `max_sweeps` sweeps.
#[cfg(test)]
pub(crate) fn singular_values<T: Scalar>(
    a: &[T],
    n: usize,
    ws: &mut Workspace<T>,
    out: &mut Vec<T>,
    max_sweeps: usize,
) -> Result<()> {
    debug_assert_eq!(a.len(), n * n);
    let ld = leading_dimension(n);
    for (dst, src) in ws.matrix(n).chunks_exact_mut(ld).zip(a.chunks_exact(n)) {
        dst[..n].copy_from_slice(src);
    }
    singular_values_in_place(n, ws, out, max_sweeps)
}

/// The singular values of the `n × n` matrix written into
/// [`Workspace::matrix`] (destroyed), in no particular order, into `out` (`n`
/// values, nonnegative).
///
/// # Errors
/// [`EssError::NoConvergence`] when dqds gives up and the bidiagonal QR needs
/// more than `max_sweeps` sweeps.
pub(crate) fn singular_values_in_place<T: Scalar>(
    n: usize,
    ws: &mut Workspace<T>,
    out: &mut Vec<T>,
    max_sweeps: usize,
) -> Result<()> {
    out.clear();
    if n == 0 {
        return Ok(());
    }
    debug_assert_eq!(ws.x.len(), leading_dimension(n) * n);
    bidiagonalize(n, ws);
    let ok = super::dqds::dqds_values_with(&mut ws.d, &ws.e, super::dqds::sweep_limit(n), &mut ws.dqds);
    bidiagonal_values(n, ws, ok, out, max_sweeps)
}

/// [`singular_values_in_place`] on two matrices of order `n`, their
/// bidiagonalizations ([`bidiagonalize_pair`]) and their dqds sweeps
/// ([`super::dqds::dqds_values_pair`]) interleaved: bitwise the values each gets
/// alone.
pub(crate) fn singular_values_in_place_pair<T: Scalar>(
    n: usize,
    (ws_a, out_a): (&mut Workspace<T>, &mut Vec<T>),
    (ws_b, out_b): (&mut Workspace<T>, &mut Vec<T>),
    max_sweeps: usize,
) -> (Result<()>, Result<()>) {
    out_a.clear();
    out_b.clear();
    if n == 0 {
        return (Ok(()), Ok(()));
    }
    bidiagonalize_pair(n, ws_a, ws_b);
    let (ok_a, ok_b) = super::dqds::dqds_values_pair_with(
        (&mut ws_a.d, &ws_a.e, super::dqds::sweep_limit(n), &mut ws_a.dqds),
        (&mut ws_b.d, &ws_b.e, super::dqds::sweep_limit(n), &mut ws_b.dqds),
    );
    (bidiagonal_values(n, ws_a, ok_a, out_a, max_sweeps), bidiagonal_values(n, ws_b, ok_b, out_b, max_sweeps))
}

/// The values of the bidiagonal in `ws` into `out`: as dqds left them in `ws.d`
/// (`dqds_ok`), or else by the bidiagonal QR.
fn bidiagonal_values<T: Scalar>(
    n: usize,
    ws: &mut Workspace<T>,
    dqds_ok: bool,
    out: &mut Vec<T>,
    max_sweeps: usize,
) -> Result<()> {
    let Workspace { d, e, .. } = ws;
    if !dqds_ok {
        super::bidiag::bidiagonal_values(d, e, max_sweeps).ok_or(EssError::NoConvergence {
            rows: n,
            cols: n,
            iterations: max_sweeps,
        })?;
    }
    out.extend(d.iter().map(|x| x.abs()));
    Ok(())
}

/// `M = U·B·Vᵀ` for the `n × n` matrix in `ws.x` (column-major, leading
/// dimension `ld`, a multiple of [`LANES`], zero padding): the diagonal of `B`
/// into `ws.d`, its superdiagonal into `ws.e`; `ws.x` is destroyed.
///
/// Step `k` reflects column `k` (rows `k..n`, from the left), then row `k`
/// (columns `k+1..n`, from the right), as in LAPACK `dgebd2`, with the passes
/// fused so that every trailing column is read twice per step:
/// * pass A: the right reflector of step `k-1` (`A ← A − τ_r·(A·v)·vᵀ`, with
///   `A·v` accumulated by the previous pass B) and the dot products
///   `w_j = uᵀ·a_j` of the left reflector `u` of step `k`; row `k` after the left
///   reflection, `a_kj − τ_l·w_j` (`u_k = 1`), is then known, so the right
///   reflector `v` of step `k` can be built before the columns are touched again;
/// * pass B: the left update `a_j ← a_j − τ_l·w_j·u` and the accumulation of
///   `A·v` for the next pass A.
///
/// Loops run over whole chunks of [`LANES`] rows from the aligned row at or
/// above the first live row: the reflector `u` is zero outside its support, so
/// the extra rows only ever meet exact zeros (rows above the live block are dead
/// and transformed orthogonally, hence stay bounded; padding rows stay zero).
fn bidiagonalize<T: Scalar>(n: usize, ws: &mut Workspace<T>) {
    crate::simd::run(Bidiagonalize(n, ws));
}

/// [`bidiagonalize`] as a [`crate::simd::Kernel`] (wider vectors where the CPU
/// has them, bitwise the same results).
struct Bidiagonalize<'a, T: Scalar>(usize, &'a mut Workspace<T>);

impl<T: Scalar> crate::simd::Kernel for Bidiagonalize<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        bidiagonalize_kernel(self.0, self.1);
    }
}

/// [`bidiagonalize`]'s body (inlined into each build of the kernel).
#[inline(always)]
fn bidiagonalize_kernel<T: Scalar>(n: usize, ws: &mut Workspace<T>) {
    let mut b = Bidiagonalization::new(n, ws);
    if n == 0 {
        return;
    }
    for k in 0..n - 1 {
        b.column(k);
        b.pass_a(k);
        b.row_reflector(k);
        b.pass_b(k);
    }
    b.column(n - 1);
}

/// [`bidiagonalize`] of two matrices of order `n`, their phases interleaved
/// (see [`Bidiagonalization`]); each gets bitwise what it gets alone.
fn bidiagonalize_pair<T: Scalar>(n: usize, ws_a: &mut Workspace<T>, ws_b: &mut Workspace<T>) {
    crate::simd::run(BidiagonalizePair(n, ws_a, ws_b));
}

/// [`bidiagonalize_pair`] as a [`crate::simd::Kernel`].
struct BidiagonalizePair<'a, T: Scalar>(usize, &'a mut Workspace<T>, &'a mut Workspace<T>);

impl<T: Scalar> crate::simd::Kernel for BidiagonalizePair<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let n = self.0;
        let (mut a, mut b) = (Bidiagonalization::new(n, self.1), Bidiagonalization::new(n, self.2));
        if n == 0 {
            return;
        }
        // The second matrix one phase behind the first: after each reflector
        // of one (a square root and divisions, which its next pass waits for)
        // comes a phase of the other, which runs meanwhile.
        a.column(0);
        for k in 0..n - 1 {
            a.pass_a(k);
            b.column(k);
            a.row_reflector(k);
            b.pass_a(k);
            a.pass_b(k);
            b.row_reflector(k);
            a.column(k + 1);
            b.pass_b(k);
        }
        b.column(n - 1);
    }
}

/// The bidiagonalization of one matrix in phases, four per step `k` (the last
/// step has only the first): the pending right update of column `k` and its
/// left reflector ([`column`](Self::column)); pass A; the right reflector of
/// row `k`; pass B (see [`bidiagonalize`]). Two matrices can be interleaved
/// phase by phase ([`bidiagonalize_pair`]), the operations on each in the order
/// of that matrix alone.
struct Bidiagonalization<'a, T: Scalar> {
    n: usize,
    ld: usize,
    safe: T,
    d: &'a mut [T],
    e: &'a mut [T],
    x: &'a mut [T],
    u: &'a mut [T],
    w: &'a mut [T],
    v: &'a mut [T],
    row: &'a mut [T],
    s: &'a mut [T],
    s_next: &'a mut [T],
    /// The pending right update `A ← A − τ_r·s·vᵀ` on columns `≥ k` (`v[j]`, `j ≥ k`).
    tau_r: T,
    /// The left reflector of the current step.
    tau_l: T,
    /// The right reflector of the current step (pending from pass B on).
    tau_next: T,
}

impl<'a, T: Scalar> Bidiagonalization<'a, T> {
    #[inline(always)]
    fn new(n: usize, ws: &'a mut Workspace<T>) -> Self {
        let ld = leading_dimension(n);
        let Workspace { d, e, x, u, s, s_next, v, w, row, .. } = ws;
        zeroed(d, n);
        zeroed(e, n.saturating_sub(1));
        zeroed(u, ld);
        zeroed(s, ld);
        zeroed(s_next, ld);
        zeroed(v, n);
        zeroed(w, n);
        zeroed(row, n);
        // Plain slices: the loops then keep no vector headers to reload.
        Self {
            n,
            ld,
            safe: smallest_normal::<T>() * T::cast(ld as f64) / T::EPSILON,
            d,
            e,
            x: &mut x[..n * ld],
            u,
            w,
            v,
            row,
            s,
            s_next,
            tau_r: T::zero(),
            tau_l: T::zero(),
            tau_next: T::zero(),
        }
    }

    /// Column `k`: the pending right update, then the left reflector (and `u`).
    #[inline(always)]
    fn column(&mut self, k: usize) {
        let (n, ld) = (self.n, self.ld);
        let r0 = k - k % LANES;
        let head = &mut self.x[k * ld..(k + 1) * ld];
        if self.tau_r != T::zero() {
            let f = self.tau_r * self.v[k];
            for (y, &sv) in head[r0..].iter_mut().zip(&self.s[r0..]) {
                *y -= f * sv;
            }
        }
        let (beta, tau_l) = reflect(head[k], &mut head[k + 1..n], self.safe);
        self.d[k] = beta;
        self.tau_l = tau_l;
        if k + 1 < n {
            // u = [1; head[k+1..n]] on rows k..n, zero elsewhere in the live chunks.
            let u = &mut *self.u;
            u[r0..].fill(T::zero());
            u[k] = T::one();
            u[k + 1..n].copy_from_slice(&head[k + 1..n]);
        }
    }

    /// Pass A on columns j > k (read only): w_j = uᵀ·(a_j − τ_r·v_j·s)
    /// = uᵀ·a_j − τ_r·v_j·(uᵀ·s), and row k after both updates.
    #[inline(always)]
    fn pass_a(&mut self, k: usize) {
        let (n, ld) = (self.n, self.ld);
        let r0 = k - k % LANES;
        let (tau_r, tau_l) = (self.tau_r, self.tau_l);
        let rest = &self.x[(k + 1) * ld..];
        let (ua, sa) = (&self.u[r0..], &self.s[r0..]);
        let us = dot(ua, sa);
        let sk = self.s[k];
        // Two columns at a time (shared loop overhead), then the odd one.
        let finish = |c: &[T], dot_c: T, vj: T, wj: &mut T, rj: &mut T| {
            let f = tau_r * vj;
            let wv = dot_c - f * us;
            *wj = wv;
            *rj = (c[k] - f * sk) - tau_l * wv;
        };
        let (wt, rt, vt) = (&mut self.w[k + 1..n], &mut self.row[k + 1..n], &self.v[k + 1..n]);
        let mut pairs = rest.chunks_exact(2 * ld);
        for (((cc, wp), rp), vp) in
            (&mut pairs).zip(wt.chunks_exact_mut(2)).zip(rt.chunks_exact_mut(2)).zip(vt.chunks_exact(2))
        {
            let (c0, c1) = cc.split_at(ld);
            // Two plain dot products (a fused pair vectorizes worse).
            let (d0, d1) = (dot(ua, &c0[r0..]), dot(ua, &c1[r0..]));
            let (w0, w1) = wp.split_at_mut(1);
            let (q0, q1) = rp.split_at_mut(1);
            finish(c0, d0, vp[0], &mut w0[0], &mut q0[0]);
            finish(c1, d1, vp[1], &mut w1[0], &mut q1[0]);
        }
        let c = pairs.remainder();
        if !c.is_empty() {
            let j = wt.len() - 1;
            finish(c, dot(ua, &c[r0..]), vt[j], &mut wt[j], &mut rt[j]);
        }
    }

    /// The right reflector of row `k` (columns k+1..n).
    #[inline(always)]
    fn row_reflector(&mut self, k: usize) {
        let n = self.n;
        let (beta, tr) = reflect(self.row[k + 1], &mut self.row[k + 2..n], self.safe);
        self.e[k] = beta;
        self.row[k + 1] = T::one();
        self.tau_next = tr;
    }

    /// Pass B on columns j > k, rows ≥ k+1 (row k is done): both updates,
    /// a_j ← a_j − τ_r·v_j·s − τ_l·w_j·u, then s_next = A·v_new; the new right
    /// reflector becomes the pending one.
    #[inline(always)]
    fn pass_b(&mut self, k: usize) {
        let (n, ld) = (self.n, self.ld);
        let (tau_r, tau_l) = (self.tau_r, self.tau_l);
        let rest = &mut self.x[(k + 1) * ld..];
        let r1 = (k + 1) - (k + 1) % LANES;
        let (ub, sb, sn) = (&self.u[r1..], &self.s[r1..], &mut self.s_next[r1..]);
        sn.fill(T::zero());
        let (wt, vt, nt) = (&self.w[k + 1..n], &self.v[k + 1..n], &self.row[k + 1..n]);
        let mut pairs = rest.chunks_exact_mut(2 * ld);
        for (((cc, wp), vp), np) in (&mut pairs).zip(wt.chunks_exact(2)).zip(vt.chunks_exact(2)).zip(nt.chunks_exact(2))
        {
            let (c0, c1) = cc.split_at_mut(ld);
            update_accumulate2(
                &mut c0[r1..],
                &mut c1[r1..],
                sb,
                (tau_r * vp[0], tau_r * vp[1]),
                ub,
                (tau_l * wp[0], tau_l * wp[1]),
                sn,
                (np[0], np[1]),
            );
        }
        let c = pairs.into_remainder();
        if !c.is_empty() {
            let j = wt.len() - 1;
            update_accumulate(&mut c[r1..], sb, tau_r * vt[j], ub, tau_l * wt[j], sn, nt[j]);
        }
        self.tau_r = self.tau_next;
        std::mem::swap(&mut self.s, &mut self.s_next);
        std::mem::swap(&mut self.v, &mut self.row);
    }
}

/// `Σ x_k·y_k` over whole chunks of [`LANES`], one partial sum per lane,
/// added as `(0 + 2) + (1 + 3)` (a fixed order, the natural one for two or
/// four lanes per register).
#[inline(always)]
fn dot<T: Scalar>(x: &[T], y: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    for (xc, yc) in x.chunks_exact(LANES).zip(y.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += xc[l] * yc[l];
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3])
}

/// [`update_accumulate`] on two columns in one pass (`acc` gains `h0·c0`,
/// then `h1·c1`, as two consecutive calls would add them).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn update_accumulate2<T: Scalar>(
    c0: &mut [T],
    c1: &mut [T],
    s: &[T],
    (f0, f1): (T, T),
    u: &[T],
    (g0, g1): (T, T),
    acc: &mut [T],
    (h0, h1): (T, T),
) {
    let len = c0.len();
    let (c1, s, u, acc) = (&mut c1[..len], &s[..len], &u[..len], &mut acc[..len]);
    for i in 0..len {
        let y0 = (c0[i] - f0 * s[i]) - g0 * u[i];
        let y1 = (c1[i] - f1 * s[i]) - g1 * u[i];
        c0[i] = y0;
        c1[i] = y1;
        acc[i] = (acc[i] + h0 * y0) + h1 * y1;
    }
}

/// `c ← c − f·s − g·u`, then `acc ← acc + h·c`.
#[inline(always)]
fn update_accumulate<T: Scalar>(c: &mut [T], s: &[T], f: T, u: &[T], g: T, acc: &mut [T], h: T) {
    for (((cc, &sc), &uc), ac) in c.iter_mut().zip(s).zip(u).zip(acc.iter_mut()) {
        let y = (*cc - f * sc) - g * uc;
        *cc = y;
        *ac += h * y;
    }
}

/// Householder reflector of `[x0; tail]` (LAPACK `dlarfg`):
/// `(I - τ·u·uᵀ)·[x0; tail] = β·e₁` with `u = [1; tail/(x0 - β)]`, the tail of
/// `u` stored over `tail`. Returns `(β, τ)`; `τ = 0` (the identity) when `tail`
/// is zero. `safe` is `len·λ/ε` (`λ` the smallest normal number): above it the
/// sum of squares of `tail` has lost nothing to underflow.
#[inline(always)]
fn reflect<T: Scalar>(x0: T, tail: &mut [T], safe: T) -> (T, T) {
    if tail.is_empty() {
        return (x0, T::zero());
    }
    let ss = tail.iter().fold(T::zero(), |acc, &v| acc + v * v);
    if ss > safe {
        // The usual case: entries are at most a few units, x0² + ss cannot
        // overflow, and ss is far from the underflow range.
        let nrm = (x0 * x0 + ss).sqrt();
        let beta = if x0 >= T::zero() { -nrm } else { nrm };
        let tau = (beta - x0) / beta;
        let scale = T::one() / (x0 - beta);
        tail.iter_mut().for_each(|y| *y *= scale);
        return (beta, tau);
    }
    reflect_careful(x0, tail)
}

/// [`reflect`] for any finite input: `(I - τ·u·uᵀ)·[x0; tail] = β·e₁`. Returns
/// `(β, τ)`; `τ = 0` (the identity) when `tail` is zero. Exact to rounding
/// whatever the scale (tiny and subnormal entries included).
#[cold]
fn reflect_careful<T: Scalar>(mut x0: T, tail: &mut [T]) -> (T, T) {
    let t = norm(tail);
    if t == T::zero() {
        return (x0, T::zero());
    }
    // A tiny vector (its norm near the subnormal range, where 1/(x₀ - β) would
    // overflow): scale it by an exact power of two first (LAPACK rescales too);
    // u and τ do not depend on the scale, β is scaled back.
    let m = tail.iter().fold(x0.abs(), |m, &v| m.max(v.abs()));
    let tiny = smallest_normal::<T>() / T::EPSILON;
    let mut back = 0;
    if m < tiny {
        back = crate::scalar::exponent_of(m.to_f64());
        x0 = crate::scalar::ldexp(x0, -back);
        tail.iter_mut().for_each(|v| *v = crate::scalar::ldexp(*v, -back));
    }
    let t = if back == 0 { t } else { norm(tail) };
    let nrm = norm2(x0, t);
    let beta = if x0 >= T::zero() { -nrm } else { nrm };
    let tau = (beta - x0) / beta;
    let scale = T::one() / (x0 - beta);
    for y in tail.iter_mut() {
        *y *= scale;
    }
    (if back == 0 { beta } else { crate::scalar::ldexp(beta, back) }, tau)
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

    /// Every `got[k]` within `rel·want[0]` of `want[k]` (absolute accuracy).
    fn assert_within(want: &[f64], got: &[f64], rel: f64, what: &str) {
        for (k, (x, y)) in want.iter().zip(got).enumerate() {
            assert!((x - y).abs() <= rel * want[0], "{what} σ_{k}: {x:e} vs {y:e}");
        }
    }

    fn ours<T: Scalar>(m: &DMatrix<T>) -> Vec<f64> {
        let n = m.nrows();
        let a = m.as_slice().to_vec();
        let (mut ws, mut out) = (Workspace::default(), Vec::new());
        singular_values(&a, n, &mut ws, &mut out, 100 + 30 * n * n).unwrap();
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
            assert_within(&reference(&m), &ours(&m), 8.0 * n as f64 * f64::EPSILON, &format!("trial {trial}"));
        }
    }

    #[test]
    fn a_pair_gives_bitwise_the_values_of_each_matrix_alone_and_qr_agrees_with_dqds() {
        let mut rng = StdRng::seed_from_u64(13);
        let (mut wa, mut wb, mut ws) = (Workspace::default(), Workspace::default(), Workspace::default());
        let (mut va, mut vb, mut alone) = (Vec::new(), Vec::new(), Vec::new());
        for trial in 0..200 {
            let n = rng.random_range(1..=20);
            let mut draw = |zeros: bool| {
                DMatrix::from_fn(n, n, |i, j| {
                    let x: f64 = rng.random_range(-1.0..1.0);
                    // Zero rows leave exact zeros in the bidiagonal: dqds
                    // declines and the QR iteration decides.
                    if zeros && i % 3 == 1 {
                        0.0
                    } else {
                        x * 2f64.powi(-(3 * j as i32))
                    }
                })
            };
            let (a, b) = (draw(trial % 4 == 1), draw(trial % 4 == 2));
            let ld = leading_dimension(n);
            for (w, m) in [(&mut wa, &a), (&mut wb, &b)] {
                for (dst, src) in w.matrix(n).chunks_exact_mut(ld).zip(m.as_slice().chunks_exact(n)) {
                    dst[..n].copy_from_slice(src);
                }
            }
            let (ra, rb) = singular_values_in_place_pair(n, (&mut wa, &mut va), (&mut wb, &mut vb), 10_000);
            ra.unwrap();
            rb.unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            singular_values(a.as_slice(), n, &mut ws, &mut alone, 10_000).unwrap();
            assert_eq!(bits(&va), bits(&alone), "trial {trial}, first");
            singular_values(b.as_slice(), n, &mut ws, &mut alone, 10_000).unwrap();
            assert_eq!(bits(&vb), bits(&alone), "trial {trial}, second");
            // The fallback on the same bidiagonal: within 8·n·ε·σ₁ of dqds.
            for (dst, src) in ws.matrix(n).chunks_exact_mut(ld).zip(a.as_slice().chunks_exact(n)) {
                dst[..n].copy_from_slice(src);
            }
            bidiagonalize(n, &mut ws);
            let mut d = ws.d.clone();
            if super::super::dqds::dqds_values(&mut d, &ws.e, 30 * n + 100) {
                let (mut qd, mut qe) = (ws.d.clone(), ws.e.clone());
                super::super::bidiag::bidiagonal_values(&mut qd, &mut qe, 10_000).unwrap();
                let mut q: Vec<f64> = qd.iter().map(|x| x.abs()).collect();
                q.sort_by(|x, y| y.total_cmp(x));
                d.sort_by(|x, y| y.total_cmp(x));
                assert_within(&q, &d, 8.0 * n as f64 * f64::EPSILON, &format!("trial {trial}: QR vs dqds"));
            }
        }
    }

    /// The bidiagonalization dispatched to the widest vectors (AVX2 where the
    /// CPU has it) and its baseline build give bitwise the same bidiagonal and
    /// reflectors, in f64 and f32.
    #[test]
    fn wide_vector_build_is_bitwise_the_baseline() {
        use crate::simd::Kernel;
        let mut rng = StdRng::seed_from_u64(45);
        for n in [1, 2, 3, 4, 5, 8, 13, 16, 17, 24] {
            let a = DMatrix::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0) * 2f64.powi(rng.random_range(-30..30)));
            let load = |ws: &mut Workspace<f64>| {
                let ld = leading_dimension(n);
                for (dst, src) in ws.matrix(n).chunks_exact_mut(ld).zip(a.as_slice().chunks_exact(n)) {
                    dst[..n].copy_from_slice(src);
                }
            };
            let (mut x, mut y) = (Workspace::default(), Workspace::default());
            load(&mut x);
            load(&mut y);
            crate::simd::run(Bidiagonalize(n, &mut x));
            Bidiagonalize(n, &mut y).run();
            let bits = |v: &[f64]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x.d), bits(&y.d), "n = {n}: diagonal");
            assert_eq!(bits(&x.e), bits(&y.e), "n = {n}: superdiagonal");
            assert_eq!(bits(&x.x), bits(&y.x), "n = {n}: reflectors");
            let (mut x, mut y) = (Workspace::<f32>::default(), Workspace::<f32>::default());
            let ld = leading_dimension(n);
            for ws in [&mut x, &mut y] {
                for (dst, src) in ws.matrix(n).chunks_exact_mut(ld).zip(a.as_slice().chunks_exact(n)) {
                    dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s as f32);
                }
            }
            crate::simd::run(Bidiagonalize(n, &mut x));
            Bidiagonalize(n, &mut y).run();
            assert_eq!((&x.d, &x.e, &x.x), (&y.d, &y.e, &y.x), "n = {n}: f32");
        }
    }

    /// Two matrices bidiagonalized together, their phases interleaved, in
    /// either build, give each bitwise what it gets alone (the second matrix is
    /// another one, so that a mix-up of the two would show).
    #[test]
    fn an_interleaved_pair_is_bitwise_each_alone() {
        use crate::simd::Kernel;
        let mut rng = StdRng::seed_from_u64(46);
        for n in [1, 2, 3, 4, 5, 8, 13, 16, 17, 24] {
            let mut draw =
                || DMatrix::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0) * 2f64.powi(rng.random_range(-30..30)));
            let (a, b) = (draw(), draw());
            let load = |m: &DMatrix<f64>| {
                let mut ws = Workspace::default();
                let ld = leading_dimension(n);
                for (dst, src) in ws.matrix(n).chunks_exact_mut(ld).zip(m.as_slice().chunks_exact(n)) {
                    dst[..n].copy_from_slice(src);
                }
                ws
            };
            let (mut alone_a, mut alone_b) = (load(&a), load(&b));
            Bidiagonalize(n, &mut alone_a).run();
            Bidiagonalize(n, &mut alone_b).run();
            let bits =
                |ws: &Workspace<f64>| [&ws.d, &ws.e, &ws.x].map(|v| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>());
            let (mut wide_a, mut wide_b) = (load(&a), load(&b));
            bidiagonalize_pair(n, &mut wide_a, &mut wide_b);
            let (mut base_a, mut base_b) = (load(&a), load(&b));
            BidiagonalizePair(n, &mut base_a, &mut base_b).run();
            for (pa, pb) in [(&wide_a, &wide_b), (&base_a, &base_b)] {
                assert_eq!(bits(pa), bits(&alone_a), "n = {n}: first");
                assert_eq!(bits(pb), bits(&alone_b), "n = {n}: second");
            }
        }
    }

    /// Every value within `8·n·ε·σ₁` of nalgebra's (in f64) on matrices graded
    /// by powers of two over the whole exponent range (down to subnormal
    /// entries), with zero rows and columns, and in f32.
    #[test]
    fn fused_bidiagonalization_matches_nalgebra_graded_rank_deficient_and_f32() {
        let mut rng = StdRng::seed_from_u64(12);
        for trial in 0..300 {
            let n = rng.random_range(1..=24);
            let r: Vec<i32> = (0..n).map(|_| rng.random_range(0..=540)).collect();
            let c: Vec<i32> = (0..n).map(|_| rng.random_range(0..=540)).collect();
            let dead = rng.random_range(0..n);
            let m = DMatrix::from_fn(n, n, |i, j| {
                let x: f64 = rng.random_range(-1.0..1.0);
                match trial % 3 {
                    0 => crate::scalar::ldexp(x, -(r[i] + c[j])),
                    1 if i == dead || j == (dead + 1) % n => 0.0,
                    _ => x,
                }
            });
            let m = &m / m.amax().max(f64::MIN_POSITIVE);
            assert_within(&reference(&m), &ours(&m), 8.0 * n as f64 * f64::EPSILON, &format!("trial {trial}"));
            let m32 = m.map(|x| x as f32);
            let tol = 8.0 * n as f64 * f64::from(f32::EPSILON);
            assert_within(&reference(&m32.map(f64::from)), &ours(&m32), tol, &format!("f32 trial {trial}"));
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
