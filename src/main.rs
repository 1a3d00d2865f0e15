//! The `flowpolicy` binary: parses the command line and reports errors.
//! Exit codes: 0 success, 1 a verification found drops, 2 bad input or failure.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flowpolicy::cli::Cli::parse();
    match flowpolicy::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
