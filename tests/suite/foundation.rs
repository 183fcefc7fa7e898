//! Regression tests for the 0.2 foundation (issue #9): one planner and one budget,
//! checks at the boundary for user operators, options that grow, and the
//! numerical faults found by an independent check. Each test reproduces a failure
//! of 0.1.0 (a refusal that ignored the budget, a hang, a panic on a worker
//! thread, a silent NaN or a wrong entry) and checks the fixed behaviour against
//! an independent value.

use crate::common;

use common::*;
use effective_state_size::ess::{self, ComputedBy, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::nalgebra::{DMatrix, DVector};
use effective_state_size::planner::max_hankel_rank;
use effective_state_size::prelude::*;
use effective_state_size::spectrum::{NalgebraSvd, SvdBackend};
use proptest::prelude::*;
use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn entropy_with<O: LinearOperator>(op: &O, method: Method) -> Result<ess::Profile, EssError> {
    ess::profile(op, Measure::Entropy, &EssOptions::default().with_method(method))
}

// ---------------------------------------------------------------- §1 planner

#[test]
fn the_budget_in_the_options_is_the_only_budget() {
    // 0.1.0: every family's dense() refused T above a hard-coded 8 GiB, whatever the
    // options said. L = 40,000 softmax attention: T alone is 12.8 GB.
    let len = 40_000;
    let q: Vec<f64> = (0..len).map(|t| (t as f64 * 0.1).sin()).collect();
    let op = SoftmaxAttention::new(&q, &q, Dims { channels: 1, len, width: 1 }).unwrap();
    let opts =
        EssOptions::default().with_memory_budget(u64::MAX).with_method(Method::Dense).with_indices(Indices::Middle);
    let plan = ess::plan(&op, &opts).unwrap();
    let t_bytes = (len * len * 8) as u64;
    // One chain of the dense path: the block (copied for its QR), three square
    // factors of order r = L/2 (the QR's, the visible copy and the held first
    // factor of a pair) and one row of r scalars.
    let r = (len / 2) as u64;
    let block_bytes = (len / 2 * len / 2 * 8) as u64 + 3 * r * r * 8 + r * 8;
    assert_eq!(plan.bytes, t_bytes + block_bytes);
    // Below that, the refusal names the knob that does help.
    let err = ess::plan(&op, &opts.clone().with_memory_budget(t_bytes)).unwrap_err();
    assert!(matches!(err, EssError::MemoryBudget { required, .. } if required == t_bytes + block_bytes));
    assert!(err.to_string().contains("with_memory_budget"), "{err}");
    // A family's dense matrix honours the budget it is given, not a constant.
    let small = SoftmaxAttention::new(&q[..300], &q[..300], Dims { channels: 1, len: 300, width: 1 }).unwrap();
    assert!(matches!(small.dense_within(0, 300 * 300 * 8 - 1), Err(EssError::MemoryBudget { .. })));
    assert_eq!(small.dense_within(0, 300 * 300 * 8).unwrap().shape(), (300, 300));
}

#[test]
fn the_index_list_is_budgeted_first() {
    // One value per index and channel, plus the index and a spare (8 bytes
    // each): (2 + channels)·8·count, checked before the list is built.
    let lti =
        LtiStateSpace::diagonal(&[0.5; 3], &[1.0; 3], &[1.0; 3], Dims { channels: 3, len: 64, width: 1 }).unwrap();
    let need = (2 + 3) * 8 * 63;
    let err = ess::plan(&lti, &EssOptions::default().with_memory_budget(need - 1));
    assert!(
        matches!(&err, Err(EssError::MemoryBudget { required, what, .. }) if *required == need && what.contains("63 indices")),
        "{err:?}"
    );
}

#[test]
fn the_plan_does_not_depend_on_the_thread_count() {
    let mut r = rng(5);
    let op = DenseOperator::single(random_causal(&mut r, 64, 1, 1)).unwrap();
    let t_bytes = 64 * 64 * 8;
    // One chain: the largest block, three square factors of order 32 and a row.
    let block = 32 * 32 * 8 + 3 * 32 * 32 * 8 + 32 * 8;
    // Exactly one T and one chain fit: accepted on any number of threads, and the
    // result equals the unconstrained one (parallelism is capped, not refused).
    let tight = EssOptions::default().with_memory_budget(t_bytes + block);
    let free = ess::entropy(&op).unwrap();
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let (plan, profile) =
            pool.install(|| (ess::plan(&op, &tight).unwrap(), ess::profile(&op, Measure::Entropy, &tight).unwrap()));
        assert_eq!(plan.bytes, t_bytes + block);
        assert_eq!(profile, free, "{threads} threads");
    }
    assert!(ess::plan(&op, &tight.clone().with_memory_budget(t_bytes + block - 1)).is_err());
}

#[test]
fn the_structured_plan_counts_the_realization_the_checkpointed_factors_and_the_scratch() {
    // N = 4, p = 2, m = 3, L = 10, time-varying with dense A_t, every index (9).
    // Realization per step: A (16) + B, C (4·5) + D (6) = 42 scalars, L = 10 steps,
    // plus a diagonal copy of A_t (L·N = 40). Checkpoints: groups of K = 3,
    // ⌈9/3⌉ checkpoints and 2·3 factors (Fo_i, Gr_i) per chain of the walk, two
    // chains: 3 + 12 = 15 factors of N² scalars, N exponents (16 bytes) and 128
    // bytes of headers. Scratch: 4N² + 8N + N(p + m) = 116 scalars.
    let (n, len, p, m) = (4, 10, 2, 3);
    let dims = Dims { channels: 1, len, width: n };
    let block = BlockShape { outputs: p, inputs: m };
    let a: Vec<f64> = (0..len * n * n).map(|k| if k % 7 == 0 { 0.3 } else { 0.01 }).collect();
    let (b, c) = (vec![0.5; len * n * m], vec![0.25; len * p * n]);
    let opts = EssOptions::default().with_method(Method::Structured);
    let op = TimeVaryingStateSpace::new(&a, &b, &c, dims, block).unwrap();
    assert_eq!(ess::plan(&op, &opts).unwrap().bytes, (420 + 40) * 8 + 15 * (16 * 8 + 64 + 128) + 116 * 8);
    // One index: a single group, which the upper chain alone holds (K = 1: one
    // checkpoint and its Fo_i, Gr_i).
    let middle = opts.clone().with_indices(Indices::Middle);
    assert_eq!(ess::plan(&op, &middle).unwrap().bytes, (420 + 40) * 8 + 3 * (16 * 8 + 64 + 128) + 116 * 8);
    // Two indices: K = 2, still one group (one checkpoint + 2·2 factors).
    let two = opts.clone().with_indices(Indices::List(vec![3, 6]));
    assert_eq!(ess::plan(&op, &two).unwrap().bytes, (420 + 40) * 8 + 5 * (16 * 8 + 64 + 128) + 116 * 8);
    // Three indices: K = 2, two groups, one per chain: 2 checkpoints + 4·2 factors.
    let three = opts.clone().with_indices(Indices::List(vec![2, 5, 7]));
    assert_eq!(ess::plan(&op, &three).unwrap().bytes, (420 + 40) * 8 + 10 * (16 * 8 + 64 + 128) + 116 * 8);
    let (a, b, c): (Vec<f32>, Vec<f32>, Vec<f32>) = (
        a.iter().map(|&x| x as f32).collect(),
        b.iter().map(|&x| x as f32).collect(),
        c.iter().map(|&x| x as f32).collect(),
    );
    let op32 = TimeVaryingStateSpace::new(&a, &b, &c, dims, block).unwrap();
    assert_eq!(ess::plan(&op32, &opts).unwrap().bytes, (420 + 40) * 4 + 15 * (16 * 4 + 64 + 128) + 116 * 4);
}

#[test]
fn planning_is_constant_in_the_sequence_length() {
    // 0.1.0 looped over L to find max_i min(p(L-i), m·i): 3.7 s at L = 4e9 and no
    // end at L = usize::MAX/2; and it counted a constant realization once per step
    // (L = 1e9, N = 1, one index: "needs 24 GB").
    for len in [4_000_000_000usize, usize::MAX / 2] {
        let op = LtiStateSpace::diagonal(&[0.5], &[1.0], &[1.0], Dims { channels: 1, len, width: 1 }).unwrap();
        let plan = ess::plan(&op, &EssOptions::default().with_indices(Indices::Middle)).unwrap();
        assert_eq!(plan.method, ComputedBy::Structured);
        assert_eq!(plan.indices, vec![len / 2]);
        assert!(plan.bytes < 1024, "{} bytes for a time-invariant N = 1 system", plan.bytes);
    }
    // Every index of a sequence that long is refused before the list is built.
    let op =
        LtiStateSpace::diagonal(&[0.5], &[1.0], &[1.0], Dims { channels: 1, len: usize::MAX / 2, width: 1 }).unwrap();
    let err = ess::plan(&op, &EssOptions::default()).unwrap_err();
    assert!(matches!(err, EssError::MemoryBudget { .. }) && err.to_string().contains("Indices::Stride"), "{err}");
    // A time-varying realization is counted per step.
    let len = 1000;
    let mamba = MambaChannels::new(
        &[-1.0],
        &vec![0.1; len],
        &vec![1.0; len],
        &vec![1.0; len],
        Dims { channels: 1, len, width: 1 },
    )
    .unwrap();
    let plan = ess::plan(&mamba, &EssOptions::default().with_indices(Indices::Middle)).unwrap();
    assert!(plan.bytes >= (len * 8) as u64, "{}", plan.bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn max_hankel_rank_equals_the_brute_force_maximum(len in 0usize..60, p in 1usize..5, m in 1usize..5) {
        let brute = (1..len).map(|i| (p * (len - i)).min(m * i)).max().unwrap_or(0);
        prop_assert_eq!(max_hankel_rank(len, BlockShape { outputs: p, inputs: m }), brute);
    }
}

#[test]
fn auto_picks_by_the_closed_form_bound() {
    // N = 3 against max_i min(L-i, i) = 3 at L = 6 (dense) and 4 at L = 8 (structured).
    let a = [0.9, 0.5, 0.2];
    let at = |len| LtiStateSpace::diagonal(&a, &[1.0; 3], &[1.0; 3], Dims { channels: 1, len, width: 3 }).unwrap();
    assert_eq!(ess::plan(&at(6), &EssOptions::default()).unwrap().method, ComputedBy::Dense);
    assert_eq!(ess::plan(&at(8), &EssOptions::default()).unwrap().method, ComputedBy::Structured);
    assert!(ess::plan(&at(8), &EssOptions::default()).unwrap().reason.contains("N = 3"));
}

// ---------------------------------------------------------------- §2 boundary

/// A user's operator whose kernels can be made to misbehave.
struct Custom {
    len: usize,
    fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    WrongShape,
    NotCausal,
    NaN,
    RealizationUndeclared,
    RealizationMissing,
    RealizationWrongOrder,
    RealizationVaries,
    ApplyWrong,
    /// `apply` computes `T·|u|`: right for nonnegative inputs only.
    ApplyOfMagnitudes,
    /// `apply` computes `−T·|u|`: right for nonpositive inputs only.
    ApplyOfNegativeMagnitudes,
    /// `apply` holds the input at `u[L/2]` over the second half: right for
    /// inputs constant there only.
    ApplyHoldsInput,
    /// The realization's output map is off by 1e-6 on channel 1.
    RealizationSlightlyOff,
}

impl Custom {
    /// `T[t,s] = 0.5^(t-s)` for `t ≥ s`: a leaky integrator with N = 1.
    fn t(&self) -> DMatrix<f64> {
        DMatrix::from_fn(self.len, self.len, |t, s| if s <= t { 0.5f64.powi((t - s) as i32) } else { 0.0 })
    }
    fn leaky(&self, n: usize, b: Steps<DMatrix<f64>>) -> Realization<f64> {
        let a = Transition::Diagonal(Steps::Constant(DVector::from_element(n, 0.5)));
        let c = Steps::Constant(DMatrix::from_fn(1, n, |_, j| if j == 0 { 0.5 } else { 0.0 }));
        Realization::new(self.len, a, b, c)
            .unwrap()
            .with_feedthrough(Steps::Constant(DMatrix::from_element(1, 1, 1.0)))
            .unwrap()
    }
}

impl LinearOperator for Custom {
    type Scalar = f64;
    fn seq_len(&self) -> usize {
        self.len
    }
    fn channels(&self) -> usize {
        2
    }
    fn family(&self) -> &'static str {
        "custom"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        Some(1)
    }
    fn realization_info(&self) -> RealizationInfo {
        match self.fault {
            Fault::None
            | Fault::RealizationMissing
            | Fault::RealizationWrongOrder
            | Fault::ApplyWrong
            | Fault::ApplyOfMagnitudes
            | Fault::ApplyOfNegativeMagnitudes
            | Fault::ApplyHoldsInput
            | Fault::RealizationSlightlyOff => RealizationInfo::TimeInvariant { order: 1 },
            Fault::RealizationVaries => RealizationInfo::TimeInvariant { order: 1 },
            _ => RealizationInfo::None,
        }
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<f64>>, EssError> {
        let mut t = self.t();
        match (self.fault, channel) {
            (Fault::WrongShape, 1) => t = DMatrix::zeros(self.len - 1, self.len),
            (Fault::NotCausal, 1) => t[(2, 5)] = 1.0,
            (Fault::NaN, 1) => t[(4, 3)] = f64::NAN,
            _ => {}
        }
        Ok(Cow::Owned(t))
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<f64>, EssError> {
        let one = DMatrix::from_element(1, 1, 1.0);
        match self.fault {
            Fault::RealizationSlightlyOff if channel == 1 => {
                Ok(self.leaky(1, Steps::Constant(DMatrix::from_element(1, 1, 1.0 + 1e-6))))
            }
            Fault::RealizationMissing => Err(EssError::NoRealization { family: "custom".into() }),
            Fault::RealizationWrongOrder => Ok(self.leaky(2, Steps::Constant(DMatrix::from_element(2, 1, 1.0)))),
            Fault::RealizationVaries => Ok(self.leaky(1, Steps::Varying(vec![one; self.len]))),
            _ => Ok(self.leaky(1, Steps::Constant(one))),
        }
    }
    fn apply_kernel(&self, channel: usize, u: &[f64], y: &mut [f64]) -> Result<(), EssError> {
        let mut x = 0.0;
        let magnitudes = self.fault == Fault::ApplyOfMagnitudes && channel == 1;
        let negative = self.fault == Fault::ApplyOfNegativeMagnitudes && channel == 1;
        let hold = self.fault == Fault::ApplyHoldsInput && channel == 1;
        for (t, yt) in y.iter_mut().enumerate() {
            let ut = if hold && t >= self.len / 2 { u[self.len / 2] } else { u[t] };
            x = 0.5 * x
                + if magnitudes {
                    ut.abs()
                } else if negative {
                    -ut.abs()
                } else {
                    ut
                };
            *yt = x;
        }
        if self.fault == Fault::ApplyWrong && channel == 1 {
            y[3] += 1.0;
        }
        Ok(())
    }
}

fn custom(fault: Fault) -> Custom {
    Custom { len: 8, fault }
}

#[test]
fn a_correct_user_operator_verifies_and_takes_the_structured_path() {
    let op = custom(Fault::None);
    let v = ess::verify(&op).unwrap();
    assert_eq!(v.channels, 2);
    assert!(v.apply_error < 1e-15 && v.realization_error.unwrap() < 1e-15, "{v:?}");
    let p = ess::tolerance(&op, Tolerance::Relative(1e-9)).unwrap();
    assert_eq!(p.computed_by(), ComputedBy::Structured);
    assert_eq!(p.channel(0), &[1.0; 7]);
    assert_eq!(ess::tolerance(&op, Tolerance::Relative(1e-9)).unwrap().channel(1), &[1.0; 7]);
}

#[test]
fn a_wrong_dense_shape_is_an_error_naming_the_channel_not_a_panic() {
    // 0.1.0: "Matrix slicing out of bounds" on a worker thread.
    let op = custom(Fault::WrongShape);
    for method in [Method::Dense, Method::Auto] {
        let err = entropy_with(&op, method).unwrap_err();
        assert!(matches!(&err, EssError::InvalidOperator { channel: 1, .. }), "{err}");
        assert!(err.to_string().contains("(7, 8)") && err.to_string().contains("(8, 8)"), "{err}");
    }
    assert!(op.hankel_block(1, 3).is_err() && op.apply(1, &[1.0; 8]).is_ok());
}

#[test]
fn a_non_causal_user_operator_is_refused() {
    // 0.1.0 measured it silently.
    let err = entropy_with(&custom(Fault::NotCausal), Method::Dense).unwrap_err();
    assert_eq!(err, EssError::NotCausal { channel: 1, row: 2, col: 5, value: 1.0, step_out: 2, step_in: 5 });
}

#[test]
fn a_non_finite_entry_names_the_channel_and_the_steps() {
    // 0.1.0: "Hankel block: non-finite value NaN at (0, 0)".
    let err = entropy_with(&custom(Fault::NaN), Method::Dense).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EssError::NonFinite { .. }), "{msg}");
    assert!(msg.contains("channel 1") && msg.contains("row 4, column 3") && msg.contains("input step 3"), "{msg}");
}

#[test]
fn realization_mistakes_are_loud() {
    // Declared but not implemented: forcing or auto-picking the structured path fails
    // with the operator's own error instead of falling back to the dense path.
    assert!(ess::entropy(&custom(Fault::RealizationMissing)).is_err());
    // A realization of another order than declared.
    let err = ess::entropy(&custom(Fault::RealizationWrongOrder)).unwrap_err();
    assert!(matches!(err, EssError::InvalidOperator { .. }) && err.to_string().contains("N = 2"), "{err}");
    // Declared time-invariant, but varying.
    let err = ess::entropy(&custom(Fault::RealizationVaries)).unwrap_err();
    assert!(err.to_string().contains("time-invariant"), "{err}");
    // Implemented but not declared: the dense path runs, and verify says why.
    let op = custom(Fault::RealizationUndeclared);
    assert_eq!(ess::entropy(&op).unwrap().computed_by(), ComputedBy::Dense);
    let err = ess::verify(&op).unwrap_err();
    assert!(err.to_string().contains("realization_info"), "{err}");
    // An apply that disagrees with T.
    let err = ess::verify(&custom(Fault::ApplyWrong)).unwrap_err();
    assert!(matches!(err, EssError::InvalidOperator { channel: 1, .. }), "{err}");
    // y[3] is off by exactly 1, reported relative to max|T|·m·L = 1·1·8.
    assert!(err.to_string().contains("apply(u) differs from T·u by 1.250e-1"), "{err}");
    // One that agrees on nonnegative (or nonpositive) inputs only, or on
    // inputs constant over the second half only: verify's input has both
    // signs and varies at every step.
    for fault in [Fault::ApplyOfMagnitudes, Fault::ApplyOfNegativeMagnitudes, Fault::ApplyHoldsInput] {
        let err = ess::verify(&custom(fault)).unwrap_err();
        let apply = err.to_string().contains("apply");
        assert!(matches!(err, EssError::InvalidOperator { channel: 1, .. }) && apply, "{fault:?}: {err}");
    }
    // A realization whose T is off by 1e-6 relative (above √ε ≈ 1.5e-8).
    let err = ess::verify(&custom(Fault::RealizationSlightlyOff)).unwrap_err();
    assert!(matches!(err, EssError::InvalidOperator { channel: 1, .. }), "{err}");
    assert!(err.to_string().contains("realization's T differs from the dense T by 5.000e-7"), "{err}");
}

#[test]
fn every_family_verifies() {
    let (q, k) = qk(3, 2, 12, 3);
    let dims = Dims { channels: 2, len: 12, width: 3 };
    let gates = vec![0.9; 2 * 12 * 3];
    ess::verify(&SoftmaxAttention::new(&q, &k, dims).unwrap().with_window(4).unwrap()).unwrap();
    ess::verify(&LinearAttention::new(&q, &k, dims).unwrap()).unwrap();
    ess::verify(&GatedLinearAttention::new(&q, &k, &gates, dims).unwrap()).unwrap();
    ess::verify(&DecayedLinearAttention::new(&q, &k, &[0.9, 0.5], dims).unwrap()).unwrap();
    ess::verify(&DeltaNet::gated(&q, &k, &[0.5; 24], &[0.9; 24], dims).unwrap()).unwrap();
    ess::verify(&FirConvolution::new(&[[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]], 12).unwrap()).unwrap();
    ess::verify(&Ssd::new(&[0.9; 24], &q[..72], &k[..72], dims).unwrap()).unwrap();
    let mamba = MambaChannels::new(&[-1.0, -0.5, -0.2, -2.0, -1.0, 0.0], &[0.3; 24], &q[..36], &k[..36], dims).unwrap();
    ess::verify(&mamba).unwrap();
}

/// The family names are what reports, errors and the `ess` tool print: each one
/// pinned (the reduction's, the realization's and the time-varying system's are
/// pinned where those are tested).
#[test]
fn every_family_has_its_name() {
    let (q, k) = qk(3, 2, 12, 3);
    let dims = Dims { channels: 2, len: 12, width: 3 };
    let attention = SoftmaxAttention::new(&q, &k, dims).unwrap();
    assert_eq!(attention.family(), "softmax attention");
    assert_eq!(attention.with_window(4).unwrap().family(), "sliding-window attention");
    assert_eq!(LinearAttention::new(&q, &k, dims).unwrap().family(), "linear attention");
    let gates = vec![0.9; 2 * 12 * 3];
    assert_eq!(GatedLinearAttention::new(&q, &k, &gates, dims).unwrap().family(), "gated linear attention");
    let retnet = DecayedLinearAttention::new(&q, &k, &[0.9, 0.5], dims).unwrap();
    assert_eq!(retnet.family(), "RetNet (decayed linear attention)");
    assert_eq!(DeltaNet::new(&q, &k, &[0.5; 24], dims).unwrap().family(), "DeltaNet");
    assert_eq!(DeltaNet::gated(&q, &k, &[0.5; 24], &[0.9; 24], dims).unwrap().family(), "gated DeltaNet");
    assert_eq!(FirConvolution::new(&[[1.0, 2.0, 3.0]], 12).unwrap().family(), "FIR convolution");
    assert_eq!(LongConvolution::new(&[[1.0, 0.5, 0.25]]).unwrap().family(), "long convolution");
    let gated = GatedConvolution::new(&[[1.0, 0.5, 0.25]], &[[1.0; 3]], &[[2.0; 3]]).unwrap();
    assert_eq!(gated.family(), "gated convolution");
    assert_eq!(Ssd::new(&[0.9; 24], &q[..72], &k[..72], dims).unwrap().family(), "Mamba-2 (SSD)");
    let mamba = MambaChannels::new(&[-1.0, -0.5, -0.2, -2.0, -1.0, 0.0], &[0.3; 24], &q[..36], &k[..36], dims).unwrap();
    assert_eq!(mamba.family(), "Mamba (S6)");
    let lti = LtiStateSpace::diagonal(&[0.5], &[1.0], &[1.0], Dims { channels: 1, len: 8, width: 1 }).unwrap();
    assert_eq!(lti.family(), "LTI state space");
    assert_eq!(DenseOperator::single(DMatrix::<f64>::identity(4, 4)).unwrap().family(), "dense");
    // A realization handed over as an operator, and a time-varying system: their
    // names and theoretical state sizes (N).
    let tv_dims = Dims { channels: 1, len: 5, width: 2 };
    let tv = TimeVaryingStateSpace::new(&[0.5; 20], &[1.0; 10], &[1.0; 10], tv_dims, BlockShape::SISO).unwrap();
    assert_eq!((tv.family(), tv.theoretical_state_size()), ("time-varying state space", Some(2)));
    let real = effective_state_size::operator::OperatorExt::realization(&tv, 0).unwrap().unwrap();
    assert_eq!((real.family(), real.theoretical_state_size()), ("realization", Some(2)));
}

// ---------------------------------------------------------------- §3 options

#[derive(Debug)]
struct Counting(AtomicUsize);

impl SvdBackend for Counting {
    fn singular_values_f64(&self, block: DMatrix<f64>) -> Result<Vec<f64>, EssError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        NalgebraSvd::default().singular_values_f64(block)
    }
    fn singular_values_f32(&self, block: DMatrix<f32>) -> Result<Vec<f32>, EssError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        NalgebraSvd::default().singular_values_f32(block)
    }
}

#[test]
fn the_backend_in_the_options_is_used_by_every_entry_point() {
    let backend = Arc::new(Counting(AtomicUsize::new(0)));
    let opts = EssOptions::default().with_backend(backend.clone()).with_indices(Indices::Stride(2));
    let op = DenseOperator::single(random_causal(&mut rng(6), 10, 1, 1)).unwrap();
    ess::profiles(&op, &[Measure::Entropy], &opts).unwrap();
    assert_eq!(backend.0.load(Ordering::Relaxed), 4);
    ess::singular_value_profile(&op, 0, &opts).unwrap();
    assert_eq!(backend.0.load(Ordering::Relaxed), 8);
    let featurize =
        |u: &[f64]| DenseOperator::single(DMatrix::from_fn(10, 10, |t, s| if s <= t { u[t] * u[s] } else { 0.0 }));
    ess::over_inputs(&featurize, &[vec![1.0; 10], vec![2.0; 10]], Measure::Entropy, &opts).unwrap();
    assert_eq!(backend.0.load(Ordering::Relaxed), 16);
    // The structured path too: a custom backend (which does not opt in to the
    // crate's own core kernel) sees the core of every index.
    let ssm = LtiStateSpace::diagonal(&[0.9, 0.5], &[1.0, 1.0], &[1.0, -1.0], Dims { channels: 1, len: 10, width: 2 })
        .unwrap();
    let p = ess::profile(&ssm, Measure::Entropy, &opts.clone().with_method(Method::Structured)).unwrap();
    assert_eq!(p.computed_by(), ess::ComputedBy::Structured);
    assert_eq!(backend.0.load(Ordering::Relaxed), 20);
}

#[test]
fn progress_reaches_the_total_and_can_cancel() {
    let op = DenseOperator::new(vec![random_causal(&mut rng(7), 40, 1, 1); 3], BlockShape::SISO).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let opts = EssOptions::default().with_progress(move |p| {
        assert!(p.done <= p.total && p.total == 3 * 39 && p.channels == 3);
        s.fetch_max(p.done, Ordering::Relaxed);
        ControlFlow::Continue(())
    });
    ess::profile(&op, Measure::Entropy, &opts).unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), 3 * 39);
    let stop = EssOptions::default().with_progress(|p| {
        if p.done >= 39 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let err = ess::profile(&op, Measure::Entropy, &stop).unwrap_err();
    assert!(matches!(err, EssError::Cancelled { total: 117, .. }), "{err}");
    // The structured path reports per channel.
    let lti =
        LtiStateSpace::diagonal(&[0.5, 0.9], &[1.0; 2], &[1.0; 2], Dims { channels: 2, len: 30, width: 1 }).unwrap();
    let cancel_all = EssOptions::default().with_progress(|_| ControlFlow::Break(()));
    assert!(matches!(ess::profile(&lti, Measure::Entropy, &cancel_all), Err(EssError::Cancelled { .. })));
}

#[test]
fn a_featurizer_error_keeps_its_source() {
    let failing = |_: &[f64]| -> Result<DenseOperator<f64>, EssError> { Err(EssError::SequenceTooShort { len: 1 }) };
    let err = ess::over_inputs(&failing, &[vec![0.0]], Measure::Entropy, &EssOptions::default()).unwrap_err();
    let source = std::error::Error::source(&err).expect("the featurizer's error is the source");
    assert!(source.to_string().contains("sequence length 1"), "{source}");
}

// ---------------------------------------------------------------- §4 faults

#[test]
fn zoh_with_a_huge_step_returns_at_once() {
    // 0.1.0 never returned (nalgebra's exp squared u64::MAX times).
    let a = DMatrix::from_diagonal(&DVector::from_vec(vec![-1.0, -2.0]));
    let (ad, bd) = zoh_discretize(&a, &DMatrix::from_element(2, 1, 1.0), 1e39).unwrap();
    assert_eq!(ad, DMatrix::zeros(2, 2));
    assert_eq!(bd.as_slice(), &[1.0, 0.5]); // -b/a exactly
                                            // A non-diagonal A with a huge norm also returns (here: decays to 0).
    let nd = DMatrix::from_row_slice(2, 2, &[-1.0, 1.0, 0.0, -2.0]);
    let (ad, _) = zoh_discretize(&nd, &DMatrix::from_element(2, 1, 1.0), 1e39).unwrap();
    assert!(ad.amax() < 1e-300);
}

#[test]
fn zoh_is_accurate_at_extreme_scales() {
    let e1 = (-1.0f64).exp();
    let a = DMatrix::from_diagonal(&DVector::from_vec(vec![-1e20, -1.0]));
    let (ad, bd) = zoh_discretize(&a, &DMatrix::from_element(2, 1, 1.0), 1.0).unwrap();
    assert!((ad[(1, 1)] - e1).abs() < 1e-15 && (bd[(1, 0)] - (1.0 - e1)).abs() < 1e-15, "{ad} {bd}"); // 0.1.0: 1 and 1
    assert!((bd[(0, 0)] - 1e-20).abs() < 1e-35);
    let (_, b) = zoh_diagonal(&[5e-324], &[1.0], 0.3).unwrap();
    assert_eq!(b, vec![0.3]); // 0.1.0: 0
                              // Small Δa (the series branch, |Δa| < 1e-5) and just above it: B̄ = Δ·b·φ₁(Δa)
                              // with φ₁(z) = Σ z^k/(k+1)!, summed here to 12 terms.
    for z in [3e-6f64, -7e-6, 9.9e-6, -2e-5, 4e-5] {
        let (a, delta, b) = (z / 0.25, 0.25, -1.5);
        let (_, got) = zoh_diagonal(&[a], &[b], delta).unwrap();
        let (mut phi, mut term) = (0.0, 1.0);
        for k in 0..12 {
            phi += term;
            term *= z / f64::from(k + 2);
        }
        let want = delta * b * phi;
        assert!((got[0] - want).abs() <= 1e-15 * want.abs(), "Δa = {z}: {} vs {want}", got[0]);
    }
    // Subnormal Δa (a near 1e-310): the series keeps B̄ = Δ·b to rounding, where
    // (e^z − 1)/a would divide two numbers with only 30–45 significant bits.
    for a in [-1e-310f64, -3.3e-311, -7e-312, -5.5e-313] {
        let (_, got) = zoh_diagonal(&[a], &[-1.5], 0.3).unwrap();
        let want = 0.3 * -1.5;
        assert!((got[0] - want).abs() <= 1e-15 * want.abs(), "a = {a:e}: {} vs {want}", got[0]);
    }
    assert!(matches!(zoh_diagonal(&[800.0], &[1.0], 1.0), Err(EssError::NonFinite { .. }))); // 0.1.0: Ok([inf])
                                                                                             // A general (non-diagonal, non-stiff) system matches a 60-term Taylor series of the augmented exponential.
    let a = DMatrix::from_row_slice(2, 2, &[-0.5, 0.3, -0.2, -0.1]);
    let b = DMatrix::from_row_slice(2, 1, &[1.0, -1.0]);
    let (ad, bd) = zoh_discretize(&a, &b, 0.7).unwrap();
    let mut big = DMatrix::zeros(3, 3);
    big.view_mut((0, 0), (2, 2)).copy_from(&(&a * 0.7));
    big.view_mut((0, 2), (2, 1)).copy_from(&(&b * 0.7));
    let (mut term, mut sum) = (DMatrix::<f64>::identity(3, 3), DMatrix::<f64>::identity(3, 3));
    for k in 1..60 {
        term = &term * &big / k as f64;
        sum += &term;
    }
    assert!((ad - sum.view((0, 0), (2, 2))).amax() < 1e-15 && (bd - sum.view((0, 2), (2, 1))).amax() < 1e-15);
}

#[test]
fn mamba_dense_survives_one_huge_step() {
    // 0.1.0 formed exp(A·(cum[t] − cum[s])), which cancels after Δ = 1e17.
    let len = 6;
    let delta = [1e17, 1.0, 1.0, 1.0, 1.0, 1.0];
    let op = MambaChannels::new(&[-1.0], &delta, &[1.0; 6], &[1.0; 6], Dims { channels: 1, len, width: 1 }).unwrap();
    let t = op.dense(0).unwrap();
    for k in 1..=4 {
        let expect = (-(k as f64)).exp(); // T[1+k, 1] = exp(-Δ_2 − … − Δ_{1+k})·Δ_1·1
        assert!((t[(1 + k, 1)] - expect).abs() < 1e-15, "T[{}, 1] = {}", 1 + k, t[(1 + k, 1)]);
    }
    let ms = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-9))];
    let dense = ess::profiles(&op, &ms, &EssOptions::default().with_method(Method::Dense)).unwrap();
    let fast = ess::profiles(&op, &ms, &EssOptions::default().with_method(Method::Structured)).unwrap();
    approx::assert_relative_eq!(dense[0], fast[0], max_relative = 1e-12);
    assert_eq!(dense[1].values(), fast[1].values());
}

#[test]
fn softmax_with_logits_beyond_the_range_gives_the_limit() {
    // 0.1.0: NaN in dense() for logits ≈ 1e320, and apply = [1, NaN, NaN, NaN] with scale 1e290.
    let len = 4;
    let q = [1e160, -1e160, 1e160, 1e160];
    let k = [1e160, 2e160, -1e160, 0.5e160];
    let op = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: 1 }).unwrap();
    // logits q_t·k_s: row t's mass goes to argmax_{s ≤ t} q_t k_s.
    let argmax = [0, 0, 1, 1];
    let t = op.dense(0).unwrap();
    for (row, &s) in argmax.iter().enumerate() {
        for col in 0..len {
            assert_eq!(t[(row, col)], if col == s { 1.0 } else { 0.0 }, "T[{row},{col}]");
        }
    }
    let u = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(op.apply(0, &u).unwrap(), vec![1.0, 1.0, 2.0, 2.0]);
    let scaled =
        SoftmaxAttention::new(&[1.0, 1.0, 1.0, 1.0], &[0.5, 1.0, 0.25, 1.0], Dims { channels: 1, len, width: 1 })
            .unwrap()
            .with_scale(1e290)
            .unwrap();
    // Ties share the mass: row 3 has k_1 = k_3 = 1.
    assert_eq!(scaled.apply(0, &u).unwrap(), vec![1.0, 2.0, 2.0, 3.0]);
    let d = scaled.dense(0).unwrap();
    assert_eq!((d[(3, 1)], d[(3, 3)]), (0.5, 0.5));
    // Logits that overflow to ±∞ in floating point (1e290 · ±1e20): the mass goes
    // to the largest visible k_s.
    let inf = SoftmaxAttention::new(&[1e10; 4], &[-1e10, 1e10, -2e10, 5e9], Dims { channels: 1, len, width: 1 })
        .unwrap()
        .with_scale(1e290)
        .unwrap();
    assert_eq!(inf.apply(0, &u).unwrap(), vec![1.0, 2.0, 2.0, 2.0]);
    assert!(inf.dense(0).unwrap().iter().all(|x: &f64| x.is_finite()));
}

#[test]
fn a_growing_mamba_mode_is_rejected_not_nan() {
    // 0.1.0: A = 800 gave apply = Ok([NaN; 4]).
    let err = MambaChannels::new(&[800.0], &[1.0; 4], &[1.0; 4], &[1.0; 4], Dims { channels: 1, len: 4, width: 1 })
        .unwrap_err();
    assert!(err.to_string().contains("≤ 0"), "{err}");
    // Finite parameters whose recurrence still overflows: an error from apply, not Ok(inf/NaN).
    let op = MambaChannels::new(&[0.0], &[1e300; 4], &[1e300; 4], &[1.0; 4], Dims { channels: 1, len: 4, width: 1 })
        .unwrap();
    assert!(matches!(op.apply(0, &[1.0; 4]), Err(EssError::NonFinite { .. })));
}

#[test]
fn empty_time_varying_parts_are_errors_not_panics() {
    let n1 = || DVector::from_element(1, 0.5);
    let m11 = || DMatrix::from_element(1, 1, 1.0);
    let r = Realization::new(
        3,
        Transition::Diagonal(Steps::Constant(n1())),
        Steps::Varying(vec![]),
        Steps::Constant(m11()),
    );
    assert!(matches!(r, Err(EssError::Empty { .. })));
    let r = Realization::<f64>::new(
        3,
        Transition::Dense(Steps::Varying(vec![])),
        Steps::Constant(m11()),
        Steps::Constant(m11()),
    );
    assert!(matches!(r, Err(EssError::Empty { .. })));
    let r = Realization::new(
        3,
        Transition::Diagonal(Steps::Constant(n1())),
        Steps::Constant(m11()),
        Steps::Varying(vec![]),
    );
    assert!(r.is_err());
}

/// A time-varying part without steps, and `B` without columns or `C` without
/// rows (each alone), are refused as empty, saying what is missing.
#[test]
fn empty_parts_of_a_realization_are_named() {
    use effective_state_size::realization::{Realization, Steps, Transition};
    let (b, c) = (Steps::Constant(DMatrix::from_element(2, 1, 1.0)), Steps::Constant(DMatrix::from_element(1, 2, 1.0)));
    for a in [Transition::Dense(Steps::Varying(Vec::new())), Transition::Diagonal(Steps::Varying(Vec::new()))] {
        let err = Realization::new(4, a, b.clone(), c.clone()).unwrap_err();
        assert!(
            matches!(err, EssError::Empty { .. }) && err.to_string().contains("A_t needs one matrix per step"),
            "{err}"
        );
    }
    let a = DMatrix::from_diagonal(&DVector::from_vec(vec![0.5, 0.25]));
    for (bm, cm) in [
        (DMatrix::zeros(2, 0), DMatrix::from_element(1, 2, 1.0)),
        (DMatrix::from_element(2, 1, 1.0), DMatrix::zeros(0, 2)),
    ] {
        let err = LtiStateSpace::from_matrices(vec![(a.clone(), bm, cm)], 8).unwrap_err();
        assert!(matches!(err, EssError::Empty { .. }), "{err}");
    }
}

/// A realization's accessors report the sizes and parts it was built from: `L`,
/// `N`, `p`, `m` all different, the feedthrough when there is one; a
/// realization of length zero cannot be built, so none is empty.
#[test]
fn a_realization_reports_its_sizes_and_parts() {
    use effective_state_size::realization::{Realization, Steps, Transition};
    let (len, n, p, m) = (6, 3, 2, 4);
    let a = Transition::Diagonal(Steps::Constant(DVector::from_vec(vec![0.5, 0.25, -0.5])));
    let b = Steps::Varying((0..len).map(|t| DMatrix::from_fn(n, m, |i, j| (t + i + 2 * j) as f64)).collect());
    let c = Steps::Constant(DMatrix::from_fn(p, n, |i, j| (i as f64) - (j as f64)));
    let d = |t: usize| DMatrix::from_fn(p, m, |i, j| (10 * t + i + j) as f64);
    let r = Realization::new(len, a.clone(), b.clone(), c.clone()).unwrap();
    assert_eq!((r.len(), r.state_size(), r.outputs(), r.inputs()), (len, n, p, m));
    assert!(!r.is_empty() && r.d(3).is_none());
    let r = r.with_feedthrough(Steps::Varying((0..len).map(d).collect())).unwrap();
    for t in 0..len {
        assert_eq!(r.d(t).map(|v| v.clone_owned()), Some(d(t)), "D_{t}");
        assert_eq!(r.b(t), DMatrix::from_fn(n, m, |i, j| (t + i + 2 * j) as f64), "B_{t}");
    }
    let one = Realization::new(1, a.clone(), Steps::Constant(DMatrix::from_element(n, m, 1.0)), c.clone()).unwrap();
    assert!(!one.is_empty() && one.len() == 1);
    assert!(Realization::new(0, a, Steps::Constant(DMatrix::from_element(n, m, 1.0)), c).is_err());
}

#[test]
fn attention_bias_reads_only_the_causal_part() {
    let (len, d) = (5, 2);
    let (q, k) = qk(8, 1, len, d);
    let dims = Dims { channels: 1, len, width: d };
    // A standard mask: -inf above the diagonal (and NaN there too is ignored).
    let mut bias = vec![0.0; len * len];
    for t in 0..len {
        for s in t + 1..len {
            bias[t * len + s] = if s == t + 1 { f64::NAN } else { f64::NEG_INFINITY };
        }
    }
    let masked = SoftmaxAttention::new(&q, &k, dims).unwrap().with_bias(AttentionBias::Matrix(bias.clone())).unwrap();
    let plain = SoftmaxAttention::new(&q, &k, dims).unwrap();
    assert!((masked.dense(0).unwrap() - plain.dense(0).unwrap()).amax() < 1e-15);
    // -inf inside the causal part masks an entry; a fully masked row is an error.
    bias[3 * len + 1] = f64::NEG_INFINITY;
    let m = SoftmaxAttention::new(&q, &k, dims).unwrap().with_bias(AttentionBias::Matrix(bias.clone())).unwrap();
    assert_eq!(m.dense(0).unwrap()[(3, 1)], 0.0);
    assert_apply_matches_dense(&m, 9);
    bias[0] = f64::NEG_INFINITY;
    assert!(SoftmaxAttention::new(&q, &k, dims).unwrap().with_bias(AttentionBias::Matrix(bias.clone())).is_err());
    bias[0] = f64::NAN;
    assert!(SoftmaxAttention::new(&q, &k, dims).unwrap().with_bias(AttentionBias::Matrix(bias)).is_err());
    // A fully masked row in the middle (row 2; the entries above the diagonal
    // are finite here, so only row 2's own causal entries decide), named.
    let mut bias = vec![0.0; len * len];
    bias[2 * len..2 * len + 3].fill(f64::NEG_INFINITY);
    let err = SoftmaxAttention::new(&q, &k, dims).unwrap().with_bias(AttentionBias::Matrix(bias)).unwrap_err();
    assert!(err.to_string().contains("row t = 2 of head 0"), "{err}");
}

/// ALiBi on queries and keys near 1e-160 (`q·k` near 1e-320, far below the
/// bias): the logits are scaled by the bias's exponent, not by that of `q·k`
/// (which would put the bias near 2^2000), so `T` is the pure-ALiBi softmax,
/// `T[t,s] = e^{-λ(t-s)} / Σ_{s'≤t} e^{-λ(t-s')}`.
#[test]
fn alibi_dominates_tiny_queries_and_keys() {
    let (len, d, slope) = (6, 2, 0.5);
    let dims = Dims { channels: 1, len, width: d };
    let tiny: Vec<f64> = (0..len * d).map(|k| 1e-160 * (1.0 + k as f64)).collect();
    let op = SoftmaxAttention::new(&tiny, &tiny, dims).unwrap().with_bias(AttentionBias::Alibi(vec![slope])).unwrap();
    let t = op.dense(0).unwrap();
    for r in 0..len {
        let norm: f64 = (0..=r).map(|s| (-slope * (r - s) as f64).exp()).sum();
        for s in 0..=r {
            let want = (-slope * (r - s) as f64).exp() / norm;
            assert!((t[(r, s)] - want).abs() <= 1e-14, "T[{r},{s}] = {} vs {want}", t[(r, s)]);
        }
    }
}
