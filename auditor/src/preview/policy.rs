//! The fleet's guardrails, checked in review instead of at admission.
//!
//! The same rules Gatekeeper or Azure Policy enforce in the cluster (see the
//! bootstrap generator's policy component), applied to the rendered head
//! revision so a pull request that would be denied — or audited — is
//! stopped before it merges.

use serde_json::Value;

/// What pods may and may not do. Built from the fleet spec's `policies`
/// section by the caller, or [`PolicyRules::baseline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRules {
    /// Registries images must come from (`host[/path]` prefixes); empty: any.
    pub allowed_registries: Vec<String>,
    /// Every container must set CPU and memory limits.
    pub require_limits: bool,
    /// No `privileged: true` containers.
    pub forbid_privileged: bool,
    /// No `hostPath` volumes.
    pub forbid_host_path: bool,
    /// Namespaces the rules do not apply to.
    pub exempt_namespaces: Vec<String>,
    /// Whether violations block (`mode: deny`); in `audit` mode they are
    /// reported as advisory.
    pub enforce: bool,
}

impl PolicyRules {
    /// The AKS baseline's rules without a registry allow-list: limits
    /// required, no privileged containers, no hostPath; system namespaces
    /// exempt, as in the fleet spec's defaults — including
    /// `cluster-baseline-settings`, where the baseline runs Kured, which is
    /// privileged by design.
    pub fn baseline() -> PolicyRules {
        let exempt = [
            "kube-system",
            "gatekeeper-system",
            "azure-arc",
            "flux-system",
            "cluster-baseline-settings",
            "kured",
        ];
        PolicyRules {
            allowed_registries: Vec::new(),
            require_limits: true,
            forbid_privileged: true,
            forbid_host_path: true,
            enforce: true,
            exempt_namespaces: exempt.map(str::to_owned).to_vec(),
        }
    }

    /// Violations of `obj` (empty when it has no pod template or is exempt).
    pub fn check(&self, obj: &Value) -> Vec<String> {
        let namespace = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        if namespace.is_some_and(|ns| self.exempt_namespaces.iter().any(|e| e == ns)) {
            return Vec::new();
        }
        let Some(pod) = pod_spec(obj) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for container in containers(pod) {
            self.check_container(container, &mut out);
        }
        if self.forbid_host_path {
            for volume in pod
                .get("volumes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if volume.get("hostPath").is_some() {
                    out.push(format!("volume {} mounts a hostPath", name_of(volume)));
                }
            }
        }
        out
    }

    fn check_container(&self, c: &Value, out: &mut Vec<String>) {
        let name = name_of(c);
        let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
        if !self.allowed_registries.is_empty() && !self.registry_allowed(image) {
            out.push(format!(
                "container {name}: image {image} is not from an allowed registry ({})",
                self.allowed_registries.join(", ")
            ));
        }
        if self.forbid_privileged
            && c.pointer("/securityContext/privileged") == Some(&Value::Bool(true))
        {
            out.push(format!("container {name} is privileged"));
        }
        if self.require_limits {
            for resource in ["cpu", "memory"] {
                if c.pointer(&format!("/resources/limits/{resource}"))
                    .is_none()
                {
                    out.push(format!("container {name} has no {resource} limit"));
                }
            }
        }
    }

    fn registry_allowed(&self, image: &str) -> bool {
        self.allowed_registries.iter().any(|r| {
            let r = r.trim_end_matches('/');
            image
                .strip_prefix(r)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// The pod spec inside a workload object, by kind.
pub fn pod_spec(obj: &Value) -> Option<&Value> {
    let pointer = match obj.get("kind")?.as_str()? {
        "Pod" => "/spec",
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    };
    obj.pointer(pointer)
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|k| pod.get(k).and_then(Value::as_array))
        .flatten()
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("(unnamed)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(ns: &str, container: Value) -> Value {
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":ns},
               "spec":{"template":{"spec":{"containers":[container],"volumes":[{"name":"h","hostPath":{"path":"/"}}]}}}})
    }

    #[test]
    fn each_rule_reports_its_violation() {
        let rules = PolicyRules {
            allowed_registries: vec!["acr.azurecr.io".into()],
            ..PolicyRules::baseline()
        };
        let bad = deploy(
            "a",
            json!({"name":"c","image":"docker.io/busybox:1","securityContext":{"privileged":true}}),
        );
        assert_eq!(
            rules.check(&bad),
            [
                "container c: image docker.io/busybox:1 is not from an allowed registry (acr.azurecr.io)",
                "container c is privileged",
                "container c has no cpu limit",
                "container c has no memory limit",
                "volume h mounts a hostPath",
            ]
        );
    }

    #[test]
    fn compliant_and_exempt_objects_pass() {
        let rules = PolicyRules {
            allowed_registries: vec!["acr.azurecr.io".into()],
            forbid_host_path: false,
            ..PolicyRules::baseline()
        };
        let good = deploy(
            "a",
            json!({"name":"c","image":"acr.azurecr.io/web:1","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}),
        );
        assert!(rules.check(&good).is_empty());
        let exempt = deploy("kube-system", json!({"name":"c","image":"x/y:1"}));
        assert!(rules.check(&exempt).is_empty());
        // A registry is a prefix up to a slash, not any string prefix.
        let sneaky = deploy(
            "a",
            json!({"name":"c","image":"acr.azurecr.io.evil.com/web:1","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}),
        );
        assert_eq!(rules.check(&sneaky).len(), 1);
    }
}
