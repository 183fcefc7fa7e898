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
mod flat;
mod steps;
pub(crate) use flat::{write_row_major, Block, FlatTransition, StepMatrices};
pub(crate) use steps::off_diagonal_zero;

pub use batch::RealizationBatch;
pub use flat::TransitionStep;
pub use steps::{Steps, Transition};

use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use crate::validate::{all_finite, check_finite_lazy, check_matrix_finite_lazy, fmt_shape};
use nalgebra::{DMatrix, DMatrixView, DVector};

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
    a: FlatTransition<T>,
    b: StepMatrices<T>,
    c: StepMatrices<T>,
    d: Option<StepMatrices<T>>,
}

impl<T: Scalar> Realization<T> {
    /// A realization of length `len` with state transitions `a` (`N × N`, or the
    /// diagonal as an `N`-vector), input maps `b` (`N × m`) and output maps `c`
    /// (`p × N`), with zero feedthrough `D_t`. Time-varying parts must hold `len`
    /// matrices; `N`, `p`, `m` are read off the matrices. The parts are copied
    /// into the realization's flat storage (one buffer per part).
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
        let a = FlatTransition::from_transition(&a);
        let (b, c) = (StepMatrices::from_steps(&b, state, inputs), StepMatrices::from_steps(&c, outputs, state));
        Ok(Self { len, state, outputs, inputs, a, b, c, d: None })
    }

    /// Sets the feedthrough `D_t` (`p × m`), which is `T[t,t]`. It never affects ESS
    /// but makes [`apply`](Self::apply) and [`dense`](Self::dense) the full operator.
    pub fn with_feedthrough(mut self, d: Steps<DMatrix<T>>) -> Result<Self> {
        d.check("D_t", self.len, self.outputs, self.inputs)?;
        self.d = Some(StepMatrices::from_steps(&d, self.outputs, self.inputs));
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
        // Validate with the given output maps first, then convert.
        let base = Self::new(len, a, b, c_bar)?;
        base.into_standard_form()
    }

    /// [`new`](Self::new) and [`with_feedthrough`](Self::with_feedthrough) on
    /// parts already in flat storage, of the shapes `N × N` (or `N × 1`
    /// diagonals), `N × m`, `p × N` and `p × m`, each constant or with `len`
    /// steps (the callers build them so): no copy. Only finiteness is checked
    /// here; a non-finite entry is named with its part and step.
    pub(crate) fn from_flat(
        len: usize,
        a: FlatTransition<T>,
        b: StepMatrices<T>,
        c: StepMatrices<T>,
        d: Option<StepMatrices<T>>,
    ) -> Result<Self> {
        let (state, inputs, outputs) = (b.at(0).nrows(), b.at(0).ncols(), c.at(0).nrows());
        debug_assert!(len > 0 && inputs > 0 && outputs > 0);
        let a_shape = if matches!(a, FlatTransition::Dense(_)) { (state, state) } else { (state, 1) };
        let parts = [(a.steps(), a_shape), (&b, (state, inputs)), (&c, (outputs, state))];
        for (part, shape) in parts.into_iter().chain(d.iter().map(|d| (d, (outputs, inputs)))) {
            debug_assert!(part.is_constant() || part.stored() == len, "{} steps for L = {len}", part.stored());
            debug_assert_eq!((part.at(0).nrows(), part.at(0).ncols()), shape);
        }
        let r = Self { len, state, outputs, inputs, a, b, c, d };
        r.check_parts_finite()?;
        Ok(r)
    }

    /// [`from_post_update`](Self::from_post_update) on parts already in flat
    /// storage, of the shapes `N × N` (or `N × 1` diagonals), `N × m` and
    /// `p × N`, each constant or with `len` steps (the families build them so).
    /// Only finiteness is checked here; a non-finite entry is named with its
    /// part and step.
    pub(crate) fn from_flat_post_update(
        len: usize,
        a: FlatTransition<T>,
        b: StepMatrices<T>,
        c_bar: StepMatrices<T>,
    ) -> Result<Self> {
        Self::from_flat(len, a, b, c_bar, None)?.into_standard_form()
    }

    /// `C_t ← C_t·A_t` and `D_t = C_t·B_t` (with the given `C_t` = `C̄_t`): the
    /// conversion from the post-update convention, in parallel on long
    /// sequences.
    fn into_standard_form(self) -> Result<Self> {
        let Self { len, state, outputs, inputs, a, b, c: c_bar, .. } = self;
        // Per step when any part has more than one step (a part given per step
        // for a single step counts as constant, as it always did).
        let varying = a.steps().stored().max(b.stored()).max(c_bar.stored()) > 1;
        let steps = if varying { len } else { 1 };
        let make = |rows: usize, cols: usize, f: &(dyn Fn(usize, &mut [T]) + Sync)| {
            StepMatrices::from_fn_or_constant(varying.then_some(steps), rows, cols, f)
        };
        let d = make(outputs, inputs, &|t, out| product_into(c_bar.at(t), b.at(t), out));
        // C_t = C̄_t·A_t, in C̄_t's own storage where it has one per step.
        let c = if !varying || c_bar.is_constant() {
            make(outputs, state, &|t, out| {
                out.copy_from_slice(c_bar.slice(t));
                a.at(t).right_multiply_in_place(out, outputs);
            })
        } else {
            let mut c = c_bar;
            c.update(|t, out| a.at(t).right_multiply_in_place(out, outputs));
            c
        };
        // Finite parts can still overflow here; say so (at the first such step)
        // instead of passing ∞ on.
        if !(all_finite(c.values()) && all_finite(d.values())) {
            let overflow = |t: usize| !(all_finite(c.slice(t)) && all_finite(d.slice(t)));
            if let Some(t) = crate::parallel::first_index(steps, PARALLEL_STEPS, overflow) {
                check_matrix_finite_lazy(
                    || format!("C_t = C̄_t·A_t at step {t} (overflow in the conversion to the standard form)"),
                    &c.at(t).to_matrix(),
                )?;
                check_matrix_finite_lazy(
                    || format!("D_t = C̄_t·B_t = T[t,t] at step {t} (overflow)"),
                    &d.at(t).to_matrix(),
                )?;
            }
        }
        Ok(Self { len, state, outputs, inputs, a, b, c, d: Some(d) })
    }

    /// `true` when `A`, `B`, `C` and `D` are the same at every step (stored once).
    pub fn is_time_invariant(&self) -> bool {
        self.a.steps().is_constant()
            && self.b.is_constant()
            && self.c.is_constant()
            && self.d.as_ref().is_none_or(StepMatrices::is_constant)
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
    /// The transition `A_t` at step `t`: a view of the dense `N × N` matrix, or
    /// of the `N` values of a diagonal one.
    ///
    /// ```
    /// use effective_state_size::realization::{Realization, Steps, Transition, TransitionStep};
    /// use nalgebra::{DMatrix, DVector};
    /// let r = Realization::new(
    ///     3,
    ///     Transition::Diagonal(Steps::Varying((1..=3).map(|k| DVector::from_element(2, 0.5 * k as f64)).collect())),
    ///     Steps::Constant(DMatrix::from_element(2, 1, 1.0)),
    ///     Steps::Constant(DMatrix::from_element(1, 2, 1.0)),
    /// )?;
    /// let TransitionStep::Diagonal(a1) = r.a(1) else { unreachable!() };
    /// assert_eq!(a1.as_slice(), &[1.0, 1.0]);
    /// assert_eq!(r.a(2).to_dense(), DMatrix::from_diagonal_element(2, 2, 1.5));
    /// # Ok::<(), effective_state_size::EssError>(())
    /// ```
    ///
    /// # Panics
    /// If `t ≥ L` for a time-varying `A`.
    pub fn a(&self, t: usize) -> TransitionStep<'_, T> {
        self.a.at(t)
    }
    /// All transitions `A_t` as [`Transition`] (a copy: `O(L·N²)` values, or
    /// `O(L·N)` for diagonal ones; [`a`](Self::a) reads one step in place).
    pub fn to_transition(&self) -> Transition<T> {
        match &self.a {
            FlatTransition::Dense(s) => Transition::Dense(s.to_steps()),
            FlatTransition::Diagonal(s) => Transition::Diagonal(s.to_vector_steps()),
        }
    }
    /// `B_t` (`N × m`), a view into the realization's storage.
    ///
    /// # Panics
    /// If `t ≥ L` for a time-varying `B`.
    pub fn b(&self, t: usize) -> DMatrixView<'_, T> {
        self.b.at(t).view()
    }
    /// `C_t` (`p × N`), a view into the realization's storage.
    ///
    /// # Panics
    /// If `t ≥ L` for a time-varying `C`.
    pub fn c(&self, t: usize) -> DMatrixView<'_, T> {
        self.c.at(t).view()
    }
    /// The feedthrough `D_t` (`p × m`), `None` when it is zero.
    ///
    /// # Panics
    /// If `t ≥ L` for a time-varying `D`.
    pub fn d(&self, t: usize) -> Option<DMatrixView<'_, T>> {
        self.d.as_ref().map(|d| d.at(t).view())
    }

    /// The transitions in flat storage (the structured path reads them).
    pub(crate) fn flat_transition(&self) -> &FlatTransition<T> {
        &self.a
    }
    /// `B_t` as a flat block.
    pub(crate) fn b_block(&self, t: usize) -> Block<'_, T> {
        self.b.at(t)
    }
    /// `C_t` as a flat block.
    pub(crate) fn c_block(&self, t: usize) -> Block<'_, T> {
        self.c.at(t)
    }

    /// Runs the recurrence on `u` (`m·L` values) and returns `y` (`p·L` values).
    pub fn apply(&self, u: &[T]) -> Result<Vec<T>> {
        crate::validate::check_array("input u", u, &[self.len, self.inputs], &["L", "m"])?;
        let mut x = DVector::<T>::zeros(self.state);
        let mut y = Vec::with_capacity(self.len * self.outputs);
        for t in 0..self.len {
            let ut = DVector::from_column_slice(&u[t * self.inputs..(t + 1) * self.inputs]);
            let mut yt = self.c(t) * &x;
            if let Some(d) = self.d(t) {
                yt += d * &ut;
            }
            y.extend_from_slice(yt.as_slice());
            x = self.a(t).apply(&x) + self.b(t) * &ut;
        }
        Ok(y)
    }

    /// The dense causal matrix `T` (`p·L × m·L`) this realization produces.
    /// Costs `O(L²·N²)`; meant for checks on small sizes.
    pub fn dense(&self) -> DMatrix<T> {
        let (l, p, m) = (self.len, self.outputs, self.inputs);
        let mut t = DMatrix::zeros(p * l, m * l);
        for s in 0..l {
            if let Some(d) = self.d(s) {
                t.view_mut((s * p, s * m), (p, m)).copy_from(&d);
            }
            // x_{s+1} column block = B_s, then propagate.
            let mut x = self.b(s).clone_owned();
            for tt in s + 1..l {
                t.view_mut((tt * p, s * m), (p, m)).copy_from(&(self.c(tt) * &x));
                x = self.a(tt).left_multiply(&x);
            }
        }
        t
    }
}

impl<T: Scalar> Realization<T> {
    /// The same realization in another scalar type (`f32 → f64` is exact; the
    /// other way rounds to nearest and may overflow, which is reported).
    pub fn cast<U: Scalar>(&self) -> Result<Realization<U>> {
        let m = |s: &StepMatrices<T>| s.map(|v| U::cast(v.to_f64()));
        let a = match &self.a {
            FlatTransition::Dense(s) => FlatTransition::Dense(m(s)),
            FlatTransition::Diagonal(s) => FlatTransition::Diagonal(m(s)),
        };
        let (b, c, d) = (m(&self.b), m(&self.c), self.d.as_ref().map(m));
        let (len, state, outputs, inputs) = (self.len, self.state, self.outputs, self.inputs);
        let r = Realization { len, state, outputs, inputs, a, b, c, d };
        r.check_parts_finite()?;
        Ok(r)
    }

    /// An error naming the first non-finite entry of any part (its step and
    /// position, as [`new`](Self::new) reports it), if there is one.
    fn check_parts_finite(&self) -> Result<()> {
        let diagonal = matches!(self.a, FlatTransition::Diagonal(_));
        let a_name = if diagonal { "diagonal of A_t" } else { "A_t" };
        let parts = [(self.a.steps(), a_name), (&self.b, "B_t"), (&self.c, "C_t")];
        for (part, what) in parts.into_iter().chain(self.d.iter().map(|d| (d, "D_t"))) {
            if all_finite(part.values()) {
                continue;
            }
            let t = (0..part.stored()).find(|&t| !all_finite(part.slice(t))).unwrap_or(0);
            let block = part.at(t);
            if diagonal && what == a_name {
                check_finite_lazy(|| format!("{what} at step {t}"), block.as_slice(), &[block.nrows()])?;
            } else {
                check_matrix_finite_lazy(|| format!("{what} at step {t}"), &block.to_matrix())?;
            }
        }
        Ok(())
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
            let mut zt = self.b(t).tr_mul(&lambda);
            if let Some(d) = self.d(t) {
                zt += d.tr_mul(&yt);
            }
            z[t * m..(t + 1) * m].copy_from_slice(zt.as_slice());
            let at = match self.a(t) {
                TransitionStep::Dense(a) => a.tr_mul(&lambda),
                TransitionStep::Diagonal(a) => a.component_mul(&lambda),
            };
            lambda = at + self.c(t).tr_mul(&yt);
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

/// `out = x·y` for small matrices (column-major `out`, `x.rows × y.cols`), each
/// entry a plain dot product summed from `k = 0` (nalgebra's general product
/// costs more than the arithmetic at these sizes).
fn product_into<T: Scalar>(x: Block<'_, T>, y: Block<'_, T>, out: &mut [T]) {
    let (rows, inner, cols) = (x.nrows(), x.ncols(), y.ncols());
    debug_assert_eq!(inner, y.nrows());
    debug_assert_eq!(out.len(), rows * cols);
    let (xs, ys) = (x.as_slice(), y.as_slice());
    if inner == 0 {
        out.fill(T::zero()); // x·y = 0
        return;
    }
    for (yj, oj) in ys.chunks_exact(inner).zip(out.chunks_exact_mut(rows.max(1))) {
        for (i, o) in oj.iter_mut().enumerate() {
            let xi = xs.iter().skip(i).step_by(rows.max(1));
            *o = xi.zip(yj).fold(T::zero(), |acc, (&a, &b)| acc + a * b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time-varying `A_t` (diagonal or dense), constant `B` and `C̄`.
    fn parts(len: usize, dense: bool) -> (Transition<f64>, DMatrix<f64>, DMatrix<f64>) {
        let n = 3;
        let diag = |t: usize| DVector::from_fn(n, |j, _| 0.9 - 0.1 * j as f64 + 0.01 * t as f64);
        let a = if dense {
            Transition::Dense(Steps::Varying(
                (0..len)
                    .map(|t| DMatrix::from_fn(n, n, |i, j| if i == j { diag(t)[i] } else { 0.05 * (i + 2 * j) as f64 }))
                    .collect(),
            ))
        } else {
            Transition::Diagonal(Steps::Varying((0..len).map(diag).collect()))
        };
        let b = DMatrix::from_row_slice(n, 2, &[1.0, -0.5, 0.25, 2.0, -1.5, 0.75]);
        let c_bar = DMatrix::from_row_slice(1, n, &[0.5, -1.0, 2.0]);
        (a, b, c_bar)
    }

    #[test]
    fn the_flat_post_update_path_is_the_steps_path() {
        let len = 5;
        for dense in [false, true] {
            let (a, b, c_bar) = parts(len, dense);
            let given = Realization::from_post_update(
                len,
                a.clone(),
                Steps::Constant(b.clone()),
                Steps::Constant(c_bar.clone()),
            )
            .unwrap();
            let flat = Realization::from_flat_post_update(
                len,
                FlatTransition::from_transition(&a),
                StepMatrices::constant(&b),
                StepMatrices::constant(&c_bar),
            )
            .unwrap();
            assert_eq!(flat, given, "dense A: {dense}");
            // A varies, B and C̄ do not: C_t = C̄·A_t and D_t = C̄·B at every step.
            assert!(!flat.is_time_invariant());
            for t in 0..len {
                let at = flat.a(t).to_dense();
                assert_eq!(flat.a(t).state_size(), 3);
                assert_eq!(flat.c(t), &c_bar * &at, "C_{t}, dense A: {dense}");
                assert_eq!(flat.d(t).unwrap(), &c_bar * &b, "D_{t}");
                let x = DMatrix::from_fn(3, 2, |i, j| (i + 3 * j) as f64 - 2.0);
                assert_eq!(flat.a(t).left_multiply(&x), &at * &x, "A_{t}·x");
            }
            assert_eq!(flat.to_transition(), a);
        }
        // A constant dense transition round-trips as one matrix.
        let m = DMatrix::from_row_slice(2, 2, &[0.5, 0.1, -0.2, 0.3]);
        let r = Realization::new(
            4,
            Transition::Dense(Steps::Constant(m.clone())),
            Steps::Constant(DMatrix::from_element(2, 1, 1.0)),
            Steps::Constant(DMatrix::from_element(1, 2, 1.0)),
        )
        .unwrap();
        assert_eq!(r.to_transition(), Transition::Dense(Steps::Constant(m)));
        assert!(r.is_time_invariant());
    }

    #[test]
    fn a_single_step_given_per_step_stays_time_invariant() {
        // L = 1 with C̄ given per step (one matrix): C and D are stored once,
        // so the realization is time-invariant, as it always was.
        let (a, b, c_bar) = parts(1, false);
        let Transition::Diagonal(Steps::Varying(d)) = a else { unreachable!() };
        let a = Transition::Diagonal(Steps::Constant(d[0].clone()));
        let r = Realization::from_post_update(1, a, Steps::Constant(b), Steps::Varying(vec![c_bar])).unwrap();
        assert!(r.is_time_invariant());
    }

    #[test]
    fn non_finite_parts_are_named_with_step_and_position() {
        let len = 4;
        let (a, b, c_bar) = parts(len, false);
        let flat = |a: &Transition<f64>, bt: Vec<DMatrix<f64>>| {
            let bs = StepMatrices::from_fn(len, 3, 2, |t, out| out.copy_from_slice(bt[t].as_slice()));
            Realization::from_flat_post_update(
                len,
                FlatTransition::from_transition(a),
                bs,
                StepMatrices::constant(&c_bar),
            )
        };
        let mut bt = vec![b.clone(); len];
        bt[2][(1, 0)] = f64::INFINITY;
        let err = flat(&a, bt).unwrap_err().to_string();
        assert!(err.contains("B_t at step 2") && err.contains("(1, 0)"), "{err}");
        let Transition::Diagonal(Steps::Varying(mut d)) = a.clone() else { unreachable!() };
        d[3][1] = f64::NAN;
        let err = flat(&Transition::Diagonal(Steps::Varying(d)), vec![b.clone(); len]).unwrap_err().to_string();
        assert!(err.contains("diagonal of A_t at step 3") && err.contains("(1)"), "{err}");
        // A cast that overflows says where.
        let mut bt = vec![b.clone(); len];
        bt[1][(2, 1)] = 1e300;
        let r = Realization::new(len, a, Steps::Varying(bt), Steps::Constant(c_bar.clone())).unwrap();
        let err = r.cast::<f32>().unwrap_err().to_string();
        assert!(err.contains("B_t at step 1") && err.contains("(2, 1)"), "{err}");
        assert!(r.cast::<f64>().is_ok());
    }
}
