//! The certified low-rank method (`Method::LowRank`) against the dense brute
//! force: every interval contains the exact value, unflagged tolerance counts are
//! exact, and the planner never picks the method by itself.

use crate::common;

use common::*;
use effective_state_size::ess::{self, ComputedBy, EssOptions, Indices, Measure, Method, Profile, Tolerance};
use effective_state_size::prelude::*;
use effective_state_size::{AttentionBias, BlockShape, LinearOperator};
use nalgebra::DMatrix;
use proptest::prelude::*;
use rand::Rng;

const MEASURES: [Measure; 4] = [
    Measure::Entropy,
    Measure::Tolerance(Tolerance::Relative(1e-3)),
    Measure::Tolerance(Tolerance::Relative(1e-6)),
    Measure::Tolerance(Tolerance::NumericalRank),
];

/// Runs both methods and checks every interval against the dense values; returns
/// the low-rank profiles.
fn check_against_dense<O: LinearOperator + ?Sized>(op: &O, opts: EssOptions) -> Vec<Profile> {
    let dense = ess::profiles(op, &MEASURES, &opts.clone().with_method(Method::Dense)).unwrap();
    let low = ess::profiles(op, &MEASURES, &opts.with_method(Method::LowRank)).unwrap();
    for (d, l) in dense.iter().zip(&low) {
        assert_eq!(l.computed_by(), ComputedBy::LowRank);
        assert_eq!(l.indices(), d.indices());
        let bounds = l.bounds().expect("a low-rank profile carries intervals");
        for (c, bounds) in bounds.iter().enumerate() {
            let amb = l.ambiguous(c, 0.0).unwrap();
            for (j, &i) in d.indices().iter().enumerate() {
                let exact = d.channel(c)[j];
                let [lo, hi] = bounds[j];
                // The dense values are exact up to rounding: allow it at the edges.
                let slack = 1e-9 * exact.abs().max(1.0);
                assert!(
                    lo - slack <= exact && exact <= hi + slack,
                    "{:?} channel {c} i={i}: dense {exact} not in [{lo}, {hi}]",
                    d.measure()
                );
                if matches!(d.measure(), Measure::Tolerance(_)) && !amb[j] {
                    assert_eq!(l.channel(c)[j], exact, "{:?} channel {c} i={i}: unflagged count differs", d.measure());
                }
            }
        }
    }
    low
}

/// Queries and keys of low dimension and moderate size: attention whose blocks
/// have small numerical rank, as many trained heads do.
fn low_rank_attention(heads: usize, len: usize, d: usize, seed: u64) -> SoftmaxAttention<f64> {
    let mut r = rng(seed);
    let q: Vec<f64> = uniform_vec(&mut r, heads * len * d, -1.0, 1.0);
    let k: Vec<f64> = uniform_vec(&mut r, heads * len * d, -1.0, 1.0);
    SoftmaxAttention::new(&q, &k, Dims { channels: heads, len, width: d }).unwrap()
}

#[test]
fn softmax_attention_intervals_contain_the_dense_values() {
    let op = low_rank_attention(2, 96, 4, 1);
    let low = check_against_dense(&op, EssOptions::default());
    // The default target resolves every tolerance count and narrows entropy to 1e-3.
    for p in &low {
        for c in 0..p.channels() {
            assert!(p.ambiguous(c, 1.01e-3).unwrap().iter().all(|a| !a), "{:?} has ambiguous values", p.measure());
        }
    }
}

#[test]
fn alibi_and_windowed_attention() {
    let op = low_rank_attention(2, 80, 3, 2).with_bias(AttentionBias::Alibi(vec![0.5, 2.0])).unwrap();
    check_against_dense(&op, EssOptions::default());
    let op = low_rank_attention(1, 70, 3, 3).with_window(9).unwrap();
    check_against_dense(&op, EssOptions::default().with_indices(Indices::Stride(3)));
}

#[test]
fn dense_operators_siso_and_mimo() {
    let mut r = rng(4);
    // Low rank plus small noise, SISO.
    let (len, k) = (90, 5);
    let a = DMatrix::from_fn(len, k, |_, _| r.random_range(-1.0..1.0));
    let b = DMatrix::from_fn(k, len, |_, _| r.random_range(-1.0..1.0));
    let mut t = &a * &b;
    t.iter_mut().for_each(|x| *x += 1e-7 * r.random_range(-1.0..1.0));
    let t = DMatrix::from_fn(len, len, |i, j| if j <= i { t[(i, j)] } else { 0.0 });
    check_against_dense(&DenseOperator::single(t).unwrap(), EssOptions::default());
    // MIMO blocks 2 × 3 with a generic T.
    let t = random_causal(&mut r, 24, 2, 3);
    let op = DenseOperator::new(vec![t], BlockShape { outputs: 2, inputs: 3 }).unwrap();
    check_against_dense(&op, EssOptions::default());
}

#[test]
fn convolutions_take_the_kernel_path() {
    // A long kernel of a few decaying modes: the Hankel path.
    let h: Vec<f64> =
        (0..400i32).map(|t| 0.97f64.powi(t) * (0.2 * f64::from(t)).cos() + 0.5 * 0.9f64.powi(t)).collect();
    let op = LongConvolution::new(&[h.clone(), h.iter().map(|x| -2.0 * x).collect()]).unwrap();
    let plan = ess::plan(&op, &EssOptions::default().with_method(Method::LowRank)).unwrap();
    assert!(plan.reason.contains("Hankel"), "{}", plan.reason);
    check_against_dense(&op, EssOptions::default().with_indices(Indices::Stride(5)));
    // FIR kernel: ESS k − 1 exactly, certified.
    let op = FirConvolution::new(&[[1.0, -0.5, 0.25, 0.125, 2.0]], 64).unwrap();
    let low = check_against_dense(&op, EssOptions::default());
    let tol = &low[1];
    assert!(tol.channel(0)[4..tol.indices().len() - 4].iter().all(|&v| v == 4.0));
}

#[test]
fn f32_operators_are_certified_in_f64() {
    let op64 = low_rank_attention(1, 64, 3, 5);
    let mut r = rng(5);
    let q: Vec<f32> = uniform_vec(&mut r, 64 * 3, -1.0, 1.0).into_iter().map(|x| x as f32).collect();
    let k: Vec<f32> = uniform_vec(&mut r, 64 * 3, -1.0, 1.0).into_iter().map(|x| x as f32).collect();
    let op32 = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len: 64, width: 3 }).unwrap();
    check_against_dense(&op32, EssOptions::default());
    check_against_dense(&op64, EssOptions::default());
}

#[test]
fn a_rank_cap_flags_instead_of_refining() {
    let op = low_rank_attention(1, 120, 8, 6);
    let opts = EssOptions::default().with_max_rank(Some(3));
    let low = check_against_dense(&op, opts);
    let flagged: usize = low[1].ambiguous(0, 0.0).unwrap().iter().filter(|&&a| a).count();
    assert!(flagged > 0, "rank 3 cannot resolve a relative 1e-3 count on these blocks");
}

#[test]
fn the_planner_never_picks_low_rank_and_checks_its_options() {
    let op = low_rank_attention(1, 32, 2, 7);
    assert_eq!(ess::plan(&op, &EssOptions::default()).unwrap().method, ComputedBy::Dense);
    let plan = ess::plan(&op, &EssOptions::default().with_method(Method::LowRank)).unwrap();
    assert_eq!(plan.method, ComputedBy::LowRank);
    for bad in [0.0, -1.0, f64::NAN] {
        let e = ess::profile(
            &op,
            Measure::Entropy,
            &EssOptions::default().with_method(Method::LowRank).with_interval_width(bad),
        );
        assert!(e.unwrap_err().to_string().contains("interval width"));
    }
    let e =
        ess::profile(&op, Measure::Entropy, &EssOptions::default().with_method(Method::LowRank).with_max_rank(Some(0)));
    assert!(e.unwrap_err().to_string().contains("rank"));
    // Exact paths report no intervals.
    assert!(ess::entropy(&op).unwrap().bounds().is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, rng_seed: proptest::test_runner::RngSeed::Fixed(11), ..ProptestConfig::default() })]
    /// Operators with a prescribed geometric spectrum decay and scale: the
    /// intervals always contain the exact values.
    #[test]
    fn intervals_contain_exact_values(
        decay in 0.05f64..0.95,
        rank in 1usize..12,
        scale_exp in -300i32..300,
        cap in prop::option::of(1usize..6),
        seed in 0u64..1000,
    ) {
        let mut r = rng(seed);
        let len = 40;
        let a = DMatrix::from_fn(len, rank, |_, j| decay.powi(j as i32) * r.random_range(-1.0..1.0));
        let b = DMatrix::from_fn(rank, len, |_, _| r.random_range(-1.0..1.0));
        let full = (&a * &b) * 2f64.powi(scale_exp);
        let t = DMatrix::from_fn(len, len, |i, j| if j <= i { full[(i, j)] } else { 0.0 });
        // A rank cap leaves many blocks unconverged: their intervals must still hold.
        let opts = EssOptions::default().with_indices(Indices::Stride(3)).with_max_rank(cap);
        check_against_dense(&DenseOperator::single(t).unwrap(), opts);
    }
}

/// A user operator that declares a convolution kernel but forgets to provide it.
struct ForgetfulConvolution(DMatrix<f64>);

impl LinearOperator for ForgetfulConvolution {
    type Scalar = f64;
    fn seq_len(&self) -> usize {
        self.0.nrows()
    }
    fn channels(&self) -> usize {
        1
    }
    fn family(&self) -> &'static str {
        "forgetful"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        None
    }
    fn realization_info(&self) -> effective_state_size::RealizationInfo {
        effective_state_size::RealizationInfo::None
    }
    fn dense_kernel(
        &self,
        _channel: usize,
    ) -> Result<std::borrow::Cow<'_, DMatrix<f64>>, effective_state_size::EssError> {
        Ok(std::borrow::Cow::Borrowed(&self.0))
    }
    fn convolution_taps(&self) -> Option<usize> {
        Some(2)
    }
}

#[test]
fn a_declared_but_missing_kernel_is_an_error_naming_the_hook() {
    let t = DMatrix::from_fn(12, 12, |r, c| match r - c.min(r) {
        0 if c <= r => 1.0,
        1 => 0.5,
        _ => 0.0,
    });
    let op = ForgetfulConvolution(t);
    let e = ess::profile(&op, Measure::Entropy, &EssOptions::default().with_method(Method::LowRank)).unwrap_err();
    assert!(e.to_string().contains("convolution_kernel is not implemented"), "{e}");
}

#[test]
fn the_memory_budget_covers_the_low_rank_method() {
    let op = low_rank_attention(1, 64, 2, 8);
    let opts = EssOptions::default().with_method(Method::LowRank);
    let plan = ess::plan(&op, &opts).unwrap();
    // At least T and its f64 copy.
    assert!(plan.bytes >= 2 * 64 * 64 * 8, "{}", plan.bytes);
    let e = ess::profile(&op, Measure::Entropy, &opts.clone().with_memory_budget(plan.bytes - 1)).unwrap_err();
    assert!(e.to_string().contains("budget"), "{e}");
    // Exactly the planned bytes suffice, and give the same values as a large budget.
    let tight = ess::profile(&op, Measure::Entropy, &opts.clone().with_memory_budget(plan.bytes)).unwrap();
    let roomy = ess::profile(&op, Measure::Entropy, &opts).unwrap();
    assert_eq!(tight.values(), roomy.values());
    // The kernel path of a convolution never forms T.
    let conv = LongConvolution::new(&[vec![1.0; 16_384]]).unwrap();
    let plan = ess::plan(&conv, &opts).unwrap();
    assert!(plan.bytes < 16_384 * 16_384 * 8 / 4, "{}", plan.bytes);
}

#[test]
fn the_lowrank_plan_names_its_algorithm() {
    let opts = EssOptions::default().with_method(Method::LowRank);
    let dense = DenseOperator::single(DMatrix::<f64>::identity(16, 16)).unwrap();
    assert!(ess::plan(&dense, &opts).unwrap().reason.contains("subspace iteration on the nested-block factors"));
    let conv = LongConvolution::new(&[vec![1.0; 16]]).unwrap();
    assert!(ess::plan(&conv, &opts).unwrap().reason.contains("convolution kernel's Hankel matrix"));
}

#[test]
fn the_lowrank_plan_counts_t_twice_one_dense_chain_and_five_factor_sized_matrices() {
    // L = 512, the middle index only: H_256 is 256 × 256. Memory: T and its f64
    // copy; one chain of the dense path in f64 (the block, two 256 × 256 factors
    // and a row); the scaled factor, its transpose and the bases (five 256 × 256
    // f64 matrices at most).
    let opts = EssOptions::default().with_method(Method::LowRank).with_indices(Indices::Middle);
    let chain = (256 * 256 + 2 * 256 * 256 + 256) * 8 + 5 * 256 * 256 * 8;
    let op = DenseOperator::single(DMatrix::<f64>::identity(512, 512)).unwrap();
    assert_eq!(ess::plan(&op, &opts).unwrap().bytes, 512 * 512 * 8 + 512 * 512 * 8 + chain);
    let op32 = DenseOperator::single(DMatrix::<f32>::identity(512, 512)).unwrap();
    assert_eq!(ess::plan(&op32, &opts).unwrap().bytes, 512 * 512 * 4 + 512 * 512 * 8 + chain);
}
