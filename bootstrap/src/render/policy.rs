//! Policy guardrails: Gatekeeper ConstraintTemplates and constraints, or
//! the parameters of the built-in Azure Policy definitions for AKS.
//!
//! Mode mapping (Gatekeeper `enforcementAction` / Azure Policy `effect`):
//! audit → `dryrun` / `Audit` (violations are recorded by the audit sweep
//! and in the constraint status, nothing is rejected); deny → `deny` /
//! `Deny`. `warn` is not used: it rejects nothing either, and `dryrun`
//! keeps the audit trail without alarming every `kubectl apply` during a
//! fleet's audit phase.
//!
//! Ordering: a constraint's kind only exists once Gatekeeper has turned its
//! template into a CRD. The templates therefore live in their own Flux
//! Kustomization whose health checks are those CRDs, and the constraints
//! (in `policies`) depend on it.

use std::collections::BTreeMap;

use flotilla_fleet::{Cluster, ClusterKind, Policies, PolicyEngine, PolicyMode};
use serde_json::{Value, json};

use super::network_policy::FILE as NETWORK_POLICIES;
use super::{BASE, KustomizeFile, Manifest, cluster_dir, meta, put, to_json};
use crate::crds::ConstraintTemplate;
use crate::crds::gatekeeper::{
    ConstraintTemplateCrd, ConstraintTemplateCrdSpec, ConstraintTemplateCrdSpecNames,
    ConstraintTemplateCrdSpecValidation, ConstraintTemplateSpec, ConstraintTemplateTargets,
};
use crate::tree::Tree;

/// Folder of the shared ConstraintTemplates.
pub(super) const TEMPLATES_DIR: &str = "gatekeeper-templates";
/// API group of Gatekeeper's generated constraint kinds.
const CONSTRAINTS_GROUP: &str = "constraints.gatekeeper.sh";

/// Namespaces no guardrail applies to: the control plane's, Gatekeeper's
/// own, Flux's, and the Azure Arc / extension agents'.
const SYSTEM_NAMESPACES: [&str; 7] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "gatekeeper-system",
    "flux-system",
    "azure-arc",
    "azure-extensions-usage-system",
];

/// One guardrail: its Gatekeeper template and its Azure Policy twin.
struct Guardrail {
    /// Constraint kind (the template's name is its lower case).
    kind: &'static str,
    /// Name of the constraint object.
    constraint: &'static str,
    /// Schema of the constraint's `spec.parameters`.
    parameters: fn() -> Value,
    rego: &'static str,
    /// Built-in Azure Policy definition (GUID) for AKS.
    azure_definition: &'static str,
    /// Whether kured's namespace is exempt (it must run privileged).
    exempts_kured: bool,
}

fn no_parameters() -> Value {
    json!({"type": "object"})
}

const GUARDRAILS: [Guardrail; 5] = [
    Guardrail {
        kind: "FlotillaAllowedRegistries",
        constraint: "allowed-registries",
        parameters: || {
            json!({"type": "object", "properties": {
                "registries": {"type": "array", "items": {"type": "string"}}}})
        },
        rego: REGO_ALLOWED_REGISTRIES,
        azure_definition: "febd0533-8e55-448f-b837-bd0e06f16469",
        exempts_kured: false,
    },
    Guardrail {
        kind: "FlotillaContainerLimits",
        constraint: "container-limits",
        parameters: || {
            json!({"type": "object", "properties": {
                "cpu": {"type": "string"}, "memory": {"type": "string"}}})
        },
        rego: REGO_CONTAINER_LIMITS,
        azure_definition: "e345eecc-fa47-480f-9e88-67dcc122b164",
        exempts_kured: false,
    },
    Guardrail {
        kind: "FlotillaReadOnlyRootFilesystem",
        constraint: "read-only-root-filesystem",
        parameters: no_parameters,
        rego: REGO_READ_ONLY_ROOT_FS,
        azure_definition: "df49d893-a74c-421d-bc95-c663042e5b80",
        exempts_kured: true,
    },
    Guardrail {
        kind: "FlotillaNoPrivileged",
        constraint: "no-privileged-containers",
        parameters: no_parameters,
        rego: REGO_NO_PRIVILEGED,
        azure_definition: "95edb821-ddaf-4404-9732-666045e056b4",
        exempts_kured: true,
    },
    Guardrail {
        kind: "FlotillaNoHostPath",
        constraint: "no-host-path",
        parameters: no_parameters,
        rego: REGO_NO_HOST_PATH,
        azure_definition: "098fc59e-46c7-4d99-9b16-64990e543d75",
        exempts_kured: false,
    },
];

impl Guardrail {
    fn template_name(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// Whether the cluster's spec turns this guardrail on.
    fn enabled(&self, p: &Policies) -> bool {
        match self.constraint {
            "read-only-root-filesystem" => p.read_only_root_fs,
            "no-privileged-containers" => p.forbid_privileged,
            "no-host-path" => p.forbid_host_path,
            _ => true,
        }
    }

    /// Gatekeeper's constraint parameters for `p`.
    fn gatekeeper_parameters(&self, p: &Policies) -> Option<Value> {
        match self.constraint {
            "allowed-registries" => Some(json!({"registries": p.allowed_registries})),
            "container-limits" => Some(json!({"cpu": p.max_cpu, "memory": p.max_memory})),
            _ => None,
        }
    }

    /// The Azure Policy definition's parameters for `p`, besides `effect`
    /// and `excludedNamespaces`.
    fn azure_parameters(&self, p: &Policies) -> BTreeMap<&'static str, Value> {
        match self.constraint {
            "allowed-registries" => {
                BTreeMap::from([("allowedContainerImagesRegex", json!(registry_regex(p)))])
            }
            "container-limits" => BTreeMap::from([
                ("cpuLimit", json!(p.max_cpu)),
                ("memoryLimit", json!(p.max_memory)),
            ]),
            "no-host-path" => BTreeMap::from([("allowedHostPaths", json!({"paths": []}))]),
            _ => BTreeMap::new(),
        }
    }
}

/// The CRD Gatekeeper creates for a guardrail's constraint kind.
pub(super) fn constraint_crd_name(kind: &str) -> String {
    format!("{}.{CONSTRAINTS_GROUP}", kind.to_ascii_lowercase())
}

/// Constraint kinds of the templates, for the templates' health checks.
pub(super) fn constraint_kinds() -> impl Iterator<Item = &'static str> {
    GUARDRAILS.iter().map(|g| g.kind)
}

/// `^(reg1|reg2)/.+$` with dots escaped: Azure Policy matches image
/// references by regex.
fn registry_regex(p: &Policies) -> String {
    let escaped: Vec<String> = p
        .allowed_registries
        .iter()
        .map(|r| r.replace('.', "\\."))
        .collect();
    format!("^({})/.+$", escaped.join("|"))
}

/// `infrastructure/base/gatekeeper-templates/`: one file per template.
pub(super) fn render_gatekeeper_templates(tree: &mut Tree) {
    let dir = format!("{BASE}/{TEMPLATES_DIR}");
    let mut files = Vec::new();
    for g in &GUARDRAILS {
        let file = format!("{}.yaml", g.template_name());
        let mut m = Manifest::with_comment(&format!(
            "Gatekeeper turns this template into the CRD {}; the\n\
             cluster's constraints wait for it (Flux health check).",
            constraint_crd_name(g.kind)
        ));
        m.push(&template(g));
        m.write(tree, format!("{dir}/{file}"));
        files.push(file);
    }
    KustomizeFile::new(files).write(tree, &dir);
}

fn template(g: &Guardrail) -> ConstraintTemplate {
    let schema: BTreeMap<String, Value> = match (g.parameters)() {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    ConstraintTemplate {
        metadata: meta(&g.template_name(), None),
        spec: ConstraintTemplateSpec {
            crd: Some(ConstraintTemplateCrd {
                spec: Some(ConstraintTemplateCrdSpec {
                    names: Some(ConstraintTemplateCrdSpecNames {
                        kind: Some(g.kind.to_owned()),
                        short_names: None,
                    }),
                    validation: Some(ConstraintTemplateCrdSpecValidation {
                        legacy_schema: Some(false),
                        open_apiv3_schema: Some(schema),
                    }),
                }),
            }),
            targets: Some(vec![ConstraintTemplateTargets {
                target: Some("admission.k8s.gatekeeper.sh".to_owned()),
                rego: Some(g.rego.to_owned()),
                ..ConstraintTemplateTargets::default()
            }]),
        },
    }
}

/// `clusters/<name>/policies/`: the network policies (always), plus the
/// Gatekeeper constraints or the Azure Policy assignment.
pub(super) fn render_policies(cluster: &Cluster, tree: &mut Tree) {
    let dir = format!("{}/policies", cluster_dir(cluster));
    let mut resources = vec![NETWORK_POLICIES.to_owned()];
    match cluster.policies.engine {
        PolicyEngine::Gatekeeper => {
            constraints(cluster).write(tree, format!("{dir}/constraints.yaml"));
            resources.push("constraints.yaml".to_owned());
        }
        PolicyEngine::AzurePolicy => put(
            tree,
            format!("{dir}/azure-policy-assignment.json"),
            &to_json(&azure_policy_assignment(cluster)),
        ),
    }
    KustomizeFile::new(resources).write(tree, &dir);
}

fn excluded_namespaces(cluster: &Cluster, g: &Guardrail) -> Vec<String> {
    let mut out: Vec<String> = SYSTEM_NAMESPACES.iter().map(|s| (*s).to_owned()).collect();
    if g.exempts_kured && cluster.kured.enabled {
        out.push(super::kured::KURED.to_owned());
    }
    out.extend(cluster.policies.exempt_namespaces.iter().cloned());
    out.sort();
    out.dedup();
    out
}

fn enforcement_action(mode: PolicyMode) -> &'static str {
    match mode {
        PolicyMode::Audit => "dryrun",
        PolicyMode::Deny => "deny",
    }
}

fn constraints(cluster: &Cluster) -> Manifest {
    let p = &cluster.policies;
    let mut m = Manifest::with_comment(&format!(
        "Mode {}: enforcementAction {} (audit → dryrun, deny → deny).",
        match p.mode {
            PolicyMode::Audit => "audit",
            PolicyMode::Deny => "deny",
        },
        enforcement_action(p.mode)
    ));
    for g in GUARDRAILS.iter().filter(|g| g.enabled(p)) {
        let mut spec = json!({
            "enforcementAction": enforcement_action(p.mode),
            "match": {
                "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
                "excludedNamespaces": excluded_namespaces(cluster, g),
            },
        });
        if let Some(parameters) = g.gatekeeper_parameters(p) {
            spec["parameters"] = parameters;
        }
        m.push(&json!({
            "apiVersion": format!("{CONSTRAINTS_GROUP}/v1beta1"),
            "kind": g.kind,
            "metadata": {"name": g.constraint},
            "spec": spec,
        }));
    }
    m
}

/// Policy assignments for the built-in Azure Policy definitions for
/// Kubernetes, one per enabled guardrail, scoped to the cluster resource.
fn azure_policy_assignment(cluster: &Cluster) -> Value {
    let p = &cluster.policies;
    let effect = match p.mode {
        PolicyMode::Audit => "Audit",
        PolicyMode::Deny => "Deny",
    };
    let assignments: Vec<Value> = GUARDRAILS
        .iter()
        .filter(|g| g.enabled(p))
        .map(|g| {
            let mut parameters = serde_json::Map::new();
            parameters.insert("effect".to_owned(), json!({"value": effect}));
            parameters.insert(
                "excludedNamespaces".to_owned(),
                json!({"value": excluded_namespaces(cluster, g)}),
            );
            for (k, v) in g.azure_parameters(p) {
                parameters.insert(k.to_owned(), json!({"value": v}));
            }
            json!({
                "name": format!("{}-{}", cluster.name, g.constraint),
                "properties": {
                    "displayName": format!("flotilla {}: {}", cluster.name, g.constraint),
                    "policyDefinitionId": format!(
                        "/providers/Microsoft.Authorization/policyDefinitions/{}",
                        g.azure_definition
                    ),
                    "enforcementMode": "Default",
                    "parameters": parameters,
                },
            })
        })
        .collect();
    json!({
        "cluster": cluster.name,
        "clusterResourceType": cluster_resource_type(cluster.kind),
        "comments": "Azure Policy for Kubernetes assignments (built-in definitions), to be created at the cluster's resource scope. No in-cluster policy objects are generated for this engine.",
        "assignments": assignments,
    })
}

/// The ARM resource type the assignments (and the Flux extension) attach to.
pub(super) fn cluster_resource_type(kind: ClusterKind) -> &'static str {
    match kind {
        ClusterKind::Aks => "Microsoft.ContainerService/managedClusters",
        ClusterKind::AksHybrid => "Microsoft.Kubernetes/connectedClusters",
    }
}

// The Rego below is flotilla's own (Gatekeeper's v0 syntax). Every rule
// looks at all container lists of a Pod, including init and ephemeral
// containers, which are the usual way around a guardrail.

const REGO_ALLOWED_REGISTRIES: &str = r#"package flotillaallowedregistries

containers[c] { c := input.review.object.spec.containers[_] }
containers[c] { c := input.review.object.spec.initContainers[_] }
containers[c] { c := input.review.object.spec.ephemeralContainers[_] }

allowed(image) {
  registry := input.parameters.registries[_]
  startswith(image, concat("", [registry, "/"]))
}

violation[{"msg": msg}] {
  c := containers[_]
  not allowed(c.image)
  msg := sprintf("container %v: image %v is not from an allowed registry %v", [c.name, c.image, input.parameters.registries])
}
"#;

const REGO_CONTAINER_LIMITS: &str = r#"package flotillacontainerlimits

containers[c] { c := input.review.object.spec.containers[_] }
containers[c] { c := input.review.object.spec.initContainers[_] }

text(x) = x { is_string(x) }
text(x) = sprintf("%v", [x]) { is_number(x) }

violation[{"msg": msg}] {
  c := containers[_]
  not c.resources.limits.cpu
  msg := sprintf("container %v has no cpu limit", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  not c.resources.limits.memory
  msg := sprintf("container %v has no memory limit", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  units.parse(text(c.resources.limits.cpu)) > units.parse(input.parameters.cpu)
  msg := sprintf("container %v: cpu limit %v exceeds %v", [c.name, c.resources.limits.cpu, input.parameters.cpu])
}

violation[{"msg": msg}] {
  c := containers[_]
  units.parse_bytes(text(c.resources.limits.memory)) > units.parse_bytes(input.parameters.memory)
  msg := sprintf("container %v: memory limit %v exceeds %v", [c.name, c.resources.limits.memory, input.parameters.memory])
}
"#;

const REGO_READ_ONLY_ROOT_FS: &str = r#"package flotillareadonlyrootfilesystem

containers[c] { c := input.review.object.spec.containers[_] }
containers[c] { c := input.review.object.spec.initContainers[_] }
containers[c] { c := input.review.object.spec.ephemeralContainers[_] }

violation[{"msg": msg}] {
  c := containers[_]
  not c.securityContext.readOnlyRootFilesystem == true
  msg := sprintf("container %v must set securityContext.readOnlyRootFilesystem: true", [c.name])
}
"#;

const REGO_NO_PRIVILEGED: &str = r#"package flotillanoprivileged

containers[c] { c := input.review.object.spec.containers[_] }
containers[c] { c := input.review.object.spec.initContainers[_] }
containers[c] { c := input.review.object.spec.ephemeralContainers[_] }

violation[{"msg": msg}] {
  c := containers[_]
  c.securityContext.privileged == true
  msg := sprintf("container %v must not be privileged", [c.name])
}
"#;

const REGO_NO_HOST_PATH: &str = r#"package flotillanohostpath

violation[{"msg": msg}] {
  v := input.review.object.spec.volumes[_]
  v.hostPath
  msg := sprintf("volume %v must not mount the host path %v", [v.name, v.hostPath.path])
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_are_the_lower_case_kinds_gatekeeper_requires() {
        for g in &GUARDRAILS {
            let t = template(g);
            assert_eq!(
                t.metadata.name.as_deref(),
                Some(g.kind.to_lowercase().as_str())
            );
            assert!(
                g.rego
                    .starts_with(&format!("package {}", g.template_name()))
            );
        }
    }

    #[test]
    fn registry_regex_escapes_dots_and_anchors() {
        let mut p = super::super::example::example_fleet().clusters[0]
            .policies
            .clone();
        p.allowed_registries = vec!["acr.azurecr.io".to_owned(), "mcr.microsoft.com".to_owned()];
        assert_eq!(
            registry_regex(&p),
            r"^(acr\.azurecr\.io|mcr\.microsoft\.com)/.+$"
        );
    }
}
