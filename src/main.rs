//! The `flotilla` binary: parse the command line, dispatch, exit 0/1/2.

use std::process::ExitCode;

use clap::Parser;

mod commands;

/// Bootstrap, audit and keep honest a fleet of Flux-managed AKS clusters.
#[derive(Debug, Parser)]
#[command(name = "flotilla", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Generate the Flux GitOps repository from a fleet spec.
    Bootstrap(commands::bootstrap::BootstrapArgs),
    /// Report where live clusters differ from the GitOps repository.
    Audit(commands::audit::AuditArgs),
    /// Show what a change to the GitOps repository does to each cluster.
    Preview(commands::preview::PreviewArgs),
    /// Record a cluster's live state (read-only) for offline audits.
    Snapshot(commands::snapshot::SnapshotArgs),
    /// Audit continuously, serve metrics and open drift pull requests.
    Serve(commands::serve::ServeArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Bootstrap(args) => commands::bootstrap::run(&args),
        Command::Audit(args) => block_on(commands::audit::run(&args)),
        Command::Preview(args) => block_on(commands::preview::run(&args)),
        Command::Serve(args) => block_on(commands::serve::run(&args)),
        Command::Snapshot(args) => block_on(commands::snapshot::run(&args)),
    }
}

/// Run an async command on a multi-threaded runtime.
fn block_on(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => commands::fail(anyhow::Error::new(e).context("cannot start the async runtime")),
    }
}
