//! The desired-state model: what Git declares for one cluster, as the
//! renderer (`flotilla-render`) produces it and the diff reads it. Types
//! only; rendering lives in `flotilla-render`.

use crate::object::group_of;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// The API group of Flux Kustomizations.
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";

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
    /// Secrets sealed by `RenderOptions::sealer` (flotilla-render)).
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
    /// Things that are not errors but limit the audit (e.g. HelmReleases not
    /// rendered, unresolved variables, Kustomizations of other sources).
    pub notes: Vec<String>,
    /// Kustomizations that failed to render; their objects (and the
    /// Kustomizations below them) are missing from `objects`. The caller
    /// reports them; the rest of the render is still valid.
    pub errors: Vec<KustomizationError>,
    /// Per Kustomization, the `${var}` names that had no value and were
    /// substituted with empty strings (Flux's non-strict mode).
    pub unresolved: BTreeMap<KustomizationRef, BTreeSet<String>>,
    /// What Git declares but flotilla did not render, and why: every output
    /// names these, so nothing unseen reads as "no drift".
    pub not_rendered: Vec<NotRendered>,
    /// Objects of Kustomizations that apply to another cluster
    /// (`spec.kubeConfig`), by that cluster's kubeconfig reference: not this
    /// cluster's desired state.
    pub remote: BTreeMap<RemoteCluster, Vec<DesiredObject>>,
}

/// A part of the desired state flotilla did not render.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotRendered {
    /// The Flux Kustomization concerned (`None`: the entry path itself).
    pub kustomization: Option<KustomizationRef>,
    /// Why.
    pub reason: NotRenderedReason,
    /// One line for people: which source, URL, object or key; never a value.
    pub detail: String,
}

/// Why something was not rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotRenderedReason {
    /// The Kustomization reads a source flotilla does not hold.
    ForeignSource,
    /// A required `substituteFrom` ConfigMap or Secret could not be found.
    SubstituteFrom,
    /// A remote base that was not (or could not be) fetched.
    RemoteBase,
    /// A HelmRelease: its chart is not rendered.
    HelmChart,
    /// A flux-operator ResourceSet: its templates are not expanded.
    ResourceSet,
    /// The Kustomization applies to another cluster (`spec.kubeConfig`).
    OtherCluster,
}

impl NotRenderedReason {
    /// The spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            NotRenderedReason::ForeignSource => "foreign-source",
            NotRenderedReason::SubstituteFrom => "substitute-from",
            NotRenderedReason::RemoteBase => "remote-base",
            NotRenderedReason::HelmChart => "helm-chart",
            NotRenderedReason::ResourceSet => "resource-set",
            NotRenderedReason::OtherCluster => "other-cluster",
        }
    }
}

/// The cluster a `spec.kubeConfig` points at: the Secret (or ConfigMap)
/// holding its kubeconfig, `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteCluster {
    /// `Secret` or `ConfigMap`.
    pub kind: String,
    /// Namespace (the Kustomization's).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for RemoteCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A failure of one Flux Kustomization; the rest of the render went on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("kustomization {kustomization}")]
pub struct KustomizationError {
    /// The Kustomization (`None` for an entry path no Kustomization applies).
    pub kustomization: KustomizationLabel,
    /// What went wrong.
    #[source]
    pub source: Arc<dyn std::error::Error + Send + Sync>,
}

/// Display form of an optional Kustomization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KustomizationLabel(pub Option<KustomizationRef>);

impl std::fmt::Display for KustomizationLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(k) => write!(f, "{k}"),
            None => f.write_str("(entry)"),
        }
    }
}

/// Errors compare by Kustomization and message (with its causes), so
/// `Desired` stays comparable.
impl PartialEq for KustomizationError {
    fn eq(&self, other: &Self) -> bool {
        self.kustomization == other.kustomization
            && crate::findings::error_chain(self.source.as_ref())
                == crate::findings::error_chain(other.source.as_ref())
    }
}

/// Whether an object is a Flux Kustomization (any served version).
pub fn is_flux_kustomization(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Kustomization")
        && obj.get("apiVersion").and_then(Value::as_str).map(group_of) == Some(KUSTOMIZE_GROUP)
}

/// `namespace/name` of a Flux Kustomization object (namespace `default`
/// when unset, as Flux reads it).
pub fn reference_of(obj: &Value) -> Option<KustomizationRef> {
    let meta = obj.get("metadata")?;
    Some(KustomizationRef {
        namespace: meta
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned(),
        name: meta.get("name")?.as_str()?.to_owned(),
    })
}
