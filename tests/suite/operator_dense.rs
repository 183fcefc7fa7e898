//! `DenseOperator`: validation with clear errors, and `apply`.

use crate::common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Tolerance};
use effective_state_size::{BlockShape, DenseOperator, EssError, OperatorExt};
use nalgebra::{DMatrix, DVector};

#[test]
fn non_causal_entry_is_named() {
    let mut t = DMatrix::<f64>::zeros(6, 6);
    t[(1, 4)] = 2.5;
    t[(3, 5)] = 1.0;
    let err = DenseOperator::single(t.clone()).unwrap_err();
    assert_eq!(err, EssError::NotCausal { channel: 0, row: 1, col: 4, value: 2.5, step_out: 1, step_in: 4 });
    assert!(err.to_string().contains("from_causal_part"));
    let op = DenseOperator::from_causal_part(vec![t], BlockShape::SISO).unwrap();
    assert_eq!(op.matrix(0).unwrap(), &DMatrix::zeros(6, 6));
}

#[test]
fn block_causality_allows_entries_inside_diagonal_blocks() {
    // p = 2, m = 2: entry (0, 1) lies in the diagonal block T_{0,0}.
    let mut t = DMatrix::<f64>::zeros(4, 4);
    t[(0, 1)] = 1.0;
    assert!(DenseOperator::new(vec![t.clone()], BlockShape { outputs: 2, inputs: 2 }).is_ok());
    assert!(matches!(DenseOperator::single(t), Err(EssError::NotCausal { row: 0, col: 1, .. })));
}

#[test]
fn the_causal_part_of_a_block_matrix_keeps_every_block_on_and_below_the_diagonal() {
    // p = 2 outputs and m = 3 inputs per step, L = 4: entry (r, c) belongs to
    // the block T_{t,s} with t = ⌊r/2⌋, s = ⌊c/3⌋ and is kept exactly when s ≤ t.
    let (p, m, len) = (2, 3, 4);
    let full = DMatrix::from_fn(p * len, m * len, |r, c| 1.0 + (r * 12 + c) as f64);
    let op = DenseOperator::from_causal_part(vec![full.clone()], BlockShape { outputs: p, inputs: m }).unwrap();
    let kept = op.matrix(0).unwrap();
    for r in 0..p * len {
        for c in 0..m * len {
            let expected = if c / m <= r / p { full[(r, c)] } else { 0.0 };
            assert_eq!(kept[(r, c)], expected, "entry ({r}, {c})");
        }
    }
    // The kept part is causal, so `new` accepts it unchanged.
    assert!(DenseOperator::new(vec![kept.clone()], BlockShape { outputs: p, inputs: m }).is_ok());
}

#[test]
fn non_finite_entries_are_located() {
    let mut t = DMatrix::<f64>::zeros(5, 5);
    t[(3, 2)] = f64::NAN;
    match DenseOperator::single(t).unwrap_err() {
        EssError::NonFinite { position, value, .. } => {
            assert_eq!(position, "(3, 2)");
            assert!(value.is_nan());
        }
        e => panic!("unexpected {e}"),
    }
    let mut data = vec![0.0f32; 2 * 3 * 3];
    data[9 + 4] = f32::INFINITY;
    let err = DenseOperator::matrices_from_row_major(&data, 2, 3, 3).unwrap_err();
    assert!(matches!(err, EssError::NonFinite { ref position, .. } if position == "(1, 1, 1)"), "{err}");
}

#[test]
fn shapes_are_checked_with_expected_and_received() {
    let err = DenseOperator::new(vec![DMatrix::<f64>::zeros(6, 5)], BlockShape { outputs: 2, inputs: 1 }).unwrap_err();
    assert!(matches!(err, EssError::ShapeMismatch { .. }));
    assert!(err.to_string().contains("(6, 5)"), "{err}");
    // The expected shape is given for the L the rows imply: 6 rows of 2 → L = 3.
    assert!(err.to_string().contains("e.g. (6, 3) for L = 3"), "{err}");
    let err =
        DenseOperator::new(vec![DMatrix::<f64>::zeros(4, 4), DMatrix::zeros(5, 5)], BlockShape::SISO).unwrap_err();
    assert!(err.to_string().contains("channel 1"), "{err}");
    let err = DenseOperator::from_row_major(&[1.0, 2.0, 3.0], 2, 2).unwrap_err();
    assert!(err.to_string().contains("4 values") && err.to_string().contains("received 3 values"), "{err}");
    assert!(matches!(DenseOperator::<f64>::new(vec![], BlockShape::SISO), Err(EssError::Empty { .. })));
    assert!(matches!(DenseOperator::single(DMatrix::<f64>::zeros(0, 0)), Err(EssError::Empty { .. })));
    assert!(matches!(
        DenseOperator::new(vec![DMatrix::<f64>::zeros(2, 2)], BlockShape { outputs: 0, inputs: 1 }),
        Err(EssError::InvalidParameter { .. })
    ));
}

#[test]
fn degenerate_requests_are_errors_not_panics() {
    let one = DenseOperator::single(DMatrix::<f64>::from_element(1, 1, 2.0)).unwrap();
    assert_eq!(ess::entropy(&one).unwrap_err(), EssError::SequenceTooShort { len: 1 });
    let op = DenseOperator::single(DMatrix::<f64>::identity(5, 5)).unwrap();
    assert_eq!(ess::singular_values(&op, 0, 5).unwrap_err(), EssError::IndexOutOfRange { index: 5, max: 4, len: 5 });
    assert_eq!(ess::singular_values(&op, 0, 0).unwrap_err(), EssError::IndexOutOfRange { index: 0, max: 4, len: 5 });
    assert_eq!(ess::singular_values(&op, 1, 2).unwrap_err(), EssError::ChannelOutOfRange { channel: 1, channels: 1 });
    assert!(op.hankel_block(2, 1).is_err());
    // H_0 and H_L would be empty blocks: out of range, as for the profiles.
    assert_eq!(op.hankel_block(0, 0).unwrap_err(), EssError::IndexOutOfRange { index: 0, max: 4, len: 5 });
    assert_eq!(op.hankel_block(0, 5).unwrap_err(), EssError::IndexOutOfRange { index: 5, max: 4, len: 5 });
    assert_eq!(one.hankel_block(0, 1).unwrap_err(), EssError::SequenceTooShort { len: 1 });
    for bad in [Indices::Stride(0), Indices::Stride(5), Indices::List(vec![]), Indices::List(vec![2, 9])] {
        let opts = EssOptions::default().with_indices(bad);
        assert!(ess::profile(&op, Measure::Entropy, &opts).is_err());
    }
    for bad in
        [Tolerance::Absolute(0.0), Tolerance::Absolute(-1.0), Tolerance::Relative(1.0), Tolerance::Relative(f64::NAN)]
    {
        assert!(matches!(ess::tolerance(&op, bad), Err(EssError::InvalidTolerance { .. })));
    }
    assert!(ess::profiles(&op, &[], &EssOptions::default()).is_err());
    assert!(op.apply(0, &[1.0; 4]).is_err());
    assert!(op.apply(0, &[1.0, 1.0, f64::NAN, 1.0, 1.0]).is_err());
}

#[test]
fn apply_is_t_times_u_and_hankel_block_is_the_slice() {
    let mut r = rng(11);
    let (len, p, m) = (7, 2, 3);
    let t = random_causal(&mut r, len, p, m);
    let op = DenseOperator::new(vec![t.clone()], BlockShape { outputs: p, inputs: m }).unwrap();
    let u = normal_vec(&mut r, m * len);
    let y = op.apply(0, &u).unwrap();
    let expect = &t * DVector::from_vec(u);
    for (a, b) in y.iter().zip(expect.iter()) {
        assert!((a - b).abs() < 1e-12);
    }
    let h = op.hankel_block(0, 3).unwrap();
    assert_eq!(h, t.view((6, 0), (8, 9)).into_owned());
}
