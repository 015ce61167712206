//! One module per `flotilla` subcommand: flags (clap derive) and a `run`
//! that returns the exit code; [`git_source`] and [`progress`] are shared
//! by several.

pub mod audit;
pub mod bootstrap;
pub mod git_source;
pub mod preview;
pub mod progress;
pub mod render_args;
pub mod serve;
pub mod snapshot;

use std::process::ExitCode;

/// No drift, nothing to change.
pub const EXIT_OK: u8 = 0;
/// Drift found (audit), changes found (preview, `bootstrap --check`).
pub const EXIT_DRIFT: u8 = 1;
/// Something could not be done.
pub const EXIT_ERROR: u8 = 2;

/// Print `flotilla: <message>` on stderr and return exit status 2.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("flotilla: {message}");
    ExitCode::from(EXIT_ERROR)
}
