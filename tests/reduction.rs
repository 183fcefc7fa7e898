//! Distillation: bound ≥ measured error ≥ Eckart–Young lower bound on random
//! operators of every kind (f64 and f32), the two algorithms agree, the reduced
//! model is an operator, bad requests are errors.

mod common;

use common::{normal_vec, rng, uniform_vec};
use effective_state_size::ess::{Method, Tolerance};
use effective_state_size::prelude::*;
use effective_state_size::reduction::{reduce, ReduceOptions, ReducedChannel};
use nalgebra::DMatrix;

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
        assert!(err <= ch.classical_bound + slack, "{what}: classical form {:e} < measured {err:e}", ch.classical_bound);
    }
    red.channels().to_vec()
}

#[test]
fn lti_diagonal_smoke() {
    let op = LtiStateSpace::diagonal(&[0.9, 0.5, 0.2, -0.1], &[1.0; 4], &[1.0, 0.5, 0.25, 0.1], Dims { channels: 1, len: 24, width: 4 }).unwrap();
    for r in 1..=4 {
        check(&op, r, Method::Structured, &format!("lti r={r} structured"));
        check(&op, r, Method::Dense, &format!("lti r={r} dense"));
    }
}

#[test]
fn time_varying_smoke() {
    let mut g = rng(3);
    let (len, n) = (20, 5);
    let a = normal_vec(&mut g, len * n * n).iter().map(|x| x * 0.5).collect::<Vec<_>>();
    let b = normal_vec(&mut g, len * n);
    let c = normal_vec(&mut g, len * n);
    let op = TimeVaryingStateSpace::new(&a, &b, &c, Dims { channels: 1, len, width: n }, BlockShape::SISO).unwrap();
    for r in 1..n {
        check(&op, r, Method::Structured, &format!("tv r={r}"));
        check(&op, r, Method::Dense, &format!("tv dense r={r}"));
    }
    let _ = uniform_vec(&mut g, 1, 0.0, 1.0);
}
