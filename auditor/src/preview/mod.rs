//! Preview: what a change to the GitOps repository will do to each cluster,
//! before Flux applies it.
//!
//! Both revisions are rendered with the auditor's renderer
//! ([`flotilla_render`]); [`changes`] compares them object by object and
//! field by field, and [`validate`] checks the head revision for what would
//! make Flux fail or break a rule. Printers live in [`print`]. Like the diff
//! engine, everything here is pure: the caller checks out and renders.

pub mod changes;
pub mod policy;
pub mod print;
pub mod run;
pub mod typed;
pub mod validate;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use changes::compare;
pub use policy::PolicyRules;
pub use validate::{Validator, validate};

/// Version of the JSON preview format.
pub const PREVIEW_VERSION: u32 = 1;

/// The preview of one change to the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewReport {
    /// Format version, [`PREVIEW_VERSION`].
    pub version: u32,
    /// Base revision (Flux style).
    pub base: String,
    /// Head revision (Flux style).
    pub head: String,
    /// Every cluster found at either revision, by name.
    pub clusters: Vec<ClusterPreview>,
}

impl PreviewReport {
    /// Whether any cluster changes, or may change in a part flotilla did
    /// not render ("unknown" is never "unchanged").
    pub fn has_changes(&self) -> bool {
        self.clusters
            .iter()
            .any(|c| !c.changes.is_empty() || c.is_unknown())
    }

    /// Whether the head revision has problems the base did not have (or a
    /// cluster could not be previewed).
    pub fn has_problems(&self) -> bool {
        self.clusters.iter().any(ClusterPreview::fails)
    }
}

/// What one cluster will change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterPreview {
    /// Cluster name (its folder under `clusters/`).
    pub cluster: String,
    /// Objects added, removed and changed, sorted by Kustomization then object.
    pub changes: Vec<ObjectChange>,
    /// What is wrong with the head revision.
    pub problems: Vec<Problem>,
    /// Errors that stopped this cluster's preview.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Things the reader should know (e.g. charts not rendered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What was not rendered at either revision, per Kustomization, and why.
    #[serde(default, rename = "notRendered", skip_serializing_if = "Vec::is_empty")]
    pub not_rendered: Vec<flotilla_core::findings::NotRendered>,
    /// Drift between the head revision and the live cluster (`--context`):
    /// what the merge would overwrite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<flotilla_core::findings::ClusterReport>,
}

impl ClusterPreview {
    /// Problems this change introduces that block it (not pre-existing,
    /// not advisory).
    pub fn new_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| !p.preexisting && !p.advisory)
    }

    /// Whether this cluster fails the preview: new problems, or an error.
    pub fn fails(&self) -> bool {
        self.new_problems().next().is_some() || !self.errors.is_empty()
    }

    /// Whether part of what this cluster runs could not be rendered (a
    /// foreign source, a missing `substituteFrom`, a remote base): what the
    /// change does there is unknown. Charts and ResourceSets are compared
    /// as objects, so they alone do not make a cluster unknown.
    pub fn is_unknown(&self) -> bool {
        self.not_rendered
            .iter()
            .any(|n| !matches!(n.reason.as_str(), "helm-chart" | "resource-set"))
    }
}

/// How an object changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// New at head.
    Added,
    /// Gone at head (Flux prunes it when `prune: true`).
    Removed,
    /// Present at both, fields differ.
    Changed,
}

/// One object that changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectChange {
    /// Added, removed or changed.
    pub change: ChangeKind,
    /// API version (head side where there is one).
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; `null` when cluster-scoped.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Flux Kustomization that applies it, `namespace/name`.
    pub kustomization: Option<String>,
    /// Changed fields (`changed` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDelta>,
}

/// One field that changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDelta {
    /// Keyed form, e.g. `spec.template.spec.containers[name=traefik].image`.
    pub field: String,
    /// Value at base (`null`: not set).
    pub base: Option<Value>,
    /// Value at head (`null`: not set).
    pub head: Option<Value>,
    /// Secret data: values are `***`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

/// What kind of problem the head revision has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemClass {
    /// kustomize could not build a path (includes YAML errors).
    Build,
    /// An object is invalid for its schema.
    Schema,
    /// A `dependsOn` names a Kustomization or HelmRelease that does not exist.
    DependsOn,
    /// A `postBuild` variable has no value (Flux substitutes an empty string).
    UnresolvedVariable,
    /// An object breaks one of the fleet's policies.
    Policy,
}

impl ProblemClass {
    /// Spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemClass::Build => "build",
            ProblemClass::Schema => "schema",
            ProblemClass::DependsOn => "depends-on",
            ProblemClass::UnresolvedVariable => "unresolved-variable",
            ProblemClass::Policy => "policy",
        }
    }
}

/// One problem of the head revision.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    /// What kind.
    pub class: ProblemClass,
    /// The Kustomization whose build holds it, `namespace/name`.
    pub kustomization: Option<String>,
    /// Repository path of that Kustomization (`spec.path`), where to look.
    pub path: Option<String>,
    /// The object, `Kind namespace/name`.
    pub object: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The base revision has the same problem: this change did not cause
    /// it, so it does not fail the preview.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preexisting: bool,
    /// A policy of a cluster in `audit` mode: reported, never blocking, as
    /// the cluster itself would only audit it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub advisory: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(preexisting: bool, advisory: bool) -> Problem {
        Problem {
            class: ProblemClass::Policy,
            kustomization: None,
            path: None,
            object: None,
            message: "container c is privileged".into(),
            preexisting,
            advisory,
        }
    }

    #[test]
    fn only_new_blocking_problems_fail_a_cluster() {
        let with = |p: Problem| ClusterPreview {
            problems: vec![p],
            ..ClusterPreview::default()
        };
        assert!(with(problem(false, false)).fails());
        assert!(!with(problem(true, false)).fails(), "pre-existing");
        assert!(!with(problem(false, true)).fails(), "audit mode");
        let errored = ClusterPreview {
            errors: vec!["x".into()],
            ..ClusterPreview::default()
        };
        assert!(errored.fails());
    }
}
