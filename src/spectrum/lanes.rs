//! The structured path's `N × N` cores four at a time, one core per vector
//! lane: their triangular products ([`triangular_product`]), each core's
//! largest entry and scaling ([`max_and_finiteness`], [`scale`]), and their
//! Golub–Kahan bidiagonalization ([`bidiagonalize`]).
//!
//! The matrices are stored interleaved: entry `(i, j)` of all four is one
//! [`Lanes`] value, so every scalar operation of the algorithm becomes one
//! vector operation on four matrices, with no horizontal sums and no
//! remainder across the vector width (the lanes are the vector); the four
//! matrices also share every latency chain (a
//! reflector's norm, square root and divisions). Each lane's arithmetic is
//! exactly that of the algorithm on its matrix alone (the operations are
//! elementwise, and the one data-dependent choice, the careful reflector for
//! tiny or zero vectors, is made per lane), so a matrix gets bitwise the same
//! bidiagonal whichever lane it is in and whatever the other lanes hold.
//!
//! # The algorithm
//! `M = U·B·Vᵀ` by alternating Householder reflections (LAPACK `dgebd2`, values
//! only, `U` and `V` never formed), `8/3·n³` flops per matrix. Step `k`:
//!
//! 1. the left reflector `(I − τ_l·u·uᵀ)` of column `k` (rows `k..n`, LAPACK
//!    `dlarfg` form: `u_k = 1`, `τ ∈ [1, 2]`), giving `d_k`, applied to the
//!    columns `j > k`: `w_j = uᵀ·a_j`, `a_j ← a_j − τ_l·w_j·u`;
//! 2. the right reflector `(I − τ_r·v·vᵀ)` of row `k` (columns `k+1..n`),
//!    giving `e_k`, applied to rows `k+1..n`: `z = A·v`, `a_j ← a_j − τ_r·v_j·z`.
//!
//! Only orthogonal transformations touch the matrix: every `σ_k` of the
//! bidiagonal is within a small multiple of `ε·‖M‖` of the matrix's.

use crate::scalar::Scalar;

/// The number of matrices reduced at once (four `f64` fill a 256-bit vector).
pub(crate) const WIDTH: usize = 4;

/// One entry of [`WIDTH`] matrices; arithmetic is elementwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Lanes<T>(pub(crate) [T; WIDTH]);

impl<T: Scalar> Lanes<T> {
    /// Every lane `x`.
    #[inline(always)]
    pub(crate) fn splat(x: T) -> Self {
        Self([x; WIDTH])
    }

    /// `f` lane by lane.
    #[inline(always)]
    fn map(self, f: impl Fn(T) -> T) -> Self {
        let mut r = self;
        for l in 0..WIDTH {
            r.0[l] = f(self.0[l]);
        }
        r
    }

    /// `f` on the lanes of `self` and `o`, lane by lane.
    #[inline(always)]
    pub(crate) fn zip(self, o: Self, f: impl Fn(T, T) -> T) -> Self {
        let mut r = self;
        for l in 0..WIDTH {
            r.0[l] = f(self.0[l], o.0[l]);
        }
        r
    }
}

macro_rules! lane_op {
    ($tr:ident, $f:ident, $op:tt) => {
        impl<T: Scalar> std::ops::$tr for Lanes<T> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                self.zip(o, |a, b| a $op b)
            }
        }
    };
}
lane_op!(Add, add, +);
lane_op!(Sub, sub, -);
lane_op!(Mul, mul, *);
lane_op!(Div, div, /);

/// Reusable buffers of [`triangular_product`] and [`bidiagonalize`].
#[derive(Debug, Clone)]
pub(crate) struct LaneWorkspace<T> {
    /// The matrices, column-major: entry `(i, j)` at `x[j·n + i]`.
    x: Vec<Lanes<T>>,
    /// The diagonal and the superdiagonal of the bidiagonals.
    pub(crate) d: Vec<Lanes<T>>,
    pub(crate) e: Vec<Lanes<T>>,
    /// Row `k` (the right reflector), `A·v`, and the vectors of the lanes
    /// that take the careful reflector.
    row: Vec<Lanes<T>>,
    z: Vec<Lanes<T>>,
    lane: Vec<T>,
    /// Two upper-triangular factors per lane (row-major), for
    /// [`triangular_product`].
    f: Vec<Lanes<T>>,
    g: Vec<Lanes<T>>,
}

impl<T> Default for LaneWorkspace<T> {
    fn default() -> Self {
        Self {
            x: Vec::new(),
            d: Vec::new(),
            e: Vec::new(),
            row: Vec::new(),
            z: Vec::new(),
            lane: Vec::new(),
            f: Vec::new(),
            g: Vec::new(),
        }
    }
}

impl<T: Scalar> LaneWorkspace<T> {
    /// The matrix buffer for order `n` (`n²` entries, column-major), to be filled
    /// before [`bidiagonalize`] (the structured path fills it by
    /// [`triangular_product`]).
    #[cfg(test)]
    pub(crate) fn matrices(&mut self, n: usize) -> &mut [Lanes<T>] {
        // Every entry is written by the caller: only new ones are zeroed.
        self.x.resize(n * n, Lanes::splat(T::zero()));
        &mut self.x[..n * n]
    }

    /// The two factor buffers of [`triangular_product`] for order `n` (`n²`
    /// entries each, row-major). Their strict lower triangles are zero in every
    /// lane, and callers write only the upper triangles (entries `(a, j)`,
    /// `j ≥ a`), so they stay zero.
    pub(crate) fn factors(&mut self, n: usize) -> (&mut [Lanes<T>], &mut [Lanes<T>]) {
        if self.f.len() != n * n || self.g.len() != n * n {
            let zero = Lanes::splat(T::zero());
            for buf in [&mut self.f, &mut self.g] {
                buf.clear();
                buf.resize(n * n, zero);
            }
        }
        (&mut self.f[..], &mut self.g[..])
    }

    /// The matrix buffer as filled (by [`triangular_product`]).
    pub(crate) fn matrices_filled(&mut self, n: usize) -> &mut [Lanes<T>] {
        &mut self.x[..n * n]
    }
}

/// `x[a·n + b] = Σ_j f[a·n + j]·g[b·n + j]` lane by lane, for the
/// upper-triangular `n × n` factors `F`, `G` in [`LaneWorkspace::factors`]:
/// `F·Gᵀ` (about `n³/3` multiply-adds per lane: the terms with
/// `j < max(a, b)` are zero), written to the workspace's matrix buffer as the
/// column-major matrix `(F·Gᵀ)ᵀ` (the same singular values). Each sum runs
/// over `j` upwards from `max(a, b)`, or from the start of its block of 2 × 4
/// entries (adding exact zeros). Runs with the widest vectors the CPU offers.
pub(crate) fn triangular_product<T: Scalar>(n: usize, ws: &mut LaneWorkspace<T>) {
    crate::simd::run(TriangularProduct(n, ws));
}

/// [`triangular_product`] as a [`crate::simd::Kernel`].
pub(crate) struct TriangularProduct<'a, T>(pub(crate) usize, pub(crate) &'a mut LaneWorkspace<T>);

impl<T: Scalar> crate::simd::Kernel for TriangularProduct<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let TriangularProduct(n, ws) = self;
        let zero = Lanes::splat(T::zero());
        ws.x.resize(n * n, zero);
        let (f, g, x) = (&ws.f[..n * n], &ws.g[..n * n], &mut ws.x[..n * n]);
        debug_assert!(
            [f, g].iter().all(|m| (0..n * n).all(|k| k % n >= k / n || m[k] == zero)),
            "the strict lower triangles of the factors are zero"
        );
        // Blocks of 2 rows a × 4 entries b with the sums in registers, over
        // j ≥ max(a₀, b₀): the extra terms meet the zero lower triangles.
        let (rows, cols) = (n - n % 2, n - n % 4);
        for a0 in (0..rows).step_by(2) {
            let (f0, f1) = (&f[a0 * n..(a0 + 1) * n], &f[(a0 + 1) * n..(a0 + 2) * n]);
            for b0 in (0..cols).step_by(4) {
                let j0 = a0.max(b0);
                let gs = [0, 1, 2, 3].map(|t| &g[(b0 + t) * n + j0..(b0 + t + 1) * n]);
                let mut acc = [[zero; 4]; 2];
                for (k, (&x0, &x1)) in f0[j0..].iter().zip(&f1[j0..]).enumerate() {
                    for t in 0..4 {
                        let y = gs[t][k];
                        acc[0][t] = acc[0][t] + x0 * y;
                        acc[1][t] = acc[1][t] + x1 * y;
                    }
                }
                for (r, sums) in acc.iter().enumerate() {
                    x[(a0 + r) * n + b0..(a0 + r) * n + b0 + 4].copy_from_slice(sums);
                }
            }
        }
        // The row and the entries left over, one at a time.
        for a in 0..n {
            let from = if a < rows { cols } else { 0 };
            for b in from..n {
                let j0 = a.max(b);
                x[a * n + b] = dot_from(zero, &f[a * n + j0..(a + 1) * n], &g[b * n + j0..(b + 1) * n]);
            }
        }
    }
}

/// The largest magnitude in each lane of `x`, and per lane `Σ x·0`, which is
/// NaN exactly when the lane has an infinite or NaN entry. Runs with the
/// widest vectors the CPU offers.
pub(crate) fn max_and_finiteness<T: Scalar>(x: &[Lanes<T>]) -> (Lanes<T>, Lanes<T>) {
    crate::simd::run(MaxAndFiniteness(x))
}

/// [`max_and_finiteness`] as a [`crate::simd::Kernel`].
struct MaxAndFiniteness<'a, T>(&'a [Lanes<T>]);

impl<T: Scalar> crate::simd::Kernel for MaxAndFiniteness<'_, T> {
    type Output = (Lanes<T>, Lanes<T>);
    #[inline(always)]
    fn run(self) -> Self::Output {
        let zero = Lanes::splat(T::zero());
        let (mut max, mut nan) = (zero, zero);
        for &v in self.0 {
            max = max.zip(v, |m, y| if y.abs() > m { y.abs() } else { m });
            nan = nan + v * zero;
        }
        (max, nan)
    }
}

/// `x ← x·f`, lane by lane. Runs with the widest vectors the CPU offers.
pub(crate) fn scale<T: Scalar>(x: &mut [Lanes<T>], f: Lanes<T>) {
    crate::simd::run(Scale(x, f));
}

/// [`scale`] as a [`crate::simd::Kernel`].
struct Scale<'a, T>(&'a mut [Lanes<T>], Lanes<T>);

impl<T: Scalar> crate::simd::Kernel for Scale<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let Scale(x, f) = self;
        for v in x.iter_mut() {
            *v = *v * f;
        }
    }
}

/// `M = U·B·Vᵀ` for the [`WIDTH`] matrices of order `n` in the workspace's
/// matrix buffer (destroyed): the diagonal of each `B` into
/// `ws.d`, its superdiagonal into `ws.e`. Runs with the widest vectors the CPU
/// offers ([`crate::simd`]; bitwise the same results). The matrices must be
/// finite.
pub(crate) fn bidiagonalize<T: Scalar>(n: usize, ws: &mut LaneWorkspace<T>) {
    crate::simd::run(Bidiagonalize(n, ws));
}

/// [`bidiagonalize`] as a [`crate::simd::Kernel`].
pub(crate) struct Bidiagonalize<'a, T: Scalar>(pub(crate) usize, pub(crate) &'a mut LaneWorkspace<T>);

impl<T: Scalar> crate::simd::Kernel for Bidiagonalize<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let Bidiagonalize(n, ws) = self;
        let LaneWorkspace { x, d, e, row, z, lane, .. } = ws;
        let zero = Lanes::splat(T::zero());
        // Every entry used is written before it is read.
        d.resize(n, zero);
        e.resize(n.saturating_sub(1), zero);
        row.resize(n, zero);
        z.resize(n, zero);
        let x = &mut x[..n * n];
        // Above it the sum of squares of a vector of length < n has lost nothing
        // to underflow.
        let safe = super::small_svd::smallest_normal::<T>() * T::cast(n as f64) / T::EPSILON;
        for k in 0..n {
            // Left reflector of column k (rows k..n); its u (below the implied
            // u_k = 1) is left in the column.
            let (done, rest) = x.split_at_mut((k + 1) * n);
            let col = &mut done[k * n + k..];
            let (head, tail) = col.split_at_mut(1);
            let (beta, tau) = reflect(head[0], tail, safe, lane);
            d[k] = beta;
            if k + 1 == n {
                break;
            }
            let u = &*tail;
            let m = n - k - 1;
            for (c, r) in rest.chunks_exact_mut(n).zip(row.iter_mut()) {
                let c = &mut c[k..];
                let (ck, below) = c.split_at_mut(1);
                let w = dot_from(ck[0], u, below);
                let f = tau * w;
                ck[0] = ck[0] - f;
                subtract_scaled(below, f, u);
                // Row k of column j: the right reflector's input.
                *r = ck[0];
            }
            // Right reflector of row k (columns k+1..n), applied to rows k+1..n.
            let v = &mut row[..m];
            let (v0, vt) = v.split_at_mut(1);
            let (beta, tau) = reflect(v0[0], vt, safe, lane);
            e[k] = beta;
            if vt.is_empty() {
                continue;
            }
            v0[0] = Lanes::splat(T::one());
            let z = &mut z[..m];
            times_vector(rest, n, k + 1, v, z);
            for (c, &vj) in rest.chunks_exact_mut(n).zip(v.iter()) {
                subtract_scaled(&mut c[k + 1..], tau * vj, z);
            }
        }
    }
}

/// `s + Σ_i x_i·y_i`, summed in the order of `i` (four terms per loop pass).
#[inline(always)]
fn dot_from<T: Scalar>(s: Lanes<T>, x: &[Lanes<T>], y: &[Lanes<T>]) -> Lanes<T> {
    let y = &y[..x.len()];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    let mut s = s;
    for (x4, y4) in xc.zip(yc) {
        s = s + x4[0] * y4[0];
        s = s + x4[1] * y4[1];
        s = s + x4[2] * y4[2];
        s = s + x4[3] * y4[3];
    }
    for (&a, &b) in xr.iter().zip(yr) {
        s = s + a * b;
    }
    s
}

/// `a_i ← a_i − f·u_i` (four entries per loop pass).
#[inline(always)]
fn subtract_scaled<T: Scalar>(a: &mut [Lanes<T>], f: Lanes<T>, u: &[Lanes<T>]) {
    let u = &u[..a.len()];
    let mut ac = a.chunks_exact_mut(4);
    let uc = u.chunks_exact(4);
    let ur = uc.remainder();
    for (a4, u4) in (&mut ac).zip(uc) {
        for r in 0..4 {
            a4[r] = a4[r] - f * u4[r];
        }
    }
    for (a, &b) in ac.into_remainder().iter_mut().zip(ur) {
        *a = *a - f * b;
    }
}

/// `z_i = Σ_t v_t·a[t·n + off + i]` for `i < z.len()` (the columns of `a`, rows
/// from `off`, times `v`), each sum in the order of `t` from zero; four rows at
/// a time with the sums in registers.
#[inline(always)]
fn times_vector<T: Scalar>(a: &[Lanes<T>], n: usize, off: usize, v: &[Lanes<T>], z: &mut [Lanes<T>]) {
    let zero = Lanes::splat(T::zero());
    let mut blocks = z.chunks_exact_mut(4);
    let mut i = off;
    for zb in &mut blocks {
        let mut acc = [zero; 4];
        for (c, &vt) in a.chunks_exact(n).zip(v) {
            let c = &c[i..i + 4];
            for r in 0..4 {
                acc[r] = acc[r] + vt * c[r];
            }
        }
        zb.copy_from_slice(&acc);
        i += 4;
    }
    for zi in blocks.into_remainder() {
        let mut acc = zero;
        for (c, &vt) in a.chunks_exact(n).zip(v) {
            acc = acc + vt * c[i];
        }
        *zi = acc;
        i += 1;
    }
}

/// Householder reflectors of `[x0; tail]`, lane by lane (LAPACK `dlarfg`):
/// `(I − τ·u·uᵀ)·[x0; tail] = β·e₁` with `u = [1; tail/(x0 − β)]`, the tail of
/// `u` stored over `tail`. Returns `(β, τ)`; `τ = 0` (the identity) where the
/// tail is zero. A lane whose sum of squares is at most `safe` (tiny or zero
/// vectors, where it may have lost bits to underflow) takes
/// [`super::small_svd::reflect_careful`] on its own; `scratch` holds its vector.
#[inline(always)]
fn reflect<T: Scalar>(x0: Lanes<T>, tail: &mut [Lanes<T>], safe: T, scratch: &mut Vec<T>) -> (Lanes<T>, Lanes<T>) {
    if tail.is_empty() {
        return (x0, Lanes::splat(T::zero()));
    }
    let ss = dot_from(Lanes::splat(T::zero()), tail, tail);
    // (NaN compares false: careful.)
    let careful: [bool; WIDTH] =
        std::array::from_fn(|l| ss.0[l].partial_cmp(&safe) != Some(std::cmp::Ordering::Greater));
    // The careful lanes' vectors before the fast path scales them.
    let mut saved = [0usize; WIDTH];
    if careful.iter().any(|&c| c) {
        scratch.clear();
        for (l, &c) in careful.iter().enumerate() {
            saved[l] = scratch.len();
            if c {
                scratch.extend(tail.iter().map(|v| v.0[l]));
            }
        }
    }
    // The usual case: entries are at most a few units, x0² + ss cannot
    // overflow, and ss is far from the underflow range.
    let nrm = (x0 * x0 + ss).map(T::sqrt);
    let beta = x0.zip(nrm, |x, r| if x >= T::zero() { -r } else { r });
    let mut tau = (beta - x0) / beta;
    let scale = Lanes::splat(T::one()) / (x0 - beta);
    for v in tail.iter_mut() {
        *v = *v * scale;
    }
    let mut beta = beta;
    for (l, &c) in careful.iter().enumerate() {
        if c {
            let len = tail.len();
            let own = &mut scratch[saved[l]..saved[l] + len];
            let (b, t) = super::small_svd::reflect_careful(x0.0[l], own);
            for (v, &o) in tail.iter_mut().zip(own.iter()) {
                v.0[l] = o;
            }
            beta.0[l] = b;
            tau.0[l] = t;
        }
    }
    (beta, tau)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Kernel;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// `WIDTH` matrices of order `n` with entries in `±2^±30`, some with zero
    /// or subnormal columns (the careful reflector), as `Vec`s column-major.
    fn draw(rng: &mut StdRng, n: usize) -> Vec<Vec<f64>> {
        (0..WIDTH)
            .map(|w| {
                let dead = rng.random_range(0..n);
                (0..n * n)
                    .map(|k| {
                        let x = rng.random_range(-1.0..1.0) * 2f64.powi(rng.random_range(-30..30));
                        match (w, k / n == dead) {
                            (1, true) => 0.0,
                            (2, true) => x * 1e-310,
                            _ => x,
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn load<T: Scalar>(ws: &mut LaneWorkspace<T>, n: usize, m: &[Vec<f64>], order: [usize; WIDTH]) {
        for (k, x) in ws.matrices(n).iter_mut().enumerate() {
            for (l, &o) in order.iter().enumerate() {
                x.0[l] = T::cast(m[o][k]);
            }
        }
    }

    fn bits<T: Scalar>(v: &[Lanes<T>], l: usize) -> Vec<u64> {
        v.iter().map(|x| x.0[l].to_f64().to_bits()).collect()
    }

    /// The build with the widest vectors and the baseline give bitwise the same
    /// bidiagonals, in f64 and f32; and a matrix gets bitwise the same
    /// bidiagonal in whichever lane, next to whichever others.
    #[test]
    fn lanes_are_independent_and_the_wide_build_is_the_baseline() {
        let mut rng = StdRng::seed_from_u64(47);
        for n in [1, 2, 3, 4, 5, 8, 13, 16, 17, 24] {
            let m = draw(&mut rng, n);
            let (mut wide, mut base) = (LaneWorkspace::<f64>::default(), LaneWorkspace::<f64>::default());
            load(&mut wide, n, &m, [0, 1, 2, 3]);
            load(&mut base, n, &m, [0, 1, 2, 3]);
            bidiagonalize(n, &mut wide);
            Bidiagonalize(n, &mut base).run();
            for l in 0..WIDTH {
                assert_eq!(bits(&wide.d, l), bits(&base.d, l), "n = {n}, lane {l}: d");
                assert_eq!(bits(&wide.e, l), bits(&base.e, l), "n = {n}, lane {l}: e");
            }
            // Lane l of a reversed order holds matrix 3 - l; then matrix o alone
            // (its copies in every lane).
            let mut rev = LaneWorkspace::<f64>::default();
            load(&mut rev, n, &m, [3, 2, 1, 0]);
            bidiagonalize(n, &mut rev);
            for o in 0..WIDTH {
                let mut alone = LaneWorkspace::<f64>::default();
                load(&mut alone, n, &m, [o; WIDTH]);
                bidiagonalize(n, &mut alone);
                for (ws, l) in [(&wide, o), (&rev, WIDTH - 1 - o)] {
                    assert_eq!(bits(&ws.d, l), bits(&alone.d, 0), "n = {n}, matrix {o}, d");
                    assert_eq!(bits(&ws.e, l), bits(&alone.e, 0), "n = {n}, matrix {o}, e");
                }
            }
            let (mut wide, mut base) = (LaneWorkspace::<f32>::default(), LaneWorkspace::<f32>::default());
            load(&mut wide, n, &m, [0, 1, 2, 3]);
            load(&mut base, n, &m, [0, 1, 2, 3]);
            bidiagonalize(n, &mut wide);
            Bidiagonalize(n, &mut base).run();
            for l in 0..WIDTH {
                assert_eq!(bits(&wide.d, l), bits(&base.d, l), "n = {n}, lane {l}: f32 d");
                assert_eq!(bits(&wide.e, l), bits(&base.e, l), "n = {n}, lane {l}: f32 e");
            }
        }
    }
}
