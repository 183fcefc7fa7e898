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
//! Householder QR. Every step then ends with one `N × N` product and SVD for the
//! requested index, which run in parallel: `O(L·N³)` per channel in all. Memory:
//! the realization plus one `N × N` factor per requested index.

use super::{spectrum_of, Spectrum, SvdBackend};
use crate::error::Result;
use crate::realization::{Realization, Transition};
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// An upper-trapezoidal factor `F` (`rows × n`, `rows ≤ n`, row-major): the square
/// root `FᵀF` of a Gramian.
#[derive(Debug, Clone)]
struct Factor<T> {
    n: usize,
    rows: usize,
    data: Vec<T>,
}

impl<T: Scalar> Factor<T> {
    fn empty(n: usize) -> Self {
        Self { n, rows: 0, data: Vec::with_capacity(n * n) }
    }

    fn row(&self, j: usize) -> &[T] {
        &self.data[j * self.n..(j + 1) * self.n]
    }

    /// `F ← F·diag(a)`: keeps `F` upper-trapezoidal.
    fn scale_columns(&mut self, a: &[T]) {
        for row in self.data.chunks_mut(self.n) {
            for (x, &s) in row.iter_mut().zip(a) {
                *x *= s;
            }
        }
    }

    /// `F ← tri([F ; w])` for the rows `w` of a `k × n` matrix, by Givens rotations.
    fn append_rows(&mut self, w: &DMatrix<T>) {
        let n = self.n;
        let mut v = vec![T::zero(); n];
        for r in 0..w.nrows() {
            for (k, x) in v.iter_mut().enumerate() {
                *x = w[(r, k)];
            }
            for j in 0..self.rows.min(n) {
                let x = v[j];
                if x == T::zero() {
                    continue;
                }
                let row = &mut self.data[j * n..(j + 1) * n];
                let d = row[j];
                let rho = d.hypot(x);
                let (c, s) = (d / rho, x / rho);
                row[j] = rho;
                v[j] = T::zero();
                for k in j + 1..n {
                    let (f, g) = (row[k], v[k]);
                    row[k] = c * f + s * g;
                    v[k] = c * g - s * f;
                }
            }
            if self.rows < n {
                self.data.extend_from_slice(&v);
                self.rows += 1;
            }
        }
    }

    /// `tri(S)` by Householder QR, for a general `k × n` stack `S`.
    fn from_stack(s: DMatrix<T>) -> Self {
        let n = s.ncols();
        let r = s.qr().unpack_r();
        let rows = r.nrows();
        let mut data = Vec::with_capacity(rows * n);
        for j in 0..rows {
            data.extend(r.row(j).iter().copied());
        }
        Self { n, rows, data }
    }

    fn to_matrix(&self) -> DMatrix<T> {
        DMatrix::from_row_slice(self.rows, self.n, &self.data)
    }

    /// `tri([F·M ; w])` with `M = A_t` (or `A_tᵀ` when `transpose`).
    fn advance(mut self, a: &Transition<T>, t: usize, transpose: bool, w: &DMatrix<T>) -> Self {
        match a {
            Transition::Diagonal(d) => {
                self.scale_columns(d.at(t).as_slice());
                self.append_rows(w);
                self
            }
            Transition::Dense(m) => {
                let f = self.to_matrix();
                let fa = if transpose { f * m.at(t).transpose() } else { f * m.at(t) };
                let mut s = DMatrix::zeros(fa.nrows() + w.nrows(), self.n);
                s.rows_mut(0, fa.nrows()).copy_from(&fa);
                s.rows_mut(fa.nrows(), w.nrows()).copy_from(w);
                Self::from_stack(s)
            }
        }
    }

    /// The core `F·Gᵀ` of two factors.
    fn core(&self, g: &Factor<T>) -> DMatrix<T> {
        DMatrix::from_fn(self.rows, g.rows, |a, b| {
            self.row(a).iter().zip(g.row(b)).fold(T::zero(), |acc, (&x, &y)| acc + x * y)
        })
    }
}

/// Spectra of `H_i` for each `i` in `indices` (validated, ascending, unique), each
/// reduced by `reduce`. The factor recursions are sequential; the small SVDs of the
/// cores run in parallel.
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
    let (len, p, m, n) = (real.len(), real.outputs(), real.inputs(), real.state_size());
    let hankel_shape = |i: usize| (p * (len - i), m * i);
    let Some(&first) = indices.first() else { return Ok(Vec::new()) };
    if n == 0 {
        return indices
            .iter()
            .map(|&i| Ok(reduce(&spectrum_of(backend, DMatrix::zeros(0, 0), hankel_shape(i))?)))
            .collect();
    }
    let a = real.transition();

    // Backward sweep: observability factors at the requested indices.
    let mut fo: Vec<Option<Factor<T>>> = vec![None; indices.len()];
    let mut slot = indices.len();
    let mut f = Factor::empty(n);
    f.append_rows(real.c(len - 1));
    for i in (first..len).rev() {
        if i < len - 1 {
            f = f.advance(a, i, false, real.c(i));
        }
        if slot > 0 && indices[slot - 1] == i {
            slot -= 1;
            fo[slot] = Some(f.clone());
        }
    }

    // Forward sweep: reachability factors, and the core Fo_i Gr_iᵀ at each index.
    let mut cores = Vec::with_capacity(indices.len());
    let mut g = Factor::empty(n);
    g.append_rows(&real.b(0).transpose());
    let mut next = 0;
    for i in 1..len {
        if i > 1 {
            g = g.advance(a, i - 1, true, &real.b(i - 1).transpose());
        }
        if next < indices.len() && indices[next] == i {
            cores.push((fo[next].take().expect("filled by the backward sweep").core(&g), i));
            next += 1;
            if next == indices.len() {
                break;
            }
        }
    }
    drop(fo);
    crate::parallel::try_map(&cores, |(core, i)| Ok(reduce(&spectrum_of(backend, core.clone(), hankel_shape(*i))?)))
}
