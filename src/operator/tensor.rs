//! A validated row-major 3-D array `(channels, L, width)`: the storage of every
//! family's per-step parameters.

use crate::error::Result;
use crate::scalar::Scalar;
use crate::validate::check_array;
use nalgebra::DMatrix;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Array3<T> {
    data: Vec<T>,
    dims: [usize; 3],
}

impl<T: Scalar> Array3<T> {
    /// Validates length and finiteness; `names` labels the axes in messages.
    pub(crate) fn new(what: &str, data: &[T], dims: [usize; 3], names: [&str; 3]) -> Result<Self> {
        check_array(what, data, &dims, &names)?;
        Ok(Self { data: data.to_vec(), dims })
    }
    /// Like [`new`](Self::new) for a 2-D `(channels, L)` array.
    pub(crate) fn new2(what: &str, data: &[T], dims: [usize; 2], names: [&str; 2]) -> Result<Self> {
        check_array(what, data, &dims, &names)?;
        Ok(Self { data: data.to_vec(), dims: [dims[0], dims[1], 1] })
    }
    /// Validates a 4-D `(channels, L, a, b)` array and stores each step's `a × b`
    /// block as one row-major row of width `a·b`.
    pub(crate) fn new4(what: &str, data: &[T], dims: [usize; 4], names: [&str; 4]) -> Result<Self> {
        check_array(what, data, &dims, &names)?;
        Ok(Self { data: data.to_vec(), dims: [dims[0], dims[1], dims[2] * dims[3]] })
    }
    /// Checks every value lies in `[lo, hi]`.
    pub(crate) fn check_range(&self, what: &str, lo: f64, hi: f64) -> Result<()> {
        let dims: Vec<usize> = if self.dims[2] == 1 { self.dims[..2].to_vec() } else { self.dims.to_vec() };
        crate::validate::check_range(what, &self.data, &dims, lo, hi)
    }
    /// The `width` values at `(c, t)`.
    pub(crate) fn row(&self, c: usize, t: usize) -> &[T] {
        let w = self.dims[2];
        let start = (c * self.dims[1] + t) * w;
        &self.data[start..start + w]
    }
    /// The `width` values at `(c, t)` as a `rows × cols` matrix (they are its
    /// entries row by row; `rows · cols = width`). A row or column vector is
    /// one copy: its row-major and column-major layouts are the same.
    pub(crate) fn matrix(&self, c: usize, t: usize, rows: usize, cols: usize) -> DMatrix<T> {
        let row = self.row(c, t);
        if rows == 1 || cols == 1 {
            DMatrix::from_column_slice(rows, cols, row)
        } else {
            DMatrix::from_row_slice(rows, cols, row)
        }
    }
    /// [`matrix`](Self::matrix) written column-major into `out` (`rows · cols`
    /// values) instead of a new matrix.
    pub(crate) fn write_matrix(&self, c: usize, t: usize, rows: usize, cols: usize, out: &mut [T]) {
        crate::realization::write_row_major(self.row(c, t), rows, cols, out);
    }
    /// The scalar at `(c, t)` of a 2-D array.
    pub(crate) fn at(&self, c: usize, t: usize) -> T {
        self.data[c * self.dims[1] + t]
    }
    /// All `L·width` values of channel `c`.
    pub(crate) fn channel(&self, c: usize) -> &[T] {
        let n = self.dims[1] * self.dims[2];
        &self.data[c * n..(c + 1) * n]
    }
    pub(crate) fn width(&self) -> usize {
        self.dims[2]
    }
    pub(crate) fn data(&self) -> &[T] {
        &self.data
    }
}

/// Dot product.
pub(crate) fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::zero(), |acc, (&x, &y)| acc + x * y)
}
