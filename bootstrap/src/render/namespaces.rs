//! Governed namespaces: Namespace with Pod Security Admission labels, plus
//! the ResourceQuota and LimitRange the spec asks for.

use flotilla_fleet::{Cluster, LimitRange as LimitSpec, Namespace as NamespaceSpec};
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

use super::{KustomizeFile, Manifest, cluster_dir, meta};
use crate::tree::Tree;

/// `clusters/<name>/namespaces/`: one file per namespace.
pub(super) fn render_namespaces(cluster: &Cluster, tree: &mut Tree) {
    let dir = format!("{}/namespaces", cluster_dir(cluster));
    let mut files = Vec::new();
    for ns in &cluster.namespaces {
        let file = format!("{}.yaml", ns.name);
        namespace_manifest(ns).write(tree, format!("{dir}/{file}"));
        files.push(file);
    }
    KustomizeFile::new(files).write(tree, &dir);
}

fn namespace_manifest(ns: &NamespaceSpec) -> Manifest {
    let mut m = Manifest::with_comment(&format!(
        "Namespace {}: Pod Security {} is enforced, and also warned and audited,\n\
         so a workload that would be rejected shows up in kubectl and the audit log.",
        ns.name,
        ns.pod_security.as_str()
    ));
    m.push(&namespace(ns));
    if !ns.quota.is_empty() {
        m.push(&resource_quota(ns));
    }
    if let Some(limits) = &ns.limit_range {
        m.push(&limit_range(&ns.name, limits));
    }
    m
}

/// The Namespace with `pod-security.kubernetes.io/{enforce,warn,audit}`.
pub(super) fn namespace(ns: &NamespaceSpec) -> Namespace {
    let level = ns.pod_security.as_str();
    let mut metadata = meta(&ns.name, None);
    metadata.labels = Some(pod_security_labels(level));
    Namespace {
        metadata,
        ..Namespace::default()
    }
}

/// PSA labels at one level, pinned to `latest` so new checks apply as the
/// API server learns them.
pub(super) fn pod_security_labels(level: &str) -> BTreeMap<String, String> {
    super::string_map([
        ("pod-security.kubernetes.io/enforce", level),
        ("pod-security.kubernetes.io/enforce-version", "latest"),
        ("pod-security.kubernetes.io/warn", level),
        ("pod-security.kubernetes.io/audit", level),
    ])
}

fn resource_quota(ns: &NamespaceSpec) -> ResourceQuota {
    ResourceQuota {
        metadata: meta("compute-resources", Some(&ns.name)),
        spec: Some(ResourceQuotaSpec {
            hard: Some(quantities(&ns.quota)),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

fn limit_range(namespace: &str, limits: &LimitSpec) -> LimitRange {
    let non_empty = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| quantities(m));
    LimitRange {
        metadata: meta("container-defaults", Some(namespace)),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_owned(),
                default: non_empty(&limits.default_limits),
                default_request: non_empty(&limits.default_requests),
                max: non_empty(&limits.max),
                ..LimitRangeItem::default()
            }],
        }),
    }
}

fn quantities(m: &BTreeMap<String, String>) -> BTreeMap<String, Quantity> {
    m.iter()
        .map(|(k, v)| (k.clone(), Quantity(v.clone())))
        .collect()
}
