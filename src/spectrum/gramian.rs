//! The structured path: singular values of every `H_i` from square-root factors of
//! the reachability and observability Gramians of a [`Realization`], never forming
//! `T`.
//!
//! With the standard-form realization (see [`crate::realization`]),
//! `H_i = O_i R_i`. Let `Fo_i` (`r × N`) satisfy `Fo_iᵀ Fo_i = O_iᵀ O_i` (the
//! observability Gramian) and `Gr_i` (`r' × N`) satisfy `Gr_iᵀ Gr_i = R_i R_iᵀ`
//! (the reachability Gramian of `x_i`). Then `O_i = Q_o Fo_i` and
//! `R_i = Gr_iᵀ Q_rᵀ` with orthonormal `Q_o`, `Q_r`, so the nonzero singular values
//! of `H_i` are those of the small core `Fo_i Gr_iᵀ`. Both factors follow the same
//! kind of recursion,
//!
//! ```text
//! backward  Fo_{L-1} = tri(C_{L-1}),   Fo_i     = tri([Fo_{i+1} A_i ; C_i])
//! forward   Gr_1     = tri(B_0ᵀ),      Gr_{i+1} = tri([Gr_i A_iᵀ ; B_iᵀ])
//! ```
//!
//! where `tri(S)` is the upper-trapezoidal factor `R` of `S = Q R` (at most `N`
//! rows). Only orthogonal transformations touch the factors, so singular values
//! down to `ε·σ₁` survive; forming the Gramians `P = R Rᵀ` would square the
//! condition number and lose everything below `√ε·σ₁`.
//!
//! For a diagonal `A_t`, `Fo A_t` is a column scaling that keeps the factor
//! triangular, and `tri` reduces to appending the `p` (or `m`) new rows with Givens
//! rotations: `O(N²·(p + m))` per step instead of a dense `O(N³)` product and
//! Householder QR. A dense-stored `A_t` whose off-diagonal entries are all
//! exactly zero is recognised once per realization ([`diagonal_view`]) and takes
//! the same route, with bitwise the same results as the diagonal storage.
//!
//! # The per-index core
//! Both factors are upper-triangular (`N × N` once `i ≥ N` and `L - i ≥ N` for
//! `p = m = 1`), so `core[a, b] = Σ_{j ≥ max(a, b)} Fo[a, j]·Gr[b, j]` costs
//! `N³/3` multiply-adds instead of `N³`. The (scaled) factors of four indices
//! go into the four lanes of one buffer ([`Factor::core_factors_into`], or
//! [`Factor::core_factors_four`] for four at once), and one
//! product forms the four cores at once, every multiply-add a vector operation
//! ([`super::lanes::triangular_product`], blocks of 2 × 4 entries with the sums
//! in registers), straight into the kernel's matrix buffer. Their
//! singular values come from [`super::small_svd`]: Golub–Kahan
//! bidiagonalization by Householder reflections, then dqds (the implicit-shift
//! bidiagonal QR where dqds declines), values only, allocation-free, four cores
//! at a time: one bidiagonalization for all four, one core per vector lane
//! ([`super::lanes`]), then dqds on pairs with their sweeps interleaved; each
//! core gets bitwise what it gets alone. Only orthogonal transformations touch the
//! core, so every `σ_k` is resolved to a small multiple of `ε·σ₁` (absolute), as
//! with the general backend; no Gram matrix is formed. The kernel is used when
//! the backend allows it ([`SvdBackend::allows_builtin_core_kernel`], true for
//! the default [`NalgebraSvd`](super::NalgebraSvd)); rectangular cores (near the
//! ends) and custom backends take the general route.
//!
//! # Checkpointing: `O(√L·N²)` memory
//! The backward recursion produces `Fo_i` for decreasing `i`, the forward one
//! `Gr_i` for increasing `i`; each core needs both. Storing every `Fo_i` costs
//! `L·N²` scalars per channel (134 MB at `L = 65,536`, `N = 16`). Instead the
//! `count` requested indices are cut into groups of `K = ⌈√count⌉` consecutive
//! ones ([`group_size`]). Two first sweeps run at once, from both ends: the
//! backward one down to the middle keeps only `Fo` at the largest index of
//! each upper group, the forward one up to the middle only `Gr` at the smallest
//! index of each lower group (`⌈count/K⌉` checkpoints in all). The upper
//! groups are then visited in ascending order: for each, the backward
//! recursion is re-run from the group's checkpoint down to its smallest index,
//! keeping the group's `K` factors `Fo_i`, and the forward recursion continues
//! to the group's indices, keeping its `K` factors `Gr_i`; the lower groups
//! likewise in descending order, with the roles swapped. The upper and the
//! lower groups are two independent chains ([`Walker::split`]): each needs
//! only its own checkpoints and the recursion its first sweep continued, so
//! on two threads each thread walks one chain, computing a group's factors and
//! then its `K` cores and SVDs (in chunks that an idle worker shares), and no
//! factor moves between threads. At most `⌈count/K⌉ + 4K ≈ 5√count` factors
//! are alive (one group's `K` factors `Fo_i` and `K` factors `Gr_i` per
//! chain). The recursion is a
//! deterministic function of the factor it starts from, and a re-run starts
//! from a copy of the very factor a first sweep produced, so every factor, and
//! hence every result, is bitwise identical to storing all factors (tested for
//! group sizes from 1 to `count`). Time: one extra sweep of each recursion over
//! half the sequence, `O(L·N²·p)` on the diagonal route, small against the
//! `O(L·N³)` cores; on two threads, no sweep over the whole sequence precedes
//! the first core.
//! [`for_each_cut`] (model reduction) walks the cuts in the same way, in
//! ascending order only (every checkpoint from the backward sweep).
//!
//! # Scaling
//! The factors are products of up to `L` transitions with `B` or `C`, so they can
//! overflow or underflow where `T` itself is perfectly representable (a tiny `B`
//! against a huge `C`: the observability factor grows like `C` while every entry
//! of `T` is `O(1)`). Each factor is therefore stored as `F = F̃·diag(2^e)`: a
//! matrix `F̃` whose every nonzero column has its largest magnitude in
//! `[0.5, 1)·2^(d_j)` with a small recorded drift `d_j` (0 after a normalisation;
//! the Givens update leaves one and folds `2^(-d_j)` into the next step's column
//! scaling instead of rescaling the factor, see below), and one integer exponent
//! per column (`None` for a zero column). All rescaling
//! is by powers of two, hence exact. Per-column rather than one exponent per
//! factor, because a diagonal state-space similarity (`b = (1e-300, 1e300)`,
//! `c = (1e300, 1e-300)`) makes the columns of one factor differ by more than the
//! type's range while `T` stays `O(1)`; and since row rotations never mix
//! columns, `tri(S·D) = tri(S)·D` for any column scaling `D`.
//! * Appending rows `w` (`C_t`, or `B_tᵀ`, possibly subnormal or huge): each
//!   column of `F̃` and of `w` is brought to the larger of the two exponents
//!   first, so neither overflows and a subnormal `w` is scaled up exactly before
//!   any arithmetic.
//! * A diagonal transition and the append are one pass per row
//!   (`Factor::append_scaled`): each column of `F̃` is multiplied by
//!   `μ_j = a_j·2^(-d_j)` (a moderate `a_j`, `2^-16 ≤ |a_j| < 2^16`; otherwise
//!   its exponent goes into the column exponent and `μ_j` uses its mantissa),
//!   times `2^(E_j - t_j)` when `w`'s column is the larger, immediately before
//!   the row is rotated, and the largest final magnitude of each column is
//!   recorded on the way, giving the next drifts `d_j = exp(max_r |F̃[r, j]|)`.
//!   The rotations keep each column's 2-norm, so a drift is bounded by
//!   `|log2 a_j| + 2 + ½·log2(n + k)`; no pass rescales the factor. A dense
//!   transition is applied (after a normalisation) as
//!   `F̃·M̃` with `M̃_jk = M_jk·2^(e_j - e'_k)`, `e'_k = max_j (e_j + exp(M_jk))`,
//!   so every product term is at most 1 in magnitude.
//! * The core `Fo_i·Gr_iᵀ = Σ_j Fo[:,j]·Gr[:,j]ᵀ·2^(eo_j + er_j)` is formed with
//!   the largest `eo_j + er_j + do_j + dr_j` (drifts included, so every term is
//!   at most 1) factored out, and that exponent is added to the
//!   spectrum's ([`Spectrum::shifted`]).
//!
//! Exponents are `i64`: a column's exponent moves by at most about 1100 per
//! step, so they cannot overflow for any realistic `L`. Only the spectrum of each
//! block is brought back to the type's range: a block whose `σ_1` is at least
//! `2^(hi+1)·√(rows·cols)` has an entry of at least `2^(hi+1)`, beyond the largest
//! finite value, so `T` is not finite and it is an error (as on the dense path);
//! one whose `σ_1` is at most half the smallest subnormal rounds to zero entry
//! by entry (a tie rounds to the even zero), and its spectrum is zero (as on the
//! dense path).

use super::lanes::{LaneWorkspace, Lanes, WIDTH};
use super::{spectrum_of, Spectrum, SvdBackend};
use crate::error::{EssError, Result};
use crate::realization::{Block, FlatTransition, Realization, StepMatrices, Transition};
use crate::scalar::{exponent_of, ldexp, pow2, Scalar};
use nalgebra::DMatrix;

/// Above this value of `d² + x²` the rounding of a square that fell below the
/// normal range is negligible (`2^-120` against `f32`'s smallest normal number
/// `2^-126`); below it the rotation takes `hypot`.
const SQUARE_SAFE: f64 = 1.0 / (1u128 << 120) as f64;

/// What a transition needs besides its values, computed once when it is constant
/// and at every step otherwise.
#[derive(Debug, Clone)]
struct Prepared<T> {
    constant: bool,
    /// A diagonal `A_t` split into mantissas and exponents.
    diagonal: Diagonal<T>,
    /// The exponents of a dense `A_t`'s entries.
    dense: Exponents,
}

impl<T: Scalar> Prepared<T> {
    fn new(a: &FlatTransition<T>) -> Self {
        let mut p = Self {
            constant: a.steps().is_constant(),
            diagonal: Diagonal { mantissa: Vec::new(), exp: Vec::new() },
            dense: Exponents { entries: Vec::new(), min: 0 },
        };
        if p.constant {
            match a {
                FlatTransition::Diagonal(d) => p.diagonal.split(d.slice(0)),
                FlatTransition::Dense(m) => p.dense = entry_exponents(m.at(0)),
            }
        }
        p
    }
}

/// The exponent of a zero entry, or of a zero column: so negative that adding
/// any real exponent keeps it below [`LIVE`], and two of them do not overflow.
const DEAD: i64 = i64::MIN / 4;
/// Sums of exponents above this involve no [`DEAD`] term.
const LIVE: i64 = i64::MIN / 8;

/// The exponents of a matrix's entries (column-major, [`DEAD`] for zeros) and
/// the smallest of them (0 for a zero matrix).
#[derive(Debug, Clone)]
struct Exponents {
    entries: Vec<i64>,
    min: i64,
}

/// [`Exponents`] of `m`: once for a constant `A`.
fn entry_exponents<T: Scalar>(m: Block<'_, T>) -> Exponents {
    let entries: Vec<i64> = m.as_slice().iter().map(|&x| if x == T::zero() { DEAD } else { exp_of(x) }).collect();
    let min = entries.iter().copied().filter(|&e| e != DEAD).min().unwrap_or(0);
    Exponents { entries, min }
}

/// `x · 2^k` for an `i64` shift (exact unless the result overflows or
/// underflows; a shift beyond `i32` gives 0 or ∞ as `ldexp` would).
fn mul_pow2<T: Scalar>(x: T, k: i64) -> T {
    let k = k.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    match pow2::<T>(k) {
        Some(f) => x * f,
        None => ldexp(x, k),
    }
}

/// `2^k` if it is a normal number of `T`.
fn pow2_i64<T: Scalar>(k: i64) -> Option<T> {
    i32::try_from(k).ok().and_then(pow2::<T>)
}

/// The power-of-two exponent of a nonzero value (`|x| · 2^-e ∈ [0.5, 1)`).
fn exp_of<T: Scalar>(x: T) -> i64 {
    i64::from(exponent_of(x.to_f64()))
}

/// Multiplies column `j` of the row-major `data` (`n` columns) by `2^shift[j]`.
fn shift_columns<T: Scalar>(data: &mut [T], n: usize, shift: &[i64]) {
    if shift.iter().all(|&k| k == 0) {
        return;
    }
    // One multiplication per entry where 2^k is a normal number (the usual case).
    let fast: Vec<Option<T>> = shift.iter().map(|&k| i32::try_from(k).ok().and_then(pow2::<T>)).collect();
    for row in data.chunks_mut(n) {
        for ((x, f), &k) in row.iter_mut().zip(&fast).zip(shift) {
            *x = match f {
                Some(f) => *x * *f,
                None => mul_pow2(*x, k),
            };
        }
    }
}

/// `a_j` with `1/A_MODERATE ≤ |a_j| < A_MODERATE` scales a factor's column as
/// it is, without splitting off its exponent (see [`Factor::append_scaled`]).
const A_MODERATE: f64 = 65536.0;

/// Row `j` of `F̃` (from its diagonal on) and the new row `v` (same columns):
/// `row ← row·diag(μ)`, then the Givens rotation that zeroes `v[0]` against
/// `row[0]`, and the running column maxima `cm ← max(cm, |row|)`. Entries are
/// below `2^16` in magnitude, so `d² + x²` cannot overflow; `hypot` (slow) is
/// needed only where it is tiny enough for the squares to lose bits to
/// underflow (they then still lose nothing above `ε·(d² + x²)`).
#[inline(always)]
fn rotate_in<T: Scalar>(row: &mut [T], v: &mut [T], mu: &[T], cm: &mut [T]) {
    let len = row.len();
    let (v, mu, cm) = (&mut v[..len], &mu[..len], &mut cm[..len]);
    let (d, x) = (row[0] * mu[0], v[0]);
    if x == T::zero() {
        scale_row(row, mu, cm);
        return;
    }
    let r2 = d * d + x * x;
    let rho = if r2 > T::cast(SQUARE_SAFE) { r2.sqrt() } else { d.hypot(x) };
    let (c, s) = (d / rho, x / rho);
    row[0] = rho;
    v[0] = T::zero();
    cm[0] = if rho > cm[0] { rho } else { cm[0] };
    rotate_row(c, s, &mut row[1..], &mut v[1..], &mu[1..], &mut cm[1..]);
}

/// `row ← row·diag(μ)` and the running column maxima `cm ← max(cm, |row|)`.
/// Separate slices as arguments, so the compiler knows they do not overlap.
#[inline(always)]
fn scale_row<T: Scalar>(row: &mut [T], mu: &[T], cm: &mut [T]) {
    let len = row.len();
    let (mu, cm) = (&mu[..len], &mut cm[..len]);
    for l in 0..len {
        let f = row[l] * mu[l];
        row[l] = f;
        cm[l] = if f.abs() > cm[l] { f.abs() } else { cm[l] };
    }
}

/// One Givens rotation `[row; v] ← [c s; -s c]·[row·diag(μ); v]` and the
/// running column maxima of the new `row`.
#[inline(always)]
fn rotate_row<T: Scalar>(c: T, s: T, row: &mut [T], v: &mut [T], mu: &[T], cm: &mut [T]) {
    let len = row.len();
    let (v, mu, cm) = (&mut v[..len], &mu[..len], &mut cm[..len]);
    for l in 0..len {
        let (x, y) = (row[l] * mu[l], v[l]);
        let r = c * x + s * y;
        row[l] = r;
        v[l] = c * y - s * x;
        cm[l] = if r.abs() > cm[l] { r.abs() } else { cm[l] };
    }
}

/// A diagonal transition `diag(a)` split into mantissas (`|m_j| ∈ [0.5, 1)`, 0
/// for `a_j = 0`) and exponents (`None` for `a_j = 0`): once for a constant `A`.
#[derive(Debug, Clone)]
struct Diagonal<T> {
    mantissa: Vec<T>,
    exp: Vec<Option<i64>>,
}

impl<T: Scalar> Diagonal<T> {
    fn split(&mut self, a: &[T]) {
        self.mantissa.clear();
        self.exp.clear();
        for &aj in a {
            if aj == T::zero() {
                self.mantissa.push(T::zero());
                self.exp.push(None);
            } else {
                let k = exp_of(aj);
                self.mantissa.push(mul_pow2(aj, -k));
                self.exp.push(Some(k));
            }
        }
    }
}

/// An upper-trapezoidal factor `F = F̃·diag(2^e)` (`rows × n`, `rows ≤ n`): the
/// square root `FᵀF` of a Gramian. `data` holds `F̃` row-major; every nonzero
/// column of `F̃` has its largest magnitude in `[0.5, 1)·2^(drift[j])` and
/// exponent `exp[j] = Some(e_j)`; a zero column has `None`. The drift is 0 after
/// [`normalize`](Self::normalize); the Givens update
/// ([`append_scaled`](Self::append_scaled)) leaves a small one (a few units)
/// and folds it into the next update's column scaling instead of rescaling the
/// factor. `upper` is false only for the
/// intermediate products (`F·A_t` before its QR, the Markov helper), which may be
/// full; loops over an upper-trapezoidal factor skip the zeros below its diagonal.
#[derive(Debug, Clone)]
struct Factor<T> {
    n: usize,
    rows: usize,
    data: Vec<T>,
    exp: Vec<Option<i64>>,
    /// `exp(max_r |F̃[r, j]|)` of each nonzero column (0 for a zero column).
    drift: Vec<i64>,
    upper: bool,
    /// Scratch space (`n` values each, and the aligned new rows), kept to avoid
    /// allocating at every step.
    scratch: Vec<T>,
    shifts: Vec<i64>,
    rows_buf: Vec<T>,
    colmax: Vec<T>,
}

impl<T: Scalar> Factor<T> {
    fn empty(n: usize) -> Self {
        Self { n, rows: 0, data: Vec::with_capacity(n * n), exp: vec![None; n], upper: true, ..Self::scratch_for(n) }
    }

    /// The first column that can be nonzero in row `r`.
    fn start(&self, r: usize) -> usize {
        if self.upper {
            r.min(self.n)
        } else {
            0
        }
    }

    /// An empty factor with scratch space for `n` columns (for `..` in literals).
    fn scratch_for(n: usize) -> Self {
        Self {
            n,
            rows: 0,
            data: Vec::new(),
            exp: Vec::new(),
            drift: vec![0; n],
            upper: true,
            scratch: vec![T::zero(); n],
            shifts: vec![0; n],
            rows_buf: Vec::new(),
            colmax: vec![T::zero(); n],
        }
    }

    /// The largest magnitude in each column of `F̃`, into `max`.
    fn column_max(&self, max: &mut [T]) {
        let n = self.n;
        max.fill(T::zero());
        for r in 0..self.rows {
            let s = self.start(r);
            for (m, x) in max[s..].iter_mut().zip(&self.data[r * n + s..(r + 1) * n]) {
                let a = x.abs();
                if a > *m {
                    *m = a;
                }
            }
        }
    }

    /// Multiplies column `j` of `F̃` by `2^shift[j]`, touching only the columns
    /// that move (and only their part on or above the diagonal).
    fn shift_columns(&mut self, shift: &[i64]) {
        let n = self.n;
        for (j, &k) in shift.iter().enumerate() {
            if k == 0 {
                continue;
            }
            let last = if self.upper { (j + 1).min(self.rows) } else { self.rows };
            match i32::try_from(k).ok().and_then(pow2::<T>) {
                Some(f) => (0..last).for_each(|r| self.data[r * n + j] *= f),
                None => (0..last).for_each(|r| self.data[r * n + j] = mul_pow2(self.data[r * n + j], k)),
            }
        }
    }

    fn row(&self, j: usize) -> &[T] {
        &self.data[j * self.n..(j + 1) * self.n]
    }

    /// Rescales every column of `F̃` so that its largest magnitude lies in
    /// `[0.5, 1)`, moving the power of two into the column's exponent.
    fn normalize(&mut self) {
        let (mut max, mut shift) = (std::mem::take(&mut self.scratch), std::mem::take(&mut self.shifts));
        self.column_max(&mut max);
        for (j, &m) in max.iter().enumerate() {
            shift[j] = 0;
            if m == T::zero() {
                self.exp[j] = None;
                continue;
            }
            let k = exp_of(m);
            let e = self.exp[j].expect("a nonzero column has an exponent");
            self.exp[j] = Some(e + k);
            shift[j] = -k;
        }
        self.shift_columns(&shift);
        (self.scratch, self.shifts) = (max, shift);
        self.drift.fill(0);
    }

    /// [`normalize`](Self::normalize) if any column has drifted.
    fn settle(&mut self) {
        if self.drift.iter().any(|&d| d != 0) {
            self.normalize();
        }
    }

    /// `F ← tri([F ; w])` for the rows `w` of a `k × n` matrix, by Givens rotations.
    fn append_rows(&mut self, w: Block<'_, T>) {
        self.append(w, false);
    }

    /// `F ← tri([F ; w])` for `w` (or `wᵀ` when `transposed`), by Givens rotations.
    fn append(&mut self, w: Block<'_, T>, transposed: bool) {
        self.append_scaled(None, w, transposed);
    }

    /// `F ← tri([F·diag(a) ; w])` (`a = 1` when `None`) for the rows `w` of a
    /// `k × n` matrix (given as `wᵀ` when `transposed`), by Givens rotations, in
    /// one pass over `F̃` per row of `w`:
    ///
    /// 1. per column (`O(n)`): with the column's drift `d_j`, the column of
    ///    `F·diag(a)` is `F̃[:, j]·μ_j·2^(E_j)` with, for a moderate `a_j`
    ///    (`2^-16 ≤ |a_j| < 2^16`), `E_j = e_j + d_j` and `μ_j = a_j·2^(-d_j)`
    ///    (largest magnitude in `|a_j|·[0.5, 1)`), and otherwise, with
    ///    `a_j = m_j·2^(k_j)` (`|m_j| ∈ [0.5, 1)`), `E_j = e_j + k_j + d_j` and
    ///    `μ_j = m_j·2^(-d_j)` (largest magnitude in `[0.25, 1)`); the column of
    ///    `w` is aligned to `t_j = max(E_j, exp(w_j))`:
    ///    `μ_j ← μ_j·2^(E_j - t_j)`, `w̃_j = w_j·2^(-t_j)`, so every entry of
    ///    `[F̃·diag(μ) ; w̃]` is below `2^16` in magnitude (no square overflows,
    ///    even in `f32`) and a subnormal `w` is scaled up exactly before any
    ///    arithmetic;
    /// 2. per row `r` of `F̃`: multiply by `μ` (for the first row of `w` only)
    ///    and rotate `w̃`'s entry `r` into the diagonal, recording each column's
    ///    largest final magnitude on the way;
    /// 3. the new drifts `d_j = exp(max_r |F̃[r, j]|)` (a zero column loses its
    ///    exponent).
    ///
    /// Power-of-two scalings are exact (unless a product is subnormal), so this
    /// is the rotation sequence on the normalised factor, without a separate
    /// normalisation pass. The rotations keep each column's 2-norm, so the drifts
    /// stay within `[-18 - ½·log2(rows + k), 16 + ½·log2(rows + k)]`.
    fn append_scaled(&mut self, a: Option<&[T]>, w: Block<'_, T>, transposed: bool) {
        let mut st = self.append_begin(a, w, transposed);
        for r in 0..st.k {
            self.append_row(&mut st, r);
        }
        self.append_end(st);
    }

    /// [`append_scaled`](Self::append_scaled) on two factors of the same order
    /// at once, the rotations of each row of one interleaved with those of the
    /// other: the chain of dependent square roots and divisions of one factor
    /// overlaps the other's. Each factor gets bitwise the result of
    /// `append_scaled` alone.
    fn append_scaled_pair(
        (f, a, w, transposed): (&mut Self, Option<&[T]>, Block<'_, T>, bool),
        (g, b, x, x_transposed): (&mut Self, Option<&[T]>, Block<'_, T>, bool),
    ) {
        debug_assert_eq!(f.n, g.n);
        let mut sf = f.append_begin(a, w, transposed);
        let mut sg = g.append_begin(b, x, x_transposed);
        for r in 0..sf.k.max(sg.k) {
            match (r < sf.k, r < sg.k) {
                (true, true) => Self::append_row_pair((f, &mut sf), (g, &mut sg), r),
                (true, false) => f.append_row(&mut sf, r),
                _ => g.append_row(&mut sg, r),
            }
        }
        f.append_end(sf);
        g.append_end(sg);
    }

    /// Step 1 of [`append_scaled`](Self::append_scaled): the column scalings
    /// `μ` and the aligned rows `w̃` (in buffers taken from `self`).
    #[inline(always)]
    fn append_begin(&mut self, a: Option<&[T]>, w: Block<'_, T>, transposed: bool) -> Appending<T> {
        let n = self.n;
        debug_assert!(self.upper && self.rows <= n);
        let k = if transposed { w.ncols() } else { w.nrows() };
        // Column-major positions of w[r, j].
        let (ws, ld) = (w.as_slice(), w.nrows());
        let at = |r: usize, j: usize| if transposed { ws[r * ld + j] } else { ws[j * ld + r] };
        let (mut mu, mut rows, mut colmax) =
            (std::mem::take(&mut self.scratch), std::mem::take(&mut self.rows_buf), std::mem::take(&mut self.colmax));
        // w, row-major, and the largest magnitude of each of its columns (in
        // `colmax`, then replaced by the column's scale 2^-t_j).
        rows.clear();
        if transposed || k == 1 {
            // wᵀ column-major, or a single row: already row-major.
            rows.extend_from_slice(ws);
        } else {
            rows.resize(k * n, T::zero());
            for (r, v) in rows.chunks_exact_mut(n).enumerate() {
                v.iter_mut().enumerate().for_each(|(j, x)| *x = at(r, j));
            }
        }
        colmax.fill(T::zero());
        for v in rows.chunks_exact(n) {
            for (m, x) in colmax.iter_mut().zip(v) {
                *m = if x.abs() > *m { x.abs() } else { *m };
            }
        }
        let (lo_a, hi_a) = (T::cast(A_MODERATE.recip()), T::cast(A_MODERATE));
        let mut exact = true;
        for (j, ((e, &d), (mu_j, wm))) in
            self.exp.iter_mut().zip(&self.drift).zip(mu.iter_mut().zip(colmax.iter_mut())).enumerate()
        {
            // The column of F·diag(a): exponent E_j and multiplier μ_j.
            let x = a.map_or(T::one(), |a| a[j]);
            let (ec, m) = match *e {
                None => (None, T::zero()),
                Some(_) if x == T::zero() => (None, T::zero()),
                // A moderate a_j is used as it is (exact whenever the split
                // would be): the next drift absorbs its magnitude.
                Some(e) if x.abs() >= lo_a && x.abs() < hi_a => (Some(e + d), mul_pow2(x, -d)),
                Some(e) => {
                    let ka = exp_of(x);
                    (Some(e + ka + d), mul_pow2(x, -ka - d))
                }
            };
            let target = ec.max((*wm != T::zero()).then(|| exp_of(*wm)));
            *mu_j = match (ec, target) {
                (Some(ec), Some(t)) if t > ec => mul_pow2(m, ec - t),
                _ => m,
            };
            *e = target;
            // w̃ = w·2^-t: one multiplication when 2^-t is a normal number.
            *wm = match target.map(|t| pow2_i64::<T>(-t)) {
                Some(Some(f)) => f,
                Some(None) => {
                    exact = false;
                    T::zero()
                }
                None => T::zero(),
            };
        }
        for v in rows.chunks_exact_mut(n) {
            for (x, &f) in v.iter_mut().zip(colmax.iter()) {
                *x *= f;
            }
        }
        if !exact {
            for (j, t) in self.exp.iter().enumerate() {
                if let Some(t) = *t {
                    if pow2_i64::<T>(-t).is_none() {
                        (0..k).for_each(|r| rows[r * n + j] = mul_pow2(at(r, j), -t));
                    }
                }
            }
        }
        Appending { k, mu, rows, colmax }
    }

    /// Step 2 of [`append_scaled`](Self::append_scaled) for row `r` of `w̃`:
    /// rotated into every row of `F̃` (which is multiplied by `μ` first, for
    /// `r = 0`), then appended if `F̃` has fewer than `n` rows.
    #[inline(always)]
    fn append_row(&mut self, st: &mut Appending<T>, r: usize) {
        let n = self.n;
        let Appending { mu, rows, colmax, .. } = st;
        let v = &mut rows[r * n..(r + 1) * n];
        colmax.fill(T::zero());
        for (j, row) in self.data.chunks_exact_mut(n).enumerate() {
            rotate_in(&mut row[j..], &mut v[j..], &mu[j..], &mut colmax[j..]);
        }
        self.append_row_finish(v, mu, colmax);
    }

    /// [`append_row`](Self::append_row) on two factors, row `j` of one and then
    /// of the other in each step.
    #[inline(always)]
    fn append_row_pair((f, sf): (&mut Self, &mut Appending<T>), (g, sg): (&mut Self, &mut Appending<T>), r: usize) {
        let n = f.n;
        let Appending { mu: mu_f, rows: rows_f, colmax: cm_f, .. } = sf;
        let Appending { mu: mu_g, rows: rows_g, colmax: cm_g, .. } = sg;
        let (v, x) = (&mut rows_f[r * n..(r + 1) * n], &mut rows_g[r * n..(r + 1) * n]);
        cm_f.fill(T::zero());
        cm_g.fill(T::zero());
        let mut f_rows = f.data.chunks_exact_mut(n);
        let mut g_rows = g.data.chunks_exact_mut(n);
        let mut j = 0;
        loop {
            match (f_rows.next(), g_rows.next()) {
                (Some(a), Some(b)) => {
                    rotate_in(&mut a[j..], &mut v[j..], &mu_f[j..], &mut cm_f[j..]);
                    rotate_in(&mut b[j..], &mut x[j..], &mu_g[j..], &mut cm_g[j..]);
                }
                (Some(a), None) => rotate_in(&mut a[j..], &mut v[j..], &mu_f[j..], &mut cm_f[j..]),
                (None, Some(b)) => rotate_in(&mut b[j..], &mut x[j..], &mu_g[j..], &mut cm_g[j..]),
                (None, None) => break,
            }
            j += 1;
        }
        f.append_row_finish(v, mu_f, cm_f);
        g.append_row_finish(x, mu_g, cm_g);
    }

    /// The end of [`append_row`](Self::append_row): the row `v` (rotated
    /// through every row of `F̃`) becomes a new row if `F̃` has fewer than `n`
    /// rows; `μ` is applied only once.
    #[inline(always)]
    fn append_row_finish(&mut self, v: &[T], mu: &mut [T], colmax: &mut [T]) {
        let n = self.n;
        if self.rows < n {
            for (c, x) in colmax[self.rows..].iter_mut().zip(&v[self.rows..]) {
                *c = if x.abs() > *c { x.abs() } else { *c };
            }
            self.data.extend_from_slice(v);
            self.rows += 1;
        }
        // μ is applied once, before the first row of w.
        mu.fill(T::one());
    }

    /// Step 3 of [`append_scaled`](Self::append_scaled): the new drifts, and
    /// the buffers back.
    #[inline(always)]
    fn append_end(&mut self, st: Appending<T>) {
        let Appending { mu, rows, colmax, .. } = st;
        for ((e, d), &m) in self.exp.iter_mut().zip(&mut self.drift).zip(&colmax) {
            *d = 0;
            if m == T::zero() {
                *e = None;
            } else if e.is_some() {
                *d = exp_of(m);
            }
        }
        (self.scratch, self.rows_buf, self.colmax) = (mu, rows, colmax);
    }

    /// `tri(S)·diag(2^e)` by Householder QR, for a general `k × n` stack `S`
    /// whose columns carry the exponents `exp`.
    fn from_stack(s: DMatrix<T>, exp: Vec<Option<i64>>) -> Self {
        let n = s.ncols();
        let r = s.qr().unpack_r();
        let rows = r.nrows();
        let mut data = Vec::with_capacity(rows * n);
        for j in 0..rows {
            data.extend(r.row(j).iter().copied());
        }
        let mut f = Self { n, rows, data, exp, upper: true, ..Self::scratch_for(n) };
        f.normalize();
        f
    }

    fn to_matrix(&self) -> DMatrix<T> {
        DMatrix::from_row_slice(self.rows, self.n, &self.data)
    }

    /// `F ← F·diag(a)` for `a` split by [`Diagonal::split`]: the exponent of each
    /// `a_j` moves into the column's exponent and `F̃` is multiplied by its
    /// mantissa (0 for `a_j = 0`). Keeps `F` upper-trapezoidal.
    fn scale_columns(&mut self, a: &Diagonal<T>) {
        for (e, ea) in self.exp.iter_mut().zip(&a.exp) {
            *e = match (*e, *ea) {
                (Some(e), Some(k)) => Some(e + k),
                _ => None,
            };
        }
        let n = self.n;
        for r in 0..self.rows {
            let s = self.start(r);
            for (x, &m) in self.data[r * n + s..(r + 1) * n].iter_mut().zip(&a.mantissa[s..]) {
                *x *= m;
            }
        }
    }

    /// `[F·M ; w] = [F̃·M̃ ; w̃]·diag(2^e')` for `M = A_t` (or `A_tᵀ` when
    /// `transpose`; `m_exp` are the exponents of `A_t`'s entries) and optional rows
    /// `w`: `e'_k = max(max_j (e_j + exp(M_jk)), exp(w_k))`,
    /// `M̃_jk = M_jk·2^(e_j - e'_k)` and `w̃ = w·2^-e'`, so that every term of
    /// `F̃·M̃` and every entry of `w̃` is below 1 in magnitude.
    fn times_dense(
        &self,
        m: Block<'_, T>,
        m_exp: &Exponents,
        transpose: bool,
        w: Option<Block<'_, T>>,
    ) -> (DMatrix<T>, Vec<Option<i64>>) {
        let n = self.n;
        let w = w.map(|w| w.view());
        // Column-major positions of M_jk.
        let at = |j: usize, k: usize| if transpose { j * n + k } else { k * n + j };
        let ev: Vec<i64> = self.exp.iter().map(|e| e.unwrap_or(DEAD)).collect();
        let mut exp = vec![None; n];
        for (k, ek) in exp.iter_mut().enumerate() {
            let best = (0..n).map(|j| ev[j] + m_exp.entries[at(j, k)]).max().unwrap_or(DEAD);
            *ek = (best > LIVE).then_some(best);
            if let Some(w) = w {
                let wm = w.column(k).iter().fold(T::zero(), |m, x| if x.abs() > m { x.abs() } else { m });
                if wm != T::zero() {
                    *ek = (*ek).max(Some(exp_of(wm)));
                }
            }
        }
        // M̃_jk = M_jk·2^(e_j - e'_k). Usually as (M_jk·2^(e_j - E))·2^(E - e'_k) with
        // E = max_j e_j: the first product is exact when it stays normal, the
        // second rounds once, as a single scaling would.
        let live = || self.exp.iter().flatten().copied();
        let (top, low) = (live().max().unwrap_or(0), live().min().unwrap_or(0));
        let (lo_normal, _) = crate::scalar::normal_exponents::<T>();
        let row: Option<Vec<T>> = (m_exp.min - 1 + low - top > i64::from(lo_normal) + 1)
            .then(|| {
                ev.iter().map(|&e| if e == DEAD { T::zero() } else { pow2_i64(e - top).unwrap_or(T::zero()) }).collect()
            })
            .filter(|r: &Vec<T>| r.iter().zip(&ev).all(|(&f, &e)| e == DEAD || f != T::zero()));
        let mut scaled = DMatrix::zeros(n, n);
        for (k, ek) in exp.iter().enumerate() {
            let Some(c) = *ek else { continue };
            let col = pow2_i64::<T>(top - c);
            for j in 0..n {
                let x = m.as_slice()[at(j, k)];
                scaled[(j, k)] = match (&row, col, self.exp[j]) {
                    (_, _, None) => T::zero(),
                    (Some(r), Some(f), _) => x * r[j] * f,
                    (_, _, Some(e)) => mul_pow2(x, e - c),
                };
            }
        }
        let extra = w.map_or(0, |w| w.nrows());
        let mut s = DMatrix::zeros(self.rows + extra, n);
        s.rows_mut(0, self.rows).gemm(T::one(), &self.to_matrix(), &scaled, T::zero());
        if let Some(w) = w {
            for (k, ek) in exp.iter().enumerate() {
                for r in 0..extra {
                    s[(self.rows + r, k)] = ek.map_or(T::zero(), |e| mul_pow2(w[(r, k)], -e));
                }
            }
        }
        (s, exp)
    }

    /// `tri([F·M ; w])` with `M = A_t` (or `A_tᵀ` when `transpose`); `m_exp`, the
    /// exponents of a dense `A_t`'s entries when already known.
    fn advance(
        self,
        a: &FlatTransition<T>,
        t: usize,
        transpose: bool,
        w: Block<'_, T>,
        prep: &mut Prepared<T>,
    ) -> Self {
        self.advance_with(a, t, transpose, w, false, prep)
    }

    /// [`advance`](Self::advance) with the new rows given as `wᵀ` when
    /// `w_transposed` (the forward sweep's `B_t`, read in place).
    fn advance_with(
        mut self,
        a: &FlatTransition<T>,
        t: usize,
        transpose: bool,
        w: Block<'_, T>,
        w_transposed: bool,
        prep: &mut Prepared<T>,
    ) -> Self {
        match a {
            FlatTransition::Diagonal(d) => {
                self.append_scaled(Some(d.slice(t)), w, w_transposed);
                self
            }
            FlatTransition::Dense(m) => {
                self.settle();
                let m = m.at(t);
                if !prep.constant {
                    prep.dense = entry_exponents(m);
                }
                let wt;
                let rows = if w_transposed {
                    wt = w.transpose();
                    Block::of(&wt)
                } else {
                    w
                };
                let (s, exp) = self.times_dense(m, &prep.dense, transpose, Some(rows));
                Self::from_stack(s, exp)
            }
        }
    }

    /// Makes `self` a copy of `other`, reusing its buffers (no allocation once
    /// they are large enough).
    fn copy_from(&mut self, other: &Self) {
        self.n = other.n;
        self.rows = other.rows;
        self.upper = other.upper;
        self.data.clone_from(&other.data);
        self.exp.clone_from(&other.exp);
        self.drift.clone_from(&other.drift);
        if self.scratch.len() != other.n {
            self.scratch = vec![T::zero(); other.n];
            self.shifts = vec![0; other.n];
            self.colmax = vec![T::zero(); other.n];
        }
    }

    /// [`core_scales`](Self::core_scales), then
    /// [`core_factors_into`](Self::core_factors_into): `e`, or `None` for a
    /// zero core.
    #[cfg(test)]
    fn core_factors(
        &self,
        g: &Factor<T>,
        lanes: (&mut [Lanes<T>], &mut [Lanes<T>], usize),
        shift: &mut Vec<i64>,
        scale: &mut Vec<T>,
    ) -> Option<i64> {
        let (top, fast) = self.core_scales(g, shift, scale)?;
        self.core_factors_into(g, lanes, (shift, scale, top, fast));
        Some(top)
    }

    /// The scaling of [`core_factors_into`](Self::core_factors_into): `e` (`top`), the
    /// shifts `e_j(F) + e_j(G)` (`DEAD` for a zero column) into `shift`, the
    /// scales `2^(e_j(F) + e_j(G) − e)` into `scale`, and whether every scale is
    /// a normal number (`fast`); `None` for a zero core.
    fn core_scales(&self, g: &Factor<T>, shift: &mut Vec<i64>, scale: &mut Vec<T>) -> Option<(i64, bool)> {
        let f = self;
        debug_assert!(f.rows == f.n && g.rows == f.n && f.upper && g.upper);
        let mut top = None;
        shift.clear();
        for ((a, b), (da, db)) in f.exp.iter().zip(&g.exp).zip(f.drift.iter().zip(&g.drift)) {
            let sum = match (a, b) {
                (Some(a), Some(b)) => a + b,
                _ => DEAD,
            };
            shift.push(sum);
            if sum != DEAD {
                // The drifts bound the columns of F̃ and G̃: every term ≤ 1.
                let bound = sum + da + db;
                top = Some(top.map_or(bound, |t: i64| t.max(bound)));
            }
        }
        let top = top?;
        // 2^(sum_j - top), 0 where either factor's column is zero; `fast` while
        // every one is a normal number.
        let mut fast = true;
        scale.clear();
        for &sum in shift.iter() {
            scale.push(if sum == DEAD {
                T::zero()
            } else if let Some(f) = pow2_i64::<T>(sum - top) {
                f
            } else {
                fast = false;
                T::zero()
            });
        }
        Some((top, fast))
    }

    /// The factors of the core `F·Gᵀ = core·2^e` of two square (`n × n`,
    /// upper-triangular) factors, into lane `lane` of the row-major `fl` and
    /// `gl` ([`super::lanes::triangular_product`] forms the core): `F̃` and
    /// `G̃·diag(2^(e_j(F) + e_j(G) - e))` (zero where either column is zero),
    /// their upper triangles, with the largest
    /// `e_j(F) + e_j(G) + drift_j(F) + drift_j(G)` factored out as `e` (every
    /// term of the core at most 1), as [`core_scales`](Self::core_scales)
    /// found it. So entry `(a, b)` of the core is
    /// `Σ_{j ≥ max(a, b)} F̃[a, j]·2^(e_j(F) + e_j(G) - e)·G̃[b, j]`.
    fn core_factors_into(
        &self,
        g: &Factor<T>,
        (fl, gl, lane): (&mut [Lanes<T>], &mut [Lanes<T>], usize),
        (shift, scale, top, fast): (&[i64], &[T], i64, bool),
    ) {
        let (f, n) = (self, self.n);
        debug_assert!(f.rows == n && g.rows == n && f.upper && g.upper);
        for (r, (frow, grow)) in f.data.chunks_exact(n).zip(g.data.chunks_exact(n)).enumerate() {
            let (fd, gd) = (&mut fl[r * n + r..(r + 1) * n], &mut gl[r * n + r..(r + 1) * n]);
            for (x, &y) in fd.iter_mut().zip(&frow[r..]) {
                x.0[lane] = y;
            }
            if fast {
                for ((x, &y), &f) in gd.iter_mut().zip(&grow[r..]).zip(&scale[r..]) {
                    x.0[lane] = y * f;
                }
            } else {
                for ((x, &y), &sum) in gd.iter_mut().zip(&grow[r..]).zip(&shift[r..]) {
                    x.0[lane] = if sum == DEAD { T::zero() } else { mul_pow2(y, sum - top) };
                }
            }
        }
    }

    /// [`core_factors_into`](Self::core_factors_into) for four cores at once,
    /// all with normal scales: lane `l` gets `f[l]` and `g[l]·diag(scale[l])`,
    /// each entry written by one vector store (the same values as lane by lane).
    fn core_factors_four(
        f: [&Factor<T>; WIDTH],
        g: [&Factor<T>; WIDTH],
        scale: [&[T]; WIDTH],
        (fl, gl): (&mut [Lanes<T>], &mut [Lanes<T>]),
    ) {
        let n = f[0].n;
        for r in 0..n {
            let (from, to, len) = (r * n + r, (r + 1) * n, n - r);
            let fr = f.map(|f| &f.data[from..to]);
            let gr = g.map(|g| &g.data[from..to]);
            let sr = scale.map(|s| &s[r..n]);
            let (fd, gd) = (&mut fl[from..to], &mut gl[from..to]);
            for t in 0..len {
                fd[t] = Lanes([fr[0][t], fr[1][t], fr[2][t], fr[3][t]]);
                gd[t] = Lanes([gr[0][t] * sr[0][t], gr[1][t] * sr[1][t], gr[2][t] * sr[2][t], gr[3][t] * sr[3][t]]);
            }
        }
    }

    /// The core `F·Gᵀ = core·2^e` of two factors, formed with the largest
    /// `e_j(F) + e_j(G) + drift_j(F) + drift_j(G)` factored out (so every term
    /// is below 1); `e = 0` and a
    /// zero core when no column is nonzero in both.
    fn core(&self, g: &Factor<T>) -> (DMatrix<T>, i64) {
        let sum: Vec<Option<i64>> = self.exp.iter().zip(&g.exp).map(|(a, b)| Some((*a)? + (*b)?)).collect();
        let bound = sum.iter().zip(self.drift.iter().zip(&g.drift)).filter_map(|(s, (da, db))| Some((*s)? + da + db));
        let Some(top) = bound.max() else {
            return (DMatrix::zeros(self.rows, g.rows), 0);
        };
        // Columns zero in either factor contribute nothing whatever the shift.
        let shift: Vec<i64> = sum.iter().map(|s| s.map_or(0, |s| s - top)).collect();
        let mut gs = g.data.clone();
        shift_columns(&mut gs, g.n, &shift);
        let core = DMatrix::from_fn(self.rows, g.rows, |a, b| {
            self.row(a).iter().zip(&gs[b * g.n..(b + 1) * g.n]).fold(T::zero(), |acc, (&x, &y)| acc + x * y)
        });
        (core, top)
    }
}

/// An [`Factor::append_scaled`] in progress: the number of new rows `k`, the
/// column multipliers `μ`, the aligned rows `w̃` (row-major) and the running
/// column maxima.
struct Appending<T> {
    k: usize,
    mu: Vec<T>,
    rows: Vec<T>,
    colmax: Vec<T>,
}

impl<T: Scalar> Factor<T> {
    /// Any `rows × n` matrix as a (not necessarily triangular) scaled factor.
    fn from_matrix(m: &DMatrix<T>) -> Self {
        let mut f = Self::from_matrix_scaled(m, vec![Some(0); m.ncols()]);
        f.normalize();
        f
    }

    /// `m·diag(2^exp)` as a (not triangular, not yet normalised) factor.
    fn from_matrix_scaled(m: &DMatrix<T>, exp: Vec<Option<i64>>) -> Self {
        let (rows, n) = m.shape();
        let mut data = Vec::with_capacity(rows * n);
        for r in 0..rows {
            data.extend(m.row(r).iter().copied());
        }
        Self { n, rows, data, exp, upper: false, ..Self::scratch_for(n) }
    }
}

/// The Markov parameters `C·A^j·B` (`p × m`) for `j = 0..len` of a constant
/// `(A, B, C)`, immune to the scale of the individual states: `x_j = A^j·B` is
/// kept with one power-of-two exponent per state (as the Gramian factors are), so
/// that a subnormal or huge `B`, a huge or tiny `C`, and states whose scales
/// differ by more than the type's range (a diagonal similarity
/// `b = (1e-300, 1e300)`, `c = (1e300, 1e-300)`) lose nothing that `T` itself can
/// represent. Entries of `T` that overflow come out as `±∞` (the dense path's
/// validation reports them).
pub(crate) fn markov_parameters<T: Scalar>(
    a: &Transition<T>,
    b: &DMatrix<T>,
    c: &DMatrix<T>,
    len: usize,
) -> Vec<DMatrix<T>> {
    // xᵀ (m × N) with one exponent per state; A·x is xᵀ·Aᵀ.
    let a = FlatTransition::from_transition(a);
    let prep = Prepared::new(&a);
    let mut xt = Factor::from_matrix(&b.transpose());
    let cf = Factor::from_matrix(c);
    let mut out = Vec::with_capacity(len);
    for j in 0..len {
        if j > 0 {
            xt = match &a {
                FlatTransition::Diagonal(_) => {
                    xt.scale_columns(&prep.diagonal);
                    xt
                }
                FlatTransition::Dense(m) => {
                    let (p, exp) = xt.times_dense(m.at(0), &prep.dense, true, None);
                    Factor::from_matrix_scaled(&p, exp)
                }
            };
            xt.normalize();
        }
        // (C·x)ᵀ = xᵀ·Cᵀ, with the largest term's exponent factored out.
        let (core, e) = xt.core(&cf);
        out.push(core.transpose().map(|v| mul_pow2(v, e)));
    }
    out
}

/// The spectrum of `H_i` (of shape `shape`) from its core `core·2^e`, in the
/// floating-point range of `T`:
/// * an error when `σ_1 ≥ 2^(hi+1)·√(rows·cols)` (the largest power of two of `T`
///   is `2^hi`): then some entry of `H_i` is at least `2^(hi+1)`, beyond the
///   type's range, so `T` itself is not finite and the dense path would refuse
///   it too (at exactly the threshold as well: a `1 × 1` block of `2^(hi+1)`);
/// * a zero spectrum when `σ_1 ≤ 2^(lo-1)` (half the smallest subnormal): every
///   entry of `H_i` rounds to zero, as in the dense `T` (an entry of exactly
///   `2^(lo-1)` too: it is a tie, and rounds to the even zero).
///
/// In between, the values are exact to working precision whatever the scale of
/// the factors (a `σ_k` above the type's range reads as `∞` in
/// [`Spectrum::values`], the measures use the scaled values).
fn core_spectrum<T: Scalar>(
    backend: &dyn SvdBackend,
    core: DMatrix<T>,
    e: i64,
    i: usize,
    shape: (usize, usize),
) -> Result<Spectrum<T>> {
    crate::validate::check_matrix_finite(&core_what(i), &core)?;
    let s = spectrum_of(backend, core, shape)?;
    range_checked(backend, s, e, i, shape)
}

fn core_what(i: usize) -> String {
    format!("core Fo_i·Gr_iᵀ of the structured path at index i = {i}")
}

/// The spectrum `s` of the scaled core, multiplied by `2^e` and brought back to
/// the type's range as [`core_spectrum`] describes.
fn range_checked<T: Scalar>(
    backend: &dyn SvdBackend,
    s: Spectrum<T>,
    e: i64,
    i: usize,
    shape: (usize, usize),
) -> Result<Spectrum<T>> {
    let Some(&s1) = s.scaled().first().filter(|&&x| x > T::zero()) else { return Ok(s) };
    let log2_sigma1 = s1.to_f64().log2() + (e + i64::from(s.exponent())) as f64;
    let (lo, hi) = crate::scalar::exponent_range::<T>();
    let log2_entries = 0.5 * ((shape.0 as f64).log2() + (shape.1 as f64).log2());
    if log2_sigma1 >= f64::from(hi + 1) + log2_entries {
        return Err(EssError::NonFinite {
            what: format!(
                "{} (σ_1(H_{i}) ≈ 2^{log2_sigma1:.0} ≥ 2^{} · √(rows·cols): entries of T overflow {})",
                core_what(i),
                hi + 1,
                T::NAME
            ),
            position: "(σ_1)".into(),
            value: f64::INFINITY,
        });
    }
    if log2_sigma1 <= f64::from(lo - 1) {
        let k = s.scaled().len();
        return spectrum_of(backend, DMatrix::zeros(k, k), shape);
    }
    Ok(s.shifted(i32::try_from(e).expect("within the type's exponent range, so far inside i32")))
}

/// The transition the sweeps use: a dense `A_t` whose off-diagonal entries are
/// all exactly zero (at every step) is handed over as its diagonal, so that it
/// takes the Givens route (`O(N²)` per step instead of a dense product and
/// Householder QR). `None` when `a` is used as it is. One `O(L·N²)` scan that
/// stops at the first nonzero off-diagonal entry.
pub(crate) fn diagonal_view<T: Scalar>(a: &FlatTransition<T>) -> Option<FlatTransition<T>> {
    let FlatTransition::Dense(steps) = a else { return None };
    let n = steps.at(0).nrows();
    let stored = steps.stored();
    if !(0..stored).all(|t| crate::realization::off_diagonal_zero(steps.slice(t), n)) {
        return None;
    }
    let diagonal = |t: usize, out: &mut [T]| {
        out.iter_mut().zip(steps.slice(t).iter().step_by(n + 1)).for_each(|(d, &x)| *d = x);
    };
    Some(FlatTransition::Diagonal(if steps.is_constant() {
        let mut d = DMatrix::zeros(n, 1);
        diagonal(0, d.as_mut_slice());
        StepMatrices::constant(&d)
    } else {
        StepMatrices::from_fn(stored, n, 1, diagonal)
    }))
}

/// How many requested indices share one checkpoint: `⌈√count⌉` (see
/// [`walk`]).
pub(crate) fn group_size(count: usize) -> usize {
    // ⌈√count⌉ in integers: ⌊√count⌋, plus one unless count is a square.
    let k = count.isqrt();
    if k * k < count {
        k + 1
    } else {
        k.max(1)
    }
}

/// One group of requested indices with their factors: `fo[j]` and `gr[j]` are
/// `Fo_i` and `Gr_i` for `i = indices[j]`.
struct Group<'a, T: Scalar> {
    indices: &'a [usize],
    fo: &'a [Factor<T>],
    gr: &'a [Factor<T>],
}

/// Walks the requested `indices` (ascending, unique, in `1..L`) in groups of
/// `group` consecutive ones and calls `visit` with each group's factors, in
/// ascending order, storing `O(L/group + group)` factors instead of one per
/// index (checkpointing; see [`Walker`]).
fn walk<T, V>(real: &Realization<T>, indices: &[usize], group: usize, mut visit: V) -> Result<()>
where
    T: Scalar,
    V: FnMut(Group<'_, T>) -> Result<()>,
{
    let mut walker = Walker::new(real, indices, group, false);
    let (mut fo, mut gr) = (Vec::new(), Vec::new());
    let (groups, mut visited) = (walker.groups.len(), 0);
    while let Some((_, idx)) = walker.fill(&mut fo, &mut gr) {
        visited += 1;
        debug_assert!(visited <= groups, "the walk visited more than its {groups} groups");
        let k = idx.len();
        visit(Group { indices: idx, fo: &fo[..k], gr: &gr[..k] })?;
    }
    Ok(())
}

/// The factors of the requested indices, group by group, with `O(L/K + K)`
/// factors alive (checkpointing).
///
/// The groups are split into a lower and an upper part (the lower one empty
/// unless `two_ended`):
///
/// 1. two sweeps, run in parallel: the backward recursion from `Fo_{L-1}` down
///    to the top of the lower part, keeping `Fo` at the largest index of each
///    upper group, and the forward recursion from `Gr_1` up to the bottom of the
///    upper part, keeping `Gr` at the smallest index of each lower group (the
///    checkpoints);
/// 2. the upper groups in ascending order: per group the backward recursion
///    again from its checkpoint down to its smallest index, keeping `Fo` at the
///    group's indices, and the forward recursion continued up to its largest
///    index, keeping `Gr` there;
/// 3. the lower groups in descending order, the same with the roles swapped:
///    the forward recursion again from the group's checkpoint, the backward one
///    continued from the first sweep.
///
/// Each recursion runs once over its half in step 1 and once more in steps 2
/// and 3, as one sweep from end to end and a second one in groups would; but
/// no sweep over the whole sequence precedes the first group, so the sweeps of
/// step 1 take half the time on two threads. A recursion from a checkpoint
/// repeats exactly the operations of the first sweep on exactly the same
/// factor, so every factor, and hence every result, is bitwise identical to
/// storing all of them, whatever the split and the group size.
struct Walker<'a, T: Scalar> {
    real: &'a Realization<T>,
    /// [`diagonal_view`] of the transition, when it applies (shared by the two
    /// halves of a [`Walker::split`]).
    view: std::sync::Arc<Option<FlatTransition<T>>>,
    prep: Prepared<T>,
    groups: Vec<&'a [usize]>,
    /// The groups below this one are the lower part.
    lower: usize,
    /// The order of the visits: the upper groups ascending, then the lower ones
    /// descending; `next` is the position in it.
    order: Vec<usize>,
    next: usize,
    /// `Fo` at the largest index of each upper group and `Gr` at the smallest
    /// index of each lower group, until the group is visited.
    checkpoints: Vec<Option<Factor<T>>>,
    /// The continued recursions: `Fo_{f_at}` (lower part) and `Gr_{g_at}`
    /// (upper part).
    f: Factor<T>,
    f_at: usize,
    g: Factor<T>,
    g_at: usize,
}

impl<'a, T: Scalar> Walker<'a, T> {
    /// Step 1 of the walk (see [`Walker`]): the two sweeps that keep the
    /// checkpoints.
    fn new(real: &'a Realization<T>, indices: &'a [usize], group: usize, two_ended: bool) -> Self {
        let (len, n) = (real.len(), real.state_size());
        let view = std::sync::Arc::new(diagonal_view(real.flat_transition()));
        let prep = Prepared::new(view.as_ref().as_ref().unwrap_or(real.flat_transition()));
        let groups: Vec<&[usize]> = indices.chunks(group.max(1)).collect();
        let lower = if two_ended { groups.len() / 2 } else { 0 };
        let order = (lower..groups.len()).chain((0..lower).rev()).collect();
        let mut walker = Self {
            real,
            view,
            prep,
            lower,
            order,
            next: 0,
            checkpoints: vec![None; groups.len()],
            f: Factor::empty(n),
            f_at: len - 1,
            g: Factor::empty(n),
            g_at: 1,
            groups,
        };
        if walker.groups.is_empty() {
            return walker;
        }
        let Self { real, view, prep, groups, checkpoints, .. } = &mut walker;
        let a = view.as_ref().as_ref().unwrap_or(real.flat_transition());
        let (lower_cps, upper_cps) = checkpoints.split_at_mut(lower);
        // The backward sweep stops at the top of the lower part (or of the first
        // upper group), the forward one at the bottom of the upper part.
        let f_end = *groups[lower.saturating_sub(1)].last().expect("non-empty group");
        let g_end = groups[lower][0];
        let (mut prep_f, mut prep_g) = (prep.clone(), prep.clone());
        let (f, g) = crate::parallel::join(
            || {
                let mut f = Factor::empty(n);
                f.append_rows(real.c_block(len - 1));
                let mut slot = upper_cps.len();
                for i in (f_end..len).rev() {
                    if i < len - 1 {
                        f = f.advance(a, i, false, real.c_block(i), &mut prep_f);
                    }
                    if slot > 0 && *groups[lower + slot - 1].last().expect("non-empty group") == i {
                        slot -= 1;
                        upper_cps[slot] = Some(f.clone());
                    }
                }
                f
            },
            || {
                let mut g = Factor::empty(n);
                g.append(real.b_block(0), true);
                let mut slot = 0;
                for t in 1..=g_end {
                    if t > 1 {
                        g = g.advance_with(a, t - 1, true, real.b_block(t - 1), true, &mut prep_g);
                    }
                    if slot < lower_cps.len() && groups[slot][0] == t {
                        lower_cps[slot] = Some(g.clone());
                        slot += 1;
                    }
                }
                g
            },
        );
        (walker.f, walker.f_at, walker.g, walker.g_at) = (f, f_end, g, g_end);
        walker
    }

    /// Steps 2 and 3 as two independent walkers, to be run at the same time:
    /// the upper groups (ascending, continuing `Gr` from the first forward
    /// sweep) and the lower groups (descending, continuing `Fo` from the first
    /// backward sweep). Each one holds only its own part's checkpoints and
    /// continued recursion, so they share nothing but the realization; every
    /// factor is the one the single walker would produce.
    fn split(mut self) -> (Self, Self) {
        let mut lower_cps = vec![None; self.groups.len()];
        for (to, from) in lower_cps.iter_mut().zip(&mut self.checkpoints[..self.lower]) {
            *to = from.take();
        }
        let (f, f_at) = (std::mem::replace(&mut self.f, Factor::empty(0)), self.f_at);
        let lower = Self {
            real: self.real,
            view: self.view.clone(),
            prep: self.prep.clone(),
            groups: self.groups.clone(),
            lower: self.lower,
            order: (0..self.lower).rev().collect(),
            next: 0,
            checkpoints: lower_cps,
            f,
            f_at,
            g: Factor::empty(0),
            g_at: self.g_at,
        };
        self.order = (self.lower..self.groups.len()).collect();
        self.next = 0;
        (self, lower)
    }

    /// Steps 2 and 3 of the walk for the next group: its position among the
    /// groups and its indices, with `fo[j]`, `gr[j]` set to `Fo_i`, `Gr_i` for
    /// `i = indices[j]` (the vectors grow as needed and keep their buffers);
    /// `None` after the last group.
    fn fill(&mut self, fo: &mut Vec<Factor<T>>, gr: &mut Vec<Factor<T>>) -> Option<(usize, &'a [usize])> {
        let number = *self.order.get(self.next)?;
        let idx = self.groups[number];
        let Self { real, view, prep, checkpoints, .. } = self;
        let a = view.as_ref().as_ref().unwrap_or(real.flat_transition());
        let (k, n) = (idx.len(), real.state_size());
        for slots in [&mut *fo, &mut *gr] {
            while slots.len() < k {
                slots.push(Factor::empty(n));
            }
        }
        let checkpoint = checkpoints[number].take().expect("filled by the first sweeps");
        let upper = number >= self.lower;
        // One recursion restarts from the checkpoint, the other one continues.
        let (mut f, mut f_at, mut g, mut g_at) = if upper {
            (checkpoint, idx[k - 1], std::mem::replace(&mut self.g, Factor::empty(0)), self.g_at)
        } else {
            (std::mem::replace(&mut self.f, Factor::empty(0)), self.f_at, checkpoint, idx[0])
        };
        // The backward recursion (`Fo_i` down to idx[0]) and the forward one (`Gr`
        // up to idx[k-1]) are independent: with a diagonal transition their
        // Givens updates run interleaved ([`Factor::append_scaled_pair`]),
        // bitwise as one after the other.
        let (mut pending, mut j) = (k, 0);
        // Every pass of the loop but the last advances at least one recursion
        // towards its end, so it ends within this many passes (checked in debug
        // builds: a broken walk fails instead of running forever).
        let passes = (f_at - idx[0]) + (idx[k - 1] - g_at) + 1;
        let mut pass = 0;
        loop {
            pass += 1;
            debug_assert!(pass <= passes, "the walk of a group overran its {passes} passes");
            while pending > 0 && idx[pending - 1] == f_at {
                pending -= 1;
                fo[pending].copy_from(&f);
            }
            while j < k && idx[j] == g_at {
                gr[j].copy_from(&g);
                j += 1;
            }
            let (mut back, mut forward) = (pending > 0, j < k);
            match (back, forward, a) {
                (true, true, FlatTransition::Diagonal(d)) => {
                    let (i, t) = (f_at - 1, g_at);
                    Factor::append_scaled_pair(
                        (&mut f, Some(d.slice(i)), real.c_block(i), false),
                        (&mut g, Some(d.slice(t)), real.b_block(t), true),
                    );
                }
                (true, _, _) => {
                    f = f.advance(a, f_at - 1, false, real.c_block(f_at - 1), prep);
                    forward = false;
                }
                (false, true, _) => {
                    g = g.advance_with(a, g_at, true, real.b_block(g_at), true, prep);
                    back = false;
                }
                (false, false, _) => break,
            }
            if back {
                f_at -= 1;
            }
            if forward {
                g_at += 1;
            }
        }
        debug_assert!(pending == 0 && j == k, "the walk of a group left factors unset");
        if upper {
            (self.g, self.g_at) = (g, g_at);
        } else {
            (self.f, self.f_at) = (f, f_at);
        }
        self.next += 1;
        Some((number, idx))
    }
}

/// How many chunks per worker the cores of one group are cut into.
const CHUNKS_PER_WORKER: usize = 4;

/// How many cores the structured path hands to the small SVD at once (one per
/// vector lane of its bidiagonalization,
/// [`super::small_svd::singular_values_of_lanes`]).
const GROUP: usize = 4;

/// Reusable buffers of one core for [`index_spectra_group`] (the first core's
/// also serve the group's core products and bidiagonalization).
struct CoreWork<T> {
    shift: Vec<i64>,
    scale: Vec<T>,
    values: Vec<T>,
    svd: super::small_svd::Workspace<T>,
    lanes: LaneWorkspace<T>,
}

impl<T: Scalar> CoreWork<T> {
    fn new() -> Self {
        Self {
            shift: Vec::new(),
            scale: Vec::new(),
            values: Vec::new(),
            svd: super::small_svd::Workspace::default(),
            lanes: LaneWorkspace::default(),
        }
    }
}

/// One index's factors `Fo_i`, `Gr_i`, the index `i` and the shape of `H_i`.
type CoreInput<'a, T> = (&'a Factor<T>, &'a Factor<T>, usize, (usize, usize));

/// The spectra of `H_i` for `K ≤ 4` indices from their `Fo_i`, `Gr_i`, each
/// handed to `emit`, which gives back a vector for the next values.
///
/// For square factors and a backend that allows it
/// ([`SvdBackend::allows_builtin_core_kernel`]), the core's factors go into
/// their own lane of one [`LaneWorkspace`] ([`Factor::core_factors_into`], or
/// [`Factor::core_factors_four`] for four cores at once) and one
/// triangular product forms all the cores
/// ([`super::lanes::triangular_product`]); one pass over the lanes finds each core's largest entry
/// (and any non-finite one), a second scales each core's largest entry into
/// `[0.5, 1)` by an exact power of two ([`scale_lanes`]), and the built-in
/// kernel ([`super::small_svd::singular_values_of_lanes`]) takes all of them at
/// once. Other cores take the general route ([`Factor::core`] and the
/// backend), as do the kernel's cores in the rare event that it fails. Every
/// core gets bitwise the spectrum it gets alone.
fn index_spectra_group<T: Scalar, const K: usize>(
    backend: &dyn SvdBackend,
    cores: [CoreInput<'_, T>; K],
    mut work: [&mut CoreWork<T>; K],
    emit: &mut impl FnMut(Spectrum<T>) -> Vec<T>,
) -> Result<()> {
    const { assert!(K >= 1 && K <= WIDTH, "one to four cores") };
    let n = cores[0].0.n;
    let mut lanes = std::mem::take(&mut work[0].lanes);
    let mut state: [Option<Core<T>>; K] = std::array::from_fn(|_| None);
    {
        let mut scaled = [None; K];
        for (((fo, gr, i, shape), slot), (w, sc)) in
            cores.iter().zip(state.iter_mut()).zip(work.iter_mut().zip(scaled.iter_mut()))
        {
            debug_assert_eq!(fo.n, n);
            *slot = Some(if fo.rows == n && gr.rows == n && backend.allows_builtin_core_kernel() {
                *sc = fo.core_scales(gr, &mut w.shift, &mut w.scale);
                match *sc {
                    Some((e, _)) => Core::Lane { e },
                    None => Core::Done(Ok(zero_spectrum(n, *shape))),
                }
            } else {
                let (core, e) = fo.core(gr);
                Core::Done(core_spectrum(backend, core, e, *i, *shape))
            });
        }
        let (fl, gl) = lanes.factors(n);
        match (&cores[..], &work[..]) {
            ([a, b, c, d], [wa, wb, wc, wd]) if scaled.iter().all(|s| matches!(s, Some((_, true)))) => {
                let scale = [&wa.scale[..], &wb.scale[..], &wc.scale[..], &wd.scale[..]];
                Factor::core_factors_four([a.0, b.0, c.0, d.0], [a.1, b.1, c.1, d.1], scale, (fl, gl));
            }
            _ => {
                for (lane, ((fo, gr, ..), (w, sc))) in cores.iter().zip(work.iter().zip(&scaled)).enumerate() {
                    if let Some((top, fast)) = *sc {
                        fo.core_factors_into(gr, (&mut *fl, &mut *gl, lane), (&w.shift, &w.scale, top, fast));
                    }
                }
            }
        }
    }
    // The lanes without a core hold leftovers (possibly non-finite after an
    // earlier error), never used: `scale_lanes` replaces them before the kernel.
    let mut ready = false;
    if state.iter().any(|c| matches!(c, Some(Core::Lane { .. }))) {
        super::lanes::triangular_product(n, &mut lanes);
        ready = scale_lanes(backend, &cores, &mut state, &mut lanes);
    }
    let svd = if ready {
        super::small_svd::singular_values_of_lanes(
            n,
            &mut lanes,
            work.each_mut().map(|w| (&mut w.svd, &mut w.values)),
            core_sweeps(n),
        )
        .map(Some)
    } else {
        std::array::from_fn(|_| None)
    };
    work[0].lanes = lanes;
    // In index order: the first error is the one a core at a time would give.
    for ((((fo, gr, i, shape), w), core), svd) in cores.into_iter().zip(work.iter_mut()).zip(state).zip(svd) {
        let spectrum = match (core, svd) {
            (Some(Core::Ready { exponent, e }), Some(svd)) => {
                finish_core(backend, (fo, gr), i, shape, w, svd, (exponent, e))?
            }
            (Some(Core::Done(s)), _) => s?,
            _ => unreachable!("every core is done or was reduced"),
        };
        w.values = emit(spectrum);
    }
    Ok(())
}

/// The exactly zero spectrum of an `H_i` of shape `shape` (`n` values).
fn zero_spectrum<T: Scalar>(n: usize, shape: (usize, usize)) -> Spectrum<T> {
    Spectrum { scaled: vec![T::zero(); n], exponent: 0, rows: shape.0, cols: shape.1, radius: None }
}

/// After the core products of [`index_spectra_group`]: each core in a lane
/// (`Core::Lane`) becomes `Core::Ready`, scaled so that its largest entry lies
/// in `[0.5, 1)` (as [`spectrum_of`] does), or `Core::Done` when it is zero or
/// non-finite (then reported by the general route; not reachable from a
/// validated realization). Every other lane gets a copy of a ready core, so the
/// kernel only ever sees finite data. Returns whether any core is ready.
fn scale_lanes<T: Scalar, const K: usize>(
    backend: &dyn SvdBackend,
    cores: &[CoreInput<'_, T>; K],
    state: &mut [Option<Core<T>>; K],
    lanes: &mut LaneWorkspace<T>,
) -> bool {
    let n = cores[0].0.n;
    let x = lanes.matrices_filled(n);
    let (max, nan) = super::lanes::max_and_finiteness(x);
    let mut factor = Lanes::splat(T::one());
    let mut slow = [None; WIDTH];
    let mut ready = [false; WIDTH];
    for (lane, ((fo, gr, i, shape), slot)) in cores.iter().zip(state.iter_mut()).enumerate() {
        let Some(Core::Lane { e }) = *slot else { continue };
        *slot = Some(if !nan.0[lane].is_finite_value() {
            let (core, e) = fo.core(gr);
            Core::Done(core_spectrum(backend, core, e, *i, *shape))
        } else if max.0[lane] == T::zero() {
            Core::Done(Ok(zero_spectrum(n, *shape)))
        } else {
            // As `spectrum_of`: the largest entry into [0.5, 1) by an exact
            // power of two.
            let k = exponent_of(max.0[lane].to_f64());
            match pow2::<T>(-k) {
                Some(f) => factor.0[lane] = f,
                None => slow[lane] = Some(k),
            }
            ready[lane] = true;
            Core::Ready { exponent: k, e }
        });
    }
    let Some(source) = ready.iter().position(|&r| r) else { return false };
    super::lanes::scale(x, factor);
    // Rare: a scale beyond the normal range (ldexp entry by entry), or a lane
    // with nothing to reduce.
    for (l, k) in slow.iter().enumerate() {
        if let Some(k) = *k {
            x.iter_mut().for_each(|v| v.0[l] = ldexp(v.0[l], -k));
        }
    }
    for (l, &r) in ready.iter().enumerate() {
        if !r {
            x.iter_mut().for_each(|v| v.0[l] = v.0[source]);
        }
    }
    true
}

/// The QR sweep limit of the built-in core kernel for order `n`.
fn core_sweeps(n: usize) -> usize {
    100 + 30 * n * n
}

/// A core of [`index_spectra_group`] on its way to its spectrum.
enum Core<T: Scalar> {
    /// Its spectrum (or error) is known without the kernel (zero core, general
    /// path).
    Done(Result<Spectrum<T>>),
    /// Its product is in its lane, `Fo_i·Gr_iᵀ = core·2^e`.
    Lane { e: i64 },
    /// Its lane holds the core times `2^-exponent` (largest entry in
    /// `[0.5, 1)`); `Fo_i·Gr_iᵀ = core·2^e`.
    Ready { exponent: i32, e: i64 },
}

/// The spectrum of a core from the kernel's values in `work.values` (`svd` its
/// outcome: on failure, the general backend decides, with its own error if it
/// fails too — not seen in practice).
fn finish_core<T: Scalar>(
    backend: &dyn SvdBackend,
    (fo, gr): (&Factor<T>, &Factor<T>),
    i: usize,
    shape: (usize, usize),
    work: &mut CoreWork<T>,
    svd: Result<()>,
    (exponent, e): (i32, i64),
) -> Result<Spectrum<T>> {
    if svd.is_err() {
        let (core, e) = fo.core(gr);
        return core_spectrum(backend, core, e, i, shape);
    }
    let mut scaled = std::mem::take(&mut work.values);
    scaled.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let s = Spectrum { scaled, exponent, rows: shape.0, cols: shape.1, radius: None };
    range_checked(backend, s, e, i, shape)
}

/// Spectra of `H_i` for each `i` in `indices` (validated, ascending, unique), each
/// reduced by `reduce`, with checkpoints every [`group_size`] indices (memory
/// `O(√count·N²)` besides the realization). The factor recursions are
/// sequential within each of the walk's two chains (upper and lower groups),
/// which run in parallel; the small SVDs of a group's cores run in parallel
/// chunks.
pub(crate) fn sweep<T, R, F>(
    real: &Realization<T>,
    indices: &[usize],
    backend: &dyn SvdBackend,
    reduce: &F,
) -> Result<Vec<R>>
where
    T: Scalar,
    R: Send,
    F: Fn(&Spectrum<T>) -> R + Sync + Send,
{
    sweep_grouped(real, indices, backend, reduce, group_size(indices.len()))
}

/// [`sweep`] with `group` indices per checkpoint (`group ≥ count`: a single
/// group, every factor stored).
pub(crate) fn sweep_grouped<T, R, F>(
    real: &Realization<T>,
    indices: &[usize],
    backend: &dyn SvdBackend,
    reduce: &F,
    group: usize,
) -> Result<Vec<R>>
where
    T: Scalar,
    R: Send,
    F: Fn(&Spectrum<T>) -> R + Sync + Send,
{
    let (len, p, m, n) = (real.len(), real.outputs(), real.inputs(), real.state_size());
    let hankel_shape = |i: usize| (p * (len - i), m * i);
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    if n == 0 {
        return indices
            .iter()
            .map(|&i| Ok(reduce(&spectrum_of(backend, DMatrix::zeros(0, 0), hankel_shape(i))?)))
            .collect();
    }
    let mut out = Vec::with_capacity(indices.len());
    let workers = crate::parallel::threads().max(1);
    // The cores of one group, in contiguous chunks, results in index order.
    // With several workers, finer chunks than one per worker, so that a worker
    // whose own chain is busy with factors, or done, can take a share. The chunks'
    // workspaces are kept for the next chunks (no allocation per chunk).
    let workspaces = std::sync::Mutex::new(Vec::new());
    let cores = |idx: &[usize], fo: &[Factor<T>], gr: &[Factor<T>]| -> Result<Vec<R>> {
        // Whole groups of cores per chunk (a chunk's last group may be short).
        let chunk = if workers == 1 { idx.len() } else { idx.len().div_ceil(CHUNKS_PER_WORKER * workers) }
            .max(1)
            .next_multiple_of(GROUP);
        let starts: Vec<usize> = (0..idx.len()).step_by(chunk).collect();
        let parts = crate::parallel::try_map(&starts, |&s| {
            let kept = workspaces.lock().ok().and_then(|mut w| w.pop());
            let mut work: [CoreWork<T>; GROUP] = kept.unwrap_or_else(|| std::array::from_fn(|_| CoreWork::new()));
            let end = (s + chunk).min(idx.len());
            let mut out = Vec::with_capacity(end - s);
            let mut emit = |spectrum: Spectrum<T>| {
                out.push(reduce(&spectrum));
                // The values' vector serves the next group (no allocation).
                spectrum.scaled
            };
            let core = |j: usize| (&fo[j], &gr[j], idx[j], hankel_shape(idx[j]));
            // Four indices at a time (their small SVDs share one reduction; the
            // values are bitwise those of one at a time, so the grouping may
            // depend on the chunks), then the one to three left over.
            let mut j = s;
            while j + GROUP <= end {
                index_spectra_group(backend, std::array::from_fn(|t| core(j + t)), work.each_mut(), &mut emit)?;
                j += GROUP;
            }
            let [w0, w1, w2, _] = &mut work;
            match end - j {
                3 => index_spectra_group(backend, [core(j), core(j + 1), core(j + 2)], [w0, w1, w2], &mut emit)?,
                2 => index_spectra_group(backend, [core(j), core(j + 1)], [w0, w1], &mut emit)?,
                1 => index_spectra_group(backend, [core(j)], [w0], &mut emit)?,
                _ => {}
            }
            if let Ok(mut w) = workspaces.lock() {
                w.push(work);
            }
            Ok::<_, crate::error::EssError>(out)
        })?;
        Ok(parts.into_iter().flatten().collect())
    };
    // The upper and the lower groups are two independent chains (see
    // [`Walker::split`]), run at the same time: with two workers each has its
    // own, and each thread computes the cores of the factors it has just made
    // (no factors cross between cores, no barrier between the chains); the
    // cores of a group are cut into chunks, so an idle worker takes a share.
    // Every result is computed from the same factors whatever the thread count.
    let chain = |mut walker: Walker<'_, T>| -> Result<Vec<(usize, Vec<R>)>> {
        let (mut fo, mut gr) = (Vec::new(), Vec::new());
        let mut done = Vec::new();
        let (groups, mut visited) = (walker.order.len(), 0);
        while let Some((number, idx)) = walker.fill(&mut fo, &mut gr) {
            visited += 1;
            debug_assert!(visited <= groups, "the walk visited more than its {groups} groups");
            let k = idx.len();
            done.push((number, cores(idx, &fo[..k], &gr[..k])?));
        }
        Ok(done)
    };
    // The joins run on a pool worker: called from outside the pool, each
    // would hand over to a worker and back.
    crate::parallel::in_pool(|| {
        let (upper, lower) = Walker::new(real, indices, group, true).split();
        let (up, low) = crate::parallel::join(|| chain(upper), || chain(lower));
        // The lower groups come back in descending order.
        let mut low = low?;
        low.reverse();
        for (_, values) in low.into_iter().chain(up?) {
            out.extend(values);
        }
        Ok(out)
    })
}

/// One cut's square-root factors and core, for model reduction
/// ([`crate::reduction`]): `Fo_i = fo·diag(2^fo_exp)`, `Gr_i = gr·diag(2^gr_exp)`
/// (`None`: a zero column) and `Fo_i·Gr_iᵀ = core·2^core_exp`, in the scaling of
/// the module docs.
pub(crate) struct CutFactors<T: Scalar> {
    /// The cut `i` (`1 ≤ i ≤ L-1`).
    pub index: usize,
    /// `F̃o` (`rows × N`, upper-trapezoidal).
    pub fo: DMatrix<T>,
    /// Column exponents of `Fo_i`.
    pub fo_exp: Vec<Option<i64>>,
    /// `G̃r` (`rows × N`, upper-trapezoidal).
    pub gr: DMatrix<T>,
    /// Column exponents of `Gr_i`.
    pub gr_exp: Vec<Option<i64>>,
    /// The scaled core `Fo_i·Gr_iᵀ·2^-core_exp`.
    pub core: DMatrix<T>,
    /// Its exponent.
    pub core_exp: i64,
}

/// Calls `visit` with the factors of every cut `i = 1..L` in ascending order,
/// with the same checkpointed walk as [`sweep`] (`O(√L·N²)` memory). `T` is never
/// formed.
pub(crate) fn for_each_cut<T, F>(real: &Realization<T>, mut visit: F) -> Result<()>
where
    T: Scalar,
    F: FnMut(CutFactors<T>) -> Result<()>,
{
    let len = real.len();
    if len < 2 {
        return Ok(());
    }
    let indices: Vec<usize> = (1..len).collect();
    walk(real, &indices, group_size(indices.len()), |g| {
        for ((&i, o), r) in g.indices.iter().zip(g.fo).zip(g.gr) {
            let (mut o, mut r) = (o.clone(), r.clone());
            o.settle();
            r.settle();
            let (core, core_exp) = o.core(&r);
            visit(CutFactors {
                index: i,
                fo: o.to_matrix(),
                fo_exp: o.exp.clone(),
                gr: r.to_matrix(),
                gr_exp: r.exp.clone(),
                core,
                core_exp,
            })?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realization::Steps;
    use crate::scalar::exponent_of;
    use crate::spectrum::NalgebraSvd;
    use nalgebra::DVector;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    /// `k × n` rows with entries `N(0,1)·2^(r_i + c_j)`, `r_i` and `c_j` drawn
    /// uniformly from the given exponent ranges.
    fn scaled_stack(rng: &mut StdRng, k: usize, n: usize, rows: (i32, i32), cols: (i32, i32)) -> DMatrix<f64> {
        let r: Vec<i32> = (0..k).map(|_| rng.random_range(rows.0..=rows.1)).collect();
        let c: Vec<i32> = (0..n).map(|_| rng.random_range(cols.0..=cols.1)).collect();
        DMatrix::from_fn(k, n, |i, j| ldexp(rng.sample::<f64, _>(StandardNormal), r[i] + c[j]))
    }

    /// `tri(S)` by Householder QR after an exact per-column normalisation of `S`.
    fn householder<T: Scalar>(s: &DMatrix<T>) -> Factor<T> {
        householder_as(s)
    }

    /// [`householder`] into a factor of another type `T`: each column is
    /// normalised exactly in the stack's own type `S` (its exponent kept) before
    /// the cast, so that an `f64` stack with scales of `2^±300` reaches `f32` intact.
    fn householder_as<S: Scalar, T: Scalar>(s: &DMatrix<S>) -> Factor<T> {
        let mut scaled = DMatrix::<T>::zeros(s.nrows(), s.ncols());
        let mut exp = vec![None; s.ncols()];
        for (j, col) in s.column_iter().enumerate() {
            let m = crate::scalar::max_abs(col.as_slice());
            if m > 0.0 {
                let e = exponent_of(m);
                let out = scaled.column_mut(j);
                out.into_iter().zip(col.iter()).for_each(|(y, &x)| *y = T::cast(ldexp(x, -e).to_f64()));
                exp[j] = Some(i64::from(e));
            }
        }
        Factor::from_stack(scaled, exp)
    }

    /// `tri(S)` by Givens rotations, appending the rows of `S` in random chunks.
    fn givens<T: Scalar>(rng: &mut StdRng, s: &DMatrix<T>) -> Factor<T> {
        let mut f = Factor::empty(s.ncols());
        let mut r = 0;
        while r < s.nrows() {
            let k = rng.random_range(1..=3).min(s.nrows() - r);
            f.append_rows(Block::of(&s.rows(r, k).into_owned()));
            r += k;
        }
        f
    }

    /// Scale-free summary of `FᵀF` for `F = F̃·diag(2^e)`, computed from `F̃`: the
    /// correlations `G_jk / √(G_jj G_kk)` and `log2 √G_jj` (column norms).
    fn gram_summary<T: Scalar>(f: &Factor<T>) -> (DMatrix<f64>, Vec<Option<f64>>) {
        let ft = f.to_matrix().map(|x| x.to_f64());
        let g = ft.transpose() * &ft;
        let n = f.n;
        let norms = (0..n).map(|j| f.exp[j].map(|e| 0.5 * g[(j, j)].log2() + e as f64)).collect();
        let corr = DMatrix::from_fn(n, n, |j, k| {
            let d = (g[(j, j)] * g[(k, k)]).sqrt();
            if d > 0.0 {
                g[(j, k)] / d
            } else {
                0.0
            }
        });
        (corr, norms)
    }

    /// Singular values of `F·2^-top` (descending), `top` a common exponent.
    fn factor_sv<T: Scalar>(f: &Factor<T>, top: i64) -> Vec<f64> {
        let m = DMatrix::from_fn(f.rows, f.n, |r, c| {
            f.exp[c].map_or(0.0, |e| mul_pow2(f.data[r * f.n + c].to_f64(), e - top))
        });
        let mut s: Vec<f64> = m.singular_values().iter().copied().collect();
        s.sort_by(|a, b| b.total_cmp(a));
        s
    }

    /// Checks the invariant: every nonzero column's largest magnitude in `[0.5, 1)`,
    /// upper-trapezoidal.
    fn assert_normalized<T: Scalar>(f: &Factor<T>) {
        assert!(f.rows <= f.n);
        for j in 0..f.n {
            let m = (0..f.rows).fold(0.0f64, |m, r| m.max(f.data[r * f.n + j].to_f64().abs()));
            // The largest magnitude is in [0.5, 1)·2^drift, and the drift is a
            // few units at most (the Givens update folds it into the next step).
            match f.exp[j] {
                Some(_) => {
                    assert!(f.drift[j].abs() <= 24, "column {j}: drift {}", f.drift[j]);
                    assert!((0.5..1.0).contains(&ldexp(m, -(f.drift[j] as i32))), "column {j}: max {m}");
                }
                None => assert_eq!(m, 0.0, "column {j} without exponent"),
            }
            for r in j + 1..f.rows {
                assert_eq!(f.data[r * f.n + j], T::zero(), "below the diagonal at ({r}, {j})");
            }
        }
    }

    /// Givens and Householder give the same `FᵀF` (column-wise, to `tol`) and the
    /// same singular values (to `tol·σ_1`), and match `SᵀS` computed directly.
    fn assert_same_factor<T: Scalar>(a: &Factor<T>, b: &Factor<T>, s: &DMatrix<T>, tol: f64, what: &str) {
        assert_normalized(a);
        assert_normalized(b);
        let ((ca, na), (cb, nb)) = (gram_summary(a), gram_summary(b));
        // Direct: column norms and correlations of S itself (scaled per column).
        let sf = s.map(|x| x.to_f64());
        for j in 0..s.ncols() {
            let col_max = sf.column(j).amax();
            let norm_direct = (col_max > 0.0).then(|| {
                let e = exponent_of(col_max);
                let scaled = sf.column(j).map(|x| ldexp(x, -e));
                scaled.norm().log2() + f64::from(e)
            });
            for (name, norms) in [("givens", &na), ("householder", &nb)] {
                match (norms[j], norm_direct) {
                    (Some(x), Some(y)) => {
                        assert!((x - y).abs() <= tol, "{what}: {name} log2‖F_{j}‖ = {x}, ‖S_{j}‖: {y}")
                    }
                    (None, None) => {}
                    (x, y) => panic!("{what}: {name} column {j}: {x:?} vs {y:?}"),
                }
            }
        }
        for j in 0..s.ncols() {
            for k in 0..s.ncols() {
                assert!(
                    (ca[(j, k)] - cb[(j, k)]).abs() <= tol,
                    "{what}: correlation ({j}, {k}): {} vs {}",
                    ca[(j, k)],
                    cb[(j, k)]
                );
            }
        }
        let top = a.exp.iter().chain(&b.exp).flatten().copied().max().unwrap_or(0);
        let (sa, sb) = (factor_sv(a, top), factor_sv(b, top));
        let s1 = sa.first().copied().unwrap_or(0.0).max(sb.first().copied().unwrap_or(0.0));
        for (k, (x, y)) in sa.iter().zip(&sb).enumerate() {
            assert!((x - y).abs() <= tol * s1, "{what}: σ_{k}: givens {x:e}, householder {y:e} (σ_1 {s1:e})");
        }
    }

    #[test]
    fn givens_append_matches_householder_on_random_stacks_at_any_scale() {
        let mut rng = StdRng::seed_from_u64(4);
        // (row exponents, column exponents) of the entries.
        let cases = [
            ((-20, 20), (0, 0)),        // ordinary
            ((-900, 900), (0, 0)),      // huge and tiny rows together
            ((-1070, -1030), (0, 0)),   // subnormal rows only
            ((990, 1010), (0, 0)),      // near overflow
            ((-10, 10), (-1000, 1000)), // columns of disparate scales
            ((-500, 500), (-500, 500)), // both
        ];
        for (case, &(rows, cols)) in cases.iter().enumerate() {
            for trial in 0..20 {
                let n = rng.random_range(1..=8);
                let k = rng.random_range(1..=3 * n);
                let s = scaled_stack(&mut rng, k, n, rows, cols);
                let what = format!("case {case} trial {trial} ({k} × {n}, rows 2^{rows:?}, columns 2^{cols:?})");
                let (g, h) = (givens(&mut rng, &s), householder(&s));
                assert_same_factor(&g, &h, &s, 1e-13, &what);
            }
        }
    }

    /// Two factors updated together ([`Factor::append_scaled_pair`]) get
    /// bitwise what each gets alone, whatever their numbers of rows and of new
    /// rows (fresh factors, a row count differing by several, `k = 1..3` new
    /// rows each, given as `w` or `wᵀ`), including zero and extreme diagonals.
    #[test]
    fn a_pair_of_updates_is_bitwise_each_update_alone() {
        pair_of_updates_trials::<f64>(46, 600);
        pair_of_updates_trials::<f32>(47, 120);
    }

    fn pair_of_updates_trials<T: Scalar>(seed: u64, scale_range: i32) {
        let mut rng = StdRng::seed_from_u64(seed);
        let bits = |f: &Factor<T>| {
            (f.rows, f.data.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>(), f.exp.clone(), f.drift.clone())
        };
        let cast = |m: DMatrix<f64>| m.map(T::cast);
        for trial in 0..200 {
            let n = rng.random_range(1..=9);
            let start = |rng: &mut StdRng| {
                let rows = rng.random_range(0..=n + 1);
                let mut f = Factor::<T>::empty(n);
                if rows > 0 {
                    f.append_rows(Block::of(&cast(scaled_stack(rng, rows, n, (-3, 3), (-40, 40)))));
                }
                f
            };
            let (mut f, mut g) = (start(&mut rng), start(&mut rng));
            for step in 0..4 {
                let diag = |rng: &mut StdRng| -> Vec<T> {
                    (0..n)
                        .map(|_| match rng.random_range(0..6) {
                            0 => 0.0,
                            1 => ldexp(rng.random_range(0.5..1.0), rng.random_range(-scale_range..scale_range)),
                            _ => rng.random_range(-1.0..1.0),
                        })
                        .map(T::cast)
                        .collect()
                };
                let (a, b) = (diag(&mut rng), diag(&mut rng));
                let (ka, kb) = (rng.random_range(1..=3), rng.random_range(1..=3));
                let (ta, tb) = (rng.random_bool(0.5), rng.random_bool(0.5));
                let make = |rng: &mut StdRng, k: usize, t: bool| {
                    let w = cast(scaled_stack(rng, k, n, (-20, 20), (0, 0)));
                    if t {
                        w.transpose()
                    } else {
                        w
                    }
                };
                let (wa, wb) = (make(&mut rng, ka, ta), make(&mut rng, kb, tb));
                let (mut fa, mut ga) = (f.clone(), g.clone());
                fa.append_scaled(Some(&a), Block::of(&wa), ta);
                ga.append_scaled(Some(&b), Block::of(&wb), tb);
                Factor::append_scaled_pair(
                    (&mut f, Some(&a), Block::of(&wa), ta),
                    (&mut g, Some(&b), Block::of(&wb), tb),
                );
                assert_eq!(bits(&f), bits(&fa), "seed {seed} trial {trial} step {step}: first");
                assert_eq!(bits(&g), bits(&ga), "seed {seed} trial {trial} step {step}: second");
            }
        }
    }

    /// A non-finite core (not reachable from a validated realization: every
    /// term of the scaled core is at most 1) is reported by the general route,
    /// naming the core, the index and the first non-finite entry, rather than
    /// given to the kernel (whose maximum would skip NaN and call it zero).
    #[test]
    fn a_non_finite_core_is_reported_not_hidden() {
        let n = 4;
        let unit = |bad: Option<usize>| {
            let mut data = vec![0.0; n * n];
            for r in 0..n {
                data[r * n + r] = 0.75;
            }
            if let Some(at) = bad {
                data[at] = f64::NAN;
            }
            Factor { n, rows: n, data, exp: vec![Some(0); n], upper: true, ..Factor::scratch_for(n) }
        };
        // F̃[1, 2] = NaN: row 1 of F·Gᵀ is NaN (NaN·0 included). Alone, and
        // in a group whose other core is fine.
        let (fo, gr, good) = (unit(Some(n + 2)), unit(None), unit(None));
        let (mut w0, mut w1) = (CoreWork::new(), CoreWork::new());
        let backend = NalgebraSvd::default();
        let seen = std::cell::RefCell::new(Vec::new());
        let mut emit = |s: Spectrum<f64>| {
            seen.borrow_mut().push(s.values());
            Vec::new()
        };
        let alone = index_spectra_group(&backend, [(&fo, &gr, 7, (9, 7))], [&mut w0], &mut emit);
        let pair = index_spectra_group(
            &backend,
            [(&good, &gr, 6, (10, 6)), (&fo, &gr, 7, (9, 7))],
            [&mut w0, &mut w1],
            &mut emit,
        );
        for got in [alone, pair] {
            match got {
                Err(EssError::NonFinite { what, position, value }) => {
                    assert!(what.contains("core") && what.contains("i = 7"), "{what}");
                    assert_eq!(position, "(1, 0)");
                    assert!(value.is_nan());
                }
                Err(e) => panic!("another error: {e}"),
                Ok(()) => panic!("a NaN core was accepted"),
            }
        }
        // As one core at a time: the good core before the NaN one was done (the
        // kernel's core, 0.5625·I), and nothing after the error.
        assert_eq!(*seen.borrow(), vec![vec![0.5625; n]]);
        // The same factors without the NaN, in a workspace whose other lanes
        // hold the NaN core's leftovers: the kernel's core again.
        index_spectra_group(&backend, [(&good, &gr, 7, (9, 7))], [&mut w0], &mut emit).unwrap();
        assert_eq!(*seen.borrow(), vec![vec![0.5625; n]; 2]);
    }

    /// In a group, the error reported is the first in index order, as one core
    /// at a time would report it: a kernel core whose `σ₁` overflows comes
    /// before a later general-route core with a NaN, and a spectrum before both
    /// is emitted.
    #[test]
    fn a_groups_first_error_is_the_first_in_index_order() {
        let n = 4;
        let square = |exp: i64| {
            let mut data = vec![0.0; n * n];
            for r in 0..n {
                data[r * n + r] = 0.75;
            }
            Factor { n, rows: n, data, exp: vec![Some(exp); n], upper: true, ..Factor::scratch_for(n) }
        };
        // Rows fewer than n: the general route, with a NaN.
        let short = Factor {
            n,
            rows: n - 1,
            data: vec![f64::NAN; (n - 1) * n],
            exp: vec![Some(0); n],
            upper: true,
            ..Factor::scratch_for(n)
        };
        let (ok, huge, gr) = (square(0), square(1100), square(0));
        let backend = NalgebraSvd::default();
        let seen = std::cell::RefCell::new(0);
        let mut emit = |_: Spectrum<f64>| {
            *seen.borrow_mut() += 1;
            Vec::new()
        };
        let mut w: [CoreWork<f64>; 3] = std::array::from_fn(|_| CoreWork::new());
        let [w0, w1, w2] = &mut w;
        let got = index_spectra_group(
            &backend,
            [(&ok, &gr, 4, (9, 4)), (&huge, &gr, 5, (8, 5)), (&short, &gr, 6, (7, 6))],
            [w0, w1, w2],
            &mut emit,
        );
        match got {
            Err(EssError::NonFinite { what, position, .. }) => {
                assert!(what.contains("i = 5") && what.contains("overflow"), "{what}");
                assert_eq!(position, "(σ_1)");
            }
            other => panic!("expected the overflow at i = 5, got {other:?}"),
        }
        assert_eq!(*seen.borrow(), 1, "the core before the error");
        // The NaN core alone is reported for itself.
        let [w0, ..] = &mut w;
        let got = index_spectra_group(&backend, [(&short, &gr, 6, (7, 6))], [w0], &mut emit);
        assert!(matches!(got, Err(EssError::NonFinite { ref what, .. }) if what.contains("i = 6")), "{got:?}");
    }

    /// Two decoupled 2-state subsystems (input 1 → output 1, input 2 →
    /// output 2) have block-diagonal factors and cores, whose bidiagonals have
    /// an exact zero: dqds declines, and the bidiagonal QR
    /// (`bidiag::bidiagonal_values`, with [`core_sweeps`] steps) finishes them
    /// without the backend, with the backend's values.
    #[test]
    fn block_diagonal_cores_are_finished_by_the_kernels_qr() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        #[derive(Debug, Default)]
        struct Counting(AtomicUsize);
        impl SvdBackend for Counting {
            fn singular_values_f64(&self, block: DMatrix<f64>) -> Result<Vec<f64>> {
                self.0.fetch_add(1, Ordering::Relaxed);
                NalgebraSvd::default().singular_values_f64(block)
            }
            fn singular_values_f32(&self, block: DMatrix<f32>) -> Result<Vec<f32>> {
                self.0.fetch_add(1, Ordering::Relaxed);
                NalgebraSvd::default().singular_values_f32(block)
            }
            fn allows_builtin_core_kernel(&self) -> bool {
                true
            }
        }
        let len = 24;
        let a = Transition::Diagonal(Steps::Constant(DVector::from_vec(vec![0.9, -0.5, 0.7, 0.3])));
        let b = DMatrix::from_row_slice(4, 2, &[1.0, 0.0, 0.5, 0.0, 0.0, 1.0, 0.0, -2.0]);
        let c = DMatrix::from_row_slice(2, 4, &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.3, 1.0]);
        let r = Realization::new(len, a, Steps::Constant(b), Steps::Constant(c)).unwrap();
        let indices: Vec<usize> = (1..len).collect();
        let counting = Counting::default();
        let ours = sweep(&r, &indices, &counting, &|s: &Spectrum<f64>| s.clone()).unwrap();
        // Only the rectangular end cores (i < 2, L - i < 2) go to the backend.
        assert_eq!(counting.0.load(Ordering::Relaxed), 2, "cores given to the backend");
        let t = r.dense();
        for (s, &i) in ours.iter().zip(&indices) {
            let h = t.view((2 * i, 0), (2 * (len - i), 2 * i)).into_owned();
            let mut want = NalgebraSvd::default().singular_values_f64(h).unwrap();
            want.sort_by(|x, y| y.total_cmp(x));
            let got = s.values();
            for (k, w) in want.iter().enumerate() {
                let g = got.get(k).copied().unwrap_or(0.0);
                assert!((g - w).abs() <= 1e-12 * want[0], "i = {i}: σ_{k} {g:e} vs {w:e}");
            }
        }
    }

    /// The core of `f`, `g` formed in lane `lane` of a fresh lane workspace
    /// whose other lanes' upper triangles hold `junk` ([`Factor::core_factors_into`], then
    /// [`super::super::lanes::triangular_product`] with the widest vectors or
    /// in the baseline build): its exponent and the core, row-major.
    fn lane_core<T: Scalar>(f: &Factor<T>, g: &Factor<T>, lane: usize, wide: bool, junk: T) -> (Option<i64>, Vec<T>) {
        use crate::simd::Kernel;
        let n = f.n;
        let mut ws = LaneWorkspace::default();
        let (fl, gl) = ws.factors(n);
        // Junk in the upper triangles (the lower ones stay zero).
        for (k, (x, y)) in fl.iter_mut().zip(gl.iter_mut()).enumerate() {
            if k % n >= k / n {
                (*x, *y) = (Lanes::splat(junk), Lanes::splat(junk));
            }
        }
        let e = f.core_factors(g, (fl, gl, lane), &mut Vec::new(), &mut Vec::new());
        if wide {
            super::super::lanes::triangular_product(n, &mut ws);
        } else {
            super::super::lanes::TriangularProduct(n, &mut ws).run();
        }
        (e, ws.matrices_filled(n).iter().map(|x| x.0[lane]).collect())
    }

    /// Four cores' factors gathered at once give bitwise the lanes of each
    /// gathered alone.
    #[test]
    fn four_cores_gathered_at_once_are_each_gathered_alone() {
        let mut rng = StdRng::seed_from_u64(48);
        for trial in 0..20 {
            let n = rng.random_range(1..=19);
            let pairs: Vec<(Factor<f64>, Factor<f64>)> = (0..WIDTH)
                .map(|_| {
                    let (sf, sg) = (
                        scaled_stack(&mut rng, n + 2, n, (-5, 5), (-30, 30)),
                        scaled_stack(&mut rng, n + 1, n, (-5, 5), (-30, 30)),
                    );
                    let (mut f, mut g) = (givens(&mut rng, &sf), givens(&mut rng, &sg));
                    f.settle();
                    g.settle();
                    (f, g)
                })
                .collect();
            let scales: Vec<(Vec<i64>, Vec<f64>)> = pairs
                .iter()
                .map(|(f, g)| {
                    let (mut shift, mut scale) = (Vec::new(), Vec::new());
                    let (_, fast) = f.core_scales(g, &mut shift, &mut scale).expect("nonzero factors");
                    assert!(fast, "trial {trial}: normal scales");
                    (shift, scale)
                })
                .collect();
            let (mut one, mut four) = (LaneWorkspace::default(), LaneWorkspace::default());
            let (fl, gl) = one.factors(n);
            for (lane, ((f, g), (shift, scale))) in pairs.iter().zip(&scales).enumerate() {
                let (top, _) = f.core_scales(g, &mut Vec::new(), &mut Vec::new()).expect("nonzero factors");
                f.core_factors_into(g, (&mut *fl, &mut *gl, lane), (shift, scale, top, true));
            }
            let (f4, g4) = four.factors(n);
            Factor::core_factors_four(
                std::array::from_fn(|l| &pairs[l].0),
                std::array::from_fn(|l| &pairs[l].1),
                std::array::from_fn(|l| &scales[l].1[..]),
                (&mut *f4, &mut *g4),
            );
            let bits = |v: &[Lanes<f64>]| v.iter().flat_map(|x| x.0.map(f64::to_bits)).collect::<Vec<_>>();
            let (fl, gl) = one.factors(n);
            let (fl, gl) = (bits(fl), bits(gl));
            let (f4, g4) = four.factors(n);
            assert_eq!(bits(f4), fl, "trial {trial}: F");
            assert_eq!(bits(g4), gl, "trial {trial}: G");
        }
    }

    /// The core product with the widest vectors (AVX2 where the CPU has it)
    /// and its baseline build give bitwise the same core, in any lane whatever
    /// the other lanes hold, and that core is `F·Gᵀ` (against the plain product
    /// of the unscaled factors).
    #[test]
    fn core_product_wide_build_is_bitwise_the_baseline_and_the_product() {
        let mut rng = StdRng::seed_from_u64(44);
        for trial in 0..40 {
            let n = rng.random_range(1..=19);
            let cols = if trial % 2 == 0 { (0, 0) } else { (-300, 300) };
            let (sf, sg) =
                (scaled_stack(&mut rng, n + 2, n, (-5, 5), cols), scaled_stack(&mut rng, n + 3, n, (-5, 5), cols));
            let (mut f, mut g) = (givens(&mut rng, &sf), givens(&mut rng, &sg));
            f.settle();
            g.settle();
            let (ew, wide) = lane_core(&f, &g, 0, true, 0.0);
            let bits = |v: &[f64]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
            for (lane, simd, junk) in [(0, false, 0.0), (2, true, 0.75), (3, false, -1.5)] {
                let (e, core) = lane_core(&f, &g, lane, simd, junk);
                assert_eq!(e, ew, "trial {trial}: exponent, lane {lane}");
                assert_eq!(bits(&core), bits(&wide), "trial {trial}: core, lane {lane}");
            }
            // The same in f32.
            let (f32f, f32g) = (householder_as::<f64, f32>(&sf), householder_as::<f64, f32>(&sg));
            let (e32, w32) = lane_core(&f32f, &f32g, 1, true, 0.0);
            let (b, b32) = lane_core(&f32f, &f32g, 1, false, 0.5);
            let (f3, g3) = (&f32f, &f32g);
            assert_eq!(e32, b, "trial {trial}: f32 exponent");
            let bits32 = |v: &[f32]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits32(&w32), bits32(&b32), "trial {trial}: f32 core");
            // Entry (a, b) of the core is `core[a·n + b]` times 2^e, against
            // Σ_j F[a, j]·G[b, j] with the column exponents applied.
            let e = ew.expect("nonzero factors") as i32;
            let full = |h: &Factor<f64>| {
                let m = h.to_matrix();
                DMatrix::from_fn(n, n, |r, j| h.exp[j].map_or(0.0, |x| ldexp(m[(r, j)], x as i32)))
            };
            let want = full(&f) * full(&g).transpose();
            let scale = want.amax();
            for a in 0..n {
                for b in 0..n {
                    let got = ldexp(wide[a * n + b], e);
                    assert!(
                        (got - want[(a, b)]).abs() <= 1e-13 * scale,
                        "trial {trial}: core ({a}, {b}) {got:e} vs {:e}",
                        want[(a, b)]
                    );
                }
            }
            // Every column 2^550 larger in both factors (a core 2^1100 times
            // larger, beyond the type's range): the same scaled core, bit for
            // bit, its exponent 1100 higher (the largest term's scale is
            // factored out before any product is formed).
            let shifted = |h: &Factor<f64>| {
                let mut h = h.clone();
                h.exp.iter_mut().flatten().for_each(|x| *x += 550);
                h
            };
            let (eh, big) = lane_core(&shifted(&f), &shifted(&g), 0, true, 0.0);
            assert_eq!(eh, ew.map(|x| x + 1100), "trial {trial}: exponent of the shifted core");
            assert_eq!(bits(&big), bits(&wide), "trial {trial}: shifted core");
            // The f32 core against the same product in f64: with column exponents
            // 600 binades apart, beyond f32's range, the core takes its
            // out-of-range branch (terms below 2^-149 of the largest are zero).
            let e32 = e32.expect("nonzero factors") as i32;
            let full32 = |h: &Factor<f32>| {
                let m = h.to_matrix();
                DMatrix::from_fn(n, n, |r, j| h.exp[j].map_or(0.0, |x| ldexp(f64::from(m[(r, j)]), x as i32)))
            };
            let want = full32(f3) * full32(g3).transpose();
            let scale = want.amax();
            for a in 0..n {
                for b in 0..n {
                    let got = ldexp(f64::from(w32[a * n + b]), e32);
                    assert!(
                        (got - want[(a, b)]).abs() <= 1e-5 * scale,
                        "trial {trial}: f32 core ({a}, {b}) {got:e} vs {:e}",
                        want[(a, b)]
                    );
                }
            }
        }
    }

    #[test]
    fn givens_append_matches_householder_in_f32() {
        let mut rng = StdRng::seed_from_u64(5);
        for (case, &(rows, cols)) in
            [((-10, 10), (0, 0)), ((-100, 100), (0, 0)), ((-145, -135), (0, 0)), ((-20, 20), (-100, 100))]
                .iter()
                .enumerate()
        {
            for trial in 0..20 {
                let n = rng.random_range(1..=6);
                let k = rng.random_range(1..=3 * n);
                let s = scaled_stack(&mut rng, k, n, rows, cols).map(|x| x as f32);
                let what = format!("f32 case {case} trial {trial}");
                let (g, h) = (givens(&mut rng, &s), householder(&s));
                assert_same_factor(&g, &h, &s, 2e-5, &what);
            }
        }
    }

    #[test]
    fn zero_rows_and_columns_keep_the_invariant() {
        let mut rng = StdRng::seed_from_u64(6);
        let mut s = scaled_stack(&mut rng, 7, 5, (-3, 3), (0, 0));
        s.column_mut(2).fill(0.0);
        s.row_mut(0).fill(0.0);
        let (g, h) = (givens(&mut rng, &s), householder(&s));
        assert_eq!(g.exp[2], None);
        assert_same_factor(&g, &h, &s, 1e-13, "zero column");
        let z = givens(&mut rng, &DMatrix::<f64>::zeros(3, 4));
        assert!(z.exp.iter().all(Option::is_none) && z.data.iter().all(|&x| x == 0.0));
    }

    /// Columns `2^±1100` away from the appended row's scale (beyond what one
    /// scaling factor can bridge). A zero `a_j` (a decay `exp(Δ·a)` that
    /// underflowed) wipes column `j` whatever its scale: the row's column then
    /// sets the scale and keeps its precision (carried over from a column
    /// `2^1100` times larger, it would fall below the subnormal range). A
    /// nonzero `a_j` keeps the huge column's scale, and the row's entry there
    /// vanishes exactly (it is scaled down, never up).
    #[test]
    fn columns_1100_binades_from_the_appended_row() {
        let mut rng = StdRng::seed_from_u64(8);
        let s0 = scaled_stack(&mut rng, 4, 4, (0, 0), (0, 0));
        let f = givens(&mut rng, &s0);
        for huge in [1100, -1100] {
            // Column 2 of F is 2^±1100 times larger than it was; F·diag(a) has
            // that column zero, the others as they were.
            let mut g = f.clone();
            g.exp[2] = g.exp[2].map(|e| e + huge);
            let a = [0.75, -1.5, 0.0, 0.5];
            let w = scaled_stack(&mut rng, 1, 4, (0, 0), (0, 0));
            let mut fa = unscaled(&f);
            fa.column_mut(2).fill(0.0);
            let s = step_stack(&fa, &DMatrix::from_diagonal(&DVector::from_row_slice(&a)), &w);
            g.append_scaled(Some(&a), Block::of(&w), false);
            assert_same_factor(&g, &householder(&s), &s, 1e-13, &format!("column 2 scaled by 2^{huge}"));
        }
        // With a nonzero a_2 the column keeps its scale 2^1100, and the row's
        // entry, 2^1100 times smaller than the column, vanishes below the
        // subnormal range: bitwise as if the row had a zero there.
        let mut g = f.clone();
        g.exp[2] = g.exp[2].map(|e| e + 1100);
        let (a, w) = ([0.75, -1.5, 0.5, 0.5], scaled_stack(&mut rng, 1, 4, (0, 0), (0, 0)));
        let mut w0 = w.clone();
        w0[(0, 2)] = 0.0;
        let mut g0 = g.clone();
        g.append_scaled(Some(&a), Block::of(&w), false);
        g0.append_scaled(Some(&a), Block::of(&w0), false);
        assert!(g.exp[2].is_some_and(|e| e >= 1090), "column 2 keeps its scale: {:?}", g.exp[2]);
        assert_eq!((&g.data, &g.exp, &g.drift), (&g0.data, &g0.exp, &g0.drift));
        assert!(g.data.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn givens_update_with_extreme_diagonal_entries_matches_householder() {
        // a_j far outside [2^-16, 2^16) (exponent split off), moderate ones, zero
        // and negative entries, chained over several steps with drifts carried
        // over: the same factor as Householder on the explicit stack.
        let mut rng = StdRng::seed_from_u64(13);
        for trial in 0..20 {
            let n = rng.random_range(2..=6);
            let s0 = scaled_stack(&mut rng, n, n, (0, 0), (0, 0));
            let mut f = givens(&mut rng, &s0);
            for step in 0..4 {
                let a: Vec<f64> = (0..n)
                    .map(|j| match (j + step + trial) % 5 {
                        0 => ldexp(0.7, 40),
                        1 => -ldexp(0.6, -40),
                        2 if trial % 3 == 0 => 0.0,
                        _ => rng.random_range(-1.0..1.0),
                    })
                    .collect();
                let k = rng.random_range(1..=2);
                let w = scaled_stack(&mut rng, k, n, (0, 0), (0, 0));
                let s = step_stack(&unscaled(&f), &DMatrix::from_diagonal(&DVector::from_vec(a.clone())), &w);
                f.append_scaled(Some(&a), Block::of(&w), false);
                assert_same_factor(&f, &householder(&s), &s, 1e-12, &format!("trial {trial} step {step}"));
            }
        }
    }

    /// The explicit stack `[F·M; w]` of one step (unscaled).
    fn step_stack(f: &DMatrix<f64>, m: &DMatrix<f64>, w: &DMatrix<f64>) -> DMatrix<f64> {
        let fm = f * m;
        let mut s = DMatrix::zeros(fm.nrows() + w.nrows(), m.ncols());
        s.rows_mut(0, fm.nrows()).copy_from(&fm);
        s.rows_mut(fm.nrows(), w.nrows()).copy_from(w);
        s
    }

    /// One step `tri([F·M; w])` done naively (unscaled, moderate sizes only).
    fn naive_step(f: &DMatrix<f64>, m: &DMatrix<f64>, w: &DMatrix<f64>) -> DMatrix<f64> {
        step_stack(f, m, w).qr().unpack_r()
    }

    fn unscaled(f: &Factor<f64>) -> DMatrix<f64> {
        DMatrix::from_fn(f.rows, f.n, |r, c| f.exp[c].map_or(0.0, |e| mul_pow2(f.data[r * f.n + c], e)))
    }

    #[test]
    fn normalising_subnormal_and_huge_columns_is_exact() {
        // A column whose largest magnitude is subnormal (or near the top of the
        // range) needs a shift 2^k that is itself no normal number: normalize's
        // slow branch, on every row of the column.
        let m = DMatrix::from_row_slice(3, 3, &[3e-310, 1.0, 1e308, -1e-309, 0.25, -3e307, 2.5e-310, -2.0, 5e306]);
        let f = Factor::from_matrix(&m);
        assert_eq!(unscaled(&f), m);
        for j in 0..3 {
            let max = (0..3).fold(0.0f64, |a, r| a.max(f.data[r * 3 + j].abs()));
            assert!((0.5..1.0).contains(&max), "column {j}: largest magnitude {max}");
        }
        assert_eq!(f.exp.iter().map(|e| e.unwrap()).collect::<Vec<_>>(), vec![-1026, 2, 1024]);
    }

    #[test]
    fn advance_matches_a_naive_step_and_is_exactly_scale_equivariant() {
        let mut rng = StdRng::seed_from_u64(7);
        for trial in 0..30 {
            let (n, k) = (rng.random_range(1..=6), rng.random_range(1..=2));
            let steps = 12;
            let diagonal = trial % 2 == 0;
            let a: Vec<DMatrix<f64>> = (0..steps)
                .map(|_| {
                    if diagonal {
                        DMatrix::from_diagonal(&DVector::from_fn(n, |_, _| rng.random_range(-1.0..1.0)))
                    } else {
                        DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal) / (n as f64).sqrt())
                    }
                })
                .collect();
            let w: Vec<DMatrix<f64>> = (0..steps).map(|_| scaled_stack(&mut rng, k, n, (0, 0), (0, 0))).collect();
            let transition = |dense: bool| {
                FlatTransition::from_transition(&if dense {
                    Transition::Dense(Steps::Varying(a.clone()))
                } else {
                    Transition::Diagonal(Steps::Varying(a.iter().map(|m| m.diagonal()).collect()))
                })
            };
            for transpose in [false, true] {
                // Naive, at scale 1.
                let mut naive = naive_step(&DMatrix::zeros(0, n), &DMatrix::identity(n, n), &w[0]);
                for t in 1..steps {
                    let m = if transpose { a[t].transpose() } else { a[t].clone() };
                    naive = naive_step(&naive, &m, &w[t]);
                }
                // Scaled rows 2^shift·w_t, on the Givens path (diagonal A) and the
                // Householder path (the same A stored densely).
                let mut reference: Option<Factor<f64>> = None;
                for shift in [0i32, 1000, -1000, 517, -1020] {
                    for dense in if diagonal { vec![false, true] } else { vec![true] } {
                        let tr = transition(dense);
                        let mut f = Factor::empty(n);
                        f.append_rows(Block::of(&w[0].map(|x| ldexp(x, shift))));
                        for (t, wt) in w.iter().enumerate().skip(1) {
                            f = f.advance(
                                &tr,
                                t,
                                transpose,
                                Block::of(&wt.map(|x| ldexp(x, shift))),
                                &mut Prepared::new(&tr),
                            );
                            assert_normalized(&f);
                        }
                        // Compare with the naive factor through FᵀF (R is unique up to row signs).
                        let fu = unscaled(&f).map(|x| ldexp(x, -shift));
                        let (gf, gn) = (fu.transpose() * &fu, naive.transpose() * &naive);
                        let scale = gn.amax();
                        assert!(
                            (&gf - &gn).amax() <= 1e-12 * scale,
                            "trial {trial} shift {shift} dense {dense} transpose {transpose}: ‖ΔFᵀF‖ = {:e} (‖FᵀF‖ {scale:e})",
                            (&gf - &gn).amax()
                        );
                        // Exactly equivariant (on the trial's own path: Givens for a
                        // diagonal A, Householder otherwise): same mantissas,
                        // exponents + shift.
                        if dense != diagonal {
                            match &reference {
                                None if shift == 0 => reference = Some(f.clone()),
                                Some(r) if shift > -1020 => {
                                    assert_eq!(r.data, f.data, "trial {trial} shift {shift}: mantissas differ");
                                    let shifted: Vec<_> =
                                        r.exp.iter().map(|e| e.map(|e| e + i64::from(shift))).collect();
                                    assert_eq!(shifted, f.exp, "trial {trial} shift {shift}: exponents");
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn core_matches_the_direct_product_under_a_diagonal_similarity() {
        // Fo·diag(2^c) and Gr·diag(2^-c): each factor's columns differ by up to
        // 2^1800, the core Fo·Grᵀ does not change.
        let mut rng = StdRng::seed_from_u64(9);
        for trial in 0..40 {
            let n = rng.random_range(1..=6);
            let (ko, kr) = (rng.random_range(1..=2 * n), rng.random_range(1..=2 * n));
            let (so, sr) =
                (scaled_stack(&mut rng, ko, n, (0, 0), (0, 0)), scaled_stack(&mut rng, kr, n, (0, 0), (0, 0)));
            let direct = {
                let (fo, fr) = (householder(&so), householder(&sr));
                unscaled(&fo) * unscaled(&fr).transpose()
            };
            let c: Vec<i32> = (0..n).map(|_| rng.random_range(-900..=900)).collect();
            let scale =
                |m: &DMatrix<f64>, sign: i32| DMatrix::from_fn(m.nrows(), n, |r, j| ldexp(m[(r, j)], sign * c[j]));
            let (fo, fr) = (givens(&mut rng, &scale(&so, 1)), givens(&mut rng, &scale(&sr, -1)));
            let (core, e) = fo.core(&fr);
            let got = core.map(|x| mul_pow2(x, e));
            // R is unique only up to the signs of its rows: compare singular values.
            let sv = |m: DMatrix<f64>| {
                let mut s: Vec<f64> = m.singular_values().iter().copied().collect();
                s.sort_by(|a, b| b.total_cmp(a));
                s
            };
            let (sd, sg) = (sv(direct), sv(got));
            for (x, y) in sd.iter().zip(&sg) {
                assert!((x - y).abs() <= 1e-13 * sd[0], "trial {trial}: σ {x:e} vs {y:e}");
            }
        }
    }

    #[test]
    fn core_and_sweep_are_exactly_scale_equivariant() {
        let mut rng = StdRng::seed_from_u64(8);
        for trial in 0..12 {
            let (n, len) = (rng.random_range(1..=5), rng.random_range(4..=24));
            let diagonal = trial % 2 == 0;
            let a = if diagonal {
                Transition::Diagonal(Steps::Constant(DVector::from_fn(n, |_, _| rng.random_range(-0.95..0.95))))
            } else {
                Transition::Dense(Steps::Varying(
                    (0..len)
                        .map(|_| {
                            DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal) / (n as f64).sqrt())
                        })
                        .collect(),
                ))
            };
            let b: Vec<DMatrix<f64>> = (0..len).map(|_| scaled_stack(&mut rng, n, 1, (0, 0), (0, 0))).collect();
            let c: Vec<DMatrix<f64>> = (0..len).map(|_| scaled_stack(&mut rng, 1, n, (0, 0), (0, 0))).collect();
            let build = |kb: i32, kc: i32| {
                let sb = b.iter().map(|m| m.map(|x| ldexp(x, kb))).collect();
                let sc = c.iter().map(|m| m.map(|x| ldexp(x, kc))).collect();
                Realization::new(len, a.clone(), Steps::Varying(sb), Steps::Varying(sc)).unwrap()
            };
            let indices: Vec<usize> = (1..len).collect();
            let run = |r: &Realization<f64>| {
                sweep(r, &indices, &NalgebraSvd::default(), &|s: &Spectrum<f64>| s.clone()).unwrap()
            };
            let base = run(&build(0, 0));
            // T = C·…·B scaled by 2^(kb + kc), kept in range: same spectra, shifted.
            for (kb, kc) in [(900, -950), (-1000, 1010), (300, 400), (-600, -300)] {
                let got = run(&build(kb, kc));
                for (x, y) in base.iter().zip(&got) {
                    assert_eq!(x.scaled(), y.scaled(), "trial {trial} (kb, kc) = ({kb}, {kc})");
                    if x.scaled().first().is_some_and(|&v| v > 0.0) {
                        assert_eq!(x.exponent() + kb + kc, y.exponent(), "trial {trial} (kb, kc) = ({kb}, {kc})");
                    }
                }
            }
        }
    }

    #[test]
    fn markov_parameters_survive_a_power_of_two_similarity() {
        // C·A^j·B is unchanged by (D⁻¹AD, D⁻¹B, CD) with D = diag(2^d), d up to
        // ±450 per state: compare with the naive product of the plain system.
        let mut rng = StdRng::seed_from_u64(10);
        for trial in 0..24 {
            let (n, p, m, len) = (rng.random_range(1..=5), rng.random_range(1..=2), rng.random_range(1..=2), 30);
            let diagonal = trial % 2 == 0;
            let a = if diagonal {
                DMatrix::from_diagonal(&DVector::from_fn(n, |_, _| rng.random_range(-0.95..0.95)))
            } else {
                DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal) * 0.9 / (n as f64).sqrt())
            };
            let b = scaled_stack(&mut rng, n, m, (0, 0), (0, 0));
            let c = scaled_stack(&mut rng, p, n, (0, 0), (0, 0));
            let mut naive = Vec::new();
            let mut x = b.clone();
            for _ in 0..len {
                naive.push(&c * &x);
                x = &a * x;
            }
            let d: Vec<i32> = (0..n).map(|_| rng.random_range(-450..=450)).collect();
            let (a2, b2, c2) = (
                DMatrix::from_fn(n, n, |r, k| ldexp(a[(r, k)], d[k] - d[r])),
                DMatrix::from_fn(n, m, |r, k| ldexp(b[(r, k)], -d[r])),
                DMatrix::from_fn(p, n, |r, k| ldexp(c[(r, k)], d[k])),
            );
            let tr = if diagonal {
                Transition::Diagonal(Steps::Constant(a2.diagonal()))
            } else {
                Transition::Dense(Steps::Constant(a2))
            };
            let got = markov_parameters(&tr, &b2, &c2, len);
            let scale = naive.iter().map(|h| h.amax()).fold(0.0, f64::max);
            for (j, (h, g)) in naive.iter().zip(&got).enumerate() {
                assert!((h - g).amax() <= 1e-13 * scale, "trial {trial} j = {j}: {h} vs {g}");
            }
        }
        // A subnormal B against a huge C, and the disparate similarity of the
        // issue: exact to rounding.
        let tr = Transition::Diagonal(Steps::Constant(DVector::from_vec(vec![0.9f64, 0.5])));
        let h = markov_parameters(
            &tr,
            &DMatrix::from_element(2, 1, 1e-310),
            &DMatrix::from_row_slice(1, 2, &[1e300, -1e300]),
            4,
        );
        assert_eq!(h[0][(0, 0)], 0.0);
        assert!((h[2][(0, 0)] - 1e-10 * (0.81 - 0.25)).abs() <= 1e-24);
        let b = DMatrix::from_row_slice(2, 1, &[1e-300, 1e300]);
        let h = markov_parameters(&tr, &b, &DMatrix::from_row_slice(1, 2, &[1e300, 1e-300]), 4);
        assert!((h[3][(0, 0)] - (0.729 + 0.125)).abs() <= 1e-15, "{}", h[3][(0, 0)]);
    }

    #[test]
    fn overflowing_blocks_are_an_error_and_underflowing_ones_zero() {
        // T[t,s] = 2^(kb+kc)·0.5^(t-s-1): beyond f64's range for kb + kc = 1100.
        let a = Transition::Diagonal(Steps::Constant(DVector::from_element(1, 0.5)));
        let r = |kb: i32, kc: i32| {
            Realization::new(
                16,
                a.clone(),
                Steps::Constant(DMatrix::from_element(1, 1, ldexp(1.0, kb))),
                Steps::Constant(DMatrix::from_element(1, 1, ldexp(1.0, kc))),
            )
            .unwrap()
        };
        let run = |r: &Realization<f64>| sweep(r, &[8], &NalgebraSvd::default(), &|s: &Spectrum<f64>| s.clone());
        let err = run(&r(600, 500)).unwrap_err();
        assert!(matches!(err, EssError::NonFinite { .. }) && err.to_string().contains("structured path"), "{err}");
        // In range: σ_1 = 2^1000·(2/√3·…), finite.
        let s = run(&r(500, 500)).unwrap();
        assert!(s[0].values()[0].is_finite() && s[0].largest() > 1e300);
        // Every entry of H_i rounds to zero in f64: a zero spectrum, as in the dense T.
        let s = run(&r(-600, -500)).unwrap();
        assert!(s[0].scaled().iter().all(|&x| x == 0.0));
    }

    #[test]
    fn checkpointed_sweeps_are_bitwise_identical_for_every_group_size() {
        // Group size ≥ count: one group, every factor stored (the unchecked
        // computation); smaller groups recompute from checkpoints.
        let mut rng = StdRng::seed_from_u64(12);
        for trial in 0..6 {
            let (n, len) = (rng.random_range(1..=7), rng.random_range(5..=70));
            let a = match trial % 3 {
                0 => Transition::Diagonal(Steps::Varying(
                    (0..len).map(|_| DVector::from_fn(n, |_, _| rng.random_range(-0.95..0.95))).collect(),
                )),
                1 => Transition::Dense(Steps::Varying(
                    (0..len)
                        .map(|_| DMatrix::from_diagonal(&DVector::from_fn(n, |_, _| rng.random_range(-0.95..0.95))))
                        .collect(),
                )),
                _ => Transition::Dense(Steps::Varying(
                    (0..len)
                        .map(|_| {
                            DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal) / (n as f64).sqrt())
                        })
                        .collect(),
                )),
            };
            let b = (0..len).map(|_| scaled_stack(&mut rng, n, 2, (-300, 300), (0, 0))).collect();
            let c = (0..len).map(|_| scaled_stack(&mut rng, 1, n, (-300, 300), (0, 0))).collect();
            let r = Realization::new(len, a, Steps::Varying(b), Steps::Varying(c)).unwrap();
            // Every index, a stride, irregular gaps (the continued recursions cross
            // them between groups), one index.
            let gaps = std::collections::BTreeSet::from([1, 2, len / 3 + 2, len / 3 + 3, len - 2, len - 1]);
            let gaps = gaps.into_iter().collect();
            for indices in [(1..len).collect::<Vec<_>>(), (1..len).step_by(3).collect(), gaps, vec![len / 2]] {
                let run = |g: usize| {
                    sweep_grouped(&r, &indices, &NalgebraSvd::default(), &|s: &Spectrum<f64>| s.clone(), g).unwrap()
                };
                let all = run(indices.len());
                // From one group (every factor from one walk) to one per index;
                // with several groups, the lower half is walked downwards.
                for g in [1, 2, 3, 5, group_size(indices.len()), indices.len() + 4] {
                    assert_eq!(run(g), all, "trial {trial} group {g}");
                }
                assert_eq!(sweep(&r, &indices, &NalgebraSvd::default(), &|s: &Spectrum<f64>| s.clone()).unwrap(), all);
            }
        }
    }

    #[test]
    fn group_size_is_the_ceiling_square_root() {
        for (count, k) in [(0, 1), (1, 1), (2, 2), (4, 2), (5, 3), (65_535, 256), (65_536, 256), (65_537, 257)] {
            assert_eq!(group_size(count), k, "count {count}");
        }
        // Around squares, also where an f64 square root would round.
        for k in [2usize, 3, 1000, 94_906_267, (1 << 32) - 1] {
            assert_eq!(group_size(k * k), k, "{k}²");
            assert_eq!(group_size(k * k - 1), k, "{k}² - 1");
            assert_eq!(group_size(k * k + 1), k + 1, "{k}² + 1");
        }
    }
}
