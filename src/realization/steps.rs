//! Per-step parameters that may be constant or vary with time.

use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use crate::validate::check_finite_lazy;
use nalgebra::{DMatrix, DVector};

/// One value per step (`Varying`, `L` of them) or the same value at every step
/// (`Constant`, stored once).
#[derive(Debug, Clone, PartialEq)]
pub enum Steps<M> {
    /// The same value at every step.
    Constant(M),
    /// One value per step `t = 0..L`.
    Varying(Vec<M>),
}

impl<M> Steps<M> {
    /// The value at step `t`.
    ///
    /// # Panics
    /// If a `Varying` sequence has no step `t` (constructors check the length).
    pub fn at(&self, t: usize) -> &M {
        match self {
            Steps::Constant(m) => m,
            Steps::Varying(v) => &v[t],
        }
    }
    /// Number of stored values (1 when constant).
    pub fn len(&self) -> usize {
        match self {
            Steps::Constant(_) => 1,
            Steps::Varying(v) => v.len(),
        }
    }
    /// `true` for a `Varying` sequence with no steps.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The first value, `None` for a `Varying` sequence without steps.
    pub(crate) fn first(&self) -> Option<&M> {
        match self {
            Steps::Constant(m) => Some(m),
            Steps::Varying(v) => v.first(),
        }
    }
    /// `true` for `Constant`.
    pub fn is_constant(&self) -> bool {
        matches!(self, Steps::Constant(_))
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = &M> {
        let s: &[M] = match self {
            Steps::Constant(m) => std::slice::from_ref(m),
            Steps::Varying(v) => v,
        };
        s.iter()
    }
    pub(crate) fn check_len(&self, what: &str, len: usize) -> Result<()> {
        if let Steps::Varying(v) = self {
            if v.len() != len {
                return Err(EssError::shape(
                    format!("{what} (time-varying)"),
                    format!("{len} steps"),
                    format!("{} steps", v.len()),
                ));
            }
        }
        Ok(())
    }
}

/// `true` when the `n × n` matrix `m` (row- or column-major: the test is the
/// same) has only exact zeros off its diagonal. One pass without a branch per
/// entry: in the flat layout the diagonal entries sit `n + 1` apart, so the
/// off-diagonal entries are the runs of `n` values between them, each tested
/// as one block.
pub(crate) fn off_diagonal_zero<T: Scalar>(m: &[T], n: usize) -> bool {
    debug_assert_eq!(m.len(), n * n);
    // m = [d_0, run_0, d_1, run_1, …, d_{n-1}]: n - 1 runs of n entries.
    m.get(1..).unwrap_or(&[]).chunks(n + 1).all(|chunk| {
        let run = &chunk[..chunk.len().min(n)];
        !run.iter().fold(false, |acc, &x| acc | (x != T::zero()))
    })
}

/// The state transitions `A_t`: dense `N × N` matrices, or diagonal ones stored as
/// `N`-vectors so that products cost `O(N)` per column instead of `O(N²)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition<T: Scalar> {
    /// Dense `A_t`.
    Dense(Steps<DMatrix<T>>),
    /// Diagonal `A_t = diag(a_t)`.
    Diagonal(Steps<DVector<T>>),
}

impl<T: Scalar> Transition<T> {
    /// The state size `N` (0 for a time-varying transition without steps, which
    /// [`Realization::new`](super::Realization::new) rejects).
    pub fn state_size(&self) -> usize {
        match self {
            Transition::Dense(s) => s.first().map_or(0, |m| m.nrows()),
            Transition::Diagonal(s) => s.first().map_or(0, |v| v.len()),
        }
    }
    /// `true` when the same `A` is used at every step.
    pub fn is_constant(&self) -> bool {
        match self {
            Transition::Dense(s) => s.is_constant(),
            Transition::Diagonal(s) => s.is_constant(),
        }
    }
    pub(crate) fn len(&self) -> usize {
        match self {
            Transition::Dense(s) => s.len(),
            Transition::Diagonal(s) => s.len(),
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub(crate) fn check(&self, len: usize, n: usize) -> Result<()> {
        match self {
            Transition::Dense(s) => {
                if s.is_empty() {
                    return Err(EssError::empty("A_t", "give one matrix per step"));
                }
                s.check("A_t", len, n, n)
            }
            Transition::Diagonal(s) => {
                if s.is_empty() {
                    return Err(EssError::empty("A_t", "give one diagonal per step"));
                }
                s.check_len("A_t", len)?;
                for (t, v) in s.iter().enumerate() {
                    if v.len() != n {
                        return Err(EssError::shape(
                            format!("diagonal of A_t at step {t}"),
                            format!("({n})"),
                            format!("({})", v.len()),
                        ));
                    }
                    check_finite_lazy(|| format!("diagonal of A_t at step {t}"), v.as_slice(), &[n])?;
                }
                Ok(())
            }
        }
    }
    /// `A_t` at step `t`, borrowed (a dense view or the diagonal's values).
    ///
    /// # Panics
    /// If a time-varying transition has no step `t`.
    pub fn at(&self, t: usize) -> super::TransitionStep<'_, T> {
        match self {
            Transition::Dense(s) => super::TransitionStep::Dense(s.at(t).as_view()),
            Transition::Diagonal(s) => {
                let a = s.at(t).as_slice();
                super::TransitionStep::Diagonal(nalgebra::DVectorView::from_slice(a, a.len()))
            }
        }
    }
    /// `A_t · x` for a matrix `x` with `N` rows.
    pub fn left_multiply(&self, t: usize, x: &DMatrix<T>) -> DMatrix<T> {
        self.at(t).left_multiply(x)
    }
    /// `x · A_t` for a matrix `x` with `N` columns.
    pub fn right_multiply(&self, t: usize, x: &DMatrix<T>) -> DMatrix<T> {
        let mut out = x.clone();
        self.at(t).right_multiply_in_place(out.as_mut_slice(), x.nrows());
        out
    }
    /// `A_t · x` for a state vector.
    pub fn apply(&self, t: usize, x: &DVector<T>) -> DVector<T> {
        self.at(t).apply(x)
    }
}

#[cfg(test)]
mod tests {
    use super::{off_diagonal_zero, Steps, Transition};
    use nalgebra::{DMatrix, DVector};

    #[test]
    fn products_with_a_transition_are_the_matrix_products() {
        // x (2 × 3) · A_t and A_t · y (3 × 2) at step 1, against nalgebra's
        // product with A_t written out as a dense matrix.
        let diag = [DVector::from_vec(vec![1.0, 2.0, 3.0]), DVector::from_vec(vec![0.5, -4.0, 0.25])];
        let dense: Vec<DMatrix<f64>> = diag.iter().map(DMatrix::from_diagonal).collect();
        let x = DMatrix::from_row_slice(2, 3, &[1.0, -2.0, 3.0, 0.5, 7.0, -1.5]);
        let y = x.transpose();
        let expected = (&x * &dense[1], &dense[1] * &y);
        for a in [Transition::Diagonal(Steps::Varying(diag.to_vec())), Transition::Dense(Steps::Varying(dense.clone()))]
        {
            assert_eq!(a.right_multiply(1, &x), expected.0);
            let mut z = x.clone();
            a.at(1).right_multiply_in_place(z.as_mut_slice(), 2);
            assert_eq!(z, expected.0);
            assert_eq!(a.left_multiply(1, &y), expected.1);
        }
    }

    #[test]
    fn off_diagonal_zero_sees_every_off_diagonal_entry_and_ignores_the_diagonal() {
        for n in 1..7 {
            let mut m = vec![0.0f64; n * n];
            for j in 0..n {
                m[j * (n + 1)] = if j % 2 == 0 { 0.0 } else { -3.5 };
            }
            assert!(off_diagonal_zero(&m, n), "n = {n}: diagonal");
            for k in (0..n * n).filter(|k| k % (n + 1) != 0) {
                for v in [1e-300, -0.5, f64::MIN_POSITIVE / 4.0] {
                    m[k] = v;
                    assert!(!off_diagonal_zero(&m, n), "n = {n}: {v} at {k}");
                }
                m[k] = -0.0;
                assert!(off_diagonal_zero(&m, n), "n = {n}: -0 at {k} is zero");
                m[k] = 0.0;
            }
        }
        // Several nonzero entries on the same side of the diagonal of one row
        // (an odd/even count must not cancel).
        let mut m = vec![0.0f64; 16];
        m[12] = 1.0;
        m[13] = 2.0;
        assert!(!off_diagonal_zero(&m, 4), "two left of the diagonal");
        m[12] = 0.0;
        m[13] = 0.0;
        m[1] = 1.0;
        m[2] = -1.0;
        m[3] = 4.0;
        assert!(!off_diagonal_zero(&m, 4), "three right of the diagonal");
        m[3] = 0.0;
        assert!(!off_diagonal_zero(&m, 4), "two right of the diagonal");
    }
}
