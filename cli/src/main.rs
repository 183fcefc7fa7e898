//! The `ess` command (under construction).

fn main() {
    eprintln!("ess: not yet implemented");
    std::process::exit(2);
}
