//! Errors of the live side: reaching a cluster, reading it, and reading or
//! writing snapshots. Each variant names what the user needs to act on: the
//! kubeconfig context, the API path, the resource type, the file.

use std::path::PathBuf;

/// Why live state could not be read or recorded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig (or its context) could not be loaded.
    #[error("cannot load kubeconfig{}{}", path_suffix(.path), context_suffix(.context))]
    Kubeconfig {
        /// Explicit kubeconfig file, if one was given.
        path: Option<PathBuf>,
        /// Requested context, if any.
        context: Option<String>,
        /// What kube-rs reported.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither an in-cluster service account nor a default kubeconfig was found.
    #[error(
        "cannot infer cluster configuration (no in-cluster service account, no usable default kubeconfig)"
    )]
    InferConfig(#[source] kube::config::InferConfigError),
    /// The HTTP client could not be built from the configuration.
    #[error("cannot build kubernetes client")]
    Client(#[source] kube::Error),
    /// A discovery document could not be fetched or decoded.
    #[error("discovery request GET {path} failed")]
    Discovery {
        /// API path, e.g. `/apis/apps/v1`.
        path: String,
        /// What kube-rs reported (HTTP status included).
        #[source]
        source: kube::Error,
    },
    /// Aggregated discovery marked a group version the audit needs as stale:
    /// the API server behind it (an aggregated API) did not answer.
    #[error("discovery of {path} is stale (its api server did not answer)")]
    StaleDiscovery {
        /// API path, e.g. `/apis/metrics.k8s.io/v1beta1`.
        path: String,
    },
    /// A paged LIST of one resource type failed.
    #[error("cannot list {resource} ({api_version}, page {page})")]
    List {
        /// `group/version` or `v1`.
        api_version: String,
        /// Plural resource name, e.g. `deployments`.
        resource: String,
        /// 1-based page number that failed.
        page: u32,
        /// What kube-rs reported (HTTP status included).
        #[source]
        source: kube::Error,
    },
    /// A snapshot file or directory could not be read.
    #[error("cannot read snapshot file {}", .path.display())]
    ReadSnapshot {
        /// File or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file is not valid JSON.
    #[error("snapshot file {}:{line}:{column}: invalid json", .path.display())]
    ParseSnapshot {
        /// File.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        #[source]
        source: serde_json::Error,
    },
    /// An item of a `kind: List` file lacks what identifies it.
    #[error("snapshot file {}: item {index}: {reason}", .path.display())]
    SnapshotItem {
        /// File.
        path: PathBuf,
        /// 0-based index in `items`.
        index: usize,
        /// What is wrong, e.g. `missing apiVersion`.
        reason: &'static str,
    },
    /// A snapshot's `flotilla-snapshot.json` is not a valid manifest
    /// (unknown field, wrong type, not JSON).
    #[error("snapshot manifest {}:{line}:{column}: invalid", .path.display())]
    ParseManifest {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest field holds a value flotilla never writes.
    #[error("snapshot manifest {}: field {field}: {reason}", .path.display())]
    ManifestField {
        /// The manifest file.
        path: PathBuf,
        /// The field, e.g. `salt` or `files[3]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A snapshot with its own key was read with another sealer: its
    /// digests could never match desired state sealed with that one.
    #[error(
        "snapshot {}: its secret digests use the snapshot's own key, but it was read with another (sealer {sealer})",
        .dir.display()
    )]
    SealerMismatch {
        /// The snapshot directory.
        dir: PathBuf,
        /// The sealer used (its key id, never the key).
        sealer: String,
    },
    /// `flotilla snapshot --out DIR` will not write there: DIR holds
    /// something flotilla did not record, or a symbolic link.
    #[error("refusing to record into {}: {reason}", .dir.display())]
    RefuseOut {
        /// The output directory.
        dir: PathBuf,
        /// Why, naming the entry in the way.
        reason: String,
    },
    /// A recorded snapshot could not be written.
    #[error("cannot write snapshot file {}", .path.display())]
    WriteSnapshot {
        /// File or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with the live [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn path_suffix(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

fn context_suffix(context: &Option<String>) -> String {
    context
        .as_ref()
        .map(|c| format!(" (context {c})"))
        .unwrap_or_default()
}

impl Error {
    /// The HTTP status code behind a request failure, if the server answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Discovery { source, .. } | Error::List { source, .. } => match source {
                kube::Error::Api(status) => Some(status.code),
                _ => None,
            },
            _ => None,
        }
    }
}
