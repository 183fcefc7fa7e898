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

use analysis::{Markers, MultiReport, Report, Request};
use clap::{Args, Parser, Subcommand, ValueEnum};
use effective_state_size::ess::{Indices, Measure, Method, Tolerance};
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
    Profile(Box<ProfileArgs>),
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

/// `--method`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum MethodArg {
    Auto,
    Dense,
    Structured,
    Lowrank,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Auto => Method::Auto,
            MethodArg::Dense => Method::Dense,
            MethodArg::Structured => Method::Structured,
            MethodArg::Lowrank => Method::LowRank,
        }
    }
}

#[derive(Args)]
struct ProfileArgs {
    /// Input file: .npy of shape (L, L), (C, L, L), (C, pL, mL) with --block, or a
    /// batch (B, C, pL, mL); or .safetensors.
    file: PathBuf,
    /// Tensor of a .safetensors file; repeat it, or use * wildcards
    /// ('layers.*.attn'), to profile several tensors (one report per tensor).
    #[arg(long, value_name = "NAME")]
    tensor: Vec<String>,
    /// Block shape p,m (outputs, inputs per step).
    #[arg(long, value_name = "P,M", default_value = "1,1")]
    block: String,
    #[command(flatten)]
    tol: TolArgs,
    /// Indices i to evaluate: all, stride:K, or a list i,j,k (0-based, 1 ≤ i ≤ L-1).
    #[arg(long, default_value = "all")]
    indices: String,
    /// Marker (delimiter) token positions t, 0-based, 1 ≤ t ≤ L-2: report
    /// Δ = ESS after − ESS before at each, a baseline over the other positions
    /// and a z-score. Every index is evaluated.
    #[arg(long, value_name = "T1,T2,…")]
    mark: Option<String>,
    /// Window w of --mark (default 1): after = mean ESS at i in [t+1, t+w],
    /// before = mean at i in [t-w+1, t].
    #[arg(long, value_name = "W")]
    mark_window: Option<usize>,
    /// Tolerance sweep, relative thresholds: mean and max tolerance-ESS at each τ,
    /// from the same sweep of singular values.
    #[arg(long, value_name = "τ1,τ2,…", allow_negative_numbers = true)]
    sweep: Option<String>,
    /// Tolerance sweep with absolute thresholds (after the relative ones).
    #[arg(long, value_name = "τ1,τ2,…", allow_negative_numbers = true)]
    sweep_abs: Option<String>,
    /// Take the causal (block lower-triangular) part of a non-causal matrix on purpose.
    #[arg(long)]
    causal_part: bool,
    /// Algorithm: auto (the planner decides), dense, structured, or lowrank
    /// (certified low-rank approximations for long operators: every value gets a
    /// guaranteed interval, reported as <measure>_ess_lower/_upper and, for
    /// tolerance, <name>_ambiguous in JSON).
    #[arg(long, value_enum, default_value = "auto")]
    method: MethodArg,
    /// With --method lowrank: the relative width (upper − lower)/lower that
    /// entropy intervals are refined to (default 1e-2).
    #[arg(long, value_name = "W")]
    interval_width: Option<f64>,
    /// With --method lowrank: the largest approximation rank tried per block; a
    /// block that needs more keeps its wider, still guaranteed, interval.
    #[arg(long, value_name = "K")]
    max_rank: Option<usize>,
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

/// `--mark 11,28,47`: positions, each once.
fn parse_marks(s: &str) -> Result<Vec<usize>, CliError> {
    let bad = |problem: String| CliError::Args { flag: "--mark", value: s.to_string(), problem };
    let v = s
        .split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("expected a comma-separated list of token positions (integers ≥ 1)".into()))?;
    if let Some((k, t)) = v.iter().enumerate().find(|(k, t)| v[..*k].contains(t)) {
        return Err(bad(format!("position {t} is given twice (entry {k})")));
    }
    Ok(v)
}

/// `--sweep 1e-1,1e-2` (or `--sweep-abs`): thresholds, each valid.
fn parse_sweep(flag: &'static str, s: &str, make: fn(f64) -> Tolerance) -> Result<Vec<Tolerance>, CliError> {
    let bad = |problem: String| CliError::Args { flag, value: s.to_string(), problem };
    if s.trim().is_empty() {
        return Err(bad("the sweep is empty: give at least one tolerance, e.g. 1e-1,1e-2,1e-3".into()));
    }
    s.split(',')
        .map(|x| {
            let v: f64 = x.trim().parse().map_err(|_| bad(format!("{x:?} is not a number")))?;
            let t = make(v);
            t.validate().map_err(|e| bad(e.to_string()))?;
            Ok(t)
        })
        .collect()
}

/// Computes the report of a tensor read from `file`: `(L, L)` is one channel,
/// `(C, pL, mL)` is `C` channels with blocks `p × m`, and `(B, C, pL, mL)` a batch
/// of `B` inputs of such a layer. Errors name the file.
pub fn analyse_tensor(file: &str, tensor: &input::Tensor, req: &Request) -> Result<Report, CliError> {
    let (shape, is_batch): ([usize; 4], bool) = match tensor.shape.as_slice() {
        [r, c] => ([1, 1, *r, *c], false),
        [ch, r, c] => ([1, *ch, *r, *c], false),
        [b, ch, r, c] => ([*b, *ch, *r, *c], true),
        other => return Err(CliError::Input { file: file.to_string(), source: InputError::Shape(other.to_vec()) }),
    };
    match &tensor.data {
        input::Data::F32(v) => analysis::analyse_batch(file, v, shape, is_batch, tensor.dtype, req),
        input::Data::F64(v) => analysis::analyse_batch(file, v, shape, is_batch, tensor.dtype, req),
    }
    .map_err(|source| CliError::Analysis { file: file.to_string(), source })
}

fn profile(args: &ProfileArgs) -> Result<(), CliError> {
    let block = parse_block(&args.block)?;
    let indices = parse_indices(&args.indices)?;
    let tolerance = args.tol.tolerance();
    tolerance.validate()?;
    let markers = match (&args.mark, args.mark_window) {
        (None, None) => None,
        (None, Some(w)) => {
            return Err(CliError::Args {
                flag: "--mark-window",
                value: w.to_string(),
                problem: "a window needs marker positions: add --mark T1,T2,…".into(),
            })
        }
        (Some(_), Some(0)) => {
            return Err(CliError::Args {
                flag: "--mark-window",
                value: "0".into(),
                problem: "the window must be at least 1".into(),
            })
        }
        (Some(s), w) => Some(Markers { positions: parse_marks(s)?, window: w.unwrap_or(1) }),
    };
    let mut sweep = Vec::new();
    if let Some(s) = &args.sweep {
        sweep.extend(parse_sweep("--sweep", s, Tolerance::Relative)?);
    }
    if let Some(s) = &args.sweep_abs {
        sweep.extend(parse_sweep("--sweep-abs", s, Tolerance::Absolute)?);
    }
    if !matches!(args.method, MethodArg::Lowrank) {
        let given = args
            .interval_width
            .map(|w| ("--interval-width", w.to_string()))
            .or(args.max_rank.map(|k| ("--max-rank", k.to_string())));
        if let Some((flag, value)) = given {
            return Err(CliError::Args {
                flag,
                value,
                problem:
                    "only --method lowrank uses it (the other methods are exact): add --method lowrank or drop the flag"
                        .into(),
            });
        }
    }
    let req = Request {
        block,
        measures: vec![Measure::Tolerance(tolerance), Measure::Entropy],
        indices,
        causal_part: args.causal_part,
        tss: args.tss,
        markers,
        sweep,
        method: args.method.into(),
        interval_width: args.interval_width,
        max_rank: args.max_rank,
    };
    let file = args.file.display().to_string();
    let output = if let Some((op, dtype)) = structured_source(&args.file, &args.tensor, &args.source)? {
        let req = Request { tss: args.tss.or(op.theoretical_state_size()), ..req };
        let report = analysis::analyse_operator(&file, &*op, dtype, &req)
            .map_err(|source| CliError::Analysis { file: file.clone(), source })?;
        Output::One(Box::new(report))
    } else {
        let tensors = input::read_many(&args.file, &args.tensor)?;
        let mut reports = Vec::with_capacity(tensors.len());
        for (name, tensor) in &tensors {
            let report = analyse_tensor(&file, tensor, &req).map_err(|e| match (e, tensors.len() > 1, name) {
                (CliError::Analysis { file, source }, true, Some(n)) => {
                    CliError::Analysis { file: format!("{file} (tensor {n})"), source }
                }
                (e, _, _) => e,
            })?;
            reports.push(report);
        }
        if reports.len() > 1 {
            for (r, (name, _)) in reports.iter_mut().zip(&tensors) {
                r.tensor = name.clone();
            }
            Output::Many(MultiReport { reports })
        } else {
            Output::One(Box::new(reports.remove(0)))
        }
    };
    let text = match (&output, args.format) {
        (Output::Many(m), Format::Table) => output::multi_table(m),
        (Output::Many(m), Format::Csv) => output::multi_csv(m),
        (Output::Many(m), Format::Json) => output::multi_json(m),
        (Output::One(r), Format::Table) => output::table(r),
        (Output::One(r), Format::Csv) => output::csv(r),
        (Output::One(r), Format::Json) => output::json(r),
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
        match &output {
            Output::Many(m) => plot_multi(m, path)?,
            Output::One(r) => plot_report(r, path)?,
        }
    }
    Ok(())
}

/// The report of one tensor, or of several.
enum Output {
    One(Box<Report>),
    Many(MultiReport),
}

/// A realization file or a family's parameters, read as a structured operator;
/// `None` for a dense `T`.
fn structured_source(
    path: &Path,
    tensors: &[String],
    source: &SourceArgs,
) -> Result<Option<(model::Operator, &'static str)>, CliError> {
    if let Some(family) = source.family {
        return model::read_family(path, family, source.len).map(Some);
    }
    if tensors.is_empty() && model::is_realization_file(path) {
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
    let tensors: Vec<String> = args.tensor.iter().cloned().collect();
    let op = match structured_source(&args.file, &tensors, &args.source)? {
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
        let y_label = if r.batch.is_some() { "ESS_i (mean over the batch)" } else { "ESS_i" };
        let mut p = plot::Panel::profiles(m.title(), y_label.into(), series, r.tss.map(|t| t as f64));
        p.markers = r.markers.as_ref().map(|mk| mk.positions.clone()).unwrap_or_default();
        p
    };
    let name = Path::new(&r.file).file_name().map_or(r.file.clone(), |f| f.to_string_lossy().into_owned());
    let panels: Vec<plot::Panel> = r.measures.iter().map(panel).collect();
    let sweeps: Vec<plot::SweepPanel> = ["relative", "absolute"]
        .into_iter()
        .filter_map(|mode| {
            let points: Vec<&effective_state_size::ess::SweepPoint> =
                r.sweep.iter().filter(|p| p.tolerance.mode_name() == mode).collect();
            (!points.is_empty()).then(|| plot::SweepPanel {
                title: format!("tolerance sweep ({mode})"),
                x_label: format!("{mode} τ (log scale)"),
                tau: points.iter().filter_map(|p| p.tolerance.value()).collect(),
                mean: points.iter().map(|p| p.mean).collect(),
                max: points.iter().map(|p| p.max).collect(),
            })
        })
        .collect();
    let batch = r.batch.map_or(String::new(), |b| format!(", mean over a batch of {b}"));
    plot::draw(path, &format!("ESS profile of {name} (L = {}{batch})", r.seq_len), &panels, &sweeps)
}

/// One panel per measure: mean and max ESS of each tensor, against the tensor's
/// number (the order of the table); the legend names the tensors.
fn plot_multi(m: &MultiReport, path: &Path) -> Result<(), CliError> {
    let x: Vec<usize> = (0..m.reports.len()).collect();
    let measures = &m.reports[0].measures;
    let panels: Vec<plot::Panel> = (0..measures.len())
        .map(|k| {
            let pick = |f: &dyn Fn(&analysis::MeasureSummary) -> f64| {
                m.reports.iter().map(|r| f(&r.measures[k].summary)).collect::<Vec<f64>>()
            };
            let series = vec![
                plot::Series { label: "mean ESS of the tensor".into(), x: x.clone(), y: pick(&|s| s.mean), band: None },
                plot::Series { label: "max ESS of the tensor".into(), x: x.clone(), y: pick(&|s| s.max), band: None },
            ];
            let mut p =
                plot::Panel::profiles(format!("{} per tensor", measures[k].title()), "ESS".into(), series, None);
            p.x_label = Some("tensor (layer) number, see the legend".into());
            p
        })
        .collect();
    let mut panels = panels;
    // The legend column lists the tensors under the two series.
    if let Some(first) = panels.first_mut() {
        first.notes =
            m.reports.iter().enumerate().map(|(k, r)| format!("{k}: {}", r.tensor.as_deref().unwrap_or("?"))).collect();
    }
    let name = Path::new(&m.reports[0].file)
        .file_name()
        .map_or(m.reports[0].file.clone(), |f| f.to_string_lossy().into_owned());
    plot::draw(path, &format!("ESS per tensor of {name} ({} tensors)", m.reports.len()), &panels, &[])
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
