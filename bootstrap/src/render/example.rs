//! An example fleet built in code, for tests and documentation:
//! the renderer's input without a spec file. Values follow the AKS
//! baseline's reference implementation (a0008, App Gateway subnet,
//! `snet-clusteringressservices`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use flotilla_fleet::{
    Auditor, Certificate, Cluster, ClusterKind, Fleet, GitSource, Image, Images, Ingress,
    KeyVaultIdentity, Kured, LimitRange, LoadBalancer, Namespace, PodSecurityLevel, Policies,
    PolicyEngine, PolicyMode, Secrets, Tls,
};

/// Three clusters: two aks (one with Gatekeeper in deny mode, one with
/// Azure Policy in audit mode) and one aks-hybrid (Gatekeeper, audit).
pub fn example_fleet() -> Fleet {
    let mut east = example_cluster("aks-eus2-01", ClusterKind::Aks, 1);
    east.policies.mode = PolicyMode::Deny;
    let mut west = example_cluster("aks-wus2-01", ClusterKind::Aks, 2);
    west.policies.engine = PolicyEngine::AzurePolicy;
    let hybrid = example_cluster("hci-ams-01", ClusterKind::AksHybrid, 3);
    Fleet {
        clusters: vec![east, west, hybrid],
    }
}

fn strings<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One fully resolved cluster of `kind`; `octet` varies its addresses.
pub fn example_cluster(name: &str, kind: ClusterKind, octet: u8) -> Cluster {
    let hybrid = kind == ClusterKind::AksHybrid;
    Cluster {
        name: name.to_owned(),
        kind,
        environment: "production".to_owned(),
        location: if hybrid { "ams-site-1" } else { "eastus2" }.to_owned(),
        source: GitSource {
            url: "ssh://git@github.com/contoso/fleet-gitops".to_owned(),
            branch: "main".to_owned(),
            path: format!("./clusters/{name}"),
            interval: "1m".to_owned(),
            kustomization_interval: "10m".to_owned(),
            secret_ref: Some("flux-system".to_owned()),
        },
        namespaces: vec![
            Namespace {
                name: "a0008".to_owned(),
                pod_security: PodSecurityLevel::Restricted,
                quota: strings([
                    ("requests.cpu", "2"),
                    ("requests.memory", "1Gi"),
                    ("limits.cpu", "4"),
                    ("limits.memory", "4Gi"),
                    ("count/pods", "20"),
                ]),
                limit_range: Some(LimitRange {
                    default_limits: strings([("cpu", "500m"), ("memory", "256Mi")]),
                    default_requests: strings([("cpu", "50m"), ("memory", "64Mi")]),
                    max: strings([("cpu", "1"), ("memory", "1Gi")]),
                }),
                receives_ingress: true,
            },
            Namespace {
                name: "ingress".to_owned(),
                pod_security: PodSecurityLevel::Restricted,
                quota: BTreeMap::new(),
                limit_range: None,
                receives_ingress: false,
            },
        ],
        ingress: Ingress {
            enabled: true,
            namespace: "ingress".to_owned(),
            replicas: 2,
            node_selector: strings([("agentpool", "npuser01")]),
            load_balancer: if hybrid {
                LoadBalancer::Hybrid {
                    ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, octet, 10))),
                    pool: Some("ingress-pool".to_owned()),
                }
            } else {
                LoadBalancer::AzureInternal {
                    ip: Some(IpAddr::V4(Ipv4Addr::new(10, 240, 4, octet))),
                    subnet: "snet-clusteringressservices".to_owned(),
                }
            },
            upstream_cidrs: vec![if hybrid {
                "192.168.0.0/28".to_owned()
            } else {
                "10.240.5.0/24".to_owned()
            }],
            tls: Tls {
                min_version: "VersionTLS12".to_owned(),
                sni_strict: true,
            },
            domain: "aks-ingress.contoso.com".to_owned(),
        },
        secrets: Secrets {
            enabled: true,
            keyvault_name: format!("kv-{name}"),
            tenant_id: "6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f".to_owned(),
            identity: if hybrid {
                KeyVaultIdentity::ServicePrincipal {
                    secret_name: "secrets-store-creds".to_owned(),
                }
            } else {
                KeyVaultIdentity::WorkloadIdentity {
                    client_id: "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b".to_owned(),
                }
            },
            certificates: vec![Certificate {
                object_name: "traefik-ingress-internal-aks-ingress-tls".to_owned(),
                alias: "tls.crt".to_owned(),
            }],
            synced_secret: Some("ingress-tls".to_owned()),
        },
        kured: Kured {
            enabled: true,
            reboot_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(str::to_owned)
                .to_vec(),
            start_time: "21:00".to_owned(),
            end_time: "05:00".to_owned(),
            time_zone: "UTC".to_owned(),
            period: "1h".to_owned(),
            sentinel: "/var/run/reboot-required".to_owned(),
            lock_annotation: "weave.works/kured-node-lock".to_owned(),
            concurrency: 1,
        },
        policies: Policies {
            mode: PolicyMode::Audit,
            engine: PolicyEngine::Gatekeeper,
            allowed_registries: vec![
                "acraksbaseline01.azurecr.io".to_owned(),
                "mcr.microsoft.com".to_owned(),
            ],
            max_cpu: "1".to_owned(),
            max_memory: "1Gi".to_owned(),
            read_only_root_fs: true,
            forbid_privileged: true,
            forbid_host_path: true,
            exempt_namespaces: vec![],
        },
        images: Images {
            registry: "acraksbaseline01.azurecr.io".to_owned(),
            traefik: Image {
                repository: "traefik".to_owned(),
                tag: "v3.3.5".to_owned(),
                digest: Some(
                    "sha256:4f9b1a3c2d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"
                        .to_owned(),
                ),
            },
            kured: Image {
                repository: "kubereboot/kured".to_owned(),
                tag: "1.17.1".to_owned(),
                digest: None,
            },
            flotilla: Image {
                repository: "flotilla-dev/flotilla".to_owned(),
                tag: "0.1.0".to_owned(),
                digest: None,
            },
        },
        auditor: Auditor {
            enabled: true,
            interval: "15m".to_owned(),
            pr_enabled: kind == ClusterKind::Aks,
        },
    }
}
