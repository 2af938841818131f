//! The `quiver` command-line tool. See `quiver --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = quiver::cli::Cli::parse();
    match quiver::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
