//! Built-in list merge keys (`x-kubernetes-list-map-keys` / `patchMergeKey`)
//! of the built-in kinds an AKS baseline uses, so lists of named items are
//! compared item by item (by name) rather than as a whole.
//!
//! Lists the Kubernetes schema marks `atomic` are left out on purpose, so the
//! diff compares them whole, as the server's apply does: tolerations,
//! `envFrom`, container `args`/`command`, NetworkPolicy `ingress`/`egress`,
//! RBAC `rules`, LimitRange `limits`, ResourceQuota
//! `scopeSelector.matchExpressions`, HPA `metrics`, Ingress `rules`.
//!
//! The table is not learnt from the server's OpenAPI v3 documents: that would
//! cost one more request per group version on every audit, and the kinds that
//! matter are stable. A CRD's keyed lists are compared whole until added here.

use super::SchemaHints;

/// Where a pod spec sits in each pod-template-bearing kind.
const POD_SPEC_PATHS: [(&str, &str, &str); 8] = [
    ("", "Pod", "spec"),
    ("", "PodTemplate", "template.spec"),
    ("", "ReplicationController", "spec.template.spec"),
    ("apps", "Deployment", "spec.template.spec"),
    ("apps", "StatefulSet", "spec.template.spec"),
    ("apps", "DaemonSet", "spec.template.spec"),
    ("apps", "ReplicaSet", "spec.template.spec"),
    ("batch", "Job", "spec.template.spec"),
];

/// CronJob's pod spec is one level deeper.
const CRONJOB_POD_SPEC: &str = "spec.jobTemplate.spec.template.spec";

/// Keyed lists inside a pod spec, relative to it.
const POD_SPEC_LISTS: [(&str, &[&str]); 7] = [
    ("volumes", &["name"]),
    ("imagePullSecrets", &["name"]),
    ("hostAliases", &["ip"]),
    (
        "topologySpreadConstraints",
        &["topologyKey", "whenUnsatisfiable"],
    ),
    ("resourceClaims", &["name"]),
    ("schedulingGates", &["name"]),
    ("readinessGates", &["conditionType"]),
];

/// Keyed lists inside each container, relative to it.
const CONTAINER_LISTS: [(&str, &[&str]); 5] = [
    ("env", &["name"]),
    ("ports", &["containerPort", "protocol"]),
    ("volumeMounts", &["mountPath"]),
    ("volumeDevices", &["devicePath"]),
    ("resizePolicy", &["resourceName"]),
];

/// The three container lists of a pod spec, all keyed by `name`.
const CONTAINER_KINDS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Keyed lists of kinds that carry no pod spec.
const OTHER_LISTS: [(&str, &str, &str, &[&str]); 4] = [
    ("", "Service", "spec.ports", &["port", "protocol"]),
    ("", "ServiceAccount", "secrets", &["name"]),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "webhooks",
        &["name"],
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "webhooks",
        &["name"],
    ),
];

/// Lists keyed the same way in every kind: `status.conditions` by `type`
/// (core types and Flux's `metav1.Condition` alike) and `ownerReferences` by
/// `uid`. Stored under the wildcard kind [`ANY_KIND`].
const ANY_KIND_LISTS: [(&str, &[&str]); 2] = [
    ("status.conditions", &["type"]),
    ("metadata.ownerReferences", &["uid"]),
];

/// Key of wildcard entries in [`SchemaHints::list_map_keys`]: `("*", "*")`.
pub const ANY_KIND: (&str, &str) = ("*", "*");

/// The built-in table.
pub fn builtin() -> SchemaHints {
    let mut hints = SchemaHints::default();
    for (group, kind, prefix) in POD_SPEC_PATHS {
        add_pod_spec(&mut hints, group, kind, prefix);
    }
    add_pod_spec(&mut hints, "batch", "CronJob", CRONJOB_POD_SPEC);
    for (group, kind, path, keys) in OTHER_LISTS {
        hints.insert(group, kind, path, keys);
    }
    for (path, keys) in ANY_KIND_LISTS {
        hints.insert(ANY_KIND.0, ANY_KIND.1, path, keys);
    }
    hints
}

fn add_pod_spec(hints: &mut SchemaHints, group: &str, kind: &str, prefix: &str) {
    for (list, keys) in POD_SPEC_LISTS {
        hints.insert(group, kind, &format!("{prefix}.{list}"), keys);
    }
    for containers in CONTAINER_KINDS {
        let path = format!("{prefix}.{containers}");
        hints.insert(group, kind, &path, &["name"]);
        for (list, keys) in CONTAINER_LISTS {
            hints.insert(group, kind, &format!("{path}[].{list}"), keys);
        }
    }
}

impl SchemaHints {
    /// Merge keys of the list at `path` (dotted, `[]` after a list, e.g.
    /// `spec.template.spec.containers[].env`) in objects of `(group, kind)`;
    /// falls back to the kind-independent entries (`status.conditions`).
    /// `None` means the list is atomic: compare it whole.
    pub fn keys_for(&self, group: &str, kind: &str, path: &str) -> Option<&[String]> {
        let exact = self
            .list_map_keys
            .get(&(group.to_owned(), kind.to_owned()))
            .and_then(|paths| paths.get(path));
        exact
            .or_else(|| {
                self.list_map_keys
                    .get(&(ANY_KIND.0.to_owned(), ANY_KIND.1.to_owned()))
                    .and_then(|paths| paths.get(path))
            })
            .map(Vec::as_slice)
    }

    /// Add (or replace) the merge keys of one list.
    pub fn insert(&mut self, group: &str, kind: &str, path: &str, keys: &[&str]) {
        self.list_map_keys
            .entry((group.to_owned(), kind.to_owned()))
            .or_default()
            .insert(
                path.to_owned(),
                keys.iter().map(|k| (*k).to_owned()).collect(),
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_template_kinds_key_containers_by_name() {
        let hints = builtin();
        for (group, kind, path) in [
            ("apps", "Deployment", "spec.template.spec.containers"),
            ("apps", "DaemonSet", "spec.template.spec.initContainers"),
            ("", "Pod", "spec.containers"),
            (
                "batch",
                "CronJob",
                "spec.jobTemplate.spec.template.spec.containers",
            ),
        ] {
            assert_eq!(
                hints.keys_for(group, kind, path),
                Some(&["name".to_owned()][..]),
                "{kind} {path}"
            );
        }
    }

    #[test]
    fn ports_are_keyed_by_port_and_protocol() {
        let hints = builtin();
        let keys = hints.keys_for(
            "apps",
            "Deployment",
            "spec.template.spec.containers[].ports",
        );
        assert_eq!(
            keys,
            Some(&["containerPort".to_owned(), "protocol".to_owned()][..])
        );
        let keys = hints.keys_for("", "Service", "spec.ports");
        assert_eq!(keys, Some(&["port".to_owned(), "protocol".to_owned()][..]));
    }

    #[test]
    fn atomic_lists_have_no_keys_and_conditions_are_keyed_everywhere() {
        let hints = builtin();
        assert_eq!(
            hints.keys_for("apps", "Deployment", "spec.template.spec.tolerations"),
            None
        );
        assert_eq!(
            hints.keys_for("networking.k8s.io", "NetworkPolicy", "spec.ingress"),
            None
        );
        let keys = hints.keys_for(
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
            "status.conditions",
        );
        assert_eq!(keys, Some(&["type".to_owned()][..]));
    }
}
