//! State-space models: LTI `(A, B, C)`, general time-varying recurrences, Mamba (S6)
//! selective channels and Mamba-2 (SSD) heads, plus zero-order-hold discretisation.
//!
//! All use the post-update convention of [`crate::theory`] §3:
//! `x_t = A_t x_{t-1} + B_t u_t`, `y_t = C_t x_t`, so
//! `T[t,s] = C_t A_t A_{t-1} ⋯ A_{s+1} B_s` and `T[t,t] = C_t B_t`. TSS: `N`.

use super::tensor::{dot, Array3};
use super::{BlockShape, Dims, LinearOperator, RealizationInfo};
use crate::error::{EssError, Result};
use crate::realization::{off_diagonal_zero, FlatTransition, Realization, StepMatrices, Steps, Transition};
use crate::scalar::Scalar;
use crate::validate::{check_matrix_finite, fmt_shape};
use nalgebra::{DMatrix, DVector};
use std::borrow::Cow;

/// `Δ·φ₁(Δa)·b` with `φ₁(z) = (e^z - 1)/z`, the zero-order-hold input gain of one
/// diagonal mode, without cancellation (`expm1`) or underflow (`φ₁ → 1` as `z → 0`).
fn zoh_gain<T: Scalar>(a: T, b: T, delta: T) -> T {
    let z = delta * a;
    if z == T::zero() {
        // Δ·a underflowed (or a = 0): φ₁ = 1.
        delta * b
    } else if z.abs() < T::cast(1e-5) {
        delta * b * (T::one() + z / T::cast(2.0) + z * z / T::cast(6.0))
    } else {
        z.exp_m1() / a * b
    }
}

/// Zero-order hold of a diagonal continuous system `ẋ = diag(a) x + b u` with step
/// `Δ`: `Ā = exp(Δa)`, `B̄ = (exp(Δa) - 1)/a · b` (`= Δ·b` where `Δa` is 0 or
/// underflows), computed with `expm1` and a series for tiny `Δa`, so that it is
/// accurate for any finite `a` (including `-1e20` and `5e-324`) and any `Δ > 0`.
///
/// ```
/// use effective_state_size::zoh_diagonal;
/// let (a, b) = zoh_diagonal(&[-1.0, 0.0], &[1.0, 2.0], 0.5)?;
/// assert!((a[0] - (-0.5f64).exp()).abs() < 1e-15 && (b[0] - (1.0 - (-0.5f64).exp())).abs() < 1e-15);
/// assert_eq!((a[1], b[1]), (1.0, 1.0));
/// // An unstable mode that overflows is an error, not ∞.
/// assert!(zoh_diagonal(&[800.0], &[1.0], 1.0).is_err());
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
///
/// # Errors
/// Mismatched lengths, non-finite inputs, `Δ ≤ 0`, and a discretised value that
/// overflows (an unstable mode with a large step).
pub fn zoh_diagonal<T: Scalar>(a: &[T], b: &[T], delta: T) -> Result<(Vec<T>, Vec<T>)> {
    crate::validate::check_array("continuous A (diagonal)", a, &[a.len()], &["N"])?;
    crate::validate::check_array("continuous B", b, &[a.len()], &["N"])?;
    check_step(delta)?;
    let abar: Vec<T> = a.iter().map(|&x| (delta * x).exp()).collect();
    let bbar: Vec<T> = a.iter().zip(b).map(|(&x, &y)| zoh_gain(x, y, delta)).collect();
    crate::validate::check_finite("discretised A (overflow: an unstable mode with a large Δ)", &abar, &[a.len()])?;
    crate::validate::check_finite("discretised B (overflow: an unstable mode with a large Δ)", &bbar, &[a.len()])?;
    Ok((abar, bbar))
}

/// Zero-order hold of a dense continuous system `ẋ = A x + B u` with step `Δ`:
/// `[[Ā, B̄], [0, I]] = exp(Δ·[[A, B], [0, 0]])`, valid for singular `A`.
///
/// A diagonal `A` is discretised mode by mode as in [`zoh_diagonal`] (exact at any
/// scale). Otherwise the exponential uses scaling and squaring with a degree-18
/// Taylor polynomial (at most ~2,100 squarings, so any finite `‖AΔ‖` returns
/// promptly). For a non-diagonal `A` whose eigenvalues span many orders of
/// magnitude (stiff systems) the slow modes lose accuracy in the squarings, as in
/// every scaling-and-squaring method: diagonalise first when you can.
///
/// ```
/// use effective_state_size::zoh_discretize;
/// use nalgebra::DMatrix;
/// // Stiff and huge steps are fine for a diagonal A.
/// let (a, b) = zoh_discretize(&DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![-1e20, -1.0])), &DMatrix::from_element(2, 1, 1.0), 1.0)?;
/// assert!((a[(1, 1)] - (-1.0f64).exp()).abs() < 1e-15 && (b[(1, 0)] - (1.0 - (-1.0f64).exp())).abs() < 1e-15);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub fn zoh_discretize<T: Scalar>(a: &DMatrix<T>, b: &DMatrix<T>, delta: T) -> Result<(DMatrix<T>, DMatrix<T>)> {
    let n = a.nrows();
    if a.ncols() != n || b.nrows() != n || n == 0 {
        return Err(EssError::shape(
            "continuous (A, B)",
            "A: (N, N), B: (N, m), N ≥ 1",
            format!("A: {}, B: {}", fmt_shape(&[a.nrows(), a.ncols()]), fmt_shape(&[b.nrows(), b.ncols()])),
        ));
    }
    check_matrix_finite("continuous A", a)?;
    check_matrix_finite("continuous B", b)?;
    check_step(delta)?;
    let m = b.ncols();
    let diagonal = (0..n).all(|r| (0..n).all(|c| r == c || a[(r, c)] == T::zero()));
    let out = if diagonal {
        let abar = DMatrix::from_fn(n, n, |r, c| if r == c { (delta * a[(r, r)]).exp() } else { T::zero() });
        let bbar = DMatrix::from_fn(n, m, |r, c| zoh_gain(a[(r, r)], b[(r, c)], delta));
        (abar, bbar)
    } else {
        let mut big = DMatrix::zeros(n + m, n + m);
        big.view_mut((0, 0), (n, n)).copy_from(&(a * delta));
        big.view_mut((0, n), (n, m)).copy_from(&(b * delta));
        let e = expm(big);
        (e.view((0, 0), (n, n)).into_owned(), e.view((0, n), (n, m)).into_owned())
    };
    check_matrix_finite("discretised A (overflow: an unstable system with a large Δ)", &out.0)?;
    check_matrix_finite("discretised B (overflow: an unstable system with a large Δ)", &out.1)?;
    Ok(out)
}

/// `exp(M)` by scaling and squaring: `M/2^s` with `‖M/2^s‖₁ ≤ 1/2`, a degree-18
/// Taylor polynomial (truncation below `0.5^19/19! ≈ 2e-23`), then `s` squarings.
fn expm<T: Scalar>(m: DMatrix<T>) -> DMatrix<T> {
    let n = m.nrows();
    let norm = (0..n).map(|c| m.column(c).iter().fold(0.0f64, |s, x| s + x.to_f64().abs())).fold(0.0, f64::max);
    // ‖M‖₁ < 2^e, so 2^-(e+1) M has norm below 1/2; e ≤ 1025 for any finite M.
    let s = if norm > 0.5 { (crate::scalar::exponent_of(norm) + 1).max(0) } else { 0 };
    let x = m.map(|v| crate::scalar::ldexp(v, -s));
    let mut term = DMatrix::<T>::identity(n, n);
    let mut sum = DMatrix::<T>::identity(n, n);
    for k in 1..=18 {
        term = &term * &x / T::cast(k as f64);
        sum += &term;
    }
    for _ in 0..s {
        sum = &sum * &sum;
        if !sum.iter().all(|v| v.is_finite_value()) {
            break; // overflow: reported by the caller
        }
    }
    sum
}

fn check_step<T: Scalar>(delta: T) -> Result<()> {
    if !(delta.is_finite_value() && delta > T::zero()) {
        return Err(EssError::param("step Δ", format!("{delta}: the discretisation step must be finite and > 0")));
    }
    Ok(())
}

/// One channel of an LTI system.
#[derive(Debug, Clone, PartialEq)]
struct LtiChannel<T: Scalar> {
    a: Transition<T>,
    b: DMatrix<T>,
    c: DMatrix<T>,
}

/// Linear time-invariant state spaces `(A, B, C)`, one per channel, with dense or
/// diagonal `A` and any block shape `p × m`.
///
/// `T[t,s] = C A^{t-s} B` (post-update convention). TSS: `N`; a controllable and
/// observable system reaches it away from the ends of the sequence, where the
/// singular values of `H_i` approach the classical Hankel singular values.
///
/// ```
/// use effective_state_size::{ess, Dims, LtiStateSpace};
/// // Two channels of a diagonal N = 3 SSM.
/// let a = [0.9, 0.5, -0.3, 0.8, 0.2, 0.6];
/// let b = [1.0; 6];
/// let c = [1.0, -2.0, 0.5, 0.3, 1.0, 1.0];
/// let op = LtiStateSpace::diagonal(&a, &b, &c, Dims { channels: 2, len: 64, width: 3 })?;
/// let p = ess::tolerance(&op, ess::Tolerance::NumericalRank)?;
/// assert_eq!(p.at(0, 32), Some(3.0));
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LtiStateSpace<T: Scalar> {
    channels: Vec<LtiChannel<T>>,
    len: usize,
    block: BlockShape,
    state: usize,
}

impl<T: Scalar> LtiStateSpace<T> {
    /// SISO channels with diagonal `A`: `a`, `b`, `c` are row-major `(channels, N)`,
    /// with `dims = Dims { channels, len: L, width: N }`.
    pub fn diagonal(a: &[T], b: &[T], c: &[T], dims: Dims) -> Result<Self> {
        dims.check("state space", "N")?;
        let (channels, state) = (dims.channels, dims.width);
        let names = ["channels", "N"];
        let a = Array3::new2("A (diagonal)", a, [channels, state], names)?;
        let b = Array3::new2("B", b, [channels, state], names)?;
        let c = Array3::new2("C", c, [channels, state], names)?;
        let row = |x: &Array3<T>, k: usize| x.data()[k * state..(k + 1) * state].to_vec();
        let chans = (0..channels)
            .map(|k| LtiChannel {
                a: Transition::Diagonal(Steps::Constant(DVector::from_vec(row(&a, k)))),
                b: DMatrix::from_vec(state, 1, row(&b, k)),
                c: DMatrix::from_vec(1, state, row(&c, k)),
            })
            .collect();
        Ok(Self { channels: chans, len: dims.len, block: BlockShape::SISO, state })
    }

    /// Channels with dense `A` (`N × N`), `B` (`N × m`), `C` (`p × N`) given as
    /// nalgebra matrices, all channels of the same shape (MIMO when `p` or `m` > 1).
    pub fn from_matrices(systems: Vec<(DMatrix<T>, DMatrix<T>, DMatrix<T>)>, len: usize) -> Result<Self> {
        let (a0, b0, c0) =
            systems.first().ok_or_else(|| EssError::empty("LTI state space", "give at least one (A, B, C)"))?;
        let (n, m, p) = (a0.nrows(), b0.ncols(), c0.nrows());
        Dims { channels: systems.len(), len, width: n }.check("state space", "N")?;
        if m == 0 || p == 0 {
            return Err(EssError::empty("LTI state space", "B needs at least one column and C at least one row"));
        }
        let mut chans = Vec::with_capacity(systems.len());
        for (k, (a, b, c)) in systems.into_iter().enumerate() {
            let exp = format!("A: {}, B: {}, C: {}", fmt_shape(&[n, n]), fmt_shape(&[n, m]), fmt_shape(&[p, n]));
            if a.shape() != (n, n) || b.shape() != (n, m) || c.shape() != (p, n) {
                let got = format!(
                    "A: {}, B: {}, C: {}",
                    fmt_shape(&[a.nrows(), a.ncols()]),
                    fmt_shape(&[b.nrows(), b.ncols()]),
                    fmt_shape(&[c.nrows(), c.ncols()])
                );
                return Err(EssError::shape(format!("(A, B, C) of channel {k}"), exp, got));
            }
            check_matrix_finite(&format!("A of channel {k}"), &a)?;
            check_matrix_finite(&format!("B of channel {k}"), &b)?;
            check_matrix_finite(&format!("C of channel {k}"), &c)?;
            chans.push(LtiChannel { a: Transition::Dense(Steps::Constant(a)), b, c });
        }
        Ok(Self { channels: chans, len, block: BlockShape { outputs: p, inputs: m }, state: n })
    }

    /// Markov parameters `C A^j B` for `j = 0..L`, with `A^j B` kept at one
    /// power-of-two exponent per state, so that a subnormal `B`, a huge `C` or
    /// states of wildly different scales lose no precision on the way (see
    /// `spectrum::gramian::markov_parameters`).
    fn markov(&self, ch: &LtiChannel<T>) -> Vec<DMatrix<T>> {
        crate::spectrum::gramian::markov_parameters(&ch.a, &ch.b, &ch.c, self.len)
    }
}

/// `T` from a function giving the block `T[t,s]` for `t ≥ s`.
fn block_toeplitz_fill<T: Scalar>(len: usize, b: BlockShape, f: impl Fn(usize, usize) -> DMatrix<T>) -> DMatrix<T> {
    let (p, m) = (b.outputs, b.inputs);
    let mut t = DMatrix::zeros(p * len, m * len);
    for tt in 0..len {
        for s in 0..=tt {
            t.view_mut((tt * p, s * m), (p, m)).copy_from(&f(tt, s));
        }
    }
    t
}

impl<T: Scalar> LinearOperator for LtiStateSpace<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        self.channels.len()
    }
    fn block_shape(&self) -> BlockShape {
        self.block
    }
    fn family(&self) -> &'static str {
        "LTI state space"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeInvariant { order: self.state }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let h = self.markov(&self.channels[channel]);
        Ok(Cow::Owned(block_toeplitz_fill(self.len, self.block, |t, s| h[t - s].clone())))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        let ch = &self.channels[channel];
        Realization::from_post_update(
            self.len,
            ch.a.clone(),
            Steps::Constant(ch.b.clone()),
            Steps::Constant(ch.c.clone()),
        )
    }
    /// The recurrence `x_t = A x_{t-1} + B u_t`, `y_t = C x_t`.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let ch = &self.channels[channel];
        let (p, m) = (self.block.outputs, self.block.inputs);
        let mut x = DVector::zeros(self.state);
        for t in 0..self.len {
            x = ch.a.apply(0, &x) + &ch.b * DVector::from_column_slice(&u[t * m..(t + 1) * m]);
            y[t * p..(t + 1) * p].copy_from_slice((&ch.c * &x).as_slice());
        }
        Ok(())
    }
}

/// General time-varying recurrences: per channel and step, dense `A_t` (`N × N`),
/// `B_t` (`N × m`) and `C_t` (`p × N`).
///
/// `T[t,s] = C_t A_t ⋯ A_{s+1} B_s`. TSS: `N`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeVaryingStateSpace<T: Scalar> {
    a: Array3<T>,
    b: Array3<T>,
    c: Array3<T>,
    /// Per channel, the diagonals of its `A_t` (`L·N` values, step after step)
    /// when every `A_t` of the channel has only exact zeros off its diagonal:
    /// found once, when the operator is built.
    diagonals: Vec<Option<Vec<T>>>,
    dims: Dims,
    block: BlockShape,
}

impl<T: Scalar> TimeVaryingStateSpace<T> {
    /// Row-major `a: (channels, L, N, N)`, `b: (channels, L, N, m)`,
    /// `c: (channels, L, p, N)`, with `dims = Dims { channels, len: L, width: N }`
    /// and `block` = `p × m`.
    pub fn new(a: &[T], b: &[T], c: &[T], dims: Dims, block: BlockShape) -> Result<Self> {
        dims.check("state space", "N")?;
        let (p, m) = (block.outputs, block.inputs);
        if p == 0 || m == 0 {
            return Err(EssError::param("block shape", "p and m must be at least 1"));
        }
        let Dims { channels, len, width: n } = dims;
        // Validated as 4-D arrays (for messages), stored as (channels, L, flattened step).
        let a = Array3::new4("A_t", a, [channels, len, n, n], ["channels", "L", "N", "N"])?;
        let diagonals = (0..channels).map(|ch| diagonals_of(a.channel(ch), n)).collect();
        Ok(Self {
            a,
            b: Array3::new4("B_t", b, [channels, len, n, m], ["channels", "L", "N", "m"])?,
            c: Array3::new4("C_t", c, [channels, len, p, n], ["channels", "L", "p", "N"])?,
            diagonals,
            dims,
            block,
        })
    }
    fn a_at(&self, ch: usize, t: usize) -> DMatrix<T> {
        self.a.matrix(ch, t, self.dims.width, self.dims.width)
    }
    fn b_at(&self, ch: usize, t: usize) -> DMatrix<T> {
        self.b.matrix(ch, t, self.dims.width, self.block.inputs)
    }
    fn c_at(&self, ch: usize, t: usize) -> DMatrix<T> {
        self.c.matrix(ch, t, self.block.outputs, self.dims.width)
    }
}

/// The diagonals of the `N × N` matrices stored one after the other in `a`
/// (`N` values per matrix), if all of them have only exact zeros off their
/// diagonals; `None` at the first that does not.
fn diagonals_of<T: Scalar>(a: &[T], n: usize) -> Option<Vec<T>> {
    let mut diag = Vec::with_capacity(a.len() / n.max(1));
    for at in a.chunks_exact(n * n) {
        if !off_diagonal_zero(at, n) {
            return None;
        }
        diag.extend((0..n).map(|j| at[j * (n + 1)]));
    }
    Some(diag)
}

impl<T: Scalar> LinearOperator for TimeVaryingStateSpace<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.dims.len
    }
    fn channels(&self) -> usize {
        self.dims.channels
    }
    fn block_shape(&self) -> BlockShape {
        self.block
    }
    fn family(&self) -> &'static str {
        "time-varying state space"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.dims.width)
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: self.dims.width }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let (p, m, len) = (self.block.outputs, self.block.inputs, self.dims.len);
        let mut t = DMatrix::zeros(p * len, m * len);
        for s in 0..len {
            let mut x = self.b_at(channel, s);
            for tt in s..len {
                if tt > s {
                    x = self.a_at(channel, tt) * x;
                }
                t.view_mut((tt * p, s * m), (p, m)).copy_from(&(self.c_at(channel, tt) * &x));
            }
        }
        Ok(Cow::Owned(t))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        let (len, n, p, m) = (self.dims.len, self.dims.width, self.block.outputs, self.block.inputs);
        let part = |x: &Array3<T>, rows: usize, cols: usize| {
            StepMatrices::from_fn(len, rows, cols, |t, out| x.write_matrix(channel, t, rows, cols, out))
        };
        // A channel whose `A_t` have only exact zeros off their diagonals (found
        // when the operator was built) is handed over as diagonals: the same
        // values, and the structured path takes its `O(N²)`-per-step Givens
        // route without scanning dense matrices.
        let a = match &self.diagonals[channel] {
            Some(diag) => FlatTransition::Diagonal(StepMatrices::from_fn(len, n, 1, |t, out| {
                out.copy_from_slice(&diag[t * n..(t + 1) * n]);
            })),
            None => FlatTransition::Dense(part(&self.a, n, n)),
        };
        Realization::from_flat_post_update(len, a, part(&self.b, n, m), part(&self.c, p, n))
    }
    /// The recurrence `x_t = A_t x_{t-1} + B_t u_t`, `y_t = C_t x_t`.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let (p, m) = (self.block.outputs, self.block.inputs);
        let mut x = DVector::zeros(self.dims.width);
        for t in 0..self.dims.len {
            x = self.a_at(channel, t) * x + self.b_at(channel, t) * DVector::from_column_slice(&u[t * m..(t + 1) * m]);
            y[t * p..(t + 1) * p].copy_from_slice((self.c_at(channel, t) * &x).as_slice());
        }
        Ok(())
    }
}

/// Mamba (S6) selective SSM channels: per channel `d`, a diagonal continuous
/// `A_d` (`N` values, `≤ 0`), a step `Δ_{d,t} ≥ 0`, and input/output vectors `B_t`,
/// `C_t` shared by all channels.
///
/// Discretisation as in Mamba: `A_t = exp(Δ_t A)`, `B̄_t = Δ_t B_t`, so
/// `T[t,s] = Σ_n C_t[n] exp(Δ_t A[n]) ⋯ exp(Δ_{s+1} A[n]) Δ_s B_s[n]`. TSS: `N`.
///
/// In Mamba `A = -exp(A_log)` is negative, so `exp(Δ_t A) ∈ (0, 1]`; a positive `A`
/// (a growing mode) is rejected. `Δ = 0` (after a saturated softplus) skips a step.
///
/// ```
/// use effective_state_size::{ess, Dims, MambaChannels};
/// let dims = Dims { channels: 2, len: 32, width: 4 };
/// let a = [-1.0, -0.5, -0.25, -0.125, -2.0, -1.0, -0.5, -0.25]; // (channels, N)
/// let delta = vec![0.3; 2 * 32];                               // (channels, L)
/// let b: Vec<f64> = (0..32 * 4).map(|j| (j as f64 * 0.7).sin()).collect(); // (L, N)
/// let c: Vec<f64> = (0..32 * 4).map(|j| (j as f64 * 0.3).cos()).collect(); // (L, N)
/// let op = MambaChannels::new(&a, &delta, &b, &c, dims)?;
/// assert!(ess::entropy(&op)?.max() <= 4.0 + 1e-9);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MambaChannels<T: Scalar> {
    a: Array3<T>,
    delta: Array3<T>,
    b: Array3<T>,
    c: Array3<T>,
    dims: Dims,
}

impl<T: Scalar> MambaChannels<T> {
    /// `a: (channels, N)` (continuous, `≤ 0`), `delta: (channels, L)` (`≥ 0`, after
    /// softplus), `b`, `c`: `(L, N)`, all row-major, with
    /// `dims = Dims { channels, len: L, width: N }`.
    pub fn new(a: &[T], delta: &[T], b: &[T], c: &[T], dims: Dims) -> Result<Self> {
        dims.check("Mamba channels", "N")?;
        let Dims { channels, len, width: state } = dims;
        let a = Array3::new2("A (continuous, diagonal)", a, [channels, state], ["channels", "N"])?;
        a.check_range("A (continuous; Mamba's A = -exp(A_log) must be ≤ 0)", f64::NEG_INFINITY, 0.0)?;
        let delta = Array3::new2("Δ", delta, [channels, len], ["channels", "L"])?;
        delta.check_range("Δ (must be ≥ 0, e.g. after softplus)", 0.0, f64::INFINITY)?;
        let b = Array3::new("B_t", b, [1, len, state], ["1", "L", "N"])?;
        let c = Array3::new("C_t", c, [1, len, state], ["1", "L", "N"])?;
        Ok(Self { a, delta, b, c, dims })
    }
    /// `exp(Δ_t A)` of channel `ch` at step `t`, one value per state.
    fn decay(&self, ch: usize, t: usize) -> impl Iterator<Item = T> + '_ {
        let d = self.delta.at(ch, t);
        self.a.channel(ch).iter().map(move |&x| (d * x).exp())
    }
}

impl<T: Scalar> LinearOperator for MambaChannels<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.dims.len
    }
    fn channels(&self) -> usize {
        self.dims.channels
    }
    fn family(&self) -> &'static str {
        "Mamba (S6)"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.dims.width)
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: self.dims.width }
    }
    /// Column by column, multiplying the per-step decays `exp(Δ_t A)` (never
    /// `exp(A·(cumsum))`, which cancels after one huge `Δ`).
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let (len, n) = (self.dims.len, self.dims.width);
        let decays: Vec<Vec<T>> = (0..len).map(|t| self.decay(channel, t).collect()).collect();
        let mut m = DMatrix::zeros(len, len);
        let mut x = vec![T::zero(); n];
        for s in 0..len {
            let ds = self.delta.at(channel, s);
            for (xi, &bi) in x.iter_mut().zip(self.b.row(0, s)) {
                *xi = ds * bi;
            }
            for t in s..len {
                if t > s {
                    for (xi, &a) in x.iter_mut().zip(&decays[t]) {
                        *xi *= a;
                    }
                }
                m[(t, s)] = dot(self.c.row(0, t), &x);
            }
        }
        Ok(Cow::Owned(m))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        let (len, n) = (self.dims.len, self.dims.width);
        let d = |t: usize| self.delta.at(channel, t);
        let a = StepMatrices::from_fn(len, n, 1, |t, out| {
            out.iter_mut().zip(self.decay(channel, t)).for_each(|(o, x)| *o = x);
        });
        let b = StepMatrices::from_fn(len, n, 1, |t, out| {
            let dt = d(t);
            out.iter_mut().zip(self.b.row(0, t)).for_each(|(o, &x)| *o = x * dt);
        });
        let c = StepMatrices::from_fn(len, 1, n, |t, out| out.copy_from_slice(self.c.row(0, t)));
        Realization::from_flat_post_update(len, FlatTransition::Diagonal(a), b, c)
    }
    /// The selective scan `h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t`, `y_t = C_t·h_t`.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let mut h = vec![T::zero(); self.dims.width];
        for (t, yt) in y.iter_mut().enumerate() {
            let (d, b) = (self.delta.at(channel, t), self.b.row(0, t));
            for ((hn, a), &bn) in h.iter_mut().zip(self.decay(channel, t)).zip(b) {
                *hn = a * *hn + d * bn * u[t];
            }
            *yt = dot(self.c.row(0, t), &h);
        }
        Ok(())
    }
}

/// Mamba-2 / SSD heads: a scalar decay `a_t ∈ [0, 1]` per head and step, and
/// `B_t`, `C_t` (`N` values) per head and step.
///
/// `T[t,s] = (a_t a_{t-1} ⋯ a_{s+1}) C_t·B_s`. TSS: `N`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ssd<T: Scalar> {
    a: Array3<T>,
    b: Array3<T>,
    c: Array3<T>,
    dims: Dims,
}

impl<T: Scalar> Ssd<T> {
    /// `a: (heads, L)` in `[0, 1]` (e.g. `exp(Δ_t A)`), `b`, `c`: `(heads, L, N)`,
    /// row-major, with `dims = Dims { channels: heads, len: L, width: N }`.
    pub fn new(a: &[T], b: &[T], c: &[T], dims: Dims) -> Result<Self> {
        dims.check("SSD heads", "N")?;
        let Dims { channels: heads, len, width: state } = dims;
        let a = Array3::new2("decay a_t", a, [heads, len], ["heads", "L"])?;
        a.check_range("decay a_t", 0.0, 1.0)?;
        let names = ["heads", "L", "N"];
        let b = Array3::new("B_t", b, [heads, len, state], names)?;
        let c = Array3::new("C_t", c, [heads, len, state], names)?;
        Ok(Self { a, b, c, dims })
    }
}

impl<T: Scalar> LinearOperator for Ssd<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.dims.len
    }
    fn channels(&self) -> usize {
        self.dims.channels
    }
    fn family(&self) -> &'static str {
        "Mamba-2 (SSD)"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.dims.width)
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: self.dims.width }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let (h, len) = (channel, self.dims.len);
        let mut t = DMatrix::zeros(len, len);
        for s in 0..len {
            let mut decay = T::one();
            for tt in s..len {
                if tt > s {
                    decay *= self.a.at(h, tt);
                }
                t[(tt, s)] = decay * dot(self.c.row(h, tt), self.b.row(h, s));
            }
        }
        Ok(Cow::Owned(t))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        let (h, len, n) = (channel, self.dims.len, self.dims.width);
        let a = StepMatrices::from_fn(len, n, 1, |t, out| out.fill(self.a.at(h, t)));
        let b = StepMatrices::from_fn(len, n, 1, |t, out| out.copy_from_slice(self.b.row(h, t)));
        let c = StepMatrices::from_fn(len, 1, n, |t, out| out.copy_from_slice(self.c.row(h, t)));
        Realization::from_flat_post_update(len, FlatTransition::Diagonal(a), b, c)
    }
    /// The scan `x_t = a_t x_{t-1} + B_t u_t`, `y_t = C_t·x_t`.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let h = channel;
        let mut x = vec![T::zero(); self.dims.width];
        for (t, yt) in y.iter_mut().enumerate() {
            let (a, b) = (self.a.at(h, t), self.b.row(h, t));
            for (xn, &bn) in x.iter_mut().zip(b) {
                *xn = a * *xn + bn * u[t];
            }
            *yt = dot(self.c.row(h, t), &x);
        }
        Ok(())
    }
}
