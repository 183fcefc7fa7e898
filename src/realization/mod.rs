//! State realizations: the recurrence behind an operator, used by the structured
//! path.
//!
//! A [`Realization`] of one channel is a (possibly time-varying) linear recurrence in
//! the *standard* form, the state read before it is updated:
//!
//! ```text
//! x_0 = 0,   y_t = C_t x_t + D_t u_t,   x_{t+1} = A_t x_t + B_t u_t,
//! T[t,s] = C_t A_{t-1} ⋯ A_{s+1} B_s  (t > s),   T[t,t] = D_t.
//! ```
//!
//! The crate's layers are written in the *post-update* convention of [`crate::theory`] §3
//! (`x_t = Ā_t x_{t-1} + B̄_t u_t`, `y_t = C̄_t x_t`, Mamba's convention). The two are
//! the same operator with `A_t = Ā_t`, `B_t = B̄_t`, `C_t = C̄_t Ā_t`, `D_t = C̄_t B̄_t`
//! ([`Realization::from_post_update`] does the conversion). The standard form makes
//! the Hankel factorisation simplest:
//!
//! ```text
//! H_i = O_i R_i,  O_i = [C_i ; C_{i+1} A_i ; C_{i+2} A_{i+1} A_i ; …]   (p(L-i) × N)
//!                 R_i = [A_{i-1}⋯A_1 B_0 , … , A_{i-1} B_{i-2} , B_{i-1}]  (N × m·i)
//! ```
//!
//! and a state of size `N` (a shift register of `k-1` past inputs for a length-`k`
//! FIR kernel, the `n × n` key-value state for linear attention) bounds every
//! `rank(H_i)` by `N`.

mod batch;
mod steps;
pub(crate) use steps::off_diagonal_zero;

pub use batch::RealizationBatch;
pub use steps::{Steps, Transition};

use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use crate::validate::{all_finite, check_matrix_finite_lazy, fmt_shape};
use nalgebra::{DMatrix, DVector};

/// Sequences at least this long build their per-step matrices in parallel
/// (below it, a plain loop is faster than handing out the work).
pub(crate) const PARALLEL_STEPS: usize = 2048;

/// A state-space realization of one channel of a causal operator (see the module
/// docs for the convention).
///
/// ```
/// use effective_state_size::realization::{Realization, Steps, Transition};
/// use nalgebra::{DMatrix, DVector};
/// // A scalar leaky integrator: T[t,s] = 0.5^(t-s) for t > s.
/// let r = Realization::new(
///     4,
///     Transition::Diagonal(Steps::Constant(DVector::from_element(1, 0.5))),
///     Steps::Constant(DMatrix::from_element(1, 1, 1.0)),
///     Steps::Constant(DMatrix::from_element(1, 1, 1.0)),
/// )?;
/// assert_eq!(r.apply(&[1.0, 0.0, 0.0, 0.0])?, vec![0.0, 1.0, 0.5, 0.25]);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Realization<T: Scalar> {
    len: usize,
    state: usize,
    outputs: usize,
    inputs: usize,
    a: Transition<T>,
    b: Steps<DMatrix<T>>,
    c: Steps<DMatrix<T>>,
    d: Option<Steps<DMatrix<T>>>,
}

impl<T: Scalar> Realization<T> {
    /// A realization of length `len` with state transitions `a` (`N × N`, or the
    /// diagonal as an `N`-vector), input maps `b` (`N × m`) and output maps `c`
    /// (`p × N`), with zero feedthrough `D_t`. Time-varying parts must hold `len`
    /// matrices; `N`, `p`, `m` are read off the matrices.
    ///
    /// # Errors
    /// Shape mismatches between the parts or steps, a wrong number of steps,
    /// non-finite entries, or `len = 0`.
    pub fn new(len: usize, a: Transition<T>, b: Steps<DMatrix<T>>, c: Steps<DMatrix<T>>) -> Result<Self> {
        if len == 0 {
            return Err(EssError::empty("realization", "the sequence length must be at least 1"));
        }
        let (Some(b0), Some(c0)) = (b.first(), c.first()) else {
            return Err(EssError::empty("realization", "a time-varying B_t or C_t needs one matrix per step"));
        };
        if a.is_empty() {
            return Err(EssError::empty("realization", "a time-varying A_t needs one matrix per step"));
        }
        let state = a.state_size();
        let (inputs, outputs) = (b0.ncols(), c0.nrows());
        if inputs == 0 || outputs == 0 {
            return Err(EssError::empty("realization", "B_t must have at least one column and C_t at least one row"));
        }
        a.check(len, state)?;
        b.check("B_t", len, state, inputs)?;
        c.check("C_t", len, outputs, state)?;
        Ok(Self { len, state, outputs, inputs, a, b, c, d: None })
    }

    /// Sets the feedthrough `D_t` (`p × m`), which is `T[t,t]`. It never affects ESS
    /// but makes [`apply`](Self::apply) and [`dense`](Self::dense) the full operator.
    pub fn with_feedthrough(mut self, d: Steps<DMatrix<T>>) -> Result<Self> {
        d.check("D_t", self.len, self.outputs, self.inputs)?;
        self.d = Some(d);
        Ok(self)
    }

    /// Builds the standard form from the post-update convention
    /// `x_t = Ā_t x_{t-1} + B̄_t u_t`, `y_t = C̄_t x_t` (so `T[t,t] = C̄_t B̄_t`):
    /// `C_t = C̄_t Ā_t`, `D_t = C̄_t B̄_t`.
    pub fn from_post_update(
        len: usize,
        a: Transition<T>,
        b: Steps<DMatrix<T>>,
        c_bar: Steps<DMatrix<T>>,
    ) -> Result<Self> {
        // Validate with the given output maps first, then convert (in parallel
        // on long sequences).
        let base = Self::new(len, a, b, c_bar)?;
        let varying = base.c.len().max(base.a.len()).max(base.b.len()) > 1;
        let steps = if varying { len } else { 1 };
        let d = crate::parallel::map_range(steps, PARALLEL_STEPS, |t| product(base.c.at(t), base.b.at(t)));
        // C_t = C̄_t·A_t, in C̄_t's own storage where it has one per step.
        let Self { state, outputs, inputs, a, b, c: c_bar, .. } = base;
        let mut c = match c_bar {
            Steps::Varying(v) => v,
            Steps::Constant(m) => vec![m; steps],
        };
        crate::parallel::for_each_mut(&mut c, PARALLEL_STEPS, |t, ct| a.right_multiply_in_place(t, ct));
        // Finite parts can still overflow here; say so (at the first such step)
        // instead of passing ∞ on.
        let overflow = |t: usize| !(all_finite(c[t].as_slice()) && all_finite(d[t].as_slice()));
        if let Some(t) = crate::parallel::first_index(steps, PARALLEL_STEPS, overflow) {
            check_matrix_finite_lazy(
                || format!("C_t = C̄_t·A_t at step {t} (overflow in the conversion to the standard form)"),
                &c[t],
            )?;
            check_matrix_finite_lazy(|| format!("D_t = C̄_t·B_t = T[t,t] at step {t} (overflow)"), &d[t])?;
        }
        let wrap = |v: Vec<DMatrix<T>>| {
            if varying {
                Steps::Varying(v)
            } else {
                Steps::Constant(v.into_iter().next().expect("one step"))
            }
        };
        Ok(Self { len, state, outputs, inputs, a, b, c: wrap(c), d: Some(wrap(d)) })
    }

    /// `true` when `A`, `B`, `C` and `D` are the same at every step (stored once).
    pub fn is_time_invariant(&self) -> bool {
        self.a.is_constant()
            && self.b.is_constant()
            && self.c.is_constant()
            && self.d.as_ref().is_none_or(Steps::is_constant)
    }

    /// Sequence length `L`.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Always `false`: a realization has at least one step.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// State dimension `N`.
    pub fn state_size(&self) -> usize {
        self.state
    }
    /// Outputs per step `p`.
    pub fn outputs(&self) -> usize {
        self.outputs
    }
    /// Inputs per step `m`.
    pub fn inputs(&self) -> usize {
        self.inputs
    }
    /// The transitions `A_t`.
    pub fn transition(&self) -> &Transition<T> {
        &self.a
    }
    /// `B_t` (`N × m`).
    ///
    /// # Panics
    /// If `t ≥ L` for a time-varying `B`.
    pub fn b(&self, t: usize) -> &DMatrix<T> {
        self.b.at(t)
    }
    /// `C_t` (`p × N`).
    ///
    /// # Panics
    /// If `t ≥ L` for a time-varying `C`.
    pub fn c(&self, t: usize) -> &DMatrix<T> {
        self.c.at(t)
    }

    /// Runs the recurrence on `u` (`m·L` values) and returns `y` (`p·L` values).
    pub fn apply(&self, u: &[T]) -> Result<Vec<T>> {
        crate::validate::check_array("input u", u, &[self.len, self.inputs], &["L", "m"])?;
        let mut x = DVector::<T>::zeros(self.state);
        let mut y = Vec::with_capacity(self.len * self.outputs);
        for t in 0..self.len {
            let ut = DVector::from_column_slice(&u[t * self.inputs..(t + 1) * self.inputs]);
            let mut yt = self.c.at(t) * &x;
            if let Some(d) = &self.d {
                yt += d.at(t) * &ut;
            }
            y.extend_from_slice(yt.as_slice());
            x = self.a.apply(t, &x) + self.b.at(t) * &ut;
        }
        Ok(y)
    }

    /// The dense causal matrix `T` (`p·L × m·L`) this realization produces.
    /// Costs `O(L²·N²)`; meant for checks on small sizes.
    pub fn dense(&self) -> DMatrix<T> {
        let (l, p, m) = (self.len, self.outputs, self.inputs);
        let mut t = DMatrix::zeros(p * l, m * l);
        for s in 0..l {
            if let Some(d) = &self.d {
                t.view_mut((s * p, s * m), (p, m)).copy_from(d.at(s));
            }
            // x_{s+1} column block = B_s, then propagate.
            let mut x = self.b.at(s).clone();
            for tt in s + 1..l {
                t.view_mut((tt * p, s * m), (p, m)).copy_from(&(self.c.at(tt) * &x));
                x = self.a.left_multiply(tt, &x);
            }
        }
        t
    }
}

impl<T: Scalar> Realization<T> {
    /// The feedthrough `D_t` (`p × m`), `None` when it is zero.
    pub fn d(&self, t: usize) -> Option<&DMatrix<T>> {
        self.d.as_ref().map(|d| d.at(t))
    }

    /// The same realization in another scalar type (`f32 → f64` is exact; the
    /// other way rounds to nearest and may overflow, which is reported).
    pub fn cast<U: Scalar>(&self) -> Result<Realization<U>> {
        let m = |x: &DMatrix<T>| x.map(|v| U::cast(v.to_f64()));
        let steps = |s: &Steps<DMatrix<T>>| match s {
            Steps::Constant(x) => Steps::Constant(m(x)),
            Steps::Varying(v) => Steps::Varying(v.iter().map(m).collect()),
        };
        let a = match &self.a {
            Transition::Dense(s) => Transition::Dense(steps(s)),
            Transition::Diagonal(s) => Transition::Diagonal(match s {
                Steps::Constant(x) => Steps::Constant(x.map(|v| U::cast(v.to_f64()))),
                Steps::Varying(v) => Steps::Varying(v.iter().map(|x| x.map(|v| U::cast(v.to_f64()))).collect()),
            }),
        };
        let r = Realization::new(self.len, a, steps(&self.b), steps(&self.c))?;
        match &self.d {
            Some(d) => r.with_feedthrough(steps(d)),
            None => Ok(r),
        }
    }

    /// `z = Tᵀ y` for `y` of `p·L` values, by the adjoint recurrence run backward
    /// (`λ_L = 0`, `z_t = B_tᵀ λ_{t+1} + D_tᵀ y_t`, `λ_t = A_tᵀ λ_{t+1} + C_tᵀ y_t`):
    /// `O(L·N²)`, `T` never formed. Used for power iterations on `T − T_r`.
    pub(crate) fn apply_transpose(&self, y: &[T]) -> Vec<T> {
        let (p, m) = (self.outputs, self.inputs);
        let mut lambda = DVector::<T>::zeros(self.state);
        let mut z = vec![T::zero(); self.len * m];
        for t in (0..self.len).rev() {
            let yt = DVector::from_column_slice(&y[t * p..(t + 1) * p]);
            let mut zt = self.b.at(t).tr_mul(&lambda);
            if let Some(d) = &self.d {
                zt += d.at(t).tr_mul(&yt);
            }
            z[t * m..(t + 1) * m].copy_from_slice(zt.as_slice());
            let at = match &self.a {
                Transition::Dense(s) => s.at(t).tr_mul(&lambda),
                Transition::Diagonal(s) => s.at(t).component_mul(&lambda),
            };
            lambda = at + self.c.at(t).tr_mul(&yt);
        }
        z
    }
}

impl<T: Scalar> crate::operator::LinearOperator for Realization<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        1
    }
    fn block_shape(&self) -> crate::operator::BlockShape {
        crate::operator::BlockShape { outputs: self.outputs, inputs: self.inputs }
    }
    fn family(&self) -> &'static str {
        "realization"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.state)
    }
    fn realization_info(&self) -> crate::operator::RealizationInfo {
        if self.is_time_invariant() {
            crate::operator::RealizationInfo::TimeInvariant { order: self.state }
        } else {
            crate::operator::RealizationInfo::TimeVarying { order: self.state }
        }
    }
    fn dense_kernel(&self, _channel: usize) -> Result<std::borrow::Cow<'_, DMatrix<T>>> {
        Ok(std::borrow::Cow::Owned(self.dense()))
    }
    fn realization_kernel(&self, _channel: usize) -> Result<Realization<T>> {
        Ok(self.clone())
    }
    fn apply_kernel(&self, _channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        y.copy_from_slice(&self.apply(u)?);
        Ok(())
    }
}

impl<T: Scalar> Steps<DMatrix<T>> {
    fn check(&self, what: &str, len: usize, rows: usize, cols: usize) -> Result<()> {
        self.check_len(what, len)?;
        for (t, m) in self.iter().enumerate() {
            if m.shape() != (rows, cols) {
                return Err(EssError::shape(
                    format!("{what} at step {t}"),
                    fmt_shape(&[rows, cols]),
                    fmt_shape(&[m.nrows(), m.ncols()]),
                ));
            }
            check_matrix_finite_lazy(|| format!("{what} at step {t}"), m)?;
        }
        Ok(())
    }
}

/// `x·y` for small matrices, each entry a plain dot product summed from `k = 0`
/// (nalgebra's general product costs more than the arithmetic at these sizes).
fn product<T: Scalar>(x: &DMatrix<T>, y: &DMatrix<T>) -> DMatrix<T> {
    let (rows, inner, cols) = (x.nrows(), x.ncols(), y.ncols());
    debug_assert_eq!(inner, y.nrows());
    let (xs, ys) = (x.as_slice(), y.as_slice());
    let mut out = Vec::with_capacity(rows * cols);
    for yj in ys.chunks_exact(inner.max(1)).take(cols) {
        for i in 0..rows {
            let xi = xs.iter().skip(i).step_by(rows.max(1));
            out.push(xi.zip(yj).fold(T::zero(), |acc, (&a, &b)| acc + a * b));
        }
    }
    out.resize(rows * cols, T::zero()); // inner = 0: x·y = 0
    DMatrix::from_vec(rows, cols, out)
}
