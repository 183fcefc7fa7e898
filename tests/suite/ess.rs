//! Core ESS: exact small cases, agreement with a brute-force SVD oracle, and the
//! bounds of THEORY.md as proptest properties.

use crate::common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::{BlockShape, DenseOperator, EssError, LinearOperator};
use nalgebra::DMatrix;
use proptest::prelude::*;

fn tol_rel(x: f64) -> Measure {
    Measure::Tolerance(Tolerance::Relative(x))
}

#[test]
fn zero_and_diagonal_operators_have_zero_ess() {
    for t in [DMatrix::<f64>::zeros(9, 9), DMatrix::from_diagonal_element(9, 9, 3.0)] {
        let op = DenseOperator::single(t).unwrap();
        let [tol, ent] =
            ess::profiles(&op, &[tol_rel(1e-6), Measure::Entropy], &EssOptions::default()).unwrap().try_into().unwrap();
        assert!(tol.channel(0).iter().all(|&v| v == 0.0), "{:?}", tol.channel(0));
        assert!(ent.channel(0).iter().all(|&v| v == 0.0), "{:?}", ent.channel(0));
        let abs = ess::tolerance(&op, Tolerance::Absolute(1e-300)).unwrap();
        assert!(abs.channel(0).iter().all(|&v| v == 0.0));
    }
}

#[test]
fn rank_one_lower_triangle_gives_one() {
    let mut r = rng(1);
    let (u, v) = (normal_vec(&mut r, 12), normal_vec(&mut r, 12));
    let t = DMatrix::from_fn(12, 12, |a, b| if b <= a { u[a] * v[b] } else { 0.0 });
    let op = DenseOperator::single(t).unwrap();
    let tol = ess::tolerance(&op, Tolerance::Relative(1e-10)).unwrap();
    assert_eq!(tol.channel(0), &[1.0; 11]);
    let ent = ess::entropy(&op).unwrap();
    assert!(ent.channel(0).iter().all(|&v| (v - 1.0).abs() < 1e-12));
}

#[test]
fn rank_r_lower_triangle_gives_min_r_i_l_minus_i() {
    let mut r = rng(2);
    let (len, rank) = (20, 4);
    let u = DMatrix::from_vec(len, rank, normal_vec(&mut r, len * rank));
    let v = DMatrix::from_vec(len, rank, normal_vec(&mut r, len * rank));
    let full = &u * v.transpose();
    let t = DMatrix::from_fn(len, len, |a, b| if b <= a { full[(a, b)] } else { 0.0 });
    let op = DenseOperator::single(t).unwrap();
    let p = ess::tolerance(&op, Tolerance::Relative(1e-9)).unwrap();
    for (&i, &e) in p.indices().iter().zip(p.channel(0)) {
        assert_eq!(e, rank.min(i).min(len - i) as f64, "i = {i}");
    }
}

#[test]
fn delay_line_has_equal_singular_values_and_entropy_equals_count() {
    // T[t,s] = 1 iff t - s = k: H_i holds min(k, i, L-i) ones on distinct rows and
    // columns, so all its nonzero singular values are 1.
    let (len, k) = (16, 5);
    let t = DMatrix::<f64>::from_fn(len, len, |a, b| if a >= b && a - b == k { 1.0 } else { 0.0 });
    let op = DenseOperator::single(t).unwrap();
    let ent = ess::entropy(&op).unwrap();
    for (&i, &e) in ent.indices().iter().zip(ent.channel(0)) {
        let expect = k.min(i).min(len - i) as f64;
        assert!((e - expect).abs() < 1e-12, "i = {i}: {e} vs {expect}");
        let s = ess::singular_values(&op, 0, i).unwrap();
        assert!(s.iter().take(expect as usize).all(|&x: &f64| (x - 1.0).abs() < 1e-14));
    }
}

/// Every measure equals the brute-force oracle on random causal matrices, SISO and
/// MIMO.
#[test]
fn profiles_equal_brute_force_svd() {
    let mut r = rng(3);
    for &(len, p, m, channels) in &[(24, 1, 1, 3), (10, 2, 3, 2), (9, 3, 1, 1)] {
        let mats: Vec<_> = (0..channels).map(|_| random_causal(&mut r, len, p, m)).collect();
        let op = DenseOperator::new(mats.clone(), BlockShape { outputs: p, inputs: m }).unwrap();
        let measures = [
            Measure::Entropy,
            tol_rel(0.3),
            Measure::Tolerance(Tolerance::Absolute(1.5)),
            Measure::Tolerance(Tolerance::NumericalRank),
        ];
        let profiles = ess::profiles(&op, &measures, &EssOptions::default()).unwrap();
        for (c, t) in mats.iter().enumerate() {
            for (j, &i) in profiles[0].indices().iter().enumerate() {
                let s = oracle_sv(t, i, p, m);
                let (rows, cols) = (p * (len - i), m * i);
                assert!(close(profiles[0].channel(c)[j], oracle_entropy(&s), 1e-12));
                assert_eq!(profiles[1].channel(c)[j], oracle_count(&s, 0.3 * s[0]) as f64);
                assert_eq!(profiles[2].channel(c)[j], oracle_count(&s, 1.5) as f64);
                let nr = s[0] * rows.max(cols) as f64 * f64::EPSILON;
                assert_eq!(profiles[3].channel(c)[j], oracle_count(&s, nr) as f64);
                let ours = ess::singular_values(&op, c, i).unwrap();
                assert_eq!(ours.len(), s.len());
                for (a, b) in ours.iter().zip(&s) {
                    assert!((a - b).abs() <= 1e-12 * s[0], "{a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn index_selection_evaluates_only_requested_indices() {
    let mut r = rng(4);
    let t = random_causal(&mut r, 30, 1, 1);
    let op = DenseOperator::single(t.clone()).unwrap();
    let cases: [(Indices, &[usize]); 3] = [
        (Indices::Stride(7), &[7, 14, 21, 28]),
        (Indices::List(vec![29, 3, 3, 15]), &[3, 15, 29]),
        (Indices::Middle, &[15]),
    ];
    for (sel, expected) in cases {
        let opts = EssOptions::default().with_indices(sel);
        let p = ess::profile(&op, Measure::Entropy, &opts).unwrap();
        assert_eq!(p.indices(), expected);
        for (&i, &v) in p.indices().iter().zip(p.channel(0)) {
            let oracle = oracle_entropy(&oracle_sv(&t, i, 1, 1));
            assert!(close(v, oracle, 1e-12), "i = {i}: {v} vs brute force {oracle}");
        }
    }
}

#[test]
fn aggregates_follow_their_definitions() {
    let mut r = rng(5);
    let mats: Vec<_> = (0..3).map(|_| random_causal(&mut r, 12, 1, 1)).collect();
    let op = DenseOperator::new(mats, BlockShape::SISO).unwrap();
    let p = ess::entropy(&op).unwrap();
    let n = p.indices().len() as f64;
    for c in 0..3 {
        let v = p.channel(c);
        assert!(close(p.channel_mean(c).unwrap(), v.iter().sum::<f64>() / n, 1e-14));
        assert_eq!(p.channel_max(c).unwrap(), v.iter().cloned().fold(0.0, f64::max));
    }
    for j in 0..p.indices().len() {
        let col: Vec<f64> = (0..3).map(|c| p.channel(c)[j]).collect();
        assert!(close(p.total()[j], col.iter().sum(), 1e-14));
        assert!(close(p.average()[j], col.iter().sum::<f64>() / 3.0, 1e-14));
    }
    let u = p.utilization(4.0).unwrap();
    assert!(close(u[1][2], p.channel(1)[2] / 4.0, 1e-15));
    assert!(close(p.max_utilization(4.0).unwrap(), p.max() / 4.0, 1e-15));
    assert!(close(p.mean_utilization(4.0).unwrap(), p.mean() / 4.0, 1e-15));
    assert!(p.mean_utilization(4.0).unwrap() < p.max_utilization(4.0).unwrap());
    assert!(matches!(p.utilization(0.0), Err(EssError::InvalidParameter { .. })));
    assert!(matches!(p.channel_mean(3), Err(EssError::ChannelOutOfRange { channel: 3, channels: 3 })));
}

#[test]
fn dense_path_reports_itself_and_forced_structured_path_errors_without_realization() {
    let op = DenseOperator::single(DMatrix::<f64>::identity(4, 4)).unwrap();
    assert_eq!(ess::entropy(&op).unwrap().computed_by(), ess::ComputedBy::Dense);
    let opts = EssOptions::default().with_method(Method::Structured);
    assert!(matches!(ess::profile(&op, Measure::Entropy, &opts), Err(EssError::NoRealization { .. })));
}

#[test]
fn memory_budget_is_enforced_before_allocating() {
    let op = DenseOperator::single(DMatrix::<f64>::identity(64, 64)).unwrap();
    let opts = EssOptions::default().with_memory_budget(4096);
    let err = ess::profile(&op, Measure::Entropy, &opts).unwrap_err();
    assert!(matches!(err, EssError::MemoryBudget { budget: 4096, .. }));
    assert!(err.to_string().contains("T of one channel") && err.to_string().contains("with_memory_budget"), "{err}");
}

fn arb_causal() -> impl Strategy<Value = (usize, DMatrix<f64>)> {
    (2usize..14).prop_flat_map(|len| {
        (Just(len), proptest::collection::vec(-2.0f64..2.0, len * len)).prop_map(|(len, v)| {
            let t = DMatrix::from_fn(len, len, |a, b| if b <= a { v[a * len + b] } else { 0.0 });
            (len, t)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn entropy_lies_between_one_and_rank((_len, t) in arb_causal()) {
        let op = DenseOperator::single(t).unwrap();
        let [ent, rank]: [_; 2] = ess::profiles(&op, &[Measure::Entropy, Measure::Tolerance(Tolerance::NumericalRank)], &EssOptions::default())
            .unwrap().try_into().unwrap();
        for (&e, &r) in ent.channel(0).iter().zip(rank.channel(0)) {
            if r > 0.0 {
                prop_assert!(e >= 1.0 - 1e-12 && e <= r + 1e-9, "entropy {} rank {}", e, r);
            }
        }
    }

    #[test]
    fn tolerance_ess_is_non_increasing_in_tau((_len, t) in arb_causal(), a in 1e-8f64..0.5, b in 1e-8f64..0.5) {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let op = DenseOperator::single(t).unwrap();
        for (mlo, mhi) in [(Tolerance::Relative(lo), Tolerance::Relative(hi)), (Tolerance::Absolute(lo), Tolerance::Absolute(hi))] {
            let plo = ess::tolerance(&op, mlo).unwrap();
            let phi = ess::tolerance(&op, mhi).unwrap();
            for (x, y) in plo.channel(0).iter().zip(phi.channel(0)) {
                prop_assert!(x >= y);
            }
        }
    }

    #[test]
    fn entropy_is_scale_invariant((_len, t) in arb_causal(), e in -250i32..250) {
        let c = 10f64.powi(e) * 0.7;
        let a = ess::entropy(&DenseOperator::single(t.clone()).unwrap()).unwrap();
        let b = ess::entropy(&DenseOperator::single(t * c).unwrap()).unwrap();
        for (x, y) in a.channel(0).iter().zip(b.channel(0)) {
            prop_assert!(close(*x, *y, 1e-9), "{} vs {}", x, y);
        }
    }

    #[test]
    fn ess_is_bounded_by_block_shape(len in 2usize..9, p in 1usize..4, m in 1usize..4, seed in 0u64..1000) {
        let mut r = rng(seed);
        let op = DenseOperator::new(vec![random_causal(&mut r, len, p, m)], BlockShape { outputs: p, inputs: m }).unwrap();
        let [ent, tol]: [_; 2] = ess::profiles(&op, &[Measure::Entropy, Measure::Tolerance(Tolerance::Absolute(1e-300))], &EssOptions::default())
            .unwrap().try_into().unwrap();
        for (j, &i) in ent.indices().iter().enumerate() {
            let bound = (p * (len - i)).min(m * i) as f64;
            prop_assert!(tol.channel(0)[j] <= bound);
            prop_assert!(ent.channel(0)[j] <= bound + 1e-9);
        }
    }

    #[test]
    fn diagonal_never_changes_ess((len, t) in arb_causal(), d in proptest::collection::vec(-100.0f64..100.0, 14)) {
        let mut t2 = t.clone();
        for k in 0..len {
            t2[(k, k)] = d[k];
        }
        let ms = [Measure::Entropy, Measure::Tolerance(Tolerance::NumericalRank), Measure::Tolerance(Tolerance::Relative(1e-3))];
        let a = ess::profiles(&DenseOperator::single(t).unwrap(), &ms, &EssOptions::default()).unwrap();
        let b = ess::profiles(&DenseOperator::single(t2).unwrap(), &ms, &EssOptions::default()).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn total_ess_equals_block_diagonal_ess(len in 2usize..10, channels in 1usize..4, seed in 0u64..1000, p in 1usize..3, m in 1usize..3) {
        let mut r = rng(seed);
        let mats = (0..channels).map(|_| random_causal(&mut r, len, p, m)).collect();
        let op = DenseOperator::new(mats, BlockShape { outputs: p, inputs: m }).unwrap();
        let big = op.block_diagonal();
        prop_assert_eq!(big.channels(), 1);
        let tol = Tolerance::Absolute(1e-8);
        let total = ess::tolerance(&op, tol).unwrap().total();
        let joint = ess::tolerance(&big, tol).unwrap();
        prop_assert_eq!(total.as_slice(), joint.channel(0));
    }

    #[test]
    fn f32_agrees_with_f64_within_f32_precision((len, t) in arb_causal()) {
        let t32 = t.map(|x| x as f32);
        let t64 = t32.map(|x| x as f64); // same operator, exactly representable
        let a = DenseOperator::single(t32).unwrap();
        let b = DenseOperator::single(t64).unwrap();
        let ea = ess::entropy(&a).unwrap();
        let eb = ess::entropy(&b).unwrap();
        for i in 1..len {
            let (sa, sb) = (ess::singular_values(&a, 0, i).unwrap(), ess::singular_values(&b, 0, i).unwrap());
            let scale = sb[0].max(1e-30);
            for (x, y) in sa.iter().zip(&sb) {
                prop_assert!((*x as f64 - y).abs() <= 1e-4 * scale, "σ {} vs {}", x, y);
            }
            let (x, y) = (ea.at(0, i).unwrap(), eb.at(0, i).unwrap());
            prop_assert!((x - y).abs() <= 1e-3 * y.max(1.0), "entropy {} vs {}", x, y);
        }
    }
}

#[test]
fn profile_from_values_validates_its_input() {
    let m = Measure::Entropy;
    let by = ess::ComputedBy::Dense;
    let p = ess::Profile::from_values(6, vec![1, 3], m, by, Some(2), vec![vec![1.0, 2.0], vec![0.5, 1.5]]).unwrap();
    assert_eq!(p.total(), vec![1.5, 3.5]);
    assert_eq!(p.at(1, 3), Some(1.5));
    assert_eq!(p.at(1, 2), None);
    assert_eq!(p.tss(), Some(2));
    assert!(ess::Profile::from_values(6, vec![3, 1], m, by, None, vec![vec![1.0, 2.0]]).is_err());
    assert!(ess::Profile::from_values(6, vec![1, 6], m, by, None, vec![vec![1.0, 2.0]]).is_err());
    assert!(ess::Profile::from_values(6, vec![1, 3], m, by, None, vec![vec![1.0]]).is_err());
    assert!(ess::Profile::from_values(6, vec![1, 3], m, by, None, vec![]).is_err());
}

#[test]
fn tolerance_and_entropy_helpers_follow_their_definitions() {
    // Descending input: counts strictly greater than the threshold.
    let s = [3.0, 2.0, 2.0, 1e-20];
    assert_eq!(Tolerance::Absolute(2.0).count(&s, (4, 4)).unwrap(), 1);
    assert_eq!(Tolerance::Relative(0.5).count(&s, (4, 4)).unwrap(), 3);
    assert_eq!(Tolerance::NumericalRank.count(&s, (4, 4)).unwrap(), 3);
    assert!(Tolerance::Relative(0.0).count(&s, (4, 4)).is_err());
    assert_eq!(Tolerance::NumericalRank.mode_name(), "numerical_rank");
    assert_eq!(Tolerance::Absolute(0.1).value(), Some(0.1));
    // Entropy does not depend on order, ignores zeros, and is exp(H) of p = σ/Σσ.
    let (a, b) = (ess::entropy_of(&[1.0, 3.0, 0.0]), ess::entropy_of(&[3.0, 0.0, 1.0]));
    assert_eq!(a, b);
    let h: f64 = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
    assert!((a - h.exp()).abs() < 1e-15);
    assert_eq!(ess::entropy_of::<f64>(&[]), 0.0);
}
