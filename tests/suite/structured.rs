//! The structured (Gramian square-root) path against the dense path and against
//! independent oracles, at the accuracy issue #4 asks for.

use crate::common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::realization::{Realization, Steps, Transition, TransitionStep};
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

// ---------------------------------------------------------------------------
// Issue #12 part 3: dense-stored diagonal transitions, checkpointing, the
// per-index Golub–Kahan kernel.

/// A time-varying SISO/MIMO realization with diagonal `A_t` (entries in
/// `(-0.98, 0.98)`), given either as diagonals or as dense `N × N` matrices.
fn diagonal_tv_realization(
    seed: u64,
    n: usize,
    len: usize,
    p: usize,
    m: usize,
    as_dense: bool,
    scale: (i32, i32),
) -> Realization<f64> {
    let mut r = rng(seed);
    let diags: Vec<DVector<f64>> = (0..len).map(|_| DVector::from_vec(uniform_vec(&mut r, n, -0.98, 0.98))).collect();
    let b: Vec<DMatrix<f64>> =
        (0..len).map(|_| DMatrix::from_vec(n, m, normal_vec(&mut r, n * m)) * 2f64.powi(scale.0)).collect();
    let c: Vec<DMatrix<f64>> =
        (0..len).map(|_| DMatrix::from_vec(p, n, normal_vec(&mut r, p * n)) * 2f64.powi(scale.1)).collect();
    let a = if as_dense {
        Transition::Dense(Steps::Varying(diags.iter().map(DMatrix::from_diagonal).collect()))
    } else {
        Transition::Diagonal(Steps::Varying(diags))
    };
    Realization::new(len, a, Steps::Varying(b), Steps::Varying(c)).unwrap()
}

fn structured_values<O: LinearOperator>(op: &O, indices: Indices) -> Vec<Vec<O::Scalar>> {
    let opts = EssOptions::default().with_indices(indices).with_method(Method::Structured);
    let (by, v) = ess::singular_value_profile(op, 0, &opts).unwrap();
    assert_eq!(by, ess::ComputedBy::Structured);
    v
}

#[test]
fn dense_stored_diagonal_transitions_take_the_diagonal_route_exactly() {
    for (seed, n, len, p, m) in [(31u64, 16usize, 120usize, 1usize, 1usize), (32, 6, 90, 2, 3), (33, 1, 40, 1, 1)] {
        let diag = diagonal_tv_realization(seed, n, len, p, m, false, (0, 0));
        let dense = diagonal_tv_realization(seed, n, len, p, m, true, (0, 0));
        // The same route (Givens), so the same numbers, bit for bit.
        assert_eq!(structured_values(&diag, Indices::All), structured_values(&dense, Indices::All), "seed {seed}");
        // And the brute force (dense T, SVD of every H_i) agrees.
        assert_spectra_agree(&dense, Indices::All, 1e-10, 1e-8, 1e-14);
    }
}

#[test]
fn a_single_off_diagonal_entry_keeps_the_dense_route_and_it_agrees_too() {
    // One tiny coupling at one step: no longer diagonal, Householder route; both
    // it and the diagonal-route system agree with the brute force.
    let base = diagonal_tv_realization(34, 8, 80, 1, 1, true, (0, 0));
    let Transition::Dense(Steps::Varying(mut a)) = base.to_transition() else { unreachable!() };
    a[40][(2, 5)] = 0.3;
    let b: Vec<_> = (0..80).map(|t| base.b(t).clone_owned()).collect();
    let c: Vec<_> = (0..80).map(|t| base.c(t).clone_owned()).collect();
    let coupled =
        Realization::new(80, Transition::Dense(Steps::Varying(a)), Steps::Varying(b), Steps::Varying(c)).unwrap();
    assert_spectra_agree(&coupled, Indices::All, 1e-10, 1e-8, 1e-14);
    assert_ne!(structured_values(&coupled, Indices::All), structured_values(&base, Indices::All));
}

/// Row-major `(L, N, N)` matrices with the `(L, N)` diagonals `diag`, zero
/// elsewhere: diagonal `A_t` as a user would export them.
fn diagonals_stored_dense(diag: &[f64], len: usize, n: usize) -> Vec<f64> {
    let mut a = vec![0.0; len * n * n];
    for t in 0..len {
        for j in 0..n {
            a[t * n * n + j * n + j] = diag[t * n + j];
        }
    }
    a
}

#[test]
fn time_varying_operator_hands_exactly_diagonal_transitions_over_as_diagonals() {
    // Row-major (L, N, N) A_t with only diagonal entries, as a user would export them.
    let (n, len) = (5, 40);
    let mut r = rng(36);
    let diag = uniform_vec(&mut r, len * n, -0.98, 0.98);
    let (b, c) = (normal_vec(&mut r, len * n), normal_vec(&mut r, len * n));
    let mut a = diagonals_stored_dense(&diag, len, n);
    let dims = Dims { channels: 1, len, width: n };
    let op = TimeVaryingStateSpace::new(&a, &b, &c, dims, BlockShape::SISO).unwrap();
    let real = op.realization(0).unwrap().unwrap();
    let Transition::Diagonal(Steps::Varying(d)) = real.to_transition() else {
        panic!("diagonal A_t given as dense should become diagonals: {:?}", real.to_transition())
    };
    for t in 0..len {
        assert_eq!(d[t].as_slice(), &diag[t * n..(t + 1) * n], "step {t}");
    }
    assert_spectra_agree(&op, Indices::All, 1e-10, 1e-8, 1e-14);
    // One off-diagonal entry (row 0, column 1) at the last step: dense route.
    a[(len - 1) * n * n + 1] = 1e-3;
    let coupled = TimeVaryingStateSpace::new(&a, &b, &c, dims, BlockShape::SISO).unwrap();
    assert!(matches!(coupled.realization(0).unwrap().unwrap().a(0), TransitionStep::Dense(_)));
    assert_spectra_agree(&coupled, Indices::All, 1e-10, 1e-8, 1e-14);
    assert_ne!(structured_values(&coupled, Indices::All), structured_values(&op, Indices::All));
}

#[test]
fn dense_stored_diagonal_in_f32_agrees_with_f64() {
    let r64 = diagonal_tv_realization(35, 12, 100, 1, 1, true, (0, 0));
    let r32 = r64.cast::<f32>().unwrap();
    let (v64, v32) = (structured_values(&r64, Indices::All), structured_values(&r32, Indices::All));
    let d32 = structured_values(
        &diagonal_tv_realization(35, 12, 100, 1, 1, false, (0, 0)).cast::<f32>().unwrap(),
        Indices::All,
    );
    assert_eq!(v32, d32, "f32: dense-stored and diagonal-stored take the same route");
    for (a, b) in v64.iter().zip(&v32) {
        // The f32 system is a rounding of the f64 one: σ agree to ~f32 precision.
        for (x, y) in a.iter().zip(b) {
            assert!((x - f64::from(*y)).abs() <= 2e-4 * a[0], "{x:e} vs {y:e} (σ₁ {:e})", a[0]);
        }
    }
}

#[test]
fn dense_stored_diagonal_at_extreme_scales_is_exactly_scale_equivariant() {
    // B·2^-1000 against C·2^1000 (and the other way): T is unchanged, and so is
    // every singular value, bit for bit.
    let plain = structured_values(&diagonal_tv_realization(36, 16, 64, 1, 1, true, (0, 0)), Indices::All);
    for scale in [(-1000, 1000), (1000, -1000), (-520, 520)] {
        let got = structured_values(&diagonal_tv_realization(36, 16, 64, 1, 1, true, scale), Indices::All);
        assert_eq!(plain, got, "scale {scale:?}");
    }
    // In f32 (2^±100 keeps the f32 inputs finite and normal).
    let p32 =
        structured_values(&diagonal_tv_realization(36, 8, 48, 1, 1, true, (0, 0)).cast::<f32>().unwrap(), Indices::All);
    let s32 = structured_values(
        &diagonal_tv_realization(36, 8, 48, 1, 1, true, (-100, 100)).cast::<f32>().unwrap(),
        Indices::All,
    );
    assert_eq!(p32, s32);
}

#[test]
fn checkpointing_does_not_change_a_bit_whatever_indices_are_requested() {
    // Different index sets group differently (⌈√count⌉ per checkpoint): every
    // shared index gets exactly the same values, for a Mamba layer (diagonal),
    // a dense-stored diagonal system and a truly dense one.
    let mut r = rng(37);
    let (n, len) = (16, 300);
    let a: Vec<f64> = (0..len).flat_map(|_| random_stable(&mut r, n, 0.97).transpose().as_slice().to_vec()).collect();
    let tv = TimeVaryingStateSpace::new(
        &a,
        &normal_vec(&mut r, len * n),
        &normal_vec(&mut r, len * n),
        Dims { channels: 1, len, width: n },
        BlockShape::SISO,
    )
    .unwrap();
    let mamba = {
        let dims = Dims { channels: 1, len, width: n };
        MambaChannels::new(
            &uniform_vec(&mut r, n, -4.0, -0.05),
            &uniform_vec(&mut r, len, 0.001, 0.1),
            &normal_vec(&mut r, len * n),
            &normal_vec(&mut r, len * n),
            dims,
        )
        .unwrap()
    };
    let diag = diagonal_tv_realization(38, n, len, 1, 1, true, (0, 0));
    fn check<O: LinearOperator<Scalar = f64>>(op: &O, len: usize) {
        let all = structured_values(op, Indices::All);
        for (k, list) in
            [vec![1usize, 2, 3], vec![150], (1..len).step_by(7).collect(), (100..len).collect()].into_iter().enumerate()
        {
            let got = structured_values(op, Indices::List(list.clone()));
            for (j, &i) in list.iter().enumerate() {
                assert_eq!(got[j], all[i - 1], "{} list #{k} index {i}", op.family());
            }
        }
    }
    check(&tv, len);
    check(&mamba, len);
    check(&diag, len);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 24,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5EED_0012),
            ..ProptestConfig::default()
        })]

        /// A random diagonal time-varying system, stored densely: the structured
        /// path agrees with the brute force, and equals the diagonal-stored one.
        #[test]
        fn dense_stored_diagonal_matches_brute_force(
            seed in 0u64..1_000_000, n in 1usize..10, len in 4usize..60, p in 1usize..3, m in 1usize..3,
            scale in -600i32..600,
        ) {
            let dense = diagonal_tv_realization(seed, n, len, p, m, true, (scale, -scale));
            let diag = diagonal_tv_realization(seed, n, len, p, m, false, (scale, -scale));
            prop_assert_eq!(structured_values(&dense, Indices::All), structured_values(&diag, Indices::All));
            let plain = diagonal_tv_realization(seed, n, len, p, m, true, (0, 0));
            assert_spectra_agree(&plain, Indices::All, 1e-9, 1e-7, 1e-13);
        }
    }
}

#[test]
fn realization_batch_from_tensors_follows_the_standard_form() {
    // Two channels, dense A_t and D_t, p × m = 2 × 2 (m > 1: a B_t slice of
    // n·m values is not one of n) and 3 × 1 (p·m ≠ p + m: a D_t slice of p·m
    // values is not one of p + m); T[t,s] written out: D_t on the diagonal,
    // C_t·A_{t-1}⋯A_{s+1}·B_s below it.
    for (len, n, p, m) in [(6, 3, 2, 2), (5, 2, 3, 1)] {
        batch_from_tensors_case(len, n, p, m);
    }
}

fn batch_from_tensors_case(len: usize, n: usize, p: usize, m: usize) {
    use effective_state_size::realization::RealizationBatch;
    let ch = 2;
    let mut r = rng(37);
    let a = uniform_vec(&mut r, ch * len * n * n, -0.6, 0.6);
    let (b, c, d) = (
        normal_vec(&mut r, ch * len * n * m),
        normal_vec(&mut r, ch * len * p * n),
        normal_vec(&mut r, ch * len * p * m),
    );
    let block = BlockShape { outputs: p, inputs: m };
    let op = RealizationBatch::from_tensors(&a, &[ch, len, n, n], &b, &c, Some(&d), block).unwrap();
    // One realization per channel, each the channel's own; the TSS is N.
    assert_eq!(op.realizations().len(), ch);
    assert_eq!(op.theoretical_state_size(), Some(n));
    for (k, real) in op.realizations().iter().enumerate() {
        assert_eq!(real.dense(), op.dense(k).unwrap().into_owned(), "channel {k}");
    }
    let mat = |x: &[f64], k: usize, t: usize, rows: usize, cols: usize| {
        DMatrix::from_row_slice(rows, cols, &x[(k * len + t) * rows * cols..(k * len + t + 1) * rows * cols])
    };
    let u = uniform_vec(&mut r, len * m, -1.0, 1.0);
    for k in 0..ch {
        let t_op = op.dense(k).unwrap();
        // The batch applies each channel by its recurrence: T·u with the T
        // checked entry by entry below.
        let y = effective_state_size::operator::OperatorExt::apply(&op, k, &u).unwrap();
        let want = &t_op * DVector::from_column_slice(&u);
        assert!(y.iter().zip(want.iter()).all(|(a, b)| (a - b).abs() <= 1e-12), "channel {k}: {y:?} vs {want}");
        for t in 0..len {
            for s in 0..=t {
                let want = if s == t {
                    mat(&d, k, t, p, m)
                } else {
                    let mut x = mat(&b, k, s, n, m);
                    for j in s + 1..t {
                        x = mat(&a, k, j, n, n) * x;
                    }
                    mat(&c, k, t, p, n) * x
                };
                let got = t_op.view((t * p, s * m), (p, m));
                assert!((got - &want).amax() <= 1e-13, "channel {k}, T[{t},{s}]: {got} vs {want}");
            }
        }
    }
    // A diagonal A given as (C, L, N) is the dense one with those diagonals.
    let diag: Vec<f64> = (0..ch * len).flat_map(|kt| (0..n).map(move |j| 0.9 - 0.1 * (kt % 5 + j) as f64)).collect();
    let mut dense_a = vec![0.0; ch * len * n * n];
    for kt in 0..ch * len {
        for j in 0..n {
            dense_a[kt * n * n + j * n + j] = diag[kt * n + j];
        }
    }
    let by_diag = RealizationBatch::from_tensors(&diag, &[ch, len, n], &b, &c, None, block).unwrap();
    let by_dense = RealizationBatch::from_tensors(&dense_a, &[ch, len, n, n], &b, &c, None, block).unwrap();
    assert_eq!(by_diag.family(), "realization");
    for k in 0..ch {
        assert!((by_diag.dense(k).unwrap() - by_dense.dense(k).unwrap()).amax() <= 1e-15, "channel {k}");
    }
}

/// Every zero size of the tensors (channels, `L`, `N`, `p`, `m`), each on its
/// own, is refused as empty, with the list of what must be at least 1.
#[test]
fn realization_tensors_with_any_zero_size_are_empty() {
    let (ch, len, n, p, m) = (2usize, 3usize, 2usize, 1usize, 1usize);
    for zero in 0..5 {
        let size = |k: usize, v: usize| if k == zero { 0 } else { v };
        let (ch, len, n, p, m) = (size(0, ch), size(1, len), size(2, n), size(3, p), size(4, m));
        let a = vec![0.5; ch * len * n];
        let (b, c) = (vec![1.0; ch * len * n * m], vec![1.0; ch * len * p * n]);
        let block = BlockShape { outputs: p, inputs: m };
        let err =
            effective_state_size::realization::RealizationBatch::from_tensors(&a, &[ch, len, n], &b, &c, None, block)
                .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, effective_state_size::EssError::Empty { .. }) && msg.contains("C, L, N, p and m"),
            "size {zero} zero: {msg}"
        );
    }
}

#[test]
fn a_non_finite_diagonal_transition_is_refused_naming_the_step() {
    let (n, len) = (3, 5);
    let b = Steps::Constant(DMatrix::from_element(n, 1, 1.0));
    let c = Steps::Constant(DMatrix::from_element(1, n, 1.0));
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut diags = vec![DVector::from_element(n, 0.5); len];
        diags[2][1] = bad;
        let err = Realization::new(len, Transition::Diagonal(Steps::Varying(diags)), b.clone(), c.clone()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, effective_state_size::EssError::NonFinite { .. }), "{msg}");
        assert!(msg.contains("diagonal of A_t at step 2") && msg.contains("(1)"), "{msg}");
    }
}

/// `C_t = C̄_t·A_t` and `D_t = C̄_t·B_t` can overflow although every part is
/// finite; the conversion names the first such step, also on sequences long
/// enough to be converted in parallel chunks (where a later step's overflow
/// may be found first).
#[test]
fn an_overflow_in_the_post_update_conversion_names_the_first_step() {
    for len in [6, 5000] {
        let bad = [len / 2, len - 1];
        let n = 2;
        // A_t = diag(1e10, 1): C_t = C̄_t·A_t overflows where C̄_t = (1e300, 1).
        let a = Transition::Diagonal(Steps::Constant(DVector::from_vec(vec![1e10, 1.0])));
        let b = Steps::Constant(DMatrix::from_element(n, 1, 1e-300));
        let cbar = |t: usize| DMatrix::from_row_slice(1, n, &[if bad.contains(&t) { 1e300 } else { 1.0 }, 1.0]);
        let c = Steps::Varying((0..len).map(cbar).collect());
        let err = Realization::from_post_update(len, a, b, c).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, effective_state_size::EssError::NonFinite { .. }), "{msg}");
        assert!(msg.contains(&format!("C_t = C̄_t·A_t at step {} ", bad[0])), "L = {len}: {msg}");
        // D_t = C̄_t·B_t overflows where C̄_t and B_t are both huge.
        let a = Transition::Diagonal(Steps::Constant(DVector::from_element(n, 0.5)));
        let b = Steps::Varying(
            (0..len).map(|t| DMatrix::from_element(n, 1, if t >= bad[0] { 1e200 } else { 1.0 })).collect(),
        );
        let cbar = |t: usize| DMatrix::from_element(1, n, if t == bad[0] || t == bad[1] { 1e200 } else { 1.0 });
        let err = Realization::from_post_update(len, a, b, Steps::Varying((0..len).map(cbar).collect())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("D_t = C̄_t·B_t = T[t,t] at step {} ", bad[0])), "L = {len}: {msg}");
    }
}

/// Long sequences build their per-step matrices in parallel chunks: every
/// step's `A_t`, `B_t`, `C_t = C̄_t·A_t` and `D_t = C̄_t·B_t` is the one of the
/// formula at that step (no chunk shifted or reordered), for diagonal
/// transitions given dense and for one coupled step in the middle (dense route).
#[test]
fn long_time_varying_realizations_hold_each_step_in_order() {
    let (n, len) = (3, 5003);
    let mut r = rng(37);
    let diag = uniform_vec(&mut r, len * n, -0.98, 0.98);
    let (b, c) = (normal_vec(&mut r, len * n), normal_vec(&mut r, len * n));
    let mut a = diagonals_stored_dense(&diag, len, n);
    let dims = Dims { channels: 1, len, width: n };
    for coupled in [false, true] {
        if coupled {
            a[2600 * n * n + 2] = 0.25; // A_2600[0, 2]
        }
        let op = TimeVaryingStateSpace::new(&a, &b, &c, dims, BlockShape::SISO).unwrap();
        let real = op.realization(0).unwrap().unwrap();
        assert_eq!(matches!(real.a(7), TransitionStep::Dense(_)), coupled);
        for t in 0..len {
            let at = DMatrix::from_row_slice(n, n, &a[t * n * n..(t + 1) * n * n]);
            let bt = DMatrix::from_column_slice(n, 1, &b[t * n..(t + 1) * n]);
            let cbar = DMatrix::from_row_slice(1, n, &c[t * n..(t + 1) * n]);
            let x = DVector::from_fn(n, |j, _| (j + 1) as f64);
            assert_eq!(real.a(t).apply(&x), &at * &x, "A_{t}");
            assert_eq!(real.a(t).to_dense(), at, "A_{t}");
            assert_eq!(real.b(t), bt, "B_{t}");
            // C̄_t·A_t: one product per entry with a diagonal A_t (exact match);
            // the dense route sums n products.
            let (ct, dt) = (&cbar * &at, &cbar * &bt);
            if coupled {
                approx::assert_relative_eq!(real.c(t).clone_owned(), ct, max_relative = 1e-15, epsilon = 1e-300);
            } else {
                assert_eq!(real.c(t), ct, "C_{t}");
            }
            approx::assert_relative_eq!(real.d(t).unwrap().clone_owned(), dt, max_relative = 1e-15, epsilon = 1e-300);
        }
    }
}

/// `A` must be `(C, L, N)` or `(C, L, N, N)`: a four-dimensional `A` whose last
/// two sizes differ is refused naming both accepted shapes, even when its
/// length would fit another reading.
#[test]
fn realization_tensors_with_non_square_transitions_are_refused() {
    use effective_state_size::realization::RealizationBatch;
    let (ch, len, n) = (1, 4, 2);
    let block = BlockShape::SISO;
    let (b, c) = (vec![1.0; ch * len * n], vec![1.0; ch * len * n]);
    for a_shape in [[ch, len, n, 3], [ch, len, 3, n], [ch, len, n, 1]] {
        let a = vec![0.5; a_shape.iter().product()];
        let err = RealizationBatch::from_tensors(&a, &a_shape, &b, &c, None, block).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, effective_state_size::EssError::ShapeMismatch { .. })
                && msg.contains("(C, L, N, N), or (C, L, N) for a diagonal A"),
            "{a_shape:?}: {msg}"
        );
    }
}

/// A realization handed over as an operator applies itself by its recurrence:
/// `y = T·u` with `T[t,s]` written out (`D_t` on the diagonal,
/// `C_t·A_{t-1}⋯A_{s+1}·B_s` below it), MIMO, time-varying, dense `A_t`.
#[test]
fn a_realization_as_an_operator_applies_its_recurrence() {
    use effective_state_size::operator::OperatorExt;
    let (len, n, p, m) = (7, 3, 2, 3);
    let mut r = rng(38);
    let mut mats = |rows: usize, cols: usize, scale: f64| -> Vec<DMatrix<f64>> {
        (0..len).map(|_| DMatrix::from_vec(rows, cols, uniform_vec(&mut r, rows * cols, -scale, scale))).collect()
    };
    let (a, b, c, d) = (mats(n, n, 0.7), mats(n, m, 1.0), mats(p, n, 1.0), mats(p, m, 1.0));
    let real = Realization::new(
        len,
        Transition::Dense(Steps::Varying(a.clone())),
        Steps::Varying(b.clone()),
        Steps::Varying(c.clone()),
    )
    .unwrap()
    .with_feedthrough(Steps::Varying(d.clone()))
    .unwrap();
    let u = uniform_vec(&mut r, len * m, -1.0, 1.0);
    let y = OperatorExt::apply(&real, 0, &u).unwrap();
    assert_eq!(y.len(), len * p);
    for t in 0..len {
        let mut want = &d[t] * DVector::from_column_slice(&u[t * m..(t + 1) * m]);
        for s in 0..t {
            let mut x = b[s].clone();
            for aj in &a[s + 1..t] {
                x = aj * x;
            }
            want += &c[t] * x * DVector::from_column_slice(&u[s * m..(s + 1) * m]);
        }
        for o in 0..p {
            assert!((y[t * p + o] - want[o]).abs() <= 1e-13, "y[{t}, {o}] = {} vs {}", y[t * p + o], want[o]);
        }
    }
}

/// `B_t`, `C_t` and `D_t` of the wrong shape, or with a non-finite entry, at
/// one step are refused naming the part, the step and (for shapes) the
/// expected and received sizes.
#[test]
fn realization_parts_of_the_wrong_shape_or_not_finite_are_named() {
    use effective_state_size::EssError;
    let (len, n) = (5, 2);
    let a = Transition::Diagonal(Steps::Constant(DVector::from_element(n, 0.5)));
    let ok_b = |_t: usize| DMatrix::from_element(n, 1, 1.0);
    let ok_c = |_t: usize| DMatrix::from_element(1, n, 1.0);
    let varying = |f: &dyn Fn(usize) -> DMatrix<f64>| Steps::Varying((0..len).map(f).collect());
    let bad_shape = |t: usize, good: DMatrix<f64>| {
        if t == 3 {
            DMatrix::from_element(good.nrows() + 1, good.ncols(), 1.0)
        } else {
            good
        }
    };
    let nan_at = |t: usize, mut good: DMatrix<f64>| {
        if t == 2 {
            let last = good.ncols() - 1;
            good[(0, last)] = f64::NAN;
        }
        good
    };
    let err = Realization::new(len, a.clone(), varying(&|t| bad_shape(t, ok_b(t))), varying(&ok_c)).unwrap_err();
    assert!(matches!(err, EssError::ShapeMismatch { .. }) && err.to_string().contains("B_t at step 3"), "{err}");
    assert!(err.to_string().contains("(2, 1)") && err.to_string().contains("(3, 1)"), "{err}");
    let err = Realization::new(len, a.clone(), varying(&ok_b), varying(&|t| bad_shape(t, ok_c(t)))).unwrap_err();
    assert!(matches!(err, EssError::ShapeMismatch { .. }) && err.to_string().contains("C_t at step 3"), "{err}");
    let err = Realization::new(len, a.clone(), varying(&|t| nan_at(t, ok_b(t))), varying(&ok_c)).unwrap_err();
    assert!(matches!(err, EssError::NonFinite { .. }) && err.to_string().contains("B_t at step 2"), "{err}");
    let err = Realization::new(len, a.clone(), varying(&ok_b), varying(&|t| nan_at(t, ok_c(t)))).unwrap_err();
    assert!(matches!(err, EssError::NonFinite { .. }) && err.to_string().contains("C_t at step 2"), "{err}");
    let real = Realization::new(len, a, varying(&ok_b), varying(&ok_c)).unwrap();
    let ok_d = |_t: usize| DMatrix::from_element(1, 1, 1.0);
    let err = real.clone().with_feedthrough(varying(&|t| bad_shape(t, ok_d(t)))).unwrap_err();
    assert!(matches!(err, EssError::ShapeMismatch { .. }) && err.to_string().contains("D_t at step 3"), "{err}");
    let err = real.with_feedthrough(varying(&|t| nan_at(t, ok_d(t)))).unwrap_err();
    assert!(matches!(err, EssError::NonFinite { .. }) && err.to_string().contains("D_t at step 2"), "{err}");
}

/// `Steps` and `Transition` say whether they vary: a varying `A_t` makes a
/// realization time-varying even when `B` and `C` are constant, and a `Varying`
/// sequence without steps is empty (a constant one never is).
#[test]
fn steps_and_transitions_say_whether_they_vary() {
    let (n, len) = (2, 4);
    let varying_a =
        Transition::Diagonal(Steps::Varying((0..len).map(|t| DVector::from_element(n, 0.1 * t as f64)).collect()));
    let constant_a = Transition::Diagonal(Steps::Constant(DVector::from_element(n, 0.5)));
    assert!(!varying_a.is_constant() && constant_a.is_constant());
    let dense = Transition::Dense(Steps::Varying(vec![DMatrix::<f64>::identity(n, n); len]));
    assert!(!dense.is_constant() && Transition::Dense(Steps::Constant(DMatrix::<f64>::identity(n, n))).is_constant());
    let (b, c) = (Steps::Constant(DMatrix::from_element(n, 1, 1.0)), Steps::Constant(DMatrix::from_element(1, n, 1.0)));
    let r = Realization::new(len, varying_a, b.clone(), c.clone()).unwrap();
    assert!(!r.is_time_invariant());
    assert!(Realization::new(len, constant_a, b, c).unwrap().is_time_invariant());
    assert!(Steps::<DMatrix<f64>>::Varying(Vec::new()).is_empty());
    assert!(!Steps::Constant(DMatrix::<f64>::zeros(0, 0)).is_empty());
    assert!(!Steps::Varying(vec![DMatrix::<f64>::zeros(1, 1)]).is_empty());
}
