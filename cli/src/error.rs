//! The command's errors: one typed enum, printed by `main` as one line
//! `ess: <message>` before exiting with status 2.

use effective_state_size::EssError;
use std::path::PathBuf;

/// Everything that can make `ess` fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{}: cannot {action} file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Reading or writing.
        action: IoAction,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A tensor file that cannot be read: its format, dtype, shape or name.
    #[error("{file}: {source}")]
    Input {
        /// The file, as given on the command line.
        file: String,
        /// What is wrong with it.
        #[source]
        source: InputError,
    },
    /// A command-line flag with a value that cannot be used.
    #[error("{flag} {value:?}: {problem}")]
    Args {
        /// The flag, e.g. `--block`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and what is accepted.
        problem: String,
    },
    /// The library refused a tensor read from a file (not causal, non-finite,
    /// wrong shape for the block, an index out of range, …).
    #[error("{file}: {source}")]
    Analysis {
        /// The file the tensor came from.
        file: String,
        /// The library's error.
        #[source]
        source: EssError,
    },
    /// The library refused a request that involves no file (an invalid tolerance,
    /// the demo's operators).
    #[error(transparent)]
    Ess(#[from] EssError),
    /// The SVG plot could not be drawn.
    #[error("cannot draw the plot {}: {message}", path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// The drawing backend's message.
        message: String,
    },
}

/// Whether an [`CliError::Io`] happened reading or writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoAction {
    /// Reading an input file.
    Read,
    /// Writing an output file.
    Write,
}

impl std::fmt::Display for IoAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoAction::Read => "read",
            IoAction::Write => "write",
        })
    }
}

/// Why the bytes of a `.npy` or `.safetensors` file do not hold a usable tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Neither `.npy` nor `.safetensors`.
    #[error("unsupported file extension {0:?}: give a .npy or .safetensors file")]
    Extension(String),
    /// The bytes are not a `.npy` file (magic string, version, header).
    #[error("not a valid .npy file: {0}")]
    NotNpy(String),
    /// The bytes are not a `.safetensors` file.
    #[error("not a valid .safetensors file: {0}")]
    NotSafetensors(String),
    /// A structured `.npy` array (record dtype).
    #[error("unsupported dtype: structured arrays are not read; save a plain float32/float64 array")]
    StructuredArray,
    /// A `.npy` dtype other than float32 or float64.
    #[error(
        "unsupported dtype {dtype}: only float32 and float64 arrays are read (convert with arr.astype(np.float64))"
    )]
    Dtype {
        /// The dtype as the header names it (`<i8`, `>c16`, …).
        dtype: String,
    },
    /// A `.safetensors` tensor of another dtype than F32 or F64.
    #[error("tensor {name:?} has unsupported dtype {dtype}: only F32 and F64 are read")]
    TensorDtype {
        /// The tensor.
        name: String,
        /// Its dtype (`I64`, `BF16`, …).
        dtype: String,
    },
    /// The header's shape needs more bytes than the file holds.
    #[error("the header's shape {shape:?} needs more data than the file's {bytes} bytes")]
    ShapeExceedsFile {
        /// The shape in the header.
        shape: Vec<usize>,
        /// The file's size.
        bytes: usize,
    },
    /// The values could not be decoded.
    #[error("cannot read {dtype} data: {reason}")]
    Decode {
        /// `float32` or `float64`.
        dtype: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The file holds another number of values than its shape needs.
    #[error("the array holds {values} values but its shape {shape:?} needs {needed}")]
    Length {
        /// Values read.
        values: usize,
        /// The shape in the header.
        shape: Vec<usize>,
        /// Values the shape needs.
        needed: usize,
    },
    /// A shape that is not `(L, L)`, `(C, pL, mL)` or `(B, C, pL, mL)`.
    #[error(
        "unsupported shape {0:?}: expected (L, L), (C, L, L), (C, pL, mL) with --block p,m, or a batch (B, C, pL, mL)"
    )]
    Shape(Vec<usize>),
    /// A tensor that a realization or a family needs is not in the file.
    #[error("no tensor named {:?}, which {} needs (layout {}); the file holds: {}", .0.name, .0.what, .0.layout, .0.names.join(", "))]
    MissingTensor(Box<TensorProblem>),
    /// A tensor of a realization or a family with the wrong shape.
    #[error("tensor {:?} has shape {:?}; {} expects {}", .0.name, .0.shape, .0.what, .0.layout)]
    TensorShape(Box<TensorProblem>),
    /// A `--tensor` pattern with `*` that matches no tensor of the file.
    #[error("--tensor {pattern:?} matches no tensor; the file holds: {}", names.join(", "))]
    NoMatch {
        /// The pattern.
        pattern: String,
        /// The tensors in the file, sorted.
        names: Vec<String>,
    },
    /// A `.safetensors` file without tensors.
    #[error("the file holds no tensor")]
    NoTensor,
    /// Several tensors and no `--tensor`.
    #[error("the file holds {} tensors; choose one with --tensor NAME: {}", names.len(), names.join(", "))]
    ChooseTensor {
        /// The tensors in the file, sorted.
        names: Vec<String>,
    },
    /// `--tensor NAME` names no tensor of the file.
    #[error("no tensor named {name:?}; the file holds: {}", names.join(", "))]
    NoSuchTensor {
        /// The name asked for.
        name: String,
        /// The tensors in the file, sorted.
        names: Vec<String>,
    },
}

/// A missing or misshapen tensor of a realization or family file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorProblem {
    /// The tensor's name.
    pub name: String,
    /// What reads it: `a realization file`, `--family mamba`, …
    pub what: String,
    /// Its expected layout, e.g. `(L, D)`.
    pub layout: String,
    /// Its shape (empty when missing).
    pub shape: Vec<usize>,
    /// The tensors in the file, sorted.
    pub names: Vec<String>,
}
