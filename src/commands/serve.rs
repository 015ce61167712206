//! `flotilla serve`: audit on a schedule, serve metrics, open drift PRs.
//!
//! With `leaderElection.enabled`, the process joins the election on its
//! Lease before anything else (a Lease it cannot reach or create is a
//! start-up error, exit 2), and audits and writes only while it leads.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use flotilla::bot::{Runner, RunnerOptions};
use flotilla_auditor::serve::leader::{self, Leadership};
use flotilla_auditor::serve::{self, CycleRunner, WatchTarget, config::ServeConfig};

use super::{EXIT_ERROR, error_chain, fail, fail_with};

/// Flags of `flotilla serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The service config file (see examples/serve.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Log JSON lines (default: when stderr is not a terminal, as in a Pod).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub json_logs: Option<bool>,
}

/// Run until SIGTERM/SIGINT; 0 after a clean stop, 2 when the config is
/// wrong or the port cannot be bound.
pub async fn run(args: &ServeArgs) -> ExitCode {
    let config = match ServeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return fail_with(&e),
    };
    serve::init_logging(args.json_logs.unwrap_or(!std::io::stderr().is_terminal()));
    let identity = leader::identity();
    let (leadership, election) = if config.leader_election.enabled {
        match Leadership::elect(&config.leader_election, &identity).await {
            Ok((l, e)) => (l, Some(e)),
            Err(e) => return fail_with(&e),
        }
    } else {
        (Leadership::alone(&identity), None)
    };
    let options = RunnerOptions {
        leadership: leadership.clone(),
        ..RunnerOptions::default()
    };
    let runner = match Runner::new(config.clone(), options) {
        Ok(r) => r,
        Err(e) => {
            return fail(&format!("{}: {}", args.config.display(), error_chain(&e)));
        }
    };
    let listener = match serve::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => return fail_with(&e),
    };
    let (trigger, shutdown) = serve::shutdown_channel();
    tokio::spawn(async move {
        if let Err(e) = serve::trigger_on_signal(trigger).await {
            tracing::error!(error = %e, "cannot listen for signals");
        }
    });
    let watches = watch_targets(&config, &runner).await;
    let run = serve::run_elected(
        &config, runner, watches, listener, shutdown, leadership, election,
    );
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = error_chain(&e), "flotilla serve stopped");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// With `watch.enabled`, the types to watch per cluster, found from a first
/// fetch and render (which the first audit then reuses). A failure here
/// only means no watching: the schedule still audits.
async fn watch_targets(config: &ServeConfig, runner: &Runner) -> Vec<WatchTarget> {
    if !config.watch.enabled {
        return Vec::new();
    }
    match runner.fetch().await {
        Ok(fetched) => runner.watch_targets(&fetched.revision).await,
        Err(e) => {
            tracing::warn!(
                error = error_chain(&e),
                "not watching: the first fetch failed"
            );
            Vec::new()
        }
    }
}
