//! The fleet spec as written: a serde mirror of the YAML.
//!
//! Every value is a [`Val`], so each layer can leave any value unset and the
//! layers can be merged ([`crate::defaults`]) before anything is required.
//! Keys are camelCase. Unknown keys are errors (`deny_unknown_fields`
//! documents it; [`crate::decode`] reports all of them, not just the first).
//!
//! One file (or each file of a folder) looks like this:
//!
//! ```yaml
//! defaults: { <settings> }            # the whole fleet
//! kinds:                              # per cluster kind
//!   aks: { <settings> }
//!   aks-hybrid: { <settings> }
//! environments:                       # per environment
//!   production: { <settings> }
//! clusters:
//!   - name: aks-eus2-prod-01
//!     kind: aks
//!     environment: production
//!     region: eastus2
//!     <settings>                      # this cluster only
//! ```
//!
//! where `<settings>` is any of `git`, `namespaces`, `ingress`, `secrets`,
//! `kured`, `policies`, `images` and `auditor`.

use std::collections::BTreeMap;

use serde::Deserialize;

pub(crate) use crate::decode::{Integer, Val};

/// A map whose values each remember where they were written, merged key by key.
pub(crate) type ValMap = BTreeMap<String, Val<String>>;

/// One spec file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct FileSpec {
    /// Settings for every cluster.
    pub defaults: Val<Settings>,
    /// Settings for every cluster of one kind.
    pub kinds: Val<KindsSpec>,
    /// Settings for every cluster of one environment.
    pub environments: Val<BTreeMap<String, Val<Settings>>>,
    /// The clusters.
    pub clusters: Val<Vec<Val<ClusterSpec>>>,
}

/// Settings per cluster kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct KindsSpec {
    pub aks: Val<Settings>,
    #[serde(rename = "aks-hybrid")]
    pub aks_hybrid: Val<Settings>,
}

/// Everything a layer may set for the clusters below it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct Settings {
    pub git: Val<GitSpec>,
    pub namespaces: Val<Vec<NamespaceSpec>>,
    pub ingress: Val<IngressSpec>,
    pub secrets: Val<SecretsSpec>,
    pub kured: Val<KuredSpec>,
    pub policies: Val<PoliciesSpec>,
    pub images: Val<ImagesSpec>,
    pub auditor: Val<AuditorSpec>,
}

/// One cluster: its identity plus the settings only it has.
///
/// The settings are repeated rather than `#[serde(flatten)]`ed: flatten
/// buffers the map and would lose both positions and unknown-field checks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct ClusterSpec {
    pub name: Val<String>,
    pub kind: Val<KindSpec>,
    pub environment: Val<String>,
    /// Azure region (aks only).
    pub region: Val<String>,
    /// Azure Local site (aks-hybrid only).
    pub site: Val<String>,
    pub git: Val<GitSpec>,
    pub namespaces: Val<Vec<NamespaceSpec>>,
    pub ingress: Val<IngressSpec>,
    pub secrets: Val<SecretsSpec>,
    pub kured: Val<KuredSpec>,
    pub policies: Val<PoliciesSpec>,
    pub images: Val<ImagesSpec>,
    pub auditor: Val<AuditorSpec>,
}

impl ClusterSpec {
    /// The cluster's own layer of settings.
    pub fn settings(&self) -> Settings {
        Settings {
            git: self.git.clone(),
            namespaces: self.namespaces.clone(),
            ingress: self.ingress.clone(),
            secrets: self.secrets.clone(),
            kured: self.kured.clone(),
            policies: self.policies.clone(),
            images: self.images.clone(),
            auditor: self.auditor.clone(),
        }
    }
}

/// `aks` or `aks-hybrid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum KindSpec {
    #[serde(rename = "aks")]
    Aks,
    #[serde(rename = "aks-hybrid")]
    AksHybrid,
}

/// The Git source Flux syncs from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct GitSpec {
    pub url: Val<String>,
    pub branch: Val<String>,
    pub path: Val<String>,
    pub interval: Val<String>,
    pub kustomization_interval: Val<String>,
    pub secret_ref: Val<String>,
}

/// A governed namespace.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct NamespaceSpec {
    pub name: Val<String>,
    pub pod_security: Val<PodSecuritySpec>,
    pub quota: Val<ValMap>,
    pub limit_range: Val<LimitRangeSpec>,
    pub receives_ingress: Val<bool>,
}

/// Pod Security Admission level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PodSecuritySpec {
    Privileged,
    Baseline,
    Restricted,
}

/// Container LimitRange values, named as Kubernetes names them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct LimitRangeSpec {
    pub default: Val<ValMap>,
    pub default_request: Val<ValMap>,
    pub max: Val<ValMap>,
}

/// Traefik.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct IngressSpec {
    pub enabled: Val<bool>,
    pub namespace: Val<String>,
    pub replicas: Val<Integer>,
    pub node_selector: Val<ValMap>,
    pub load_balancer: Val<LoadBalancerSpec>,
    pub upstream_cidrs: Val<Vec<Val<String>>>,
    pub tls: Val<TlsSpec>,
    pub domain: Val<String>,
}

/// The Traefik Service's load balancer; which keys apply depends on the kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct LoadBalancerSpec {
    /// Static IP (both kinds).
    pub ip: Val<String>,
    /// Azure subnet of the internal load balancer (aks only).
    pub subnet: Val<String>,
    /// MetalLB address pool (aks-hybrid only).
    pub pool: Val<String>,
}

/// TLS options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct TlsSpec {
    pub min_version: Val<TlsVersionSpec>,
    pub sni_strict: Val<bool>,
}

/// Minimum TLS version; older ones are not offered because the AKS baseline
/// requires TLS 1.2 or later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum TlsVersionSpec {
    VersionTLS12,
    VersionTLS13,
}

/// Azure Key Vault through the Secrets Store CSI driver.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct SecretsSpec {
    pub enabled: Val<bool>,
    pub keyvault_name: Val<String>,
    pub tenant_id: Val<String>,
    /// aks only.
    pub workload_identity_client_id: Val<String>,
    /// aks-hybrid only: name of the Secret holding the service principal.
    pub service_principal_secret: Val<String>,
    pub certificates: Val<Vec<CertificateSpec>>,
    pub synced_secret: Val<String>,
}

/// A Key Vault certificate to mount.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct CertificateSpec {
    pub object_name: Val<String>,
    pub alias: Val<String>,
}

/// Kured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct KuredSpec {
    pub enabled: Val<bool>,
    pub reboot_days: Val<Vec<Val<WeekdaySpec>>>,
    pub start_time: Val<String>,
    pub end_time: Val<String>,
    pub time_zone: Val<String>,
    pub period: Val<String>,
    pub sentinel: Val<String>,
    pub lock_annotation: Val<String>,
    pub concurrency: Val<Integer>,
}

/// A day of the week, as Kured spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WeekdaySpec {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl WeekdaySpec {
    pub fn as_str(self) -> &'static str {
        match self {
            WeekdaySpec::Mon => "mon",
            WeekdaySpec::Tue => "tue",
            WeekdaySpec::Wed => "wed",
            WeekdaySpec::Thu => "thu",
            WeekdaySpec::Fri => "fri",
            WeekdaySpec::Sat => "sat",
            WeekdaySpec::Sun => "sun",
        }
    }
}

/// Policy guardrails.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct PoliciesSpec {
    pub mode: Val<PolicyModeSpec>,
    pub engine: Val<PolicyEngineSpec>,
    pub allowed_registries: Val<Vec<Val<String>>>,
    pub max_cpu: Val<String>,
    pub max_memory: Val<String>,
    pub read_only_root_filesystem: Val<bool>,
    pub no_privileged: Val<bool>,
    pub no_host_path: Val<bool>,
    pub exempt_namespaces: Val<Vec<Val<String>>>,
}

/// `audit` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PolicyModeSpec {
    Audit,
    Deny,
}

/// `azure-policy` or `gatekeeper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum PolicyEngineSpec {
    AzurePolicy,
    Gatekeeper,
}

/// Component images.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct ImagesSpec {
    pub registry: Val<String>,
    pub traefik: Val<ImageSpec>,
    pub kured: Val<ImageSpec>,
    pub flotilla: Val<ImageSpec>,
}

/// flotilla itself, as a component of the cluster (`flotilla serve`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct AuditorSpec {
    pub enabled: Val<bool>,
    pub interval: Val<String>,
    pub pr_enabled: Val<bool>,
}

/// One image inside the registry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub(crate) struct ImageSpec {
    pub repository: Val<String>,
    pub tag: Val<String>,
    pub digest: Val<String>,
}
