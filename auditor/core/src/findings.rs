//! What the diff finds, and the JSON report contract built from it.
//!
//! These types *are* the `--output json` format (see the README, "Audit
//! report"). Changing a field name is a breaking change: bump
//! [`REPORT_VERSION`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An error and its causes on one line, `message: cause: cause`: how every
/// error reaches a user (the reports' `errors`, the CLI's stderr, the
/// service's logs and fleet page). Each error's message leaves its cause
/// out, so this walk prints every cause exactly once; it is the format
/// `anyhow` prints with `{:#}`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Version of the JSON report format.
pub const REPORT_VERSION: u32 = 1;

/// A whole audit run: one entry per cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Format version, [`REPORT_VERSION`].
    pub version: u32,
    /// Clusters in the order they were given.
    pub clusters: Vec<ClusterReport>,
}

impl Report {
    /// Whether any cluster has a finding.
    pub fn has_drift(&self) -> bool {
        self.clusters.iter().any(|c| !c.findings.is_empty())
    }

    /// Whether any cluster failed to audit.
    pub fn has_errors(&self) -> bool {
        self.clusters.iter().any(|c| !c.errors.is_empty())
    }
}

/// The audit of one cluster.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ClusterReport {
    /// Cluster name.
    pub cluster: String,
    /// Git revision audited, Flux style: `main@sha1:<hex>` (or `sha1:<hex>`).
    pub revision: Option<String>,
    /// Findings, sorted by class, kind, namespace, name.
    pub findings: Vec<Finding>,
    /// Errors that stopped (part of) this cluster's audit, each with its
    /// causes as [`error_chain`] prints them.
    pub errors: Vec<String>,
    /// Things the reader should know that are not drift (e.g. HelmReleases
    /// compared as objects, charts not rendered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What Git declares that flotilla did not render, per Kustomization,
    /// and why: no finding can be said about it, either way.
    #[serde(default, rename = "notRendered", skip_serializing_if = "Vec::is_empty")]
    pub not_rendered: Vec<NotRendered>,
    /// Desired values flotilla cannot know (a Secret it may not read, SOPS
    /// without a key, a snapshot without Secret values): not compared.
    #[serde(
        default,
        rename = "notCompared",
        skip_serializing_if = "NotCompared::is_empty"
    )]
    pub not_compared: NotCompared,
}

/// A part of the desired state that was not rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NotRendered {
    /// The Flux Kustomization concerned, `namespace/name` (`null`: the entry path).
    pub kustomization: Option<String>,
    /// `foreign-source`, `substitute-from`, `remote-base`, `helm-chart`,
    /// `resource-set` or `other-cluster`.
    pub reason: String,
    /// One line for people (source, URL, object; never a value).
    pub detail: String,
    /// Live objects carrying this Kustomization's owner labels (what it
    /// applied, unseen by flotilla); `null` when live state was not read.
    #[serde(
        rename = "liveObjects",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub live_objects: Option<usize>,
}

/// Counts of desired values that were not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct NotCompared {
    /// Fields whose desired value is unknown.
    pub fields: usize,
    /// Objects holding at least one such field.
    pub objects: usize,
}

impl NotCompared {
    /// Whether nothing was left uncompared.
    pub fn is_empty(&self) -> bool {
        self.fields == 0
    }
}

/// The class of a finding.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FindingClass {
    /// A field Git sets has another value live.
    Modified,
    /// A desired object does not exist live.
    Missing,
    /// A live object in a governed namespace that nothing in Git accounts for.
    Unmanaged,
    /// A Flux object whose `Ready` condition is not `True`.
    FluxUnhealthy,
    /// A Flux object with `spec.suspend: true`.
    FluxSuspended,
    /// A Flux object whose applied revision is behind the audited commit.
    FluxStale,
}

impl FindingClass {
    /// The spelling in reports (`modified`, `flux-unhealthy`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingClass::Modified => "modified",
            FindingClass::Missing => "missing",
            FindingClass::Unmanaged => "unmanaged",
            FindingClass::FluxUnhealthy => "flux-unhealthy",
            FindingClass::FluxSuspended => "flux-suspended",
            FindingClass::FluxStale => "flux-stale",
        }
    }
}

/// One finding about one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// What kind of difference.
    pub class: FindingClass,
    /// API version of the object (desired side where there is one).
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; `null` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Flux Kustomization that owns the object, `namespace/name`; `null` for unmanaged objects.
    pub kustomization: Option<String>,
    /// Changed fields (`modified` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<FieldChange>,
    /// Field manager that created the object (`unmanaged` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// The failing condition (`flux-unhealthy`), or the revisions (`flux-stale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// Whether the next Flux reconciliation undoes it (`missing` and
    /// `unmanaged`; for `modified` see each [`FieldChange::reverts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<Reverts>,
}

/// One changed field of a `modified` finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// RFC 6901 JSON pointer into the live object (list indices are live indices).
    pub path: String,
    /// The same field with list items named, e.g. `spec.template.spec.containers[name=kured].image`.
    pub field: String,
    /// Value Git sets; `"***"` for secret data; `null` if Git removes an item.
    pub desired: Option<Value>,
    /// Live value; `"***"` for secret data; `null` if absent live.
    pub live: Option<Value>,
    /// Field manager that owns the live value (who changed it).
    pub manager: Option<String>,
    /// When that manager last wrote it (RFC 3339).
    pub time: Option<String>,
    /// `true` when the values are secret and masked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// Whether the next Flux reconciliation undoes this change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<Reverts>,
}

/// Whether the next reconciliation of the owning Flux Kustomization undoes
/// a drift, why, and when (see [`crate::diff::reverts`] for the rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reverts {
    /// `true`: Flux undoes it by itself; `false`: it stays until someone
    /// acts (also when flotilla cannot tell: the reason then starts with
    /// `uncertain:`).
    pub reverts: bool,
    /// Machine-readable reason.
    pub code: RevertCode,
    /// The reason for people, naming the Kustomization and the Flux rule.
    pub reason: String,
    /// When at the latest (the Kustomization's `spec.interval`, or
    /// `spec.retryInterval` while its health checks fail), as Flux writes
    /// durations (`10m`); only when `reverts` is `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

impl Reverts {
    /// Flux undoes it, at the latest after `within`.
    pub fn undone(code: RevertCode, reason: impl Into<String>, within: Option<String>) -> Reverts {
        Reverts {
            reverts: true,
            code,
            reason: reason.into(),
            within,
        }
    }

    /// It stays until someone acts.
    pub fn stays(code: RevertCode, reason: impl Into<String>) -> Reverts {
        Reverts {
            reverts: false,
            code,
            reason: reason.into(),
            within: None,
        }
    }
}

/// Why a drift is undone by Flux or stays.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RevertCode {
    /// Undone: Git sets the field, and kustomize-controller applies it with
    /// forced ownership.
    FluxApplies,
    /// Undone: a field or item Git does not set, owned by Flux or by a
    /// manager whose fields Flux takes over (`kubectl…`): the apply drops it.
    FluxRemoves,
    /// Undone: a missing object is created again.
    FluxCreates,
    /// Undone: an object in the Kustomization's inventory that Git no longer
    /// has is garbage-collected (`spec.prune: true`).
    FluxPrunes,
    /// Undone once the suspended Kustomization is resumed by its parent,
    /// because Git says it is not suspended.
    FluxResumes,
    /// Stays: the owning Kustomization is suspended.
    Suspended,
    /// Stays: the owning Kustomization fails before it applies anything.
    KustomizationFailing,
    /// Stays: `kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`, created once
    /// and never updated.
    IfNotPresent,
    /// Stays: the Kustomization's `spec.ignore` rules exclude the field.
    DriftIgnored,
    /// Stays: a field or item owned by a manager Flux leaves alone.
    OtherManager,
    /// Stays: `kustomize.toolkit.fluxcd.io/ssa: Merge` keeps other
    /// managers' fields.
    SsaMerge,
    /// Stays: an object Flux never applied (in no Kustomization's inventory).
    NotInInventory,
    /// Stays: garbage collection is off for it (`spec.prune: false`, or the
    /// object is marked `prune: disabled`).
    PruneDisabled,
    /// Stays as far as flotilla can tell: Flux's behaviour here cannot be
    /// decided from what the audit read.
    Uncertain,
}

impl RevertCode {
    /// The spelling in reports (`flux-applies`, `suspended`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RevertCode::FluxApplies => "flux-applies",
            RevertCode::FluxRemoves => "flux-removes",
            RevertCode::FluxCreates => "flux-creates",
            RevertCode::FluxPrunes => "flux-prunes",
            RevertCode::FluxResumes => "flux-resumes",
            RevertCode::Suspended => "suspended",
            RevertCode::KustomizationFailing => "kustomization-failing",
            RevertCode::IfNotPresent => "if-not-present",
            RevertCode::DriftIgnored => "drift-ignored",
            RevertCode::OtherManager => "other-manager",
            RevertCode::SsaMerge => "ssa-merge",
            RevertCode::NotInInventory => "not-in-inventory",
            RevertCode::PruneDisabled => "prune-disabled",
            RevertCode::Uncertain => "uncertain",
        }
    }
}

impl Finding {
    /// Whether any part of this finding stays until someone acts: its own
    /// [`Finding::reverts`] or one of its paths says so, or nothing says
    /// Flux undoes it (Flux health findings).
    pub fn stays(&self) -> bool {
        let stays = |r: Option<&Reverts>| r.is_none_or(|r| !r.reverts);
        if self.paths.is_empty() {
            return stays(self.reverts.as_ref());
        }
        self.paths.iter().any(|p| stays(p.reverts.as_ref()))
    }
}

/// A status condition, as reported for Flux objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: Option<String>,
    /// Human-readable message.
    pub message: Option<String>,
}
