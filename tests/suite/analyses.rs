//! The paper's analyses (issue #10): marker modulation, batches, tolerance sweeps
//! and boundary-normalised ESS, against oracles written here: brute-force SVDs of
//! sliced blocks (tests/suite/common), hand-computed profiles and direct loops over the
//! definitions.

use crate::common;

use common::{oracle_count, oracle_entropy, oracle_sv, random_causal, rng};
use effective_state_size::ess::{self, ComputedBy, EssOptions, Indices, Measure, Method, Profile, Tolerance};
use effective_state_size::{BlockShape, DenseOperator, Dims, EssError, FirConvolution, LtiStateSpace};
use nalgebra::DMatrix;
use proptest::prelude::*;

/// ESS of every index `1..L` of `t` by brute force, for a measure given as a
/// function of the descending singular values.
fn oracle_profile(t: &DMatrix<f64>, p: usize, m: usize, f: &dyn Fn(&[f64]) -> f64) -> Vec<f64> {
    let len = t.nrows() / p;
    (1..len).map(|i| f(&oracle_sv(t, i, p, m))).collect()
}

fn rel_count(tau: f64) -> impl Fn(&[f64]) -> f64 {
    move |s: &[f64]| oracle_count(s, tau * s[0]) as f64
}

/// Δ_t by the definition, written as loops (v[i-1] = ESS_i); the bounds are
/// spelled as in the definition (`i ≤ L-1`, `i = t-k ≥ 1`).
#[allow(clippy::int_plus_one)]
fn oracle_delta(v: &[f64], t: usize, w: usize, len: usize) -> f64 {
    let mut after = vec![];
    for i in t + 1..=t + w {
        if i <= len - 1 {
            after.push(v[i - 1]);
        }
    }
    let mut before = vec![];
    for k in 0..w {
        if t >= k + 1 {
            before.push(v[t - k - 1]);
        }
    }
    after.iter().sum::<f64>() / after.len() as f64 - before.iter().sum::<f64>() / before.len() as f64
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn pop_std(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt()
}

fn profile_of(values: Vec<Vec<f64>>, len: usize) -> Profile {
    Profile::from_values(len, (1..len).collect(), Measure::Entropy, ComputedBy::Dense, None, values).unwrap()
}

// ---------------------------------------------------------------- markers

#[test]
fn marker_deltas_by_hand_window_one_and_two() {
    // L = 8, one channel: ESS_1..ESS_7 = 1, 2, 4, 1, 1, 3, 2.
    let p = profile_of(vec![vec![1.0, 2.0, 4.0, 1.0, 1.0, 3.0, 2.0]], 8);
    let m = p.marker_modulation(&[3, 5], 1).unwrap();
    // t = 3: ESS_4 - ESS_3 = 1 - 4; t = 5: ESS_6 - ESS_5 = 3 - 1.
    assert_eq!(m.deltas, vec![vec![-3.0, 2.0]]);
    assert_eq!(m.mean_delta, -0.5);
    // Baseline t' = 1, 2, 4, 6: 1, 2, 0, -1.
    assert_eq!(m.baseline_mean, Some(0.5));
    let std = (((0.5f64).powi(2) + 1.5f64.powi(2) + 0.25 + 2.25) / 4.0).sqrt();
    assert_eq!(m.baseline_std, Some(std));
    assert_eq!(m.z, Some((-0.5 - 0.5) / std));
    assert_eq!((m.items, m.window), (1, 1));

    // w = 2 at t = 3: after = mean(ESS_4, ESS_5) = 1, before = mean(ESS_2, ESS_3) = 3.
    // At t = 1 the before window [0, 1] drops i = 0: before = ESS_1 = 1, after = mean(2, 4) = 3.
    // At t = 6 the after window [7, 8] drops i = 8: after = ESS_7 = 2, before = mean(1, 3) = 2.
    let m2 = p.marker_modulation(&[3, 1, 6], 2).unwrap();
    assert_eq!(m2.deltas, vec![vec![-2.0, 2.0, 0.0]], "deltas in the order of the positions");

    // Pooled over two items: each Δ is the mean of the items' Δ. The second item
    // ESS = 2, 2, 2, 5, 1, 1, 1 has Δ = 3 at t = 3 and 0 at t = 5, so the batch's
    // deltas are (−3 + 3)/2 = 0 and (2 + 0)/2 = 1; their mean is 0.5.
    let q = profile_of(vec![vec![2.0, 2.0, 2.0, 5.0, 1.0, 1.0, 1.0]], 8);
    let both = ess::marker_modulation(&[p.clone(), q], &[3, 5], 1).unwrap();
    assert_eq!(both.deltas, vec![vec![0.0, 1.0]]);
    assert_eq!((both.items, both.mean_delta), (2, 0.5));
}

#[test]
fn marker_modulation_matches_a_brute_force_oracle_over_channels_and_windows() {
    let mut r = rng(11);
    let (len, p, m) = (14, 2, 1);
    let ts: Vec<DMatrix<f64>> = (0..3).map(|_| random_causal(&mut r, len, p, m)).collect();
    // A low-rank third channel so that deltas vary.
    let mut ts = ts;
    ts[2] = DMatrix::from_fn(p * len, m * len, |row, col| {
        if col / m <= row / p {
            ((row + 1) as f64).sin() * ((col + 2) as f64).cos()
        } else {
            0.0
        }
    });
    let op = DenseOperator::new(ts.clone(), BlockShape { outputs: p, inputs: m }).unwrap();
    let prof = ess::profile(&op, Measure::Entropy, &EssOptions::default()).unwrap();
    let oracle: Vec<Vec<f64>> = ts.iter().map(|t| oracle_profile(t, p, m, &oracle_entropy)).collect();
    for (a, b) in prof.values().iter().flatten().zip(oracle.iter().flatten()) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    for (marks, w) in [(vec![4usize], 1usize), (vec![2, 7, 11], 3), (vec![12, 1], 20)] {
        let got = prof.marker_modulation(&marks, w).unwrap();
        let (mut marked, mut base) = (vec![], vec![]);
        for v in &oracle {
            for t in 1..=len - 2 {
                let d = oracle_delta(v, t, w, len);
                if marks.contains(&t) {
                    marked.push(d)
                } else {
                    base.push(d)
                }
            }
        }
        for (c, v) in oracle.iter().enumerate() {
            for (k, &t) in marks.iter().enumerate() {
                assert!((got.deltas[c][k] - oracle_delta(v, t, w, len)).abs() < 1e-9);
            }
        }
        assert!((got.mean_delta - mean(&marked)).abs() < 1e-9);
        assert!((got.baseline_mean.unwrap() - mean(&base)).abs() < 1e-9);
        assert!((got.baseline_std.unwrap() - pop_std(&base)).abs() < 1e-9);
        let z = (mean(&marked) - mean(&base)) / pop_std(&base);
        assert!((got.z.unwrap() - z).abs() < 1e-7 * z.abs().max(1.0));
    }
}

#[test]
fn marker_errors_are_typed() {
    let p = profile_of(vec![vec![1.0; 7]], 8);
    assert!(matches!(p.marker_modulation(&[7], 1), Err(EssError::MarkerOutOfRange { position: 7, max: 6, len: 8 })));
    assert!(matches!(p.marker_modulation(&[0], 1), Err(EssError::MarkerOutOfRange { position: 0, .. })));
    assert!(matches!(p.marker_modulation(&[], 1), Err(EssError::InvalidParameter { .. })));
    assert!(matches!(p.marker_modulation(&[2], 0), Err(EssError::InvalidParameter { .. })));
    let dup = p.marker_modulation(&[2, 3, 2], 1).unwrap_err();
    assert!(dup.to_string().contains("position 2 is given twice"), "{dup}");
    // A constant profile: the baseline's std is 0, so there is no z.
    let m = p.marker_modulation(&[2], 1).unwrap();
    assert_eq!((m.baseline_std, m.z), (Some(0.0), None));
    // Every position a marker: no baseline.
    let all = profile_of(vec![vec![1.0, 2.0, 3.0]], 4).marker_modulation(&[1, 2], 1).unwrap();
    assert_eq!((all.baseline_mean, all.baseline_std, all.z), (None, None, None));
    assert_eq!(all.mean_delta, 1.0);
    // A profile without every index cannot have a baseline.
    let sparse =
        Profile::from_values(8, vec![2, 4, 6], Measure::Entropy, ComputedBy::Dense, None, vec![vec![1.0; 3]]).unwrap();
    let err = sparse.marker_modulation(&[4], 1).unwrap_err();
    assert!(matches!(err, EssError::IndexNotEvaluated { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("Indices::All"), "{err}");
    // Short sequences have no valid marker.
    let short = profile_of(vec![vec![1.0]], 2);
    assert!(matches!(short.marker_modulation(&[1], 1), Err(EssError::MarkerOutOfRange { .. })));
}

#[test]
fn batch_markers_pool_each_items_own_deltas() {
    let a = profile_of(vec![vec![1.0, 2.0, 4.0, 1.0, 1.0]], 6);
    let b = profile_of(vec![vec![2.0, 2.0, 0.0, 1.0, 3.0]], 6);
    let batch = ess::BatchProfile::from_profiles(vec![a, b]).unwrap();
    let m = batch.marker_modulation(&[2], 1).unwrap();
    // Item a: Δ_2 = 4 - 2 = 2; item b: 0 - 2 = -2; mean over items 0.
    assert_eq!(m.deltas, vec![vec![0.0]]);
    assert_eq!((m.mean_delta, m.items), (0.0, 2));
    // Baseline (t' = 1, 3, 4): a: 1, -3, 0; b: 0, 1, 2, pooled.
    let base = [1.0, -3.0, 0.0, 0.0, 1.0, 2.0];
    assert_eq!(m.baseline_mean, Some(mean(&base)));
    assert!((m.baseline_std.unwrap() - pop_std(&base)).abs() < 1e-15);
    // Not the deltas of the mean profile: those would be Δ_2 = 2 - 2 = 0 too, but the
    // baseline of the mean profile differs.
    let of_mean = batch.mean_profile().marker_modulation(&[2], 1).unwrap();
    assert_ne!(of_mean.baseline_std, m.baseline_std);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Deleting p rows and adding m columns interlaces the singular values, so with
    /// an absolute threshold −p ≤ ESS_{t+1} − ESS_t ≤ m; and with w = 1 the deltas
    /// of all positions telescope to Σ_c (ESS_{L−1} − ESS_1).
    #[test]
    fn marker_delta_bounds(seed in 0u64..1000, len in 4usize..12, p in 1usize..3, m in 1usize..3, rank in 1usize..4) {
        let mut r = rng(seed);
        let full = random_causal(&mut r, len, p, m);
        // A low-rank-ish causal matrix: tril of a rank-`rank` product plus the full one scaled down.
        let u = DMatrix::from_fn(p * len, rank, |a, b| ((a * 7 + b * 3 + seed as usize) % 11) as f64 - 5.0);
        let v = DMatrix::from_fn(rank, m * len, |a, b| ((a * 5 + b * 2 + seed as usize) % 13) as f64 - 6.0);
        let lr = &u * &v;
        let t = DMatrix::from_fn(p * len, m * len, |a, b| if b / m <= a / p { lr[(a, b)] + 1e-3 * full[(a, b)] } else { 0.0 });
        let op = DenseOperator::new(vec![t], BlockShape { outputs: p, inputs: m }).unwrap();
        let prof = ess::tolerance(&op, Tolerance::Absolute(0.5)).unwrap();
        let positions: Vec<usize> = (1..=len - 2).collect();
        let md = prof.marker_modulation(&positions, 1).unwrap();
        for &d in &md.deltas[0] {
            prop_assert!(d >= -(p as f64) && d <= m as f64, "Δ = {d}, p = {p}, m = {m}");
        }
        let v = prof.channel(0);
        let sum: f64 = md.deltas[0].iter().sum();
        prop_assert!((sum - (v[len - 2] - v[0])).abs() < 1e-12);
        // The pooled mean of markers and baseline is the mean of all deltas.
        prop_assert!(md.baseline_mean.is_none());
        prop_assert!((md.mean_delta - sum / (len - 2) as f64).abs() < 1e-12);
    }
}

// ---------------------------------------------------------------- batches

#[test]
fn over_operators_matches_per_item_oracles_with_population_std() {
    let mut r = rng(5);
    let (len, b) = (9, 4);
    let ts: Vec<Vec<DMatrix<f64>>> =
        (0..b).map(|_| (0..2).map(|_| random_causal(&mut r, len, 1, 1)).collect()).collect();
    // Item 3, channel 1: rank-one blocks.
    let mut ts = ts;
    ts[3][1] = DMatrix::from_fn(len, len, |a, c| if c <= a { (a + 1) as f64 * (c + 2) as f64 } else { 0.0 });
    let ops: Vec<DenseOperator<f64>> =
        ts.iter().map(|chs| DenseOperator::new(chs.clone(), BlockShape::SISO).unwrap()).collect();
    let measures = [Measure::Tolerance(Tolerance::Relative(1e-3)), Measure::Entropy];
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let opts = EssOptions::default().with_method(Method::Dense).with_progress({
        let seen = seen.clone();
        move |p| {
            seen.lock().unwrap().push((p.done, p.total));
            std::ops::ControlFlow::Continue(())
        }
    });
    let [tol, ent]: [ess::BatchProfile; 2] = ess::over_operators(&ops, &measures, &opts).unwrap().try_into().unwrap();
    assert_eq!((tol.inputs, tol.items().len(), tol.indices.clone()), (b, b, (1..len).collect::<Vec<_>>()));
    for (bp, f) in [(&tol, &rel_count(1e-3) as &dyn Fn(&[f64]) -> f64), (&ent, &oracle_entropy)] {
        for c in 0..2 {
            let per_item: Vec<Vec<f64>> = ts.iter().map(|chs| oracle_profile(&chs[c], 1, 1, f)).collect();
            for j in 0..len - 1 {
                let xs: Vec<f64> = per_item.iter().map(|v| v[j]).collect();
                assert!((bp.mean[c][j] - mean(&xs)).abs() < 1e-9);
                assert!((bp.std[c][j] - pop_std(&xs)).abs() < 1e-9);
                assert!((bp.min[c][j] - xs.iter().copied().fold(f64::INFINITY, f64::min)).abs() < 1e-9);
                assert!((bp.max[c][j] - xs.iter().copied().fold(f64::NEG_INFINITY, f64::max)).abs() < 1e-9);
            }
        }
    }
    // Progress covers the whole batch and ends at the total.
    let seen = seen.lock().unwrap();
    let total = b * 2 * (len - 1);
    assert!(seen.iter().all(|&(_, t)| t == total));
    assert_eq!(seen.iter().map(|&(d, _)| d).max(), Some(total));
    // The mean profile's aggregates are those of the means.
    let mp = tol.mean_profile();
    assert_eq!(mp.values(), tol.mean.as_slice());
    assert!(
        (mp.normalized_mean() - tol.items().iter().map(|p| p.normalized_mean()).sum::<f64>() / b as f64).abs() < 1e-12
    );
}

#[test]
fn batch_errors_and_cancellation() {
    let a = FirConvolution::new(&[[1.0, 0.5]], 8).unwrap();
    let b = FirConvolution::new(&[[1.0, 0.5]], 9).unwrap();
    let none: [FirConvolution<f64>; 0] = [];
    assert!(matches!(
        ess::over_operators(&none, &[Measure::Entropy], &EssOptions::default()),
        Err(EssError::Empty { .. })
    ));
    let err = ess::over_operators(&[a.clone(), b], &[Measure::Entropy], &EssOptions::default()).unwrap_err();
    assert!(err.to_string().contains("operator 1 of the batch"), "{err}");
    let stop = EssOptions::default().with_method(Method::Dense).with_progress(|p| {
        if p.done >= 10 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    let ops = vec![a; 3];
    match ess::over_operators(&ops, &[Measure::Entropy], &stop) {
        Err(EssError::Cancelled { done, total }) => assert!(done >= 10 && total == 21, "{done}/{total}"),
        other => panic!("{other:?}"),
    }
    let p8 = profile_of(vec![vec![1.0; 7]], 8);
    let p9 = profile_of(vec![vec![1.0; 8]], 9);
    assert!(matches!(ess::BatchProfile::from_profiles(vec![p8, p9]), Err(EssError::Incompatible { .. })));
    assert!(matches!(ess::BatchProfile::from_profiles(vec![]), Err(EssError::Empty { .. })));
}

// ---------------------------------------------------------------- sweeps

#[test]
fn tolerance_sweep_matches_oracle_counts_for_every_threshold() {
    let mut r = rng(3);
    let len = 12;
    let ts: Vec<DMatrix<f64>> = (0..2).map(|_| random_causal(&mut r, len, 1, 1)).collect();
    let op = DenseOperator::new(ts.clone(), BlockShape::SISO).unwrap();
    let taus = [
        Tolerance::Relative(0.5),
        Tolerance::Relative(1e-1),
        Tolerance::Absolute(1.0),
        Tolerance::Relative(1e-2),
        Tolerance::Absolute(1e-1),
    ];
    let sweep = ess::tolerance_sweep(&op, &taus, &EssOptions::default()).unwrap();
    assert_eq!(sweep.tolerances(), taus.to_vec());
    for (k, (tau, point)) in taus.iter().zip(sweep.points()).enumerate() {
        let f = |s: &[f64]| match *tau {
            Tolerance::Relative(x) => oracle_count(s, x * s[0]) as f64,
            Tolerance::Absolute(x) => oracle_count(s, x) as f64,
            _ => unreachable!(),
        };
        let per_channel: Vec<Vec<f64>> = ts.iter().map(|t| oracle_profile(t, 1, 1, &f)).collect();
        assert_eq!(sweep.profiles()[k].values(), per_channel.as_slice(), "τ = {tau:?}");
        let all: Vec<f64> = per_channel.iter().flatten().copied().collect();
        assert!((point.mean - mean(&all)).abs() < 1e-12);
        assert_eq!(point.max, all.iter().copied().fold(0.0, f64::max));
        assert_eq!(point.channel_mean, per_channel.iter().map(|v| mean(v)).collect::<Vec<_>>());
    }
}

#[test]
fn sweep_errors() {
    let op = FirConvolution::new(&[[1.0, 0.5]], 8).unwrap();
    let o = EssOptions::default();
    assert!(matches!(ess::tolerance_sweep(&op, &[], &o), Err(EssError::Empty { .. })));
    for bad in
        [Tolerance::Relative(0.0), Tolerance::Relative(-1e-3), Tolerance::Absolute(-2.0), Tolerance::Relative(1.5)]
    {
        assert!(matches!(ess::tolerance_sweep(&op, &[bad], &o), Err(EssError::InvalidTolerance { .. })), "{bad:?}");
    }
    let ent = ess::profile(&op, Measure::Entropy, &o).unwrap();
    assert!(matches!(ess::ToleranceSweep::from_profiles(vec![ent]), Err(EssError::Incompatible { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Within a mode, tolerance-ESS is non-increasing in τ at every channel and
    /// index; and an N-state SSM never exceeds N at any τ.
    #[test]
    fn sweeps_are_monotone_and_bounded_by_tss(seed in 0u64..1000, n in 1usize..5, len in 6usize..20) {
        let mut r = rng(seed);
        let a = common::uniform_vec(&mut r, n, -0.95, 0.95);
        let b = common::normal_vec(&mut r, n);
        let c = common::normal_vec(&mut r, n);
        let op = LtiStateSpace::diagonal(&a, &b, &c, Dims { channels: 1, len, width: n }).unwrap();
        let rel = [1e-1, 1e-3, 1e-6, 1e-9].map(Tolerance::Relative);
        let abs = [1.0, 1e-2, 1e-4].map(Tolerance::Absolute);
        let all: Vec<Tolerance> = rel.iter().chain(abs.iter()).copied().collect();
        let opts = EssOptions::default().with_method(Method::Dense);
        let sweep = ess::tolerance_sweep(&op, &all, &opts).unwrap();
        let ps = sweep.profiles();
        for group in [0..4, 4..7] {
            for k in group.start + 1..group.end {
                for (x, y) in ps[k - 1].values()[0].iter().zip(&ps[k].values()[0]) {
                    prop_assert!(x <= y, "τ larger, count larger: {x} > {y}");
                }
            }
        }
        for p in ps {
            prop_assert!(p.max() <= n as f64);
        }
    }

    /// Boundary-normalised ESS lies in [0, 1] for both measures, any block shape.
    #[test]
    fn normalized_ess_is_a_fraction(seed in 0u64..1000, len in 2usize..10, p in 1usize..4, m in 1usize..4) {
        let mut r = rng(seed);
        let t = random_causal(&mut r, len, p, m);
        let op = DenseOperator::new(vec![t], BlockShape { outputs: p, inputs: m }).unwrap();
        let ps = ess::profiles(&op, &[Measure::Tolerance(Tolerance::Absolute(1e-12)), Measure::Entropy], &EssOptions::default()).unwrap();
        for prof in &ps {
            prop_assert_eq!(prof.block_shape(), BlockShape { outputs: p, inputs: m });
            for v in prof.normalized().iter().flatten() {
                prop_assert!((0.0..=1.0 + 1e-12).contains(v), "{v}");
            }
        }
        // Generic (random) blocks have full rank: the tolerance profile is exactly 1.
        prop_assert!(ps[0].normalized().iter().flatten().all(|&v| v == 1.0));
    }
}

#[test]
fn normalized_by_hand_for_a_mimo_block() {
    // L = 4, p = 2, m = 1: bounds min(2(4-i), i) = 1, 2, 2 at i = 1, 2, 3.
    let p =
        Profile::from_values(4, vec![1, 2, 3], Measure::Entropy, ComputedBy::Dense, None, vec![vec![1.0, 1.0, 1.5]])
            .unwrap()
            .with_block_shape(BlockShape { outputs: 2, inputs: 1 })
            .unwrap();
    assert_eq!(p.normalized(), vec![vec![1.0, 0.5, 0.75]]);
    assert_eq!(p.normalized_mean(), 2.25 / 3.0);
    assert!(p.clone().with_block_shape(BlockShape { outputs: 0, inputs: 1 }).is_err());
    // Indices::Stride keeps the bound of each evaluated index.
    let op = FirConvolution::new(&[[1.0, 0.5, 0.25]], 10).unwrap();
    let s = ess::profile(
        &op,
        Measure::Tolerance(Tolerance::NumericalRank),
        &EssOptions::default().with_indices(Indices::Stride(3)),
    )
    .unwrap();
    // i = 3, 6, 9: ESS = 2, 2, 1; bounds 3, 4, 1.
    assert_eq!(s.normalized(), vec![vec![2.0 / 3.0, 0.5, 1.0]]);
}
