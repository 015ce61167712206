//! What "the same value" means once the API server has had its say.
//!
//! Git states values the way people write them; the server stores them its
//! own way. Each rule here removes one class of false positive, and names it.

use crate::quantity::Quantity;
use serde_json::Value;

/// Maps whose values are resource quantities.
///
/// Prevents: `cpu: "0.5"` in Git vs `500m` live, `memory: 1024Mi` vs `1Gi`
/// (container `resources.limits/requests`, ResourceQuota `hard`/`used`,
/// LimitRange `max/min/default/defaultRequest/maxLimitRequestRatio`, PVC
/// `resources.requests`, PV `capacity`, RuntimeClass `overhead.podFixed`).
const QUANTITY_MAPS: &[&str] = &[
    "limits",
    "requests",
    "hard",
    "used",
    "capacity",
    "allocatable",
    "podFixed",
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
];

/// Single fields that hold a quantity (emptyDir `sizeLimit`, HPA targets).
const QUANTITY_FIELDS: &[&str] = &["sizeLimit", "averageValue", "storage"];

/// Whether the value at `key` inside the map at `parent` is a quantity.
pub fn is_quantity_field(parent: Option<&str>, key: &str) -> bool {
    QUANTITY_FIELDS.contains(&key) || parent.is_some_and(|p| QUANTITY_MAPS.contains(&p))
}

/// Metadata the server or controllers write, never Git's business.
///
/// Prevents: `creationTimestamp: null` (common in generated YAML),
/// `status: {}` in manifests, and noise such as `resourceVersion` and
/// `managedFields` should a manifest carry them (exported objects).
const METADATA_NOISE: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
];

/// Labels and annotations written by tools, not compared.
///
/// Prevents: Flux's own `kustomize.toolkit.fluxcd.io/name|namespace` labels
/// and its opt-out annotations (read elsewhere) showing up as drift, and
/// kubectl's `last-applied-configuration` (a copy of the whole object).
fn is_tool_metadata(key: &str) -> bool {
    key.starts_with("kustomize.toolkit.fluxcd.io/")
        || key == "kubectl.kubernetes.io/last-applied-configuration"
}

/// Whether a desired path (keys from the root) is noise to skip.
///
/// `apiVersion` too: objects match across versions (Git's `autoscaling/v2`
/// HPA is the live `autoscaling/v1` one read at the preferred version).
pub fn is_noise(path: &[&str]) -> bool {
    match path {
        ["status" | "apiVersion" | "kind"] => true,
        // Identity: already matched (a namespace Git gives a cluster-scoped
        // object is dropped by the server).
        ["metadata", "name" | "namespace"] => true,
        ["metadata", key] => METADATA_NOISE.contains(key),
        ["metadata", "labels" | "annotations", key] => is_tool_metadata(key),
        _ => false,
    }
}

/// The zero value of its type, which the server omits (Go `omitempty`).
///
/// Prevents: `hostNetwork: false`, `resources: {}` or `args: []` in Git
/// reported as drift because the stored object leaves them out.
pub fn is_zero_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero_value),
    }
}

/// Whether a desired and a live scalar are the same value.
pub fn scalars_equal(desired: &Value, live: &Value, quantity: bool) -> bool {
    // A value derived from a Secret is held as its digest in Git's object, and
    // a value flotilla cannot know is not compared (see `crate::secret`).
    if let Some(matches) = crate::secret::sealed_scalar_matches(desired, live) {
        return matches;
    }
    if desired == live {
        return true;
    }
    if quantity && let (Some(a), Some(b)) = (Quantity::of(desired), Quantity::of(live)) {
        return a.same_amount(&b);
    }
    match (desired, live) {
        // `replicas: 1` vs `1.0`: JSON numbers, not Rust types.
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        // int-or-string: `targetPort: 8080` vs `"8080"`, and substituted
        // variables that arrive as strings where the server keeps a number.
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn number_and_string_compare_as_quantities_only_in_quantity_fields() {
        assert!(scalars_equal(&json!(0.5), &json!("500m"), true));
        assert!(!scalars_equal(&json!(0.5), &json!("500m"), false));
        assert!(scalars_equal(&json!(1), &json!("1"), true));
        assert!(scalars_equal(&json!(8080), &json!("8080"), false));
        assert!(!scalars_equal(&json!("1.0"), &json!("1"), false));
        assert!(!scalars_equal(&json!("a"), &json!("b"), false));
        assert!(!scalars_equal(&json!(true), &json!("true"), false));
    }

    #[test]
    fn quantity_fields_by_position() {
        assert!(is_quantity_field(Some("limits"), "cpu"));
        assert!(is_quantity_field(Some("hard"), "requests.cpu"));
        assert!(is_quantity_field(None, "sizeLimit"));
        assert!(!is_quantity_field(Some("labels"), "cpu"));
    }

    #[test]
    fn noise_paths() {
        assert!(is_noise(&["status"]));
        assert!(is_noise(&["apiVersion"]));
        assert!(is_noise(&["metadata", "creationTimestamp"]));
        assert!(is_noise(&[
            "metadata",
            "labels",
            "kustomize.toolkit.fluxcd.io/name"
        ]));
        assert!(!is_noise(&["metadata", "labels", "app"]));
        assert!(!is_noise(&["spec", "status"]));
    }
}
