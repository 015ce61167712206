//! `flotilla snapshot`: record a cluster's live state into a directory that
//! `flotilla audit --snapshot` (and the test replay server) can read.

use flotilla_auditor::live::{RecordSummary, client_for, record_snapshot};
use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_OK, fail};

/// Record a cluster's live state (read-only: discovery and one LIST per type).
///
/// Writes `<out>/discovery/*.json` and `<out>/objects/<group>_<version>_<resource>.json`
/// (kubectl `List` format), replacing both directories. Secret values are never
/// written: a snapshot holds their digests, so it shows a changed Secret as drift
/// but cannot restore one.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// kubeconfig context to record (default: the current context, or in-cluster config).
    #[arg(long)]
    pub context: Option<String>,

    /// kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// Snapshot directory to write (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// Record, print a one-line summary on stderr, exit 0; exit 2 on any error.
pub async fn run(args: &SnapshotArgs) -> ExitCode {
    let client = match client_for(args.context.as_deref(), args.kubeconfig.as_deref()).await {
        Ok(client) => client,
        Err(e) => return fail(&with_causes(&e)),
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        return fail(&format!("cannot create {}: {e}", args.out.display()));
    }
    match record_snapshot(client, &args.out, None).await {
        Ok(summary) => {
            eprintln!("flotilla: {}", describe(&summary, &args.out));
            ExitCode::from(EXIT_OK)
        }
        Err(e) => fail(&with_causes(&e)),
    }
}

fn describe(summary: &RecordSummary, out: &std::path::Path) -> String {
    format!(
        "recorded {} objects in {} lists and {} discovery documents into {} ({} api requests; {} secrets stored as digests)",
        summary.objects,
        summary.lists,
        summary.discovery_documents,
        out.display(),
        summary.requests,
        summary.sealed_secrets,
    )
}

/// `error: cause: cause`, as the other commands print.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
