//! `serde` round trips of profiles and batch profiles (cargo feature `serde`):
//! `cargo test -p effective-state-size --features serde --test serde`.
#![cfg(feature = "serde")]

use effective_state_size::ess::{self, BatchProfile, EssOptions, Measure, Profile, Tolerance};
use effective_state_size::{BlockShape, DenseOperator, EssError, FirConvolution};
use nalgebra::DMatrix;

#[test]
fn profiles_round_trip_through_json_with_their_block_shape() {
    let t = DMatrix::from_fn(12, 6, |r, c| if c <= r / 2 { ((r * 3 + c) as f64).sin() } else { 0.0 });
    let op = DenseOperator::new(vec![t], BlockShape { outputs: 2, inputs: 1 }).unwrap();
    for m in
        [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3)), Measure::Tolerance(Tolerance::NumericalRank)]
    {
        let p = ess::profile(&op, m, &EssOptions::default()).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        let back: Profile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.normalized(), p.normalized());
    }
    let v: serde_json::Value = serde_json::to_value(ess::tolerance(&op, Tolerance::Relative(1e-3)).unwrap()).unwrap();
    assert_eq!(v["block"], serde_json::json!({"outputs": 2, "inputs": 1}));
    assert_eq!(v["measure"], serde_json::json!({"tolerance": {"relative": 0.001}}));
    assert_eq!(v["computed_by"], "dense");
    assert_eq!(v["indices"], serde_json::json!([1, 2, 3, 4, 5]));
}

#[test]
fn invalid_serialised_profiles_are_errors_not_panics() {
    let good = r#"{"seq_len":4,"block":{"outputs":1,"inputs":1},"indices":[1,2,3],"measure":"entropy","computed_by":"dense","tss":null,"values":[[1.0,2.0,1.0]]}"#;
    let p: Profile = serde_json::from_str(good).unwrap();
    assert_eq!(p.mean(), 4.0 / 3.0);
    for bad in [
        good.replace("[[1.0,2.0,1.0]]", "[[1.0,2.0]]"),                   // ragged
        good.replace("[1,2,3]", "[1,2,4]"),                               // index out of range
        good.replace("[[1.0,2.0,1.0]]", "[]"),                            // no channel
        good.replace("\"entropy\"", r#"{"tolerance":{"relative":5.0}}"#), // invalid tolerance
        good.replace(r#""outputs":1"#, r#""outputs":0"#),                 // zero block
    ] {
        assert!(serde_json::from_str::<Profile>(&bad).is_err(), "{bad}");
    }
}

#[test]
fn batch_profiles_round_trip_and_are_checked() {
    let ops = [FirConvolution::new(&[[1.0, 0.5]], 8).unwrap(), FirConvolution::new(&[[1.0, 0.5, 0.2]], 8).unwrap()];
    let [b]: [BatchProfile; 1] =
        ess::over_operators(&ops, &[Measure::Entropy], &EssOptions::default()).unwrap().try_into().unwrap();
    let json = serde_json::to_string(&b).unwrap();
    let back: BatchProfile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, b);
    // Each statistic is checked on its own against the items.
    for stat in ["mean", "std", "min", "max"] {
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v[stat][0][0] = serde_json::json!(99.0);
        let err = serde_json::from_value::<BatchProfile>(v).unwrap_err();
        assert!(err.to_string().contains("statistics differ"), "{stat}: {err}");
    }
    // The check is relative, 1e-9 of the value (of 1 below 1): a mean off by
    // 0.8e-9 of itself (a file written with fewer digits) is accepted, one off
    // by 2e-9 is not; the largest mean (an ESS above 1) shows the scale.
    let (k, big) = b.mean[0].iter().copied().enumerate().fold((0, 0.0), |m, (k, x)| if x > m.1 { (k, x) } else { m });
    assert!(big > 1.2, "the test needs a mean above 1: {big}");
    for (off, accepted) in [(0.8e-9, true), (2e-9, false)] {
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["mean"][0][k] = serde_json::json!(big * (1.0 + off));
        assert_eq!(serde_json::from_value::<BatchProfile>(v).is_ok(), accepted, "mean off by {off:e} of itself");
    }
    let _ = EssError::SequenceTooShort { len: 1 };
}

#[test]
fn low_rank_profiles_carry_their_intervals_through_json() {
    let t =
        DMatrix::from_fn(24, 24, |r, c| if c <= r { ((r + 1) as f64).recip() * ((c + 1) as f64).sqrt() } else { 0.0 });
    let op = DenseOperator::single(t).unwrap();
    let opts = EssOptions::default().with_method(ess::Method::LowRank);
    let p = ess::profile(&op, Measure::Entropy, &opts).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    let back: Profile = serde_json::from_str(&json).unwrap();
    assert_eq!(back.bounds(), p.bounds());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["computed_by"], "lowrank");
    // An interval that excludes its value is refused, naming the problem.
    let mut bad = v.clone();
    bad["bounds"][0][0] = serde_json::json!([1e9, 1e10]);
    let e = serde_json::from_value::<Profile>(bad).unwrap_err();
    assert!(e.to_string().contains("does not contain"), "{e}");
}
