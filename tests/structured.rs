//! The structured (Gramian square-root) path against the dense path and against
//! independent oracles, at the accuracy issue #4 asks for.

mod common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::realization::{Realization, Steps, Transition};
use effective_state_size::{
    BlockShape, Dims, LinearOperator, LtiStateSpace, MambaChannels, OperatorExt, TimeVaryingStateSpace,
};
use nalgebra::{DMatrix, DVector};

/// Every singular value above `floor·σ₁` agrees within `rel` relative plus
/// `abs·σ₁`. A backward-stable SVD (dense or structured) fixes each σ_k only to
/// about `ε·σ₁` absolute, so `abs` is at least a few `ε`.
fn assert_spectra_agree<O: LinearOperator<Scalar = f64>>(op: &O, indices: Indices, floor: f64, rel: f64, abs: f64) {
    let d = EssOptions::default().with_indices(indices.clone()).with_method(Method::Dense);
    let s = EssOptions::default().with_indices(indices).with_method(Method::Structured);
    for c in 0..op.channels() {
        let (_, dense) = ess::singular_value_profile(op, c, &d).unwrap();
        let (by, fast) = ess::singular_value_profile(op, c, &s).unwrap();
        assert_eq!(by, ess::ComputedBy::Structured);
        for (j, (sd, sf)) in dense.iter().zip(&fast).enumerate() {
            let s1 = sd[0];
            for (k, &x) in sd.iter().enumerate().filter(|(_, &x)| x > floor * s1) {
                let y = sf.get(k).copied().unwrap_or(0.0);
                assert!(
                    (x - y).abs() <= rel * x + abs * s1,
                    "{} ch {c} idx#{j} σ_{k}: dense {x:e} structured {y:e} (σ₁ {s1:e})",
                    op.family()
                );
            }
        }
    }
}

#[test]
fn random_lti_systems_agree_up_to_n_16_and_l_512() {
    let mut r = rng(1);
    for (n, len, idx) in [
        (4usize, 128usize, Indices::All),
        (16, 128, Indices::All),
        (16, 512, Indices::Stride(37)),
        (9, 300, Indices::Stride(13)),
    ] {
        let sys: Vec<_> = (0..2)
            .map(|_| {
                (
                    random_stable(&mut r, n, 0.95),
                    DMatrix::from_vec(n, 1, normal_vec(&mut r, n)),
                    DMatrix::from_vec(1, n, normal_vec(&mut r, n)),
                )
            })
            .collect();
        let op = LtiStateSpace::from_matrices(sys, len).unwrap();
        assert_spectra_agree(&op, idx.clone(), 1e-10, 1e-8, 1e-15);
        assert_structured_matches_dense_at(&op, idx, 1e-7);
    }
}

#[test]
fn random_time_varying_mimo_systems_agree() {
    let mut r = rng(2);
    for (n, len, p, m) in [(5usize, 96usize, 2usize, 3usize), (16, 200, 1, 1), (12, 160, 3, 2)] {
        let a: Vec<f64> =
            (0..len).flat_map(|_| random_stable(&mut r, n, 0.97).transpose().as_slice().to_vec()).collect();
        let b = normal_vec(&mut r, len * n * m);
        let c = normal_vec(&mut r, len * p * n);
        let op = TimeVaryingStateSpace::new(
            &a,
            &b,
            &c,
            Dims { channels: 1, len, width: n },
            BlockShape { outputs: p, inputs: m },
        )
        .unwrap();
        assert_spectra_agree(&op, Indices::Stride(7), 1e-10, 1e-8, 1e-15);
        assert_structured_matches_dense_at(&op, Indices::Stride(7), 1e-7);
    }
}

#[test]
fn badly_conditioned_system_keeps_small_singular_values() {
    // N = 32: half the decays near 1, half near 0.
    let mut r = rng(3);
    let n = 32;
    let mut a = uniform_vec(&mut r, n / 2, 0.9, 0.9999);
    a.extend(uniform_vec(&mut r, n / 2, -0.2, 0.2));
    let (b, c) = (normal_vec(&mut r, n), normal_vec(&mut r, n));
    let len = 400;
    let op = LtiStateSpace::diagonal(&a, &b, &c, Dims { channels: 1, len, width: n }).unwrap();
    let idx = Indices::List(vec![40, 200, 360]);
    // Values down to 1e-12·σ₁: absolute accuracy of either SVD is ~ε·σ₁·(size),
    // so allow 1e-13·σ₁ absolute on top of 1e-6 relative.
    assert_spectra_agree(&op, idx.clone(), 1e-12, 1e-6, 1e-13);
    let d = EssOptions::default().with_indices(idx.clone()).with_method(Method::Dense);
    let s = EssOptions::default().with_indices(idx).with_method(Method::Structured);
    let (_, dense) = ess::singular_value_profile(&op, 0, &d).unwrap();
    let (_, fast) = ess::singular_value_profile(&op, 0, &s).unwrap();
    for (sd, sf) in dense.iter().zip(&fast) {
        let count = |v: &[f64]| v.iter().filter(|&&x| x > 1e-12 * v[0]).count();
        assert!(count(sd) >= 10, "the test system must have a long spectrum: {}", count(sd));
        assert_eq!(count(sd), count(sf));
    }
}

#[test]
fn squaring_the_gramians_would_lose_what_the_square_root_path_keeps() {
    // The same system as above through P = R Rᵀ, Q = OᵀO and eig(PQ): values below
    // about 1e-8·σ₁ are lost, which is why the crate propagates factors.
    let mut r = rng(3);
    let n = 32;
    let mut a = uniform_vec(&mut r, n / 2, 0.97, 0.999);
    a.extend(uniform_vec(&mut r, n / 2, 0.001, 0.1));
    let (b, c) = (normal_vec(&mut r, n), normal_vec(&mut r, n));
    let len = 400;
    let op = LtiStateSpace::diagonal(&a, &b, &c, Dims { channels: 1, len, width: n }).unwrap();
    let i = 200;
    let t = op.dense(0).unwrap();
    let h = t.view((i, 0), (len - i, i)).into_owned();
    let gram = (h.transpose() * &h).symmetric_eigenvalues();
    let mut squared: Vec<f64> = gram.iter().map(|&x| x.max(0.0).sqrt()).collect();
    squared.sort_by(|x, y| y.partial_cmp(x).unwrap());
    let (_, fast) =
        ess::singular_value_profile(&op, 0, &EssOptions::default().with_indices(Indices::List(vec![i]))).unwrap();
    let truth = oracle_sv(&t, i, 1, 1);
    let k = truth.iter().position(|&x| x < 1e-11 * truth[0]).unwrap() - 1;
    assert!((fast[0][k] - truth[k]).abs() < 1e-3 * truth[k]);
    assert!((squared[k] - truth[k]).abs() > 1e-1 * truth[k], "Gram shortcut unexpectedly accurate");
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let mut r = rng(4);
    let (ch, len, n) = (6, 300, 8);
    let op = MambaChannels::new(
        &uniform_vec(&mut r, ch * n, -2.0, -0.1),
        &uniform_vec(&mut r, ch * len, 0.01, 0.3),
        &normal_vec(&mut r, len * n),
        &normal_vec(&mut r, len * n),
        Dims { channels: ch, len, width: n },
    )
    .unwrap();
    let ms = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    let run = |threads: usize, path: Method| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            ess::profiles(&op, &ms, &EssOptions::default().with_method(path).with_indices(Indices::Stride(3))).unwrap()
        })
    };
    for path in [Method::Structured, Method::Dense] {
        assert_eq!(run(1, path), run(2, path));
        assert_eq!(run(1, path), run(3, path));
    }
}

#[test]
fn planner_prefers_the_structured_path_only_when_it_is_smaller() {
    let op = LtiStateSpace::diagonal(&[0.5; 6], &[1.0; 6], &[1.0; 6], Dims { channels: 1, len: 64, width: 6 }).unwrap();
    assert_eq!(
        ess::plan(&op, &EssOptions::default().with_method(Method::Auto)).unwrap().method,
        ess::ComputedBy::Structured
    );
    let short =
        LtiStateSpace::diagonal(&[0.5; 6], &[1.0; 6], &[1.0; 6], Dims { channels: 1, len: 10, width: 6 }).unwrap();
    assert_eq!(
        ess::plan(&short, &EssOptions::default().with_method(Method::Auto)).unwrap().method,
        ess::ComputedBy::Dense
    );
    assert_eq!(
        ess::plan(&op, &EssOptions::default().with_method(Method::Dense)).unwrap().method,
        ess::ComputedBy::Dense
    );
}

#[test]
fn hand_built_realization_with_zero_state_and_feedthrough() {
    // N = 0 realizations (a memoryless map) have ESS 0 on the structured path.
    let real = Realization::new(
        5,
        Transition::Dense(Steps::Constant(DMatrix::<f64>::zeros(0, 0))),
        Steps::Constant(DMatrix::zeros(0, 1)),
        Steps::Constant(DMatrix::zeros(1, 0)),
    )
    .unwrap()
    .with_feedthrough(Steps::Constant(DMatrix::from_element(1, 1, 2.0)))
    .unwrap();
    assert_eq!(real.apply(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap(), vec![2.0, 4.0, 6.0, 8.0, 10.0]);
    assert_eq!(real.dense(), DMatrix::from_diagonal_element(5, 5, 2.0));
    // A mismatched step count is a shape error.
    let err = Realization::new(
        5,
        Transition::Diagonal(Steps::Varying(vec![DVector::from_element(2, 0.5); 4])),
        Steps::Constant(DMatrix::<f64>::zeros(2, 1)),
        Steps::Constant(DMatrix::zeros(1, 2)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("5 steps"), "{err}");
}
