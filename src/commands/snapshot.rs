//! `flotilla snapshot`: record a cluster's live state into a directory that
//! `flotilla audit --snapshot` (and the test replay server) can read.

use flotilla_live::{RecordOptions, RecordSummary, SecretValues, client_for, record_snapshot};
use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_OK, fail};

/// Record a cluster's live state (read-only: discovery and one LIST per type).
///
/// Writes `<out>/discovery/*.json`, `<out>/objects/<group>_<version>_<resource>.json`
/// (kubectl `List` format) and `<out>/flotilla-snapshot.json`, the manifest naming
/// every file written. `<out>` must be empty or an earlier flotilla snapshot: only
/// the files its manifest lists are replaced or deleted, anything else is kept,
/// and any other non-empty folder is refused. Secret values are never written in
/// the clear: by default as keyed digests (HMAC-SHA256 with a random key per
/// snapshot, kept in the manifest), so a changed Secret still shows as drift but
/// cannot be restored; whoever holds the snapshot can still test a guessed value.
/// `--secret-values omit` records key names only.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// kubeconfig context to record (default: the current context, or in-cluster config).
    #[arg(long)]
    pub context: Option<String>,

    /// kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// Snapshot directory to write (created if missing): empty, or an earlier flotilla snapshot.
    #[arg(long)]
    pub out: PathBuf,

    /// How Secret values are recorded: `digest` (keyed digests: a changed value shows as
    /// drift) or `omit` (key names only: values are not compared, nothing to guess against).
    #[arg(long, value_enum, default_value_t = SecretValuesArg::Digest)]
    pub secret_values: SecretValuesArg,
}

/// `--secret-values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretValuesArg {
    /// Keyed digests (HMAC-SHA256, a random key per snapshot).
    Digest,
    /// Key names only.
    Omit,
}

impl From<SecretValuesArg> for SecretValues {
    fn from(arg: SecretValuesArg) -> SecretValues {
        match arg {
            SecretValuesArg::Digest => SecretValues::Digest,
            SecretValuesArg::Omit => SecretValues::Omit,
        }
    }
}

/// Record, print a one-line summary on stderr, exit 0; exit 2 on any error.
pub async fn run(args: &SnapshotArgs) -> ExitCode {
    let client = match client_for(args.context.as_deref(), args.kubeconfig.as_deref()).await {
        Ok(client) => client,
        Err(e) => return fail(e.into()),
    };
    let options = RecordOptions {
        secret_values: args.secret_values.into(),
        ..RecordOptions::default()
    };
    match record_snapshot(client, &args.out, &options).await {
        Ok(summary) => {
            eprintln!(
                "flotilla: {}",
                describe(&summary, &args.out, options.secret_values)
            );
            ExitCode::from(EXIT_OK)
        }
        Err(e) => fail(e.into()),
    }
}

fn describe(summary: &RecordSummary, out: &std::path::Path, values: SecretValues) -> String {
    let secrets = match values {
        SecretValues::Digest => "values stored as keyed digests",
        SecretValues::Omit => "key names only",
    };
    format!(
        "recorded {} objects in {} lists and {} discovery documents into {} ({} api requests; {} secrets, {secrets}; {} files of the previous recording removed)",
        summary.objects,
        summary.lists,
        summary.discovery_documents,
        out.display(),
        summary.requests,
        summary.sealed_secrets,
        summary.removed,
    )
}
