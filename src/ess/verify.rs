//! A self-check for operators written by users: do the kernels agree?

use crate::error::{EssError, Result};
use crate::operator::{LinearOperator, OperatorExt, RealizationInfo};
use crate::scalar::Scalar;
use nalgebra::DVector;

/// What [`verify`] measured: the largest deviations, relative to the largest
/// entry of `T`, over all channels.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Verification {
    /// Channels checked.
    pub channels: usize,
    /// `max |apply(u) − T·u| / (max|T|·max|u|·m·L)` over the channels, for a fixed
    /// pseudo-random `u` in `[-1, 1]` (its own for each channel).
    pub apply_error: f64,
    /// `max |T_realization − T| / max|T|`, if the operator has a realization.
    pub realization_error: Option<f64>,
    /// The threshold both were compared with: `√ε` of the operator's scalar type.
    pub threshold: f64,
}

/// Checks that an operator's kernels agree with each other on its own data: the
/// dense matrix is `(p·L) × (m·L)`, finite and causal; `apply` equals `T·u`; the
/// realization (if declared) has the declared sizes and reproduces `T`; and an
/// operator that declares no realization really has none. Meant for users
/// implementing [`LinearOperator`] for their own layer; costs `O(L²)` memory per
/// channel (it forms `T`).
///
/// ```
/// use effective_state_size::{ess, Dims, MambaChannels};
/// let op = MambaChannels::new(&[-1.0, -0.5], &[0.1; 8], &[1.0; 16], &[0.5; 16], Dims { channels: 1, len: 8, width: 2 })?;
/// let check = ess::verify(&op)?;
/// assert!(check.apply_error < 1e-14 && check.realization_error.unwrap() < 1e-14);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
///
/// # Errors
/// [`EssError::InvalidOperator`] (or the validation error of the kernel's output)
/// naming the channel and the disagreement when a deviation exceeds `√ε`.
pub fn verify<O: LinearOperator + ?Sized>(op: &O) -> Result<Verification> {
    let threshold = O::Scalar::EPSILON.to_f64().sqrt();
    let (len, b) = (op.seq_len(), op.block_shape());
    let mut apply_error = 0.0f64;
    let mut realization_error: Option<f64> = None;
    for c in 0..op.channels() {
        let t = op.dense_matrix(c)?;
        let scale = crate::scalar::max_abs(t.as_slice()).max(f64::MIN_POSITIVE);
        // A fixed pseudo-random input in [-1, 1) (in [-1, 1] after a cast to f32),
        // its own for each channel.
        let u: Vec<O::Scalar> =
            crate::random::uniform_vector(len * b.inputs, c as u64).iter().map(|&x| O::Scalar::cast(x)).collect();
        let y = op.apply(c, &u)?;
        let expect = &*t * DVector::from_column_slice(&u);
        let err = y.iter().zip(expect.iter()).fold(0.0f64, |m, (a, e)| m.max((a.to_f64() - e.to_f64()).abs()))
            / (scale * (len * b.inputs) as f64);
        if err.is_nan() || err > threshold {
            return Err(EssError::invalid_operator(
                op.family(),
                c,
                format!("apply(u) differs from T·u by {err:.3e} (relative to max|T|·m·L), above √ε = {threshold:.1e}"),
            ));
        }
        apply_error = apply_error.max(err);
        match op.realization_info() {
            RealizationInfo::None => {
                if op.realization_kernel(c).is_ok() {
                    return Err(EssError::invalid_operator(
                        op.family(),
                        c,
                        "realization_kernel returns a realization but realization_info() declares none, so the \
                         structured path is never used: declare RealizationInfo::TimeInvariant or TimeVarying",
                    ));
                }
            }
            _ => {
                let r = op.realization(c)?.expect("declared");
                let tr = r.dense();
                let err = crate::scalar::max_abs((&tr - &*t).as_slice()) / scale;
                if err.is_nan() || err > threshold {
                    return Err(EssError::invalid_operator(
                        op.family(),
                        c,
                        format!("the realization's T differs from the dense T by {err:.3e} (relative to max|T|), above √ε = {threshold:.1e}"),
                    ));
                }
                realization_error = Some(realization_error.unwrap_or(0.0).max(err));
            }
        }
    }
    Ok(Verification { channels: op.channels(), apply_error, realization_error, threshold })
}
