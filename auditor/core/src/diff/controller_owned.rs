//! Fields that belong to a controller even though Git sets them.
//!
//! Git may state these fields (often it must, for the first apply), but a
//! controller rewrites them on purpose afterwards; reporting them would make
//! every healthy cluster look drifted.

use super::ignore::pointer_covers;
use crate::object::ObjectKey;
use serde_json::Value;
use std::collections::HashSet;

/// Facts gathered once per diff, so each check is a lookup.
#[derive(Debug, Default)]
pub struct ControllerOwned {
    /// `(kind, namespace, name)` of every HPA `scaleTargetRef`, desired or live.
    hpa_targets: HashSet<(String, String, String)>,
}

impl ControllerOwned {
    /// Collect HPA targets from desired and live HorizontalPodAutoscalers.
    pub fn collect<'a>(objects: impl Iterator<Item = &'a Value>) -> ControllerOwned {
        let hpa_targets = objects
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("HorizontalPodAutoscaler"))
            .filter_map(|hpa| {
                let ns = hpa.pointer("/metadata/namespace")?.as_str()?;
                let target = hpa.pointer("/spec/scaleTargetRef")?;
                let kind = target.get("kind")?.as_str()?;
                let name = target.get("name")?.as_str()?;
                Some((kind.to_owned(), ns.to_owned(), name.to_owned()))
            })
            .collect();
        ControllerOwned { hpa_targets }
    }

    /// Whether the field at `pointer` of this object is a controller's.
    pub fn owns(&self, key: &ObjectKey, desired: &Value, live: &Value, pointer: &str) -> bool {
        self.hpa_replicas(key, pointer)
            || aggregated_rules(key, desired, live, pointer)
            || ca_bundle(key, pointer)
    }

    /// Prevents: `spec.replicas: 2` in Git vs whatever the HPA (or `kubectl
    /// scale` through the scale subresource) set; the HPA owns replicas.
    fn hpa_replicas(&self, key: &ObjectKey, pointer: &str) -> bool {
        pointer == "/spec/replicas"
            && key.namespace.as_ref().is_some_and(|ns| {
                self.hpa_targets
                    .contains(&(key.kind.clone(), ns.clone(), key.name.clone()))
            })
    }
}

/// Prevents: an aggregated ClusterRole (`aggregationRule` set, e.g. `admin`
/// extensions) reported because the controller filled `rules` from the
/// ClusterRoles it selects.
fn aggregated_rules(key: &ObjectKey, desired: &Value, live: &Value, pointer: &str) -> bool {
    key.kind == "ClusterRole"
        && (desired.get("aggregationRule").is_some() || live.get("aggregationRule").is_some())
        && pointer_covers("/rules", pointer)
}

/// Prevents: webhook `caBundle` injected by cert-manager's cainjector (or
/// the service's own operator) reported against an empty or stale Git value.
fn ca_bundle(key: &ObjectKey, pointer: &str) -> bool {
    match key.kind.as_str() {
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
            pointer_covers("/webhooks/*/clientConfig/caBundle", pointer)
        }
        "APIService" => pointer_covers("/spec/caBundle", pointer),
        "CustomResourceDefinition" => {
            pointer_covers("/spec/conversion/webhook/clientConfig/caBundle", pointer)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(kind: &str, ns: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn replicas_of_an_hpa_target_only() {
        let hpa = json!({"kind":"HorizontalPodAutoscaler","metadata":{"namespace":"a","name":"h"},
            "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"}}});
        let owned = ControllerOwned::collect([hpa].iter());
        let none = json!({});
        assert!(owned.owns(
            &key("Deployment", Some("a"), "web"),
            &none,
            &none,
            "/spec/replicas"
        ));
        assert!(!owned.owns(
            &key("Deployment", Some("a"), "web"),
            &none,
            &none,
            "/spec/template"
        ));
        assert!(!owned.owns(
            &key("Deployment", Some("b"), "web"),
            &none,
            &none,
            "/spec/replicas"
        ));
        assert!(!owned.owns(
            &key("StatefulSet", Some("a"), "web"),
            &none,
            &none,
            "/spec/replicas"
        ));
    }

    #[test]
    fn aggregated_cluster_role_rules_and_ca_bundles() {
        let owned = ControllerOwned::default();
        let agg = json!({"aggregationRule": {}});
        let plain = json!({});
        let cr = key("ClusterRole", None, "admin");
        assert!(owned.owns(&cr, &plain, &agg, "/rules"));
        assert!(!owned.owns(&cr, &plain, &plain, "/rules"));
        let wh = key("ValidatingWebhookConfiguration", None, "w");
        assert!(owned.owns(&wh, &plain, &plain, "/webhooks/2/clientConfig/caBundle"));
        assert!(!owned.owns(&wh, &plain, &plain, "/webhooks/2/clientConfig/url"));
        assert!(owned.owns(
            &key("APIService", None, "v1.x"),
            &plain,
            &plain,
            "/spec/caBundle"
        ));
    }
}
