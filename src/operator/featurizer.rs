//! Input-varying operators in general: a featurizer turns an input into an operator.

use super::LinearOperator;
use crate::error::Result;
use crate::scalar::Scalar;

/// Maps an input sequence to the causal operator a layer applies to it,
/// `T = f(u)`: how a layer the crate does not know is plugged in.
///
/// Any closure `Fn(&[T]) -> Result<O>` is a featurizer. The input layout is the
/// featurizer's own business (typically row-major `L × d_model`).
///
/// ```
/// use effective_state_size::{ess, Dims, EssError, Featurizer, GatedLinearAttention};
/// // A toy GLA layer: q = k = u, gates from a sigmoid of u.
/// let (len, d) = (16, 4);
/// let layer = |u: &[f64]| -> Result<GatedLinearAttention<f64>, EssError> {
///     let gates: Vec<f64> = u.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect();
///     GatedLinearAttention::new(u, u, &gates, Dims { channels: 1, len: len, width: d })
/// };
/// let inputs: Vec<Vec<f64>> = (0..3).map(|s| (0..len * d).map(|j| ((j * 7 + s) % 11) as f64 / 5.0 - 1.0).collect()).collect();
/// let batch = ess::over_inputs(&layer, &inputs, ess::Measure::Entropy, &Default::default())?;
/// assert_eq!(batch.inputs, 3);
/// assert!(batch.mean[0].iter().all(|&m| m <= d as f64 + 1e-9));
/// # Ok::<(), EssError>(())
/// ```
pub trait Featurizer<T: Scalar>: Sync {
    /// The operator type produced.
    type Operator: LinearOperator<Scalar = T>;
    /// Builds the operator for one input.
    fn featurize(&self, input: &[T]) -> Result<Self::Operator>;
}

impl<T, O, F> Featurizer<T> for F
where
    T: Scalar,
    O: LinearOperator<Scalar = T>,
    F: Fn(&[T]) -> Result<O> + Sync,
{
    type Operator = O;
    fn featurize(&self, input: &[T]) -> Result<O> {
        self(input)
    }
}
