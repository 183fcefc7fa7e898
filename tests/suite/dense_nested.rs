//! The dense path on nested triangular factors (`src/spectrum/nested.rs`): the
//! singular values of every requested `H_i` equal those of a direct SVD of the
//! block itself, within `c·ε·σ_1·min(rows, cols)`, for every block shape, index
//! pattern, scalar type, rank-deficient and extreme-scale `T`, with either
//! backend, and independently of the number of threads.
//!
//! Self-contained on purpose (no `mod common`): the oracle is a nalgebra SVD of the
//! sliced block, computed in `f64` after an exact power-of-two rescaling.

use effective_state_size::ess::ComputedBy;
use effective_state_size::nalgebra::DMatrix;
use effective_state_size::prelude::*;
use effective_state_size::spectrum::{BidiagonalSvd, NalgebraSvd, SvdBackend};
use proptest::prelude::*;
use std::sync::Arc;

/// A small deterministic generator (uniform in [-1, 1)).
struct Xorshift(u64);
impl Xorshift {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// The kinds of `T` the tests draw.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Random,
    /// Every third column of blocks zero and every fourth row zero.
    ZeroLines,
    /// Rank at most 2 below the diagonal (a state-space-like operator).
    LowRank,
    /// Entries spanning many binades.
    Graded,
}

fn causal(len: usize, b: BlockShape, kind: Kind, scale: f64, seed: u64) -> DMatrix<f64> {
    let mut g = Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (p, m) = (b.outputs, b.inputs);
    let (u, v) = (DMatrix::from_fn(p * len, 2, |_, _| g.next()), DMatrix::from_fn(2, m * len, |_, _| g.next()));
    let low = &u * &v;
    DMatrix::from_fn(p * len, m * len, |r, c| {
        let x = g.next();
        if c / m > r / p {
            return 0.0;
        }
        let x = match kind {
            Kind::Random => x,
            Kind::ZeroLines if c % 3 == 0 || r % 4 == 1 => 0.0,
            Kind::ZeroLines => x,
            Kind::LowRank if c / m < r / p => low[(r, c)],
            Kind::LowRank => x,
            Kind::Graded => x * 2f64.powi(-(((r * 7 + c * 3) % 40) as i32)),
        };
        x * scale
    })
}

/// Singular values of `T[i·p.., ..i·m]`, descending, by nalgebra on the block
/// (rescaled by a power of two first, so extreme scales are exact).
fn oracle(t: &DMatrix<f64>, b: BlockShape, i: usize) -> Vec<f64> {
    let block = t.view((i * b.outputs, 0), (t.nrows() - i * b.outputs, i * b.inputs)).into_owned();
    let max = block.amax();
    if max == 0.0 {
        return vec![0.0; block.nrows().min(block.ncols())];
    }
    let e = max.log2().ceil() as i32;
    // 2^e in two exact factors: for subnormal entries 2^-e alone overflows.
    let (h, r) = (e / 2, e - e / 2);
    let scaled = block * 2f64.powi(-h) * 2f64.powi(-r);
    let mut s: Vec<f64> = scaled.singular_values().iter().map(|x| x * 2f64.powi(h) * 2f64.powi(r)).collect();
    s.sort_by(|a, c| c.total_cmp(a));
    s
}

/// The dense path's singular values at the requested indices (and the indices).
fn ours<T: Scalar>(
    t: &DMatrix<T>,
    b: BlockShape,
    indices: Indices,
    backend: Arc<dyn SvdBackend>,
) -> (Vec<usize>, Vec<Vec<T>>) {
    let op = DenseOperator::new(vec![t.clone()], b).unwrap();
    let opts = EssOptions::default().with_method(Method::Dense).with_indices(indices).with_backend(backend);
    let plan = ess::plan(&op, &opts).unwrap();
    let (by, sv) = ess::singular_value_profile(&op, 0, &opts).unwrap();
    assert_eq!(by, ComputedBy::Dense);
    (plan.indices, sv)
}

/// Asserts `got` (descending) equals the oracle within `c·ε·σ_1·min(rows, cols)`,
/// or two units of the subnormal spacing `2^-1074` where that is larger (a
/// subnormal `σ_1`: both sides round their result once, and the dense path's
/// chains rescale such a `T` exactly, so that nothing else is lost).
fn assert_close(got: &[f64], want: &[f64], eps: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of values");
    let tol = (8.0 * eps * want.first().copied().unwrap_or(0.0) * want.len().max(1) as f64).max(2.0 * 4.9e-324);
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}: σ_{k} = {g:e}, oracle {w:e} (tolerance {tol:e})");
    }
}

fn check_f64(t: &DMatrix<f64>, b: BlockShape, indices: Indices, backend: Arc<dyn SvdBackend>, what: &str) {
    let (idx, sv) = ours(t, b, indices, backend);
    for (i, got) in idx.iter().zip(&sv) {
        assert_close(got, &oracle(t, b, *i), f64::EPSILON, &format!("{what}, i = {i}"));
    }
}

fn backends() -> [(&'static str, Arc<dyn SvdBackend>); 2] {
    [("nalgebra", Arc::new(NalgebraSvd::default())), ("bidiagonal", Arc::new(BidiagonalSvd::default()))]
}

const SHAPES: [(usize, usize); 4] = [(1, 1), (2, 1), (1, 3), (2, 3)];

#[test]
fn every_index_pattern_and_block_shape_matches_a_direct_svd() {
    for (p, m) in SHAPES {
        let b = BlockShape { outputs: p, inputs: m };
        let len = 23;
        let t = causal(len, b, Kind::Random, 1.0, (p * 10 + m) as u64);
        let patterns = [
            Indices::All,
            Indices::Stride(4),
            Indices::Stride(7),
            Indices::List(vec![1, 2, 11, 21, 22]),
            Indices::List(vec![1]),
            Indices::List(vec![len - 1]),
            Indices::Middle,
        ];
        for indices in patterns {
            for (name, backend) in backends() {
                check_f64(&t, b, indices.clone(), backend, &format!("{p}×{m} {indices:?} {name}"));
            }
        }
    }
}

#[test]
fn rank_deficient_and_graded_operators_match_a_direct_svd() {
    for (p, m) in SHAPES {
        let b = BlockShape { outputs: p, inputs: m };
        for kind in [Kind::ZeroLines, Kind::LowRank, Kind::Graded] {
            let t = causal(19, b, kind, 1.0, 5);
            for (name, backend) in backends() {
                check_f64(&t, b, Indices::All, backend, &format!("{p}×{m} {kind:?} {name}"));
            }
        }
        // The zero operator: every value zero.
        let zero = DMatrix::<f64>::zeros(p * 9, m * 9);
        let (_, sv) = ours(&zero, b, Indices::All, Arc::new(BidiagonalSvd::default()));
        assert!(sv.iter().flatten().all(|&x| x == 0.0));
    }
}

#[test]
fn extreme_scales_match_a_direct_svd() {
    // 1e-312: subnormal entries (the chains rescale T before their QR).
    for scale in [1e-312, 1e-307, 1e-300, 1e-200, 1e200, 1e300, 1e307] {
        for (p, m) in SHAPES {
            let b = BlockShape { outputs: p, inputs: m };
            let t = causal(17, b, Kind::Random, scale, 9);
            for (name, backend) in backends() {
                check_f64(&t, b, Indices::All, backend, &format!("{p}×{m} scale {scale:e} {name}"));
            }
        }
    }
}

#[test]
fn f32_matches_a_direct_svd_in_f32_precision() {
    for (p, m) in SHAPES {
        let b = BlockShape { outputs: p, inputs: m };
        let t64 = causal(21, b, Kind::Random, 1.0, 3);
        let t32 = t64.map(|x| x as f32);
        // The oracle on exactly the f32 entries.
        let exact = t32.map(|x| x as f64);
        for (name, backend) in backends() {
            let (idx, sv) = ours(&t32, b, Indices::All, backend);
            for (i, got) in idx.iter().zip(&sv) {
                let got: Vec<f64> = got.iter().map(|&x| x as f64).collect();
                assert_close(&got, &oracle(&exact, b, *i), f32::EPSILON as f64, &format!("f32 {p}×{m} {name} i = {i}"));
            }
        }
    }
}

#[test]
fn f32_near_the_ends_of_its_range_matches_a_direct_svd() {
    for scale in [1e-37f64, 1e-30, 1e30, 1e37] {
        for (p, m) in SHAPES {
            let b = BlockShape { outputs: p, inputs: m };
            let t32 = causal(15, b, Kind::Random, 1.0, 4).map(|x| (x * scale) as f32);
            let exact = t32.map(|x| x as f64);
            for (name, backend) in backends() {
                let (idx, sv) = ours(&t32, b, Indices::All, backend);
                for (i, got) in idx.iter().zip(&sv) {
                    let got: Vec<f64> = got.iter().map(|&x| x as f64).collect();
                    assert!(got.iter().all(|x| x.is_finite()), "f32 {scale:e} {p}×{m} {name} i = {i}: {got:?}");
                    let want = oracle(&exact, b, *i);
                    assert_close(&got, &want, f32::EPSILON as f64, &format!("f32 {scale:e} {p}×{m} {name} i = {i}"));
                }
            }
        }
    }
}

/// [`BidiagonalSvd`] without its pair method: the dense path's pairs of factors
/// are decomposed one after the other.
#[derive(Debug)]
struct OneAtATime;
impl SvdBackend for OneAtATime {
    fn singular_values_f64(&self, block: DMatrix<f64>) -> Result<Vec<f64>, EssError> {
        BidiagonalSvd::default().singular_values_f64(block)
    }
    fn singular_values_f32(&self, block: DMatrix<f32>) -> Result<Vec<f32>, EssError> {
        BidiagonalSvd::default().singular_values_f32(block)
    }
}

#[test]
fn pairs_of_factors_give_bitwise_the_values_of_one_at_a_time() {
    // Odd and even numbers of visits per chain, repeated indices (the second
    // visit of an index pairs with the first), every block shape, f64 and f32.
    for (p, m) in SHAPES {
        let b = BlockShape { outputs: p, inputs: m };
        let t = causal(31, b, Kind::Graded, 1.0, (p * 3 + m) as u64);
        let t32 = t.map(|x| x as f32);
        for indices in [Indices::All, Indices::Stride(3), Indices::List(vec![5, 5, 6, 30, 1, 5])] {
            let paired = ours(&t, b, indices.clone(), Arc::new(BidiagonalSvd::default())).1;
            let alone = ours(&t, b, indices.clone(), Arc::new(OneAtATime)).1;
            let bits = |v: Vec<Vec<f64>>| v.concat().into_iter().map(f64::to_bits).collect::<Vec<_>>();
            assert_eq!(bits(paired), bits(alone), "{p}×{m} {indices:?}");
            let paired = ours(&t32, b, indices.clone(), Arc::new(BidiagonalSvd::default())).1;
            assert_eq!(paired, ours(&t32, b, indices.clone(), Arc::new(OneAtATime)).1, "f32 {p}×{m} {indices:?}");
        }
    }
}

#[test]
fn dense_results_are_independent_of_the_thread_count() {
    let b = BlockShape { outputs: 2, inputs: 1 };
    let t = causal(60, b, Kind::Random, 1.0, 77);
    let op = DenseOperator::new(vec![t.clone(), t.map(|x| x * 1e-150)], b).unwrap();
    for (_, backend) in backends() {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let opts = EssOptions::default().with_method(Method::Dense).with_backend(backend.clone());
                let ps = ess::profiles(&op, &[Measure::Entropy, Measure::Tolerance(Tolerance::NumericalRank)], &opts)
                    .unwrap();
                let sv = ess::singular_value_profile(&op, 1, &opts).unwrap().1;
                (ps.iter().map(|p| p.values().concat()).collect::<Vec<_>>(), sv)
            })
        };
        let (one, two) = (run(1), run(2));
        let bits = |v: &Vec<Vec<f64>>| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one.0), bits(&two.0));
        assert_eq!(bits(&one.1), bits(&two.1));
    }
}

#[test]
fn a_large_profile_split_into_chains_matches_a_direct_svd() {
    // Long enough for several chains per side (and gaps walked or restarted).
    let b = BlockShape::SISO;
    let t = causal(160, b, Kind::Random, 1.0, 11);
    for indices in [Indices::All, Indices::Stride(9), Indices::List(vec![3, 4, 5, 80, 81, 150, 159])] {
        check_f64(&t, b, indices.clone(), Arc::new(BidiagonalSvd::default()), &format!("L = 160 {indices:?}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, rng_seed: proptest::test_runner::RngSeed::Fixed(12), failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn nested_factors_keep_the_singular_values(
        len in 2usize..26,
        p in 1usize..4,
        m in 1usize..4,
        kind in 0usize..4,
        stride in 1usize..6,
        exponent in -250i32..250,
        seed in 1u64..1000,
        bidiagonal in any::<bool>(),
    ) {
        let b = BlockShape { outputs: p, inputs: m };
        let kind = [Kind::Random, Kind::ZeroLines, Kind::LowRank, Kind::Graded][kind];
        let t = causal(len, b, kind, 2f64.powi(exponent), seed);
        let backend: Arc<dyn SvdBackend> =
            if bidiagonal { Arc::new(BidiagonalSvd::default()) } else { Arc::new(NalgebraSvd::default()) };
        let indices = if stride == 1 { Indices::All } else { Indices::Stride(stride) };
        if indices.resolve(len).map(|v| v.is_empty()).unwrap_or(true) {
            return Ok(());
        }
        check_f64(&t, b, indices, backend, &format!("{p}×{m} L = {len} {kind:?} 2^{exponent}"));
    }
}
