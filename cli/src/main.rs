//! `ess`: effective state-size profiles from the command line.
//!
//! * `ess demo [--len L] [--plot FILE.svg]`: one seeded operator of every family.
//! * `ess profile FILE [...]`: ESS of a dense operator stored in `.npy` or
//!   `.safetensors`, as a table, CSV or JSON, optionally plotted.
//!
//! Errors print one line naming the file and the problem and exit with status 2.

use clap::Parser;

fn main() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("ess: internal error (please report): {info}");
        std::process::exit(2);
    }));
    let cli = ess_cli::Cli::parse();
    if let Err(message) = ess_cli::run(cli) {
        eprintln!("ess: {message}");
        std::process::exit(2);
    }
}
