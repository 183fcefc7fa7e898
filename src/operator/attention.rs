//! Softmax attention, optionally windowed and biased.
//!
//! The logits are computed in a scaled domain: queries, keys and the scale are
//! normalised by powers of two, so that `q_t·k_s` never overflows, and the row
//! maximum is subtracted before the (exact) power of two is restored inside the
//! exponential. Logits far beyond the floating-point range (`1e320`, or a scale of
//! `1e290`) therefore give the limit of the softmax (the mass on the largest
//! logits) instead of NaN.

use super::tensor::{dot, Array3};
use super::{Dims, LinearOperator, RealizationInfo};
use crate::error::{EssError, Result};
use crate::scalar::{exponent_of, ldexp, normalize_pow2, Scalar};
use nalgebra::DMatrix;
use std::borrow::Cow;

/// An additive bias on the attention logits.
#[derive(Debug, Clone, PartialEq)]
pub enum AttentionBias<T> {
    /// No bias.
    None,
    /// ALiBi: `-slope_h · (t - s)`, one finite slope per head.
    Alibi(Vec<T>),
    /// A full bias `(heads, L, L)`, row-major. Only the causal part (`s ≤ t`) is
    /// read: entries above the diagonal are ignored whatever they hold (a standard
    /// `-inf` upper mask is fine). In the causal part `-inf` masks an entry; NaN
    /// and `+inf` are errors, and every row must keep at least one visible entry.
    Matrix(Vec<T>),
}

/// Causal softmax attention per head:
/// `T[t,s] = exp(ℓ_{ts}) / Σ_{r ∈ W(t)} exp(ℓ_{tr})` for `s ∈ W(t)`, else 0, with
/// logits `ℓ_{ts} = scale·q_t·k_s + bias_{ts}` and `W(t) = {s ≤ t : t - s < w}`
/// (`w = ∞` without a window).
///
/// TSS: none (the KV cache grows: `rank H_i ≤ min(i, L-i)`); `w-1` with a window
/// `w` (the window includes the current step).
///
/// ```
/// use effective_state_size::{ess, Dims, LinearOperator, SoftmaxAttention};
/// let dims = Dims { channels: 1, len: 16, width: 4 };
/// let q: Vec<f64> = (0..16 * 4).map(|j| (j as f64 * 0.37).sin()).collect();
/// let k: Vec<f64> = (0..16 * 4).map(|j| (j as f64 * 0.91).cos()).collect();
/// let op = SoftmaxAttention::new(&q, &k, dims)?.with_window(3)?;
/// assert_eq!(op.theoretical_state_size(), Some(2));
/// assert!(ess::tolerance(&op, ess::Tolerance::NumericalRank)?.max() <= 2.0);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxAttention<T: Scalar> {
    q: Array3<T>,
    k: Array3<T>,
    dims: Dims,
    scale: T,
    window: Option<usize>,
    bias: AttentionBias<T>,
}

impl<T: Scalar> SoftmaxAttention<T> {
    /// Queries and keys, row-major `(heads, L, d)` with `dims = Dims { channels:
    /// heads, len: L, width: d }`, with scale `1/√d`, no window and no bias.
    pub fn new(q: &[T], k: &[T], dims: Dims) -> Result<Self> {
        dims.check("queries/keys", "d")?;
        let names = ["heads", "L", "d"];
        let shape = [dims.channels, dims.len, dims.width];
        let q = Array3::new("Q", q, shape, names)?;
        let k = Array3::new("K", k, shape, names)?;
        let scale = T::one() / T::cast(dims.width as f64).sqrt();
        Ok(Self { q, k, dims, scale, window: None, bias: AttentionBias::None })
    }
    /// Sets the logit scale (finite; any magnitude).
    pub fn with_scale(mut self, scale: T) -> Result<Self> {
        if !scale.is_finite_value() {
            return Err(EssError::param("scale", format!("{scale} is not finite")));
        }
        self.scale = scale;
        Ok(self)
    }
    /// Restricts each step to the last `w` steps including itself (`w ≥ 1`).
    pub fn with_window(mut self, w: usize) -> Result<Self> {
        if w == 0 {
            return Err(EssError::param(
                "window",
                "w = 0 attends to nothing; the window includes the current step, so w ≥ 1",
            ));
        }
        self.window = Some(w);
        self.check_rows_visible()?;
        Ok(self)
    }
    /// Adds a bias to the logits (see [`AttentionBias`] for what is accepted).
    pub fn with_bias(mut self, bias: AttentionBias<T>) -> Result<Self> {
        let (h, l) = (self.dims.channels, self.dims.len);
        match &bias {
            AttentionBias::None => {}
            AttentionBias::Alibi(s) => crate::validate::check_array("ALiBi slopes", s, &[h], &["heads"])?,
            AttentionBias::Matrix(m) => {
                let expected = h * l * l;
                if m.len() != expected {
                    return Err(EssError::shape(
                        "attention bias",
                        format!("(heads={h}, L={l}, L={l}) = {expected} values, row-major"),
                        format!("{} values", m.len()),
                    ));
                }
                for head in 0..h {
                    for t in 0..l {
                        for s in 0..=t {
                            let x = m[(head * l + t) * l + s];
                            if x.to_f64().is_nan() || x.to_f64() == f64::INFINITY {
                                return Err(EssError::NonFinite {
                                    what: "attention bias (causal part; -inf masks an entry, NaN and +inf are not allowed)".into(),
                                    position: format!("(head {head}, t {t}, s {s})"),
                                    value: x.to_f64(),
                                });
                            }
                        }
                    }
                }
            }
        }
        self.bias = bias;
        self.check_rows_visible()?;
        Ok(self)
    }
    /// Errors if a row has no visible entry with a finite bias (it would be 0/0).
    fn check_rows_visible(&self) -> Result<()> {
        let AttentionBias::Matrix(m) = &self.bias else { return Ok(()) };
        let l = self.dims.len;
        for head in 0..self.dims.channels {
            for t in 0..l {
                if (self.first_visible(t)..=t).all(|s| m[(head * l + t) * l + s].to_f64().is_infinite()) {
                    return Err(EssError::param(
                        "attention bias",
                        format!("row t = {t} of head {head} masks every visible entry (all -inf): softmax of nothing"),
                    ));
                }
            }
        }
        Ok(())
    }
    fn first_visible(&self, t: usize) -> usize {
        self.window.map_or(0, |w| (t + 1).saturating_sub(w))
    }

    /// The scaled logits of head `h`: `ℓ_{ts} = 2^E · m(t, s)`.
    fn logits(&self, h: usize) -> ScaledLogits<'_, T> {
        let (l, d) = (self.dims.len, self.dims.width);
        let mut q = self.q.channel(h).to_vec();
        let mut k = self.k.channel(h).to_vec();
        let mut s = [self.scale];
        let e_qk = normalize_pow2(&mut q) + normalize_pow2(&mut k) + normalize_pow2(&mut s);
        // |ŝ q̂·k̂| < d, so the q·k part is below 2^(e_qk + ⌈log2 d⌉).
        let e_dot = e_qk + exponent_of(d as f64);
        let bias_max = match &self.bias {
            AttentionBias::None => 0.0,
            AttentionBias::Alibi(sl) => sl[h].to_f64().abs() * (l.saturating_sub(1)) as f64,
            AttentionBias::Matrix(m) => (0..l)
                .flat_map(|t| (0..=t).map(move |s| (t, s)))
                .map(|(t, s)| m[(h * l + t) * l + s].to_f64().abs())
                .filter(|x| x.is_finite())
                .fold(0.0, f64::max),
        };
        let exponent = if bias_max > 0.0 { e_dot.max(exponent_of(bias_max)) } else { e_dot };
        ScaledLogits { op: self, h, q, k, scale: s[0], qk_shift: e_qk - exponent, exponent, d }
    }
}

/// Logits of one head in a scaled domain: `m(t, s) = ŝ·q̂_t·k̂_s·2^(e_qk-E) + bias·2^-E`
/// with every `|m| ≲ 1`, so that the true logit `2^E·m` need never be formed.
struct ScaledLogits<'a, T: Scalar> {
    op: &'a SoftmaxAttention<T>,
    h: usize,
    q: Vec<T>,
    k: Vec<T>,
    scale: T,
    qk_shift: i32,
    exponent: i32,
    d: usize,
}

impl<T: Scalar> ScaledLogits<'_, T> {
    fn at(&self, t: usize, s: usize) -> T {
        let d = self.d;
        let qk = ldexp(self.scale * dot(&self.q[t * d..(t + 1) * d], &self.k[s * d..(s + 1) * d]), self.qk_shift);
        let l = self.op.dims.len;
        let bias = match &self.op.bias {
            AttentionBias::None => return qk,
            AttentionBias::Alibi(sl) => -sl[self.h] * T::cast((t - s) as f64),
            AttentionBias::Matrix(m) => m[(self.h * l + t) * l + s],
        };
        qk + ldexp(bias, -self.exponent)
    }
    /// `exp(ℓ - ℓ_max) = exp(2^E (m - m_max))` for `m ≤ m_max`.
    fn weight(&self, m: T, max: T) -> T {
        ldexp(m - max, self.exponent).exp()
    }
}

impl<T: Scalar> LinearOperator for SoftmaxAttention<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.dims.len
    }
    fn channels(&self) -> usize {
        self.dims.channels
    }
    fn family(&self) -> &'static str {
        if self.window.is_some() {
            "sliding-window attention"
        } else {
            "softmax attention"
        }
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        self.window.map(|w| w - 1)
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::None
    }
    /// Row-wise softmax of the masked logits (row maximum subtracted in the scaled
    /// domain).
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let logits = self.logits(channel);
        let l = self.dims.len;
        let mut m = DMatrix::zeros(l, l);
        let mut row = Vec::with_capacity(l);
        for t in 0..l {
            let lo = self.first_visible(t);
            row.clear();
            row.extend((lo..=t).map(|s| logits.at(t, s)));
            let max = row.iter().copied().fold(T::cast(f64::NEG_INFINITY), |a, b| a.max(b));
            let mut z = T::zero();
            for x in row.iter_mut() {
                *x = logits.weight(*x, max);
                z += *x;
            }
            for (j, s) in (lo..=t).enumerate() {
                m[(t, s)] = row[j] / z;
            }
        }
        Ok(Cow::Owned(m))
    }
    /// Streaming (online-softmax) attention: one pass over the keys with a running
    /// maximum, denominator and weighted sum, as in FlashAttention.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let logits = self.logits(channel);
        for (t, yt) in y.iter_mut().enumerate() {
            let (mut max, mut den, mut num) = (None::<T>, T::zero(), T::zero());
            let lo = self.first_visible(t);
            for (s, &us) in (lo..=t).zip(&u[lo..=t]) {
                let l = logits.at(t, s);
                if l.to_f64() == f64::NEG_INFINITY {
                    continue; // masked
                }
                match max {
                    Some(m) if l <= m => {
                        let w = logits.weight(l, m);
                        den += w;
                        num += w * us;
                    }
                    Some(m) => {
                        let r = logits.weight(m, l);
                        den = den * r + T::one();
                        num = num * r + us;
                        max = Some(l);
                    }
                    None => {
                        den = T::one();
                        num = us;
                        max = Some(l);
                    }
                }
            }
            *yt = num / den;
        }
        Ok(())
    }
}
