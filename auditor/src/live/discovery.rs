//! Which resource types a server serves, from the legacy discovery documents
//! (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`), fetched live or
//! read from a snapshot's `discovery/` directory.
//!
//! Discovery documents are server output, not user input: unknown fields are
//! ignored here on purpose (servers add fields release by release).

use super::Scope;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One resource type at one version, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ApiType {
    /// API group, empty for core.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

impl ApiType {
    /// `group/version`, or `version` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Cluster-wide collection path, e.g. `/apis/apps/v1/deployments`.
    pub fn list_path(&self) -> String {
        format!(
            "{}/{}",
            group_version_path(&self.group, &self.version),
            self.plural
        )
    }

    /// File stem used by snapshots: `<group|core>_<version>_<plural>`.
    pub fn file_stem(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        format!("{group}_{}_{}", self.version, self.plural)
    }
}

/// API path of a group version: `/api/v1` or `/apis/<group>/<version>`.
pub fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// What discovery found: served groups and the listable types of the group
/// versions that were fetched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    /// Group (empty for core) → served versions, the preferred one first.
    pub groups: BTreeMap<String, Vec<String>>,
    /// Listable types (verbs include `list`, no subresources) of the fetched
    /// group versions; several versions of a kind may appear.
    pub types: Vec<ApiType>,
}

impl Discovery {
    /// The server's preferred version of `group`.
    pub fn preferred_version(&self, group: &str) -> Option<&str> {
        self.groups.get(group)?.first().map(String::as_str)
    }

    /// The types `scope` admits, one per `(group, kind)`, at the earliest
    /// version in the group's preference order that serves the kind; sorted
    /// by group, version, plural so reads are deterministic.
    pub fn select(&self, scope: &Scope) -> Vec<ApiType> {
        let mut chosen: BTreeMap<(&str, &str), (usize, &ApiType)> = BTreeMap::new();
        for t in &self.types {
            if !scope.admits(&t.group, &t.kind, t.namespaced) {
                continue;
            }
            let rank = self.version_rank(&t.group, &t.version);
            let slot = chosen.entry((&t.group, &t.kind)).or_insert((rank, t));
            if rank < slot.0 {
                *slot = (rank, t);
            }
        }
        let mut types: Vec<ApiType> = chosen.into_values().map(|(_, t)| t.clone()).collect();
        types.sort();
        types
    }

    /// Kinds `scope` names that no fetched group version serves.
    pub fn unserved(&self, scope: &Scope) -> Vec<(String, String)> {
        scope
            .named_kinds()
            .filter(|(g, k)| !self.types.iter().any(|t| t.group == *g && t.kind == *k))
            .map(|(g, k)| (g.to_owned(), k.to_owned()))
            .collect()
    }

    /// Whether each `(group, kind)` described is namespaced.
    pub fn namespaced_kinds(&self) -> BTreeMap<(String, String), bool> {
        self.types
            .iter()
            .map(|t| ((t.group.clone(), t.kind.clone()), t.namespaced))
            .collect()
    }

    fn version_rank(&self, group: &str, version: &str) -> usize {
        self.groups
            .get(group)
            .and_then(|vs| vs.iter().position(|v| v == version))
            .unwrap_or(usize::MAX)
    }

    /// Record the versions of the core group from an `/api` document.
    pub fn add_core_versions(&mut self, doc: &ApiVersionsDoc) {
        self.groups.insert(String::new(), doc.versions.clone());
    }

    /// Record the groups of an `/apis` document, preferred version first.
    pub fn add_groups(&mut self, doc: &GroupListDoc) {
        for g in &doc.groups {
            let mut versions: Vec<String> = Vec::with_capacity(g.versions.len());
            if let Some(p) = &g.preferred_version {
                versions.push(p.version.clone());
            }
            for v in &g.versions {
                if !versions.contains(&v.version) {
                    versions.push(v.version.clone());
                }
            }
            self.groups.insert(g.name.clone(), versions);
        }
    }

    /// Record the listable types of an `/api/v1` or `/apis/<g>/<v>` document.
    pub fn add_resources(&mut self, doc: &ResourceListDoc) {
        let (group, version) = match doc.group_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", doc.group_version.as_str()),
        };
        for r in &doc.resources {
            if r.name.contains('/') || !r.verbs.iter().any(|v| v == "list") {
                continue;
            }
            self.types.push(ApiType {
                group: group.to_owned(),
                version: version.to_owned(),
                kind: r.kind.clone(),
                plural: r.name.clone(),
                namespaced: r.namespaced,
            });
        }
    }

    /// Record every group, version and listable type of an aggregated
    /// document. `Stale` versions (an aggregated API server that did not
    /// answer) are returned, not recorded: listing them would fail.
    pub fn add_aggregated(&mut self, doc: &AggregatedListDoc) -> Vec<(String, String)> {
        let mut stale = Vec::new();
        for g in &doc.items {
            let group = g.metadata.name.clone().unwrap_or_default();
            let versions = g.versions.iter().map(|v| v.version.clone()).collect();
            self.groups.insert(group.clone(), versions);
            for v in &g.versions {
                if v.freshness.as_deref() == Some("Stale") {
                    stale.push((group.clone(), v.version.clone()));
                    continue;
                }
                for r in &v.resources {
                    let Some(kind) = r.response_kind.as_ref().filter(|k| !k.kind.is_empty()) else {
                        continue;
                    };
                    if r.resource.contains('/') || !r.verbs.iter().any(|verb| verb == "list") {
                        continue;
                    }
                    self.types.push(ApiType {
                        group: group.clone(),
                        version: v.version.clone(),
                        kind: kind.kind.clone(),
                        plural: r.resource.clone(),
                        namespaced: r.scope == "Namespaced",
                    });
                }
            }
        }
        stale
    }

    /// Group versions to fetch for `scope`: the preferred version of every
    /// needed group.
    pub fn preferred_group_versions(&self, scope: &Scope) -> Vec<(String, String)> {
        self.groups
            .iter()
            .filter(|(g, _)| scope.needs_group(g))
            .filter_map(|(g, vs)| Some((g.clone(), vs.first()?.clone())))
            .collect()
    }

    /// Further versions to fetch when a kind `scope` names is not served at
    /// the preferred version of its group (e.g. a kind only in `v1beta1`).
    pub fn fallback_group_versions(&self, scope: &Scope) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (group, _) in self.unserved(scope) {
            let Some(versions) = self.groups.get(&group) else {
                continue;
            };
            for v in versions.iter().skip(1) {
                let pair = (group.clone(), v.clone());
                let fetched = self
                    .types
                    .iter()
                    .any(|t| t.group == group && &t.version == v);
                if !fetched && !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        out
    }
}

/// Only the `kind` of a document: tells an aggregated discovery answer from
/// a legacy one for the same path.
#[derive(Debug, Deserialize)]
pub struct KindDoc {
    /// `APIGroupDiscoveryList`, `APIGroupList`, `APIVersions`, …
    #[serde(default)]
    pub kind: Option<String>,
}

/// `GET /api` or `/apis` with the aggregated discovery `Accept` header
/// (`apidiscovery.k8s.io/v2`, Kubernetes 1.30+): every group, version and
/// resource in one document.
#[derive(Debug, Deserialize)]
pub struct AggregatedListDoc {
    /// One entry per group (core: empty name).
    #[serde(default)]
    pub items: Vec<AggregatedGroupDoc>,
}

/// One group of an aggregated discovery document.
#[derive(Debug, Deserialize)]
pub struct AggregatedGroupDoc {
    /// `metadata.name` is the group.
    #[serde(default)]
    pub metadata: AggregatedMeta,
    /// Versions, most preferred first.
    #[serde(default)]
    pub versions: Vec<AggregatedVersionDoc>,
}

/// `metadata` of an aggregated group.
#[derive(Debug, Default, Deserialize)]
pub struct AggregatedMeta {
    /// Group name, absent or empty for core.
    #[serde(default)]
    pub name: Option<String>,
}

/// One version of an aggregated group.
#[derive(Debug, Deserialize)]
pub struct AggregatedVersionDoc {
    /// Version, e.g. `v1`.
    pub version: String,
    /// Resources (subresources nested, not listed here).
    #[serde(default)]
    pub resources: Vec<AggregatedResourceDoc>,
    /// `Current`, or `Stale` when an aggregated API server did not answer.
    #[serde(default)]
    pub freshness: Option<String>,
}

/// One resource of an aggregated version.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregatedResourceDoc {
    /// Plural name.
    pub resource: String,
    /// What the resource returns (`kind` is what we need).
    #[serde(default)]
    pub response_kind: Option<AggregatedKind>,
    /// `Namespaced` or `Cluster`.
    #[serde(default)]
    pub scope: String,
    /// Verbs the server allows.
    #[serde(default)]
    pub verbs: Vec<String>,
}

/// `responseKind` of an aggregated resource.
#[derive(Debug, Deserialize)]
pub struct AggregatedKind {
    /// Kind, e.g. `Deployment`.
    #[serde(default)]
    pub kind: String,
}

/// `GET /api`.
#[derive(Debug, Deserialize)]
pub struct ApiVersionsDoc {
    /// Served core versions.
    #[serde(default)]
    pub versions: Vec<String>,
}

/// `GET /apis`.
#[derive(Debug, Deserialize)]
pub struct GroupListDoc {
    /// Served groups.
    #[serde(default)]
    pub groups: Vec<GroupDoc>,
}

/// One group of `/apis`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDoc {
    /// Group name.
    pub name: String,
    /// Served versions.
    #[serde(default)]
    pub versions: Vec<GroupVersionDoc>,
    /// The server's preferred version.
    pub preferred_version: Option<GroupVersionDoc>,
}

/// One version of a group.
#[derive(Debug, Deserialize)]
pub struct GroupVersionDoc {
    /// Version, e.g. `v1`.
    pub version: String,
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceListDoc {
    /// `group/version` or `v1`.
    pub group_version: String,
    /// Resources, subresources included.
    #[serde(default)]
    pub resources: Vec<ResourceDoc>,
}

/// One resource of a resource list.
#[derive(Debug, Deserialize)]
pub struct ResourceDoc {
    /// Plural name, or `<plural>/<subresource>`.
    pub name: String,
    /// Whether namespaced.
    #[serde(default)]
    pub namespaced: bool,
    /// Kind.
    pub kind: String,
    /// Verbs the server allows.
    #[serde(default)]
    pub verbs: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn discovery() -> Discovery {
        let mut d = Discovery::default();
        d.add_core_versions(&serde_json::from_value(json!({"versions": ["v1"]})).unwrap());
        d.add_groups(
            &serde_json::from_value(json!({"groups": [{
                "name": "autoscaling",
                "versions": [{"groupVersion": "autoscaling/v2", "version": "v2"},
                             {"groupVersion": "autoscaling/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"}}]}))
            .unwrap(),
        );
        for (gv, kind, plural) in [
            ("v1", "Pod", "pods"),
            (
                "autoscaling/v1",
                "HorizontalPodAutoscaler",
                "horizontalpodautoscalers",
            ),
            (
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                "horizontalpodautoscalers",
            ),
        ] {
            d.add_resources(
                &serde_json::from_value(json!({"groupVersion": gv, "resources": [
                    {"name": plural, "namespaced": true, "kind": kind, "verbs": ["get", "list"]},
                    {"name": format!("{plural}/status"), "namespaced": true, "kind": kind, "verbs": ["get"]},
                    {"name": "bindings", "namespaced": true, "kind": "Binding", "verbs": ["create"]}]}))
                .unwrap(),
            );
        }
        d
    }

    #[test]
    fn preferred_version_wins_and_subresources_are_dropped() {
        let d = discovery();
        let types = d.select(&Scope::for_audit(
            [("autoscaling", "HorizontalPodAutoscaler")],
            true,
        ));
        let names: Vec<String> = types.iter().map(|t| t.list_path()).collect();
        assert_eq!(
            names,
            [
                "/api/v1/pods",
                "/apis/autoscaling/v2/horizontalpodautoscalers"
            ]
        );
        assert_eq!(d.preferred_version("autoscaling"), Some("v2"));
    }

    #[test]
    fn aggregated_documents_give_versions_in_order_and_skip_stale_ones() {
        let doc: AggregatedListDoc = serde_json::from_value(json!({"items": [
            {"metadata": {"name": "autoscaling"}, "versions": [
                {"version": "v2", "freshness": "Current", "resources": [
                    {"resource": "horizontalpodautoscalers", "scope": "Namespaced",
                     "responseKind": {"group": "autoscaling", "version": "v2", "kind": "HorizontalPodAutoscaler"},
                     "verbs": ["get", "list"]}]},
                {"version": "v1", "resources": []}]},
            {"metadata": {"name": "metrics.k8s.io"}, "versions": [
                {"version": "v1beta1", "freshness": "Stale", "resources": [
                    {"resource": "pods", "scope": "Namespaced",
                     "responseKind": {"kind": "PodMetrics"}, "verbs": ["get", "list"]}]}]}]}))
        .unwrap();
        let mut d = Discovery::default();
        let stale = d.add_aggregated(&doc);
        assert_eq!(stale, [("metrics.k8s.io".to_owned(), "v1beta1".to_owned())]);
        assert_eq!(d.preferred_version("autoscaling"), Some("v2"));
        let kinds: Vec<&str> = d.types.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["HorizontalPodAutoscaler"]);
        assert!(d.types[0].namespaced);
    }

    #[test]
    fn unserved_kinds_are_reported() {
        let d = discovery();
        let scope = Scope::only([("example.com", "Widget")]);
        assert_eq!(
            d.unserved(&scope),
            [("example.com".to_owned(), "Widget".to_owned())]
        );
        assert!(d.select(&scope).is_empty());
    }
}
