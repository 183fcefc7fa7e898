//! State spaces: LTI (dense and diagonal, MIMO), time-varying, Mamba (S6), SSD,
//! and zero-order-hold discretisation.

use crate::common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::realization::{Steps, Transition};
use effective_state_size::{
    zoh_diagonal, zoh_discretize, BlockShape, Dims, EssError, LinearOperator, LtiStateSpace, MambaChannels,
    OperatorExt, Ssd, TimeVaryingStateSpace,
};
use nalgebra::DMatrix;
use proptest::prelude::*;

/// A random stable dense `A` (spectral radius `rho`), `B` (`N × m`), `C` (`p × N`).
fn random_lti(seed: u64, n: usize, p: usize, m: usize, rho: f64) -> (DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    let mut r = rng(seed);
    let a = random_stable(&mut r, n, rho);
    (a, DMatrix::from_vec(n, m, normal_vec(&mut r, n * m)), DMatrix::from_vec(p, n, normal_vec(&mut r, p * n)))
}

#[test]
fn lti_apply_realization_and_structured_path_match_dense() {
    let sys = vec![random_lti(31, 5, 2, 3, 0.9), random_lti(32, 5, 2, 3, 0.7)];
    let op = LtiStateSpace::from_matrices(sys, 24).unwrap();
    assert_eq!(op.block_shape(), BlockShape { outputs: 2, inputs: 3 });
    // TSS: the state size N of the realization x_{t+1} = A x_t + B u_t.
    assert_eq!((op.family(), op.theoretical_state_size()), ("LTI state space", Some(5)));
    // `verify` probes with `m·L` inputs per channel (3·24 here), on both channels.
    let v = effective_state_size::ess::verify(&op).unwrap();
    assert_eq!(v.channels, 2);
    assert!(v.apply_error < 1e-14 && v.realization_error.unwrap() < 1e-14, "{v:?}");
    assert_apply_matches_dense(&op, 1);
    assert_realization_matches(&op, 2);
    assert_structured_matches_dense(&op);
    let mut r = rng(33);
    let diag = LtiStateSpace::diagonal(
        &uniform_vec(&mut r, 12, -0.95, 0.95),
        &normal_vec(&mut r, 12),
        &normal_vec(&mut r, 12),
        Dims { channels: 3, len: 30, width: 4 },
    )
    .unwrap();
    assert_eq!(diag.theoretical_state_size(), Some(4));
    assert_apply_matches_dense(&diag, 3);
    assert_realization_matches(&diag, 4);
    assert_structured_matches_dense(&diag);
}

#[test]
fn lti_dense_entries_follow_c_a_power_b() {
    let (a, b, c) = random_lti(34, 3, 1, 1, 0.8);
    let op = LtiStateSpace::from_matrices(vec![(a.clone(), b.clone(), c.clone())], 10).unwrap();
    let t = op.dense(0).unwrap();
    let expect = &c * a.pow(4) * &b;
    assert!((t[(7, 3)] - expect[(0, 0)]).abs() < 1e-14);
    assert_eq!(t[(3, 7)], 0.0);
}

#[test]
fn generic_n_state_ssm_has_ess_n_in_the_middle() {
    for (seed, n) in [(41u64, 3usize), (42, 6), (43, 10)] {
        let (a, b, c) = random_lti(seed, n, 1, 1, 0.8);
        let len = 4 * n + 8;
        let op = LtiStateSpace::from_matrices(vec![(a, b, c)], len).unwrap();
        for path in [Method::Dense, Method::Structured] {
            let p = tol_profile(&op, Tolerance::NumericalRank, path);
            for i in n..=len - n {
                assert_eq!(p[0][i - 1], n as f64, "N={n} i={i} {path:?}");
            }
        }
    }
}

/// Stein Gramians by squared Smith doubling.
fn smith(a: &DMatrix<f64>, q: &DMatrix<f64>) -> DMatrix<f64> {
    let (mut p, mut ak) = (q.clone(), a.clone());
    for _ in 0..60 {
        p = &p + &ak * &p * ak.transpose();
        ak = &ak * &ak;
    }
    p
}

/// The classical Hankel singular values by the square-root method.
fn hankel_singular_values(a: &DMatrix<f64>, b: &DMatrix<f64>, c: &DMatrix<f64>) -> Vec<f64> {
    // With y read after the update, the standard system is (A, B, C·A, C·B).
    let cs = c * a;
    let p = smith(a, &(b * b.transpose()));
    let q = smith(&a.transpose(), &(cs.transpose() * &cs));
    let lp = p.cholesky().unwrap().l();
    let lq = q.cholesky().unwrap().l();
    let mut s: Vec<f64> = (lq.transpose() * lp).singular_values().iter().copied().collect();
    s.sort_by(|x, y| y.partial_cmp(x).unwrap());
    s
}

#[test]
fn middle_hankel_block_matches_classical_hankel_singular_values() {
    for (seed, n, rho) in [(51u64, 4usize, 0.8), (52, 8, 0.9), (53, 6, 0.6)] {
        let (a, b, c) = random_lti(seed, n, 1, 1, rho);
        let hsv = hankel_singular_values(&a, &b, &c);
        let len = 800;
        let op = LtiStateSpace::from_matrices(vec![(a, b, c)], len).unwrap();
        let opts = EssOptions::default().with_indices(Indices::Middle).with_method(Method::Structured);
        let (by, sv) = ess::singular_value_profile(&op, 0, &opts).unwrap();
        assert_eq!(by, ess::ComputedBy::Structured);
        let block = op.hankel_block(0, len / 2).unwrap();
        let dense = effective_state_size::spectrum::singular_values(
            &effective_state_size::spectrum::NalgebraSvd::default(),
            block,
        )
        .unwrap();
        for (k, h) in hsv.iter().enumerate() {
            assert!(close(sv[0][k], *h, 1e-8), "seed {seed} σ_{k}: structured {} vs Hankel {}", sv[0][k], h);
            assert!(close(dense[k], *h, 1e-8), "seed {seed} σ_{k}: dense {} vs Hankel {}", dense[k], h);
        }
        let ent = ess::profile(&op, Measure::Entropy, &opts).unwrap();
        assert!(close(ent.channel(0)[0], oracle_entropy(&hsv), 1e-8));
    }
}

/// A time-varying state space with the given `A_t` (`(channels, L, N, N)`) and
/// random `B_t` (`N × m`), `C_t` (`p × N`), returned with `B` and `C`; sizes
/// `(channels, L, N, p, m)`.
fn time_varying(
    a: &[f64],
    r: &mut rand::rngs::StdRng,
    (ch, len, n, p, m): (usize, usize, usize, usize, usize),
) -> (TimeVaryingStateSpace<f64>, Vec<f64>, Vec<f64>) {
    let b = normal_vec(r, ch * len * n * m);
    let c = normal_vec(r, ch * len * p * n);
    let dims = Dims { channels: ch, len, width: n };
    let op = TimeVaryingStateSpace::new(a, &b, &c, dims, BlockShape { outputs: p, inputs: m }).unwrap();
    (op, b, c)
}

#[test]
fn time_varying_state_space_matches_formula_and_dense() {
    let mut r = rng(61);
    let (ch, len, n, p, m) = (2, 14, 3, 2, 1);
    let a: Vec<f64> = normal_vec(&mut r, ch * len * n * n).into_iter().map(|x| 0.4 * x).collect();
    let (op, b, c) = time_varying(&a, &mut r, (ch, len, n, p, m));
    assert_eq!(op.family(), "time-varying state space");
    // T[t,s] = C_t A_t ⋯ A_{s+1} B_s, written out for (t, s) = (5, 2), channel 1.
    let at = |t: usize| DMatrix::from_row_slice(n, n, &a[(len + t) * n * n..(len + t + 1) * n * n]);
    let bt = |t: usize| DMatrix::from_row_slice(n, m, &b[(len + t) * n * m..(len + t + 1) * n * m]);
    let ct = |t: usize| DMatrix::from_row_slice(p, n, &c[(len + t) * p * n..(len + t + 1) * p * n]);
    let blk = ct(5) * at(5) * at(4) * at(3) * bt(2);
    let t = op.dense(1).unwrap();
    assert!((t.view((10, 2), (2, 1)).into_owned() - blk).amax() < 1e-12);
    assert_apply_matches_dense(&op, 1);
    assert_realization_matches(&op, 2);
    assert_structured_matches_dense(&op);
}

#[test]
fn time_varying_state_space_hands_over_diagonal_channels_as_diagonals() {
    // Three channels of diagonal A_t stored dense: channel 1 has one nonzero
    // off-diagonal entry (last step, bottom-left corner), channel 2 some zero
    // diagonal entries. Only channels 0 and 2 become diagonal transitions, with
    // the stored diagonal values; all three are still the operator (MIMO, so the
    // feedthrough T[t,t] = C_t B_t is a 2 × 3 product).
    let mut r = rng(67);
    let (ch, len, n, p, m) = (3, 12, 4, 2, 3);
    let mut a = vec![0.0; ch * len * n * n];
    for c in 0..ch {
        for t in 0..len {
            for j in 0..n {
                let v = 0.9 * (0.7 * (c * len + t) as f64 + 1.3 * j as f64).sin();
                a[((c * len + t) * n + j) * n + j] = if c == 2 && (t + j) % 5 == 0 { 0.0 } else { v };
            }
        }
    }
    a[((len + len - 1) * n + n - 1) * n] = 0.25;
    let (op, _, _) = time_varying(&a, &mut r, (ch, len, n, p, m));
    for c in 0..ch {
        let real = op.realization(c).unwrap().expect("a realization");
        match (c, real.to_transition()) {
            (1, Transition::Dense(_)) => {}
            (0 | 2, Transition::Diagonal(Steps::Varying(d))) => {
                for (t, dt) in d.iter().enumerate() {
                    for j in 0..n {
                        assert_eq!(dt[j], a[((c * len + t) * n + j) * n + j], "channel {c}, step {t}, state {j}");
                    }
                }
            }
            (c, other) => panic!("channel {c}: unexpected transition {other:?}"),
        }
    }
    assert_realization_matches(&op, 68);
    assert_apply_matches_dense(&op, 69);
    assert_structured_matches_dense(&op);
}

fn random_mamba(seed: u64, ch: usize, len: usize, n: usize) -> MambaChannels<f64> {
    let mut r = rng(seed);
    let a: Vec<f64> = uniform_vec(&mut r, ch * n, -3.0, -0.1);
    let delta = uniform_vec(&mut r, ch * len, 0.01, 0.5);
    MambaChannels::new(
        &a,
        &delta,
        &normal_vec(&mut r, len * n),
        &normal_vec(&mut r, len * n),
        Dims { channels: ch, len, width: n },
    )
    .unwrap()
}

#[test]
fn mamba_channels_match_dense_and_realization() {
    let op = random_mamba(71, 3, 40, 6);
    assert_apply_matches_dense(&op, 1);
    assert_realization_matches(&op, 2);
    assert_structured_matches_dense(&op);
    assert_eq!(op.theoretical_state_size(), Some(6));
}

#[test]
fn ssd_heads_match_dense_and_realization() {
    let mut r = rng(81);
    let (h, len, n) = (2, 36, 5);
    let op = Ssd::new(
        &uniform_vec(&mut r, h * len, 0.5, 1.0),
        &normal_vec(&mut r, h * len * n),
        &normal_vec(&mut r, h * len * n),
        Dims { channels: h, len, width: n },
    )
    .unwrap();
    assert_apply_matches_dense(&op, 1);
    assert_realization_matches(&op, 2);
    assert_structured_matches_dense(&op);
    let p = tol_profile(&op, Tolerance::NumericalRank, Method::Auto);
    assert_eq!(p[0][len / 2 - 1], n as f64);
}

#[test]
fn zoh_matches_closed_forms() {
    // Diagonal: compare with the dense augmented-exponential path.
    let a: [f64; 3] = [-1.0, -0.25, 0.0];
    let b: [f64; 3] = [1.0, 2.0, 3.0];
    let (ad, bd) = zoh_diagonal(&a, &b, 0.3).unwrap();
    let (am, bm) = zoh_discretize(
        &DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(&a)),
        &DMatrix::from_column_slice(3, 1, &b),
        0.3,
    )
    .unwrap();
    for k in 0..3 {
        assert!((ad[k] - am[(k, k)]).abs() < 1e-13 && (bd[k] - bm[(k, 0)]).abs() < 1e-13);
    }
    assert!((ad[0] - (-0.3f64).exp()).abs() < 1e-15);
    assert!((bd[2] - 0.9).abs() < 1e-15);
    // A rotation generator: exp of [[0, -w], [w, 0]]Δ is a rotation by wΔ.
    let gen = DMatrix::from_row_slice(2, 2, &[0.0, -2.0, 2.0, 0.0]);
    let (rot, _) = zoh_discretize(&gen, &DMatrix::from_element(2, 1, 1.0), 0.25).unwrap();
    assert!((rot[(0, 0)] - 0.5f64.cos()).abs() < 1e-13 && (rot[(1, 0)] - 0.5f64.sin()).abs() < 1e-13);
    // A long step (‖Δ·[[A, B], [0, 0]]‖₁ = 3.5 and 35: the exponential is scaled
    // and squared): Ā rotates by θ = wΔ, and B̄ = ∫₀^Δ R(wτ) dτ · b
    // = (1/w)·[[sin θ, cos θ − 1], [1 − cos θ, sin θ]]·b.
    for delta in [1.75f64, 17.5] {
        let (w, b) = (2.0f64, [1.0f64, 1.0]);
        let (rot, bbar) = zoh_discretize(&gen, &DMatrix::from_column_slice(2, 1, &b), delta).unwrap();
        let (sin, cos) = (w * delta).sin_cos();
        let want_a = DMatrix::from_row_slice(2, 2, &[cos, -sin, sin, cos]);
        let want_b =
            DMatrix::from_row_slice(2, 2, &[sin, cos - 1.0, 1.0 - cos, sin]) * DMatrix::from_column_slice(2, 1, &b) / w;
        assert!((&rot - &want_a).amax() < 1e-13, "Δ = {delta}: Ā = {rot} vs {want_a}");
        assert!((&bbar - &want_b).amax() < 1e-13, "Δ = {delta}: B̄ = {bbar} vs {want_b}");
    }
    assert!(zoh_diagonal(&a, &b, 0.0).is_err());
    assert!(zoh_diagonal(&a, &b[..2], 0.1).is_err());
}

#[test]
fn bad_state_space_inputs_are_rejected() {
    let err =
        LtiStateSpace::diagonal(&[0.5; 4], &[1.0; 4], &[1.0; 3], Dims { channels: 2, len: 8, width: 2 }).unwrap_err();
    assert!(err.to_string().contains("C") && err.to_string().contains("received 3 values"), "{err}");
    let err = LtiStateSpace::from_matrices(
        vec![(DMatrix::<f64>::zeros(2, 2), DMatrix::zeros(3, 1), DMatrix::zeros(1, 2))],
        5,
    )
    .unwrap_err();
    assert!(err.to_string().contains("expected shape A: (2, 2), B: (2, 1)"), "{err}");
    assert!(matches!(
        LtiStateSpace::diagonal(&[f64::INFINITY], &[1.0], &[1.0], Dims { channels: 1, len: 4, width: 1 }),
        Err(EssError::NonFinite { .. })
    ));
    assert!(matches!(
        Ssd::new(&[1.5; 4], &[1.0; 4], &[1.0; 4], Dims { channels: 1, len: 4, width: 1 }),
        Err(EssError::InvalidParameter { .. })
    ));
    let err = MambaChannels::new(&[-1.0], &[0.1, -0.1], &[1.0; 2], &[1.0; 2], Dims { channels: 1, len: 2, width: 1 })
        .unwrap_err();
    assert!(err.to_string().contains("Δ"), "{err}");
    assert!(matches!(
        LtiStateSpace::<f64>::diagonal(&[], &[], &[], Dims { channels: 1, len: 4, width: 0 }),
        Err(EssError::Empty { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn ssm_ess_never_exceeds_n(seed in 0u64..10_000, n in 1usize..6) {
        let (a, b, c) = random_lti(seed, n, 1, 1, 0.95);
        let op = LtiStateSpace::from_matrices(vec![(a, b, c)], 24).unwrap();
        prop_assert!(tol_profile(&op, Tolerance::Relative(1e-10), Method::Dense)[0].iter().all(|&v| v <= n as f64));
        let m = random_mamba(seed, 1, 24, n);
        prop_assert!(tol_profile(&m, Tolerance::Relative(1e-10), Method::Dense)[0].iter().all(|&v| v <= n as f64));
        let mut r = rng(seed);
        let len = 24;
        let ssd = Ssd::new(&uniform_vec(&mut r, len, 0.0, 1.0), &normal_vec(&mut r, len * n), &normal_vec(&mut r, len * n), Dims { channels: 1, len, width: n }).unwrap();
        prop_assert!(tol_profile(&ssd, Tolerance::Relative(1e-10), Method::Dense)[0].iter().all(|&v| v <= n as f64));
        let (p, q) = (2, 2);
        let tv = TimeVaryingStateSpace::new(&normal_vec(&mut r, len * n * n), &normal_vec(&mut r, len * n * q), &normal_vec(&mut r, len * p * n), Dims { channels: 1, len, width: n }, BlockShape { outputs: p, inputs: q })
        .unwrap();
        prop_assert!(tol_profile(&tv, Tolerance::Relative(1e-10), Method::Dense)[0].iter().all(|&v| v <= n as f64));
    }
}

/// `zoh_discretize` refuses each mis-shaped pair on its own, naming the
/// expected and the received shapes: a non-square `A`, a `B` whose row count
/// is not `N` (with `N ≥ 1`), and an empty `A`; a well-shaped pair passes.
#[test]
fn zoh_discretize_refuses_each_mis_shaped_pair() {
    let ok_b = DMatrix::from_element(2, 1, 1.0);
    let cases = [
        (DMatrix::from_element(2, 3, -1.0), ok_b.clone(), "A: (2, 3)"),
        (DMatrix::from_diagonal_element(2, 2, -1.0), DMatrix::from_element(3, 1, 1.0), "B: (3, 1)"),
        (DMatrix::from_diagonal_element(2, 2, -1.0), DMatrix::from_element(1, 2, 1.0), "B: (1, 2)"),
        (DMatrix::zeros(0, 0), DMatrix::zeros(0, 1), "A: (0, 0)"),
    ];
    for (a, b, received) in cases {
        match zoh_discretize(&a, &b, 0.5) {
            Err(e @ EssError::ShapeMismatch { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("(N, N)") && msg.contains(received), "{msg}");
            }
            other => panic!("A {:?}, B {:?}: expected a shape error, got {other:?}", a.shape(), b.shape()),
        }
    }
    assert!(zoh_discretize(&DMatrix::from_diagonal_element(2, 2, -1.0), &ok_b, 0.5).is_ok());
}
