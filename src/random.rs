//! Deterministic pseudo-random numbers for start blocks and probes: SplitMix64
//! (Steele, Lea and Flood, *Fast splittable pseudorandom number generators*,
//! OOPSLA 2014; Vigna's reference `splitmix64.c`), so that every result depends
//! only on its inputs, not on threads or the platform.
//!
//! ```text
//! state ← state + φ,   φ = 0x9E3779B97F4A7C15
//! z ← (z ⊕ (z ≫ 30))·0xBF58476D1CE4E5B9
//! z ← (z ⊕ (z ≫ 27))·0x94D049BB133111EB
//! z ← z ⊕ (z ≫ 31)                          (all mod 2⁶⁴)
//! ```
//!
//! A draw in `[-1, 1)` is `⌊z/2¹¹⌋·2⁻⁵² − 1`: the top 53 bits, exact in `f64`.

use nalgebra::{DMatrix, DVector};

/// SplitMix64's increment, the `φ` of the formulas: `2⁶⁴` divided by the golden
/// ratio, rounded to an odd integer.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A SplitMix64 stream (see the module doc).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream whose state starts at `state` (the reference generator's seed).
    pub(crate) fn from_state(state: u64) -> Self {
        Self(state)
    }

    /// A stream for the integer `seed`, with the state `seed·φ ⊕ 0xD1B54A32D192ED03`
    /// (distinct seeds, distinct states: `φ` is odd).
    pub(crate) fn seeded(seed: u64) -> Self {
        Self(seed.wrapping_mul(GOLDEN) ^ 0xD1B5_4A32_D192_ED03)
    }

    /// The next 64 bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next draw in `[-1, 1)` ([`symmetric`]).
    pub(crate) fn next_symmetric(&mut self) -> f64 {
        symmetric(self.next_u64())
    }

    /// A `rows × cols` matrix of draws, column by column.
    pub(crate) fn matrix(&mut self, rows: usize, cols: usize) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |_, _| self.next_symmetric())
    }
}

/// `⌊z/2¹¹⌋·2⁻⁵² − 1 ∈ [-1, 1)`: the top 53 bits of `z` on a grid of `2⁻⁵²`.
pub(crate) fn symmetric(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// A deterministic `rows × cols` matrix with entries in `[-1, 1)`, the stream
/// [`SplitMix64::seeded`]`(seed)` column by column.
pub(crate) fn uniform_matrix(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
    SplitMix64::seeded(seed).matrix(rows, cols)
}

/// A deterministic vector of `len` entries in `[-1, 1)`, the stream
/// [`SplitMix64::seeded`]`(seed)`.
pub(crate) fn uniform_vector(len: usize, seed: u64) -> DVector<f64> {
    let mut g = SplitMix64::seeded(seed);
    DVector::from_fn(len, |_, _| g.next_symmetric())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference generator's first outputs from state 0 (`splitmix64.c`
    /// with `x = 0`), as an independent implementation of its three published
    /// lines of arithmetic computes them (here: Python integers mod 2⁶⁴).
    #[test]
    fn the_stream_is_the_reference_splitmix64() {
        let mut g = SplitMix64::from_state(0);
        assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(g.next_u64(), 0x06C4_5D18_8009_454F);
    }

    /// The map to `[-1, 1)` at its ends and middle, and the top bits only.
    #[test]
    fn draws_cover_minus_one_to_one() {
        assert_eq!(symmetric(0), -1.0);
        assert_eq!(symmetric(u64::MAX), 1.0 - 2f64.powi(-52));
        assert_eq!(symmetric(1 << 63), 0.0);
        assert_eq!(symmetric(3 << 62), 0.5);
        assert_eq!(symmetric((1 << 11) - 1), -1.0);
        assert_eq!(symmetric(1 << 11), -1.0 + 2f64.powi(-52));
    }

    /// Seeded streams: the same seed, the same matrix; distinct seeds, distinct
    /// matrices; entries spread over `[-1, 1)` (mean about 0, both halves about
    /// equally often, both ends reached), filled column by column from one
    /// stream.
    #[test]
    fn seeded_matrices_are_uniform_and_reproducible() {
        let m = uniform_matrix(100, 100, 7);
        assert_eq!(m, uniform_matrix(100, 100, 7));
        assert!(m.iter().all(|&x| (-1.0..1.0).contains(&x)), "an entry outside [-1, 1)");
        let mean = m.sum() / 1e4;
        let negative = m.iter().filter(|&&x| x < 0.0).count();
        let outer = m.iter().filter(|&&x| x.abs() > 0.9).count();
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((4700..5300).contains(&negative), "{negative} negative entries of 10,000");
        assert!((800..1200).contains(&outer), "{outer} entries beyond ±0.9 of 10,000");
        let firsts: Vec<f64> = (0..64).map(|s| uniform_matrix(1, 1, s)[(0, 0)]).collect();
        for (a, x) in firsts.iter().enumerate() {
            assert!(firsts[..a].iter().all(|y| y != x), "seed {a} repeats an earlier seed's first draw");
        }
        let mut g = SplitMix64::seeded(7);
        let by_column: Vec<f64> = (0..6).map(|_| g.next_symmetric()).collect();
        assert_eq!(uniform_matrix(3, 2, 7).as_slice(), &by_column[..]);
        assert_eq!(uniform_vector(6, 7).as_slice(), &by_column[..]);
    }
}
