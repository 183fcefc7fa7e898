//! Input-varying operators through a featurizer, and batch statistics.

use crate::common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Tolerance};
use effective_state_size::{Dims, EssError, Featurizer, MambaChannels, Ssd};

/// A toy selective-SSM layer: Δ_t and the SSD decay depend on the input.
struct ToySsd {
    len: usize,
    n: usize,
}

impl Featurizer<f64> for ToySsd {
    type Operator = Ssd<f64>;
    fn featurize(&self, u: &[f64]) -> Result<Ssd<f64>, EssError> {
        let a: Vec<f64> = u.iter().map(|x| 1.0 / (1.0 + (-3.0 * x).exp())).collect();
        let b: Vec<f64> = (0..self.len * self.n).map(|j| u[j / self.n] * ((j % self.n) as f64 + 1.0).sin()).collect();
        let c: Vec<f64> = (0..self.len * self.n).map(|j| ((j % self.n) as f64 * 0.7 + u[j / self.n]).cos()).collect();
        Ssd::new(&a, &b, &c, Dims { channels: 1, len: self.len, width: self.n })
    }
}

#[test]
fn batch_statistics_equal_per_input_profiles() {
    let (len, n) = (24, 3);
    let layer = ToySsd { len, n };
    let mut r = rng(1);
    let inputs: Vec<Vec<f64>> = (0..5).map(|_| normal_vec(&mut r, len)).collect();
    let opts = EssOptions::default().with_indices(Indices::Stride(4));
    let m = Measure::Tolerance(Tolerance::Relative(1e-6));
    let batch = ess::over_inputs(&layer, &inputs, m, &opts).unwrap();
    assert_eq!(batch.inputs, 5);
    assert_eq!(batch.indices, vec![4, 8, 12, 16, 20]);
    let per: Vec<Vec<f64>> = inputs
        .iter()
        .map(|u| ess::profile(&layer.featurize(u).unwrap(), m, &opts).unwrap().channel(0).to_vec())
        .collect();
    for j in 0..5 {
        let xs: Vec<f64> = per.iter().map(|p| p[j]).collect();
        let mean = xs.iter().sum::<f64>() / 5.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 5.0;
        assert!(close(batch.mean[0][j], mean, 1e-14));
        assert!((batch.std[0][j] - var.sqrt()).abs() < 1e-12);
        assert_eq!(batch.min[0][j], xs.iter().cloned().fold(f64::INFINITY, f64::min));
        assert_eq!(batch.max[0][j], xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
        assert!(batch.max[0][j] <= n as f64);
    }
}

#[test]
fn closures_are_featurizers_and_failures_name_the_input() {
    let len = 10;
    let mamba = |u: &[f64]| {
        let delta: Vec<f64> = u.iter().map(|x| (1.0 + x.exp()).ln()).collect();
        MambaChannels::new(&[-1.0, -2.0], &delta, &[1.0; 20], &[0.5; 20], Dims { channels: 1, len, width: 2 })
    };
    let good = vec![vec![0.1; len], vec![-0.3; len]];
    assert!(ess::over_inputs(&mamba, &good, Measure::Entropy, &EssOptions::default()).is_ok());
    let bad = vec![vec![0.1; len], vec![f64::NAN; len]];
    let err = ess::over_inputs(&mamba, &bad, Measure::Entropy, &EssOptions::default()).unwrap_err();
    assert!(matches!(err, EssError::Featurizer { input: 1, .. }), "{err}");
    let none: Vec<Vec<f64>> = vec![];
    assert!(matches!(
        ess::over_inputs(&mamba, &none, Measure::Entropy, &EssOptions::default()),
        Err(EssError::Empty { .. })
    ));
    let ragged = |u: &[f64]| {
        MambaChannels::new(
            &[-1.0],
            &vec![0.5; u.len()],
            &vec![1.0; u.len()],
            &vec![1.0; u.len()],
            Dims { channels: 1, len: u.len(), width: 1 },
        )
    };
    let err =
        ess::over_inputs(&ragged, &[vec![0.0; 5], vec![0.0; 6]], Measure::Entropy, &EssOptions::default()).unwrap_err();
    assert!(matches!(err, EssError::ShapeMismatch { .. }), "{err}");
}
