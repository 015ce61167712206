//! Errors of the live side: reaching a cluster, reading it, and reading or
//! writing snapshots. Each variant names what the user needs to act on: the
//! kubeconfig context, the API path, the resource type, the file.
//!
//! No message repeats its cause: the cause is the `#[source]`, printed once
//! by [`flotilla_core::findings::error_chain`]. kube-rs's own errors do repeat
//! theirs (`HyperError: {0}` with the same error as `source()`, and an API
//! error prints its `Status` twice, `ApiError: {0} ({0:?})`, see
//! kube-rs/kube `kube-client/src/error.rs`), so they reach the chain
//! through [`KubeError`], which prints what kube-rs adds once and hands on
//! only the causes it did not print.

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
        source: KubeError,
    },
    /// Neither an in-cluster service account nor a default kubeconfig was found.
    #[error(
        "cannot infer cluster configuration (no in-cluster service account, no usable default kubeconfig)"
    )]
    InferConfig(#[source] KubeError),
    /// The HTTP client could not be built from the configuration.
    #[error("cannot build kubernetes client")]
    Client(#[source] KubeError),
    /// A discovery document could not be fetched or decoded.
    #[error("discovery request GET {path} failed")]
    Discovery {
        /// API path, e.g. `/apis/apps/v1`.
        path: String,
        /// What kube-rs reported (HTTP status included).
        #[source]
        source: KubeError,
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
        source: KubeError,
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
            Error::Discovery { source, .. } | Error::List { source, .. } => source.http_status(),
            _ => None,
        }
    }

    /// Whether a request got no HTTP answer at all (connection refused or
    /// reset, DNS, TLS, timeout): the API server is unreachable. An answer
    /// that could not be decoded is not this.
    pub fn is_no_answer(&self) -> bool {
        match self {
            Error::Discovery { source, .. } | Error::List { source, .. } => source.is_transport(),
            _ => false,
        }
    }
}

/// A kube-rs error as one link of the cause chain (see the module doc).
///
/// - An API error (the server answered) prints the HTTP status and the
///   server's `Status` reason and message, e.g. `401 Unauthorized`; the
///   chain ends there.
/// - A transport error (`HyperError`, `ServiceError`) drops kube-rs's prefix
///   and hands on hyper's chain, down to the operating system's error
///   (`client error (Connect): tcp connect error: Connection refused (os
///   error 111)`).
/// - A failed auth exec plugin prints the command and its exit status,
///   never its output (kube-rs's message would show the plugin's standard
///   output and error, where credentials live).
/// - Any other error prints kube-rs's message; the causes that message
///   already holds are skipped.
#[derive(Debug)]
pub struct KubeError {
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
    message: String,
    status: Option<u16>,
    /// Whether the causes under `error` are left out (all printed, or none
    /// safe to print).
    ends_chain: bool,
}

impl KubeError {
    /// The HTTP status the API server answered with, if it answered.
    pub fn http_status(&self) -> Option<u16> {
        self.status
    }

    /// Whether the request got no HTTP answer (kube-rs's `HyperError` or
    /// `ServiceError`: connecting, TLS, the connection, a timeout).
    pub fn is_transport(&self) -> bool {
        self.error
            .downcast_ref::<kube::Error>()
            .is_some_and(|e| matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_)))
    }

    /// Another crate's error that, like kube-rs's, repeats its causes in
    /// its message: printed as it is, followed by the causes it left out.
    pub fn foreign(error: impl std::error::Error + Send + Sync + 'static) -> KubeError {
        KubeError {
            message: error.to_string(),
            error: Box::new(error),
            status: None,
            ends_chain: false,
        }
    }
}

impl From<kube::Error> for KubeError {
    fn from(error: kube::Error) -> KubeError {
        let (message, status, ends_chain) = match &error {
            kube::Error::Api(s) => {
                let mut message = format!("api server answered {}", s.code);
                if !s.reason.is_empty() {
                    message.push(' ');
                    message.push_str(&s.reason);
                }
                if !s.message.is_empty() && s.message != s.reason {
                    message.push_str(": ");
                    message.push_str(&s.message);
                }
                (message, Some(s.code), true)
            }
            kube::Error::HyperError(e) => (e.to_string(), None, false),
            kube::Error::Service(e) => (e.to_string(), None, false),
            kube::Error::Auth(kube::client::AuthError::AuthExecRun { cmd, out, .. }) => (
                format!("auth exec command '{cmd}' failed with {}", out.status),
                None,
                true,
            ),
            other => (other.to_string(), None, false),
        };
        KubeError {
            error: Box::new(error),
            message,
            status,
            ends_chain,
        }
    }
}

impl From<kube::config::KubeconfigError> for KubeError {
    fn from(error: kube::config::KubeconfigError) -> KubeError {
        KubeError::foreign(error)
    }
}

impl From<kube::config::InferConfigError> for KubeError {
    fn from(error: kube::config::InferConfigError) -> KubeError {
        KubeError::foreign(error)
    }
}

impl std::fmt::Display for KubeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KubeError {
    /// The first cause under the kube-rs error whose text this link did
    /// not print already.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        if self.ends_chain {
            return None;
        }
        let mut cause = self.error.source();
        while let Some(c) = cause {
            if !self.message.contains(&c.to_string()) {
                return Some(c);
            }
            cause = c.source();
        }
        None
    }
}
