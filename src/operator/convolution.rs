//! Causal convolutions: short (FIR) kernels, long kernels, and gated convolutions.
//!
//! * FIR: `T[t,s] = h_{t-s}` for `0 ≤ t-s < k`, else 0. TSS `k-1`: a shift register
//!   holding the last `k-1` inputs is a realization.
//! * Long: the same with `k = L`; no fixed TSS (`rank H_i ≤ min(i, L-i)`).
//! * Gated (H3/Hyena): `y = z ⊙ (h * (v ⊙ u))`, `T[t,s] = z_t h_{t-s} v_s`; the gates
//!   are diagonal scalings and never raise rank, so TSS is that of `h`.

use super::tensor::Array3;
use super::{LinearOperator, RealizationInfo};
use crate::error::{EssError, Result};
use crate::realization::{FlatTransition, Realization, StepMatrices};
use crate::scalar::Scalar;
use nalgebra::DMatrix;
use std::borrow::Cow;

/// Kernels `(channels, k)` plus optional gates `z`, `v` `(channels, L)`.
#[derive(Debug, Clone, PartialEq)]
struct Conv<T: Scalar> {
    kernels: Array3<T>,
    gates: Option<(Array3<T>, Array3<T>)>,
    channels: usize,
    k: usize,
    len: usize,
}

/// Per-channel rows of equal length, flattened row-major: `(data, channels, width)`.
fn flatten_rows<T: Scalar, R: AsRef<[T]>>(what: &str, rows: &[R], width_name: &str) -> Result<(Vec<T>, usize, usize)> {
    let Some(first) = rows.first() else {
        return Err(EssError::empty(what, format!("give one row of {width_name} values per channel")));
    };
    let width = first.as_ref().len();
    if width == 0 {
        return Err(EssError::empty(what, format!("each channel needs {width_name} ≥ 1 values")));
    }
    let mut data = Vec::with_capacity(rows.len() * width);
    for (c, r) in rows.iter().enumerate() {
        let r = r.as_ref();
        if r.len() != width {
            return Err(EssError::shape(
                format!("{what} of channel {c}"),
                format!("{width} values like channel 0"),
                format!("{} values", r.len()),
            ));
        }
        data.extend_from_slice(r);
    }
    Ok((data, rows.len(), width))
}

impl<T: Scalar> Conv<T> {
    fn new<R: AsRef<[T]>>(what: &str, kernels: &[R], len: usize) -> Result<Self> {
        let (data, channels, k) = flatten_rows(&format!("{what} kernels"), kernels, "k")?;
        if len == 0 {
            return Err(EssError::empty(what, "the sequence length L must be at least 1"));
        }
        if k > len {
            return Err(EssError::param("kernel length", format!("k = {k} exceeds the sequence length L = {len}")));
        }
        let kernels = Array3::new2(&format!("{what} kernels"), &data, [channels, k], ["channels", "k"])?;
        Ok(Self { kernels, gates: None, channels, k, len })
    }
    fn h(&self, c: usize) -> &[T] {
        &self.kernels.data()[c * self.k..(c + 1) * self.k]
    }
    /// `(z_t, v_t)`, both 1 without gates.
    fn gate(&self, c: usize, t: usize) -> (T, T) {
        match &self.gates {
            Some((z, v)) => (z.at(c, t), v.at(c, t)),
            None => (T::one(), T::one()),
        }
    }
    fn dense(&self, c: usize) -> DMatrix<T> {
        let h = self.h(c);
        DMatrix::from_fn(self.len, self.len, |t, s| {
            if s <= t && t - s < self.k {
                let (z, _) = self.gate(c, t);
                let (_, v) = self.gate(c, s);
                z * h[t - s] * v
            } else {
                T::zero()
            }
        })
    }
    /// Direct convolution `y_t = z_t Σ_j h_j v_{t-j} u_{t-j}`.
    fn apply(&self, c: usize, u: &[T], y: &mut [T]) {
        let h = self.h(c);
        let vu: Vec<T> = (0..self.len).map(|t| self.gate(c, t).1 * u[t]).collect();
        for (t, yt) in y.iter_mut().enumerate() {
            let acc = (0..self.k.min(t + 1)).fold(T::zero(), |acc, j| acc + h[j] * vu[t - j]);
            *yt = self.gate(c, t).0 * acc;
        }
    }
    /// The realization's kind: a shift register of `k-1` states, time-varying when gated.
    fn shift_register(&self) -> RealizationInfo {
        let order = self.k - 1;
        match self.gates {
            Some(_) => RealizationInfo::TimeVarying { order },
            None => RealizationInfo::TimeInvariant { order },
        }
    }
    /// Shift register, standard form: `x_t = (v_{t-1}u_{t-1}, …, v_{t-k+1}u_{t-k+1})`,
    /// `A` = down-shift, `B_t = v_t e_1`, `C_t = z_t (h_1, …, h_{k-1})`, `D_t = z_t h_0 v_t`.
    fn realization(&self, c: usize) -> Result<Realization<T>> {
        let (n, h) = (self.k - 1, self.h(c));
        let shift = DMatrix::from_fn(n, n, |r, q| if r == q + 1 { T::one() } else { T::zero() });
        // Each part written straight into its flat storage: per step when gated,
        // once otherwise (the gates are then 1).
        let steps = self.gates.as_ref().map(|_| self.len);
        let part = |rows: usize, cols: usize, fill: &(dyn Fn(usize, &mut [T]) + Sync)| {
            StepMatrices::from_fn_or_constant(steps, rows, cols, fill)
        };
        // B_t = v_t·e_1 (no entry when k = 1: no state).
        let b = part(n, 1, &|t, out| out.iter_mut().take(1).for_each(|o| *o = self.gate(c, t).1));
        let cm = part(1, n, &|t, out| {
            let z = self.gate(c, t).0;
            out.iter_mut().zip(&h[1..]).for_each(|(o, &x)| *o = x * z);
        });
        let d = part(1, 1, &|t, out| {
            let (z, v) = self.gate(c, t);
            out[0] = z * h[0] * v;
        });
        Realization::from_flat(self.len, FlatTransition::Dense(StepMatrices::constant(&shift)), b, cm, Some(d))
    }
}

macro_rules! conv_operator {
    ($ty:ident, $family:literal, $info:expr, $taps:expr) => {
        impl<T: Scalar> LinearOperator for $ty<T> {
            type Scalar = T;
            fn seq_len(&self) -> usize {
                self.0.len
            }
            fn channels(&self) -> usize {
                self.0.channels
            }
            fn family(&self) -> &'static str {
                $family
            }
            fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>> {
                Ok(Cow::Owned(self.0.dense(channel)))
            }
            fn theoretical_state_size(&self) -> Option<usize> {
                self.realization_info().order()
            }
            fn realization_info(&self) -> RealizationInfo {
                #[allow(clippy::redundant_closure_call)]
                ($info)(&self.0)
            }
            fn realization_kernel(&self, channel: usize) -> Result<Realization<T>> {
                self.0.realization(channel)
            }
            fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<()> {
                self.0.apply(channel, u, y);
                Ok(())
            }
            fn convolution_taps(&self) -> Option<usize> {
                #[allow(clippy::redundant_closure_call)]
                ($taps)(&self.0)
            }
            fn convolution_kernel(&self, channel: usize) -> Result<Vec<T>> {
                Ok(self.0.h(channel).to_vec())
            }
        }
    };
}

/// Short causal convolutions, one kernel `h_0..h_{k-1}` per channel.
///
/// `T[t,s] = h_{t-s}` for `0 ≤ t-s < k`, else 0. TSS: `k-1`. Realization: a shift
/// register of the last `k-1` inputs.
///
/// ```
/// use effective_state_size::prelude::*;
/// let op = FirConvolution::new(&[[1.0, 2.0, 3.0]], 10)?; // one channel, k = 3, L = 10
/// let y = op.apply(0, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])?;
/// assert_eq!(y[..4], [1.0, 2.0, 3.0, 0.0]);
/// let p = ess::tolerance(&op, ess::Tolerance::NumericalRank)?;
/// assert_eq!(p.at(0, 5), Some(2.0)); // k - 1
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FirConvolution<T: Scalar>(Conv<T>);

impl<T: Scalar> FirConvolution<T> {
    /// One kernel `h_0..h_{k-1}` per channel (any slices or arrays of equal length
    /// `k`), for sequences of length `len`.
    ///
    /// # Errors
    /// No channels, kernels of different lengths, `k = 0`, `k > len`, non-finite taps.
    pub fn new<R: AsRef<[T]>>(kernels: &[R], len: usize) -> Result<Self> {
        Ok(Self(Conv::new("FIR convolution", kernels, len)?))
    }
    /// Kernel length `k`.
    pub fn kernel_len(&self) -> usize {
        self.0.k
    }
}

conv_operator!(FirConvolution, "FIR convolution", |c: &Conv<T>| c.shift_register(), |c: &Conv<T>| Some(c.k));

/// Long causal convolutions: one kernel of length `L` per channel (S4/Hyena style
/// implicit kernels, materialised).
///
/// `T[t,s] = h_{t-s}`. No fixed TSS: `rank H_i ≤ min(i, L-i)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LongConvolution<T: Scalar>(Conv<T>);

impl<T: Scalar> LongConvolution<T> {
    /// One kernel `h_0..h_{L-1}` per channel; `L` is the kernel length.
    pub fn new<R: AsRef<[T]>>(kernels: &[R]) -> Result<Self> {
        let len = kernels.first().map_or(0, |k| k.as_ref().len());
        Ok(Self(Conv::new("long convolution", kernels, len)?))
    }
}

conv_operator!(LongConvolution, "long convolution", |_: &Conv<T>| RealizationInfo::None, |c: &Conv<T>| Some(c.k));

/// Gated convolutions `y = z ⊙ (h * (v ⊙ u))` (H3/Hyena): `T[t,s] = z_t h_{t-s} v_s`.
///
/// TSS: `k-1` for a kernel shorter than `L`, none for a long kernel (`k = L`).
/// The gates `z`, `v` are the featurized, input-dependent parts of the layer.
#[derive(Debug, Clone, PartialEq)]
pub struct GatedConvolution<T: Scalar>(Conv<T>);

impl<T: Scalar> GatedConvolution<T> {
    /// One kernel `h_0..h_{k-1}` and one pair of gates `z`, `v` (`L` values each)
    /// per channel; `L` is the gates' length.
    pub fn new<R: AsRef<[T]>, G: AsRef<[T]>>(kernels: &[R], z: &[G], v: &[G]) -> Result<Self> {
        let len = z.first().map_or(0, |g| g.as_ref().len());
        let mut conv = Conv::new("gated convolution", kernels, len)?;
        let gate = |what: &str, g: &[G]| -> Result<Array3<T>> {
            let (data, channels, width) = flatten_rows(what, g, "L")?;
            if (channels, width) != (conv.channels, len) {
                return Err(EssError::shape(
                    what,
                    format!("(channels={}, L={len})", conv.channels),
                    format!("(channels={channels}, L={width})"),
                ));
            }
            Array3::new2(what, &data, [channels, len], ["channels", "L"])
        };
        conv.gates = Some((gate("gate z", z)?, gate("gate v", v)?));
        Ok(Self(conv))
    }
}

conv_operator!(
    GatedConvolution,
    "gated convolution",
    |c: &Conv<T>| if c.k < c.len { c.shift_register() } else { RealizationInfo::None },
    |_: &Conv<T>| None
);
