//! A balanced time-varying realization built from the Hankel blocks of a dense
//! `T` (Ho–Kalman in its time-varying form, as in Dewilde & van der Veen's
//! realization algorithm), truncated to at most `r` states per cut: for
//! operators without a realization (softmax attention, long and gated
//! convolutions, any dense `T`).
//!
//! With `H_i = U_i Σ_i V_iᵀ` (kept part), `O_i = U_i Σ_i^{1/2}` and
//! `R_i = Σ_i^{1/2} V_iᵀ`:
//!
//! ```text
//! C_i = first p rows of O_i,          B_i = last m columns of R_{i+1},
//! A_i = R_{i+1}[:, :m·i] · V_i Σ_i^{-1/2},     D_i = T[i, i]
//! ```
//!
//! Untruncated, this realization is exact and balanced (`R_i R_iᵀ = Σ_i = O_iᵀO_i`),
//! so keeping its leading states at every cut *is* balanced truncation, and the
//! bounds of [`super::certificate`] apply. Cost: one SVD with vectors of every
//! `H_i`, `O(L⁴)` per channel as on the dense ESS path; the cuts are decomposed
//! in parallel, a few at a time, so that memory stays `O(L²)`.

use super::balanced::Parts;
use super::certificate::Accumulator;
use super::svd::svd;
use crate::error::Result;
use nalgebra::DMatrix;

/// What the realization needs of one cut.
struct Cut {
    /// `U_i[:p, :k]·Σ^{1/2}` (`p × k`).
    c: DMatrix<f64>,
    /// `V_i[:, :k]` (`m·i × k`).
    v: DMatrix<f64>,
    /// `√σ` of the kept values.
    sqrt: Vec<f64>,
    /// Every singular value of `H_i`, descending.
    sigma: Vec<f64>,
    kept: usize,
}

/// Truncated balanced realization of the dense `t` (`p·L × m·L`, causal, finite).
pub(crate) fn truncate(t: &DMatrix<f64>, p: usize, m: usize, r: usize, keep_rel: f64) -> Result<(Parts, Accumulator)> {
    let len = t.nrows() / p;
    let decompose = |i: &usize| -> Result<Cut> {
        let i = *i;
        let block = t.view((i * p, 0), (p * (len - i), m * i)).into_owned();
        let d = svd(&block)?;
        let s1 = d.s.first().copied().unwrap_or(0.0);
        let kept = d.s.iter().take(r).take_while(|&&s| s > keep_rel * s1 && s > 0.0).count();
        let sqrt: Vec<f64> = d.s[..kept].iter().map(|s| s.sqrt()).collect();
        let mut c = d.u.view((0, 0), (p, kept)).into_owned();
        for (j, f) in sqrt.iter().enumerate() {
            c.column_mut(j).scale_mut(*f);
        }
        Ok(Cut { c, v: d.v.columns(0, kept).into_owned(), sqrt, sigma: d.s, kept })
    };
    let mut acc = Accumulator::default();
    let mut parts = Parts::with_capacity(len);
    let mut prev =
        Cut { c: DMatrix::zeros(p, 0), v: DMatrix::zeros(0, 0), sqrt: Vec::new(), sigma: Vec::new(), kept: 0 };
    // Cuts 1..L in windows decomposed in parallel, then the empty cut L.
    let window = 2 * crate::parallel::threads().max(1);
    let mut first = 1;
    while first <= len {
        let upper = (first + window).min(len);
        let indices: Vec<usize> = (first..upper).collect();
        let mut cuts = crate::parallel::try_map(&indices, decompose)?;
        if upper == len {
            let end = Cut {
                c: DMatrix::zeros(p, 0),
                v: DMatrix::zeros(m * len, 0),
                sqrt: Vec::new(),
                sigma: Vec::new(),
                kept: 0,
            };
            cuts.push(end);
        }
        for next in cuts {
            // Step s joins cut s (prev) and cut s + 1 (next).
            let s = parts.a.len();
            if s + 1 < len {
                acc.add_cut(&next.sigma, next.kept, r);
            }
            // R_{s+1} = Σ^{1/2} V_{s+1}ᵀ: its first m·s columns and its last m.
            let mut rt = next.v.transpose();
            for (j, f) in next.sqrt.iter().enumerate() {
                rt.row_mut(j).scale_mut(*f);
            }
            let mut vs = prev.v.clone();
            for (j, f) in prev.sqrt.iter().enumerate() {
                vs.column_mut(j).unscale_mut(*f);
            }
            let a = if prev.kept == 0 { DMatrix::zeros(next.kept, 0) } else { rt.columns(0, m * s) * vs };
            let b = rt.columns(m * s, m).into_owned();
            let d = t.view((s * p, s * m), (p, m)).into_owned();
            parts.push(a, b, prev.c.clone(), d);
            prev = next;
        }
        first = upper;
        if upper == len {
            break;
        }
    }
    Ok((parts, acc))
}
