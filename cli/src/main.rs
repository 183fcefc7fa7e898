//! `ess`: effective state-size profiles from the command line.
//!
//! * `ess demo [--len L] [--plot FILE.svg]`: one seeded operator of every family.
//! * `ess profile FILE [...]`: ESS of a dense operator stored in `.npy` or
//!   `.safetensors`, as a table, CSV or JSON, optionally plotted; also a
//!   realization file (`A`, `B`, `C`, `D`) or a family's parameters (`--family`).
//! * `ess reduce FILE (--order R | --tol-rel X | --tol-abs X) --out OUT.safetensors`:
//!   a small recurrence reproducing the operator, with a certified error.
//!
//! Errors ([`ess_cli::CliError`]) print one line `ess: <message>`, naming the
//! problem and the file when a file is at fault, and exit with status 2.

use clap::Parser;

fn main() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("ess: internal error (please report): {info}");
        std::process::exit(2);
    }));
    let cli = ess_cli::Cli::parse();
    if let Err(err) = ess_cli::run(cli) {
        eprintln!("ess: {err}");
        std::process::exit(2);
    }
}
