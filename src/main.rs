//! The `medic` binary: parse arguments, run, and map errors to exit codes in one place.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match medic::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match medic::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The last gate: an error may quote what a server or the Discord API said.
            eprintln!("medic: {}", medic::redact::process().redact(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
