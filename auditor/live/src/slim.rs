//! Objects made by controllers, kept only as far as the diff reads them.
//!
//! A busy cluster is mostly Pods, ReplicaSets, EndpointSlices and
//! ControllerRevisions. None of them is ever drift: the diff only needs to
//! see that an object has `ownerReferences` to leave it out of `unmanaged`.
//! Keeping them whole would make them most of the audit's memory, so an
//! owned object of a kind Git does not declare is cut down to its identity
//! and owners as soon as it is read. Kinds Git declares, and Flux's own
//! kinds, are always kept whole.

use super::Scope;
use serde_json::{Map, Value};

/// Whether owned objects of `(group, kind)` may be cut down under `scope`.
pub(crate) fn may_slim(scope: &Scope, group: &str, kind: &str) -> bool {
    scope.slims_owned(group, kind)
}

/// `obj` without what the diff never reads, if it has owners; else `obj`.
pub(crate) fn slim_if_owned(obj: Value) -> Value {
    let owned = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|o| !o.is_empty());
    if !owned {
        return obj;
    }
    let Value::Object(mut fields) = obj else {
        return obj;
    };
    let mut slim = Map::with_capacity(3);
    for key in ["apiVersion", "kind"] {
        if let Some(v) = fields.remove(key) {
            slim.insert(key.to_owned(), v);
        }
    }
    if let Some(Value::Object(mut meta)) = fields.remove("metadata") {
        let mut kept = Map::new();
        for key in ["name", "namespace", "uid", "labels", "ownerReferences"] {
            if let Some(v) = meta.remove(key) {
                kept.insert(key.to_owned(), v);
            }
        }
        slim.insert("metadata".to_owned(), Value::Object(kept));
    }
    Value::Object(slim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owned_objects_keep_identity_and_owners_only() {
        let pod = json!({"apiVersion":"v1","kind":"Pod",
            "metadata":{"name":"p","namespace":"a","uid":"u","labels":{"app":"x"},
                        "ownerReferences":[{"kind":"ReplicaSet","name":"r","uid":"o"}],
                        "managedFields":[{"manager":"kube-controller-manager"}]},
            "spec":{"containers":[{"name":"c","image":"i"}]},"status":{"phase":"Pending"}});
        assert_eq!(
            slim_if_owned(pod),
            json!({"apiVersion":"v1","kind":"Pod",
                   "metadata":{"name":"p","namespace":"a","uid":"u","labels":{"app":"x"},
                               "ownerReferences":[{"kind":"ReplicaSet","name":"r","uid":"o"}]}})
        );
    }

    #[test]
    fn unowned_objects_and_declared_kinds_stay_whole() {
        let cm =
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}});
        assert_eq!(slim_if_owned(cm.clone()), cm);
        let scope = Scope::for_audit([("apps", "Deployment")], true);
        assert!(!may_slim(&scope, "apps", "Deployment"));
        assert!(!may_slim(
            &scope,
            "kustomize.toolkit.fluxcd.io",
            "Kustomization"
        ));
        assert!(may_slim(&scope, "apps", "ReplicaSet"));
        assert!(
            !may_slim(&Scope::everything(), "apps", "ReplicaSet"),
            "recordings stay whole"
        );
    }
}
