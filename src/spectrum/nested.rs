//! Nested Hankel blocks: square triangular factors with the singular values of
//! every requested `H_i`, carried along chains of indices by updates only.
//!
//! # The two chains
//! `H_i = T[i·p.., ..i·m]` has shape `p(L-i) × m·i`. Neighbouring blocks are
//! nested: `H_{i-1}` is `H_i` without its last `m` columns and with `p` more rows
//! on top; `H_{i+1}` is `H_i` without its first `p` rows and with `m` more columns
//! on the right. A square upper-triangular `R` (`r × r`, `r = min(rows, cols)`)
//! with the same Gram matrix as `H_i` has the same singular values, and is
//! carried from one index to the next:
//!
//! * **Columns side** (tall blocks, `p(L-i) ≥ m·i`): `RᵀR = H_iᵀH_i`, so `R` is the
//!   triangular factor of a QR decomposition `H_i = QR`. Going `i → i-1` drops the
//!   last `m` columns — the leading `(r-m) × (r-m)` part of `R` is exact, because
//!   those columns of an upper-triangular `R` vanish below row `r-m` — and adds
//!   `p` rows of `T`, each rotated into `R` by `r` Givens rotations (`O(r²)`).
//!   This chain visits `i` in **descending** order.
//! * **Rows side** (wide blocks, `p(L-i) < m·i`): `RᵀR = H_iH_iᵀ`, so `R` is the
//!   triangular factor of `H_iᵀ = QR` (an LQ decomposition of `H_i`). Going
//!   `i → i+1` drops the first `p` rows of `H_i` — the first `p` columns of `R`;
//!   row rotations (which leave `RᵀR` unchanged) make the remaining columns
//!   triangular again, `O(p·r²)` — and adds `m` columns of `T`, each rotated into
//!   `R` as a new row (`O(r²)`). This chain visits `i` in **ascending** order.
//!
//! Both steps only *add* rows to a least-squares factor and drop coordinates that
//! the triangular structure already separates: nothing is ever subtracted (no
//! downdating, which is unstable), every transformation is orthogonal, and the
//! factor stays backward stable — its singular values are those of `H_i` to
//! within a small multiple of `ε·σ_1·r` per step, like a Householder QR of the
//! block itself. A chain starts with a Householder QR of its first block (after
//! an exact power-of-two rescaling of that block, so that the QR neither
//! overflows nor underflows); Givens rotations use `hypot`, so the updates are
//! safe at any scale too.
//!
//! # Cost
//! Each requested index then needs the SVD of an `r × r` triangular matrix,
//! `8r³/3` flops for the bidiagonalization, instead of the `(L-i) × i` block
//! (`4mn² − 4n³/3`): summed over all `i` this is half the flops of an SVD of every
//! block (and 0.56× LAPACK's choice of QR-first or direct bidiagonalization). The
//! walk costs `O(p·r²)` per step, a fresh QR `2·M·N² − 2N³/3` for an `M × N`
//! block (`M ≥ N`). For sparse index lists (`Indices::Stride`, a single index) each
//! gap is walked or started afresh, whichever costs fewer flops.
//!
//! # Chains and threads
//! The requested indices of each side are split into chains of about equal SVD
//! work (`Σ r³`), four in total for a large profile. The split depends only on
//! `L`, the block shape and the indices — never on the number of threads — so
//! results are bit-for-bit the same on any number of threads. Chains run in
//! parallel (feature `parallel`); each holds one factor (`r_max²` scalars, plus
//! the block of its first fresh QR while that runs) besides the shared `T`, and
//! the visitor's copies of it ([`sweep_factor_pairs`] hands two indices over at
//! a time: up to three copies).

use crate::error::Result;
use crate::operator::BlockShape;
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// Which Gram matrix the factor reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// `RᵀR = H_iᵀH_i`: the coordinates are `H_i`'s columns (global columns
    /// `0..m·i` of `T`); the chain visits `i` in descending order.
    Columns,
    /// `RᵀR = H_iH_iᵀ`: the coordinates are `H_i`'s rows (global rows `p·i..p·L` of
    /// `T`); the chain visits `i` in ascending order.
    Rows,
}

/// The factor of one Hankel block, handed to the visitor of [`sweep_factors_limited`].
#[derive(Debug)]
pub(crate) struct Factor<'a, T: Scalar> {
    /// The Hankel index `i`.
    pub index: usize,
    /// Square `r × r` upper-triangular factor, `r = min(rows, cols)` of `H_i`, with
    /// the singular values of `H_i` (see [`Side`] for its Gram matrix), stored
    /// by rows in the chain's own buffer.
    pub r: Triangular<'a, T>,
    /// Which Gram matrix `r` reproduces.
    pub side: Side,
    /// `r · 2^exponent` has the singular values of `H_i`. Zero unless the
    /// entries of `T` come within a few binades of overflow or underflow, where
    /// the chain carries its factor scaled by `2^-exponent` (exact).
    pub exponent: i32,
}

/// An `r × r` upper-triangular factor `R` stored by rows: `R[k, j]` at
/// `data[k·ld + j]`, zero for `j < k` (the walker never writes there). Read
/// column-major, the same storage is `Rᵀ` (lower triangular) with leading
/// dimension `ld`, which the products of the low-rank method use as it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Triangular<'a, T: Scalar> {
    /// The storage (at least `(r − 1)·ld + r` entries).
    pub data: &'a [T],
    /// Distance between rows, `≥ r`.
    pub ld: usize,
    /// The order.
    pub r: usize,
}

impl<'a, T: Scalar> Triangular<'a, T> {
    /// `R[k, k..r]`, the upper part of row `k`.
    pub(crate) fn row(self, k: usize) -> &'a [T] {
        &self.data[k * self.ld + k..k * self.ld + self.r]
    }

    /// `Rᵀ` (lower triangular) as a column-major view of the storage, no copy.
    pub(crate) fn transpose_view(self) -> nalgebra::DMatrixView<'a, T> {
        nalgebra::DMatrixView::from_slice_with_strides_generic(
            &self.data[..self.len()],
            nalgebra::Dyn(self.r),
            nalgebra::Dyn(self.r),
            nalgebra::U1,
            nalgebra::Dyn(self.ld),
        )
    }

    /// Entries of the storage the factor spans.
    fn len(self) -> usize {
        if self.r == 0 {
            0
        } else {
            (self.r - 1) * self.ld + self.r
        }
    }

    /// `R` as an `r × r` column-major matrix. The transpose runs in tiles of
    /// `TILE` columns: each row of `R` is read `TILE` entries at a time, each
    /// column of the result written in order.
    pub(crate) fn to_matrix(self) -> DMatrix<T> {
        const TILE: usize = 8;
        let (r, ld) = (self.r, self.ld);
        let mut data = vec![T::zero(); r * r];
        for j0 in (0..r).step_by(TILE) {
            let w = TILE.min(r - j0);
            // Rows 0..j0: full tiles of the strictly upper part.
            for k in 0..j0 {
                let src = &self.data[k * ld + j0..k * ld + j0 + w];
                for (c, &x) in src.iter().enumerate() {
                    data[(j0 + c) * r + k] = x;
                }
            }
            // Rows j0..r of the tile's columns: the diagonal block, then zeros.
            for c in 0..w {
                let j = j0 + c;
                let col = &mut data[j * r + j0..(j + 1) * r];
                for (k, v) in col.iter_mut().enumerate() {
                    let row = j0 + k;
                    *v = if row <= j { self.data[row * ld + j] } else { T::zero() };
                }
            }
        }
        DMatrix::from_vec(r, r, data)
    }
}

/// Number of chains a large profile is split into (both sides together).
const CHAINS: f64 = 4.0;

/// Calls `visit(&mut state, factor)` for every requested index; `state` is
/// created with `S::default()` at the start of each chain and carried along it
/// (also across a fresh QR inside a chain: the coordinates keep their meaning).
/// Results are returned in the order of `indices`; an index listed twice is
/// visited twice.
///
/// `indices` must lie in `1..len` (validated by the caller).
#[cfg(test)]
pub(crate) fn sweep_factors<T, S, R, F>(
    t: &DMatrix<T>,
    shape: BlockShape,
    len: usize,
    indices: &[usize],
    visit: &F,
) -> Result<Vec<R>>
where
    T: Scalar,
    S: Default,
    R: Send,
    F: Fn(&mut S, Factor<'_, T>) -> Result<R> + Sync,
{
    sweep_factors_limited(t, shape, len, indices, usize::MAX, visit)
}

/// `sweep_factors` (test builds) with at most `in_flight` chains running at the same time
/// (the memory cap of the planner); the chains and hence the results do not
/// depend on it.
pub(crate) fn sweep_factors_limited<T, S, R, F>(
    t: &DMatrix<T>,
    shape: BlockShape,
    len: usize,
    indices: &[usize],
    in_flight: usize,
    visit: &F,
) -> Result<Vec<R>>
where
    T: Scalar,
    S: Default,
    R: Send,
    F: Fn(&mut S, Factor<'_, T>) -> Result<R> + Sync,
{
    sweep_chains(t, shape, len, indices, in_flight, &|exponent: i32, chain: &Chain| {
        let mut state = S::default();
        let mut out = Vec::with_capacity(chain.visits.iter().map(|v| v.1.len()).sum());
        walk_chain(t, shape, len, exponent, chain, |index, r, positions| {
            for &pos in positions {
                out.push((pos, visit(&mut state, Factor { index, r, side: chain.side, exponent })?));
            }
            Ok(())
        })?;
        Ok(out)
    })
}

/// A copy of the factor of one Hankel block (see [`Factor`]), owned by the
/// visitor of [`sweep_factor_pairs`].
#[derive(Debug)]
pub(crate) struct OwnedFactor<T: Scalar> {
    /// The Hankel index `i`.
    pub index: usize,
    /// Square `r × r` upper-triangular factor with the singular values of `H_i`
    /// times `2^-exponent`.
    pub r: DMatrix<T>,
    /// See [`Factor::exponent`].
    pub exponent: i32,
}

/// [`sweep_factors_limited`] handing the factors over two at a time, so that the
/// visitor can overlap their decompositions: each visit of a chain is paired
/// with the next one (its factor copied while the chain walks on); a chain with
/// an odd number of visits ends with a single factor. `visit(a, b)` returns the
/// results of `a` and, if given, `b`. The pairing depends only on the chains, so
/// the results do not depend on `in_flight` or the number of threads. Besides
/// the walking factor, a chain holds at most three more copies of it: the
/// visible one, the held one and the second one of a pair.
pub(crate) fn sweep_factor_pairs<T, R, F>(
    t: &DMatrix<T>,
    shape: BlockShape,
    len: usize,
    indices: &[usize],
    in_flight: usize,
    visit: &F,
) -> Result<Vec<R>>
where
    T: Scalar,
    R: Send,
    F: Fn(OwnedFactor<T>, Option<OwnedFactor<T>>) -> Result<(R, Option<R>)> + Sync,
{
    sweep_chains(t, shape, len, indices, in_flight, &|exponent: i32, chain: &Chain| {
        let mut out = Vec::with_capacity(chain.visits.iter().map(|v| v.1.len()).sum());
        // The first factor of a pair, and its position in the request.
        let mut held: Option<(OwnedFactor<T>, usize)> = None;
        walk_chain(t, shape, len, exponent, chain, |index, r, positions| {
            for &pos in positions {
                let factor = OwnedFactor { index, r: r.to_matrix(), exponent };
                match held.take() {
                    None => held = Some((factor, pos)),
                    Some((first, first_pos)) => {
                        let (ra, rb) = visit(first, Some(factor))?;
                        out.push((first_pos, ra));
                        out.push((pos, rb.expect("the visitor returns a result for the second factor")));
                    }
                }
            }
            Ok(())
        })?;
        if let Some((factor, pos)) = held {
            out.push((pos, visit(factor, None)?.0));
        }
        Ok(out)
    })
}

/// Walks one chain (given the working exponent) into `(position, result)` pairs.
type ChainRunner<'a, R> = dyn Fn(i32, &Chain) -> Result<Vec<(usize, R)>> + Sync + 'a;

/// Runs `run(exponent, chain)` for every chain of the request (at most
/// `in_flight` at a time) and puts the `(position, result)` pairs in the order
/// of `indices`.
fn sweep_chains<T, R>(
    t: &DMatrix<T>,
    shape: BlockShape,
    len: usize,
    indices: &[usize],
    in_flight: usize,
    run: &ChainRunner<'_, R>,
) -> Result<Vec<R>>
where
    T: Scalar,
    R: Send,
{
    let chains = plan_chains(shape, len, indices);
    let exponent = working_exponent(t);
    let mut slots: Vec<Option<R>> = (0..indices.len()).map(|_| None).collect();
    for group in chains.chunks(in_flight.max(1)) {
        let done = crate::parallel::try_map(group, |chain| run(exponent, chain))?;
        for (pos, value) in done.into_iter().flatten() {
            slots[pos] = Some(value);
        }
    }
    Ok(slots.into_iter().map(|s| s.expect("every position is visited by one chain")).collect())
}

/// The power of two the chains divide `T` by: 0 for ordinary data; the exponent
/// of the largest entry when that is within `2^20` of overflow (rotations and
/// QR may grow entries by `√rows`) or within 60 binades of the subnormal range.
fn working_exponent<T: Scalar>(t: &DMatrix<T>) -> i32 {
    let max = crate::scalar::max_abs(t.as_slice());
    if max == 0.0 {
        return 0;
    }
    let e = crate::scalar::exponent_of(max);
    let (lo, hi) = crate::scalar::normal_exponents::<T>();
    if e > hi - 20 || e < lo + 60 {
        e
    } else {
        0
    }
}

/// One chain: its side and its visits `(index, positions in the request)`, in
/// walking order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chain {
    side: Side,
    visits: Vec<(usize, Vec<usize>)>,
}

/// `true` when `H_i` has at least as many rows as columns (the Columns side).
fn is_tall(shape: BlockShape, len: usize, i: usize) -> bool {
    let (rows, cols) = shape.hankel_shape(len, i);
    rows >= cols
}

/// Flops of the SVD of the factor at `i` (up to a constant): `r³`.
fn svd_work(shape: BlockShape, len: usize, i: usize) -> f64 {
    let (rows, cols) = shape.hankel_shape(len, i);
    (rows.min(cols) as f64).powi(3)
}

/// Splits the requested indices into chains: tall ones descending, wide ones
/// ascending, each side cut into pieces of about equal SVD work.
pub(crate) fn plan_chains(shape: BlockShape, len: usize, indices: &[usize]) -> Vec<Chain> {
    let mut by_index: Vec<(usize, usize)> = indices.iter().enumerate().map(|(pos, &i)| (i, pos)).collect();
    by_index.sort_unstable();
    // Group equal indices.
    let mut unique: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, pos) in by_index {
        match unique.last_mut() {
            Some((j, v)) if *j == i => v.push(pos),
            _ => unique.push((i, vec![pos])),
        }
    }
    let (mut tall, wide): (Vec<_>, Vec<_>) = unique.into_iter().partition(|(i, _)| is_tall(shape, len, *i));
    tall.reverse();
    let total: f64 = tall.iter().chain(wide.iter()).map(|(i, _)| svd_work(shape, len, *i)).sum();
    let target = total / CHAINS;
    let mut chains = Vec::new();
    for (side, list) in [(Side::Columns, tall), (Side::Rows, wide)] {
        if list.is_empty() {
            continue;
        }
        let work: f64 = list.iter().map(|(i, _)| svd_work(shape, len, *i)).sum();
        let pieces = ((work / target.max(1.0)).round() as usize).clamp(1, list.len().div_ceil(8).max(1));
        let per_piece = work / pieces as f64;
        let mut current = Vec::new();
        let mut acc = 0.0;
        let mut made = 1;
        for visit in list {
            let w = svd_work(shape, len, visit.0);
            if made < pieces && !current.is_empty() && acc + w / 2.0 > per_piece * made as f64 {
                chains.push(Chain { side, visits: std::mem::take(&mut current) });
                made += 1;
            }
            acc += w;
            current.push(visit);
        }
        chains.push(Chain { side, visits: current });
    }
    chains
}

/// Walks one chain, calling `on_factor(i, R, positions)` with the square upper
/// triangular factor `R` of each visited `H_i` (and the positions of `i` in the
/// request); stops at the first error.
fn walk_chain<T, G>(
    t: &DMatrix<T>,
    shape: BlockShape,
    len: usize,
    exponent: i32,
    chain: &Chain,
    mut on_factor: G,
) -> Result<()>
where
    T: Scalar,
    G: FnMut(usize, Triangular<'_, T>, &[usize]) -> Result<()>,
{
    let mut walker: Option<Walker<T>> = None;
    for (i, positions) in &chain.visits {
        let i = *i;
        let reuse = match &walker {
            Some(w) => walk_cost(shape, len, chain.side, w.index, i) <= fresh_cost(shape, len, i),
            None => false,
        };
        match (&mut walker, reuse) {
            (Some(w), true) => w.walk_to(t, shape, i),
            _ => {
                // Free the old factor first: a chain holds one factor at a time.
                drop(walker.take());
                walker = Some(Walker::fresh(t, shape, len, chain.side, i, exponent));
            }
        }
        let w = walker.as_ref().expect("set above");
        on_factor(i, w.triangular(), positions)?;
    }
    Ok(())
}

/// Flops of a fresh Householder QR of `H_i` (in its tall orientation).
fn fresh_cost(shape: BlockShape, len: usize, i: usize) -> f64 {
    let (rows, cols) = shape.hankel_shape(len, i);
    let (big, small) = (rows.max(cols) as f64, rows.min(cols) as f64);
    2.0 * big * small * small - 2.0 * small.powi(3) / 3.0 + small * small
}

/// Flops of walking the factor from index `from` to `to` (in the side's
/// direction).
fn walk_cost(shape: BlockShape, len: usize, side: Side, from: usize, to: usize) -> f64 {
    let (p, m) = (shape.outputs as f64, shape.inputs as f64);
    let mut cost = 0.0;
    match side {
        Side::Columns => {
            for j in (to..from).rev() {
                let r = m * j as f64;
                cost += 3.0 * p * r * r;
            }
        }
        Side::Rows => {
            for j in from..to {
                let r = p * (len - j) as f64;
                cost += 3.0 * (p + m) * r * r;
            }
        }
    }
    cost
}

/// The running factor of a chain: `R` stored by rows (row `k` of `R` is
/// contiguous, so rotations between rows are contiguous loops).
struct Walker<T: Scalar> {
    side: Side,
    index: usize,
    /// Current order `r`.
    r: usize,
    /// Leading dimension (the largest order this walker held).
    ld: usize,
    /// `R[k, j]` at `rows[k·ld + j]` for `j ≥ k`; zero for `j < k` (nothing
    /// writes there: `fresh` starts from zeros, `add_row` and the rotations of
    /// `drop_leading` start at the diagonal, its shift writes from `k·ld + k`),
    /// which [`Triangular`] relies on.
    rows: Vec<T>,
    /// Scratch for an incoming row.
    incoming: Vec<T>,
    /// `T` enters divided by `2^exponent` (see [`working_exponent`]).
    exponent: i32,
}

impl<T: Scalar> Walker<T> {
    /// A fresh factor of `H_i · 2^-exponent` by Householder QR.
    fn fresh(t: &DMatrix<T>, shape: BlockShape, len: usize, side: Side, i: usize, exponent: i32) -> Self {
        let (rows, cols) = shape.hankel_shape(len, i);
        let view = t.view((i * shape.outputs, 0), (rows, cols));
        let mut block = match side {
            Side::Columns => view.into_owned(),
            Side::Rows => view.transpose(),
        };
        let r = rows.min(cols);
        let max = crate::scalar::max_abs(block.as_slice());
        let e = crate::scalar::exponent_of(max);
        super::scale_pow2(&mut block, -e);
        // Unblocked: the dense path's results are bitwise the same on every machine.
        super::householder::factorize_in_place_unblocked(&mut block);
        let mut factor = super::householder::r_of(&block);
        super::scale_pow2(&mut factor, e - exponent);
        let mut rows_buf = vec![T::zero(); r * r];
        for k in 0..r {
            for j in k..r {
                rows_buf[k * r + j] = factor[(k, j)];
            }
        }
        Walker { side, index: i, r, ld: r, rows: rows_buf, incoming: vec![T::zero(); r], exponent }
    }

    /// Moves the factor to index `to` (below the current one on the Columns side,
    /// above it on the Rows side).
    fn walk_to(&mut self, t: &DMatrix<T>, shape: BlockShape, to: usize) {
        let (p, m) = (shape.outputs, shape.inputs);
        match self.side {
            Side::Columns => {
                debug_assert!(to <= self.index);
                while self.index > to {
                    let j = self.index - 1;
                    // Drop the last m columns: the leading block stays triangular.
                    self.r -= m;
                    // Add the p rows of T at global rows p·j..p·j+p, columns 0..m·j.
                    for row in (p * j..p * j + p).rev() {
                        for c in 0..self.r {
                            self.incoming[c] = t[(row, c)];
                        }
                        self.add_row();
                    }
                    self.index = j;
                }
            }
            Side::Rows => {
                debug_assert!(to >= self.index);
                while self.index < to {
                    let j = self.index;
                    self.drop_leading(p);
                    // Add the m columns of T at global columns m·j..m·j+m, rows p·(j+1)..
                    let start = p * (j + 1);
                    for col in m * j..m * j + m {
                        let from = col * t.nrows() + start;
                        self.incoming[..self.r].copy_from_slice(&t.as_slice()[from..from + self.r]);
                        self.add_row();
                    }
                    self.index = j + 1;
                }
            }
        }
    }

    /// Rotates `incoming[..r]` (times `2^-exponent`) into `R` as one more row
    /// (`RᵀR += wwᵀ`).
    fn add_row(&mut self) {
        let (r, ld) = (self.r, self.ld);
        if self.exponent != 0 {
            for x in self.incoming[..r].iter_mut() {
                *x = crate::scalar::ldexp(*x, -self.exponent);
            }
        }
        for k in 0..r {
            let b = self.incoming[k];
            if b == T::zero() {
                continue;
            }
            let row = &mut self.rows[k * ld + k..k * ld + r];
            let a = row[0];
            let h = a.hypot(b);
            let (c, s) = (a / h, b / h);
            row[0] = h;
            rotate(&mut row[1..], &mut self.incoming[k + 1..r], c, s);
        }
    }

    /// Drops the first `q` coordinates (columns of `R`) and makes the rest
    /// triangular again by row rotations; the order shrinks by `q`.
    fn drop_leading(&mut self, q: usize) {
        let (r, ld) = (self.r, self.ld);
        let q = q.min(r);
        for j in 0..r - q {
            let col = j + q;
            for d in 1..=q {
                let other = j + d;
                let b = self.rows[other * ld + col];
                if b == T::zero() {
                    continue;
                }
                let a = self.rows[j * ld + col];
                let h = a.hypot(b);
                let (c, s) = (a / h, b / h);
                let (head, tail) = self.rows.split_at_mut(other * ld);
                let top = &mut head[j * ld + col..j * ld + r];
                let bottom = &mut tail[col..r];
                top[0] = h;
                bottom[0] = T::zero();
                rotate(&mut top[1..], &mut bottom[1..], c, s);
            }
        }
        // Shift the coordinates: new R[k, j] = old R[k, j + q].
        for k in 0..r - q {
            self.rows.copy_within(k * ld + k + q..k * ld + r, k * ld + k);
        }
        self.r = r - q;
    }

    /// The current factor, read in place.
    fn triangular(&self) -> Triangular<'_, T> {
        Triangular { data: &self.rows, ld: self.ld, r: self.r }
    }
}

/// `(x, y) ← (c·x + s·y, −s·x + c·y)` elementwise.
#[inline]
fn rotate<T: Scalar>(x: &mut [T], y: &mut [T], c: T, s: T) {
    for (a, b) in x.iter_mut().zip(y.iter_mut()) {
        let (u, v) = (*a, *b);
        *a = c * u + s * v;
        *b = c * v - s * u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The restart rule's cost model by hand: a fresh Householder QR of an
    /// `m × n` block (`m ≥ n`) costs `2mn² − 2n³/3` flops (Golub & Van Loan),
    /// plus `n²` to copy its factor; a step of the walk rotates the incoming rows
    /// into an `r × r` factor at `3r²` flops per row (`p` rows, or `p + m` when
    /// the walk also drops a block row).
    #[test]
    fn cost_model_by_hand() {
        let siso = BlockShape::SISO;
        // L = 10: H_4 is 6 × 4, H_7 is 3 × 7 (tall orientation 7 × 3).
        assert!((fresh_cost(siso, 10, 4) - (192.0 - 128.0 / 3.0 + 16.0)).abs() < 1e-9);
        assert!((fresh_cost(siso, 10, 7) - (126.0 - 18.0 + 9.0)).abs() < 1e-9);
        // p = 2, m = 3, L = 5, i = 2: H_2 is 6 × 6.
        let mimo = BlockShape { outputs: 2, inputs: 3 };
        assert!((fresh_cost(mimo, 5, 2) - (432.0 - 144.0 + 36.0)).abs() < 1e-9);
        // Columns side, 6 → 4: steps at j = 5 and 4, r = m·j.
        assert_eq!(walk_cost(siso, 10, Side::Columns, 6, 4), 3.0 * 25.0 + 3.0 * 16.0);
        assert_eq!(walk_cost(mimo, 5, Side::Columns, 2, 1), 3.0 * 2.0 * 9.0);
        // Rows side, 2 → 4: steps at j = 2 and 3, r = p·(L − j).
        assert_eq!(walk_cost(siso, 10, Side::Rows, 2, 4), 6.0 * 64.0 + 6.0 * 49.0);
        assert_eq!(walk_cost(mimo, 5, Side::Rows, 3, 4), 3.0 * 5.0 * 16.0);
    }

    fn random_causal(len: usize, b: BlockShape, seed: u64) -> DMatrix<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let (p, m) = (b.outputs, b.inputs);
        DMatrix::from_fn(p * len, m * len, |r, c| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if c / m <= r / p {
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            } else {
                0.0
            }
        })
    }

    fn values(mut m: DMatrix<f64>) -> Vec<f64> {
        let max = m.amax();
        if max > 0.0 {
            m /= max;
        }
        let mut s: Vec<f64> = m.singular_values().iter().map(|v| v * max).collect();
        s.sort_by(|a, b| b.partial_cmp(a).unwrap());
        s
    }

    #[test]
    fn factors_have_the_singular_values_of_every_block() {
        for (p, m, len) in [(1, 1, 17), (2, 1, 13), (1, 3, 11), (2, 3, 9)] {
            let b = BlockShape { outputs: p, inputs: m };
            let t = random_causal(len, b, 3);
            let indices: Vec<usize> = (1..len).collect();
            let got = sweep_factors(&t, b, len, &indices, &|_: &mut (), f: Factor<'_, f64>| {
                let (rows, cols) = b.hankel_shape(len, f.index);
                let r = f.r.to_matrix();
                assert_eq!(r.shape(), (rows.min(cols), rows.min(cols)));
                assert_eq!(f.side, if rows >= cols { Side::Columns } else { Side::Rows });
                // The storage is zero left of the diagonal (read there as Rᵀ's upper part).
                let (ld, order) = (f.r.ld, f.r.r);
                assert!((0..order).all(|k| (0..k).all(|j| f.r.data[k * ld + j] == 0.0)), "i = {}", f.index);
                assert_eq!(f.r.transpose_view(), r.transpose());
                assert!((0..order)
                    .all(|k| f.r.row(k) == r.view((k, k), (1, order - k)).iter().copied().collect::<Vec<_>>()));
                Ok((f.index, values(r)))
            })
            .unwrap();
            for (pos, (i, s)) in got.into_iter().enumerate() {
                assert_eq!(i, indices[pos]);
                let (rows, cols) = b.hankel_shape(len, i);
                let want = values(t.view((i * p, 0), (rows, cols)).into_owned());
                for (x, y) in s.iter().zip(&want) {
                    assert!((x - y).abs() <= 64.0 * f64::EPSILON * want[0], "p={p} m={m} i={i}: {s:?} vs {want:?}");
                }
            }
        }
    }

    /// The tiled transpose writes exactly `R` (zeros below the diagonal), at
    /// orders around the tile width (8) among others, with arbitrary values
    /// left of the diagonal and outside the `r × r` window (storage the copy
    /// must not read; the walker itself keeps the former zero).
    #[test]
    fn the_factor_is_written_out_exactly() {
        for r in [17usize, 16, 9, 8, 7, 1, 3, 24, 24] {
            let ld = r + 2;
            let rows: Vec<f64> = (0..ld * ld).map(|n| (n as f64 * 0.37).sin() + 2.0).collect();
            let out = Triangular { data: &rows, ld, r }.to_matrix();
            let want = DMatrix::from_fn(r, r, |k, j| if k <= j { rows[k * ld + j] } else { 0.0 });
            assert_eq!(out, want, "r = {r}");
        }
    }

    #[test]
    fn chains_cover_every_position_once_and_walk_in_order() {
        let b = BlockShape { outputs: 1, inputs: 2 };
        for indices in [vec![5usize], (1..200).collect(), vec![3, 1, 3, 150, 7], (1..200).step_by(16).collect()] {
            let chains = plan_chains(b, 200, &indices);
            let mut seen: Vec<usize> = chains.iter().flat_map(|c| c.visits.iter().flat_map(|v| v.1.clone())).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..indices.len()).collect::<Vec<_>>());
            for c in &chains {
                let order: Vec<usize> = c.visits.iter().map(|v| v.0).collect();
                let mut sorted = order.clone();
                sorted.sort_unstable();
                if c.side == Side::Columns {
                    sorted.reverse();
                }
                assert_eq!(order, sorted);
            }
            assert!(chains.len() <= 5);
        }
        // The full profile is cut into about four chains of about equal SVD
        // work, the work of an index being r³ for the factor's order
        // r = min(p(L-i), m·i): each chain within a factor 2 of the mean.
        let chains = plan_chains(b, 200, &(1..200).collect::<Vec<_>>());
        assert!((3..=5).contains(&chains.len()), "{} chains", chains.len());
        let work: Vec<f64> = chains
            .iter()
            .map(|c| c.visits.iter().map(|v| (((200 - v.0) as f64).min(2.0 * v.0 as f64)).powi(3)).sum())
            .collect();
        let mean = work.iter().sum::<f64>() / work.len() as f64;
        assert!(work.iter().all(|&w| w <= 2.0 * mean && w >= 0.5 * mean), "{work:?}");
    }
}
