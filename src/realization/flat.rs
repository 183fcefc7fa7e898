//! Flat storage of per-step matrices: the layout a [`Realization`](super::Realization)
//! keeps its parts in.
//!
//! A time-varying part with `L` steps of `r × c` matrices is one buffer of
//! `L·r·c` values, step `t`'s matrix column-major at `t·r·c`; a constant part
//! is one matrix. One allocation per part instead of one per step: a
//! realization of a Mamba channel at `L = 8192` held about 33,000 small heap
//! blocks before, and building and dropping them was a tenth of the
//! structured path's time on two threads.

use super::Steps;
use crate::scalar::Scalar;
use nalgebra::{DMatrix, DMatrixView, DVector, DVectorView};

/// Parts with at least this many steps are filled in parallel (as
/// [`super::PARALLEL_STEPS`]).
const FILL_PARALLEL: usize = super::PARALLEL_STEPS;

/// Writes the `rows × cols` matrix whose entries are `row_major` row by row
/// into `out` column-major. A row or column vector is one copy (its two
/// layouts coincide).
pub(crate) fn write_row_major<T: Copy>(row_major: &[T], rows: usize, cols: usize, out: &mut [T]) {
    debug_assert!(row_major.len() == rows * cols && out.len() == rows * cols);
    if rows == 1 || cols == 1 {
        out.copy_from_slice(row_major);
    } else {
        for (j, col) in out.chunks_exact_mut(rows).enumerate() {
            col.iter_mut().zip(row_major.iter().skip(j).step_by(cols)).for_each(|(o, &x)| *o = x);
        }
    }
}

/// A borrowed `rows × cols` column-major matrix: one step of a [`StepMatrices`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block<'a, T> {
    rows: usize,
    cols: usize,
    data: &'a [T],
}

impl<'a, T: Scalar> Block<'a, T> {
    /// The block over `data` (`rows·cols` values, column-major).
    pub(crate) fn new(rows: usize, cols: usize, data: &'a [T]) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self { rows, cols, data }
    }
    /// The whole of a matrix.
    pub(crate) fn of(m: &'a DMatrix<T>) -> Self {
        Self::new(m.nrows(), m.ncols(), m.as_slice())
    }
    pub(crate) fn nrows(self) -> usize {
        self.rows
    }
    pub(crate) fn ncols(self) -> usize {
        self.cols
    }
    /// The values, column-major.
    pub(crate) fn as_slice(self) -> &'a [T] {
        self.data
    }
    /// The block as a nalgebra view (no copy).
    pub(crate) fn view(self) -> DMatrixView<'a, T> {
        DMatrixView::from_slice(self.data, self.rows, self.cols)
    }
    /// An owned copy.
    pub(crate) fn to_matrix(self) -> DMatrix<T> {
        DMatrix::from_column_slice(self.rows, self.cols, self.data)
    }
    /// The transpose, owned.
    pub(crate) fn transpose(self) -> DMatrix<T> {
        self.view().transpose()
    }
}

/// Matrices of one shape, one per step (`varying`) or one for all steps,
/// stored contiguously.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepMatrices<T> {
    rows: usize,
    cols: usize,
    /// Number of stored matrices: `L` when varying, 1 when constant.
    stored: usize,
    varying: bool,
    data: Vec<T>,
}

impl<T: Scalar> StepMatrices<T> {
    /// The same matrix at every step.
    pub(crate) fn constant(m: &DMatrix<T>) -> Self {
        Self { rows: m.nrows(), cols: m.ncols(), stored: 1, varying: false, data: m.as_slice().to_vec() }
    }

    /// `len` matrices of `rows × cols`, step `t`'s written by `fill(t, out)`
    /// into its column-major `out` (zeroed first); in parallel on long
    /// sequences (each step is written by one call: the result does not
    /// depend on the thread count).
    pub(crate) fn from_fn<F>(len: usize, rows: usize, cols: usize, fill: F) -> Self
    where
        F: Fn(usize, &mut [T]) + Sync + Send,
    {
        let size = rows * cols;
        let mut data = vec![T::zero(); len * size];
        if size > 0 {
            crate::parallel::for_each_chunk_mut(&mut data, size, FILL_PARALLEL, fill);
        }
        Self { rows, cols, stored: len, varying: true, data }
    }

    /// [`from_fn`](Self::from_fn) with `Some(len)` steps; with `None`, one
    /// matrix for every step, written by `fill(0, out)`.
    pub(crate) fn from_fn_or_constant(
        len: Option<usize>,
        rows: usize,
        cols: usize,
        fill: &(dyn Fn(usize, &mut [T]) + Sync),
    ) -> Self {
        match len {
            Some(len) => Self::from_fn(len, rows, cols, fill),
            None => {
                let mut m = DMatrix::zeros(rows, cols);
                fill(0, m.as_mut_slice());
                Self::constant(&m)
            }
        }
    }

    /// `len` matrices of `rows × cols` whose entries are `row_major` step by
    /// step, each step row by row (`len·rows·cols` values): one buffer, filled
    /// as [`from_fn`](Self::from_fn) fills it.
    pub(crate) fn from_row_major(len: usize, rows: usize, cols: usize, row_major: &[T]) -> Self {
        let size = rows * cols;
        debug_assert_eq!(row_major.len(), len * size);
        Self::from_fn(len, rows, cols, |t, out| write_row_major(&row_major[t * size..(t + 1) * size], rows, cols, out))
    }

    /// `update(t, block_t)` on every stored block, in place (in parallel on
    /// long sequences, as [`from_fn`](Self::from_fn)).
    pub(crate) fn update<F>(&mut self, update: F)
    where
        F: Fn(usize, &mut [T]) + Sync + Send,
    {
        let size = self.rows * self.cols;
        if size > 0 {
            crate::parallel::for_each_chunk_mut(&mut self.data, size, FILL_PARALLEL, update);
        }
    }

    /// The matrices of checked `Steps` (every one `rows × cols`), copied.
    pub(crate) fn from_steps(s: &Steps<DMatrix<T>>, rows: usize, cols: usize) -> Self {
        match s {
            Steps::Constant(m) => Self::constant(m),
            Steps::Varying(v) => Self::from_fn(v.len(), rows, cols, |t, out| out.copy_from_slice(v[t].as_slice())),
        }
    }

    /// Diagonals given as `Steps` of vectors (`n × 1` blocks), copied.
    pub(crate) fn from_vectors(s: &Steps<DVector<T>>, n: usize) -> Self {
        match s {
            Steps::Constant(v) => Self { rows: n, cols: 1, stored: 1, varying: false, data: v.as_slice().to_vec() },
            Steps::Varying(v) => Self::from_fn(v.len(), n, 1, |t, out| out.copy_from_slice(v[t].as_slice())),
        }
    }

    /// `true` when one matrix serves every step.
    pub(crate) fn is_constant(&self) -> bool {
        !self.varying
    }

    /// Number of stored matrices (1 when constant).
    pub(crate) fn stored(&self) -> usize {
        self.stored
    }

    /// The values of step `t`'s matrix, column-major.
    ///
    /// # Panics
    /// If a varying part has no step `t` (constructors check the length).
    pub(crate) fn slice(&self, t: usize) -> &[T] {
        let size = self.rows * self.cols;
        let k = if self.varying { t } else { 0 };
        &self.data[k * size..(k + 1) * size]
    }

    /// Step `t`'s matrix.
    pub(crate) fn at(&self, t: usize) -> Block<'_, T> {
        Block::new(self.rows, self.cols, self.slice(t))
    }

    /// All stored values, step after step.
    pub(crate) fn values(&self) -> &[T] {
        &self.data
    }

    /// Back to `Steps` of owned matrices.
    pub(crate) fn to_steps(&self) -> Steps<DMatrix<T>> {
        if self.varying {
            Steps::Varying((0..self.stored()).map(|t| self.at(t).to_matrix()).collect())
        } else {
            Steps::Constant(self.at(0).to_matrix())
        }
    }

    /// Back to `Steps` of vectors (for `n × 1` blocks: diagonals).
    pub(crate) fn to_vector_steps(&self) -> Steps<DVector<T>> {
        let v = |t: usize| DVector::from_column_slice(self.slice(t));
        if self.varying {
            Steps::Varying((0..self.stored()).map(v).collect())
        } else {
            Steps::Constant(v(0))
        }
    }

    /// Every value mapped by `f` (same shape and layout).
    pub(crate) fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> StepMatrices<U> {
        StepMatrices {
            rows: self.rows,
            cols: self.cols,
            stored: self.stored,
            varying: self.varying,
            data: self.data.iter().map(|&x| f(x)).collect(),
        }
    }
}

/// The transitions `A_t` in flat storage: dense `N × N` blocks, or diagonals
/// (`N × 1` blocks).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FlatTransition<T> {
    /// Dense `A_t`.
    Dense(StepMatrices<T>),
    /// `A_t = diag(a_t)`, the `a_t` stored.
    Diagonal(StepMatrices<T>),
}

impl<T: Scalar> FlatTransition<T> {
    /// Checked transitions, copied (state size `N` read off the first step).
    pub(crate) fn from_transition(a: &super::Transition<T>) -> Self {
        let n = a.state_size();
        match a {
            super::Transition::Dense(s) => FlatTransition::Dense(StepMatrices::from_steps(s, n, n)),
            super::Transition::Diagonal(s) => FlatTransition::Diagonal(StepMatrices::from_vectors(s, n)),
        }
    }
    /// The stored blocks.
    pub(crate) fn steps(&self) -> &StepMatrices<T> {
        match self {
            FlatTransition::Dense(s) | FlatTransition::Diagonal(s) => s,
        }
    }
    /// `A_t`, borrowed.
    pub(crate) fn at(&self, t: usize) -> TransitionStep<'_, T> {
        match self {
            FlatTransition::Dense(s) => TransitionStep::Dense(s.at(t).view()),
            FlatTransition::Diagonal(s) => {
                let a = s.slice(t);
                TransitionStep::Diagonal(DVectorView::from_slice(a, a.len()))
            }
        }
    }
}

/// The transition `A_t` of one step of a [`Realization`](super::Realization),
/// borrowed from its storage ([`Realization::a`](super::Realization::a)).
#[derive(Debug, Clone, Copy)]
pub enum TransitionStep<'a, T: Scalar> {
    /// A dense `N × N` matrix `A_t`.
    Dense(DMatrixView<'a, T>),
    /// A diagonal `A_t = diag(a_t)`: the `N` values `a_t`.
    Diagonal(DVectorView<'a, T>),
}

impl<T: Scalar> TransitionStep<'_, T> {
    /// The state size `N`.
    pub fn state_size(&self) -> usize {
        match self {
            TransitionStep::Dense(a) => a.nrows(),
            TransitionStep::Diagonal(a) => a.len(),
        }
    }
    /// `A_t · x` for a matrix `x` with `N` rows.
    pub fn left_multiply(&self, x: &DMatrix<T>) -> DMatrix<T> {
        match self {
            TransitionStep::Dense(a) => a * x,
            TransitionStep::Diagonal(a) => {
                let mut out = x.clone();
                for mut col in out.column_iter_mut() {
                    col.component_mul_assign(a);
                }
                out
            }
        }
    }
    /// `x ← x·A_t` for the column-major `rows × N` matrix `x` (a diagonal
    /// `A_t` scales `x`'s columns where they are; a dense one replaces `x` by
    /// nalgebra's product).
    pub(crate) fn right_multiply_in_place(&self, x: &mut [T], rows: usize) {
        match self {
            TransitionStep::Dense(a) => {
                let product = DMatrixView::from_slice(x, rows, a.nrows()) * a;
                x.copy_from_slice(product.as_slice());
            }
            TransitionStep::Diagonal(a) => {
                // Column j of the column-major x is one run of `rows` values.
                for (col, &aj) in x.chunks_exact_mut(rows.max(1)).zip(a.iter()) {
                    col.iter_mut().for_each(|v| *v *= aj);
                }
            }
        }
    }
    /// `A_t · x` for a state vector.
    pub fn apply(&self, x: &DVector<T>) -> DVector<T> {
        match self {
            TransitionStep::Dense(a) => a * x,
            TransitionStep::Diagonal(a) => a.component_mul(x),
        }
    }
    /// `A_t` as a dense `N × N` matrix.
    pub fn to_dense(&self) -> DMatrix<T> {
        match self {
            TransitionStep::Dense(a) => a.clone_owned(),
            TransitionStep::Diagonal(a) => DMatrix::from_diagonal(&a.clone_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_major_steps_are_read_row_by_row() {
        // Three steps of a 2 × 3 matrix, a 1 × 3 row and a 3 × 1 column, given
        // row-major: step t's entry (i, j) is 100·t + 10·i + j.
        for (rows, cols) in [(2, 3), (3, 2), (1, 3), (3, 1)] {
            let entry = |t: usize, i: usize, j: usize| (100 * t + 10 * i + j) as f64;
            let row_major: Vec<f64> =
                (0..3).flat_map(|t| (0..rows).flat_map(move |i| (0..cols).map(move |j| entry(t, i, j)))).collect();
            let s = StepMatrices::from_row_major(3, rows, cols, &row_major);
            assert!(!s.is_constant());
            for t in 0..3 {
                assert_eq!(
                    s.at(t).to_matrix(),
                    DMatrix::from_fn(rows, cols, |i, j| entry(t, i, j)),
                    "{rows}×{cols}, step {t}"
                );
            }
        }
    }

    #[test]
    fn steps_are_stored_column_major_one_after_another() {
        // Step t's 2 × 3 matrix has entry (i, j) = 100·t + 10·i + j.
        let entry = |t: usize, i: usize, j: usize| (100 * t + 10 * i + j) as f64;
        let given: Vec<DMatrix<f64>> = (0..4).map(|t| DMatrix::from_fn(2, 3, |i, j| entry(t, i, j))).collect();
        let s = StepMatrices::from_steps(&Steps::Varying(given.clone()), 2, 3);
        assert!(!s.is_constant());
        assert_eq!(s.stored(), 4);
        for (t, m) in given.iter().enumerate() {
            assert_eq!(s.at(t).to_matrix(), *m, "step {t}");
            assert_eq!(s.at(t).view(), m.as_view::<nalgebra::Dyn, nalgebra::Dyn, nalgebra::U1, nalgebra::Dyn>());
            assert_eq!(s.at(t).transpose(), m.transpose());
            assert_eq!((s.at(t).nrows(), s.at(t).ncols()), (2, 3));
            // Column-major at t·6: (1, 2) is the last value of the step.
            assert_eq!(s.values()[t * 6 + 5], entry(t, 1, 2));
            assert_eq!(s.values()[t * 6 + 1], entry(t, 1, 0));
        }
        assert_eq!(s.to_steps(), Steps::Varying(given));
        let f = StepMatrices::from_fn(4, 2, 3, |t, out| {
            for j in 0..3 {
                for i in 0..2 {
                    out[j * 2 + i] = entry(t, i, j);
                }
            }
        });
        assert_eq!(f, s);
        let mut g = f.clone();
        g.update(|t, out| out[0] = -(t as f64));
        assert!((0..4).all(|t| g.slice(t)[0] == -(t as f64) && g.slice(t)[1..] == f.slice(t)[1..]));
        let halved = s.map(|x| x as f32 * 0.5);
        assert_eq!(halved.slice(3)[5], (entry(3, 1, 2) * 0.5) as f32);
    }

    #[test]
    fn a_constant_part_serves_every_step() {
        let m = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let s = StepMatrices::constant(&m);
        assert!(s.is_constant());
        assert_eq!(s.stored(), 1);
        for t in [0, 5, 1 << 40] {
            assert_eq!(s.at(t).to_matrix(), m);
        }
        assert_eq!(s.to_steps(), Steps::Constant(m));
        let d = StepMatrices::from_vectors(&Steps::Constant(DVector::from_vec(vec![0.5, -2.0])), 2);
        assert_eq!(d.slice(7), &[0.5, -2.0]);
        assert_eq!(d.to_vector_steps(), Steps::Constant(DVector::from_vec(vec![0.5, -2.0])));
        let v = StepMatrices::from_vectors(
            &Steps::Varying(vec![DVector::from_vec(vec![1.0, 2.0]), DVector::from_vec(vec![3.0, 4.0])]),
            2,
        );
        assert_eq!(v.slice(1), &[3.0, 4.0]);
        assert_eq!(v.stored(), 2);
    }

    #[test]
    fn a_long_fill_is_the_same_on_any_thread_count() {
        // Long enough to be filled in parallel: every step written once, in place.
        let len = 3 * FILL_PARALLEL + 7;
        let s = StepMatrices::<f64>::from_fn(len, 3, 1, |t, out| {
            out.iter_mut().enumerate().for_each(|(i, x)| *x = (t * 3 + i) as f64)
        });
        assert!(s.values().iter().enumerate().all(|(k, &x)| x == k as f64));
        // Empty matrices: nothing to fill, but the steps still count.
        let e = StepMatrices::<f64>::from_fn(5, 0, 3, |_, _| unreachable!("no values"));
        assert!(e.slice(4).is_empty());
        assert_eq!(e.stored(), 5);
        assert_eq!(e.to_steps(), Steps::Varying(vec![DMatrix::zeros(0, 3); 5]));
        let mut e = e;
        e.update(|_, _| unreachable!("no values"));
        assert_eq!(e.stored(), 5);
    }
}
