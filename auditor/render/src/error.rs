//! Errors of the desired-state renderer.
//!
//! [`Error`] is what went wrong in one build; `KustomizationError` (flotilla-core) ties it to
//! the Flux Kustomization being rendered. `render` returns `Err` only when the
//! entry path itself cannot be built; a failing Kustomization further down is
//! collected in [`super::Desired::errors`] so the others still render.
//!
//! A message never repeats its cause: the cause is the `#[source]`, and
//! [`flotilla_core::findings::error_chain`] prints `message: cause: cause`.

use super::confine::{Refusal, shown_url};
use super::stage::LinkTarget;
use super::substitute::SubstituteError;
use std::path::PathBuf;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One failure while rendering desired state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The entry path (or a Kustomization's `spec.path`) is not a directory of the repository.
    #[error("path ./{path} not found in the repository")]
    PathNotFound {
        /// Repository root.
        root: PathBuf,
        /// Repository-relative path.
        path: String,
    },
    /// A `spec.path` or component that leaves the repository.
    #[error("path {path} is outside the repository")]
    PathOutsideRepo {
        /// The offending path as written.
        path: String,
    },
    /// The entry path (or a `spec.path`) is, or goes through, a symbolic link.
    #[error(
        "path ./{path} goes through the symbolic link {link}, which {target}; \
         Flux leaves symbolic links out of the source artifact"
    )]
    PathIsLink {
        /// Repository-relative path.
        path: String,
        /// The link, repository-relative.
        link: String,
        /// Where it leads, in repository terms.
        target: LinkTarget,
    },
    /// kustomize would read outside the repository, run a plugin or inflate
    /// a Helm chart; it was not run.
    #[error("refused")]
    Refused(#[from] Refusal),
    /// A remote base (a URL or kustomize remote spec): the Kustomization is
    /// not rendered. Its objects are neither missing nor unmanaged.
    #[error("not rendered: remote base {} in {file} {reason}", shown_url(url))]
    RemoteBase {
        /// The kustomization file naming it, repository-relative.
        file: String,
        /// The base as written (shown without credentials).
        url: String,
        /// Why it was not rendered.
        reason: RemoteReason,
    },
    /// Neither `kustomize` nor `kubectl` could be started.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `kustomize build` exited non-zero.
    #[error("kustomize build {path} failed: {stderr}")]
    Kustomize {
        /// The directory built (repository-relative).
        path: String,
        /// What kustomize's standard error may show: the kind of failure
        /// and the paths it names, never file content (see
        /// [`super::failure`]).
        stderr: String,
    },
    /// Reading or writing a file.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A YAML file (kustomization or manifest) that does not parse.
    #[error("{file}: invalid yaml: {message}")]
    Yaml {
        /// The file (repository-relative), or the build whose output it was.
        file: String,
        /// Parser message.
        message: String,
    },
    /// A field of a Flux Kustomization that cannot be used.
    #[error("field {field}: {message}")]
    Spec {
        /// Dotted field path, e.g. `spec.postBuild.substituteFrom[0].kind`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A non-optional `substituteFrom` source that the repository does not define.
    #[error(
        "substitute from '{kind}/{name}' in namespace {namespace}: not found in the desired objects"
    )]
    SubstituteFromNotFound {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Namespace (the Kustomization's).
        namespace: String,
        /// Name.
        name: String,
    },
    /// Strict substitution (Flux's `StrictPostBuildSubstitutions`) found
    /// variables without a value.
    #[error("variables not set (strict substitution): {names}")]
    UnresolvedVariables {
        /// Names, comma-separated.
        names: String,
    },
    /// Git's text holds one of the characters flotilla reserves for values
    /// from Secrets and unknown values (U+F8F0–U+F8F2): it could forge a
    /// masked or "not compared" field and hide a change from review.
    #[error("{file}: holds a character reserved by flotilla (U+F8F0..U+F8F2)")]
    Reserved {
        /// Where.
        file: String,
    },
    /// A value from a Secret, or an unknown one, lands where it cannot be
    /// compared or masked.
    #[error("{object}")]
    Taint {
        /// `Kind namespace/name`.
        object: String,
        /// Where.
        #[source]
        source: super::taint::TaintError,
    },
    /// A SOPS-encrypted object that cannot be decrypted for a reason other
    /// than a missing key (malformed, tampered).
    #[error("{object}: sops")]
    Sops {
        /// `Kind namespace/name`.
        object: String,
        /// Why (never a value).
        #[source]
        source: super::sops::SopsError,
    },
    /// Substitution failed on one object.
    #[error("variable substitution in {object} failed")]
    Substitute {
        /// `Kind namespace/name` of the object.
        object: String,
        /// Why.
        #[source]
        source: SubstituteError,
    },
}

/// Why a remote base was not rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteReason {
    /// Remote bases are off (the default).
    Off,
    /// Remote bases are allowed, but fetching it failed.
    Unreachable,
}

impl std::fmt::Display for RemoteReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RemoteReason::Off => {
                "is not fetched: remote bases are off (--allow-remote-bases, or repo.allowRemoteBases \
                 for flotilla serve, enables them)"
            }
            RemoteReason::Unreachable => "could not be fetched",
        })
    }
}
