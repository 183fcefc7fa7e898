//! ESS of an input-varying operator over a batch of inputs.

use super::{profile, EssOptions, Measure};
use crate::error::{EssError, Result};
use crate::operator::{Featurizer, LinearOperator};
use crate::scalar::Scalar;

/// Statistics of a measure over a batch of inputs, per channel and index.
///
/// `mean[c][j]`, `std[c][j]` (population standard deviation), `min[c][j]` and
/// `max[c][j]` describe channel `c` at index `indices[j]` across the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchProfile {
    /// Number of inputs.
    pub inputs: usize,
    /// The evaluated indices.
    pub indices: Vec<usize>,
    /// The measure.
    pub measure: Measure,
    /// Mean over inputs.
    pub mean: Vec<Vec<f64>>,
    /// Population standard deviation over inputs.
    pub std: Vec<Vec<f64>>,
    /// Minimum over inputs.
    pub min: Vec<Vec<f64>>,
    /// Maximum over inputs.
    pub max: Vec<Vec<f64>>,
}

/// Featurizes each input, computes `measure` with `opts`, and aggregates over the
/// batch. All inputs must produce operators of the same length and channel count.
///
/// # Errors
/// An empty batch, a featurizer failure ([`EssError::Featurizer`] naming the
/// input), operators of differing shapes, and every error of [`profile`].
pub fn over_inputs<T, F, U>(featurizer: &F, inputs: &[U], measure: Measure, opts: &EssOptions) -> Result<BatchProfile>
where
    T: Scalar,
    F: Featurizer<T> + ?Sized,
    U: AsRef<[T]>,
{
    if inputs.is_empty() {
        return Err(EssError::empty("input batch", "give at least one input sequence"));
    }
    let mut profiles = Vec::with_capacity(inputs.len());
    let mut shape = None;
    for (k, u) in inputs.iter().enumerate() {
        let op =
            featurizer.featurize(u.as_ref()).map_err(|e| EssError::Featurizer { input: k, source: Box::new(e) })?;
        let s = (op.seq_len(), op.channels());
        match shape {
            None => shape = Some(s),
            Some(s0) if s0 != s => {
                return Err(EssError::shape(
                    format!("operator of input {k}"),
                    format!("(L = {}, channels = {}) like input 0", s0.0, s0.1),
                    format!("(L = {}, channels = {})", s.0, s.1),
                ))
            }
            _ => {}
        }
        profiles.push(profile(&op, measure, opts)?);
    }
    let first = &profiles[0];
    let (channels, width) = (first.channels(), first.indices().len());
    let n = profiles.len() as f64;
    let stat = |f: &dyn Fn(&[f64]) -> f64| -> Vec<Vec<f64>> {
        (0..channels)
            .map(|c| {
                (0..width)
                    .map(|j| {
                        let xs: Vec<f64> = profiles.iter().map(|p| p.values[c][j]).collect();
                        f(&xs)
                    })
                    .collect()
            })
            .collect()
    };
    let mean = stat(&|xs| xs.iter().sum::<f64>() / n);
    let std = stat(&|xs| {
        let m = xs.iter().sum::<f64>() / n;
        (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt()
    });
    let min = stat(&|xs| xs.iter().copied().fold(f64::INFINITY, f64::min));
    let max = stat(&|xs| xs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    Ok(BatchProfile { inputs: inputs.len(), indices: first.indices().to_vec(), measure, mean, std, min, max })
}
