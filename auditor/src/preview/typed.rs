//! Core kinds checked by a typed round trip through `k8s-openapi`.
//!
//! Deserialising into the typed struct catches wrong types; serialising back
//! and looking for fields that did not survive catches misspelled and unknown
//! fields (the typed structs drop what they do not know), which is what
//! `kubectl apply --validate=strict` would reject.

use k8s_openapi::api::{
    apps, autoscaling, batch, core, networking, policy, rbac, scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::{Resource, serde::Serialize, serde::de::DeserializeOwned};
use serde_json::Value;

/// Check `obj` if its kind is a core kind this module knows: `None` when it
/// does not know the kind, else the problems found (empty: valid).
pub fn check_core(obj: &Value) -> Option<Vec<String>> {
    macro_rules! kinds {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(result) = round_trip::<$ty>(obj) { return Some(result); })*
        };
    }
    kinds!(
        core::v1::Namespace,
        core::v1::ConfigMap,
        core::v1::Secret,
        core::v1::Service,
        core::v1::ServiceAccount,
        core::v1::ResourceQuota,
        core::v1::LimitRange,
        core::v1::PersistentVolumeClaim,
        core::v1::Pod,
        apps::v1::Deployment,
        apps::v1::DaemonSet,
        apps::v1::StatefulSet,
        batch::v1::Job,
        batch::v1::CronJob,
        networking::v1::Ingress,
        networking::v1::IngressClass,
        networking::v1::NetworkPolicy,
        policy::v1::PodDisruptionBudget,
        autoscaling::v2::HorizontalPodAutoscaler,
        rbac::v1::Role,
        rbac::v1::RoleBinding,
        rbac::v1::ClusterRole,
        rbac::v1::ClusterRoleBinding,
        scheduling::v1::PriorityClass,
        storage::v1::StorageClass,
        CustomResourceDefinition,
    );
    None
}

fn round_trip<T: Resource + DeserializeOwned + Serialize>(obj: &Value) -> Option<Vec<String>> {
    if obj.get("apiVersion")?.as_str()? != T::API_VERSION || obj.get("kind")?.as_str()? != T::KIND {
        return None;
    }
    let mut input = obj.clone();
    unseal_for_typing(&mut input);
    let typed: T = match serde_json::from_value(input.clone()) {
        Ok(t) => t,
        Err(e) => return Some(vec![e.to_string()]),
    };
    let back = serde_json::to_value(&typed).unwrap_or(Value::Null);
    let mut problems = Vec::new();
    lost_fields(&input, &back, &mut String::new(), &mut problems);
    Some(problems)
}

/// Sealed Secret values are digests, not base64: give the typed struct
/// something it accepts (the values themselves are never looked at).
fn unseal_for_typing(obj: &mut Value) {
    if !flotilla_core::secret::is_secret(obj) {
        return;
    }
    if let Some(Value::Object(data)) = obj.get_mut("data") {
        for v in data.values_mut() {
            *v = Value::String(String::new());
        }
    }
}

/// Record every non-empty field of `input` missing from `back`.
fn lost_fields(input: &Value, back: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, back) {
        (Value::Object(i), Value::Object(b)) => {
            for (k, v) in i {
                if is_empty(v) {
                    continue;
                }
                let len = path.len();
                path.push('.');
                path.push_str(k);
                match b.get(k) {
                    Some(bv) => lost_fields(v, bv, path, out),
                    None => out.push(format!("unknown field {path}")),
                }
                path.truncate(len);
            }
        }
        (Value::Array(i), Value::Array(b)) => {
            for (n, (iv, bv)) in i.iter().zip(b).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{n}]"));
                lost_fields(iv, bv, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn misspelled_fields_and_wrong_types_are_reported() {
        let typo = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespce":"a"},"data":{"k":"v"}});
        assert_eq!(
            check_core(&typo),
            Some(vec!["unknown field .metadata.namespce".to_owned()])
        );
        let wrong = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"two","selector":{},"template":{}}});
        let problems = check_core(&wrong).unwrap();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("invalid type"), "{problems:?}");
    }

    #[test]
    fn valid_objects_and_unknown_kinds() {
        let ok = json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80,"targetPort":"http"}]}});
        assert_eq!(check_core(&ok), Some(vec![]));
        let crd_kind =
            json!({"apiVersion":"traefik.io/v1alpha1","kind":"Middleware","metadata":{"name":"m"}});
        assert_eq!(check_core(&crd_kind), None);
    }

    #[test]
    fn sealed_secrets_round_trip() {
        let mut s = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"k":"v"}});
        flotilla_core::secret::Sealer::random().seal(&mut s);
        assert_eq!(check_core(&s), Some(vec![]));
    }
}
