//! Distillation: bound ≥ measured error ≥ Eckart–Young lower bound on random
//! operators of every kind (f64 and f32), the two algorithms agree, the reduced
//! model is an operator, bad requests are errors.

mod common;

use common::{normal_vec, rng, uniform_vec};
use effective_state_size::ess::{self, Method, Tolerance};
use effective_state_size::prelude::*;
use effective_state_size::reduction::{reduce, ReduceOptions, ReducedChannel};
use nalgebra::DMatrix;
use proptest::prelude::*;
use rand::Rng;

/// Largest singular value of `T[i·p.., ..i·m]` beyond the first `r`.
fn eckart_young(t: &DMatrix<f64>, p: usize, m: usize, r: usize) -> f64 {
    let len = t.nrows() / p;
    (1..len).map(|i| common::oracle_sv(t, i, p, m).get(r).copied().unwrap_or(0.0)).fold(0.0, f64::max)
}

/// Checks the certificate of every channel against an independent computation
/// of `‖T − T_r‖₂` and of the Eckart–Young bound from the dense `T`.
fn check<O: LinearOperator + ?Sized>(op: &O, r: usize, method: Method, what: &str) -> Vec<ReducedChannel<O::Scalar>> {
    let red = reduce(op, &ReduceOptions::order(r).with_method(method).with_measured_error(true))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let b = op.block_shape();
    for ch in red.channels() {
        let t = op.dense(ch.channel).unwrap().map(|x| x.to_f64());
        let tr = ch.realization.dense().map(|x| x.to_f64());
        let sv = nalgebra::SVD::new(&t - &tr, false, false).singular_values;
        let err = sv.iter().copied().fold(0.0, f64::max);
        let scale = t.norm().max(f64::MIN_POSITIVE);
        let eps = <O::Scalar as Scalar>::EPSILON.to_f64();
        let slack = 1e3 * eps * scale;
        assert!(ch.order <= r, "{what}: order {} > {r}", ch.order);
        assert!(
            err <= ch.error_bound,
            "{what} channel {}: measured {err:e} > bound {:e} (cut sum {:e}, rounding {:e})",
            ch.channel,
            ch.error_bound,
            ch.cut_sum,
            ch.rounding
        );
        let ey = eckart_young(&t, b.outputs, b.inputs, r);
        assert!(err >= ey - slack, "{what} channel {}: measured {err:e} < Eckart–Young {ey:e}", ch.channel);
        assert!((ch.lower_bound - ey).abs() <= slack + 1e-6 * ey, "{what}: lower bound {:e} vs {ey:e}", ch.lower_bound);
        let reported = ch.error.expect("small L: measured");
        assert!((reported - err).abs() <= slack + 1e-6 * err, "{what}: reported {reported:e} vs {err:e}");
        assert!(
            err <= ch.classical_bound + slack,
            "{what}: classical form {:e} < measured {err:e}",
            ch.classical_bound
        );
    }
    red.channels().to_vec()
}

/// The families, built from a seed; `f32` versions are the same data rounded.
#[derive(Debug, Clone, Copy)]
enum Family {
    Lti,
    TimeVarying,
    Gla,
    Mamba,
    DeltaNet,
    Attention,
    LongConv,
    GatedConv,
    Fir,
}

/// Runs `check` on the operator of `family` built from `seed` in `f64` and `f32`.
fn run(family: Family, seed: u64, r_frac: f64, near_edge: bool, dense: bool) {
    let mut g = rng(seed);
    let len = g.random_range(6..=18);
    macro_rules! both {
        (|$f:ident| $build:expr, $size:expr, $method:expr) => {{
            let size: usize = $size;
            // The Hankel-block algorithm on every family, balanced truncation where it applies.
            let method = if dense { Method::Dense } else { $method };
            let r = ((r_frac * size as f64).ceil() as usize).clamp(1, size);
            let what = format!("{family:?} seed {seed} L {len} r {r} near_edge {near_edge} dense {dense}");
            let op64 = {
                fn $f(v: &[f64]) -> Vec<f64> {
                    v.to_vec()
                }
                $build
            };
            check(&op64, r, method, &format!("{what} f64"));
            let op32 = {
                fn $f(v: &[f64]) -> Vec<f32> {
                    v.iter().map(|&x| x as f32).collect()
                }
                $build
            };
            check(&op32, r, method, &format!("{what} f32"));
        }};
    }
    let hankel = |len: usize| (1..len).map(|i| i.min(len - i)).max().unwrap();
    match family {
        Family::Lti => {
            let (n, p, m) = (g.random_range(2..=6), g.random_range(1..=2), g.random_range(1..=2));
            let rho = if near_edge { 0.999 } else { g.random_range(0.3..1.1) };
            let a = DMatrix::<f64>::from_fn(n, n, |_, _| g.random_range(-1.0..1.0));
            let a = &a * (rho / a.clone().singular_values().max().max(1e-12_f64));
            let b = DMatrix::from_fn(n, m, |_, _| g.random_range(-1.0..1.0));
            let c = DMatrix::from_fn(p, n, |_, _| g.random_range(-1.0..1.0));
            let size = n.min(hankel(len).min(len - 1));
            let r = ((r_frac * size as f64).ceil() as usize).clamp(1, size);
            let what = format!("{family:?} seed {seed} L {len} r {r}");
            let op64 = LtiStateSpace::from_matrices(vec![(a.clone(), b.clone(), c.clone())], len).unwrap();
            check(&op64, r, Method::Structured, &format!("{what} f64"));
            check(&op64, r, Method::Dense, &format!("{what} f64 dense"));
            let f = |x: &DMatrix<f64>| x.map(|v| v as f32);
            let op32 = LtiStateSpace::from_matrices(vec![(f(&a), f(&b), f(&c))], len).unwrap();
            check(&op32, r, Method::Structured, &format!("{what} f32"));
        }
        Family::TimeVarying => {
            let n = g.random_range(2..=6);
            let scale = g.random_range(0.3..1.3);
            let a: Vec<f64> = normal_vec(&mut g, len * n * n).iter().map(|x| x * scale / (n as f64).sqrt()).collect();
            // Strongly time-varying input and output scales: σ_k(H_i) varies with i.
            let mut b = normal_vec(&mut g, len * n);
            let mut c = normal_vec(&mut g, len * n);
            for t in 0..len {
                let (sb, sc) = (g.random_range(-2.0f64..2.0).exp(), g.random_range(-2.0f64..2.0).exp());
                b[t * n..(t + 1) * n].iter_mut().for_each(|x| *x *= sb);
                c[t * n..(t + 1) * n].iter_mut().for_each(|x| *x *= sc);
            }
            let dims = Dims { channels: 1, len, width: n };
            both!(
                |f| TimeVaryingStateSpace::new(&f(&a), &f(&b), &f(&c), dims, BlockShape::SISO).unwrap(),
                n.min(hankel(len)),
                Method::Auto
            );
        }
        Family::Gla => {
            let (d, h) = (g.random_range(2..=6), 2);
            let lo = if near_edge { 0.999 } else { 0.0 };
            let q = normal_vec(&mut g, h * len * d);
            let k = normal_vec(&mut g, h * len * d);
            let alpha = uniform_vec(&mut g, h * len * d, lo, 1.0);
            let dims = Dims { channels: h, len, width: d };
            both!(
                |f| GatedLinearAttention::new(&f(&q), &f(&k), &f(&alpha), dims).unwrap(),
                d.min(hankel(len)),
                Method::Auto
            );
        }
        Family::Mamba => {
            let (n, ch) = (g.random_range(2..=6), 2);
            let (alo, ahi) = if near_edge { (-0.01, -0.0001) } else { (-4.0, -0.05) };
            let a = uniform_vec(&mut g, ch * n, alo, ahi);
            let delta = uniform_vec(&mut g, ch * len, 0.001, 1.0);
            let b = normal_vec(&mut g, len * n);
            let c = normal_vec(&mut g, len * n);
            let dims = Dims { channels: ch, len, width: n };
            both!(
                |f| MambaChannels::new(&f(&a), &f(&delta), &f(&b), &f(&c), dims).unwrap(),
                n.min(hankel(len)),
                Method::Auto
            );
        }
        Family::DeltaNet => {
            let d = g.random_range(2..=5);
            let q = normal_vec(&mut g, len * d);
            let mut k = normal_vec(&mut g, len * d);
            for t in 0..len {
                let nrm = k[t * d..(t + 1) * d].iter().map(|x| x * x).sum::<f64>().sqrt();
                k[t * d..(t + 1) * d].iter_mut().for_each(|x| *x /= nrm);
            }
            let beta = uniform_vec(&mut g, len, 0.0, if near_edge { 2.0 } else { 1.0 });
            let dims = Dims { channels: 1, len, width: d };
            both!(|f| DeltaNet::new(&f(&q), &f(&k), &f(&beta), dims).unwrap(), d.min(hankel(len)), Method::Auto);
        }
        Family::Attention => {
            let d = g.random_range(1..=4);
            let sharp = if near_edge { 4.0 } else { 1.0 };
            let q: Vec<f64> = normal_vec(&mut g, 2 * len * d).iter().map(|x| x * sharp).collect();
            let k = normal_vec(&mut g, 2 * len * d);
            let dims = Dims { channels: 2, len, width: d };
            both!(|f| SoftmaxAttention::new(&f(&q), &f(&k), dims).unwrap(), hankel(len), Method::Auto);
        }
        Family::LongConv => {
            let decay: f64 = if near_edge { 0.999 } else { g.random_range(0.3..0.95) };
            let h: Vec<f64> = (0..len).map(|j| decay.powi(j as i32) * g.random_range(-1.0..1.0)).collect();
            both!(|f| LongConvolution::new(&[f(&h)]).unwrap(), hankel(len), Method::Auto);
        }
        Family::GatedConv => {
            let h = normal_vec(&mut g, len);
            let z = uniform_vec(&mut g, len, -1.0, 1.0);
            let v = uniform_vec(&mut g, len, -1.0, 1.0);
            both!(|f| GatedConvolution::new(&[f(&h)], &[f(&z)], &[f(&v)]).unwrap(), hankel(len), Method::Auto);
        }
        Family::Fir => {
            let k = g.random_range(2..=len.min(7));
            let h = normal_vec(&mut g, k);
            both!(|f| FirConvolution::new(&[f(&h)], len).unwrap(), (k - 1).min(hankel(len)), Method::Auto);
        }
    }
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::Lti),
        Just(Family::TimeVarying),
        Just(Family::Gla),
        Just(Family::Mamba),
        Just(Family::DeltaNet),
        Just(Family::Attention),
        Just(Family::LongConv),
        Just(Family::GatedConv),
        Just(Family::Fir),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// bound ≥ measured ≥ Eckart–Young on every family, f64 and f32, orders from
    /// 1 to the operator's size, gates and decays near 1.
    #[test]
    fn certificate_holds_on_every_family(f in family(), seed in 0u64..1_000_000, r_frac in 0.01f64..1.0, near_edge in any::<bool>(), dense in any::<bool>()) {
        run(f, seed, r_frac, near_edge, dense);
    }
}

#[test]
fn both_algorithms_give_the_same_reduced_operator() {
    // Well-separated Hankel singular values: balanced truncation is unique.
    let op = LtiStateSpace::diagonal(
        &[0.9, 0.6, 0.3, -0.2, 0.05],
        &[1.0; 5],
        &[1.0, -0.7, 0.5, 0.3, 0.2],
        Dims { channels: 1, len: 30, width: 5 },
    )
    .unwrap();
    for r in 1..=4 {
        let s = reduce(&op, &ReduceOptions::order(r).with_method(Method::Structured)).unwrap();
        let d = reduce(&op, &ReduceOptions::order(r).with_method(Method::Dense)).unwrap();
        assert_eq!((s.method(), d.method()), (ess::ComputedBy::Structured, ess::ComputedBy::Dense));
        let (ts, td) = (s.dense(0).unwrap(), d.dense(0).unwrap());
        assert!((&ts - &td).amax() <= 1e-9 * td.amax(), "r = {r}: {:e}", (&ts - &td).amax());
        let (cs, cd) = (&s.channels()[0], &d.channels()[0]);
        assert!((cs.cut_sum - cd.cut_sum).abs() <= 1e-9 * cd.cut_sum.max(1e-300));
        assert!((cs.lower_bound - cd.lower_bound).abs() <= 1e-9 * cd.lower_bound.max(1e-300));
    }
}

#[test]
fn the_reduced_model_is_an_operator_that_can_be_reduced_again() {
    let mut g = rng(11);
    let (len, d) = (24, 6);
    let q = normal_vec(&mut g, len * d);
    let k = normal_vec(&mut g, len * d);
    let alpha = uniform_vec(&mut g, len * d, 0.5, 1.0);
    let op = GatedLinearAttention::new(&q, &k, &alpha, Dims { channels: 1, len, width: d }).unwrap();
    let red = reduce(&op, &ReduceOptions::order(4)).unwrap();
    assert_eq!(red.state_size(), 4);
    // apply = T_r·u, and the realization is used by the structured path.
    let u = normal_vec(&mut g, len);
    let y = red.apply(0, &u).unwrap();
    let expect = red.dense(0).unwrap() * nalgebra::DVector::from_vec(u);
    assert!(y.iter().zip(expect.iter()).all(|(a, b)| (a - b).abs() <= 1e-12 * expect.amax().max(1.0)));
    let v = ess::verify(&red).unwrap();
    assert!(v.apply_error <= v.threshold && v.realization_error.is_some_and(|e| e <= v.threshold), "{v:?}");
    let p = ess::tolerance(&red, Tolerance::Relative(1e-9)).unwrap();
    assert_eq!(p.computed_by(), ess::ComputedBy::Structured);
    assert!(p.max() <= 4.0);
    // Reducing to its own order changes nothing; to a lower order, the certificate holds.
    let again = reduce(&red, &ReduceOptions::order(4).with_measured_error(true)).unwrap();
    assert!(again.channels()[0].error.unwrap() <= 1e-10 * red.dense(0).unwrap().norm());
    check(&red, 2, Method::Auto, "reduced GLA to 2");
    // A single channel's realization is an operator too.
    check(&red.channels()[0].realization, 3, Method::Structured, "realization to 3");
}

#[test]
fn tolerance_picks_the_largest_tolerance_ess() {
    let op = LtiStateSpace::diagonal(
        &[0.9, 0.5, 0.2, -0.1],
        &[1.0; 4],
        &[1.0, 0.5, 0.25, 1e-5],
        Dims { channels: 1, len: 40, width: 4 },
    )
    .unwrap();
    for tol in [Tolerance::Relative(1e-2), Tolerance::Relative(1e-6), Tolerance::Absolute(1e-3)] {
        let red = ess::reduce(&op, &ess::ReduceOptions::tolerance(tol).with_measured_error(true)).unwrap();
        let expect = ess::tolerance(&op, tol).unwrap().channel_max(0).unwrap() as usize;
        let ch = &red.channels()[0];
        assert_eq!(ch.order, expect, "{tol:?}");
        assert!(ch.error.unwrap() <= ch.error_bound);
    }
}

/// An operator whose dense matrix holds a NaN.
struct Broken;
impl LinearOperator for Broken {
    type Scalar = f64;
    fn seq_len(&self) -> usize {
        4
    }
    fn channels(&self) -> usize {
        1
    }
    fn family(&self) -> &'static str {
        "broken"
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        None
    }
    fn realization_info(&self) -> RealizationInfo {
        RealizationInfo::None
    }
    fn dense_kernel(&self, _: usize) -> Result<std::borrow::Cow<'_, DMatrix<f64>>, EssError> {
        Ok(std::borrow::Cow::Owned(DMatrix::from_fn(4, 4, |t, s| {
            if s > t {
                0.0
            } else if t == 3 {
                f64::NAN
            } else {
                1.0
            }
        })))
    }
}

#[test]
fn bad_requests_are_one_line_errors_naming_the_fix() {
    let op =
        LtiStateSpace::diagonal(&[0.9, 0.5], &[1.0; 2], &[1.0, 0.5], Dims { channels: 1, len: 10, width: 2 }).unwrap();
    let one_line = |e: EssError| {
        let s = e.to_string();
        assert!(!s.contains('\n'), "{s}");
        s
    };
    let e = one_line(reduce(&op, &ReduceOptions::order(0)).unwrap_err());
    assert!(e.contains("order 0") && e.contains("at least 1"), "{e}");
    let e = one_line(reduce(&op, &ReduceOptions::order(3)).unwrap_err());
    assert!(e.contains("above") && e.contains("between 1 and 2"), "{e}");
    let attn = SoftmaxAttention::new(&[0.1; 8], &[0.2; 8], Dims { channels: 1, len: 8, width: 1 }).unwrap();
    let e = one_line(reduce(&attn, &ReduceOptions::order(5)).unwrap_err());
    assert!(e.contains("between 1 and 4"), "{e}");
    let e = one_line(reduce(&op, &ReduceOptions::tolerance(Tolerance::Absolute(1e6))).unwrap_err());
    assert!(matches!(
        reduce(&op, &ReduceOptions::tolerance(Tolerance::Absolute(1e6))),
        Err(EssError::InvalidTolerance { .. })
    ));
    assert!(e.contains("keeps no state") && e.contains("lower the tolerance"), "{e}");
    assert!(matches!(
        reduce(&op, &ReduceOptions::tolerance(Tolerance::Relative(2.0))),
        Err(EssError::InvalidTolerance { .. })
    ));
    assert!(matches!(
        reduce(&attn, &ReduceOptions::order(1).with_method(Method::Structured)),
        Err(EssError::NoRealization { .. })
    ));
    let e = reduce(&Broken, &ReduceOptions::order(1)).unwrap_err();
    assert!(matches!(e, EssError::NonFinite { .. }), "{e}");
    let short = LtiStateSpace::diagonal(&[0.5], &[1.0], &[1.0], Dims { channels: 1, len: 1, width: 1 }).unwrap();
    assert!(matches!(reduce(&short, &ReduceOptions::order(1)), Err(EssError::SequenceTooShort { .. })));
    let e = reduce(&op, &ReduceOptions::order(1).with_memory_budget(10)).unwrap_err();
    assert!(matches!(e, EssError::MemoryBudget { .. }), "{e}");
}

#[test]
fn channels_of_different_orders_are_padded_without_changing_their_operator() {
    // Channel 0 has 4 strong states, channel 1 one strong and three negligible ones.
    let a = [0.9, 0.7, 0.5, 0.3, 0.9, 0.7, 0.5, 0.3];
    let b = [1.0; 8];
    let c = [1.0, 1.0, 1.0, 1.0, 1.0, 1e-9, 1e-9, 1e-9];
    let op = LtiStateSpace::diagonal(&a, &b, &c, Dims { channels: 2, len: 30, width: 4 }).unwrap();
    let red = reduce(&op, &ReduceOptions::tolerance(Tolerance::Relative(1e-6)).with_measured_error(true)).unwrap();
    let orders: Vec<usize> = red.channels().iter().map(|c| c.order).collect();
    assert_eq!(orders, vec![4, 1]);
    assert_eq!(red.state_size(), 4);
    for ch in red.channels() {
        assert_eq!(ch.realization.state_size(), 4);
        assert!(ch.error.unwrap() <= ch.error_bound);
    }
    // The padded channel 1 is a 1-state model: ESS 1 everywhere.
    assert_eq!(ess::tolerance(&red, Tolerance::Relative(1e-9)).unwrap().channel_max(1).unwrap(), 1.0);
}
