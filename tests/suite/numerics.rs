//! Issue fault 4: the structured path at extreme scales. Where `T` itself is
//! finite (and normal), the structured (square-root Gramian) path must give the
//! same profiles as the dense path, however large or small `B` and `C` are.
//!
//! Self-contained on purpose (no `mod common`): it uses only the public API of
//! `effective_state_size::prelude`.

use effective_state_size::ess::ComputedBy;
use effective_state_size::nalgebra::DMatrix;
use effective_state_size::prelude::*;
use proptest::prelude::*;
/// Entropy and tolerance profiles of `op` on one path (`Method::Auto` when `None`),
/// at every index for short sequences and at a stride (the dense path is `O(L⁴)`)
/// for long ones.
fn profiles_on<O: LinearOperator>(op: &O, method: Option<Method>, tol: Tolerance) -> (ComputedBy, Vec<f64>, Vec<f64>) {
    let len = op.seq_len();
    let indices = if len > 100 { Indices::Stride(len / 16) } else { Indices::All };
    let mut opts = EssOptions::default().with_indices(indices);
    if let Some(m) = method {
        opts = opts.with_method(m);
    }
    let [ent, cnt]: [ess::Profile; 2] = ess::profiles(op, &[Measure::Entropy, Measure::Tolerance(tol)], &opts)
        .unwrap_or_else(|e| panic!("{} on {method:?}: {e}", op.family()))
        .try_into()
        .expect("two profiles");
    assert_eq!(ent.computed_by(), cnt.computed_by());
    let flat = |p: &ess::Profile| p.values().concat();
    (ent.computed_by(), flat(&ent), flat(&cnt))
}

/// The automatic (structured) path gives finite profiles equal to the dense path's:
/// tolerance-ESS exactly, entropy-ESS within `rel`.
fn assert_structured_matches_dense<O: LinearOperator>(op: &O, tol: Tolerance, rel: f64) {
    let (by, ent_s, cnt_s) = profiles_on(op, None, tol);
    assert_eq!(by, ComputedBy::Structured, "Method::Auto should pick the structured path");
    let (by, ent_d, cnt_d) = profiles_on(op, Some(Method::Dense), tol);
    assert_eq!(by, ComputedBy::Dense);
    assert!(ent_s.iter().chain(&cnt_s).all(|v| v.is_finite()), "non-finite structured profile");
    assert_eq!(cnt_s, cnt_d, "tolerance-ESS ({tol:?}) structured vs dense");
    for (k, (s, d)) in ent_s.iter().zip(&ent_d).enumerate() {
        assert!((s - d).abs() <= rel * d.abs(), "entropy-ESS at position {k}: structured {s} vs dense {d}");
    }
}

/// A small deterministic generator (xorshift), so that the fixed cases need no seed
/// plumbing.
struct Xorshift(u64);
impl Xorshift {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `[-1, -0.5) ∪ [0.5, 1)`.
    fn signed_unit(&mut self) -> f64 {
        let x = 0.5 + 0.5 * self.next_f64();
        if self.next_f64() < 0.5 {
            -x
        } else {
            x
        }
    }
}

// (a) f32: every entry of T is at most 0.9, but C·(observability factor) overflowed.
#[test]
fn f32_lti_with_tiny_b_and_huge_c() {
    let op = LtiStateSpace::diagonal(&[0.999f32], &[3e-38], &[3e37], Dims { channels: 1, len: 600, width: 1 }).unwrap();
    let t = op.dense(0).unwrap();
    assert!(t.iter().all(|v| v.is_finite() && v.abs() <= 0.91));
    // The call of the issue report.
    let p = ess::entropy(&op).unwrap();
    assert_eq!(p.computed_by(), ComputedBy::Structured);
    assert!(p.values()[0].iter().all(|v| v.is_finite() && (v - 1.0).abs() < 1e-6));
    assert_structured_matches_dense(&op, Tolerance::NumericalRank, 1e-3);
    assert_structured_matches_dense(&op, Tolerance::Relative(1e-3), 1e-3);
}

// (b) the same in f64.
#[test]
fn f64_lti_with_tiny_b_and_huge_c() {
    let op =
        LtiStateSpace::diagonal(&[0.999f64], &[1e-307], &[1e307], Dims { channels: 1, len: 600, width: 1 }).unwrap();
    assert!(op.dense(0).unwrap().iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    assert!(ess::entropy(&op).unwrap().values()[0].iter().all(|v| v.is_finite()));
    assert_structured_matches_dense(&op, Tolerance::NumericalRank, 1e-6);
    assert_structured_matches_dense(&op, Tolerance::Relative(1e-6), 1e-6);
    // And mirrored: huge B, tiny C.
    let op =
        LtiStateSpace::diagonal(&[0.999f64], &[1e307], &[1e-307], Dims { channels: 1, len: 600, width: 1 }).unwrap();
    assert_structured_matches_dense(&op, Tolerance::Relative(1e-6), 1e-6);
}

// (b2) a block whose only entry is exactly half the smallest subnormal, `2^-1075`:
// it rounds to zero (ties to even), so `T = 0` and every ESS is zero, on both
// paths; twice as much is the smallest subnormal, `T ≠ 0`, ESS one.
#[test]
fn a_block_at_half_the_smallest_subnormal_is_zero_on_both_paths() {
    for (c_exp, expected) in [(-475, 0.0), (-474, 1.0)] {
        let (b, c) = (2f64.powi(-600), 2f64.powi(c_exp));
        let op = LtiStateSpace::diagonal(&[1.0f64], &[b], &[c], Dims { channels: 1, len: 2, width: 1 }).unwrap();
        let t10 = op.dense(0).unwrap()[(1, 0)];
        assert_eq!(t10, if expected == 0.0 { 0.0 } else { 2f64.powi(-1074) }, "T[1, 0] for c = 2^{c_exp}");
        for method in [Method::Structured, Method::Dense] {
            let (_, ent, cnt) = profiles_on(&op, Some(method), Tolerance::NumericalRank);
            assert_eq!(ent, vec![expected], "entropy-ESS, {method:?}, c = 2^{c_exp}");
            assert_eq!(cnt, vec![expected], "tolerance-ESS, {method:?}, c = 2^{c_exp}");
        }
    }
}

// (c) f32 linear attention with |q|, |k| ≈ 1e19: T ≈ 1e38 is finite, the core
// Fo·Grᵀ ≈ √(i(L-i))·1e38 was not.
#[test]
fn f32_linear_attention_near_the_top_of_the_range() {
    let (d, len) = (2, 24);
    let mut g = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut draw = || (0..len * d).map(|_| (g.signed_unit() * 1e19) as f32).collect::<Vec<f32>>();
    let (q, k) = (draw(), draw());
    let op = LinearAttention::new(&q, &k, Dims { channels: 1, len, width: d }).unwrap();
    let t = op.dense(0).unwrap();
    assert!(t.iter().all(|v| v.is_finite()), "T itself must be finite for this test");
    assert!(t.amax() > 1e38);
    assert_structured_matches_dense(&op, Tolerance::NumericalRank, 1e-3);
    assert_structured_matches_dense(&op, Tolerance::Relative(1e-3), 1e-3);
}

// (d) a subnormal B against a huge C: T ≈ 1e-10·(0.9^j - 0.5^j) has numerical
// rank at most 2 on both paths.
#[test]
fn subnormal_b_and_huge_c_have_numerical_rank_two() {
    let op = LtiStateSpace::diagonal(
        &[0.9f64, 0.5],
        &[1e-310; 2],
        &[1e300, -1e300],
        Dims { channels: 1, len: 64, width: 2 },
    )
    .unwrap();
    let t = op.dense(0).unwrap();
    assert!(t.iter().all(|v| v.is_finite()));
    // The dense Markov parameters (post-update convention): T[t,s] = c·A^j·b =
    // 1e-10·(0.9^j - 0.5^j) for j = t - s, the subnormal b kept exact.
    for j in 0..8 {
        let expect = 1e-10 * (0.9f64.powi(j as i32) - 0.5f64.powi(j as i32));
        let got = t[(j + 3, 3)];
        assert!((got - expect).abs() <= 1e-22, "T[{}, 3] = {got:e}, expected {expect:e}", j + 3);
    }
    for method in [Method::Dense, Method::Structured] {
        let opts = EssOptions::default().with_method(method);
        let p = ess::profile(&op, Measure::Tolerance(Tolerance::NumericalRank), &opts).unwrap();
        assert!(p.max() <= 2.0, "{method:?}: numerical rank {}", p.max());
        assert!(p.values()[0].iter().skip(1).take(60).all(|&v| v == 2.0), "{method:?}: {:?}", p.values()[0]);
    }
    assert_structured_matches_dense(&op, Tolerance::NumericalRank, 1e-6);
}

// A diagonal similarity with state scales 2^±1000: the columns of each Gramian
// factor differ by far more than f64's range while T = Σ 0.9^j + 0.5^j is O(1).
// One exponent per factor would flush one state to zero; the structured path
// keeps one per column.
#[test]
fn disparate_state_scales_diagonal_and_dense_a() {
    let (b, c) = ([1e-300f64, 1e300], [1e300f64, 1e-300]);
    let op = LtiStateSpace::diagonal(&[0.9f64, 0.5], &b, &c, Dims { channels: 1, len: 48, width: 2 }).unwrap();
    assert_structured_matches_dense(&op, Tolerance::NumericalRank, 1e-6);
    assert_eq!(ess::tolerance(&op, Tolerance::Relative(1e-9)).unwrap().channel(0)[20], 2.0);
    // The same system with A stored densely (the Householder path), and rotated
    // within the first two states so that A mixes them.
    let a = DMatrix::from_row_slice(2, 2, &[0.9, 0.0, 0.0, 0.5]);
    let dense = LtiStateSpace::from_matrices(
        vec![(a, DMatrix::from_row_slice(2, 1, &b), DMatrix::from_row_slice(1, 2, &c))],
        48,
    )
    .unwrap();
    assert_structured_matches_dense(&dense, Tolerance::NumericalRank, 1e-6);
    // f32: 2^±100 per state.
    let op = LtiStateSpace::diagonal(
        &[0.9f32, 0.5],
        &[1e-30, 1e30],
        &[1e30, 1e-30],
        Dims { channels: 1, len: 48, width: 2 },
    )
    .unwrap();
    assert_structured_matches_dense(&op, Tolerance::Relative(1e-3), 1e-3);
}

// A dense A that mixes states of very different scales: the similarity
// D = diag(2^-500, 1, 2^500) applied to (A, B, C), so that A' = D⁻¹·A·D has
// entries up to 2^1000 and B', C' differ by 2^±500 per state, while T = C·A^j·B
// is unchanged.
#[test]
fn dense_a_with_a_power_of_two_similarity() {
    let n = 3;
    let a0 = DMatrix::from_row_slice(n, n, &[0.6, 0.3, -0.2, -0.3, 0.5, 0.1, 0.2, 0.1, 0.7]);
    let (b0, c0) = (DMatrix::from_element(n, 1, 1.0), DMatrix::from_row_slice(1, n, &[1.0, -0.5, 0.25]));
    let d: Vec<f64> = vec![2f64.powi(-500), 1.0, 2f64.powi(500)];
    // A' = D⁻¹ A D, B' = D⁻¹ B, C' = C D: the same operator.
    let a = DMatrix::from_fn(n, n, |r, k| a0[(r, k)] / d[r] * d[k]);
    let b = DMatrix::from_fn(n, 1, |r, _| b0[(r, 0)] / d[r]);
    let c = DMatrix::from_fn(1, n, |_, k| c0[(0, k)] * d[k]);
    assert!(a.iter().chain(b.iter()).chain(c.iter()).all(|x| x.is_finite()));
    let plain = LtiStateSpace::from_matrices(vec![(a0, b0, c0)], 40).unwrap();
    let similar = LtiStateSpace::from_matrices(vec![(a, b, c)], 40).unwrap();
    let (t0, t1) = (plain.dense(0).unwrap(), similar.dense(0).unwrap());
    assert!((&t0 - &t1).amax() <= 1e-12 * t0.amax());
    assert_structured_matches_dense(&similar, Tolerance::NumericalRank, 1e-6);
    let (_, e0, n0) = profiles_on(&plain, Some(Method::Structured), Tolerance::NumericalRank);
    let (_, e1, n1) = profiles_on(&similar, Some(Method::Structured), Tolerance::NumericalRank);
    assert_eq!(n0, n1);
    for (x, y) in e0.iter().zip(&e1) {
        assert!((x - y).abs() <= 1e-9 * x, "{x} vs {y}");
    }
}

// A truly non-finite T: both paths refuse it with a NonFinite error that names
// the channel (the structured path never returns an infinite spectrum).
#[test]
fn an_overflowing_operator_is_a_clear_error_on_both_paths() {
    // T[t,s] = 4^(t-s)·2^120 in f32: beyond f32's range after a few steps.
    let op = LtiStateSpace::diagonal(
        &[4.0f32, 0.5, 2.0, 0.25],
        &[1.0, 1.0, 1.0, 1.0],
        &[1.3e36, 1.0, 1.0, 1.0],
        Dims { channels: 4, len: 64, width: 1 },
    )
    .unwrap();
    for method in [Method::Dense, Method::Structured] {
        let err = ess::profile(&op, Measure::Entropy, &EssOptions::default().with_method(method)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EssError::NonFinite { .. }), "{method:?}: {msg}");
        assert!(msg.contains("channel 0"), "{method:?}: {msg}");
        if method == Method::Structured {
            assert!(msg.contains("structured path") && msg.contains("overflow"), "{msg}");
        }
    }
}

// Just beyond the range: `T[t,t] = c·b` is finite, just below the largest
// value, and every entry below the diagonal, `c·a^(t−s)·b` with `a = 1.001`, is
// infinite in the type by less than a factor 1.01; `σ_1` of each block is then
// about √(rows·cols) times the largest finite value, and the structured path
// must see from it that the entries overflow.
/// Both paths refuse `op` as non-finite; the structured one says that the
/// entries of `T` overflow (it never forms them).
fn overflows_on_both_paths<T: Scalar>(op: &LtiStateSpace<T>) {
    for method in [Method::Dense, Method::Structured] {
        let err = ess::profile(op, Measure::Entropy, &EssOptions::default().with_method(method)).unwrap_err();
        assert!(matches!(err, EssError::NonFinite { .. }), "{} {method:?}: {err}", T::NAME);
        assert!(method == Method::Dense || err.to_string().contains("entries of T overflow"), "{err}");
    }
}

#[test]
fn entries_just_beyond_the_range_are_an_error_on_both_paths() {
    fn check<T: Scalar>(cb: f64) {
        let b = T::cast(cb.sqrt()); // and c = b
        let op =
            LtiStateSpace::diagonal(&[T::cast(1.001)], &[b], &[b], Dims { channels: 1, len: 8, width: 1 }).unwrap();
        overflows_on_both_paths(&op);
    }
    check::<f64>(f64::MAX / 1.0005);
    check::<f32>(f64::from(f32::MAX) / 1.0005);
}

// A block whose σ_1 is exactly 2^(hi+1)·√(rows·cols) has an entry of at least
// 2^(hi+1): infinite. Here H_1 = T[1, 0] = c·a·b = 2^(hi+1) (1 × 1), while every
// other entry, T[t, t] = c·b = 2^hi, is finite; both paths refuse it.
#[test]
fn a_block_at_exactly_the_overflow_threshold_is_an_error_on_both_paths() {
    fn check<T: Scalar>(hi: i32) {
        let (b, c) = (T::cast(2f64.powi(hi / 2)), T::cast(2f64.powi(hi - hi / 2)));
        let op = LtiStateSpace::diagonal(&[T::cast(2.0)], &[b], &[c], Dims { channels: 1, len: 2, width: 1 }).unwrap();
        assert!(op.dense_matrix(0).is_err(), "T[1, 0] = 2^{} must overflow", hi + 1);
        overflows_on_both_paths(&op);
        // One binade lower, a = 1: T[1, 0] = 2^hi is finite, and so is the profile.
        let op = LtiStateSpace::diagonal(&[T::one()], &[b], &[c], Dims { channels: 1, len: 2, width: 1 }).unwrap();
        for method in [Method::Dense, Method::Structured] {
            let p = ess::profile(&op, Measure::Entropy, &EssOptions::default().with_method(method)).unwrap();
            assert_eq!(p.channel(0), &[1.0], "{} {method:?}", T::NAME);
        }
    }
    check::<f64>(1023);
    check::<f32>(127);
}

// The standard form's C_t = C̄_t·Ā_t can overflow where T does not (f32:
// c̄ = 1e38, ā = 10, b̄ = 1e-38, so T[t,s] = 10^(t-s) ≤ 1e31 for L = 32). The
// structured path then says so instead of computing with ∞.
#[test]
fn an_overflowing_standard_form_is_reported() {
    let op = LtiStateSpace::diagonal(&[10f32], &[1e-38], &[1e38], Dims { channels: 1, len: 32, width: 1 }).unwrap();
    assert!(ess::profile(&op, Measure::Entropy, &EssOptions::default().with_method(Method::Dense)).is_ok());
    let err = ess::entropy(&op).unwrap_err();
    assert!(
        matches!(err, EssError::NonFinite { .. })
            && err.to_string().contains("C_t = C̄_t·A_t")
            && err.to_string().contains("channel 0"),
        "{err}"
    );
}

// Results do not depend on the number of threads, bit for bit.
#[test]
fn structured_results_are_independent_of_the_thread_count() {
    let (channels, len, n) = (5, 200, 6);
    let mut g = Xorshift(42);
    let a: Vec<f64> = (0..channels * n).map(|_| 0.95 * g.signed_unit()).collect();
    let b: Vec<f64> = (0..channels * n).map(|_| g.signed_unit() * 1e-200).collect();
    let c: Vec<f64> = (0..channels * n).map(|_| g.signed_unit() * 1e250).collect();
    let op = LtiStateSpace::diagonal(&a, &b, &c, Dims { channels, len, width: n }).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let opts = EssOptions::default().with_method(Method::Structured);
            let ps =
                ess::profiles(&op, &[Measure::Entropy, Measure::Tolerance(Tolerance::NumericalRank)], &opts).unwrap();
            let sv = ess::singular_value_profile(&op, 3, &opts).unwrap().1;
            (ps.iter().map(|p| p.values().concat()).collect::<Vec<_>>(), sv)
        })
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(
        one.0.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>(),
        two.0.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(one.1, two.1);
}

/// The kinds of system the property test draws.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// SISO, diagonal constant `A` (Givens path).
    DiagonalLti,
    /// Time-varying dense `A_t`, `p × m` blocks (Householder path).
    TimeVarying { p: usize, m: usize },
    /// Mamba-2 / SSD heads: time-varying scalar decays (Givens path).
    Ssd,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::DiagonalLti),
        (1usize..=2, 1usize..=2).prop_map(|(p, m)| Kind::TimeVarying { p, m }),
        Just(Kind::Ssd),
    ]
}

/// (entropy, tolerance) profiles of one path, all channels concatenated.
type PathProfiles = (Vec<f64>, Vec<f64>);

/// The profiles of the dense and of the structured path.
fn both_paths<O: LinearOperator<Scalar = f64>>(op: &O, tol: Tolerance) -> Result<[PathProfiles; 2], TestCaseError> {
    let measures = [Measure::Entropy, Measure::Tolerance(tol)];
    let mut out = Vec::new();
    for method in [Method::Dense, Method::Structured] {
        let opts = EssOptions::default().with_method(method);
        let ps = ess::profiles(op, &measures, &opts).map_err(|e| TestCaseError::fail(format!("{method:?}: {e}")))?;
        out.push((ps[0].values().concat(), ps[1].values().concat()));
    }
    Ok(out.try_into().expect("two paths"))
}

/// A diagonal similarity `A' = D·A·D⁻¹`, `B' = D·B`, `C' = C·D⁻¹` with
/// `D = diag(2^s_j)` and `s` spread over ±`spread` binades is another realization
/// of the same `T` (the scalings are exact powers of two). Its dense `A'_t` has
/// entries from about `2^-2·spread` to `2^2·spread`, and its Gramian factors'
/// columns span `2·spread` binades, so the structured path must scale each
/// column on its own (beyond about 500 binades of spread it leaves the
/// one-multiplication fast path of the dense product): every singular value of
/// every `H_i` is that of the unscaled system on the dense path, within
/// `1e-12·σ_1`.
#[test]
fn a_diagonal_similarity_over_a_thousand_binades_leaves_every_value_unchanged() {
    for (seed, n, spread) in [(3u64, 3usize, 500i32), (5, 4, 480), (7, 2, 300), (9, 3, 100)] {
        let len = 14;
        let mut g = Xorshift(seed);
        let a: Vec<f64> = (0..len * n * n).map(|_| g.signed_unit() * 0.8 / (n as f64).sqrt()).collect();
        let b: Vec<f64> = (0..len * n).map(|_| g.signed_unit()).collect();
        let c: Vec<f64> = (0..len * n).map(|_| g.signed_unit()).collect();
        // s_j from -spread to +spread.
        let s: Vec<i32> = (0..n).map(|j| -spread + (2 * spread * j as i32) / (n as i32 - 1)).collect();
        let pow = |k: i32| 2f64.powi(k);
        let a2: Vec<f64> = a.iter().enumerate().map(|(x, v)| v * pow(s[(x / n) % n] - s[x % n])).collect();
        let b2: Vec<f64> = b.iter().enumerate().map(|(x, v)| v * pow(s[x % n])).collect();
        let c2: Vec<f64> = c.iter().enumerate().map(|(x, v)| v * pow(-s[x % n])).collect();
        let dims = Dims { channels: 1, len, width: n };
        let base = TimeVaryingStateSpace::new(&a, &b, &c, dims, BlockShape::SISO).unwrap();
        let scaled = TimeVaryingStateSpace::new(&a2, &b2, &c2, dims, BlockShape::SISO).unwrap();
        let dense = EssOptions::default().with_method(Method::Dense);
        let structured = EssOptions::default().with_method(Method::Structured);
        let (_, want) = ess::singular_value_profile(&base, 0, &dense).unwrap();
        let (_, got) = ess::singular_value_profile(&scaled, 0, &structured).unwrap();
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            let s1 = w[0];
            for k in 0..w.len().max(g.len()) {
                let (x, y) = (w.get(k).copied().unwrap_or(0.0), g.get(k).copied().unwrap_or(0.0));
                assert!((x - y).abs() <= 1e-12 * s1, "seed {seed}, n = {n}, i = {}: σ_{k} {y:e} vs {x:e}", i + 1);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// `B·2^k` and `C·2^j` with `k ∈ [-900, 900]` and `j + k ∈ [-100, 100]`: the
    /// Gramian factors live near 2^±900 while T stays normal. Both paths must give
    /// the same profiles.
    #[test]
    fn structured_equals_dense_at_extreme_factor_scales(
        seed in any::<u64>(),
        kind in kind(),
        n in 1usize..=4,
        len in 4usize..=20,
        k in -900i32..=900,
        jk in -100i32..=100,
    ) {
        let j = jk - k;
        let (sb, sc) = (2f64.powi(k), 2f64.powi(j));
        let mut g = Xorshift(seed | 1);
        let mut draw = |count: usize, scale: f64| (0..count).map(|_| g.signed_unit() * scale).collect::<Vec<f64>>();
        let tol = Tolerance::Relative(1e-6);
        let dims = Dims { channels: 1, len, width: n };
        let ([(ent_d, cnt_d), (ent_s, cnt_s)], sv) = match kind {
            Kind::DiagonalLti => {
                let a = draw(n, 0.95);
                let op = LtiStateSpace::diagonal(&a, &draw(n, sb), &draw(n, sc), dims).unwrap();
                (both_paths(&op, tol)?, ess::singular_value_profile(&op, 0, &EssOptions::default().with_method(Method::Dense)).unwrap().1)
            }
            Kind::TimeVarying { p, m } => {
                let a = draw(len * n * n, 0.9 / (n as f64).sqrt());
                let op = TimeVaryingStateSpace::new(&a, &draw(len * n * m, sb), &draw(len * p * n, sc), dims, BlockShape { outputs: p, inputs: m }).unwrap();
                (both_paths(&op, tol)?, ess::singular_value_profile(&op, 0, &EssOptions::default().with_method(Method::Dense)).unwrap().1)
            }
            Kind::Ssd => {
                let a: Vec<f64> = draw(len, 1.0).iter().map(|x| x.abs()).collect();
                let op = Ssd::new(&a, &draw(len * n, sb), &draw(len * n, sc), dims).unwrap();
                (both_paths(&op, tol)?, ess::singular_value_profile(&op, 0, &EssOptions::default().with_method(Method::Dense)).unwrap().1)
            }
        };
        // Skip near-ties: a singular value within 1e-3 (relative) of the threshold.
        let Tolerance::Relative(tau) = tol else { unreachable!() };
        for s in &sv {
            let thr = tau * s.first().copied().unwrap_or(0.0);
            prop_assume!(s.iter().all(|&x| (x - thr).abs() > 1e-3 * thr));
        }
        prop_assert!(ent_s.iter().chain(&cnt_s).all(|v| v.is_finite()));
        prop_assert_eq!(&cnt_s, &cnt_d, "tolerance-ESS, {:?} n={} L={} k={} j={}", kind, n, len, k, j);
        for (i, (s, d)) in ent_s.iter().zip(&ent_d).enumerate() {
            prop_assert!((s - d).abs() <= 1e-6 * d.abs().max(1e-300), "entropy at i = {}: structured {} dense {} ({:?} n={} L={} k={} j={})", i + 1, s, d, kind, n, len, k, j);
        }
    }
}
