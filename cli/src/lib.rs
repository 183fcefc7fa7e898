//! The `ess` command as a library: argument definitions, readers, analysis,
//! output and plots. The binary (`src/main.rs`) only parses and reports errors;
//! the fuzz targets drive the readers through [`input::read_bytes`].
pub mod analysis;
pub mod demo;
pub mod error;
pub mod input;
pub mod model;
pub mod output;
pub mod plot;
pub mod progress;
pub mod reduce;

use analysis::{Report, Request};
use clap::{Args, Parser, Subcommand, ValueEnum};
use effective_state_size::ess::{Indices, Measure, Tolerance};
use effective_state_size::{BlockShape, DenseOperator};
pub use error::{CliError, InputError, IoAction};
use std::path::{Path, PathBuf};

/// The command line.
#[derive(Parser)]
#[command(name = "ess", version, about = "Effective state-size (ESS) of causal sequence operators")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build one seeded operator of every family and tabulate its ESS.
    Demo {
        /// Sequence length.
        #[arg(long, default_value_t = 128)]
        len: usize,
        /// Draw the profiles into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
        #[command(flatten)]
        tol: TolArgs,
    },
    /// ESS profile of an operator stored in a .npy or .safetensors file: a dense
    /// T, a realization (tensors A, B, C, D) or a family's parameters (--family).
    Profile(ProfileArgs),
    /// Distil an operator into a small recurrence with a certified error and
    /// write it as a realization file (A, B, C, D in f64).
    Reduce(ReduceArgs),
}

/// Where the operator comes from (shared by `profile` and `reduce`).
#[derive(Args)]
struct SourceArgs {
    /// Read the parameters of a structured family from a .safetensors file
    /// (tensor names and layouts: see the README).
    #[arg(long, value_enum)]
    family: Option<model::Family>,
    /// Sequence length, for families without a sequence axis (lti, fir).
    #[arg(long, value_name = "L")]
    len: Option<usize>,
}

#[derive(Args)]
struct ReduceArgs {
    /// Input file: a dense T (.npy or .safetensors, as for `profile`), a
    /// realization file (tensors A, B, C, D) or a family's parameters (--family).
    file: PathBuf,
    /// Tensor name inside a .safetensors file holding a dense T.
    #[arg(long, value_name = "NAME")]
    tensor: Option<String>,
    /// Block shape p,m of a dense T.
    #[arg(long, value_name = "P,M", default_value = "1,1")]
    block: String,
    #[command(flatten)]
    source: SourceArgs,
    /// Keep at most R states per cut.
    #[arg(long, value_name = "R", group = "target")]
    order: Option<usize>,
    /// Keep every σ_k(H_i) > X·σ_1(H_i): the order is the largest such count.
    #[arg(long, value_name = "X", group = "target", allow_negative_numbers = true)]
    tol_rel: Option<f64>,
    /// Keep every σ_k(H_i) > X.
    #[arg(long, value_name = "X", group = "target", allow_negative_numbers = true)]
    tol_abs: Option<f64>,
    /// Output file (.safetensors): A (C, L, R, R), B (C, L, R, m), C (C, L, p, R), D (C, L, p, m), f64.
    #[arg(long, value_name = "OUT.safetensors")]
    out: PathBuf,
    /// Measure ‖T − T_r‖₂ only up to this sequence length (it forms T).
    #[arg(long, value_name = "L", default_value_t = 2048)]
    measure_up_to: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ReduceFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReduceFormat {
    Table,
    Json,
}

#[derive(Args)]
struct TolArgs {
    /// Relative tolerance: count σ_k > X·σ_1 (the default, 1e-3).
    #[arg(long, value_name = "X", group = "tolerance", allow_negative_numbers = true)]
    tol_rel: Option<f64>,
    /// Absolute tolerance: count σ_k > X.
    #[arg(long, value_name = "X", group = "tolerance", allow_negative_numbers = true)]
    tol_abs: Option<f64>,
    /// Numerical rank: count σ_k > σ_1·max(rows, cols)·ε.
    #[arg(long, group = "tolerance")]
    tol_rank: bool,
}

impl TolArgs {
    fn tolerance(&self) -> Tolerance {
        match (self.tol_rel, self.tol_abs, self.tol_rank) {
            (_, Some(x), _) => Tolerance::Absolute(x),
            (_, _, true) => Tolerance::NumericalRank,
            (x, _, _) => Tolerance::Relative(x.unwrap_or(1e-3)),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Args)]
struct ProfileArgs {
    /// Input file: .npy of shape (L, L), (C, L, L) or (C, pL, mL) with --block; or .safetensors.
    file: PathBuf,
    /// Tensor name inside a .safetensors file.
    #[arg(long, value_name = "NAME")]
    tensor: Option<String>,
    /// Block shape p,m (outputs, inputs per step).
    #[arg(long, value_name = "P,M", default_value = "1,1")]
    block: String,
    #[command(flatten)]
    tol: TolArgs,
    /// Indices i to evaluate: all, stride:K, or a list i,j,k (0-based, 1 ≤ i ≤ L-1).
    #[arg(long, default_value = "all")]
    indices: String,
    /// Take the causal (block lower-triangular) part of a non-causal matrix on purpose.
    #[arg(long)]
    causal_part: bool,
    /// Theoretical state size, for utilization and the plot's TSS line.
    #[arg(long, value_name = "N")]
    tss: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the output here instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Draw the profiles into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    source: SourceArgs,
}

fn parse_block(s: &str) -> Result<BlockShape, CliError> {
    let bad = |problem: &str| CliError::Args { flag: "--block", value: s.to_string(), problem: problem.to_string() };
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [p, m] => match (p.parse::<usize>(), m.parse::<usize>()) {
            (Ok(p), Ok(m)) if p > 0 && m > 0 => Ok(BlockShape { outputs: p, inputs: m }),
            _ => Err(bad("expected two positive integers P,M")),
        },
        _ => Err(bad("expected P,M, e.g. 1,1")),
    }
}

fn parse_indices(s: &str) -> Result<Indices, CliError> {
    let bad = |problem: &str| CliError::Args { flag: "--indices", value: s.to_string(), problem: problem.to_string() };
    if s == "all" {
        return Ok(Indices::All);
    }
    if let Some(k) = s.strip_prefix("stride:") {
        return k.trim().parse().map(Indices::Stride).map_err(|_| bad("stride:K needs a positive integer K"));
    }
    s.split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map(Indices::List)
        .map_err(|_| bad("expected all, stride:K or a comma-separated list of integers"))
}

/// Computes the report of a tensor read from `file`: `(L, L)` is one channel,
/// `(C, pL, mL)` is `C` channels with blocks `p × m`. Errors name the file.
pub fn analyse_tensor(file: &str, tensor: &input::Tensor, req: &Request) -> Result<Report, CliError> {
    let shape: [usize; 3] = match tensor.shape.as_slice() {
        [r, c] => [1, *r, *c],
        [ch, r, c] => [*ch, *r, *c],
        other => return Err(CliError::Input { file: file.to_string(), source: InputError::Shape(other.to_vec()) }),
    };
    match &tensor.data {
        input::Data::F32(v) => analysis::analyse(file, v, shape, tensor.dtype, req),
        input::Data::F64(v) => analysis::analyse(file, v, shape, tensor.dtype, req),
    }
    .map_err(|source| CliError::Analysis { file: file.to_string(), source })
}

fn profile(args: &ProfileArgs) -> Result<(), CliError> {
    let block = parse_block(&args.block)?;
    let indices = parse_indices(&args.indices)?;
    let tolerance = args.tol.tolerance();
    tolerance.validate()?;
    let req = Request {
        block,
        measures: vec![Measure::Tolerance(tolerance), Measure::Entropy],
        indices,
        causal_part: args.causal_part,
        tss: args.tss,
    };
    let file = args.file.display().to_string();
    let report = match structured_source(&args.file, args.tensor.as_deref(), &args.source)? {
        Some((op, dtype)) => {
            let req = Request { tss: args.tss.or(op.theoretical_state_size()), ..req };
            analysis::analyse_operator(&file, &*op, dtype, &req)
                .map_err(|source| CliError::Analysis { file: file.clone(), source })?
        }
        None => analyse_tensor(&file, &input::read(&args.file, args.tensor.as_deref())?, &req)?,
    };
    let text = match args.format {
        Format::Table => output::table(&report),
        Format::Csv => output::csv(&report),
        Format::Json => output::json(&report),
    };
    match &args.out {
        Some(path) => std::fs::write(path, text).map_err(|source| CliError::Io {
            path: path.clone(),
            action: IoAction::Write,
            source,
        })?,
        None => print!("{text}"),
    }
    if let Some(path) = &args.plot {
        plot_report(&report, path)?;
    }
    Ok(())
}

/// A realization file or a family's parameters, read as a structured operator;
/// `None` for a dense `T`.
fn structured_source(
    path: &Path,
    tensor: Option<&str>,
    source: &SourceArgs,
) -> Result<Option<(model::Operator, &'static str)>, CliError> {
    if let Some(family) = source.family {
        return model::read_family(path, family, source.len).map(Some);
    }
    if tensor.is_none() && model::is_realization_file(path) {
        return model::read_realization(path).map(Some);
    }
    Ok(None)
}

/// A dense `T` of a file as an f64 operator.
fn dense_source(path: &Path, tensor: Option<&str>, block: BlockShape) -> Result<model::Operator, CliError> {
    let file = path.display().to_string();
    let t = input::read(path, tensor)?;
    let shape: [usize; 3] = match t.shape.as_slice() {
        [r, c] => [1, *r, *c],
        [ch, r, c] => [*ch, *r, *c],
        other => return Err(CliError::Input { file, source: InputError::Shape(other.to_vec()) }),
    };
    let lib = |source| CliError::Analysis { file: file.clone(), source };
    let mats = DenseOperator::matrices_from_row_major(&t.to_f64(), shape[0], shape[1], shape[2]).map_err(lib)?;
    Ok(Box::new(DenseOperator::new(mats, block).map_err(lib)?))
}

fn reduce_command(args: &ReduceArgs) -> Result<(), CliError> {
    use effective_state_size::reduction::ReduceOptions;
    let opts = match (args.order, args.tol_rel, args.tol_abs) {
        (Some(r), _, _) => ReduceOptions::order(r),
        (_, Some(x), _) => ReduceOptions::tolerance(Tolerance::Relative(x)),
        (_, _, Some(x)) => ReduceOptions::tolerance(Tolerance::Absolute(x)),
        _ => {
            return Err(CliError::Args {
                flag: "--order",
                value: String::new(),
                problem: "give the order to keep with --order R, or a tolerance with --tol-rel X or --tol-abs X".into(),
            })
        }
    };
    let block = parse_block(&args.block)?;
    let op = match structured_source(&args.file, args.tensor.as_deref(), &args.source)? {
        Some((op, _)) => op,
        None => dense_source(&args.file, args.tensor.as_deref(), block)?,
    };
    let file = args.file.display().to_string();
    let (report, red) = reduce::run(&file, &*op, opts, args.measure_up_to, &args.out)?;
    match args.format {
        ReduceFormat::Table => print!("{}", reduce::table(&file, &report, &red, &args.out)),
        ReduceFormat::Json => println!("{}", serde_json::to_string_pretty(&report).expect("reports serialise")),
    }
    Ok(())
}

/// One panel per measure: per-channel lines for up to 8 channels, the channel mean
/// with a min–max band beyond that.
fn plot_report(r: &Report, path: &Path) -> Result<(), CliError> {
    let x = &r.indices;
    let panel = |m: &analysis::MeasureReport| {
        let values = &m.values;
        let series = if values.len() <= 8 {
            values
                .iter()
                .enumerate()
                .map(|(c, y)| plot::Series { label: format!("channel {c}"), x: x.clone(), y: y.clone(), band: None })
                .collect()
        } else {
            let n = values.len() as f64;
            let col = |j: usize| values.iter().map(move |v| v[j]);
            let mean = (0..x.len()).map(|j| col(j).sum::<f64>() / n).collect();
            let lo = (0..x.len()).map(|j| col(j).fold(f64::INFINITY, f64::min)).collect();
            let hi = (0..x.len()).map(|j| col(j).fold(f64::NEG_INFINITY, f64::max)).collect();
            vec![plot::Series {
                label: format!("mean of {} channels (band: min–max)", values.len()),
                x: x.clone(),
                y: mean,
                band: Some((lo, hi)),
            }]
        };
        plot::Panel { title: m.title(), y_label: "ESS_i".into(), series, tss: r.tss.map(|t| t as f64) }
    };
    let name = Path::new(&r.file).file_name().map_or(r.file.clone(), |f| f.to_string_lossy().into_owned());
    let panels: Vec<plot::Panel> = r.measures.iter().map(panel).collect();
    plot::draw(path, &format!("ESS profile of {name} (L = {})", r.seq_len), &panels)
}

/// Runs a parsed command line; `main` prints the error as one line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Demo { len, plot, tol } => {
            if len < 2 {
                return Err(CliError::Args {
                    flag: "--len",
                    value: len.to_string(),
                    problem: "the sequence length must be at least 2".into(),
                });
            }
            let tolerance = tol.tolerance();
            tolerance.validate()?;
            let measures = demo::measures(tolerance);
            let rows = demo::run(len, &measures)?;
            print!("{}", demo::table(&rows, &measures));
            if let Some(path) = plot {
                demo::plot(&rows, &measures, &path)?;
                eprintln!("plot written to {}", path.display());
            }
            Ok(())
        }
        Command::Profile(args) => profile(&args),
        Command::Reduce(args) => reduce_command(&args),
    }
}
