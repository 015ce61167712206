//! Desired state: what a Flux repository says a cluster should run.
//!
//! Walks the Flux `Kustomization` objects reachable from a cluster's entry
//! path the way kustomize-controller would, builds each with kustomize (a
//! process), applies `postBuild` substitution, and tags every object with the
//! Kustomization that owns it.

use serde_json::Value;
use std::fmt;

/// A Flux Kustomization, `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KustomizationRef {
    /// Namespace (usually `flux-system`).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for KustomizationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One object Git declares for the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    /// The object as Flux would apply it (after kustomize and substitution;
    /// Secrets sealed by [`crate::secret::seal_secret`]).
    pub object: Value,
    /// The Flux Kustomization that applies it (`None` for the entry path
    /// itself when it is not applied by any Kustomization in the repo).
    pub kustomization: Option<KustomizationRef>,
}

/// Everything Git declares for one cluster at one revision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    /// Flux-style revision, `main@sha1:<hex>`, or `sha1:<hex>` when detached.
    pub revision: Option<String>,
    /// Desired objects, in render order.
    pub objects: Vec<DesiredObject>,
    /// Things that are not errors but limit the audit (e.g. HelmReleases not rendered).
    pub notes: Vec<String>,
}
