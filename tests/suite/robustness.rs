//! Hard numerics and hostile inputs: extreme scales, repeated and widely spread
//! singular values, f32 noise, SVD non-convergence, and no panic on any input.

use crate::common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::spectrum::{singular_values, NalgebraSvd, SvdBackend};
use effective_state_size::*;
use nalgebra::DMatrix;
use proptest::prelude::*;

const ALL: [Measure; 3] =
    [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-6)), Measure::Tolerance(Tolerance::NumericalRank)];

#[test]
fn extreme_scales_leave_scale_free_measures_unchanged() {
    let mut r = rng(1);
    let t = random_causal(&mut r, 20, 1, 1);
    let base = ess::profiles(&DenseOperator::single(t.clone()).unwrap(), &ALL, &EssOptions::default()).unwrap();
    for scale in [1e-300, 1e-150, 1e150, 1e300] {
        let scaled = ess::profiles(&DenseOperator::single(&t * scale).unwrap(), &ALL, &EssOptions::default()).unwrap();
        for (b, s) in base.iter().zip(&scaled) {
            for (x, y) in b.channel(0).iter().zip(s.channel(0)) {
                assert!(y.is_finite() && close(*x, *y, 1e-12), "scale {scale:e}: {x} vs {y}");
            }
        }
        // The values themselves scale exactly (power-of-two rescaling, no overflow).
        let sv = ess::singular_values(&DenseOperator::single(&t * scale).unwrap(), 0, 10).unwrap();
        let sv0 = ess::singular_values(&DenseOperator::single(t.clone()).unwrap(), 0, 10).unwrap();
        assert!(sv.iter().all(|x| x.is_finite()));
        assert!(close(sv[0], sv0[0] * scale, 1e-12));
    }
    // f32 spans 1e-30..1e30 the same way.
    let t32 = t.map(|x| x as f32);
    let b32 = ess::entropy(&DenseOperator::single(t32.clone()).unwrap()).unwrap();
    for scale in [1e-30f32, 1e30] {
        let s32 = ess::entropy(&DenseOperator::single(t32.map(|x| x * scale)).unwrap()).unwrap();
        for (x, y) in b32.channel(0).iter().zip(s32.channel(0)) {
            assert!(close(*x, *y, 1e-5), "f32 scale {scale:e}: {x} vs {y}");
        }
    }
    // A mix of 1e-300 and 1e300 entries in one operator: no overflow, finite ESS.
    let mut mixed = t.clone();
    for k in 0..20 {
        mixed[(k, 0)] *= 1e300;
        mixed[(19, k)] *= 1e-300;
    }
    let p = ess::profiles(&DenseOperator::single(mixed).unwrap(), &ALL, &EssOptions::default()).unwrap();
    assert!(p.iter().all(|q| q.channel(0).iter().all(|v| v.is_finite() && *v >= 1.0)));
}

#[test]
fn exactly_repeated_singular_values() {
    // Block-orthogonal structure: T = tril of a scaled Hadamard-like sign pattern
    // on a shift gives equal singular values; entropy equals the count.
    let (len, k) = (24, 6);
    for c in [1e-200, 1.0, 1e200] {
        let t = DMatrix::<f64>::from_fn(len, len, |a, b| if a >= b && a - b == k { c } else { 0.0 });
        let op = DenseOperator::single(t).unwrap();
        let [ent, tol]: [_; 2] = ess::profiles(&op, &ALL[..2], &EssOptions::default()).unwrap().try_into().unwrap();
        for (&i, (&e, &n)) in ent.indices().iter().zip(ent.channel(0).iter().zip(tol.channel(0))) {
            let expect = k.min(i).min(len - i) as f64;
            assert!((e - expect).abs() < 1e-12 && n == expect, "c={c:e} i={i}: {e} {n}");
        }
    }
}

#[test]
fn one_huge_and_many_tiny_singular_values() {
    // H = σ₁ u vᵀ + 1e-11·(rank 6): entropy barely above 1, tolerance-ESS 1 for
    // thresholds above the tiny values, 7 between them and the ε·σ₁ noise floor.
    let mut r = rng(2);
    let len = 30;
    let (u, v) = (normal_vec(&mut r, len), normal_vec(&mut r, len));
    let big = DMatrix::from_fn(len, len, |a, b| u[a] * v[b]);
    let x = DMatrix::from_vec(len, 6, normal_vec(&mut r, len * 6));
    let y = DMatrix::from_vec(len, 6, normal_vec(&mut r, len * 6));
    let full = big + (&x * y.transpose()) * 1e-11;
    let t = DMatrix::from_fn(len, len, |a, b| if b <= a { full[(a, b)] } else { 0.0 });
    let op = DenseOperator::single(t).unwrap();
    let i = 15;
    let s = ess::singular_values(&op, 0, i).unwrap();
    assert!(
        s[1] / s[0] < 1e-9 && s[6] / s[0] > 1e-14 && s[7] / s[0] < 1e-15,
        "{:e} {:e} {:e}",
        s[1] / s[0],
        s[6] / s[0],
        s[7] / s[0]
    );
    let opts = EssOptions::default().with_indices(Indices::List(vec![i]));
    let at = |m: Measure| ess::profile(&op, m, &opts).unwrap().channel(0)[0];
    assert_eq!(at(Measure::Tolerance(Tolerance::Relative(1e-10))), 1.0);
    assert_eq!(at(Measure::Tolerance(Tolerance::Relative(1e-14))), 7.0);
    let e = at(Measure::Entropy);
    assert!(e > 1.0 && e < 1.0 + 1e-8, "{e}");
}

#[test]
fn f32_tolerance_does_not_count_rounding_noise() {
    // A rank-2 causal operator stored in f32: rounding adds singular values near
    // 1e-7·σ₁. NumericalRank (with f32's ε) and Relative(1e-5) both see rank 2.
    let mut r = rng(3);
    let (len, rank) = (40, 2);
    let u = DMatrix::from_vec(len, rank, normal_vec(&mut r, len * rank));
    let v = DMatrix::from_vec(len, rank, normal_vec(&mut r, len * rank));
    let full = &u * v.transpose();
    let t = DMatrix::from_fn(len, len, |a, b| if b <= a { full[(a, b)] as f32 } else { 0.0 });
    let op = DenseOperator::single(t).unwrap();
    for tol in [Tolerance::NumericalRank, Tolerance::Relative(1e-5)] {
        let p = ess::tolerance(&op, tol).unwrap();
        for (&i, &e) in p.indices().iter().zip(p.channel(0)) {
            assert_eq!(e, rank.min(i).min(len - i) as f64, "{tol:?} i={i}");
        }
    }
    // ... and the noise is real: an f64-grade threshold on f32 data counts it.
    let noisy = ess::tolerance(&op, Tolerance::Relative(1e-12)).unwrap();
    assert!(noisy.max() > rank as f64, "f32 rounding noise should exceed 1e-12·σ₁");
}

/// A backend that always fails, to show errors propagate unchanged.
#[derive(Debug)]
struct Failing;

impl SvdBackend for Failing {
    fn singular_values_f64(&self, block: DMatrix<f64>) -> Result<Vec<f64>> {
        Err(EssError::NoConvergence { rows: block.nrows(), cols: block.ncols(), iterations: 0 })
    }
    fn singular_values_f32(&self, block: DMatrix<f32>) -> Result<Vec<f32>> {
        Err(EssError::NoConvergence { rows: block.nrows(), cols: block.ncols(), iterations: 0 })
    }
}

#[test]
fn svd_non_convergence_is_a_typed_error() {
    let mut r = rng(4);
    let t = random_causal(&mut r, 300, 1, 1);
    let op = DenseOperator::single(t.clone()).unwrap();
    let failing = EssOptions::default().with_backend(std::sync::Arc::new(Failing));
    let err = ess::profiles(&op, &[Measure::Entropy], &failing).unwrap_err();
    assert!(matches!(err, EssError::NoConvergence { .. }));
    // Every entry point honours the backend, including the singular values.
    let err = ess::singular_value_profile(&op, 0, &failing).unwrap_err();
    assert!(matches!(err, EssError::NoConvergence { .. }));
    // nalgebra's iteration limit, set absurdly low, surfaces the same error.
    let starved = NalgebraSvd { iterations_per_square: 0 };
    let block = t.view((150, 0), (150, 150)).into_owned();
    let err = singular_values(&starved, block).unwrap_err();
    assert!(matches!(err, EssError::NoConvergence { rows: 150, cols: 150, iterations: 100 }), "{err}");
    assert!(err.to_string().contains("did not converge"));
}

#[test]
fn oversized_dense_requests_fail_before_allocating() {
    // L = 2^20 Mamba channel: T would need 8 TiB. The structured path works; the
    // dense one (or `dense()` itself) refuses with a typed error.
    let len = 1 << 20;
    let op = MambaChannels::new(
        &[-1.0],
        &vec![0.1; len],
        &vec![1.0; len],
        &vec![1.0; len],
        Dims { channels: 1, len, width: 1 },
    )
    .unwrap();
    assert!(matches!(op.dense(0), Err(EssError::MemoryBudget { .. })));
    assert!(matches!(op.hankel_block(0, 3), Err(EssError::MemoryBudget { .. })));
    let dense = EssOptions::default().with_method(Method::Dense).with_indices(Indices::Middle);
    assert!(matches!(ess::profile(&op, Measure::Entropy, &dense), Err(EssError::MemoryBudget { .. })));
    let s = ess::singular_values(&op, 0, len / 2).unwrap();
    assert_eq!(s.len(), 1);
}

fn arb_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -10.0f64..10.0,
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(1e300),
        1 => Just(-1e-300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever the shapes and values, the public entry points return, never panic.
    #[test]
    fn no_public_entry_point_panics(
        dims in proptest::collection::vec(0usize..6, 6),
        values in proptest::collection::vec(arb_value(), 0..80),
        idx in proptest::collection::vec(0usize..8, 0..3),
        stride in 0usize..5,
        tol in prop_oneof![Just(-1.0), Just(0.0), Just(1e-3), Just(0.5), Just(2.0), Just(f64::NAN)],
    ) {
        let [c, l, d, p, m, k] = [dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]];
        let v = &values;
        let take = |n: usize| -> Vec<f64> { (0..n).map(|j| v.get(j).copied().unwrap_or(0.5)).collect() };
        let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(tol)), Measure::Tolerance(Tolerance::Absolute(tol))];
        let optss = [
            EssOptions::default(),
            EssOptions::default().with_indices(Indices::List(idx.clone())).with_method(Method::Dense),
            EssOptions::default().with_indices(Indices::Stride(stride)).with_method(Method::Structured),
        ];
        fn exercise<O: LinearOperator>(op: &O, measures: &[Measure], optss: &[EssOptions]) {
            for o in optss {
                let _ = ess::profiles(op, measures, o);
            }
            let _ = ess::singular_values(op, 0, 1);
            let _ = op.hankel_block(0, op.seq_len() / 2);
            let _ = op.apply(0, &vec![<O::Scalar as Scalar>::cast(0.5); op.seq_len() * op.block_shape().inputs]);
            let _ = op.apply(0, &[]);
            let _ = op.realization(0);
        }
        if let Ok(mats) = DenseOperator::matrices_from_row_major(&take(c * l * l), c, l, l) {
            if let Ok(op) = DenseOperator::new(mats.clone(), BlockShape { outputs: p, inputs: m }) { exercise(&op, &measures, &optss); }
            if let Ok(op) = DenseOperator::from_causal_part(mats, BlockShape { outputs: p.max(1), inputs: m.max(1) }) { exercise(&op, &measures, &optss); }
        }
        if let Ok(op) = SoftmaxAttention::new(&take(c * l * d), &take(c * l * d + k), Dims { channels: c, len: l, width: d }) {
            exercise(&op, &measures, &optss);
            if let Ok(w) = op.clone().with_window(k) { exercise(&w, &measures, &optss); }
        }
        if let Ok(op) = LinearAttention::new(&take(c * l * d), &take(c * l * d), Dims { channels: c, len: l, width: d }) {
            exercise(&op, &measures, &optss);
            if let Ok(n) = op.with_feature_map(FeatureMap::EluPlusOne).and_then(|o| o.normalized()) { exercise(&n, &measures, &optss); }
        }
        if let Ok(op) = GatedLinearAttention::new(&take(c * l * d), &take(c * l * d), &take(c * l * d), Dims { channels: c, len: l, width: d }) { exercise(&op, &measures, &optss); }
        if let Ok(op) = DecayedLinearAttention::new(&take(c * l * d), &take(c * l * d), &take(c), Dims { channels: c, len: l, width: d }) { exercise(&op, &measures, &optss); }
        if let Ok(op) = DeltaNet::gated(&take(c * l * d), &take(c * l * d), &take(c * l), &take(c * l), Dims { channels: c, len: l, width: d }) { exercise(&op, &measures, &optss); }
        if let Ok(op) = FirConvolution::new(&rows(&take(c * k), k), l) { exercise(&op, &measures, &optss); }
        if let Ok(op) = GatedConvolution::new(&rows(&take(c * k), k), &rows(&take(c * l), l), &rows(&take(c * l + p), l)) { exercise(&op, &measures, &optss); }
        if let Ok(op) = LtiStateSpace::diagonal(&take(c * d), &take(c * d), &take(c * d + m), Dims { channels: c, len: l, width: d }) { exercise(&op, &measures, &optss); }
        if let Ok(op) = MambaChannels::new(&take(c * d), &take(c * l), &take(l * d), &take(l * d), Dims { channels: c, len: l, width: d }) { exercise(&op, &measures, &optss); }
        if let Ok(op) = Ssd::new(&take(c * l), &take(c * l * d), &take(c * l * d), Dims { channels: c, len: l, width: d }) { exercise(&op, &measures, &optss); }
        if let Ok(op) = TimeVaryingStateSpace::new(&take(c * l * d * d), &take(c * l * d * m), &take(c * l * p * d), Dims { channels: c, len: l, width: d }, BlockShape { outputs: p, inputs: m }) {
            exercise(&op, &measures, &optss);
        }
    }
}

#[test]
fn structured_memory_is_budgeted_too() {
    let len = 20_000;
    let n = 8;
    let op = MambaChannels::new(
        &[-1.0; 8],
        &vec![0.1; len],
        &vec![0.5; len * n],
        &vec![0.5; len * n],
        Dims { channels: 1, len, width: n },
    )
    .unwrap();
    let need_all = ess::plan(&op, &EssOptions::default()).unwrap().bytes;
    let need_few = ess::plan(&op, &EssOptions::default().with_indices(Indices::Stride(2000))).unwrap().bytes;
    assert!(need_few < need_all);
    // Checkpointed factors: every index costs only O(√count) factors more than
    // a few indices, far below one N × N factor per index.
    assert!(need_all - need_few < (len * n * n * 8 / 10) as u64, "{need_all} vs {need_few}");
    let tight = EssOptions::default().with_memory_budget(need_all - 1);
    let err = ess::profile(&op, Measure::Entropy, &tight).unwrap_err();
    assert!(matches!(err, EssError::MemoryBudget { .. }) && err.to_string().contains("with_memory_budget"), "{err}");
    let enough = EssOptions::default().with_memory_budget(need_all);
    assert_eq!(ess::profile(&op, Measure::Entropy, &enough).unwrap().indices().len(), len - 1);
    let sparse = tight.clone().with_indices(Indices::Stride(2000));
    assert_eq!(ess::profile(&op, Measure::Entropy, &sparse).unwrap().indices().len(), 9);
}

#[test]
fn stacked_matrices_build_the_same_operator_as_slices() {
    let mut r = rng(9);
    let (h, len, d) = (2, 10, 3);
    let q = normal_vec(&mut r, h * len * d);
    let to_mats = |v: &[f64]| {
        (0..h).map(|c| DMatrix::from_row_slice(len, d, &v[c * len * d..(c + 1) * len * d])).collect::<Vec<_>>()
    };
    let stacked = effective_state_size::operator::stack_matrices(&to_mats(&q)).unwrap();
    assert_eq!(stacked.data, q);
    assert_eq!(stacked.dims, Dims { channels: h, len, width: d });
    let bad = vec![DMatrix::<f64>::zeros(len, d), DMatrix::zeros(len, d + 1)];
    let err = effective_state_size::operator::stack_matrices(&bad).unwrap_err();
    assert!(err.to_string().contains("channel 1") && err.to_string().contains("(10, 4)"), "{err}");
    assert!(effective_state_size::operator::stack_matrices::<f64>(&[]).is_err());
}
