//! Implementing `LinearOperator` for your own layer, with and without a
//! realization, and checking it with `ess::verify`.
//!
//! Run with `cargo run --release --example custom_operator`.

use effective_state_size::nalgebra::{DMatrix, DVector};
use effective_state_size::prelude::*;
use std::borrow::Cow;

/// A "forgetful average" layer per channel in Mamba's post-update form:
/// `x_t = λ_t x_{t-1} + u_t`, `y_t = c·x_t`, with an input-dependent gate `λ_t`.
/// So `T[t,s] = c·λ_t ⋯ λ_{s+1}`: a time-varying recurrence with one state.
struct ForgetfulAverage {
    gates: Vec<Vec<f64>>, // (channels, L), in [0, 1]
    readout: f64,
}

impl LinearOperator for ForgetfulAverage {
    type Scalar = f64;
    fn seq_len(&self) -> usize {
        self.gates[0].len()
    }
    fn channels(&self) -> usize {
        self.gates.len()
    }
    fn family(&self) -> &'static str {
        "forgetful average"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(1)
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::TimeVarying { order: 1 }
    }
    fn dense_kernel(&self, c: usize) -> Result<Cow<'_, DMatrix<f64>>, EssError> {
        let (g, len) = (&self.gates[c], self.seq_len());
        let mut t = DMatrix::zeros(len, len);
        for s in 0..len {
            let mut decay = self.readout;
            for tt in s..len {
                if tt > s {
                    decay *= g[tt];
                }
                t[(tt, s)] = decay;
            }
        }
        Ok(Cow::Owned(t))
    }
    /// Post-update form (Ā_t = λ_t, B̄ = 1, C̄ = c) converted to the standard form.
    fn realization_kernel(&self, c: usize) -> Result<Realization<f64>, EssError> {
        let a = self.gates[c].iter().map(|&l| DVector::from_element(1, l)).collect();
        Realization::from_post_update(
            self.seq_len(),
            Transition::Diagonal(Steps::Varying(a)),
            Steps::Constant(DMatrix::from_element(1, 1, 1.0)),
            Steps::Constant(DMatrix::from_element(1, 1, self.readout)),
        )
    }
    fn apply_kernel(&self, c: usize, u: &[f64], y: &mut [f64]) -> Result<(), EssError> {
        let mut x = 0.0;
        for ((yt, &ut), &l) in y.iter_mut().zip(u).zip(&self.gates[c]) {
            x = l * x + ut;
            *yt = self.readout * x;
        }
        Ok(())
    }
}

/// A layer known only by its matrix: a causal band (sliding window of width `w`,
/// so ESS ≤ w - 1). No realization; `apply` defaults to `T·u`.
struct Band {
    len: usize,
    w: usize,
}

impl LinearOperator for Band {
    type Scalar = f64;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        1
    }
    fn family(&self) -> &'static str {
        "band"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(self.w - 1)
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::None
    }
    fn dense_kernel(&self, _c: usize) -> Result<Cow<'_, DMatrix<f64>>, EssError> {
        Ok(Cow::Owned(DMatrix::from_fn(self.len, self.len, |t, s| {
            if s <= t && t - s < self.w {
                1.0 / (1.0 + (t + 2 * s) as f64)
            } else {
                0.0
            }
        })))
    }
}

fn main() -> Result<(), EssError> {
    let len = 96;
    let gates: Vec<Vec<f64>> =
        (0..2).map(|c| (0..len).map(|t| 0.5 + 0.45 * ((t * (c + 1)) as f64 * 0.3).sin()).collect()).collect();
    let layer = ForgetfulAverage { gates, readout: 2.0 };
    let check = ess::verify(&layer)?;
    println!("forgetful average: verify ok ({check:?})");
    let p = ess::entropy(&layer)?;
    println!("  entropy-ESS mean {:.3}, max {:.3}, path {}", p.mean(), p.max(), p.computed_by().name());

    let band = Band { len, w: 6 };
    ess::verify(&band)?;
    let opts = EssOptions::default().with_indices(Indices::Stride(16));
    let tol = ess::profile(&band, Measure::Tolerance(Tolerance::NumericalRank), &opts)?;
    println!("band w = 6: tolerance-ESS {:?} (≤ w - 1 = 5), path {}", tol.channel(0), tol.computed_by().name());

    // Mistakes are errors, never panics: a channel that does not exist, an input
    // of the wrong length.
    println!("apply on channel 5: {}", layer.apply(5, &vec![1.0; len]).unwrap_err());
    println!("apply with 3 inputs: {}", layer.apply(0, &[1.0; 3]).unwrap_err());
    Ok(())
}
