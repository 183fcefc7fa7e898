//! # effective-state-size
//!
//! How much memory does a sequence model actually use? Many layers — attention,
//! convolutions, recurrences, state-space models and their input-varying versions —
//! are causal linear operators `y = T u` (after featurization, `T = f(u)`). At step
//! `i` the Hankel block `H_i = T[i:, :i]` maps the past to the future; its rank is
//! the smallest state that can carry the past across step `i`. That rank is the
//! layer's **effective state size** (ESS), to be compared with its theoretical
//! state size (TSS).
//!
//! ```
//! use effective_state_size::{ess, Dims, SoftmaxAttention};
//! // One head, L = 8, d = 2.
//! let q: Vec<f64> = (0..16).map(|j| (j as f64 * 0.7).sin()).collect();
//! let k: Vec<f64> = (0..16).map(|j| (j as f64 * 1.3).cos()).collect();
//! let attn = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len: 8, width: 2 })?;
//! let profile = ess::entropy(&attn)?;           // entropy-ESS at i = 1..7
//! assert_eq!(profile.indices(), &[1, 2, 3, 4, 5, 6, 7]);
//! let tol = ess::tolerance(&attn, ess::Tolerance::Relative(1e-3))?;
//! assert!(tol.channel(0).iter().zip(1..8).all(|(&e, i)| e <= i.min(8 - i) as f64));
//! # Ok::<(), effective_state_size::EssError>(())
//! ```
//!
//! ## Conventions
//! * **Indices** are 0-based. For `1 ≤ i ≤ L-1`, `H_i = T[i·p.., ..i·m]` (NumPy
//!   `T[i*p:, :i*m]`): rows are the outputs `y_i..y_{L-1}`, columns the strictly past
//!   inputs `u_0..u_{i-1}`. The diagonal (current input) is not part of it.
//!   Profiles are reported at these `i`.
//! * **Causality**: `T[t,s] = 0` for `s > t`; with `p` outputs and `m` inputs per
//!   step, `T` is `(p·L) × (m·L)` and block lower-triangular.
//! * **Recurrences** read their state after the update at the same step (Mamba's
//!   convention), so `T[t,t] = C_t B_t`.
//! * **Channels** (heads, SSM channels) are independent operators; a profile has one
//!   row per channel. *Average ESS* is the mean over channels, *total ESS* the sum.
//! * **Tolerance-ESS** counts `σ_k > threshold` (strictly), with the threshold
//!   [`Absolute`](ess::Tolerance::Absolute), [`Relative`](ess::Tolerance::Relative)
//!   to `σ_1`, or [`NumericalRank`](ess::Tolerance::NumericalRank)
//!   (`σ_1·max(rows, cols)·ε`). **Entropy-ESS** is `exp(-Σ p_k ln p_k)` with
//!   `p_k = σ_k/Σσ` (natural log), 0 for a zero block.
//! * **Data layout**: multi-channel tensors are row-major `(channels, L, …)` slices
//!   whose sizes are passed by name as a [`Dims`]; sequences are step after step.
//! * **Checks at the boundary**: every public function validates its input and what
//!   an operator's kernels return (shape, finiteness, causality), and reports
//!   problems as an [`EssError`] naming the channel, the index and the entry. No
//!   input makes the crate panic.
//! * **Memory**: one budget ([`ess::EssOptions::with_memory_budget`], 8 GiB by
//!   default) bounds every computation; see [`planner`].
//!
//! The mathematics, with derivations, is in [`theory`].
//!
//! ## Organisation
//! * [`operator`]: [`LinearOperator`] (what a layer implements), [`OperatorExt`]
//!   (the checked calls) and one type per family.
//! * [`planner`]: method choice, memory estimate and budget, the sweeps.
//! * [`realization`]: state realizations that the structured path uses;
//!   [`RealizationBatch`](realization::RealizationBatch), one per channel.
//! * [`reduction`]: distillation, [`reduce`] an operator to a small recurrence
//!   with a certified error (theorem, proof and tables in [`distillation`]).
//! * [`spectrum`]: singular values (backend trait, dense and Gramian paths).
//! * [`ess`]: measures, profiles, aggregation, the planner.
//! * [`Scalar`]: `f32` or `f64`; [`EssError`]: every failure, typed.
//! * [`guide`]: the user guide (definitions, choosing a tolerance, aggregation,
//!   the two paths, worked closed forms, writing your own operator).
//! * [`workflows`]: the ESS paper's analyses on real and paper-like cases
//!   (delimiter modulation on a trained transformer, batches, tolerance sweeps,
//!   normalised ESS, model reports, initialization, distillation sizing, ESS as a
//!   regularizer), every number from a command or doctest next to it.
//! * [`lowrank`]: certified low-rank ESS for long attention and convolutions
//!   ([`ess::Method::LowRank`]): guaranteed intervals, the two algorithms, when it pays.
//! * [`prelude`]: the traits and types most programs need.
//! * [`nalgebra`]: the re-exported matrix crate, so that implementing
//!   [`LinearOperator`] does not require pinning the same nalgebra version.

#![deny(missing_docs)]
// No `unsafe` anywhere except the runtime CPU-feature dispatch in `simd.rs`
// (one call, guarded by the feature check it needs).
#![deny(unsafe_code)]

pub mod error;
pub mod ess;
#[doc = include_str!("../docs/guide.md")]
pub mod guide {}
pub mod operator;
mod parallel;
pub mod planner;
mod random;
pub mod realization;
pub mod reduction;
pub mod scalar;
mod simd;
pub mod spectrum;
#[doc = include_str!("../docs/theory.md")]
pub mod theory {}
#[doc = include_str!("../docs/distillation.md")]
pub mod distillation {}
#[doc = include_str!("../docs/workflows.md")]
pub mod workflows {}
#[doc = include_str!("../docs/lowrank.md")]
pub mod lowrank {}
mod validate;

pub use error::{EssError, Result};
/// The matrix crate of the public API (`DMatrix` in [`LinearOperator`] and
/// [`Realization`]), re-exported so that `effective_state_size::nalgebra::DMatrix`
/// is always the right version.
pub use nalgebra;
pub use operator::*;
pub use realization::Realization;
pub use reduction::{reduce, ReduceOptions, Reduction};
pub use scalar::Scalar;

/// The traits and types most programs need: `use effective_state_size::prelude::*;`.
pub mod prelude {
    pub use crate::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
    pub use crate::operator::*;
    pub use crate::realization::{Realization, RealizationBatch, Steps, Transition, TransitionStep};
    pub use crate::reduction::{reduce, ReduceOptions, Reduction};
    pub use crate::{EssError, Scalar};
}

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
