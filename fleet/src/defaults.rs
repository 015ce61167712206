//! Precedence: which layer's value a cluster gets, and the built-in defaults.
//!
//! A cluster's settings are resolved from five layers, later ones winning:
//!
//! 1. built-in defaults (this file), modelled on the AKS baseline;
//! 2. `defaults:` — the whole fleet;
//! 3. `kinds.aks:` / `kinds.aks-hybrid:` — every cluster of that kind;
//! 4. `environments.<name>:` — every cluster of that environment;
//! 5. the cluster's own entry under `clusters:`.
//!
//! Sections and maps merge key by key (an environment that sets only
//! `ingress.replicas` keeps the fleet's `ingress.domain`; `nodeSelector` and
//! `quota` entries add up). Lists replace: a layer that sets `namespaces`,
//! `upstreamCidrs` or `rebootDays` sets the whole list. `null` or an empty
//! value means "not set here", so it cannot remove an inherited value.
//!
//! Merging keeps each value's origin, so a bad value written in `defaults` is
//! reported at its line in `defaults`, naming the clusters that inherit it.

use crate::spec::*;

/// Overlays `over` onto `self`: what `over` sets wins, the rest stays.
pub(crate) trait Merge {
    fn merge(&mut self, over: &Self);
}

impl<T: Merge + Clone> Merge for Val<T> {
    fn merge(&mut self, over: &Self) {
        match (&mut *self, over) {
            (_, Val::Absent) => {}
            (Val::Set(mine, origin), Val::Set(theirs, their_origin)) => {
                mine.merge(theirs);
                *origin = *their_origin;
            }
            _ => *self = over.clone(),
        }
    }
}

/// Scalars and lists: the upper layer replaces the value.
macro_rules! merge_by_replacing {
    ($($t:ty),* $(,)?) => {$(
        impl Merge for $t {
            fn merge(&mut self, over: &Self) {
                *self = over.clone();
            }
        }
    )*};
}

merge_by_replacing!(
    String,
    bool,
    Integer,
    KindSpec,
    PodSecuritySpec,
    TlsVersionSpec,
    WeekdaySpec,
    PolicyModeSpec,
    PolicyEngineSpec,
);

impl<T: Clone> Merge for Vec<T> {
    fn merge(&mut self, over: &Self) {
        *self = over.clone();
    }
}

impl Merge for ValMap {
    fn merge(&mut self, over: &Self) {
        for (key, value) in over {
            self.entry(key.clone()).or_default().merge(value);
        }
    }
}

/// Sections: field by field.
macro_rules! merge_fields {
    ($($t:ty { $($field:ident),* $(,)? })*) => {$(
        impl Merge for $t {
            fn merge(&mut self, over: &Self) {
                $( self.$field.merge(&over.$field); )*
            }
        }
    )*};
}

merge_fields! {
    Settings { git, namespaces, ingress, secrets, kured, policies, images, auditor }
    GitSpec { url, branch, path, interval, kustomization_interval, secret_ref }
    IngressSpec { enabled, namespace, replicas, node_selector, load_balancer, upstream_cidrs, tls, domain }
    LoadBalancerSpec { ip, subnet, pool }
    TlsSpec { min_version, sni_strict }
    SecretsSpec {
        enabled, keyvault_name, tenant_id, workload_identity_client_id,
        service_principal_secret, certificates, synced_secret
    }
    KuredSpec {
        enabled, reboot_days, start_time, end_time, time_zone, period, sentinel,
        lock_annotation, concurrency
    }
    PoliciesSpec {
        mode, engine, allowed_registries, max_cpu, max_memory, read_only_root_filesystem,
        no_privileged, no_host_path, exempt_namespaces
    }
    ImagesSpec { registry, traefik, kured, flotilla }
    AuditorSpec { enabled, interval, pr_enabled }
    ImageSpec { repository, tag, digest }
}

/// A cluster's settings: the built-in defaults with `layers` merged on top,
/// lowest precedence first.
pub(crate) fn resolve(kind: KindSpec, cluster: &str, layers: &[&Settings]) -> Settings {
    let mut settings = builtin(kind, cluster);
    for layer in layers {
        settings.merge(layer);
    }
    settings
}

/// Traefik release the built-in defaults pin (the generator renders v3 configuration).
pub const TRAEFIK_TAG: &str = "v3.4.1";
/// flotilla release the built-in defaults pin for the in-cluster auditor.
pub const FLOTILLA_TAG: &str = "0.1.0";
/// Kured release the built-in defaults pin.
pub const KURED_TAG: &str = "1.20.0";
/// Namespace of the workload and of Traefik in the AKS baseline (business unit 0001, app 0008).
pub const WORKLOAD_NAMESPACE: &str = "a0008";
/// Namespace of cluster-wide settings in the AKS baseline. (The baseline also
/// runs Kured there, under Pod Security `baseline`, which rejects its pods;
/// flotilla gives Kured a namespace of its own instead.)
pub const BASELINE_NAMESPACE: &str = "cluster-baseline-settings";

fn set<T>(value: T) -> Val<T> {
    Val::builtin(value)
}

fn text(value: &str) -> Val<String> {
    Val::builtin(value.to_owned())
}

fn map(entries: &[(&str, &str)]) -> Val<ValMap> {
    set(entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), text(v)))
        .collect())
}

fn list(items: &[&str]) -> Val<Vec<Val<String>>> {
    set(items.iter().map(|s| text(s)).collect())
}

/// The built-in layer. Values with no sensible fleet-independent default
/// (Git URL, registry, domain, Key Vault, tenant and client IDs, the hybrid
/// upstream CIDRs) are left out, so they are reported as missing.
fn builtin(kind: KindSpec, cluster: &str) -> Settings {
    Settings {
        git: set(builtin_git(cluster)),
        namespaces: set(builtin_namespaces()),
        ingress: set(builtin_ingress(kind)),
        secrets: set(builtin_secrets()),
        kured: set(builtin_kured()),
        policies: set(builtin_policies()),
        images: set(builtin_images()),
        auditor: set(builtin_auditor()),
    }
}

fn builtin_git(cluster: &str) -> GitSpec {
    GitSpec {
        branch: text("main"),
        path: set(format!("./clusters/{cluster}")),
        interval: text("1m"),
        kustomization_interval: text("10m"),
        ..GitSpec::default()
    }
}

/// The baseline's two namespaces: the restricted workload namespace that
/// also hosts Traefik, and the cluster-settings namespace at `baseline`.
/// Kured is not placed here: it needs `hostPID` and a privileged container,
/// so the generator renders it into its own `kured` namespace (privileged).
fn builtin_namespaces() -> Vec<NamespaceSpec> {
    vec![
        NamespaceSpec {
            name: text(WORKLOAD_NAMESPACE),
            pod_security: set(PodSecuritySpec::Restricted),
            quota: map(&[
                ("requests.cpu", "2"),
                ("requests.memory", "1Gi"),
                ("limits.cpu", "4"),
                ("limits.memory", "4Gi"),
                ("count/pods", "20"),
                ("services.loadbalancers", "1"),
            ]),
            limit_range: set(LimitRangeSpec {
                default: map(&[("cpu", "500m"), ("memory", "256Mi")]),
                default_request: map(&[("cpu", "50m"), ("memory", "64Mi")]),
                max: map(&[("cpu", "1"), ("memory", "1Gi")]),
            }),
            receives_ingress: set(true),
        },
        NamespaceSpec {
            name: text(BASELINE_NAMESPACE),
            pod_security: set(PodSecuritySpec::Baseline),
            quota: Val::Absent,
            limit_range: set(LimitRangeSpec {
                default: map(&[("cpu", "500m"), ("memory", "128Mi")]),
                default_request: map(&[("cpu", "100m"), ("memory", "32Mi")]),
                max: Val::Absent,
            }),
            receives_ingress: set(false),
        },
    ]
}

/// Traefik as in the baseline: two replicas in `a0008`, TLS 1.2+, strict
/// SNI. On aks the internal load balancer sits in the baseline's ingress
/// subnet and only the App Gateway subnet may connect; an aks-hybrid site has
/// no such defaults.
fn builtin_ingress(kind: KindSpec) -> IngressSpec {
    let aks = kind == KindSpec::Aks;
    IngressSpec {
        enabled: set(true),
        namespace: text(WORKLOAD_NAMESPACE),
        replicas: set(Integer::from(2)),
        node_selector: map(&[("kubernetes.io/os", "linux")]),
        load_balancer: set(LoadBalancerSpec {
            subnet: if aks {
                text("snet-clusteringressservices")
            } else {
                Val::Absent
            },
            ..LoadBalancerSpec::default()
        }),
        upstream_cidrs: if aks {
            list(&["10.240.5.0/24"])
        } else {
            Val::Absent
        },
        tls: set(TlsSpec {
            min_version: set(TlsVersionSpec::VersionTLS12),
            sni_strict: set(true),
        }),
        domain: Val::Absent,
    }
}

fn builtin_secrets() -> SecretsSpec {
    SecretsSpec {
        enabled: set(true),
        certificates: set(vec![CertificateSpec {
            object_name: text("traefik-ingress-internal-aks-ingress-tls"),
            alias: text("tls.crt"),
        }]),
        ..SecretsSpec::default()
    }
}

/// Kured's own defaults for sentinel and lock, with the baseline's window:
/// weeknights 21:00–05:00 UTC, one node at a time.
fn builtin_kured() -> KuredSpec {
    use WeekdaySpec::*;
    KuredSpec {
        enabled: set(true),
        reboot_days: set([Mon, Tue, Wed, Thu, Fri].into_iter().map(set).collect()),
        start_time: text("21:00"),
        end_time: text("05:00"),
        time_zone: text("UTC"),
        period: text("1h"),
        sentinel: text("/var/run/reboot-required"),
        lock_annotation: text("weave.works/kured-node-lock"),
        concurrency: set(Integer::from(1)),
    }
}

/// Audit first (switch environments to `deny` once clean), through Azure
/// Policy, which also runs on Arc-enabled AKS on Azure Local. System and
/// platform namespaces are exempt; so is the daemon namespace, since Kured is
/// privileged by design. `allowedRegistries` defaults to the cluster's
/// registry, which depends on the resolved `images.registry` (see validate).
fn builtin_policies() -> PoliciesSpec {
    PoliciesSpec {
        mode: set(PolicyModeSpec::Audit),
        engine: set(PolicyEngineSpec::AzurePolicy),
        allowed_registries: Val::Absent,
        max_cpu: text("1"),
        max_memory: text("1Gi"),
        read_only_root_filesystem: set(true),
        no_privileged: set(true),
        no_host_path: set(true),
        exempt_namespaces: list(&[
            "kube-system",
            "gatekeeper-system",
            "azure-arc",
            "flux-system",
            BASELINE_NAMESPACE,
        ]),
    }
}

fn builtin_images() -> ImagesSpec {
    ImagesSpec {
        registry: Val::Absent,
        traefik: set(ImageSpec {
            repository: text("traefik"),
            tag: text(TRAEFIK_TAG),
            digest: Val::Absent,
        }),
        kured: set(ImageSpec {
            repository: text("kubereboot/kured"),
            tag: text(KURED_TAG),
            digest: Val::Absent,
        }),
        flotilla: set(ImageSpec {
            repository: text("flotilla-dev/flotilla"),
            tag: text(FLOTILLA_TAG),
            digest: Val::Absent,
        }),
    }
}

/// The auditor is opt-in: it needs a Git credential the platform team
/// provides (see the generated Deployment), and PRs also need a GitHub one.
/// 15m keeps API-server load low; watch-driven audits catch changes sooner.
fn builtin_auditor() -> AuditorSpec {
    AuditorSpec {
        enabled: set(false),
        interval: text("15m"),
        pr_enabled: set(false),
    }
}
