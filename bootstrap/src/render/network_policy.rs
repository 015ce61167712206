//! NetworkPolicies for every governed namespace: zero trust by default,
//! then only the flows the platform needs.
//!
//! The AKS baseline allows the App Gateway into Traefik and Traefik into the
//! workloads but forgets that its own default deny also blocks Traefik's
//! egress (to the backends and to the API server it watches Ingresses on);
//! here those flows are allowed explicitly.

use flotilla_fleet::{Cluster, Namespace as NamespaceSpec};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

use super::traefik::{WEBSECURE_PORT, traefik_labels};
use super::{Manifest, cluster_dir, meta, string_map};
use crate::tree::Tree;

/// File name of the network policies inside `clusters/<name>/policies/`.
pub(super) const FILE: &str = "network-policies.yaml";

/// `clusters/<name>/policies/network-policies.yaml`. The folder's
/// `kustomization.yaml` is written by [`super::policy`], which owns the
/// folder.
pub(super) fn render_network_policies(cluster: &Cluster, tree: &mut Tree) {
    let mut m = Manifest::with_comment(
        "Zero trust: every governed namespace denies all traffic, then allows DNS,\n\
         and ingress only from Traefik (App Gateway / upstream CIDRs into Traefik).",
    );
    for ns in &cluster.namespaces {
        for policy in namespace_policies(cluster, ns) {
            m.push(&policy);
        }
    }
    m.write(tree, format!("{}/policies/{FILE}", cluster_dir(cluster)));
}

fn namespace_policies(cluster: &Cluster, ns: &NamespaceSpec) -> Vec<NetworkPolicy> {
    let ingress = &cluster.ingress;
    let mut policies = vec![default_deny(&ns.name), allow_dns_egress(&ns.name)];
    let is_traefik_ns = ingress.enabled && ingress.namespace == ns.name;
    if ingress.enabled && ns.receives_ingress && !is_traefik_ns {
        policies.push(allow_from_traefik(&ns.name, &ingress.namespace));
    }
    if is_traefik_ns {
        policies.push(allow_upstream_to_traefik(&ns.name, &ingress.upstream_cidrs));
        policies.push(allow_traefik_egress(cluster));
    }
    policies
}

fn policy(name: &str, namespace: &str, spec: NetworkPolicySpec) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta(name, Some(namespace)),
        spec: Some(spec),
    }
}

fn selector(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        ..LabelSelector::default()
    }
}

fn namespace_named(name: &str) -> LabelSelector {
    selector(string_map([("kubernetes.io/metadata.name", name)]))
}

fn port(protocol: &str, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_owned()),
        port: Some(IntOrString::Int(number)),
        ..NetworkPolicyPort::default()
    }
}

fn types(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| (*s).to_owned()).collect())
}

/// Deny all ingress and egress for every pod in the namespace.
fn default_deny(namespace: &str) -> NetworkPolicy {
    policy(
        "default-deny",
        namespace,
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: types(&["Ingress", "Egress"]),
            ..NetworkPolicySpec::default()
        },
    )
}

/// Every pod may resolve names through CoreDNS in kube-system.
fn allow_dns_egress(namespace: &str) -> NetworkPolicy {
    let to = NetworkPolicyPeer {
        namespace_selector: Some(namespace_named("kube-system")),
        pod_selector: Some(selector(string_map([("k8s-app", "kube-dns")]))),
        ..NetworkPolicyPeer::default()
    };
    policy(
        "allow-dns-egress",
        namespace,
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: types(&["Egress"]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![to]),
                ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
            }]),
            ..NetworkPolicySpec::default()
        },
    )
}

/// Only Traefik's pods (in Traefik's namespace) may reach this namespace.
fn allow_from_traefik(namespace: &str, traefik_namespace: &str) -> NetworkPolicy {
    let from = NetworkPolicyPeer {
        namespace_selector: Some(namespace_named(traefik_namespace)),
        pod_selector: Some(selector(traefik_labels())),
        ..NetworkPolicyPeer::default()
    };
    policy(
        "allow-ingress-from-traefik",
        namespace,
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: types(&["Ingress"]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![from]),
                ports: None,
            }]),
            ..NetworkPolicySpec::default()
        },
    )
}

/// The upstream (App Gateway subnet on aks, the upstream proxy on
/// aks-hybrid) may reach Traefik's TLS entry point, and nothing else.
fn allow_upstream_to_traefik(namespace: &str, cidrs: &[String]) -> NetworkPolicy {
    let from = cidrs
        .iter()
        .map(|cidr| NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: cidr.clone(),
                except: None,
            }),
            ..NetworkPolicyPeer::default()
        })
        .collect();
    policy(
        "allow-upstream-to-traefik",
        namespace,
        NetworkPolicySpec {
            pod_selector: Some(selector(traefik_labels())),
            policy_types: types(&["Ingress"]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(from),
                ports: Some(vec![port("TCP", WEBSECURE_PORT)]),
            }]),
            ..NetworkPolicySpec::default()
        },
    )
}

/// Traefik must reach its backends and the API server (it watches
/// Ingresses). The API server's address is not known when rendering, so
/// its flow is allowed by port (443, 6443) rather than by peer.
fn allow_traefik_egress(cluster: &Cluster) -> NetworkPolicy {
    let backends: Vec<NetworkPolicyPeer> = cluster
        .namespaces
        .iter()
        .filter(|ns| ns.receives_ingress && ns.name != cluster.ingress.namespace)
        .map(|ns| NetworkPolicyPeer {
            namespace_selector: Some(namespace_named(&ns.name)),
            ..NetworkPolicyPeer::default()
        })
        .collect();
    let mut egress = vec![NetworkPolicyEgressRule {
        to: None,
        ports: Some(vec![port("TCP", 443), port("TCP", 6443)]),
    }];
    if !backends.is_empty() {
        egress.push(NetworkPolicyEgressRule {
            to: Some(backends),
            ports: None,
        });
    }
    policy(
        "allow-traefik-egress",
        &cluster.ingress.namespace,
        NetworkPolicySpec {
            pod_selector: Some(selector(traefik_labels())),
            policy_types: types(&["Egress"]),
            egress: Some(egress),
            ..NetworkPolicySpec::default()
        },
    )
}
