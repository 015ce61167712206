//! Unmanaged objects: live objects in governed namespaces that Git does not
//! account for.
//!
//! A namespace is governed when Git declares its `Namespace` object: there,
//! everything should come from Git, so a hand-made Deployment or ConfigMap is
//! worth a finding. Most objects in a namespace are made by controllers,
//! though, and each rule below keeps one kind of them out.

use crate::findings::{Finding, FindingClass};
use crate::object::api_version_of;
use crate::object::{ObjectKey, meta_str};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Field managers of the control plane itself.
///
/// Prevents: `kube-root-ca.crt` and OpenShift's `openshift-service-ca.crt`
/// ConfigMaps (kube-controller-manager), the `kubernetes` Service and
/// bootstrap RBAC (kube-apiserver), in every namespace.
const CONTROL_PLANE: &[&str] = &[
    "kube-controller-manager",
    "kube-apiserver",
    "kube-scheduler",
    "cloud-controller-manager",
    "kubelet",
];

/// Kinds that are always made by controllers.
///
/// Prevents: Endpoints and EndpointSlices, which copy the Service's labels
/// (Flux's included) though Flux never applied them; Events and Leases.
const CONTROLLER_KINDS: &[&str] = &["Event", "Lease", "Endpoints", "EndpointSlice"];

/// What Git accounts for, as far as unmanaged objects are concerned.
pub struct Accounted<'a> {
    /// Desired objects by key.
    pub desired: &'a HashMap<ObjectKey, usize>,
    /// Namespaces whose `Namespace` object Git declares.
    pub governed: &'a HashSet<String>,
    /// Whether Git declares any HelmRelease (whose charts are not rendered).
    pub helm_releases: bool,
    /// Flux Kustomizations (`namespace`, `name`) whose objects are unknown:
    /// declared but not rendered (another source, or a render error).
    pub unrendered: &'a HashSet<(String, String)>,
}

/// Live objects that are unmanaged, given what Git declares.
pub fn find_unmanaged(live: &[Value], git: &Accounted<'_>) -> Vec<Finding> {
    live.iter()
        .filter_map(|obj| {
            let key = ObjectKey::of(obj)?;
            let ns = key.namespace.as_ref()?;
            let from_helm = git.helm_releases && helm_made(obj);
            let unmanaged = git.governed.contains(ns)
                && !git.desired.contains_key(&key)
                && !CONTROLLER_KINDS.contains(&key.kind.as_str())
                && !has_owner(obj)
                && !control_plane_made(obj)
                && !from_helm
                && !from_unrendered(obj, git.unrendered);
            unmanaged.then(|| finding(obj, key))
        })
        .collect()
}

/// Prevents: every object of a Kustomization that failed to render (or
/// whose source is another repository) reported as unmanaged; Flux labels
/// say which Kustomization applied it, and Git's view of it is unknown.
fn from_unrendered(obj: &Value, unrendered: &HashSet<(String, String)>) -> bool {
    let name = meta_str(obj, "labels", "kustomize.toolkit.fluxcd.io/name");
    let ns = meta_str(obj, "labels", "kustomize.toolkit.fluxcd.io/namespace");
    match (ns, name) {
        (Some(ns), Some(name)) => unrendered.contains(&(ns.to_owned(), name.to_owned())),
        _ => false,
    }
}

/// Prevents: ReplicaSets, Pods, ControllerRevisions, Jobs made by their
/// owners (the `debug` Deployment's ReplicaSet is not a second finding).
fn has_owner(obj: &Value) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| !refs.is_empty())
}

/// No managedFields at all (the `default` ServiceAccount), or only
/// control-plane managers.
fn control_plane_made(obj: &Value) -> bool {
    let Some(entries) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return true;
    };
    entries
        .iter()
        .filter_map(|e| e.get("manager").and_then(Value::as_str))
        .all(|m| CONTROL_PLANE.contains(&m))
}

/// Prevents: objects a Flux HelmRelease installed (charts are not rendered,
/// so they are not in `Desired`), and Helm's release storage Secrets.
fn helm_made(obj: &Value) -> bool {
    meta_str(obj, "labels", "helm.toolkit.fluxcd.io/name").is_some()
        || obj.get("type").and_then(Value::as_str) == Some("helm.sh/release.v1")
}

fn finding(obj: &Value, key: ObjectKey) -> Finding {
    Finding {
        class: FindingClass::Unmanaged,
        api_version: api_version_of(obj).to_owned(),
        kind: key.kind,
        namespace: key.namespace,
        name: key.name,
        kustomization: None,
        paths: Vec::new(),
        manager: creator(obj),
        condition: None,
        reverts: None,
    }
}

/// The manager that created the object: the earliest entry that is not a
/// subresource (`status`, `scale`) write; the first one on ties.
fn creator(obj: &Value) -> Option<String> {
    let entries = obj.pointer("/metadata/managedFields")?.as_array()?;
    entries
        .iter()
        .filter(|e| {
            e.get("subresource")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .filter(|e| {
            e.get("manager")
                .and_then(Value::as_str)
                .is_some_and(|m| !CONTROL_PLANE.contains(&m))
        })
        .min_by_key(|e| e.get("time").and_then(Value::as_str).unwrap_or("~"))
        .and_then(|e| e.get("manager")?.as_str())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creator_skips_status_writers_and_takes_the_earliest() {
        let obj = json!({"metadata": {"managedFields": [
            {"manager": "kube-controller-manager", "subresource": "status", "time": "2026-01-01T00:00:00Z"},
            {"manager": "kubectl-edit", "operation": "Update", "time": "2026-01-03T00:00:00Z"},
            {"manager": "kubectl-create", "operation": "Update", "time": "2026-01-02T00:00:00Z"}
        ]}});
        assert_eq!(creator(&obj).as_deref(), Some("kubectl-create"));
    }

    #[test]
    fn control_plane_only_objects_are_not_unmanaged() {
        let cm = |managers: Value| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"namespace": "a", "name": "x", "managedFields": managers}})
        };
        let governed: HashSet<String> = ["a".to_owned()].into();
        let live = vec![
            cm(json!([{"manager": "kube-controller-manager"}])),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"namespace": "a", "name": "default"}}),
            cm(json!([{"manager": "kubectl-create"}])),
        ];
        let git = Accounted {
            desired: &HashMap::new(),
            governed: &governed,
            helm_releases: false,
            unrendered: &HashSet::new(),
        };
        let found = find_unmanaged(&live, &git);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].manager.as_deref(), Some("kubectl-create"));
    }
}
