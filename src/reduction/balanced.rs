//! Square-root balanced truncation of a realization, time-varying and on the
//! finite horizon, from the Gramian factors of the structured path.
//!
//! At every cut `i` the structured path provides `Fo_i`, `Gr_i` with
//! `Fo_iᵀFo_i = O_iᵀO_i` and `Gr_iᵀGr_i = R_iR_iᵀ`, and the core
//! `Fo_i Gr_iᵀ = U Σ Vᵀ` whose singular values are those of `H_i`. Keeping
//! `k_i = min(r, numerical rank)` of them,
//!
//! ```text
//! W_i = Σ_k^{-1/2} U_kᵀ Fo_i   (k_i × N),    V_i = Gr_iᵀ V_k Σ_k^{-1/2}   (N × k_i),   W_i V_i = I
//! Â_t = W_{t+1} A_t V_t,   B̂_t = W_{t+1} B_t,   Ĉ_t = C_t V_t,   D̂_t = D_t
//! ```
//!
//! (no state at the cuts `0` and `L`). Each factor is `F̃·diag(2^e)` with one
//! exponent per state (see [`crate::spectrum`]'s Gramian module), and the core is
//! `core·2^c`; `Σ^{-1/2}` takes `2^{-c/2}`, which is folded into the per-state
//! exponents before anything is multiplied, so that states of wildly different
//! scales meet only in products whose result is representable. Cost: the sweeps
//! plus one `N × N` SVD and a few `N × N` products per step, `O(L·N³)`; memory
//! `O(L·N²)` for the observability factors. `T` is never formed.

use super::certificate::Accumulator;
use super::svd::svd;
use crate::error::Result;
use crate::realization::{Realization, Steps, Transition, TransitionStep};
use crate::scalar::ldexp;
use nalgebra::DMatrix;

/// One side of the projection at a cut: `W_i = w·diag(2^w_exp)` and
/// `V_i = diag(2^v_exp)·v`.
struct Projection {
    w: DMatrix<f64>,
    w_exp: Vec<Option<i64>>,
    v: DMatrix<f64>,
    v_exp: Vec<Option<i64>>,
}

impl Projection {
    fn empty(n: usize) -> Self {
        Self { w: DMatrix::zeros(0, n), w_exp: vec![None; n], v: DMatrix::zeros(n, 0), v_exp: vec![None; n] }
    }
    fn kept(&self) -> usize {
        self.w.nrows()
    }
}

/// `x·2^k` for an `i64` shift, 0 for a dead state.
fn shift(x: f64, k: Option<i64>) -> f64 {
    match k {
        Some(k) => ldexp(x, k.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32),
        None => 0.0,
    }
}

/// Balanced truncation of `real` to at most `r` states per cut. Returns the
/// reduced parts per step (`Â_t`, `B̂_t`, `Ĉ_t`, `D̂_t`, unpadded) and the
/// accumulated certificate. `keep_rel`: singular values at or below
/// `keep_rel·σ_1(H_i)` are never kept.
pub(crate) fn truncate(real: &Realization<f64>, r: usize, keep_rel: f64) -> Result<(Parts, Accumulator, f64)> {
    let (len, n, p, m) = (real.len(), real.state_size(), real.outputs(), real.inputs());
    let mut acc = Accumulator::default();
    let mut proj: Vec<Projection> = Vec::with_capacity(len + 1);
    proj.push(Projection::empty(n));
    // ‖T‖_F² = Σ_t ‖D_t‖² + Σ_s ‖O_{s+1} B_s‖² = … + Σ_s ‖Fo_{s+1} B_s‖².
    let mut norm2: f64 = (0..len).map(|t| real.d(t).map_or(0.0, |d| d.norm_squared())).sum();
    crate::spectrum::gramian::for_each_cut(real, |cut| {
        let i = cut.index;
        let b = real.b(i - 1);
        let fb = &cut.fo * DMatrix::from_fn(n, m, |j, c| shift(b[(j, c)], cut.fo_exp[j]));
        norm2 += fb.norm_squared();
        let d = svd(&cut.core)?;
        let e = cut.core_exp.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let sigma: Vec<f64> = d.s.iter().map(|&s| ldexp(s, e)).collect();
        let s1 = d.s.first().copied().unwrap_or(0.0);
        let kept = d.s.iter().take(r).take_while(|&&s| s > keep_rel * s1 && s > 0.0).count();
        acc.add_cut(&sigma, kept, r);
        // σ = s·2^c = s'·2^(2h) with s' = s·2^(c - 2h) ∈ {s, 2s}.
        let h = cut.core_exp.div_euclid(2);
        let odd = (cut.core_exp - 2 * h) as i32;
        let inv_sqrt: Vec<f64> = d.s[..kept].iter().map(|&s| 1.0 / ldexp(s, odd).sqrt()).collect();
        let mut w = d.u.columns(0, kept).transpose() * &cut.fo;
        for (row, f) in inv_sqrt.iter().enumerate() {
            w.row_mut(row).scale_mut(*f);
        }
        let mut v = cut.gr.transpose() * d.v.columns(0, kept);
        for (col, f) in inv_sqrt.iter().enumerate() {
            v.column_mut(col).scale_mut(*f);
        }
        let w_exp = cut.fo_exp.iter().map(|e| e.map(|e| e - h)).collect();
        let v_exp = cut.gr_exp.iter().map(|e| e.map(|e| e - h)).collect();
        proj.push(Projection { w, w_exp, v, v_exp });
        Ok(())
    })?;
    proj.push(Projection::empty(n));
    let mut parts = Parts::with_capacity(len);
    for t in 0..len {
        let (here, next) = (&proj[t], &proj[t + 1]);
        let middle = match real.a(t) {
            TransitionStep::Dense(a) => DMatrix::from_fn(n, n, |j, l| match (next.w_exp[j], here.v_exp[l]) {
                (Some(x), Some(y)) => shift(a[(j, l)], Some(x + y)),
                _ => 0.0,
            }),
            TransitionStep::Diagonal(a) => {
                DMatrix::from_fn(n, n, |j, l| match (j == l, next.w_exp[j], here.v_exp[l]) {
                    (true, Some(x), Some(y)) => shift(a[j], Some(x + y)),
                    _ => 0.0,
                })
            }
        };
        let a_hat = &next.w * middle * &here.v;
        let b = real.b(t);
        let b_hat = &next.w * DMatrix::from_fn(n, m, |j, c| shift(b[(j, c)], next.w_exp[j]));
        let c = real.c(t);
        let c_hat = DMatrix::from_fn(p, n, |o, j| shift(c[(o, j)], here.v_exp[j])) * &here.v;
        let d_hat = real.d(t).map_or_else(|| DMatrix::zeros(p, m), |d| d.clone_owned());
        debug_assert_eq!((a_hat.nrows(), a_hat.ncols()), (next.kept(), here.kept()));
        parts.push(a_hat, b_hat, c_hat, d_hat);
    }
    Ok((parts, acc, norm2.sqrt()))
}

/// The reduced parts per step, with the state size at each cut varying.
pub(crate) struct Parts {
    pub a: Vec<DMatrix<f64>>,
    pub b: Vec<DMatrix<f64>>,
    pub c: Vec<DMatrix<f64>>,
    pub d: Vec<DMatrix<f64>>,
}

impl Parts {
    pub(crate) fn with_capacity(len: usize) -> Self {
        Self {
            a: Vec::with_capacity(len),
            b: Vec::with_capacity(len),
            c: Vec::with_capacity(len),
            d: Vec::with_capacity(len),
        }
    }
    pub(crate) fn push(&mut self, a: DMatrix<f64>, b: DMatrix<f64>, c: DMatrix<f64>, d: DMatrix<f64>) {
        self.a.push(a);
        self.b.push(b);
        self.c.push(c);
        self.d.push(d);
    }

    /// A realization of constant state size `order` (at least 1): each cut's
    /// states padded with zero states, which changes no entry of `T_r`.
    pub(crate) fn padded(self, order: usize) -> Result<Realization<f64>> {
        let order = order.max(1);
        let pad = |m: &DMatrix<f64>, rows: usize, cols: usize| {
            let mut out = DMatrix::zeros(rows, cols);
            out.view_mut((0, 0), m.shape()).copy_from(m);
            out
        };
        let len = self.a.len();
        let (p, m) = (self.d[0].nrows(), self.d[0].ncols());
        let a = self.a.iter().map(|x| pad(x, order, order)).collect();
        let b = self.b.iter().map(|x| pad(x, order, m)).collect();
        let c = self.c.iter().map(|x| pad(x, p, order)).collect();
        Realization::new(len, Transition::Dense(Steps::Varying(a)), Steps::Varying(b), Steps::Varying(c))?
            .with_feedthrough(Steps::Varying(self.d))
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;
    use crate::realization::{Realization, Steps, Transition};
    use nalgebra::{DMatrix, DVector};

    /// The keep rule is relative to the block's own `σ_1`: at the one cut of a
    /// length-2 system `H_1 = C_1·B_0 = diag(s, keep·ratio·s)`, a second value
    /// above `keep·σ_1` is kept and one below it is not, at any scale `s`. The
    /// core is normalised inside (its `σ̃_1` in `[0.5, 1)` here), so a cut-off
    /// of `keep/σ̃_1` instead of `keep·σ̃_1` would sit up to 4 times higher and
    /// drop the ratios 1.5 and 4.
    #[test]
    fn values_above_keep_times_sigma_one_are_kept_at_any_scale() {
        let keep = 1e-11;
        for s in [0.3, 0.6, 1.0, 3.0, 1e-200, 1e200] {
            for (ratio, kept) in [(1.5, 2), (4.0, 2), (0.9, 1), (0.25, 1)] {
                let b0 = DMatrix::from_diagonal(&DVector::from_vec(vec![s, keep * ratio * s]));
                let real = Realization::new(
                    2,
                    Transition::Diagonal(Steps::Constant(DVector::from_vec(vec![0.5, 0.5]))),
                    Steps::Constant(b0),
                    Steps::Constant(DMatrix::identity(2, 2)),
                )
                .unwrap();
                let (parts, _, _) = truncate(&real, 2, keep).unwrap();
                assert_eq!(parts.b[0].nrows(), kept, "s = {s:e}, σ₂/σ₁ = {ratio}·keep");
            }
        }
    }
}
