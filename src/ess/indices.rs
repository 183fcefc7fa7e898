//! Which Hankel indices `i` to evaluate.

use crate::error::{EssError, Result};

/// The indices `i` (with `1 ≤ i ≤ L-1`) at which ESS is evaluated.
///
/// The dense path costs `O(L⁴)` over all indices, so long sequences are often
/// sampled. Resolved indices are always ascending and unique.
///
/// ```
/// use effective_state_size::ess::Indices;
/// assert_eq!(Indices::All.resolve(5)?, vec![1, 2, 3, 4]);
/// assert_eq!(Indices::Stride(4).resolve(13)?, vec![4, 8, 12]);
/// assert_eq!(Indices::List(vec![7, 2, 2]).resolve(10)?, vec![2, 7]);
/// assert_eq!(Indices::Middle.resolve(10)?, vec![5]);
/// # Ok::<(), effective_state_size::EssError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Indices {
    /// Every `i` in `1..L`.
    #[default]
    All,
    /// The multiples of `k` in `1..L`: `k, 2k, …` (`k ≥ 1`; `Stride(1)` is `All`).
    Stride(usize),
    /// An explicit list (sorted and de-duplicated on resolution).
    List(Vec<usize>),
    /// The single middle index `⌊L/2⌋`, where boundary effects are smallest.
    Middle,
}

impl Indices {
    /// How many indices [`resolve`](Self::resolve) would return (an upper bound
    /// for a list with repeats), without building the list: `O(1)` in `len`.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve), except that a list is not checked entry by entry.
    pub fn count(&self, len: usize) -> Result<usize> {
        if len < 2 {
            return Err(EssError::SequenceTooShort { len });
        }
        match self {
            Indices::All => Ok(len - 1),
            Indices::Middle => Ok(1),
            Indices::Stride(0) => Err(EssError::param("index stride", "a stride must be at least 1")),
            Indices::Stride(k) if *k >= len => Err(EssError::param(
                "index stride",
                format!("stride {k} selects no index of a sequence of length {len}; use a stride below {len}"),
            )),
            Indices::Stride(k) => Ok((len - 1) / k),
            Indices::List(v) if v.is_empty() => {
                Err(EssError::param("index list", "the list is empty; give at least one index in 1..L"))
            }
            Indices::List(v) => Ok(v.len()),
        }
    }

    /// The concrete ascending list for sequence length `len`.
    ///
    /// # Errors
    /// [`EssError::SequenceTooShort`] for `len < 2`, [`EssError::InvalidParameter`]
    /// for a zero stride, a stride of at least `len` or an empty list, and
    /// [`EssError::IndexOutOfRange`] for a listed index outside `1..len`.
    pub fn resolve(&self, len: usize) -> Result<Vec<usize>> {
        self.count(len)?;
        match self {
            Indices::All => Ok((1..len).collect()),
            Indices::Middle => Ok(vec![len / 2]),
            Indices::Stride(k) => Ok((1..len).filter(|i| i % k == 0).collect()),
            Indices::List(v) => {
                if let Some(&bad) = v.iter().find(|&&i| i == 0 || i >= len) {
                    return Err(EssError::IndexOutOfRange { index: bad, max: len - 1, len });
                }
                let mut v = v.clone();
                v.sort_unstable();
                v.dedup();
                Ok(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` without the list agrees with the list `resolve` builds, for
    /// every selection of every short length (strides by `⌊(L − 1)/k⌋`, the
    /// multiples of `k` in `1..L`).
    #[test]
    fn count_is_the_length_of_the_resolved_list() {
        for len in 2..40usize {
            let mut all = vec![Indices::All, Indices::Middle, Indices::List((1..len).step_by(3).collect())];
            all.extend((1..len).map(Indices::Stride));
            for ix in all {
                let list = ix.resolve(len).unwrap();
                assert_eq!(ix.count(len).unwrap(), list.len(), "{ix:?} at L = {len}");
                if let Indices::Stride(k) = ix {
                    assert_eq!(list.len(), (len - 1) / k);
                    assert!(list.iter().all(|i| i % k == 0));
                }
            }
        }
    }

    #[test]
    fn an_index_out_of_range_names_the_largest_valid_one() {
        match Indices::List(vec![3, 9]).resolve(9) {
            Err(EssError::IndexOutOfRange { index, max, len }) => assert_eq!((index, max, len), (9, 8, 9)),
            other => panic!("{other:?}"),
        }
    }
}
