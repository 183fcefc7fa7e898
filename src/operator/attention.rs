//! Softmax attention, optionally windowed and biased.

use super::tensor::{dot, Array3};
use super::{check_channel, check_input, LinearOperator};
use crate::error::{EssError, Result};
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// An additive bias on the attention logits.
#[derive(Debug, Clone, PartialEq)]
pub enum AttentionBias<T> {
    /// No bias.
    None,
    /// ALiBi: `-slope_h · (t - s)`, one slope per head.
    Alibi(Vec<T>),
    /// A full bias `(heads, L, L)`, row-major; only the causal part is read.
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
/// use effective_state_size::{ess, LinearOperator, SoftmaxAttention};
/// let (len, d) = (16, 4);
/// let q: Vec<f64> = (0..len * d).map(|j| (j as f64 * 0.37).sin()).collect();
/// let k: Vec<f64> = (0..len * d).map(|j| (j as f64 * 0.91).cos()).collect();
/// let op = SoftmaxAttention::new(&q, &k, 1, len, d)?.with_window(3)?;
/// assert_eq!(op.theoretical_state_size(), Some(2));
/// assert!(ess::tolerance(&op, ess::Tolerance::NumericalRank)?.max() <= 2.0);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxAttention<T: Scalar> {
    q: Array3<T>,
    k: Array3<T>,
    heads: usize,
    len: usize,
    scale: T,
    window: Option<usize>,
    bias: AttentionBias<T>,
}

impl<T: Scalar> SoftmaxAttention<T> {
    /// Queries and keys, row-major `(heads, L, d)`, with scale `1/√d`, no window and
    /// no bias.
    pub fn new(q: &[T], k: &[T], heads: usize, len: usize, d: usize) -> Result<Self> {
        if heads == 0 || len == 0 || d == 0 {
            return Err(EssError::empty(
                "queries/keys",
                format!("need heads, L and d ≥ 1 (received heads = {heads}, L = {len}, d = {d})"),
            ));
        }
        let names = ["heads", "L", "d"];
        let q = Array3::new("Q", q, [heads, len, d], names)?;
        let k = Array3::new("K", k, [heads, len, d], names)?;
        let scale = T::one() / T::cast(d as f64).sqrt();
        Ok(Self { q, k, heads, len, scale, window: None, bias: AttentionBias::None })
    }
    /// Sets the logit scale (finite).
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
        Ok(self)
    }
    /// Adds a bias to the logits.
    pub fn with_bias(mut self, bias: AttentionBias<T>) -> Result<Self> {
        match &bias {
            AttentionBias::None => {}
            AttentionBias::Alibi(s) => crate::validate::check_array("ALiBi slopes", s, &[self.heads], &["heads"])?,
            AttentionBias::Matrix(m) => crate::validate::check_array(
                "attention bias",
                m,
                &[self.heads, self.len, self.len],
                &["heads", "L", "L"],
            )?,
        }
        self.bias = bias;
        Ok(self)
    }
    fn visible(&self, t: usize, s: usize) -> bool {
        s <= t && self.window.is_none_or(|w| t - s < w)
    }
    fn logit(&self, h: usize, t: usize, s: usize) -> T {
        let b = match &self.bias {
            AttentionBias::None => T::zero(),
            AttentionBias::Alibi(sl) => -sl[h] * T::cast((t - s) as f64),
            AttentionBias::Matrix(m) => m[(h * self.len + t) * self.len + s],
        };
        self.scale * dot(self.q.row(h, t), self.k.row(h, s)) + b
    }
    fn first_visible(&self, t: usize) -> usize {
        self.window.map_or(0, |w| (t + 1).saturating_sub(w))
    }
}

impl<T: Scalar> LinearOperator for SoftmaxAttention<T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        self.heads
    }
    fn family(&self) -> &'static str {
        if self.window.is_some() {
            "sliding-window attention"
        } else {
            "softmax attention"
        }
    }
    /// Row-wise softmax of the masked logits (max subtracted first).
    fn dense(&self, channel: usize) -> Result<DMatrix<T>> {
        check_channel(self, channel)?;
        super::check_dense_size(self)?;
        let mut m = DMatrix::zeros(self.len, self.len);
        for t in 0..self.len {
            let lo = self.first_visible(t);
            let logits: Vec<T> = (lo..=t).map(|s| self.logit(channel, t, s)).collect();
            let max = logits.iter().copied().fold(logits[0], |a, b| a.max(b));
            let e: Vec<T> = logits.iter().map(|&x| (x - max).exp()).collect();
            let z = e.iter().fold(T::zero(), |a, &b| a + b);
            for (j, s) in (lo..=t).enumerate() {
                debug_assert!(self.visible(t, s));
                m[(t, s)] = e[j] / z;
            }
        }
        Ok(m)
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        self.window.map(|w| w - 1)
    }
    /// Streaming (online-softmax) attention: one pass over the keys with a running
    /// maximum, denominator and weighted sum, as in FlashAttention.
    fn apply(&self, channel: usize, u: &[T]) -> Result<Vec<T>> {
        check_channel(self, channel)?;
        check_input(self, u)?;
        Ok((0..self.len)
            .map(|t| {
                let (mut max, mut den, mut num) = (None::<T>, T::zero(), T::zero());
                let lo = self.first_visible(t);
                for (s, &us) in (lo..=t).zip(&u[lo..=t]) {
                    let l = self.logit(channel, t, s);
                    match max {
                        Some(m) if l <= m => {
                            let w = (l - m).exp();
                            den += w;
                            num += w * us;
                        }
                        Some(m) => {
                            let r = (m - l).exp();
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
                num / den
            })
            .collect())
    }
}
