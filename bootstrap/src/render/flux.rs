//! The Flux entry points of a cluster: the sync objects `flux bootstrap`
//! writes, the same sync as the Azure `microsoft.flux` extension's
//! `fluxConfigurations` body, and the component Kustomizations in
//! dependency order.
//!
//! Order: namespaces → policies → secrets → ingress, and kured and the
//! flotilla auditor after namespaces. Policies come before anything that runs pods, so no pod
//! starts before its namespace's network policies and guardrails exist;
//! the certificate (secrets) comes before Traefik, which mounts it. With
//! Gatekeeper, the ConstraintTemplates get their own Kustomization that
//! `policies` depends on (see [`super::policy`]).

use flotilla_fleet::{Cluster, ClusterKind, PolicyEngine};
use serde_json::{Value, json};

use super::policy::{TEMPLATES_DIR, cluster_resource_type, constraint_crd_name, constraint_kinds};
use super::{BASE, KustomizeFile, Manifest, cluster_dir, meta, put, to_json};
use crate::crds::flux_kustomize::{
    KustomizationDependsOn, KustomizationHealthChecks, KustomizationSourceRef,
    KustomizationSourceRefKind, KustomizationSpec,
};
use crate::crds::flux_source::{GitRepositoryRef, GitRepositorySecretRef, GitRepositorySpec};
use crate::crds::{GitRepository, Kustomization};
use crate::tree::Tree;

/// Namespace of the Flux controllers and their objects.
const FLUX_NS: &str = "flux-system";
/// Name of the GitRepository, the root Kustomization and the extension's
/// configuration.
const FLUX_SYSTEM: &str = "flux-system";

/// One component Kustomization of a cluster.
struct Step {
    name: &'static str,
    /// Repository path, without the leading `./`.
    path: String,
    depends_on: Vec<&'static str>,
    /// CRDs to wait for instead of the applied objects (`wait: false`).
    crd_health_checks: Vec<String>,
}

/// The component Kustomizations of `cluster`, in dependency order.
fn steps(cluster: &Cluster) -> Vec<Step> {
    let dir = cluster_dir(cluster);
    let step = |name, sub: &str, depends_on: Vec<&'static str>| Step {
        name,
        path: format!("{dir}/{sub}"),
        depends_on,
        crd_health_checks: Vec::new(),
    };
    let mut steps = vec![step("namespaces", "namespaces", vec![])];
    let mut policy_deps = vec!["namespaces"];
    if cluster.policies.engine == PolicyEngine::Gatekeeper {
        steps.push(Step {
            name: "policy-templates",
            path: format!("{BASE}/{TEMPLATES_DIR}"),
            depends_on: vec![],
            crd_health_checks: constraint_kinds().map(constraint_crd_name).collect(),
        });
        policy_deps.push("policy-templates");
    }
    steps.push(step("policies", "policies", policy_deps));
    let mut before_ingress = "policies";
    if cluster.secrets.enabled {
        steps.push(step("secrets", "secrets", vec!["policies"]));
        before_ingress = "secrets";
    }
    if cluster.ingress.enabled {
        steps.push(step("ingress", "traefik", vec![before_ingress]));
    }
    if cluster.kured.enabled {
        steps.push(step("kured", "kured", vec!["namespaces"]));
    }
    if cluster.auditor.enabled {
        steps.push(step("flotilla", "flotilla", vec!["namespaces"]));
    }
    steps
}

/// Everything Flux needs for `cluster`: `flux-system/`, the entry
/// `kustomization.yaml` and `infrastructure.yaml`.
pub(super) fn render_flux(cluster: &Cluster, tree: &mut Tree) {
    let dir = cluster_dir(cluster);
    let steps = steps(cluster);
    let mut sync = Manifest::with_comment(
        "Flux sync objects, laid out as `flux bootstrap` writes them. The controllers\n\
         (gotk-components.yaml) come from the Flux install or the AKS/Arc Flux extension.",
    );
    sync.push(&git_repository(cluster))
        .push(&root_kustomization(cluster));
    sync.write(tree, format!("{dir}/flux-system/gotk-sync.yaml"));
    KustomizeFile::new(["gotk-sync.yaml".to_owned()]).write(tree, &format!("{dir}/flux-system"));
    put(
        tree,
        format!("{dir}/flux-system/flux-configuration.json"),
        &to_json(&flux_configuration(cluster, &steps)),
    );
    infrastructure(cluster, &steps).write(tree, format!("{dir}/infrastructure.yaml"));
    KustomizeFile::new(["flux-system".to_owned(), "infrastructure.yaml".to_owned()])
        .write(tree, &dir);
}

fn source_ref() -> KustomizationSourceRef {
    KustomizationSourceRef {
        kind: KustomizationSourceRefKind::GitRepository,
        name: FLUX_SYSTEM.to_owned(),
        ..KustomizationSourceRef::default()
    }
}

fn git_repository(cluster: &Cluster) -> GitRepository {
    let source = &cluster.source;
    GitRepository {
        metadata: meta(FLUX_SYSTEM, Some(FLUX_NS)),
        spec: GitRepositorySpec {
            interval: source.interval.clone(),
            r#ref: Some(GitRepositoryRef {
                branch: Some(source.branch.clone()),
                ..GitRepositoryRef::default()
            }),
            secret_ref: source
                .secret_ref
                .as_ref()
                .map(|name| GitRepositorySecretRef { name: name.clone() }),
            url: source.url.clone(),
            ..GitRepositorySpec::default()
        },
    }
}

fn root_kustomization(cluster: &Cluster) -> Kustomization {
    Kustomization {
        metadata: meta(FLUX_SYSTEM, Some(FLUX_NS)),
        spec: KustomizationSpec {
            interval: cluster.source.kustomization_interval.clone(),
            path: Some(cluster.source.path.clone()),
            prune: true,
            source_ref: source_ref(),
            ..KustomizationSpec::default()
        },
    }
}

fn component(cluster: &Cluster, step: &Step) -> Kustomization {
    let depends_on = step
        .depends_on
        .iter()
        .map(|name| KustomizationDependsOn {
            name: (*name).to_owned(),
            ..KustomizationDependsOn::default()
        })
        .collect::<Vec<_>>();
    let health_checks = step
        .crd_health_checks
        .iter()
        .map(|crd| KustomizationHealthChecks {
            api_version: Some("apiextensions.k8s.io/v1".to_owned()),
            kind: "CustomResourceDefinition".to_owned(),
            name: crd.clone(),
            ..KustomizationHealthChecks::default()
        })
        .collect::<Vec<_>>();
    Kustomization {
        metadata: meta(step.name, Some(FLUX_NS)),
        spec: KustomizationSpec {
            interval: cluster.source.kustomization_interval.clone(),
            path: Some(format!("./{}", step.path)),
            prune: true,
            source_ref: source_ref(),
            depends_on: (!depends_on.is_empty()).then_some(depends_on),
            // Flux ignores healthChecks when wait is on: wait for the
            // applied objects, unless specific CRDs are what matters.
            wait: Some(health_checks.is_empty()),
            health_checks: (!health_checks.is_empty()).then_some(health_checks),
            ..KustomizationSpec::default()
        },
    }
}

fn infrastructure(cluster: &Cluster, steps: &[Step]) -> Manifest {
    let mut comment = format!(
        "Platform components of {}, reconciled in dependency order:\n",
        cluster.name
    );
    for step in steps {
        let after = if step.depends_on.is_empty() {
            "(first)".to_owned()
        } else {
            format!("after {}", step.depends_on.join(", "))
        };
        comment.push_str(&format!("  {} {after}\n", step.name));
    }
    let mut m = Manifest::with_comment(comment.trim_end());
    for step in steps {
        m.push(&component(cluster, step));
    }
    m
}

/// A Flux duration (`1m`, `10m0s`, `1h30m`) in seconds; `None` if it uses
/// units the Azure API cannot express (sub-second).
fn seconds(duration: &str) -> Option<u64> {
    let mut total = 0;
    let mut number = String::new();
    for ch in duration.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += n * match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    number.is_empty().then_some(total)
}

/// The `Microsoft.KubernetesConfiguration/fluxConfigurations` resource the
/// `microsoft.flux` cluster extension reconciles: the same source and the
/// same component Kustomizations as the YAML above, for teams that let
/// Azure own the Flux install instead of `flux bootstrap`. Use one or the
/// other on a cluster, not both. The extension's Kustomizations have no
/// health checks, so there `policy-templates` cannot wait for the constraint
/// CRDs: `policies` fails until Gatekeeper has created them, then Flux's
/// retry applies it (eventually consistent, never wrong).
fn flux_configuration(cluster: &Cluster, steps: &[Step]) -> Value {
    let source = &cluster.source;
    let interval = seconds(&source.kustomization_interval);
    let mut kustomizations = serde_json::Map::new();
    for step in steps {
        let mut k = json!({
            "path": format!("./{}", step.path),
            "dependsOn": step.depends_on,
            "prune": true,
            "wait": step.crd_health_checks.is_empty(),
        });
        if let Some(s) = interval {
            k["syncIntervalInSeconds"] = json!(s);
        }
        kustomizations.insert(step.name.to_owned(), k);
    }
    let mut git = json!({
        "url": source.url,
        "repositoryRef": {"branch": source.branch},
    });
    if let Some(s) = seconds(&source.interval) {
        git["syncIntervalInSeconds"] = json!(s);
    }
    if let Some(secret) = &source.secret_ref {
        git["localAuthRef"] = json!(secret);
    }
    let comments = match cluster.kind {
        ClusterKind::Aks => "Flux extension configuration for the AKS managed cluster.",
        ClusterKind::AksHybrid => {
            "aks-hybrid (AKS on Azure Local): the cluster is an Azure Arc connected cluster, so this is an extension resource of Microsoft.Kubernetes/connectedClusters, not managedClusters."
        }
    };
    json!({
        "type": "Microsoft.KubernetesConfiguration/fluxConfigurations",
        "apiVersion": "2023-05-01",
        "name": FLUX_SYSTEM,
        "scope": format!("{}/{}", cluster_resource_type(cluster.kind), cluster.name),
        "comments": comments,
        "properties": {
            "scope": "cluster",
            "namespace": FLUX_NS,
            "sourceKind": "GitRepository",
            "suspend": false,
            "gitRepository": git,
            "kustomizations": kustomizations,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn flux_durations_convert_to_seconds() {
        assert_eq!(seconds("1m"), Some(60));
        assert_eq!(seconds("10m0s"), Some(600));
        assert_eq!(seconds("1h30m"), Some(5400));
        assert_eq!(seconds("500ms"), None);
        assert_eq!(seconds("10"), None);
    }
}
