//! The linear-attention family: plain linear attention with a feature map,
//! decayed linear attention (RetNet), gated linear attention (GLA), DeltaNet and
//! gated DeltaNet. Each head is one channel (all value channels of a head share
//! its matrix); the state is `n`-dimensional per value channel, so TSS is `n`.

use super::tensor::{dot, Array3};
use super::{Dims, LinearOperator, RealizationInfo};
use crate::error::{EssError, Result};
use crate::realization::{FlatTransition, Realization, StepMatrices};
use crate::scalar::Scalar;
use nalgebra::DMatrix;
use std::borrow::Cow;
use std::sync::Arc;

/// A user feature function: a `d`-vector in, an `n`-vector out.
pub type FeatureFn<T> = Arc<dyn Fn(&[T]) -> Vec<T> + Send + Sync>;

/// A feature map `φ` applied to each query and key row (`d` values → `n` values).
#[derive(Clone)]
pub enum FeatureMap<T> {
    /// `φ(x) = x` (`n = d`).
    Identity,
    /// `φ(x) = elu(x) + 1`, elementwise (positive; Katharopoulos et al.).
    EluPlusOne,
    /// `φ(x) = max(x, 0)`, elementwise.
    Relu,
    /// A user map from a `d`-vector to an `n`-vector (`n` may differ from `d`, e.g.
    /// random features). It must return the same length for every row.
    Custom(FeatureFn<T>),
}

impl<T> std::fmt::Debug for FeatureMap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FeatureMap::Identity => "Identity",
            FeatureMap::EluPlusOne => "EluPlusOne",
            FeatureMap::Relu => "Relu",
            FeatureMap::Custom(_) => "Custom(..)",
        })
    }
}

impl<T: Scalar> FeatureMap<T> {
    fn map(&self, x: &[T]) -> Vec<T> {
        match self {
            FeatureMap::Identity => x.to_vec(),
            FeatureMap::EluPlusOne => x.iter().map(|&v| if v > T::zero() { v + T::one() } else { v.exp() }).collect(),
            FeatureMap::Relu => x.iter().map(|&v| if v > T::zero() { v } else { T::zero() }).collect(),
            FeatureMap::Custom(f) => f(x),
        }
    }
    /// `φ` of every row of `a`, validated (same width everywhere, finite).
    fn apply_rows(&self, what: &str, a: &Array3<T>, heads: usize, len: usize) -> Result<Array3<T>> {
        let n = self.map(a.row(0, 0)).len();
        if n == 0 {
            return Err(EssError::param("feature map", "it returned an empty feature vector"));
        }
        let mut data = Vec::with_capacity(heads * len * n);
        for h in 0..heads {
            for t in 0..len {
                let f = self.map(a.row(h, t));
                if f.len() != n {
                    return Err(EssError::shape(
                        format!("feature map output for {what} at (head {h}, step {t})"),
                        format!("{n} values"),
                        format!("{} values", f.len()),
                    ));
                }
                data.extend(f);
            }
        }
        Array3::new(&format!("φ({what})"), &data, [heads, len, n], ["heads", "L", "n"])
    }
}

/// Shared storage: featurized queries and keys `(heads, L, n)`.
#[derive(Debug, Clone, PartialEq)]
struct QK<T: Scalar> {
    q: Array3<T>,
    k: Array3<T>,
    heads: usize,
    len: usize,
}

impl<T: Scalar> QK<T> {
    fn new(q: &[T], k: &[T], dims: Dims) -> Result<Self> {
        dims.check("queries/keys", "d")?;
        let Dims { channels: heads, len, width: d } = dims;
        let names = ["heads", "L", "d"];
        Ok(Self {
            q: Array3::new("Q", q, [heads, len, d], names)?,
            k: Array3::new("K", k, [heads, len, d], names)?,
            heads,
            len,
        })
    }
    fn n(&self) -> usize {
        self.k.width()
    }
    /// `B_t = k_t · scale(t)` (`n × 1`) for every step of head `h`, in one
    /// buffer.
    fn key_columns(&self, h: usize, scale: impl Fn(usize) -> T + Sync) -> StepMatrices<T> {
        StepMatrices::from_fn(self.len, self.n(), 1, |t, out| scaled_into(self.k.row(h, t), scale(t), out))
    }
    /// `C̄_t = q_tᵀ · scale(t)` (`1 × n`) for every step of head `h`, in one
    /// buffer.
    fn query_rows(&self, h: usize, scale: impl Fn(usize) -> T + Sync) -> StepMatrices<T> {
        StepMatrices::from_fn(self.len, 1, self.n(), |t, out| scaled_into(self.q.row(h, t), scale(t), out))
    }
}

/// `out = x · s`, entry by entry.
fn scaled_into<T: Scalar>(x: &[T], s: T, out: &mut [T]) {
    out.iter_mut().zip(x).for_each(|(o, &x)| *o = x * s);
}

/// The same diagonal `A_t = diag(x, …, x)` (`n` values) at every step.
fn constant_diagonal<T: Scalar>(n: usize, x: T) -> FlatTransition<T> {
    FlatTransition::Diagonal(StepMatrices::constant(&DMatrix::from_element(n, 1, x)))
}

macro_rules! la_common {
    ($family:literal) => {
        fn family(&self) -> &'static str {
            $family
        }
        la_common!();
    };
    () => {
        type Scalar = T;
        fn seq_len(&self) -> usize {
            self.qk.len
        }
        fn channels(&self) -> usize {
            self.qk.heads
        }
        fn theoretical_state_size(&self) -> Option<usize> {
            Some(self.qk.n())
        }
    };
}

/// Linear attention: `T[t,s] = φ(q_t)·φ(k_s)`, optionally row-normalised by
/// `φ(q_t)·Σ_{r≤t} φ(k_r)`. TSS: the feature dimension `n`.
///
/// ```
/// use effective_state_size::{ess, Dims, FeatureMap, LinearAttention};
/// let (len, d) = (32, 4);
/// let q: Vec<f64> = (0..len * d).map(|j| (j as f64 * 0.37).sin()).collect();
/// let k: Vec<f64> = (0..len * d).map(|j| (j as f64 * 0.91).cos()).collect();
/// let op = LinearAttention::new(&q, &k, Dims { channels: 1, len, width: d })?
///     .with_feature_map(FeatureMap::EluPlusOne)?
///     .normalized()?;
/// assert!(ess::tolerance(&op, ess::Tolerance::Relative(1e-9))?.max() <= d as f64);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinearAttention<T: Scalar> {
    raw: QK<T>,
    qk: QK<T>,
    map: FeatureMap<T>,
    normalizer: Option<Vec<T>>,
}

impl<T: Scalar> LinearAttention<T> {
    /// Queries and keys, row-major `(heads, L, d)` with
    /// `dims = Dims { channels: heads, len: L, width: d }`; identity feature map, no
    /// normalisation.
    pub fn new(q: &[T], k: &[T], dims: Dims) -> Result<Self> {
        let raw = QK::new(q, k, dims)?;
        Ok(Self { qk: raw.clone(), raw, map: FeatureMap::Identity, normalizer: None })
    }
    /// Applies the feature map `φ` to queries and keys (resets normalisation).
    pub fn with_feature_map(mut self, map: FeatureMap<T>) -> Result<Self> {
        let (h, l) = (self.raw.heads, self.raw.len);
        self.qk.q = map.apply_rows("Q", &self.raw.q, h, l)?;
        self.qk.k = map.apply_rows("K", &self.raw.k, h, l)?;
        self.map = map;
        self.normalizer = None;
        Ok(self)
    }
    /// Divides row `t` by `φ(q_t)·Σ_{r≤t} φ(k_r)`.
    ///
    /// # Errors
    /// If a normaliser is not positive and finite (use a positive feature map such
    /// as [`FeatureMap::EluPlusOne`]).
    pub fn normalized(mut self) -> Result<Self> {
        let (h, l, n) = (self.qk.heads, self.qk.len, self.qk.n());
        let mut dens = Vec::with_capacity(h * l);
        for head in 0..h {
            let mut z = vec![T::zero(); n];
            for t in 0..l {
                for (zi, &ki) in z.iter_mut().zip(self.qk.k.row(head, t)) {
                    *zi += ki;
                }
                let den = dot(self.qk.q.row(head, t), &z);
                if !(den.is_finite_value() && den > T::zero()) {
                    return Err(EssError::param(
                        "row normaliser",
                        format!("φ(q_t)·Σφ(k_r) = {den} at (head {head}, step {t}) is not positive; use a positive feature map such as EluPlusOne"),
                    ));
                }
                dens.push(den);
            }
        }
        self.normalizer = Some(dens);
        Ok(self)
    }
    fn scale(&self, h: usize, t: usize) -> T {
        self.normalizer.as_ref().map_or(T::one(), |d| T::one() / d[h * self.qk.len + t])
    }
}

impl<T: Scalar> LinearOperator for LinearAttention<T> {
    la_common!("linear attention");
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: self.qk.n() }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let qk = &self.qk;
        Ok(Cow::Owned(DMatrix::from_fn(qk.len, qk.len, |t, s| {
            if s > t {
                T::zero()
            } else {
                self.scale(channel, t) * dot(qk.q.row(channel, t), qk.k.row(channel, s))
            }
        })))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        let (qk, n, l) = (&self.qk, self.qk.n(), self.qk.len);
        let (b, c) = (qk.key_columns(channel, |_| T::one()), qk.query_rows(channel, |t| self.scale(channel, t)));
        Realization::from_flat_post_update(l, constant_diagonal(n, T::one()), b, c)
    }
    /// The recurrent form: `S_t = S_{t-1} + φ(k_t) u_t`, `y_t = φ(q_t)·S_t / norm_t`.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let qk = &self.qk;
        let mut state = vec![T::zero(); qk.n()];
        for (t, yt) in y.iter_mut().enumerate() {
            for (s, &k) in state.iter_mut().zip(qk.k.row(channel, t)) {
                *s += k * u[t];
            }
            *yt = dot(qk.q.row(channel, t), &state) * self.scale(channel, t);
        }
        Ok(())
    }
}

/// Decayed linear attention (RetNet): `T[t,s] = γ^{t-s} q_t·k_s` with one
/// `γ ∈ [0, 1]` per head. TSS: `d`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecayedLinearAttention<T: Scalar> {
    qk: QK<T>,
    gamma: Vec<T>,
}

impl<T: Scalar> DecayedLinearAttention<T> {
    /// `q`, `k`: `(heads, L, d)`; `gamma`: one decay per head, in `[0, 1]`;
    /// `dims = Dims { channels: heads, len: L, width: d }`.
    pub fn new(q: &[T], k: &[T], gamma: &[T], dims: Dims) -> Result<Self> {
        let qk = QK::new(q, k, dims)?;
        let heads = dims.channels;
        crate::validate::check_array("γ", gamma, &[heads], &["heads"])?;
        crate::validate::check_range("γ", gamma, &[heads], 0.0, 1.0)?;
        Ok(Self { qk, gamma: gamma.to_vec() })
    }
}

impl<T: Scalar> LinearOperator for DecayedLinearAttention<T> {
    la_common!("RetNet (decayed linear attention)");
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: self.qk.n() }
    }
    /// Column by column, multiplying by `γ` once per step (`γ^{t-s}` by repeated
    /// products, as the recurrence does).
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let (qk, g) = (&self.qk, self.gamma[channel]);
        let mut m = DMatrix::zeros(qk.len, qk.len);
        for s in 0..qk.len {
            let mut decay = T::one();
            for t in s..qk.len {
                if t > s {
                    decay *= g;
                }
                m[(t, s)] = decay * dot(qk.q.row(channel, t), qk.k.row(channel, s));
            }
        }
        Ok(Cow::Owned(m))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        let (qk, l) = (&self.qk, self.qk.len);
        let a = constant_diagonal(qk.n(), self.gamma[channel]);
        Realization::from_flat_post_update(
            l,
            a,
            qk.key_columns(channel, |_| T::one()),
            qk.query_rows(channel, |_| T::one()),
        )
    }
    /// `S_t = γ S_{t-1} + k_t u_t`, `y_t = q_t·S_t`.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let (qk, g) = (&self.qk, self.gamma[channel]);
        let mut state = vec![T::zero(); qk.n()];
        for (t, yt) in y.iter_mut().enumerate() {
            for (s, &k) in state.iter_mut().zip(qk.k.row(channel, t)) {
                *s = g * *s + k * u[t];
            }
            *yt = dot(qk.q.row(channel, t), &state);
        }
        Ok(())
    }
}

/// Gated linear attention (GLA): `T[t,s] = q_tᵀ diag(α_t ⊙ ⋯ ⊙ α_{s+1}) k_s` with
/// per-step, per-dimension gates `α_t ∈ [0, 1]^d`. TSS: `d`.
#[derive(Debug, Clone, PartialEq)]
pub struct GatedLinearAttention<T: Scalar> {
    qk: QK<T>,
    alpha: Array3<T>,
}

impl<T: Scalar> GatedLinearAttention<T> {
    /// `q`, `k`, `alpha`: `(heads, L, d)`, gates in `[0, 1]`;
    /// `dims = Dims { channels: heads, len: L, width: d }`.
    pub fn new(q: &[T], k: &[T], alpha: &[T], dims: Dims) -> Result<Self> {
        let qk = QK::new(q, k, dims)?;
        let alpha = Array3::new("gates α", alpha, [dims.channels, dims.len, dims.width], ["heads", "L", "d"])?;
        alpha.check_range("gates α", 0.0, 1.0)?;
        Ok(Self { qk, alpha })
    }
}

impl<T: Scalar> LinearOperator for GatedLinearAttention<T> {
    la_common!("gated linear attention");
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: self.qk.n() }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let (qk, h) = (&self.qk, channel);
        let mut m = DMatrix::zeros(qk.len, qk.len);
        for s in 0..qk.len {
            let mut x = qk.k.row(h, s).to_vec();
            for t in s..qk.len {
                if t > s {
                    for (xi, &a) in x.iter_mut().zip(self.alpha.row(h, t)) {
                        *xi *= a;
                    }
                }
                m[(t, s)] = dot(qk.q.row(h, t), &x);
            }
        }
        Ok(Cow::Owned(m))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        let (qk, l, h) = (&self.qk, self.qk.len, channel);
        let a = StepMatrices::from_fn(l, qk.n(), 1, |t, out| out.copy_from_slice(self.alpha.row(h, t)));
        let (b, c) = (qk.key_columns(h, |_| T::one()), qk.query_rows(h, |_| T::one()));
        Realization::from_flat_post_update(l, FlatTransition::Diagonal(a), b, c)
    }
    /// `S_t = α_t ⊙ S_{t-1} + k_t u_t`, `y_t = q_t·S_t`.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let (qk, h) = (&self.qk, channel);
        let mut state = vec![T::zero(); qk.n()];
        for (t, yt) in y.iter_mut().enumerate() {
            for ((s, &k), &a) in state.iter_mut().zip(qk.k.row(h, t)).zip(self.alpha.row(h, t)) {
                *s = a * *s + k * u[t];
            }
            *yt = dot(qk.q.row(h, t), &state);
        }
        Ok(())
    }
}

/// DeltaNet and gated DeltaNet: `A_t = α_t (I - β_t k_t k_tᵀ)`, `B_t = β_t k_t`,
/// `C_t = q_tᵀ`, so `T[t,s] = q_tᵀ A_t ⋯ A_{s+1} β_s k_s`. Plain DeltaNet has
/// `α_t = 1`. TSS: `d`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaNet<T: Scalar> {
    qk: QK<T>,
    beta: Array3<T>,
    alpha: Option<Array3<T>>,
}

impl<T: Scalar> DeltaNet<T> {
    /// `q`, `k`: `(heads, L, d)` (keys are usually L2-normalised upstream);
    /// `beta`: `(heads, L)` in `[0, 2]`; `dims = Dims { channels: heads, len: L, width: d }`.
    pub fn new(q: &[T], k: &[T], beta: &[T], dims: Dims) -> Result<Self> {
        let qk = QK::new(q, k, dims)?;
        let beta = Array3::new2("β", beta, [dims.channels, dims.len], ["heads", "L"])?;
        beta.check_range("β", 0.0, 2.0)?;
        Ok(Self { qk, beta, alpha: None })
    }
    /// Gated DeltaNet: adds the decay gates `alpha: (heads, L)` in `[0, 1]`.
    pub fn gated(q: &[T], k: &[T], beta: &[T], alpha: &[T], dims: Dims) -> Result<Self> {
        let mut op = Self::new(q, k, beta, dims)?;
        let alpha = Array3::new2("gates α", alpha, [dims.channels, dims.len], ["heads", "L"])?;
        alpha.check_range("gates α", 0.0, 1.0)?;
        op.alpha = Some(alpha);
        Ok(op)
    }
    fn alpha_at(&self, h: usize, t: usize) -> T {
        self.alpha.as_ref().map_or(T::one(), |a| a.at(h, t))
    }
    /// `x ← α_t (x - β_t k_t (k_t·x))`.
    fn step(&self, h: usize, t: usize, x: &mut [T]) {
        let k = self.qk.k.row(h, t);
        let coef = self.beta.at(h, t) * dot(k, x);
        let a = self.alpha_at(h, t);
        for (xi, &ki) in x.iter_mut().zip(k) {
            *xi = a * (*xi - coef * ki);
        }
    }
}

impl<T: Scalar> LinearOperator for DeltaNet<T> {
    la_common!();
    fn family(&self) -> &'static str {
        if self.alpha.is_some() {
            "gated DeltaNet"
        } else {
            "DeltaNet"
        }
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: self.qk.n() }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
        let (qk, h) = (&self.qk, channel);
        let mut m = DMatrix::zeros(qk.len, qk.len);
        for s in 0..qk.len {
            let beta = self.beta.at(h, s);
            let mut x: Vec<T> = qk.k.row(h, s).iter().map(|&k| beta * k).collect();
            for t in s..qk.len {
                if t > s {
                    self.step(h, t, &mut x);
                }
                m[(t, s)] = dot(qk.q.row(h, t), &x);
            }
        }
        Ok(Cow::Owned(m))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
        let (qk, l, h, n) = (&self.qk, self.qk.len, channel, self.qk.n());
        // A_t = α_t (I − β_t k_t k_tᵀ), entry by entry (symmetric: either layout).
        let a = StepMatrices::from_fn(l, n, n, |t, out| {
            let (k, beta, alpha) = (qk.k.row(h, t), self.beta.at(h, t), self.alpha_at(h, t));
            for (j, col) in out.chunks_exact_mut(n).enumerate() {
                for (i, x) in col.iter_mut().enumerate() {
                    let identity = if i == j { T::one() } else { T::zero() };
                    *x = (identity - k[i] * k[j] * beta) * alpha;
                }
            }
        });
        let (b, c) = (qk.key_columns(h, |t| self.beta.at(h, t)), qk.query_rows(h, |_| T::one()));
        Realization::from_flat_post_update(l, FlatTransition::Dense(a), b, c)
    }
    /// The delta rule: `S_t = α_t (S_{t-1} - β_t k_t (k_t·S_{t-1})) + β_t k_t u_t`,
    /// `y_t = q_t·S_t`.
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
        let (qk, h) = (&self.qk, channel);
        let mut state = vec![T::zero(); qk.n()];
        for (t, yt) in y.iter_mut().enumerate() {
            self.step(h, t, &mut state);
            let bu = self.beta.at(h, t) * u[t];
            for (s, &k) in state.iter_mut().zip(qk.k.row(h, t)) {
                *s += bu * k;
            }
            *yt = dot(qk.q.row(h, t), &state);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realization::TransitionStep;

    /// DeltaNet's flat `A_t` is, bit for bit, the matrix expression
    /// `(I − k_t k_tᵀ β_t)·α_t` it replaced (nalgebra's outer product for small
    /// and larger `d`, keys with signed zeros, gated and not).
    #[test]
    fn deltanet_transitions_are_the_matrix_expression_bit_for_bit() {
        for d in [3usize, 7] {
            let len = 5;
            let k: Vec<f64> = (0..len * d)
                .map(|j| match j % 5 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => (j as f64 * 0.77).sin() * 1.7,
                })
                .collect();
            let q: Vec<f64> = (0..len * d).map(|j| (j as f64 * 0.31).cos()).collect();
            let beta: Vec<f64> = (0..len).map(|t| 0.15 + 0.1 * t as f64).collect();
            let alpha: Vec<f64> = (0..len).map(|t| 0.99 - 0.07 * t as f64).collect();
            let dims = Dims { channels: 1, len, width: d };
            for gated in [false, true] {
                let op = if gated {
                    DeltaNet::gated(&q, &k, &beta, &alpha, dims).unwrap()
                } else {
                    DeltaNet::new(&q, &k, &beta, dims).unwrap()
                };
                let r = op.realization_kernel(0).unwrap();
                for t in 0..len {
                    let kt = DMatrix::from_column_slice(d, 1, &k[t * d..(t + 1) * d]);
                    let a = if gated { alpha[t] } else { 1.0 };
                    let want = (DMatrix::identity(d, d) - &kt * kt.transpose() * beta[t]) * a;
                    let TransitionStep::Dense(got) = r.a(t) else { panic!("DeltaNet's A_t is dense") };
                    let bits = |m: &[f64]| m.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(got.clone_owned().as_slice()),
                        bits(want.as_slice()),
                        "d = {d}, gated {gated}, t = {t}"
                    );
                }
            }
        }
    }
}
