//! ESS as a training signal: gradients of entropy-ESS and of a smooth surrogate of
//! tolerance-ESS with respect to a Hankel block `H_i` and to the operator `T`.
//!
//! # Spectral gradients
//! Both measures are symmetric functions `f(σ_1, …, σ_k)` of the singular values.
//! For such a function, wherever `f` is differentiable in `σ` and the `σ_k` it
//! depends on are nonzero, the matrix function `F(H) = f(σ(H))` is differentiable
//! and
//!
//! ```text
//! ∂F/∂H = Σ_k (∂f/∂σ_k) u_k v_kᵀ          (from ∂σ_k/∂H = u_k v_kᵀ)
//! ```
//!
//! with `u_k`, `v_k` the singular vectors (Lewis, "The convex analysis of unitarily
//! invariant matrix functions", J. Convex Anal., 1995). Within a group of equal
//! singular values the vectors are not unique, but `∂f/∂σ_k` is the same for every
//! member of the group, so the group contributes `g · U_g V_gᵀ`, which does not
//! depend on the basis chosen: the gradient is well defined for repeated values.
//!
//! **Entropy-ESS** `E = exp(H)`, `H = −Σ p_k ln p_k`, `p_k = σ_k / S`,
//! `S = Σ_j σ_j`:
//!
//! ```text
//! ∂E/∂σ_k = −E · (ln p_k + H) / S          (σ_k > 0)
//! ```
//!
//! (from `∂H/∂p_j = −(ln p_j + 1)` and `∂p_j/∂σ_k = (δ_jk − p_j)/S`). Since
//! `Σ_k σ_k ∂E/∂σ_k = 0`, the gradient is orthogonal to `H` (`⟨∂E/∂H, H⟩ = 0`):
//! entropy-ESS is scale-invariant. A singular value that is exactly 0 has an
//! infinite one-sided slope (`−p ln p` at `p = 0`); there `E` is not
//! differentiable, and the gradient returned is the gradient along the matrices
//! of the same rank (the sum over `σ_k > 0`). Singular values at or below the
//! numerical-rank threshold `σ_1·max(rows, cols)·ε` (`ε` of the block's scalar
//! type) count as 0 for both measures: they are zeros moved by rounding, and
//! their vectors are noise. For `H = 0`, `E = 0` and the gradient returned is 0.
//!
//! **Soft tolerance-ESS.** The count `#{σ_k > θ}` is piecewise constant. Its
//! surrogate replaces the step by a logistic function on a log scale with a
//! temperature `T ∈ (0, 1)`:
//!
//! ```text
//! s_k = sigmoid((ln σ_k − ln θ) / T),      soft-ESS = Σ_k s_k        (s_k = 0 for σ_k = 0)
//! ∂soft/∂σ_k = s_k (1 − s_k) / (T σ_k)     plus, for a relative threshold θ = τ σ_1,
//! ∂soft/∂σ_1 −= Σ_k s_k (1 − s_k) / (T σ_1)
//! ```
//!
//! As `T → 0` the surrogate tends to the count (except at `σ_k = θ`, where it is
//! 1/2). With `T < 1`, `s_k = O(σ_k^{1/T})` near 0, so a vanishing singular value
//! contributes nothing and the surrogate is differentiable at rank-deficient
//! blocks. With a relative threshold the surrogate is scale-invariant like the
//! count, and at a repeated `σ_1` (where `σ_1` is not differentiable) the `σ_1`
//! term is spread evenly over the top group: `U_g V_gᵀ / |g|`, the element of
//! least norm of the subdifferential of `σ_1`.
//!
//! # Singular vectors
//! The vectors come from [`crate::spectrum::jacobi_svd`] (one-sided
//! Jacobi in `f64`), never from nalgebra's SVD with vectors, which returns wrong
//! values on some shapes; each decomposition is verified by its residual
//! `‖H v_k − σ_k u_k‖ / σ_1` and refused above `1e-8`.
//!
//! # Use as a regularizer
//! For a layer whose operator `T(θ)` depends on parameters `θ`, add
//! `−λ · Σ_i ESS_i(T(θ))` to the loss to encourage the layer to use its state (or
//! `+λ` to compress it), and back-propagate [`ProfileGradient::gradient`]
//! (`∂ Σ_i ESS_i / ∂T`) through `T(θ)` with the framework's autodiff (for example
//! as the upstream gradient of `T` in a custom backward pass). The ESS paper's
//! regularizer `λ‖A − I‖_F` acts on the state transitions only, pushing every mode
//! towards long memory whether or not the task uses it; an ESS term acts on the
//! realised operator and rewards the rank that reaches the output.
//! `docs/workflows.md` has a worked example.

use super::{Indices, Tolerance};
use crate::error::{EssError, Result};
use crate::operator::{check_causal, BlockShape, LinearOperator, OperatorExt};
use crate::scalar::Scalar;
use crate::spectrum::jacobi_svd;
use nalgebra::DMatrix;

/// A differentiable ESS measure of one block.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Smooth {
    /// Entropy-ESS, `exp(−Σ p_k ln p_k)`: already smooth.
    Entropy,
    /// The logistic surrogate of tolerance-ESS: `Σ_k sigmoid((ln σ_k − ln θ)/T)`
    /// with `θ` the threshold of an [`Absolute`](Tolerance::Absolute) or
    /// [`Relative`](Tolerance::Relative) tolerance and a temperature
    /// `T ∈ (0, 1)` (e.g. `0.1`; smaller is closer to the count and steeper).
    SoftTolerance {
        /// The threshold.
        tolerance: Tolerance,
        /// The temperature `T` of the logistic step on the log scale.
        temperature: f64,
    },
}

impl Smooth {
    /// Errors for a numerical-rank or invalid tolerance, or a temperature outside
    /// `(0, 1)`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Smooth::Entropy => Ok(()),
            Smooth::SoftTolerance { tolerance, temperature } => {
                tolerance.validate()?;
                if matches!(tolerance, Tolerance::NumericalRank) {
                    return Err(EssError::param(
                        "soft tolerance",
                        "the surrogate needs an absolute or relative threshold, not the numerical rank",
                    ));
                }
                if !(temperature.is_finite() && temperature > 0.0 && temperature < 1.0) {
                    return Err(EssError::param(
                        "temperature",
                        format!("{temperature}: the temperature must lie in (0, 1)"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The value and `∂f/∂σ_k` for descending `σ` (in `f64`).
    fn value_and_slopes(&self, s: &[f64]) -> (f64, Vec<f64>) {
        let mut slopes = vec![0.0; s.len()];
        let s1 = s.first().copied().unwrap_or(0.0);
        if s1 == 0.0 {
            return (0.0, slopes);
        }
        match *self {
            Smooth::Entropy => {
                let sum: f64 = s.iter().sum();
                let h: f64 = s.iter().map(|x| x / sum).filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum();
                let e = h.exp();
                for (g, &x) in slopes.iter_mut().zip(s) {
                    if x > 0.0 {
                        *g = -e * ((x / sum).ln() + h) / sum;
                    }
                }
                (e, slopes)
            }
            Smooth::SoftTolerance { tolerance, temperature: t } => {
                let (ln_theta, relative) = match tolerance {
                    Tolerance::Relative(tau) => (tau.ln() + s1.ln(), true),
                    Tolerance::Absolute(tau) => (tau.ln(), false),
                    _ => unreachable!("validated"),
                };
                let mut value = 0.0;
                let mut pull = 0.0;
                for (g, &x) in slopes.iter_mut().zip(s) {
                    if x > 0.0 {
                        let sk = sigmoid((x.ln() - ln_theta) / t);
                        value += sk;
                        let w = sk * (1.0 - sk) / t;
                        *g = w / x;
                        pull += w;
                    }
                }
                if relative {
                    let group = top_group(s);
                    for g in &mut slopes[..group] {
                        *g -= pull / s1 / group as f64;
                    }
                }
                (value, slopes)
            }
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Number of singular values equal to `σ_1` up to rounding (`σ_k ≥ σ_1(1 − 64ε)`).
fn top_group(s: &[f64]) -> usize {
    let s1 = s[0];
    s.iter().take_while(|&&x| x >= s1 * (1.0 - 64.0 * f64::EPSILON)).count()
}

/// A smooth measure of one block and its gradient with respect to the block.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BlockGradient<T: Scalar> {
    /// The measure's value.
    pub value: f64,
    /// `∂value/∂H`, of the block's shape.
    pub gradient: DMatrix<T>,
    /// The singular values of the block, descending.
    pub singular_values: Vec<f64>,
    /// The SVD's verified residual (see [`Svd`](crate::spectrum::Svd)).
    pub residual: f64,
}

/// Largest accepted SVD residual, relative to `σ_1`.
const MAX_RESIDUAL: f64 = 1e-8;

/// The value of `measure` on the block `h` and its gradient `∂/∂H`
/// (`Σ_k ∂f/∂σ_k · u_k v_kᵀ`; definitions in the [module](self)).
///
/// ```
/// use effective_state_size::ess::gradient::{block_gradient, Smooth};
/// use nalgebra::DMatrix;
/// // diag(2, 1): p = (2/3, 1/3), E = exp(H) ≈ 1.8899.
/// let g = block_gradient(&DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(&[2.0, 1.0])), Smooth::Entropy)?;
/// let (p1, p2) = (2.0f64 / 3.0, 1.0f64 / 3.0);
/// let h = -(p1 * p1.ln() + p2 * p2.ln());
/// assert!((g.value - h.exp()).abs() < 1e-15);
/// // ∂E/∂σ_1 = −E (ln p_1 + H)/3 < 0: making σ_1 larger makes the spectrum less even.
/// assert!((g.gradient[(0, 0)] + h.exp() * (p1.ln() + h) / 3.0).abs() < 1e-14);
/// assert_eq!(g.gradient[(0, 1)], 0.0);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
///
/// # Errors
/// An invalid measure, NaN/∞ entries, an empty block, an SVD that does not
/// converge or whose residual exceeds `1e-8·σ_1`, and a gradient that overflows
/// the scalar type.
pub fn block_gradient<T: Scalar>(h: &DMatrix<T>, measure: Smooth) -> Result<BlockGradient<T>> {
    measure.validate()?;
    if h.is_empty() {
        return Err(EssError::empty("block", "a Hankel block has at least one row and one column"));
    }
    let svd = jacobi_svd(h)?;
    if svd.residual.is_nan() || svd.residual > MAX_RESIDUAL {
        return Err(EssError::NoConvergence { rows: h.nrows(), cols: h.ncols(), iterations: 80 });
    }
    let s: Vec<f64> = svd.singular_values.iter().map(|x| x.to_f64()).collect();
    // Singular values at the rounding level of the input (the numerical-rank
    // threshold σ_1·max(rows, cols)·ε of its scalar type) are zeros that rounding
    // moved: their vectors are noise, and ln σ would make them dominate.
    let cut = s.first().copied().unwrap_or(0.0) * h.nrows().max(h.ncols()) as f64 * T::EPSILON.to_f64();
    let s: Vec<f64> = s.into_iter().map(|x| if x > cut { x } else { 0.0 }).collect();
    let (value, slopes) = measure.value_and_slopes(&s);
    let u = svd.u.map(|x| x.to_f64());
    let v = svd.v.map(|x| x.to_f64());
    let mut g = DMatrix::<f64>::zeros(h.nrows(), h.ncols());
    for (k, &gk) in slopes.iter().enumerate() {
        if gk != 0.0 {
            g.ger(gk, &u.column(k), &v.column(k), 1.0);
        }
    }
    let gradient = g.map(T::cast);
    crate::validate::check_matrix_finite("ESS gradient (overflow: rescale the operator)", &gradient)?;
    Ok(BlockGradient { value, gradient, singular_values: s, residual: svd.residual })
}

/// A smooth measure at several indices of one operator and the gradient of their
/// sum with respect to `T`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProfileGradient<T: Scalar> {
    /// The evaluated indices `i`.
    pub indices: Vec<usize>,
    /// The measure at each index.
    pub values: Vec<f64>,
    /// `∂(Σ_i value_i)/∂T`, of the shape of `T`; zero on and above the block
    /// diagonal (no Hankel block contains those entries).
    pub gradient: DMatrix<T>,
}

impl<T: Scalar> ProfileGradient<T> {
    /// The sum of the values (the quantity whose gradient is
    /// [`gradient`](Self::gradient)).
    pub fn total(&self) -> f64 {
        self.values.iter().sum()
    }
}

/// `measure` of every block `H_i = T[i·p.., ..i·m]` at `indices` of the causal
/// `(p·L) × (m·L)` matrix `t`, and `∂(Σ_i measure(H_i))/∂T`: each block's
/// gradient added into the entries the block covers.
///
/// Cost: one Jacobi SVD per index, `O(L⁴)` over all indices; sample indices for
/// long sequences.
///
/// # Errors
/// A shape that is not `(p·L) × (m·L)`, NaN/∞ entries, a non-causal `t`
/// ([`EssError::NotCausal`]), invalid indices or measure, and every error of
/// [`block_gradient`].
pub fn profile_gradient<T: Scalar>(
    t: &DMatrix<T>,
    block: BlockShape,
    indices: &Indices,
    measure: Smooth,
) -> Result<ProfileGradient<T>> {
    gradient_of(t, block, indices, measure, 0)
}

/// [`profile_gradient`], with `channel` named in a causality error.
fn gradient_of<T: Scalar>(
    t: &DMatrix<T>,
    block: BlockShape,
    indices: &Indices,
    measure: Smooth,
    channel: usize,
) -> Result<ProfileGradient<T>> {
    measure.validate()?;
    let (rows, cols) = t.shape();
    let (p, m) = (block.outputs, block.inputs);
    if p == 0 || m == 0 || rows % p != 0 || cols % m != 0 || rows / p != cols / m {
        return Err(EssError::shape(
            "operator matrix T",
            format!("(p·L) × (m·L) with block {p}×{m}"),
            format!("{rows} × {cols}"),
        ));
    }
    crate::validate::check_matrix_finite("operator matrix T", t)?;
    check_causal(t, block, channel)?;
    let len = rows / p;
    let indices = indices.resolve(len)?;
    let blocks = crate::parallel::try_map(&indices, |&i| {
        let (r, c) = block.hankel_shape(len, i);
        block_gradient(&t.view((i * p, 0), (r, c)).into_owned(), measure)
    })?;
    let mut gradient = DMatrix::<T>::zeros(rows, cols);
    let mut values = Vec::with_capacity(indices.len());
    for (&i, b) in indices.iter().zip(blocks) {
        let (r, c) = block.hankel_shape(len, i);
        let mut view = gradient.view_mut((i * p, 0), (r, c));
        view += &b.gradient;
        values.push(b.value);
    }
    Ok(ProfileGradient { indices, values, gradient })
}

/// [`profile_gradient`] of one channel of an operator (its dense `T`, within the
/// default memory budget).
///
/// # Errors
/// A channel out of range, and every error of [`OperatorExt::dense_matrix`] and
/// [`profile_gradient`].
pub fn operator_gradient<O: LinearOperator + ?Sized>(
    op: &O,
    channel: usize,
    indices: &Indices,
    measure: Smooth,
) -> Result<ProfileGradient<O::Scalar>> {
    let t = op.dense_matrix(channel)?;
    gradient_of(&t, op.block_shape(), indices, measure, channel).map_err(|e| e.in_channel(channel))
}
