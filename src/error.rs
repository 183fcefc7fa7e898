//! The crate's error type.
//!
//! Every public function that takes user data returns [`Result`]. Messages name the
//! problem and the fix: the expected and the received shape, the position of the
//! first non-finite entry, the offending index.

/// Result alias with [`EssError`] as the default error.
pub type Result<T, E = EssError> = std::result::Result<T, E>;

/// Everything that can go wrong when building an operator or measuring its ESS.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EssError {
    /// An argument has the wrong shape.
    #[error("{what}: expected shape {expected}, received {received}")]
    ShapeMismatch {
        /// Which argument.
        what: String,
        /// The shape that was expected, e.g. `"(heads=4, L=128, d=16)"`.
        expected: String,
        /// The shape that was received.
        received: String,
    },
    /// An argument holds NaN or ±∞.
    #[error("{what}: non-finite value {value} at {position}; all entries must be finite (check for overflow or missing masking upstream)")]
    NonFinite {
        /// Which argument.
        what: String,
        /// Where the first non-finite entry sits, e.g. `"(3, 7)"`.
        position: String,
        /// The entry itself (NaN, inf or -inf).
        value: f64,
    },
    /// A matrix that must be causal has a nonzero entry above its block diagonal.
    #[error("the matrix of channel {channel} is not causal: entry (row {row}, column {col}) = {value} lies above the block diagonal (output step {step_out} reads input step {step_in}); pass a block lower-triangular matrix, or build it with `DenseOperator::from_causal_part` to discard the upper part on purpose")]
    NotCausal {
        /// The channel whose matrix is not causal.
        channel: usize,
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
        /// Its value.
        value: f64,
        /// Output time step of the entry (`row / p`).
        step_out: usize,
        /// Input time step of the entry (`col / m`).
        step_in: usize,
    },
    /// An argument is empty where data is required.
    #[error("{what} is empty: {hint}")]
    Empty {
        /// Which argument.
        what: String,
        /// What a valid value looks like.
        hint: String,
    },
    /// A sequence of length `L < 2` has no Hankel block (`H_i` needs `1 ≤ i ≤ L-1`).
    #[error("sequence length {len} has no Hankel block: ESS is defined at 1 ≤ i ≤ L-1, so L must be at least 2")]
    SequenceTooShort {
        /// The sequence length `L`.
        len: usize,
    },
    /// A Hankel index outside `1..L`.
    #[error("index i = {index} is out of range: Hankel indices run over 1..={max} for sequence length {len}")]
    IndexOutOfRange {
        /// The requested index.
        index: usize,
        /// The largest valid index, `L-1`.
        max: usize,
        /// The sequence length `L`.
        len: usize,
    },
    /// A marker (delimiter) position outside `1..=L-2`: ESS is needed on both sides
    /// of a marker, at `i = t` and `i = t+1`.
    #[error("marker position {position} is out of range: markers lie in 1..={max} for sequence length {len} (ESS is compared at i = t and i = t+1)")]
    MarkerOutOfRange {
        /// The marker position `t` given.
        position: usize,
        /// The largest valid position, `L-2`.
        max: usize,
        /// The sequence length `L`.
        len: usize,
    },
    /// A computation needs ESS at an index the profile does not hold.
    #[error("{what} needs ESS at index i = {index}, which was not evaluated: {hint}")]
    IndexNotEvaluated {
        /// What needs the index, e.g. `"marker modulation"`.
        what: String,
        /// The missing index.
        index: usize,
        /// How to obtain it.
        hint: String,
    },
    /// Profiles that must describe the same layout (length, indices, channels,
    /// measure) do not.
    #[error("{what}: {problem}")]
    Incompatible {
        /// What was being combined, e.g. `"batch of profiles"`.
        what: String,
        /// Which property differs, with both values.
        problem: String,
    },
    /// A channel outside `0..channels`.
    #[error("channel {channel} is out of range: the operator has {channels} channel(s), numbered from 0")]
    ChannelOutOfRange {
        /// The requested channel.
        channel: usize,
        /// How many channels there are.
        channels: usize,
    },
    /// A tolerance that is negative, NaN or otherwise meaningless.
    #[error("invalid tolerance {value}: {reason}")]
    InvalidTolerance {
        /// The tolerance given.
        value: f64,
        /// Why it was rejected and what is accepted.
        reason: String,
    },
    /// A parameter outside its valid range (a gate outside `[0, 1]`, a zero stride, ...).
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// Which parameter.
        name: String,
        /// Why, and what is accepted.
        reason: String,
    },
    /// The SVD iteration did not converge.
    #[error("the singular value decomposition of a {rows}×{cols} block did not converge within {iterations} iterations; the block is likely extremely ill-scaled, try rescaling the operator")]
    NoConvergence {
        /// Rows of the block.
        rows: usize,
        /// Columns of the block.
        cols: usize,
        /// The iteration limit that was reached.
        iterations: usize,
    },
    /// A computation would need more memory than allowed.
    #[error("{what} needs about {required} bytes, above the memory budget of {budget} bytes: {hint}")]
    MemoryBudget {
        /// What needs the memory, e.g. `"the dense path (T of one channel, L = 40000, and one block)"`.
        what: String,
        /// Estimated bytes.
        required: u64,
        /// The configured budget.
        budget: u64,
        /// What can be done about it.
        hint: String,
    },
    /// The structured path was forced for an operator that offers no realization.
    #[error("the structured path was requested, but this {family} operator offers no state realization: use `Method::Dense` or `Method::Auto`")]
    NoRealization {
        /// The operator family.
        family: String,
    },
    /// A featurizer (user code) failed to produce an operator.
    #[error("featurizer failed on input {input}: {source}")]
    Featurizer {
        /// Index of the input in the batch.
        input: usize,
        /// The featurizer's own error.
        #[source]
        source: Box<EssError>,
    },
    /// An operator's implementation of [`LinearOperator`](crate::LinearOperator)
    /// returned something inconsistent with what it declares (a dense matrix of the
    /// wrong shape, a realization of another size, an output of the wrong length).
    #[error("the {family} operator is inconsistent on channel {channel}: {problem}; check the implementation with `ess::verify`")]
    InvalidOperator {
        /// The operator family ([`LinearOperator::family`](crate::LinearOperator::family)).
        family: String,
        /// The channel being evaluated.
        channel: usize,
        /// What was wrong, with the expected and the received value.
        problem: String,
    },
    /// A progress callback asked to stop ([`EssOptions::with_progress`](crate::ess::EssOptions::with_progress)).
    #[error("cancelled by the progress callback after {done} of {total} blocks")]
    Cancelled {
        /// Blocks (channel, index pairs) finished before stopping.
        done: usize,
        /// Blocks requested in all.
        total: usize,
    },
}

impl EssError {
    pub(crate) fn shape(what: impl Into<String>, expected: impl Into<String>, received: impl Into<String>) -> Self {
        EssError::ShapeMismatch { what: what.into(), expected: expected.into(), received: received.into() }
    }
    pub(crate) fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        EssError::InvalidParameter { name: name.into(), reason: reason.into() }
    }
    pub(crate) fn invalid_operator(family: &str, channel: usize, problem: impl Into<String>) -> Self {
        EssError::InvalidOperator { family: family.into(), channel, problem: problem.into() }
    }
    /// Adds the channel to the description of a non-finite value.
    pub(crate) fn in_channel(self, channel: usize) -> Self {
        match self {
            EssError::NonFinite { what, position, value } => {
                EssError::NonFinite { what: format!("{what} of channel {channel}"), position, value }
            }
            e => e,
        }
    }
    pub(crate) fn incompatible(what: impl Into<String>, problem: impl Into<String>) -> Self {
        EssError::Incompatible { what: what.into(), problem: problem.into() }
    }
    pub(crate) fn empty(what: impl Into<String>, hint: impl Into<String>) -> Self {
        EssError::Empty { what: what.into(), hint: hint.into() }
    }
}
