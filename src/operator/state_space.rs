//! State-space models: LTI `(A, B, C)`, general time-varying recurrences, Mamba (S6)
//! selective channels and Mamba-2 (SSD) heads, plus zero-order-hold discretisation.
//!
//! All use the post-update convention of THEORY.md:
//! `x_t = A_t x_{t-1} + B_t u_t`, `y_t = C_t x_t`, so
//! `T[t,s] = C_t A_t A_{t-1} ⋯ A_{s+1} B_s` and `T[t,t] = C_t B_t`. TSS: `N`.

use super::tensor::{dot, Array3};
use super::{check_channel, check_input, BlockShape, LinearOperator};
use crate::error::{EssError, Result};
use crate::realization::{Realization, Steps, Transition};
use crate::scalar::Scalar;
use crate::validate::{check_matrix_finite, fmt_shape};
use nalgebra::{DMatrix, DVector};

/// Zero-order hold of a diagonal continuous system `ẋ = diag(a) x + b u` with step
/// `Δ`: `Ā = exp(Δa)`, `B̄ = (exp(Δa) - 1)/a · b` (`= Δ·b` where `a = 0`), computed
/// with `expm1` for accuracy at small `Δa`.
///
/// ```
/// use effective_state_size::zoh_diagonal;
/// let (a, b) = zoh_diagonal(&[-1.0, 0.0], &[1.0, 2.0], 0.5)?;
/// assert!((a[0] - (-0.5f64).exp()).abs() < 1e-15 && (b[0] - (1.0 - (-0.5f64).exp())).abs() < 1e-15);
/// assert_eq!((a[1], b[1]), (1.0, 1.0));
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
pub fn zoh_diagonal<T: Scalar>(a: &[T], b: &[T], delta: T) -> Result<(Vec<T>, Vec<T>)> {
    crate::validate::check_array("continuous A (diagonal)", a, &[a.len()], &["N"])?;
    crate::validate::check_array("continuous B", b, &[a.len()], &["N"])?;
    check_step(delta)?;
    let abar = a.iter().map(|&x| (delta * x).exp()).collect();
    let bbar =
        a.iter().zip(b).map(|(&x, &y)| if x == T::zero() { delta * y } else { (delta * x).exp_m1() / x * y }).collect();
    Ok((abar, bbar))
}

/// Zero-order hold of a dense continuous system `ẋ = A x + B u` with step `Δ`:
/// `[[Ā, B̄], [0, I]] = exp(Δ·[[A, B], [0, 0]])`, valid for singular `A`.
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
    let mut big = DMatrix::zeros(n + m, n + m);
    big.view_mut((0, 0), (n, n)).copy_from(&(a * delta));
    big.view_mut((0, n), (n, m)).copy_from(&(b * delta));
    let e = big.exp();
    let out = (e.view((0, 0), (n, n)).into_owned(), e.view((0, n), (n, m)).into_owned());
    check_matrix_finite("discretised A", &out.0)?;
    Ok(out)
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
/// use effective_state_size::{ess, LtiStateSpace};
/// // Two channels of a diagonal N = 3 SSM.
/// let a = [0.9, 0.5, -0.3, 0.8, 0.2, 0.6];
/// let b = [1.0; 6];
/// let c = [1.0, -2.0, 0.5, 0.3, 1.0, 1.0];
/// let op = LtiStateSpace::diagonal(&a, &b, &c, 2, 3, 64)?;
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
    /// SISO channels with diagonal `A`: `a`, `b`, `c` are row-major `(channels, N)`.
    pub fn diagonal(a: &[T], b: &[T], c: &[T], channels: usize, state: usize, len: usize) -> Result<Self> {
        check_sizes(channels, state, len)?;
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
        Ok(Self { channels: chans, len, block: BlockShape::SISO, state })
    }

    /// Channels with dense `A` (`N × N`), `B` (`N × m`), `C` (`p × N`) given as
    /// nalgebra matrices, all channels of the same shape (MIMO when `p` or `m` > 1).
    pub fn from_matrices(systems: Vec<(DMatrix<T>, DMatrix<T>, DMatrix<T>)>, len: usize) -> Result<Self> {
        let (a0, b0, c0) =
            systems.first().ok_or_else(|| EssError::empty("LTI state space", "give at least one (A, B, C)"))?;
        let (n, m, p) = (a0.nrows(), b0.ncols(), c0.nrows());
        check_sizes(systems.len(), n, len)?;
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

    /// Markov parameters `C A^j B` for `j = 0..L`.
    fn markov(&self, ch: &LtiChannel<T>) -> Vec<DMatrix<T>> {
        let mut x = ch.b.clone();
        (0..self.len)
            .map(|_| {
                let h = &ch.c * &x;
                x = ch.a.left_multiply(0, &x);
                h
            })
            .collect()
    }
}

fn check_sizes(channels: usize, state: usize, len: usize) -> Result<()> {
    if channels == 0 || state == 0 || len == 0 {
        return Err(EssError::empty(
            "state space",
            format!("need channels ≥ 1, N ≥ 1 and L ≥ 1 (received channels = {channels}, N = {state}, L = {len})"),
        ));
    }
    Ok(())
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
    fn dense(&self, channel: usize) -> Result<DMatrix<T>> {
        check_channel(self, channel)?;
        super::check_dense_size(self)?;
        let h = self.markov(&self.channels[channel]);
        Ok(block_toeplitz_fill(self.len, self.block, |t, s| h[t - s].clone()))
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization_order(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization(&self, channel: usize) -> Result<Option<Realization<T>>> {
        check_channel(self, channel)?;
        let ch = &self.channels[channel];
        Realization::from_post_update(
            self.len,
            ch.a.clone(),
            Steps::Constant(ch.b.clone()),
            Steps::Constant(ch.c.clone()),
        )
        .map(Some)
    }
    fn apply(&self, channel: usize, u: &[T]) -> Result<Vec<T>> {
        check_channel(self, channel)?;
        check_input(self, u)?;
        let ch = &self.channels[channel];
        let m = self.block.inputs;
        let mut x = DVector::zeros(self.state);
        let mut y = Vec::with_capacity(self.len * self.block.outputs);
        for t in 0..self.len {
            x = ch.a.apply(0, &x) + &ch.b * DVector::from_column_slice(&u[t * m..(t + 1) * m]);
            y.extend_from_slice((&ch.c * &x).as_slice());
        }
        Ok(y)
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
    len: usize,
    state: usize,
    block: BlockShape,
    channels: usize,
}

impl<T: Scalar> TimeVaryingStateSpace<T> {
    /// Row-major `a: (channels, L, N, N)`, `b: (channels, L, N, m)`,
    /// `c: (channels, L, p, N)`.
    pub fn new(
        a: &[T],
        b: &[T],
        c: &[T],
        channels: usize,
        len: usize,
        state: usize,
        block: BlockShape,
    ) -> Result<Self> {
        check_sizes(channels, state, len)?;
        let (p, m) = (block.outputs, block.inputs);
        if p == 0 || m == 0 {
            return Err(EssError::param("block shape", "p and m must be at least 1"));
        }
        // Validated as 4-D arrays (for messages), stored as (channels, L, flattened step).
        Ok(Self {
            a: Array3::new4("A_t", a, [channels, len, state, state], ["channels", "L", "N", "N"])?,
            b: Array3::new4("B_t", b, [channels, len, state, m], ["channels", "L", "N", "m"])?,
            c: Array3::new4("C_t", c, [channels, len, p, state], ["channels", "L", "p", "N"])?,
            len,
            state,
            block,
            channels,
        })
    }
    fn a_at(&self, ch: usize, t: usize) -> DMatrix<T> {
        DMatrix::from_row_slice(self.state, self.state, self.a.row(ch, t))
    }
    fn b_at(&self, ch: usize, t: usize) -> DMatrix<T> {
        DMatrix::from_row_slice(self.state, self.block.inputs, self.b.row(ch, t))
    }
    fn c_at(&self, ch: usize, t: usize) -> DMatrix<T> {
        DMatrix::from_row_slice(self.block.outputs, self.state, self.c.row(ch, t))
    }
}

impl<T: Scalar> LinearOperator for TimeVaryingStateSpace<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn block_shape(&self) -> BlockShape {
        self.block
    }
    fn family(&self) -> &'static str {
        "time-varying state space"
    }
    fn dense(&self, channel: usize) -> Result<DMatrix<T>> {
        check_channel(self, channel)?;
        super::check_dense_size(self)?;
        let (p, m) = (self.block.outputs, self.block.inputs);
        let mut t = DMatrix::zeros(p * self.len, m * self.len);
        for s in 0..self.len {
            let mut x = self.b_at(channel, s);
            for tt in s..self.len {
                if tt > s {
                    x = self.a_at(channel, tt) * x;
                }
                t.view_mut((tt * p, s * m), (p, m)).copy_from(&(self.c_at(channel, tt) * &x));
            }
        }
        Ok(t)
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization_order(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization(&self, channel: usize) -> Result<Option<Realization<T>>> {
        check_channel(self, channel)?;
        let steps = |f: &dyn Fn(usize) -> DMatrix<T>| Steps::Varying((0..self.len).map(f).collect());
        Realization::from_post_update(
            self.len,
            Transition::Dense(steps(&|t| self.a_at(channel, t))),
            steps(&|t| self.b_at(channel, t)),
            steps(&|t| self.c_at(channel, t)),
        )
        .map(Some)
    }
    fn apply(&self, channel: usize, u: &[T]) -> Result<Vec<T>> {
        check_channel(self, channel)?;
        check_input(self, u)?;
        let m = self.block.inputs;
        let mut x = DVector::zeros(self.state);
        let mut y = Vec::with_capacity(self.len * self.block.outputs);
        for t in 0..self.len {
            x = self.a_at(channel, t) * x + self.b_at(channel, t) * DVector::from_column_slice(&u[t * m..(t + 1) * m]);
            y.extend_from_slice((self.c_at(channel, t) * &x).as_slice());
        }
        Ok(y)
    }
}

/// Mamba (S6) selective SSM channels: per channel `d`, a diagonal continuous
/// `A_d` (`N` values), a step `Δ_{d,t} > 0`, and input/output vectors `B_t`, `C_t`
/// shared by all channels.
///
/// Discretisation as in Mamba: `A_t = exp(Δ_t A)`, `B̄_t = Δ_t B_t`, so
/// `T[t,s] = Σ_n C_t[n] exp(A[n]·(Δ_{s+1} + … + Δ_t)) Δ_s B_s[n]`. TSS: `N`.
#[derive(Debug, Clone, PartialEq)]
pub struct MambaChannels<T: Scalar> {
    a: Array3<T>,
    delta: Array3<T>,
    b: Array3<T>,
    c: Array3<T>,
    channels: usize,
    len: usize,
    state: usize,
}

impl<T: Scalar> MambaChannels<T> {
    /// `a: (channels, N)` (continuous, typically negative), `delta: (channels, L)`
    /// (positive, after softplus), `b`, `c`: `(L, N)`, all row-major.
    pub fn new(a: &[T], delta: &[T], b: &[T], c: &[T], channels: usize, len: usize, state: usize) -> Result<Self> {
        check_sizes(channels, state, len)?;
        let a = Array3::new2("A (continuous, diagonal)", a, [channels, state], ["channels", "N"])?;
        let delta = Array3::new2("Δ", delta, [channels, len], ["channels", "L"])?;
        delta.check_range("Δ (must be ≥ 0, e.g. after softplus)", 0.0, f64::INFINITY)?;
        let b = Array3::new("B_t", b, [1, len, state], ["1", "L", "N"])?;
        let c = Array3::new("C_t", c, [1, len, state], ["1", "L", "N"])?;
        Ok(Self { a, delta, b, c, channels, len, state })
    }
    fn a_row(&self, ch: usize) -> &[T] {
        &self.a.data()[ch * self.state..(ch + 1) * self.state]
    }
}

impl<T: Scalar> LinearOperator for MambaChannels<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn family(&self) -> &'static str {
        "Mamba (S6)"
    }
    fn dense(&self, channel: usize) -> Result<DMatrix<T>> {
        check_channel(self, channel)?;
        super::check_dense_size(self)?;
        let a = self.a_row(channel);
        // cum[t] = Δ_0 + … + Δ_t; exponents A[n]·(cum[t] - cum[s]).
        let mut cum = Vec::with_capacity(self.len);
        let mut acc = T::zero();
        for t in 0..self.len {
            acc += self.delta.at(channel, t);
            cum.push(acc);
        }
        Ok(DMatrix::from_fn(self.len, self.len, |t, s| {
            if s > t {
                return T::zero();
            }
            let (ct, bs, ds) = (self.c.row(0, t), self.b.row(0, s), self.delta.at(channel, s));
            (0..self.state).fold(T::zero(), |sum, n| sum + ct[n] * (a[n] * (cum[t] - cum[s])).exp() * ds * bs[n])
        }))
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization_order(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization(&self, channel: usize) -> Result<Option<Realization<T>>> {
        check_channel(self, channel)?;
        let a = self.a_row(channel);
        let d = |t: usize| self.delta.at(channel, t);
        let at =
            (0..self.len).map(|t| DVector::from_iterator(self.state, a.iter().map(|&x| (d(t) * x).exp()))).collect();
        let bt = (0..self.len).map(|t| DMatrix::from_row_slice(self.state, 1, self.b.row(0, t)) * d(t)).collect();
        let ct = (0..self.len).map(|t| DMatrix::from_row_slice(1, self.state, self.c.row(0, t))).collect();
        Realization::from_post_update(
            self.len,
            Transition::Diagonal(Steps::Varying(at)),
            Steps::Varying(bt),
            Steps::Varying(ct),
        )
        .map(Some)
    }
    fn apply(&self, channel: usize, u: &[T]) -> Result<Vec<T>> {
        check_channel(self, channel)?;
        check_input(self, u)?;
        let a = self.a_row(channel);
        let mut h = vec![T::zero(); self.state];
        Ok((0..self.len)
            .map(|t| {
                let (d, b) = (self.delta.at(channel, t), self.b.row(0, t));
                for n in 0..self.state {
                    h[n] = (d * a[n]).exp() * h[n] + d * b[n] * u[t];
                }
                dot(self.c.row(0, t), &h)
            })
            .collect())
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
    heads: usize,
    len: usize,
    state: usize,
}

impl<T: Scalar> Ssd<T> {
    /// `a: (heads, L)` in `[0, 1]` (e.g. `exp(Δ_t A)`), `b`, `c`: `(heads, L, N)`.
    pub fn new(a: &[T], b: &[T], c: &[T], heads: usize, len: usize, state: usize) -> Result<Self> {
        check_sizes(heads, state, len)?;
        let a = Array3::new2("decay a_t", a, [heads, len], ["heads", "L"])?;
        a.check_range("decay a_t", 0.0, 1.0)?;
        let names = ["heads", "L", "N"];
        let b = Array3::new("B_t", b, [heads, len, state], names)?;
        let c = Array3::new("C_t", c, [heads, len, state], names)?;
        Ok(Self { a, b, c, heads, len, state })
    }
}

impl<T: Scalar> LinearOperator for Ssd<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        self.heads
    }
    fn family(&self) -> &'static str {
        "Mamba-2 (SSD)"
    }
    fn dense(&self, channel: usize) -> Result<DMatrix<T>> {
        check_channel(self, channel)?;
        super::check_dense_size(self)?;
        let h = channel;
        let mut t = DMatrix::zeros(self.len, self.len);
        for s in 0..self.len {
            let mut decay = T::one();
            for tt in s..self.len {
                if tt > s {
                    decay *= self.a.at(h, tt);
                }
                t[(tt, s)] = decay * dot(self.c.row(h, tt), self.b.row(h, s));
            }
        }
        Ok(t)
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization_order(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization(&self, channel: usize) -> Result<Option<Realization<T>>> {
        check_channel(self, channel)?;
        let h = channel;
        let at = (0..self.len).map(|t| DVector::from_element(self.state, self.a.at(h, t))).collect();
        let bt = (0..self.len).map(|t| DMatrix::from_row_slice(self.state, 1, self.b.row(h, t))).collect();
        let ct = (0..self.len).map(|t| DMatrix::from_row_slice(1, self.state, self.c.row(h, t))).collect();
        Realization::from_post_update(
            self.len,
            Transition::Diagonal(Steps::Varying(at)),
            Steps::Varying(bt),
            Steps::Varying(ct),
        )
        .map(Some)
    }
    fn apply(&self, channel: usize, u: &[T]) -> Result<Vec<T>> {
        check_channel(self, channel)?;
        check_input(self, u)?;
        let h = channel;
        let mut x = vec![T::zero(); self.state];
        Ok((0..self.len)
            .map(|t| {
                let (a, b) = (self.a.at(h, t), self.b.row(h, t));
                for n in 0..self.state {
                    x[n] = a * x[n] + b[n] * u[t];
                }
                dot(self.c.row(h, t), &x)
            })
            .collect())
    }
}
