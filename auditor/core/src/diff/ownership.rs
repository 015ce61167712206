//! Blame: which field manager wrote a drifted field, and when.
//!
//! Server-side apply records, per manager, the set of fields it owns in
//! `metadata.managedFields[].fieldsV1`: `f:<field>` for map keys,
//! `k:<json>` for list items by merge key, `v:<json>` for set items,
//! `i:<index>` for items by position, and `.` for "the item itself". After
//! `kubectl edit` or `kubectl set image`, the changed field moves to that
//! manager, so the owner of the live field is who changed it.
//!
//! An item added live to a list Git defines is blamed on the manager that
//! owns the item itself ([`item_owner`]), never on an ancestor's owner: an
//! env var added by `kubectl set env` is `kubectl-set`'s, not the
//! Deployment's applier's. Items written by a known controller or admission
//! webhook ([`KNOWN_WRITERS`], extended by ignore rules with `managers`) are
//! theirs to add and are not drift.

use super::keyed_path::{FieldPath, Segment};
use super::normalize::scalars_equal;
use serde_json::{Map, Value};

/// Who wrote a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Blame {
    /// Field manager, e.g. `kubectl-edit`.
    pub manager: String,
    /// When it last wrote (RFC 3339), if recorded.
    pub time: Option<String>,
}

/// Field managers that add items to lists Git defines as part of their job,
/// whose additions are not drift. Names are as they appear in
/// `metadata.managedFields[].manager`.
///
/// - `kube-controller-manager`, `kube-scheduler`, `kubelet`,
///   `cloud-controller-manager`: Kubernetes' own controllers (token
///   `secrets` of ServiceAccounts on older clusters, finalizers, ...).
/// - `istio-sidecar-injector`, `linkerd-proxy-injector`,
///   `vault-agent-injector`: sidecar injectors, when they write with their
///   own manager.
/// - `gatekeeper`, `gatekeeper-mutation`, `kyverno`, `azure-policy`:
///   policy engines (Gatekeeper is what Azure Policy for AKS runs) mutating
///   existing objects.
///
/// A mutating admission webhook that changes an object during someone
/// else's request is not recorded under its own name: the API server
/// updates managedFields before mutating admission runs (kubernetes/kubernetes
/// #87672, fixed by #87671), so what it adds is owned by nobody. Such items
/// are still reported, with no manager; an ignore rule with `paths` (or
/// with `managers` naming the request's manager) silences them.
pub const KNOWN_WRITERS: &[&str] = &[
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "cloud-controller-manager",
    "istio-sidecar-injector",
    "linkerd-proxy-injector",
    "vault-agent-injector",
    "gatekeeper",
    "gatekeeper-mutation",
    "kyverno",
    "azure-policy",
];

/// The manager owning `path` in the live object, or its nearest owned
/// ancestor. When several managers qualify the deepest, then latest, wins.
pub fn blame(live: &Value, path: &FieldPath) -> Option<Blame> {
    blame_from(live, path, 0)
}

/// The manager owning the live item (or field) at `path` itself: who added
/// it. `None` when nobody owns it (made before field management, or by a
/// mutating admission webhook).
pub fn item_owner(live: &Value, path: &FieldPath) -> Option<Blame> {
    blame_from(live, path, path.0.len())
}

/// [`blame`], counting only owners at least `min_depth` segments deep.
fn blame_from(live: &Value, path: &FieldPath, min_depth: usize) -> Option<Blame> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    let mut best: Option<(usize, Option<&str>, &Map<String, Value>)> = None;
    for entry in entries.iter().filter_map(Value::as_object) {
        let Some(fields) = entry.get("fieldsV1").and_then(Value::as_object) else {
            continue;
        };
        let Some(depth) = owned_depth(fields, live, &path.0).filter(|d| *d >= min_depth) else {
            continue;
        };
        let time = entry.get("time").and_then(Value::as_str);
        let better = match &best {
            None => true,
            Some((d, t, _)) => depth > *d || (depth == *d && time > *t),
        };
        if better {
            best = Some((depth, time, entry));
        }
    }
    let (_, time, entry) = best?;
    Some(Blame {
        manager: entry.get("manager")?.as_str()?.to_owned(),
        time: time.map(str::to_owned),
    })
}

/// How many path segments of `path` this manager owns down to (the depth of
/// the deepest owned node on the path), or `None` if it owns none of it.
fn owned_depth(fields: &Map<String, Value>, live: &Value, path: &[Segment]) -> Option<usize> {
    let mut node = fields;
    let mut value = Some(live);
    let mut owned = None;
    for (depth, seg) in path.iter().enumerate() {
        let child = match seg {
            Segment::Field(key) => {
                value = value.and_then(|v| v.get(key));
                node.get(&format!("f:{key}"))
            }
            Segment::Item { index: Some(i), .. } | Segment::Index(i) => {
                let item = value.and_then(|v| v.get(*i));
                value = item;
                find_item(node, item, *i)
            }
            Segment::Item { index: None, .. } => None,
        };
        let Some(child) = child.and_then(Value::as_object) else {
            break;
        };
        if child.is_empty() || child.contains_key(".") {
            owned = Some(depth + 1);
        }
        node = child;
    }
    owned
}

/// The `k:`, `v:` or `i:` entry for a live list item (also what
/// [`super::reverts`] walks managedFields with).
pub(super) fn find_item<'a>(
    node: &'a Map<String, Value>,
    item: Option<&Value>,
    index: usize,
) -> Option<&'a Value> {
    if let Some(v) = node.get(&format!("i:{index}")) {
        return Some(v);
    }
    let item = item?;
    node.iter().find_map(|(key, child)| {
        let matches = if let Some(json) = key.strip_prefix("k:") {
            key_matches(json, item)
        } else if let Some(json) = key.strip_prefix("v:") {
            serde_json::from_str::<Value>(json).is_ok_and(|v| &v == item)
        } else {
            false
        };
        matches.then_some(child)
    })
}

/// Whether every field of a `k:{...}` key has the item's value.
fn key_matches(json: &str, item: &Value) -> bool {
    let Ok(Value::Object(key)) = serde_json::from_str::<Value>(json) else {
        return false;
    };
    key.iter().all(|(field, want)| {
        item.get(field)
            .is_some_and(|have| scalars_equal(want, have, false))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kured() -> Value {
        json!({
            "metadata": {"managedFields": [
                {"manager": "kustomize-controller", "operation": "Apply", "time": "2026-11-21T04:51:19Z",
                 "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                     "k:{\"name\":\"kured\"}": {".": {}, "f:name": {}, "f:args": {}}}}}}}},
                {"manager": "kubectl-set", "operation": "Update", "time": "2026-11-21T04:52:03Z",
                 "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                     "k:{\"name\":\"kured\"}": {"f:image": {}}}}}}}}
            ]},
            "spec": {"template": {"spec": {"containers": [{"name": "kured", "image": "kured:1.16.0", "args": []}]}}}
        })
    }

    fn path(leaf: &str) -> FieldPath {
        FieldPath(vec![
            Segment::Field("spec".into()),
            Segment::Field("template".into()),
            Segment::Field("spec".into()),
            Segment::Field("containers".into()),
            Segment::Item {
                index: Some(0),
                keys: vec![("name".into(), json!("kured"))],
            },
            Segment::Field(leaf.into()),
        ])
    }

    #[test]
    fn exact_owner_wins_over_owner_of_the_item() {
        let b = blame(&kured(), &path("image")).unwrap();
        assert_eq!(b.manager, "kubectl-set");
        assert_eq!(b.time.as_deref(), Some("2026-11-21T04:52:03Z"));
    }

    #[test]
    fn nearest_owned_ancestor_when_nobody_owns_the_leaf() {
        let b = blame(&kured(), &path("resources")).unwrap();
        assert_eq!(b.manager, "kustomize-controller");
    }

    #[test]
    fn keyed_items_match_by_live_values_and_sets_by_value() {
        let live = json!({
            "metadata": {"managedFields": [
                {"manager": "m1", "fieldsV1": {"f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {"f:name": {}}}}},
                {"manager": "m2", "fieldsV1": {"f:finalizers": {"v:\"x\"": {}}}}
            ]},
            "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
            "finalizers": ["x"]
        });
        let ports = FieldPath(vec![
            Segment::Field("ports".into()),
            Segment::Item {
                index: Some(0),
                keys: vec![],
            },
            Segment::Field("name".into()),
        ]);
        assert_eq!(blame(&live, &ports).unwrap().manager, "m1");
        let fin = FieldPath(vec![Segment::Field("finalizers".into()), Segment::Index(0)]);
        assert_eq!(blame(&live, &fin).unwrap().manager, "m2");
    }

    #[test]
    fn an_added_item_is_blamed_on_its_own_owner_only() {
        let live = json!({
            "metadata": {"managedFields": [
                {"manager": "kustomize-controller", "operation": "Apply",
                 "fieldsV1": {"f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}}}}},
                {"manager": "kubectl-set", "operation": "Update", "time": "2026-11-21T05:00:00Z",
                 "fieldsV1": {"f:env": {"k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}}}}}
            ]},
            "env": [{"name": "A"}, {"name": "LOG_LEVEL", "value": "DEBUG"}, {"name": "WEBHOOK"}]
        });
        let item = |i: usize, name: &str| {
            FieldPath(vec![
                Segment::Field("env".into()),
                Segment::Item {
                    index: Some(i),
                    keys: vec![("name".into(), json!(name))],
                },
            ])
        };
        let b = item_owner(&live, &item(1, "LOG_LEVEL")).unwrap();
        assert_eq!(b.manager, "kubectl-set");
        assert_eq!(item_owner(&live, &item(2, "WEBHOOK")), None);
    }

    #[test]
    fn no_managed_fields_no_blame() {
        assert_eq!(
            blame(
                &json!({"data": {"a": "b"}}),
                &FieldPath(vec![Segment::Field("data".into())])
            ),
            None
        );
    }
}
